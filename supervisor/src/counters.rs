//! A thread's counters as the supervisor keeps them: the frames its worker
//! writes, checked and applied; totals that carry on across worker
//! generations; the values each chart update sends.

use ipc::{Record, RecordKind, RingReader};
use workers::Thread;

use crate::output::Chart;

/// What one drain of a ring brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Frames applied.
    pub frames: usize,
    /// The attach variant (index into the thread's variants) the last frame
    /// reported.
    pub variant: Option<u32>,
}

/// Running totals of one thread.
#[derive(Debug, Clone)]
pub struct Counters {
    /// Totals of dead generations: added so that counters never go back.
    base: Vec<u64>,
    /// The current generation's latest totals.
    current: Vec<u64>,
    /// Totals at the previous update, for per-interval values.
    previous: Vec<u64>,
    /// New data since the last update.
    pub fresh: bool,
}

impl Counters {
    pub fn new(count: usize) -> Counters {
        Counters {
            base: vec![0; count],
            current: vec![0; count],
            previous: vec![0; count],
            fresh: false,
        }
    }

    /// Applies every whole frame pending in `ring`. An error means the
    /// worker wrote garbage (the ring must not be read again); frames before
    /// the bad one stay applied, nothing of the bad one is.
    pub fn drain(
        &mut self,
        thread: &dyn Thread,
        ring: &mut RingReader,
        records: &mut Vec<Record>,
    ) -> Result<Drained, String> {
        let mut drained = Drained::default();
        while let Some(header) = ring.next_frame(records).map_err(|e| e.to_string())? {
            if header.status as usize >= thread.variants().len() {
                return Err(format!(
                    "frame names attach variant {} (the thread has {})",
                    header.status,
                    thread.variants().len()
                ));
            }
            self.apply(thread, records)?;
            drained.frames += 1;
            drained.variant = Some(header.status);
            self.fresh = true;
        }
        Ok(drained)
    }

    /// Checks a frame and takes its counters. A worker is never trusted: an
    /// unknown kind, an index out of range, a key on a plain counter, or a
    /// counter going backwards is garbage.
    fn apply(&mut self, thread: &dyn Thread, records: &[Record]) -> Result<(), String> {
        let mut next = self.current.clone();
        for record in records {
            match RecordKind::try_from(record.kind) {
                Ok(RecordKind::Counter) => {}
                Err(kind) => return Err(format!("record kind {kind}")),
            }
            let index = record.index as usize;
            let Some(slot) = next.get_mut(index) else {
                return Err(format!(
                    "counter index {} (the thread has {})",
                    record.index,
                    thread.counters().len()
                ));
            };
            if record.key != 0 {
                return Err(format!(
                    "counter `{}` carries key {}",
                    thread.counters()[index],
                    record.key
                ));
            }
            if record.value < self.current[index] {
                return Err(format!(
                    "counter `{}` went from {} to {}",
                    thread.counters()[index],
                    self.current[index],
                    record.value
                ));
            }
            *slot = record.value;
        }
        self.current = next;
        Ok(())
    }

    /// A worker generation ended: the next one counts from zero again.
    pub fn next_generation(&mut self) {
        for (base, current) in self.base.iter_mut().zip(self.current.iter_mut()) {
            *base = base.wrapping_add(*current);
            *current = 0;
        }
    }

    /// Every counter since the thread first started, all generations.
    pub fn totals(&self) -> Vec<u64> {
        self.base
            .iter()
            .zip(&self.current)
            .map(|(b, c)| b.wrapping_add(*c))
            .collect()
    }

    /// One value per dimension of each chart, and the totals become the
    /// reference for the next per-interval values.
    pub fn take_update(&mut self, charts: &[Chart]) -> Vec<Vec<i64>> {
        let totals = self.totals();
        let values = charts
            .iter()
            .map(|chart| {
                chart
                    .dims
                    .iter()
                    .map(|dim| dim.value.compute(&totals, &self.previous))
                    .collect()
            })
            .collect();
        self.previous = totals;
        self.fresh = false;
        values
    }
}
