//! A thread's counters as the supervisor keeps them: the frames its worker
//! writes, decoded, checked and applied; totals that carry on across worker
//! generations; per-process deltas added to their group's and cgroup's
//! totals; the names its worker gave its keys.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use ipc::tgid::TgidSet;
use ipc::{Garbled, Message, RingReader, TableStat, FRAME_CONTINUATION, KEY_LIMIT};
use workers::keyed::Retire;
use workers::Thread;

use crate::grouping::{Birth, Grouping, Target, V1Cgroup};

/// Statistics of a per-process table.
pub const STATS: usize = TableStat::ALL.len();

/// At most this many keys per thread: a worker writing garbage keys cannot
/// make the supervisor grow without bound.
pub const MAX_KEYS: usize = 1 << 16;

/// At most this many programs per worker (a thread has a few dozen).
pub const MAX_PROGRAMS: usize = 1024;

/// The largest count a worker may report: Netdata's values are signed 64
/// bits, and no counter of ours gets near it (2^62 nanoseconds are 146
/// years, 2^62 bytes four exbibytes).
const MAX_COUNT: u64 = 1 << 62;

/// Keys with this bit read per-process totals (an apps group's, a
/// cgroup's); keys from workers are below [`KEY_LIMIT`].
pub const TARGET_KEY: u64 = 1 << 63;
const CGROUP_KEY: u64 = 1 << 62;
const _: () = assert!(CGROUP_KEY >= KEY_LIMIT);

/// The key of an apps group's totals of per-process counters.
pub const fn group_key(group: u32) -> u64 {
    TARGET_KEY | group as u64
}

/// The key of a cgroup's totals (by its serial) of per-process counters.
pub const fn cgroup_key(serial: u32) -> u64 {
    TARGET_KEY | CGROUP_KEY | serial as u64
}

/// Whether `key` is a [`group_key`].
pub fn is_group_key(key: u64) -> bool {
    key & (TARGET_KEY | CGROUP_KEY) == TARGET_KEY
}

/// The cgroup serial of a [`cgroup_key`].
pub fn cgroup_of(key: u64) -> Option<u32> {
    (key & (TARGET_KEY | CGROUP_KEY) == TARGET_KEY | CGROUP_KEY).then_some(key as u32)
}

/// What a worker wrote that no worker of ours writes: the worker is killed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Garbage {
    #[error(transparent)]
    Ring(#[from] Garbled),
    #[error("frame names attach variant {variant} (the thread has {count})")]
    Variant { variant: u32, count: usize },
    #[error("frame flags {0:#x}")]
    Flags(u32),
    #[error("counter index {index} (the thread has {count})")]
    Counter { index: u32, count: usize },
    #[error("keyed counter slot {index} (the thread has {count})")]
    Slot { index: u32, count: usize },
    #[error("counter `{name}` (key {key}) went from {before} to {after}")]
    Backwards {
        name: String,
        key: u64,
        before: u64,
        after: u64,
    },
    #[error("more than {MAX_KEYS} keyed counters")]
    TooManyKeys,
    #[error("a count of {0}, more than Netdata's values hold")]
    TooLarge(u64),
    #[error("{0} message, but the thread has no keyed counters")]
    NotKeyed(&'static str),
    #[error("{0} message, but the thread has no per-process table")]
    NoTable(&'static str),
    #[error("table statistic {stat:?} went from {before} to {after}")]
    StatBackwards {
        stat: TableStat,
        before: u64,
        after: u64,
    },
    #[error("holds {held} processes, more than its table's {limit} slots")]
    TableOverflow { held: usize, limit: u32 },
    #[error("per-process counter {index} (the thread has {count})")]
    ProcessCounter { index: u32, count: u32 },
    #[error("a delta of process {0}, which it never reported")]
    UnknownProcess(u32),
    #[error("more than {MAX_PROGRAMS} programs")]
    TooManyPrograms,
}

/// What per-process messages of a thread are applied with.
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

/// Totals of a thread's per-process counters by apps group and by cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerProcessTotals {
    /// Per-process counters of the thread.
    pub counters: usize,
    /// `groups[group * counters + counter]`.
    pub groups: Vec<u64>,
    /// By cgroup serial, one total per counter.
    pub cgroups: BTreeMap<u32, Vec<u64>>,
}

impl PerProcessTotals {
    pub fn get(&self, counter: u32, key: u64) -> u64 {
        let id = key as u32;
        let counter = counter as usize;
        if counter >= self.counters {
            return 0;
        }
        let found = if key & CGROUP_KEY != 0 {
            self.cgroups.get(&id).map(|totals| totals[counter])
        } else {
            self.groups
                .get(id as usize * self.counters + counter)
                .copied()
        };
        found.unwrap_or(0)
    }

    /// Adds `delta` events of `counter` to `group` and `cgroup`.
    pub fn add(&mut self, counter: u32, delta: u64, group: u32, cgroup: Option<u32>) {
        let counter = counter as usize;
        let at = group as usize * self.counters + counter;
        if self.groups.len() <= at {
            self.groups.resize((group as usize + 1) * self.counters, 0);
        }
        self.groups[at] = self.groups[at].wrapping_add(delta);
        if let Some(serial) = cgroup {
            let totals = self
                .cgroups
                .entry(serial)
                .or_insert_with(|| vec![0; self.counters]);
            totals[counter] = totals[counter].wrapping_add(delta);
        }
    }
}

/// A worker generation's cumulative counters.
#[derive(Debug, Clone, Default)]
struct Generation {
    plain: Vec<u64>,
    keyed: BTreeMap<(u32, u64), u64>,
    table: [u64; STATS],
}

/// A process's name and start, as they come before its `Born` message.
#[derive(Debug, Clone, Copy, Default)]
struct Coming {
    tgid: u32,
    name: Option<[u8; 16]>,
    start: u64,
    v1_cgroup: Option<V1Cgroup>,
}

impl Coming {
    /// What is known of `tgid` so far (a message of another process starts
    /// afresh).
    fn of(coming: &mut Option<Coming>, tgid: u32) -> &mut Coming {
        if coming.is_some_and(|c| c.tgid != tgid) {
            *coming = None;
        }
        coming.get_or_insert(Coming {
            tgid,
            ..Coming::default()
        })
    }
}

/// Running totals of one thread.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Names of the plain counters (for messages).
    names: &'static [&'static str],
    /// Slots per key of the keyed counters, when the thread has them.
    slots: Option<usize>,
    /// Totals of dead generations: added so that counters never go back.
    base: Generation,
    /// The current generation's latest totals.
    current: Generation,
    /// Per-process counters by group and cgroup: sums of deltas, which
    /// need no generation offset.
    per_process: PerProcessTotals,
    /// The names the workers gave keys (empty: the key is gone).
    key_names: BTreeMap<u64, String>,
    /// The current worker's programs, by the kernel's id, as its last
    /// update named them.
    programs: Vec<u32>,
    /// What the worker said of a process before its `Born` message (name
    /// parts, start): kept across frames, which may split them.
    coming: Option<Coming>,
    /// New data since the last update.
    pub fresh: bool,
    /// A key appeared or was named since the layout was last computed.
    pub new_keys: bool,
    /// Keys forgotten since the layout was last computed
    /// ([`Message::KeyGone`]): what their dimensions read goes too.
    gone_keys: Vec<u64>,
    /// Keys an earlier generation named that the current one has not, and
    /// since when (the first look after that generation ended).
    unclaimed: BTreeSet<u64>,
    unclaimed_since: Option<Instant>,
}

impl Totals {
    pub fn new(thread: &Thread) -> Totals {
        let names = thread.counters();
        let slots = thread.keyed.map(|keyed| {
            thread
                .object
                .find_map(keyed.map)
                .map_or(0, |map| map.value_size as usize / 8)
        });
        let generation = Generation {
            plain: vec![0; names.len()],
            ..Default::default()
        };
        Totals {
            names,
            slots,
            base: generation.clone(),
            current: generation,
            per_process: PerProcessTotals {
                counters: thread.object.per_process as usize,
                ..Default::default()
            },
            key_names: BTreeMap::new(),
            programs: Vec::new(),
            coming: None,
            fresh: false,
            new_keys: false,
            gone_keys: Vec::new(),
            unclaimed: BTreeSet::new(),
            unclaimed_since: None,
        }
    }

    /// Applies every whole frame pending in `ring`. An error means the
    /// worker wrote garbage (the ring must not be read again); frames before
    /// the bad one stay applied, nothing of the bad one is.
    pub fn drain(
        &mut self,
        thread: &Thread,
        ring: &mut RingReader,
        messages: &mut Vec<Message>,
        mut per_process: Option<PerProcess>,
    ) -> Result<Drained, Garbage> {
        let mut drained = Drained::default();
        while let Some(header) = ring.next_frame(messages)? {
            if header.status as usize >= thread.variants.len() {
                return Err(Garbage::Variant {
                    variant: header.status,
                    count: thread.variants.len(),
                });
            }
            if header.flags & !FRAME_CONTINUATION != 0 {
                return Err(Garbage::Flags(header.flags));
            }
            // An update names all the worker's programs again.
            if header.flags & FRAME_CONTINUATION == 0 {
                self.programs.clear();
            }
            self.check(thread, messages, per_process.as_ref())?;
            self.apply(thread, messages, per_process.as_mut())?;
            drained.frames += 1;
            drained.variant = Some(header.status);
            // A continuation carries on the last update's frame.
            self.fresh |= header.flags & FRAME_CONTINUATION == 0;
        }
        Ok(drained)
    }

    /// A worker is never trusted: an index out of range, a counter going
    /// backwards, too many keys, or per-process messages that do not add up
    /// (see [`Totals::check_per_process`]) is garbage.
    fn check(
        &self,
        thread: &Thread,
        messages: &[Message],
        per_process: Option<&PerProcess>,
    ) -> Result<(), Garbage> {
        let (mut new_keys, mut new_names, mut new_programs) = (0, 0, 0);
        // Keys forgotten earlier in this frame count from zero again.
        let mut gone: Vec<u64> = Vec::new();
        let mut processes = ProcessCheck::default();
        for message in messages {
            match *message {
                Message::Counter { index, total } => {
                    let Some(&before) = self.current.plain.get(index as usize) else {
                        return Err(Garbage::Counter {
                            index,
                            count: self.names.len(),
                        });
                    };
                    self.forward(self.names[index as usize], 0, before, total)?;
                }
                Message::Keyed { index, key, total } => {
                    let slots = self.slots.ok_or(Garbage::NotKeyed("keyed counter"))?;
                    if index as usize >= slots {
                        return Err(Garbage::Slot {
                            index,
                            count: slots,
                        });
                    }
                    let counter = (index, key);
                    let forgotten = gone.contains(&key);
                    if forgotten
                        || !self.base.keyed.contains_key(&counter)
                            && !self.current.keyed.contains_key(&counter)
                    {
                        new_keys += 1;
                    }
                    let before = if forgotten {
                        0
                    } else {
                        self.current.keyed.get(&counter).copied().unwrap_or(0)
                    };
                    self.forward(&format!("slot {index}"), key, before, total)?;
                }
                Message::KeyName { .. } if self.slots.is_none() => {
                    return Err(Garbage::NotKeyed("key name"));
                }
                Message::KeyGone { .. } if self.slots.is_none() => {
                    return Err(Garbage::NotKeyed("key gone"));
                }
                Message::KeyGone { key } => gone.push(key),
                Message::KeyName { key, part, .. } => {
                    new_names += usize::from(part == 0 && !self.key_names.contains_key(&key));
                }
                Message::Program { .. } => new_programs += 1,
                _ => self.check_per_process(thread, message, per_process, &mut processes)?,
            }
        }
        if self.base.keyed.len() + self.current.keyed.len() + new_keys > MAX_KEYS
            || self.key_names.len() + new_names > MAX_KEYS
        {
            return Err(Garbage::TooManyKeys);
        }
        if self.programs.len() + new_programs > MAX_PROGRAMS {
            return Err(Garbage::TooManyPrograms);
        }
        Ok(())
    }

    fn forward(&self, name: &str, key: u64, before: u64, after: u64) -> Result<(), Garbage> {
        if after > MAX_COUNT {
            return Err(Garbage::TooLarge(after));
        }
        if after < before {
            return Err(Garbage::Backwards {
                name: name.to_owned(),
                key,
                before,
                after,
            });
        }
        Ok(())
    }

    /// Per-process messages: only from a thread whose table is on; a delta
    /// only for a process the worker reported (in this frame or before);
    /// never more processes held than the table has slots; statistics
    /// never going back.
    fn check_per_process(
        &self,
        thread: &Thread,
        message: &Message,
        per_process: Option<&PerProcess>,
        processes: &mut ProcessCheck,
    ) -> Result<(), Garbage> {
        let kind = match message {
            Message::Born { .. } => "born",
            Message::ProcessName { .. } => "process name",
            Message::ProcessStart { .. } => "process start",
            Message::V1Cgroup { .. } => "v1 cgroup",
            Message::Delta { .. } => "delta",
            Message::Exit { .. } => "exit",
            _ => "table statistic",
        };
        let Some(context) = per_process else {
            return Err(Garbage::NoTable(kind));
        };
        match *message {
            Message::TableStat { stat, total } => {
                let before = self.current.table[stat as usize];
                if total < before {
                    return Err(Garbage::StatBackwards {
                        stat,
                        before,
                        after: total,
                    });
                }
            }
            Message::Born { tgid, .. } => {
                let newly_held =
                    processes.born.insert(tgid) && !context.grouping.holds(thread.name, tgid);
                if newly_held {
                    processes.new_holds += 1;
                    let held = context.grouping.held(thread.name) + processes.new_holds;
                    if held > context.limit as usize {
                        return Err(Garbage::TableOverflow {
                            held,
                            limit: context.limit,
                        });
                    }
                }
            }
            Message::Delta {
                tgid,
                counter,
                events,
            } => {
                if events > MAX_COUNT {
                    return Err(Garbage::TooLarge(events));
                }
                if counter >= thread.object.per_process {
                    return Err(Garbage::ProcessCounter {
                        index: counter,
                        count: thread.object.per_process,
                    });
                }
                // A process's deltas come together: one look-up for them.
                if processes.last_known != Some(tgid) {
                    if !processes.born.contains(&tgid) && !context.grouping.knows(tgid) {
                        return Err(Garbage::UnknownProcess(tgid));
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
        thread: &Thread,
        messages: &[Message],
        mut per_process: Option<&mut PerProcess>,
    ) -> Result<(), Garbage> {
        // The key name being put together from its parts.
        let mut key_name: Option<(u64, Vec<u8>)> = None;
        // Where the last delta's process goes: its other deltas follow it.
        let mut last_target: Option<(u32, Target)> = None;
        for message in messages {
            let context = per_process.as_deref_mut();
            match (*message, context) {
                (Message::Counter { index, total }, _) => {
                    self.current.plain[index as usize] = total;
                }
                (Message::Keyed { index, key, total }, _) => {
                    let counter = (index, key);
                    self.new_keys |= !self.base.keyed.contains_key(&counter)
                        && !self.current.keyed.contains_key(&counter);
                    self.current.keyed.insert(counter, total);
                }
                (Message::KeyName { key, part, bytes }, _) => {
                    if part == 0 || key_name.as_ref().is_some_and(|(of, _)| *of != key) {
                        if let Some((key, raw)) = key_name.take() {
                            self.name_key(key, &raw);
                        }
                    }
                    let (_, raw) = key_name.get_or_insert_with(|| (key, Vec::new()));
                    raw.extend(bytes.iter().take_while(|&&b| b != 0));
                }
                (Message::KeyGone { key }, _) => {
                    if let Some((named, raw)) = key_name.take() {
                        self.name_key(named, &raw);
                    }
                    self.forget_key(key);
                }
                (Message::TableStat { stat, total }, _) => {
                    self.current.table[stat as usize] = total
                }
                (Message::Program { id }, _) => self.programs.push(id),
                (Message::ProcessName { tgid, part, bytes }, _) => {
                    let name = Coming::of(&mut self.coming, tgid)
                        .name
                        .get_or_insert([0; 16]);
                    let at = 8 * part as usize;
                    name[at..at + 8].copy_from_slice(&bytes);
                }
                (Message::ProcessStart { tgid, start }, _) => {
                    Coming::of(&mut self.coming, tgid).start = start;
                }
                (
                    Message::V1Cgroup {
                        tgid,
                        hierarchy,
                        id,
                    },
                    _,
                ) => {
                    Coming::of(&mut self.coming, tgid).v1_cgroup = Some(V1Cgroup { hierarchy, id });
                }
                (
                    Message::Born {
                        tgid,
                        parent,
                        cgroup,
                        renamed,
                    },
                    Some(context),
                ) => {
                    last_target = None;
                    let coming = self.coming.take().filter(|c| c.tgid == tgid);
                    let birth = Birth {
                        tgid,
                        ppid: parent,
                        cgroup,
                        name: coming.and_then(|c| c.name),
                        start: coming.map_or(0, |c| c.start),
                        v1_cgroup: coming.and_then(|c| c.v1_cgroup),
                        renamed,
                    };
                    context
                        .grouping
                        .born(thread.name, context.limit, birth)
                        .map_err(|held| Garbage::TableOverflow {
                            held,
                            limit: context.limit,
                        })?;
                }
                (
                    Message::Delta {
                        tgid,
                        counter,
                        events,
                    },
                    Some(context),
                ) => {
                    let target = match last_target {
                        Some((of, target)) if of == tgid => target,
                        _ => context
                            .grouping
                            .target(thread.name, tgid)
                            .ok_or(Garbage::UnknownProcess(tgid))?,
                    };
                    last_target = Some((tgid, target));
                    self.per_process
                        .add(counter, events, target.group, target.cgroup);
                }
                (Message::Exit { tgid }, Some(context)) => {
                    context.grouping.ended(thread.name, tgid, context.now)
                }
                // `check` refused these without a table.
                (_, None) => {}
            }
        }
        if let Some((key, raw)) = key_name {
            self.name_key(key, &raw);
        }
        Ok(())
    }

    /// `key` is named `raw` (empty: it is gone).
    fn name_key(&mut self, key: u64, raw: &[u8]) {
        self.unclaimed.remove(&key);
        let name = String::from_utf8_lossy(raw).into_owned();
        if self.key_names.get(&key) != Some(&name) {
            self.key_names.insert(key, name);
            self.new_keys = true;
        }
    }

    /// `key` and its counters, of every generation, are forgotten: a key
    /// of that number later counts from zero.
    fn forget_key(&mut self, key: u64) {
        self.key_names.remove(&key);
        for generation in [&mut self.base, &mut self.current] {
            generation.keyed.retain(|&(_, of), _| of != key);
        }
        self.gone_keys.push(key);
        self.new_keys = true;
    }

    /// Forgets the keys of dead generations that the current one has not
    /// named `retire.after` after the last generation ended (its worker
    /// would have retired them had it known them), but `retire.kept`.
    /// `retire` is asked only while such keys wait.
    pub fn retire_unclaimed(&mut self, now: Instant, retire: impl FnOnce() -> Option<Retire>) {
        if self.unclaimed.is_empty() {
            return;
        }
        let Some(retire) = retire() else {
            return;
        };
        let since = *self.unclaimed_since.get_or_insert(now);
        if now.duration_since(since) < retire.after {
            return;
        }
        for key in std::mem::take(&mut self.unclaimed) {
            if !(retire.kept)(key) {
                self.forget_key(key);
            }
        }
    }

    /// The keys forgotten since the last call.
    pub fn take_gone_keys(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.gone_keys)
    }

    /// The names of keys, as their workers last gave them (empty: gone).
    pub fn key_names(&self) -> &BTreeMap<u64, String> {
        &self.key_names
    }

    /// The per-process table's statistics over all generations.
    /// The current worker's programs.
    pub fn programs(&self) -> &[u32] {
        &self.programs
    }

    pub fn table_stats(&self) -> [u64; STATS] {
        std::array::from_fn(|i| self.base.table[i] + self.current.table[i])
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
        self.per_process.groups = groups;
    }

    /// Forgets the totals of cgroups that are gone.
    pub fn retain_cgroups(&mut self, live: &[u32]) {
        self.per_process
            .cgroups
            .retain(|serial, _| live.contains(serial));
    }

    /// A worker generation ended: the next one counts from zero again.
    pub fn next_generation(&mut self) {
        self.coming = None;
        self.programs.clear();
        self.unclaimed = self
            .key_names
            .iter()
            .filter(|(_, name)| !name.is_empty())
            .map(|(&key, _)| key)
            .collect();
        self.unclaimed_since = None;
        let current = std::mem::take(&mut self.current);
        for (base, current) in self.base.table.iter_mut().zip(current.table) {
            *base += current;
        }
        for (base, current) in self.base.plain.iter_mut().zip(&current.plain) {
            *base = base.wrapping_add(*current);
        }
        for (counter, value) in current.keyed {
            let base = self.base.keyed.entry(counter).or_insert(0);
            *base = base.wrapping_add(value);
        }
        self.current.plain = vec![0; self.names.len()];
    }

    /// Counter `index` of `key` since the thread first started, all
    /// generations: key 0 a plain counter, a [`TARGET_KEY`] per-process
    /// totals, others a keyed counter; a counter never seen reads 0.
    pub fn get(&self, index: u32, key: u64) -> u64 {
        if key == 0 {
            let of = |g: &Generation| g.plain.get(index as usize).copied().unwrap_or(0);
            of(&self.base).wrapping_add(of(&self.current))
        } else if key & TARGET_KEY != 0 {
            self.per_process.get(index, key)
        } else {
            let of = |g: &Generation| g.keyed.get(&(index, key)).copied().unwrap_or(0);
            of(&self.base).wrapping_add(of(&self.current))
        }
    }
}

/// What the per-process messages of one frame have done so far.
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
    use std::time::Duration;

    use ::tests::protocol::Stream;
    use conf::{Config, ThreadName};
    use ipc::{Record, RingWriter, MIN_CAPACITY};
    use proptest::prelude::*;
    use workers::{registry, WorkerConfig};

    use super::*;
    use crate::charts::{self, ChartSet};
    use crate::grouping::Grouping;
    use crate::output::Netdata;

    const CAPACITY: usize = 4 * MIN_CAPACITY;

    fn thread(name: ThreadName) -> &'static Thread {
        registry::find(name).unwrap()
    }

    /// A worker's configuration of `thread` at the defaults.
    fn defaults(thread: ThreadName) -> WorkerConfig {
        WorkerConfig {
            thread,
            config: Config::default(),
            pid_filter: None,
            supervisor: 0,
        }
    }

    fn counter(index: u32, total: u64) -> Message {
        Message::Counter { index, total }
    }

    /// The supervisor's side of one tick: drain, then the update it sends,
    /// fed to the strict protocol reader.
    struct Harness {
        thread: &'static Thread,
        totals: Totals,
        charts: ChartSet,
        messages: Vec<Message>,
        stream: Stream,
    }

    impl Harness {
        fn new() -> Harness {
            let thread = thread(ThreadName::Sync);
            Harness {
                thread,
                totals: Totals::new(thread),
                charts: ChartSet::default(),
                messages: Vec::new(),
                stream: Stream::new(),
            }
        }

        fn tick(&mut self, ring: &mut RingReader) -> Result<Drained, Garbage> {
            let drained = self
                .totals
                .drain(self.thread, ring, &mut self.messages, None);
            if self.totals.fresh {
                self.totals.fresh = false;
                let mut out = Netdata::new(Vec::new());
                let layout =
                    charts::layout(self.thread, &defaults(ThreadName::Sync), &self.totals, None);
                self.charts.relayout(layout, &mut out).unwrap();
                self.charts.update(&self.totals, &mut out).unwrap();
                for line in String::from_utf8(out.into_inner()).unwrap().lines() {
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
            let sync = thread(ThreadName::Sync);
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
                    // Sync has plain counters only: a keyed one is garbage.
                    let valid = (*status as usize) < sync.variants.len()
                        && records.iter().all(|r| {
                            (r.index as usize) < 6
                                && r.kind == 1 && r.key == 0 && r.value >= accepted[r.index as usize]
                        });
                    let result = harness.tick(&mut ring);
                    if !valid {
                        prop_assert!(result.is_err(), "accepted {:?}", records);
                        break;
                    }
                    prop_assert_eq!(result, Ok(Drained { frames: 1, variant: Some(*status) }));
                    for r in &records {
                        accepted[r.index as usize] = r.value;
                    }
                    for def in sync.charts {
                        for dim in def.dims {
                            let counter = dim.value.counters().next().unwrap() as usize;
                            let values = &harness.stream.chart(def.id).unwrap().dims[dim.id].values;
                            // Born at zero: the first update's value is 0,
                            // and then every total as it is.
                            let want = match values.len() {
                                1 => 0,
                                _ => (base[counter] + accepted[counter]) as i64,
                            };
                            prop_assert_eq!(values.last().copied(), Some(want));
                        }
                    }
                }
                harness.totals.next_generation();
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
                let frame: Vec<Message> = (0..6).map(|c| counter(c, (i * 10 + c as usize) as u64)).collect();
                writer.push(0, &frame).unwrap();
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
            harness.totals.next_generation();
            let (mut ring, fd) = ipc::create(CAPACITY, 2).unwrap();
            let mut writer = RingWriter::open(fd).unwrap();
            writer.push(0, &(0..6).map(|c| counter(c, 1)).collect::<Vec<_>>()).unwrap();
            prop_assert!(harness.tick(&mut ring).is_ok());
            harness.check_stream()?;
        }
    }

    #[test]
    fn a_variant_the_thread_lacks_is_garbage() {
        let mut harness = Harness::new();
        let (mut ring, fd) = ipc::create(CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        writer.push(5, &[counter(0, 1)]).unwrap();
        assert_eq!(
            harness.tick(&mut ring),
            Err(Garbage::Variant {
                variant: 5,
                count: 3
            })
        );
        assert!(harness.stream.charts.is_empty());
    }

    /// Sends `frames` through a real ring of `generation` into `totals`.
    fn drain(
        totals: &mut Totals,
        thread: &Thread,
        generation: u64,
        frames: &[&[Message]],
    ) -> Result<Drained, Garbage> {
        let (mut ring, fd) = ipc::create(CAPACITY, generation).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        for frame in frames {
            writer.push(0, frame).unwrap();
        }
        totals.drain(thread, &mut ring, &mut Vec::new(), None)
    }

    fn keyed(index: u32, key: u64, total: u64) -> Message {
        Message::Keyed { index, key, total }
    }

    fn key_name(key: u64, name: &str) -> Vec<Message> {
        ipc::name_parts(name.as_bytes(), ipc::KEY_NAME_PARTS)
            .map(|(part, bytes)| Message::KeyName { key, part, bytes })
            .collect()
    }

    /// The network viewer's own chart (connections its full table could
    /// not take) is drawn only with the viewer on.
    #[test]
    fn the_viewers_untracked_chart_comes_only_with_the_viewer() {
        let socket = thread(ThreadName::Socket);
        let totals = Totals::new(socket);
        let drawn = |cfg: &WorkerConfig| {
            charts::layout(socket, cfg, &totals, None)
                .iter()
                .any(|chart| chart.id == "ebpf.connections_untracked")
        };
        let mut cfg = defaults(ThreadName::Socket);
        assert!(!drawn(&cfg));
        cfg.config.network_connections_enabled = true;
        assert!(drawn(&cfg));
    }

    /// mdflush's chart has only its keys' dimensions: none before an md
    /// unit flushed, then the chart with one dimension per unit.
    #[test]
    fn a_chart_of_keys_dimensions_only_comes_with_its_first_key() {
        let mdflush = thread(ThreadName::Mdflush);
        let cfg = defaults(ThreadName::Mdflush);
        let mut totals = Totals::new(mdflush);
        drain(&mut totals, mdflush, 1, &[&[]]).unwrap();
        assert_eq!(charts::layout(mdflush, &cfg, &totals, None), []);
        let mut frame = key_name(1, "md0");
        frame.push(keyed(0, 1, 3));
        drain(&mut totals, mdflush, 1, &[&frame]).unwrap();
        let layout = charts::layout(mdflush, &cfg, &totals, None);
        let drawn: Vec<(&str, Vec<&str>)> = layout
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.dims.iter().map(|d| d.id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(drawn, [("mdstat.mdstat_flush", vec!["md0"])]);
    }

    #[test]
    fn keyed_counters_and_their_names_carry_on_across_generations() {
        let hardirq = thread(ThreadName::Hardirq);
        let mut totals = Totals::new(hardirq);
        let mut first = key_name(7, "6_a-rather-long-interrupt-name");
        first.extend([keyed(0, 7, 5), keyed(0, 9, 1), counter(0, 3)]);
        drain(&mut totals, hardirq, 1, &[&first]).unwrap();
        assert!(totals.new_keys);
        assert_eq!(totals.key_names()[&7], "6_a-rather-long-interrupt-name");
        totals.new_keys = false;
        totals.next_generation();
        drain(&mut totals, hardirq, 2, &[&[keyed(0, 7, 4)]]).unwrap();
        assert!(
            !totals.new_keys,
            "key 7 was known from the first generation"
        );
        assert_eq!(
            (totals.get(0, 7), totals.get(0, 9), totals.get(0, 0)),
            (9, 1, 3)
        );
        // A name that comes again unchanged changes nothing; an empty one
        // says the key is gone.
        drain(
            &mut totals,
            hardirq,
            2,
            &[&key_name(7, "6_a-rather-long-interrupt-name")],
        )
        .unwrap();
        assert!(!totals.new_keys);
        drain(&mut totals, hardirq, 2, &[&key_name(7, "")]).unwrap();
        assert!(totals.new_keys);
        assert_eq!(totals.key_names()[&7], "");
    }

    #[test]
    fn a_key_gone_is_forgotten_in_every_generation_and_counts_from_zero_again() {
        let socket = thread(ThreadName::Socket);
        let mut totals = Totals::new(socket);
        let mut first = key_name(7, "80:TCP:10.0.0.1");
        first.extend([keyed(0, 7, 500), keyed(0, 9, 1)]);
        drain(&mut totals, socket, 1, &[&first]).unwrap();
        totals.next_generation();
        drain(&mut totals, socket, 2, &[&[keyed(0, 7, 20)]]).unwrap();
        totals.new_keys = false;
        // Gone, then back from zero in the same frame: not backwards.
        let frame = [Message::KeyGone { key: 7 }, keyed(0, 7, 3)];
        drain(&mut totals, socket, 2, &[&frame]).unwrap();
        assert!(totals.new_keys);
        assert_eq!((totals.get(0, 7), totals.get(0, 9)), (3, 1));
        assert_eq!(totals.take_gone_keys(), [7]);
        assert!(totals.take_gone_keys().is_empty());
        drain(&mut totals, socket, 2, &[&[Message::KeyGone { key: 7 }]]).unwrap();
        assert_eq!(totals.get(0, 7), 0);
        assert!(!totals.key_names().contains_key(&7));
        let sync = thread(ThreadName::Sync);
        assert_eq!(
            Totals::new(sync).check(sync, &[Message::KeyGone { key: 7 }], None),
            Err(Garbage::NotKeyed("key gone"))
        );
    }

    /// A restarted worker retires only the keys it met: those its
    /// predecessor named and it does not name again within the retirement
    /// time go in the supervisor, but the kept ones ("other").
    #[test]
    fn keys_a_dead_worker_named_retire_unless_its_successor_names_them() {
        let socket = thread(ThreadName::Socket);
        let retire = Some(Retire {
            after: Duration::from_secs(300),
            kept: |key| key == 9,
        });
        let mut totals = Totals::new(socket);
        let mut first = key_name(7, "80:TCP:10.0.0.1");
        first.extend(key_name(8, "443:TCP:10.0.0.2"));
        first.extend(key_name(9, "ALL:other"));
        first.extend([keyed(0, 7, 5), keyed(0, 8, 6), keyed(0, 9, 7)]);
        drain(&mut totals, socket, 1, &[&first]).unwrap();
        let start = Instant::now();
        // A living worker's keys are its own to retire.
        totals.retire_unclaimed(start + Duration::from_secs(1000), || retire);
        assert!(totals.take_gone_keys().is_empty());
        totals.next_generation();
        totals.retire_unclaimed(start, || retire);
        drain(&mut totals, socket, 2, &[&key_name(8, "443:TCP:10.0.0.2")]).unwrap();
        totals.retire_unclaimed(start + Duration::from_secs(299), || retire);
        assert!(totals.take_gone_keys().is_empty());
        totals.retire_unclaimed(start + Duration::from_secs(300), || retire);
        assert_eq!(totals.take_gone_keys(), [7]);
        assert_eq!(
            (totals.get(0, 7), totals.get(0, 8), totals.get(0, 9)),
            (0, 6, 7)
        );
        assert!(!totals.key_names().contains_key(&7));
        // Without retirement (the viewer's `retire dimensions after = 0`),
        // nothing goes.
        totals.next_generation();
        totals.retire_unclaimed(start + Duration::from_secs(10_000), || None);
        assert!(totals.take_gone_keys().is_empty());
    }

    #[test]
    fn keys_stay_within_the_thread_and_bounded() {
        let sync = thread(ThreadName::Sync);
        let totals = Totals::new(sync);
        assert_eq!(
            totals.check(sync, &[keyed(0, 1, 1)], None),
            Err(Garbage::NotKeyed("keyed counter"))
        );
        assert_eq!(
            totals.check(sync, &key_name(1, "x"), None),
            Err(Garbage::NotKeyed("key name"))
        );
        assert_eq!(
            totals.check(sync, &[counter(6, 1)], None),
            Err(Garbage::Counter { index: 6, count: 6 })
        );
        let hardirq = thread(ThreadName::Hardirq);
        let totals = Totals::new(hardirq);
        assert_eq!(
            totals.check(hardirq, &[keyed(1, 1, 1)], None),
            Err(Garbage::Slot { index: 1, count: 1 })
        );
        let too_many: Vec<Message> = (1..=MAX_KEYS as u64 + 1).map(|k| keyed(0, k, 1)).collect();
        assert_eq!(
            totals.check(hardirq, &too_many, None),
            Err(Garbage::TooManyKeys)
        );
    }

    /// The process thread with a grouping: workers' per-process messages
    /// become group totals.
    struct Apps {
        thread: &'static Thread,
        totals: Totals,
        grouping: Grouping,
    }

    const FAKE: u32 = 4_000_000;

    impl Apps {
        fn new() -> Apps {
            let text = b"test: worker-a\napps: app*\n";
            let (groups, diags) =
                conf::AppsGroups::parse(std::path::Path::new("/apps_groups.conf"), text);
            assert!(diags.is_empty());
            let thread = thread(ThreadName::Process);
            Apps {
                thread,
                totals: Totals::new(thread),
                grouping: Grouping::new(groups, None),
            }
        }

        /// Sends frames (flags, messages) through a real ring of `generation`.
        fn send(&mut self, generation: u64, frames: &[(u32, Vec<Message>)]) -> Result<(), Garbage> {
            let (mut ring, fd) = ipc::create(CAPACITY, generation).unwrap();
            let mut writer = RingWriter::open(fd).unwrap();
            for (flags, messages) in frames {
                writer.push_flagged(0, *flags, messages).unwrap();
            }
            let context = PerProcess {
                grouping: &mut self.grouping,
                limit: 4,
                now: Instant::now(),
            };
            self.totals
                .drain(self.thread, &mut ring, &mut Vec::new(), Some(context))
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
            self.totals.get(counter, group_key(group as u32))
        }
    }

    fn name(tgid: u32, name: &str) -> Vec<Message> {
        let mut bytes = [0u8; 16];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        ipc::name_parts(&bytes, ipc::PROCESS_NAME_PARTS)
            .map(|(part, bytes)| Message::ProcessName { tgid, part, bytes })
            .collect()
    }

    fn born(tgid: u32, parent: u32) -> Message {
        Message::Born {
            tgid,
            parent,
            cgroup: 0,
            renamed: false,
        }
    }

    fn delta(tgid: u32, counter: u32, events: u64) -> Message {
        Message::Delta {
            tgid,
            counter,
            events,
        }
    }

    #[test]
    fn deltas_go_to_groups_by_name_and_by_parent_and_survive_exits_and_restarts() {
        let mut apps = Apps::new();
        let (a, child, other) = (FAKE + 1, FAKE + 2, FAKE + 3);
        let mut first = name(a, "worker-a");
        first.extend([born(a, 1), delta(a, 0, 3)]);
        // A child whose name the kernel could not pass on: its parent's group.
        first.extend([
            born(child, a),
            delta(child, 2, 5),
            Message::Exit { tgid: child },
        ]);
        first.extend(name(other, "bash"));
        first.extend([born(other, 1), delta(other, 2, 7)]);
        apps.send(1, &[(0, first)]).unwrap();
        assert_eq!(apps.total("test", 0), 3);
        assert_eq!(apps.total("test", 2), 5);
        assert_eq!(apps.total("other", 2), 7);
        assert!(apps.totals.fresh);
        // A continuation frame adds to the totals but starts no update.
        apps.totals.fresh = false;
        apps.send(1, &[(FRAME_CONTINUATION, vec![delta(a, 0, 2)])])
            .unwrap();
        assert!(!apps.totals.fresh);
        assert_eq!(apps.total("test", 0), 5);
        // The worker dies: a new generation starts from nothing, its deltas add on.
        apps.totals.next_generation();
        apps.grouping
            .thread_gone(ThreadName::Process, Instant::now());
        let frame = vec![born(a, 1), delta(a, 0, 1), Message::Exit { tgid: a }];
        apps.send(2, &[(0, frame)]).unwrap();
        assert_eq!(apps.total("test", 0), 6, "monotonic across the restart");
        let exposed: Vec<&str> = apps
            .grouping
            .exposed()
            .map(|(_, g)| g.name.as_str())
            .collect();
        assert_eq!(exposed, ["test", "other"]);
    }

    #[test]
    fn a_new_name_regroups_only_what_comes_after() {
        let mut apps = Apps::new();
        let p = FAKE + 9;
        let mut frame = name(p, "sh");
        frame.extend([born(p, 1), delta(p, 0, 4)]);
        frame.extend(name(p, "app-server"));
        frame.extend([
            Message::Born {
                tgid: p,
                parent: 1,
                cgroup: 0,
                renamed: true,
            },
            delta(p, 0, 6),
        ]);
        apps.send(1, &[(0, frame)]).unwrap();
        assert_eq!((apps.total("other", 0), apps.total("apps", 0)), (4, 6));
    }

    /// A worker's frames may split what it says of a process before its
    /// `Born` message: the name still names it.
    #[test]
    fn a_name_split_across_frames_still_names_its_process() {
        let mut apps = Apps::new();
        let p = FAKE + 10;
        let name = name(p, "worker-a");
        apps.send(
            1,
            &[
                (0, name[..1].to_vec()),
                (FRAME_CONTINUATION, name[1..].to_vec()),
                (FRAME_CONTINUATION, vec![born(p, 1), delta(p, 0, 4)]),
            ],
        )
        .unwrap();
        assert_eq!(apps.total("test", 0), 4);
    }

    #[test]
    fn per_process_garbage_is_refused_whole() {
        let cases: Vec<(Vec<Message>, Garbage)> = vec![
            (
                vec![delta(FAKE + 20, 0, 1)],
                Garbage::UnknownProcess(FAKE + 20),
            ),
            (
                vec![born(FAKE + 21, 1), delta(FAKE + 21, 7, 1)],
                Garbage::ProcessCounter { index: 7, count: 7 },
            ),
            (
                (0..5).map(|i| born(FAKE + 30 + i, 1)).collect(),
                Garbage::TableOverflow { held: 5, limit: 4 },
            ),
        ];
        for (frame, why) in cases {
            let mut apps = Apps::new();
            assert_eq!(apps.send(1, &[(0, frame.clone())]), Err(why), "{frame:?}");
            assert_eq!(apps.totals.per_process.groups, Vec::<u64>::new());
        }
        let mut apps = Apps::new();
        assert_eq!(apps.send(1, &[(4, vec![])]), Err(Garbage::Flags(4)));
        // Without a table, a per-process message is garbage too.
        let sync = thread(ThreadName::Sync);
        let mut totals = Totals::new(sync);
        assert_eq!(
            drain(&mut totals, sync, 1, &[&[born(FAKE, 1)]]),
            Err(Garbage::NoTable("born"))
        );
    }

    #[test]
    fn table_statistics_carry_on_across_generations() {
        let mut apps = Apps::new();
        let stat = |stat: TableStat, total: u64| Message::TableStat { stat, total };
        apps.send(
            1,
            &[(
                0,
                vec![stat(TableStat::Inserted, 5), stat(TableStat::Full, 1)],
            )],
        )
        .unwrap();
        apps.totals.next_generation();
        apps.send(2, &[(0, vec![stat(TableStat::Inserted, 2)])])
            .unwrap();
        assert_eq!(apps.totals.table_stats(), [7, 0, 1]);
        assert_eq!(
            apps.send(2, &[(0, vec![stat(TableStat::Inserted, 1)])]),
            Err(Garbage::StatBackwards {
                stat: TableStat::Inserted,
                before: 2,
                after: 1
            })
        );
    }
}
