//! A thread's counters as the supervisor keeps them: the frames its worker
//! writes, checked and applied; totals that carry on across worker
//! generations; the values each chart update sends.

use std::collections::{BTreeMap, BTreeSet};

use ipc::{Record, RecordKind, RingReader};
use workers::{Chart, Snapshot, Thread};

/// What one drain of a ring brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Frames applied.
    pub frames: usize,
    /// The attach variant (index into the thread's variants) the last frame
    /// reported.
    pub variant: Option<u32>,
}

/// At most this many keys per thread: a worker writing garbage keys cannot
/// make the supervisor grow without bound.
pub const MAX_KEYS: usize = 1 << 16;

/// Running totals of one thread.
#[derive(Debug, Clone)]
pub struct Counters {
    /// Totals of dead generations: added so that counters never go back.
    base: Snapshot,
    /// The current generation's latest totals.
    current: Snapshot,
    /// Totals at the previous update, for per-interval values.
    previous: Snapshot,
    /// New data since the last update.
    pub fresh: bool,
    /// A key appeared since the layout was last computed.
    pub new_keys: bool,
}

impl Counters {
    pub fn new(count: usize) -> Counters {
        let zero = Snapshot {
            plain: vec![0; count],
            keyed: BTreeMap::new(),
        };
        Counters {
            base: zero.clone(),
            current: zero.clone(),
            previous: zero,
            fresh: false,
            new_keys: false,
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
            self.check(thread, records)?;
            self.apply(records);
            drained.frames += 1;
            drained.variant = Some(header.status);
            self.fresh = true;
        }
        Ok(drained)
    }

    /// A worker is never trusted: an unknown kind, an index out of range, a
    /// key on a plain counter (or none on a keyed one), a counter going
    /// backwards, or too many keys is garbage.
    fn check(&self, thread: &dyn Thread, records: &[Record]) -> Result<(), String> {
        let names = thread.counters();
        let mut new_keys = 0;
        for record in records {
            let kind = RecordKind::try_from(record.kind).map_err(|k| format!("record kind {k}"))?;
            let Some(name) = names.get(record.index as usize) else {
                return Err(format!(
                    "counter index {} (the thread has {})",
                    record.index,
                    names.len()
                ));
            };
            let counter = (record.index, record.key);
            let before = match (kind, record.key) {
                (RecordKind::Counter, 0) => self.current.plain[record.index as usize],
                (RecordKind::Keyed, key) if key != 0 => {
                    if !self.base.keyed.contains_key(&counter)
                        && !self.current.keyed.contains_key(&counter)
                    {
                        new_keys += 1;
                    }
                    self.current.keyed.get(&counter).copied().unwrap_or(0)
                }
                (_, key) => {
                    return Err(format!("counter `{name}` of kind {kind:?} with key {key}"))
                }
            };
            if record.value < before {
                return Err(format!(
                    "counter `{name}` (key {}) went from {before} to {}",
                    record.key, record.value
                ));
            }
        }
        if self.base.keyed.len() + self.current.keyed.len() + new_keys > MAX_KEYS {
            return Err(format!("more than {MAX_KEYS} keyed counters"));
        }
        Ok(())
    }

    fn apply(&mut self, records: &[Record]) {
        for record in records {
            if record.key == 0 {
                self.current.plain[record.index as usize] = record.value;
            } else {
                let counter = (record.index, record.key);
                self.new_keys |= !self.base.keyed.contains_key(&counter)
                    && !self.current.keyed.contains_key(&counter);
                self.current.keyed.insert(counter, record.value);
            }
        }
    }

    /// A worker generation ended: the next one counts from zero again.
    pub fn next_generation(&mut self) {
        for (base, current) in self
            .base
            .plain
            .iter_mut()
            .zip(self.current.plain.iter_mut())
        {
            *base = base.wrapping_add(*current);
            *current = 0;
        }
        for (counter, value) in std::mem::take(&mut self.current.keyed) {
            let base = self.base.keyed.entry(counter).or_insert(0);
            *base = base.wrapping_add(value);
        }
    }

    /// Every counter since the thread first started, all generations.
    pub fn totals(&self) -> Snapshot {
        let mut totals = self.base.clone();
        for (total, current) in totals.plain.iter_mut().zip(&self.current.plain) {
            *total = total.wrapping_add(*current);
        }
        for (counter, value) in &self.current.keyed {
            let total = totals.keyed.entry(*counter).or_insert(0);
            *total = total.wrapping_add(*value);
        }
        totals
    }

    /// Every keyed counter seen, all generations: what the layout draws.
    pub fn keys(&mut self) -> BTreeSet<(u32, u64)> {
        self.new_keys = false;
        self.base
            .keyed
            .keys()
            .chain(self.current.keyed.keys())
            .copied()
            .collect()
    }

    /// One value per dimension of each chart, and the totals become the
    /// reference for the next per-interval values.
    pub fn take_update(&mut self, charts: &[Chart]) -> Vec<Vec<i64>> {
        let totals = self.totals();
        let values = charts
            .iter()
            .map(|chart| chart.values(&totals, &self.previous))
            .collect();
        self.previous = totals;
        self.fresh = false;
        values
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::unix::fs::FileExt;

    use ::tests::protocol::Stream;
    use ipc::{RingWriter, MIN_CAPACITY};
    use proptest::prelude::*;
    use workers::registry;

    use super::*;
    use crate::output::{Netdata, Output};

    const CAPACITY: usize = 4 * MIN_CAPACITY;

    fn sync() -> &'static dyn Thread {
        registry::find(conf::ThreadName::Sync).unwrap()
    }

    fn charts(thread: &'static dyn Thread) -> Vec<Chart> {
        thread
            .charts()
            .iter()
            .map(|def| def.instance(1, |_| true))
            .collect()
    }

    /// The supervisor's side of one tick: drain, then the update it sends,
    /// fed to the strict protocol reader.
    struct Harness {
        thread: &'static dyn Thread,
        charts: Vec<Chart>,
        counters: Counters,
        records: Vec<Record>,
        stream: Stream,
        defined: bool,
    }

    impl Harness {
        fn new() -> Harness {
            let thread = sync();
            Harness {
                thread,
                charts: charts(thread),
                counters: Counters::new(thread.counters().len()),
                records: Vec::new(),
                stream: Stream::new(),
                defined: false,
            }
        }

        fn tick(&mut self, ring: &mut RingReader) -> Result<Drained, String> {
            let drained = self.counters.drain(self.thread, ring, &mut self.records);
            if self.counters.fresh {
                let mut bytes = Vec::new();
                let mut out = Netdata::new(&mut bytes);
                if !self.defined {
                    out.define(&self.charts).unwrap();
                    self.defined = true;
                }
                let values = self.counters.take_update(&self.charts);
                for (chart, values) in self.charts.iter().zip(values) {
                    out.update(chart, &values).unwrap();
                }
                for line in String::from_utf8(bytes).unwrap().lines() {
                    self.stream.feed(line);
                }
            }
            drained
        }

        /// No protocol error, and every incremental dimension monotonic.
        fn check_stream(&self) -> Result<(), TestCaseError> {
            prop_assert_eq!(&self.stream.errors, &Vec::<String>::new());
            for (id, chart) in &self.stream.charts {
                for (dim, info) in &chart.dims {
                    prop_assert!(
                        info.values.windows(2).all(|w| w[0] <= w[1]),
                        "{} {} went back: {:?}",
                        id,
                        dim,
                        info.values
                    );
                }
            }
            Ok(())
        }
    }

    /// A record as a worker might write it: mostly sane, sometimes not.
    fn record() -> impl Strategy<Value = (u32, u32, u64, i64)> {
        (
            prop_oneof![8 => Just(1u32), 1 => any::<u32>()],
            prop_oneof![8 => 0u32..6, 1 => any::<u32>()],
            prop_oneof![8 => Just(0u64), 1 => any::<u64>()],
            -3i64..50,
        )
    }

    proptest! {
        /// Frames of random records, over several worker generations: the
        /// supervisor accepts exactly the frames a model of the rules
        /// accepts, stops at the first bad one, and sends exactly the
        /// model's totals, carried across generations, in a valid stream.
        #[test]
        fn random_records_give_the_models_output_or_garbage(
            generations in prop::collection::vec(
                prop::collection::vec(
                    // Statuses past the thread's last variant are garbage.
                    (0u32..4, prop::collection::vec(record(), 0..8)),
                    0..8,
                ),
                1..4,
            ),
        ) {
            let thread = sync();
            let mut harness = Harness::new();
            let mut base = [0u64; 6];
            for (generation, frames) in generations.iter().enumerate() {
                let (mut ring, fd) = ipc::create(CAPACITY, generation as u64 + 1).unwrap();
                let mut writer = RingWriter::open(fd).unwrap();
                let mut sent = [0i64; 6];
                let mut accepted = [0u64; 6];
                for (status, records) in frames {
                    let records: Vec<Record> = records
                        .iter()
                        .map(|&(kind, index, key, step)| {
                            let value = match sent.get_mut(index as usize) {
                                Some(v) => { *v = (*v + step).max(0); *v as u64 }
                                None => step.unsigned_abs(),
                            };
                            Record { kind, index, key, value }
                        })
                        .collect();
                    writer.push(*status, &records).unwrap();
                    let valid = (*status as usize) < thread.variants().len()
                        && records.iter().all(|r| {
                            (r.index as usize) < 6
                                && ((r.kind == 1 && r.key == 0 && r.value >= accepted[r.index as usize])
                                    || (r.kind == 2 && r.key != 0))
                        });
                    let result = harness.tick(&mut ring);
                    if !valid {
                        prop_assert!(result.is_err(), "accepted {:?}", records);
                        break;
                    }
                    prop_assert_eq!(result, Ok(Drained { frames: 1, variant: Some(*status) }));
                    for r in records.iter().filter(|r| r.key == 0) {
                        accepted[r.index as usize] = r.value;
                    }
                    for (chart, dims) in thread.charts().iter().zip(harness.charts.iter()) {
                        for dim in &dims.dims {
                            let counter = dim.value.counters().next().unwrap() as usize;
                            prop_assert_eq!(
                                harness.stream.chart(chart.id).unwrap().dims[&dim.id].values.last().copied(),
                                Some((base[counter] + accepted[counter]) as i64)
                            );
                        }
                    }
                }
                harness.counters.next_generation();
                for (b, a) in base.iter_mut().zip(&accepted) {
                    *b += a;
                }
            }
            harness.check_stream()?;
        }

        /// A ring whose bytes, header included, are partly overwritten with
        /// random ones after a few good frames: never a panic, never a line
        /// Netdata would reject, never a counter going back, also across
        /// the next generation.
        #[test]
        fn random_bytes_never_panic_nor_corrupt_the_stream(
            good in 0usize..4,
            scribbles in prop::collection::vec(
                (0u64..(128 + CAPACITY as u64), prop::collection::vec(any::<u8>(), 1..512)),
                1..6,
            ),
        ) {
            let mut harness = Harness::new();
            let (mut ring, fd) = ipc::create(CAPACITY, 1).unwrap();
            let file = File::from(fd.try_clone().unwrap());
            let mut writer = RingWriter::open(fd).unwrap();
            for i in 0..good {
                let records: Vec<Record> = (0..6).map(|c| Record::counter(c, (i * 10 + c as usize) as u64)).collect();
                writer.push(0, &records).unwrap();
            }
            for (offset, bytes) in &scribbles {
                let room = (128 + CAPACITY as u64 - offset) as usize;
                file.write_at(&bytes[..bytes.len().min(room)], *offset).unwrap();
            }
            for _ in 0..3 {
                if harness.tick(&mut ring).is_err() {
                    break;
                }
            }
            harness.counters.next_generation();
            let (mut ring, fd) = ipc::create(CAPACITY, 2).unwrap();
            let mut writer = RingWriter::open(fd).unwrap();
            writer.push(0, &(0..6).map(|c| Record::counter(c, 1)).collect::<Vec<_>>()).unwrap();
            prop_assert!(harness.tick(&mut ring).is_ok());
            harness.check_stream()?;
        }
    }

    #[test]
    fn a_variant_the_thread_lacks_is_garbage() {
        let mut harness = Harness::new();
        let (mut ring, fd) = ipc::create(CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        writer.push(5, &[Record::counter(0, 1)]).unwrap();
        let error = harness.tick(&mut ring).unwrap_err();
        assert!(error.contains("attach variant 5"), "{error}");
        assert!(harness.stream.charts.is_empty());
    }

    #[test]
    fn keyed_counters_carry_on_across_generations_and_announce_new_keys() {
        let thread = sync();
        let mut counters = Counters::new(thread.counters().len());
        let mut records = Vec::new();
        let (mut ring, fd) = ipc::create(CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        writer
            .push(
                0,
                &[
                    Record::keyed(2, 7, 5),
                    Record::keyed(2, 9, 1),
                    Record::counter(0, 3),
                ],
            )
            .unwrap();
        counters.drain(thread, &mut ring, &mut records).unwrap();
        assert!(counters.new_keys);
        assert_eq!(counters.keys(), BTreeSet::from([(2, 7), (2, 9)]));
        assert!(!counters.new_keys);
        counters.next_generation();
        let (mut ring, fd) = ipc::create(CAPACITY, 2).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        writer.push(0, &[Record::keyed(2, 7, 4)]).unwrap();
        counters.drain(thread, &mut ring, &mut records).unwrap();
        assert!(
            !counters.new_keys,
            "key 7 was known from the first generation"
        );
        let totals = counters.totals();
        assert_eq!(
            (totals.get(2, 7), totals.get(2, 9), totals.get(0, 0)),
            (9, 1, 3)
        );
    }

    #[test]
    fn keys_must_match_the_record_kind_and_stay_bounded() {
        let thread = sync();
        let counters = Counters::new(thread.counters().len());
        for bad in [
            Record::keyed(0, 0, 1),
            Record {
                key: 3,
                ..Record::counter(0, 1)
            },
            Record::keyed(6, 1, 1),
        ] {
            assert!(counters.check(thread, &[bad]).is_err(), "{bad:?}");
        }
        let too_many: Vec<Record> = (1..=MAX_KEYS as u64 + 1)
            .map(|k| Record::keyed(0, k, 1))
            .collect();
        let error = counters.check(thread, &too_many).unwrap_err();
        assert!(error.contains("more than"), "{error}");
    }
}
