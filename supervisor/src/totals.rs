//! A thread's counters as the supervisor keeps them: the frames its worker
//! writes, decoded, checked and applied; totals that carry on across worker
//! generations; per-process deltas added to their group's and cgroup's
//! totals; the names its worker gave its keys.

use std::collections::BTreeMap;
use std::time::Instant;

use ipc::tgid::TgidSet;
use ipc::{Garbled, Message, RingReader, TableStat, FRAME_CONTINUATION, KEY_LIMIT};
use workers::Thread;

use crate::grouping::{Birth, Grouping, Target};

/// Statistics of a per-process table.
pub const STATS: usize = TableStat::ALL.len();

/// At most this many keys per thread: a worker writing garbage keys cannot
/// make the supervisor grow without bound.
pub const MAX_KEYS: usize = 1 << 16;

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
    /// New data since the last update.
    pub fresh: bool,
    /// A key appeared or was named since the layout was last computed.
    pub new_keys: bool,
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
            fresh: false,
            new_keys: false,
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
        let mut new_keys = 0;
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
                    if !self.base.keyed.contains_key(&counter)
                        && !self.current.keyed.contains_key(&counter)
                    {
                        new_keys += 1;
                    }
                    let before = self.current.keyed.get(&counter).copied().unwrap_or(0);
                    self.forward(&format!("slot {index}"), key, before, total)?;
                }
                Message::KeyName { .. } if self.slots.is_none() => {
                    return Err(Garbage::NotKeyed("key name"));
                }
                Message::KeyName { .. } => {}
                _ => self.check_per_process(thread, message, per_process, &mut processes)?,
            }
        }
        if self.base.keyed.len() + self.current.keyed.len() + new_keys > MAX_KEYS {
            return Err(Garbage::TooManyKeys);
        }
        Ok(())
    }

    fn forward(&self, name: &str, key: u64, before: u64, after: u64) -> Result<(), Garbage> {
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
                if processes.born.insert(tgid) && !context.grouping.holds(thread.name, tgid) {
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
            Message::Delta { tgid, counter, .. } => {
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
        // The name a worker sends before a process's born message.
        let mut name: Option<(u32, [u8; 16])> = None;
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
                (Message::KeyName { key, part, bytes }, _) => self.name_part(key, part, bytes),
                (Message::TableStat { stat, total }, _) => self.current.table[stat as usize] = total,
                (Message::ProcessName { tgid, part, bytes }, _) => {
                    let held = name.get_or_insert((tgid, [0; 16]));
                    if held.0 != tgid {
                        *held = (tgid, [0; 16]);
                    }
                    let at = 8 * part as usize;
                    held.1[at..at + 8].copy_from_slice(&bytes);
                }
                (
                    Message::Born {
                        tgid,
                        parent,
                        cgroup,
                        exec,
                    },
                    Some(context),
                ) => {
                    last_target = None;
                    let birth = Birth {
                        tgid,
                        ppid: parent,
                        cgroup,
                        name: name.take().filter(|(of, _)| *of == tgid).map(|(_, n)| n),
                        exec,
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
                            .target(tgid)
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
        Ok(())
    }

    /// Part `part` of the name of `key`; the first part starts it anew.
    fn name_part(&mut self, key: u64, part: u32, bytes: [u8; 8]) {
        let name = self.key_names.entry(key).or_default();
        let before = std::mem::take(name);
        let mut raw: Vec<u8> = if part == 0 {
            Vec::new()
        } else {
            before.clone().into_bytes()
        };
        raw.extend(bytes.iter().take_while(|&&b| b != 0));
        *name = String::from_utf8_lossy(&raw).into_owned();
        if *name != before {
            self.new_keys = true;
        }
    }

    /// The names of keys, as their workers last gave them (empty: gone).
    pub fn key_names(&self) -> &BTreeMap<u64, String> {
        &self.key_names
    }

    /// The per-process table's statistics over all generations.
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
