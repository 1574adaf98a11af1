//! A thread's counters as the supervisor keeps them: the frames its worker
//! writes, checked and applied; totals that carry on across worker
//! generations; per-process deltas added to their group's and cgroup's
//! totals; the values each chart update sends.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use ipc::tgid::TgidSet;
use ipc::{Record, RecordKind, RingReader, TableStat, FRAME_CONTINUATION};
use workers::{Chart, PerProcessTotals, Snapshot, Thread, TARGET_KEY};

use crate::grouping::{Birth, Grouping, Target};

/// The kernel's largest PID (`PID_MAX_LIMIT`): TGIDs and parents above
/// it are garbage.
const PID_MAX_LIMIT: u64 = 4 << 20;

/// Statistics of a per-process table.
pub const STATS: usize = TableStat::ALL.len();

/// What per-process records of a thread are applied with.
pub struct PerProcess<'a> {
    pub grouping: &'a mut Grouping,
    /// The thread's table size: it cannot hold more processes.
    pub limit: u32,
    pub now: Instant,
}

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
    /// Per-process counters by group and cgroup: sums of deltas, which
    /// need no generation offset.
    per_process: PerProcessTotals,
    /// The per-process table's statistics ([`TableStat`] order): dead
    /// generations' and the current one's.
    table_base: [u64; STATS],
    table: [u64; STATS],
    /// New data since the last update.
    pub fresh: bool,
    /// A key appeared since the layout was last computed.
    pub new_keys: bool,
}

impl Counters {
    /// `count` plain counters, `per_process` per-process counters.
    pub fn new(count: usize, per_process: usize) -> Counters {
        let zero = Snapshot {
            plain: vec![0; count],
            keyed: BTreeMap::new(),
            per_process: PerProcessTotals::default(),
        };
        Counters {
            base: zero.clone(),
            current: zero.clone(),
            previous: zero,
            per_process: PerProcessTotals {
                counters: per_process,
                ..Default::default()
            },
            table_base: [0; STATS],
            table: [0; STATS],
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
        mut per_process: Option<PerProcess>,
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
            if header.flags & !FRAME_CONTINUATION != 0 {
                return Err(format!("frame flags {:#x}", header.flags));
            }
            self.check(thread, records, per_process.as_ref())?;
            self.apply(thread, records, per_process.as_mut())?;
            drained.frames += 1;
            drained.variant = Some(header.status);
            // A continuation carries on the last update's frame.
            self.fresh |= header.flags & FRAME_CONTINUATION == 0;
        }
        Ok(drained)
    }

    /// A worker is never trusted: an unknown kind, an index out of range, a
    /// key on a plain counter (or none on a keyed one), a counter going
    /// backwards, too many keys, or per-process records that do not add up
    /// (see [`Counters::check_per_process`]) is garbage.
    fn check(
        &self,
        thread: &dyn Thread,
        records: &[Record],
        per_process: Option<&PerProcess>,
    ) -> Result<(), String> {
        let names = thread.counters();
        let mut new_keys = 0;
        let mut processes = ProcessCheck::default();
        for record in records {
            let kind = RecordKind::try_from(record.kind).map_err(|k| format!("record kind {k}"))?;
            if !matches!(kind, RecordKind::Counter | RecordKind::Keyed) {
                self.check_per_process(thread, kind, record, per_process, &mut processes)?;
                continue;
            }
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
                (RecordKind::Keyed, key) if key != 0 && key & TARGET_KEY == 0 => {
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

    /// Per-process records: only from a thread whose table is on; TGIDs
    /// and parents within the kernel's PID range; a delta only for a
    /// process the worker reported (in this frame or before); never more
    /// processes held than the table has slots; statistics never going
    /// back.
    fn check_per_process(
        &self,
        thread: &dyn Thread,
        kind: RecordKind,
        record: &Record,
        per_process: Option<&PerProcess>,
        processes: &mut ProcessCheck,
    ) -> Result<(), String> {
        let (Some(declared), Some(context)) = (thread.per_process(), per_process) else {
            return Err(format!(
                "{kind:?} record, but the thread has no per-process table"
            ));
        };
        if kind == RecordKind::TableStat {
            let index = record.index as usize;
            return match self.table.get(index) {
                None => Err(format!("table statistic {index}")),
                Some(&before) if record.value < before => Err(format!(
                    "table statistic {index} went from {before} to {}",
                    record.value
                )),
                Some(_) => Ok(()),
            };
        }
        if record.key == 0 || record.key > PID_MAX_LIMIT {
            return Err(format!("{kind:?} record of process {}", record.key));
        }
        let tgid = record.key as u32;
        match kind {
            RecordKind::TgidBorn | RecordKind::TgidExec => {
                if u64::from(record.index) > PID_MAX_LIMIT {
                    return Err(format!("process {tgid} with parent {}", record.index));
                }
                if processes.born.insert(tgid) && !context.grouping.holds(thread.name(), tgid) {
                    processes.new_holds += 1;
                    let held = context.grouping.held(thread.name()) + processes.new_holds;
                    if held > context.limit as usize {
                        return Err(format!(
                            "holds {held} processes, more than its table's {} slots",
                            context.limit
                        ));
                    }
                }
            }
            RecordKind::TgidName if record.index > 1 => {
                return Err(format!("name part {} of process {tgid}", record.index));
            }
            RecordKind::TgidDelta => {
                if record.index as usize >= declared.counters.len() {
                    return Err(format!(
                        "per-process counter {} (the thread has {})",
                        record.index,
                        declared.counters.len()
                    ));
                }
                // A process's deltas come together: one look-up for them.
                if processes.last_known != Some(tgid) {
                    if !processes.born.contains(&tgid) && !context.grouping.knows(tgid) {
                        return Err(format!(
                            "a delta of process {tgid}, which it never reported"
                        ));
                    }
                    processes.last_known = Some(tgid);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn apply(
        &mut self,
        thread: &dyn Thread,
        records: &[Record],
        mut per_process: Option<&mut PerProcess>,
    ) -> Result<(), String> {
        // What comes before a process's born or exec record.
        let mut before = Before::default();
        // Where the last delta's process goes: its other deltas follow it.
        let mut last_target: Option<(u64, Target)> = None;
        for record in records {
            let kind = RecordKind::try_from(record.kind).map_err(|k| format!("record kind {k}"))?;
            let context = per_process.as_deref_mut();
            match (kind, context) {
                (RecordKind::Counter, _) => {
                    self.current.plain[record.index as usize] = record.value;
                }
                (RecordKind::Keyed, _) => {
                    let counter = (record.index, record.key);
                    self.new_keys |= !self.base.keyed.contains_key(&counter)
                        && !self.current.keyed.contains_key(&counter);
                    self.current.keyed.insert(counter, record.value);
                }
                (RecordKind::TableStat, _) => self.table[record.index as usize] = record.value,
                (RecordKind::TgidName, _) => {
                    let part = 8 * record.index as usize;
                    let name = before.of(record.key).name.get_or_insert([0; 16]);
                    name[part..part + 8].copy_from_slice(&record.value.to_ne_bytes());
                }
                (RecordKind::TgidBorn | RecordKind::TgidExec, Some(context)) => {
                    last_target = None;
                    let known = before.take(record.key);
                    let birth = Birth {
                        tgid: record.key as u32,
                        ppid: record.index,
                        cgroup: record.value,
                        name: known.name,
                        exec: kind == RecordKind::TgidExec,
                    };
                    context.grouping.born(thread.name(), context.limit, birth)?;
                }
                (RecordKind::TgidDelta, Some(context)) => {
                    let target = match last_target {
                        Some((key, target)) if key == record.key => target,
                        _ => context.grouping.target(record.key as u32)?,
                    };
                    last_target = Some((record.key, target));
                    self.per_process
                        .add(record.index, record.value, target.group, target.cgroup);
                }
                (RecordKind::TgidExit, Some(context)) => {
                    context
                        .grouping
                        .ended(thread.name(), record.key as u32, context.now)
                }
                // `check` refused these without a table.
                (_, None) => {}
            }
        }
        Ok(())
    }

    /// The per-process table's statistics over all generations.
    pub fn table_stats(&self) -> [u64; STATS] {
        std::array::from_fn(|i| self.table_base[i] + self.table[i])
    }

    /// Apps groups were read again: totals follow their group by name.
    pub fn regroup(&mut self, old: &[String], new: &[String]) {
        let counters = self.per_process.counters;
        let mut groups = vec![0; new.len() * counters];
        for (index, name) in new.iter().enumerate() {
            if let Some(was) = old.iter().position(|o| o == name) {
                let from = &self
                    .per_process
                    .groups
                    .get(was * counters..(was + 1) * counters);
                if let Some(from) = from {
                    groups[index * counters..(index + 1) * counters].copy_from_slice(from);
                }
            }
        }
        self.per_process.groups = groups.clone();
        self.previous.per_process.groups = groups;
    }

    /// Forgets the totals of cgroups that are gone.
    pub fn retain_cgroups(&mut self, live: &[u32]) {
        self.per_process
            .cgroups
            .retain(|serial, _| live.contains(serial));
    }

    /// A worker generation ended: the next one counts from zero again.
    pub fn next_generation(&mut self) {
        for (base, current) in self.table_base.iter_mut().zip(&mut self.table) {
            *base += std::mem::take(current);
        }
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
        totals.per_process = self.per_process.clone();
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

/// The name a worker sends before a process's born or exec record.
#[derive(Default)]
struct Before {
    tgid: u64,
    name: Option<[u8; 16]>,
}

impl Before {
    /// Those of `tgid`, started afresh when another process's come.
    fn of(&mut self, tgid: u64) -> &mut Before {
        if self.tgid != tgid {
            *self = Before {
                tgid,
                ..Default::default()
            };
        }
        self
    }

    fn take(&mut self, tgid: u64) -> Before {
        if self.tgid == tgid {
            std::mem::take(self)
        } else {
            Before::default()
        }
    }
}

/// What the per-process records of one frame have done so far.
#[derive(Default)]
struct ProcessCheck {
    born: TgidSet,
    new_holds: usize,
    /// The process of the last delta checked.
    last_known: Option<u32>,
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
    use crate::grouping::Grouping;
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
                counters: Counters::new(thread.counters().len(), 0),
                records: Vec::new(),
                stream: Stream::new(),
                defined: false,
            }
        }

        fn tick(&mut self, ring: &mut RingReader) -> Result<Drained, String> {
            let drained = self
                .counters
                .drain(self.thread, ring, &mut self.records, None);
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
        let mut counters = Counters::new(thread.counters().len(), 0);
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
        counters
            .drain(thread, &mut ring, &mut records, None)
            .unwrap();
        assert!(counters.new_keys);
        assert_eq!(counters.keys(), BTreeSet::from([(2, 7), (2, 9)]));
        assert!(!counters.new_keys);
        counters.next_generation();
        let (mut ring, fd) = ipc::create(CAPACITY, 2).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        writer.push(0, &[Record::keyed(2, 7, 4)]).unwrap();
        counters
            .drain(thread, &mut ring, &mut records, None)
            .unwrap();
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
        let counters = Counters::new(thread.counters().len(), 0);
        for bad in [
            Record::keyed(0, 0, 1),
            Record {
                key: 3,
                ..Record::counter(0, 1)
            },
            Record::keyed(6, 1, 1),
        ] {
            assert!(counters.check(thread, &[bad], None).is_err(), "{bad:?}");
        }
        let too_many: Vec<Record> = (1..=MAX_KEYS as u64 + 1)
            .map(|k| Record::keyed(0, k, 1))
            .collect();
        let error = counters.check(thread, &too_many, None).unwrap_err();
        assert!(error.contains("more than"), "{error}");
    }

    /// The process thread with a grouping: workers' per-process records
    /// become group totals.
    struct Apps {
        thread: &'static dyn Thread,
        counters: Counters,
        grouping: Grouping,
        records: Vec<Record>,
    }

    const FAKE: u64 = 4_000_000;

    impl Apps {
        fn new() -> Apps {
            let text = b"test: worker-a\napps: app*\n";
            let (groups, diags) =
                conf::AppsGroups::parse(std::path::Path::new("/apps_groups.conf"), text);
            assert!(diags.is_empty());
            let thread = registry::find(conf::ThreadName::Process).unwrap();
            Apps {
                thread,
                counters: Counters::new(
                    thread.counters().len(),
                    thread.per_process().unwrap().counters.len(),
                ),
                grouping: Grouping::new(groups, None),
                records: Vec::new(),
            }
        }

        /// Sends frames through a real ring of `generation`.
        fn send(&mut self, generation: u64, frames: &[(u32, Vec<Record>)]) -> Result<(), String> {
            let (mut ring, fd) = ipc::create(CAPACITY, generation).unwrap();
            let mut writer = RingWriter::open(fd).unwrap();
            for (flags, records) in frames {
                writer.push_flagged(0, *flags, records).unwrap();
            }
            let context = PerProcess {
                grouping: &mut self.grouping,
                limit: 4,
                now: Instant::now(),
            };
            self.counters
                .drain(self.thread, &mut ring, &mut self.records, Some(context))
                .map(|_| ())
        }

        /// The total of per-process counter `counter` of group `name`.
        fn total(&self, name: &str, counter: u32) -> u64 {
            let group = self
                .grouping
                .apps()
                .groups
                .iter()
                .position(|g| g.name == name)
                .unwrap();
            self.counters
                .totals()
                .get(counter, workers::group_key(group as u32))
        }
    }

    fn name(tgid: u64, name: &str) -> [Record; 2] {
        let mut bytes = [0u8; 16];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        let half = |i: usize| u64::from_ne_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap());
        [
            Record::new(RecordKind::TgidName, 0, tgid, half(0)),
            Record::new(RecordKind::TgidName, 1, tgid, half(1)),
        ]
    }

    fn born(tgid: u64, parent: u64) -> Record {
        Record::new(RecordKind::TgidBorn, parent as u32, tgid, 0)
    }

    fn delta(tgid: u64, counter: u32, value: u64) -> Record {
        Record::new(RecordKind::TgidDelta, counter, tgid, value)
    }

    fn exit(tgid: u64) -> Record {
        Record::new(RecordKind::TgidExit, 0, tgid, 0)
    }

    #[test]
    fn deltas_go_to_groups_by_name_and_by_parent_and_survive_exits_and_restarts() {
        let mut apps = Apps::new();
        let (a, child, other) = (FAKE + 1, FAKE + 2, FAKE + 3);
        let mut first = name(a, "worker-a").to_vec();
        first.extend([born(a, 1), delta(a, 0, 3)]);
        // A child whose name the kernel could not pass on: its parent's group.
        first.extend([born(child, a), delta(child, 2, 5), exit(child)]);
        first.extend(name(other, "bash"));
        first.extend([born(other, 1), delta(other, 2, 7)]);
        apps.send(1, &[(0, first)]).unwrap();
        assert_eq!(apps.total("test", 0), 3);
        assert_eq!(apps.total("test", 2), 5);
        assert_eq!(apps.total("other", 2), 7);
        assert!(apps.counters.fresh);
        // A continuation frame adds to the totals but starts no update.
        let charts = Vec::new();
        apps.counters.take_update(&charts);
        apps.send(1, &[(FRAME_CONTINUATION, vec![delta(a, 0, 2)])])
            .unwrap();
        assert!(!apps.counters.fresh);
        assert_eq!(apps.total("test", 0), 5);
        // The worker dies: a new generation starts from nothing, its deltas add on.
        apps.counters.next_generation();
        apps.grouping
            .thread_gone(conf::ThreadName::Process, Instant::now());
        apps.send(2, &[(0, vec![born(a, 1), delta(a, 0, 1), exit(a)])])
            .unwrap();
        assert_eq!(apps.total("test", 0), 6, "monotonic across the restart");
        let exposed: Vec<&str> = apps
            .grouping
            .exposed()
            .map(|(_, g)| g.name.as_str())
            .collect();
        assert_eq!(exposed, ["test", "other"]);
    }

    #[test]
    fn an_exec_regroups_only_what_comes_after() {
        let mut apps = Apps::new();
        let p = FAKE + 9;
        let mut frame = name(p, "sh").to_vec();
        frame.extend([born(p, 1), delta(p, 0, 4)]);
        frame.extend(name(p, "app-server"));
        frame.extend([Record::new(RecordKind::TgidExec, 1, p, 0), delta(p, 0, 6)]);
        apps.send(1, &[(0, frame)]).unwrap();
        assert_eq!((apps.total("other", 0), apps.total("apps", 0)), (4, 6));
    }

    #[test]
    fn per_process_garbage_is_refused_whole() {
        let cases: Vec<(Vec<Record>, &str)> = vec![
            (vec![delta(FAKE + 20, 0, 1)], "never reported"),
            (
                vec![born(FAKE + 21, 1), delta(FAKE + 21, 7, 1)],
                "per-process counter 7",
            ),
            (vec![born(0, 1)], "process 0"),
            (vec![born(5 << 20, 1)], "process"),
            (
                (0..5).map(|i| born(FAKE + 30 + i, 1)).collect(),
                "more than its table's 4 slots",
            ),
            (
                vec![Record::new(RecordKind::TgidName, 2, FAKE + 22, 0)],
                "name part 2",
            ),
            (
                vec![Record::new(RecordKind::TableStat, 9, 0, 0)],
                "table statistic 9",
            ),
            (
                vec![Record::keyed(0, workers::TARGET_KEY | 1, 1)],
                "of kind Keyed",
            ),
        ];
        for (frame, why) in cases {
            let mut apps = Apps::new();
            let error = apps.send(1, &[(0, frame.clone())]).unwrap_err();
            assert!(error.contains(why), "{frame:?}: {error}");
            assert_eq!(apps.counters.totals().per_process.groups, Vec::<u64>::new());
        }
        let mut apps = Apps::new();
        let error = apps.send(1, &[(4, vec![])]).unwrap_err();
        assert!(error.contains("frame flags"), "{error}");
        // Without a table, a per-process record is garbage too.
        let mut counters = Counters::new(6, 0);
        let (mut ring, fd) = ipc::create(CAPACITY, 1).unwrap();
        RingWriter::open(fd)
            .unwrap()
            .push(0, &[born(FAKE, 1)])
            .unwrap();
        let error = counters
            .drain(sync(), &mut ring, &mut Vec::new(), None)
            .unwrap_err();
        assert!(error.contains("no per-process table"), "{error}");
    }

    #[test]
    fn table_statistics_carry_on_across_generations() {
        let mut apps = Apps::new();
        let stat = |i: u32, v: u64| Record::new(RecordKind::TableStat, i, 0, v);
        apps.send(1, &[(0, vec![stat(0, 5), stat(2, 1)])]).unwrap();
        apps.counters.next_generation();
        apps.send(2, &[(0, vec![stat(0, 2)])]).unwrap();
        assert_eq!(apps.counters.table_stats(), [7, 0, 1]);
        let error = apps.send(2, &[(0, vec![stat(0, 1)])]).unwrap_err();
        assert!(error.contains("went from 2 to 1"), "{error}");
    }
}
