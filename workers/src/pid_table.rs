//! The worker's reader of its kernel per-process table (common.bpf.h
//! `TGID_VALUES`): on every update it walks the table and passes on, per
//! process, what changed since the last look (deltas), what the kernel knew
//! of it when it entered the table (name, parent, cgroup), and its end,
//! after which the entry is deleted. The worker does no grouping: the
//! supervisor does (DESIGN.md, "Data path").

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray};
use aya::Ebpf;
use bpf::{tgid_extra, tgid_stat, TGID_REPLACED_MAP, TGID_STATS_MAP, TGID_VALUES_MAP};
use bytemuck::{Pod, Zeroable};
use ipc::tgid::TgidMap;
use ipc::{alive, name_parts, Message, TableStat, PROCESS_NAME_PARTS};
use tracing::warn;

use crate::loader::{take_map, take_map_data, AttachError};
use crate::maps::HashReader;
use crate::per_process::PerProcess;

/// `struct tgid_extra`, after a process's counters in its entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct TgidExtra {
    /// Its cgroup id (directory inode) in the unified hierarchy.
    cgroup: u64,
    /// Its cgroup id in the first v1 hierarchy Netdata reads (0: none).
    v1_cgroup: u64,
    /// Its leader's start time (kernel nanoseconds).
    start: u64,
    /// Its parent's TGID.
    parent: u32,
    /// Its new names (execs, renames) since the entry was made.
    renames: u32,
    /// Not 0 once its last task exited.
    ended: u32,
    /// Its name, NUL-padded.
    comm: [u8; 16],
    /// The kernel's id of `v1_cgroup`'s hierarchy.
    v1_hierarchy: u32,
}
const _: () = {
    assert!(std::mem::size_of::<TgidExtra>() == tgid_extra::SIZE);
    assert!(std::mem::offset_of!(TgidExtra, cgroup) == tgid_extra::CGROUP);
    assert!(std::mem::offset_of!(TgidExtra, v1_cgroup) == tgid_extra::V1_CGROUP);
    assert!(std::mem::offset_of!(TgidExtra, start) == tgid_extra::START);
    assert!(std::mem::offset_of!(TgidExtra, parent) == tgid_extra::PARENT);
    assert!(std::mem::offset_of!(TgidExtra, renames) == tgid_extra::RENAMES);
    assert!(std::mem::offset_of!(TgidExtra, ended) == tgid_extra::ENDED);
    assert!(std::mem::offset_of!(TgidExtra, comm) == tgid_extra::COMM);
    assert!(std::mem::offset_of!(TgidExtra, v1_hierarchy) == tgid_extra::V1_HIERARCHY);
    assert!(tgid_stat::COUNT as usize == TableStat::ALL.len());
};

/// Entries of processes that no longer exist (whose end the kernel
/// programs did not see: their first event came after their exit's) are
/// looked for a slice at a time, each entry on one walk in this many. All
/// at once every 10 s, kill(2) on 30k processes took about a seventh of
/// the workers' CPU (perf), in bursts.
const SWEEP_SLICES: u32 = 30;

/// How long an ended entry waits for its threads' releases at most: lazy
/// RCU holds callbacks back for up to 10 s.
const RELEASE_WAIT: Duration = Duration::from_secs(15);

/// What a worker passed on of one process.
struct Sent {
    /// Its leader's start time: another process with its TGID has another.
    start: u64,
    /// Its new names (execs and renames) since its entry was made.
    renames: u32,
    /// The walk that first saw its entry ended (marked by the kernel at
    /// its last task's exit, or found dead by a sweep). The entry goes on a
    /// later walk, once its releases caught up (see
    /// [`PerProcess::releases_follow_exits`]).
    ended: Option<Instant>,
    /// Its counters.
    values: Vec<u64>,
}

pub struct PidTable {
    table: Entries,
    /// Entries the kernel moved out of the table when a new process took
    /// their TGID (common.bpf.h `tgid_replaced`).
    replaced: Entries,
    stats: PerCpuArray<MapData, u64>,
    counters: usize,
    /// [`PerProcess::releases_follow_exits`].
    releases: Option<(usize, usize)>,
    /// Messages waiting for room in the ring.
    queue: VecDeque<Message>,
    removed: u64,
    /// Walks so far: which slice of the entries this walk sweeps.
    walks: u32,
}

impl PidTable {
    /// The table of an attached object that keeps `counters` per process.
    pub fn new(ebpf: &mut Ebpf, per: &PerProcess, counters: u32) -> Result<PidTable, AttachError> {
        let counters = counters as usize;
        let releases = per
            .releases_follow_exits
            .map(|(exits, releases)| (exits as usize, releases as usize));
        Ok(PidTable {
            table: Entries::new(ebpf, TGID_VALUES_MAP, counters)?,
            replaced: Entries::new(ebpf, TGID_REPLACED_MAP, counters)?,
            stats: take_map(ebpf, TGID_STATS_MAP)?,
            counters,
            releases,
            queue: VecDeque::new(),
            removed: 0,
            walks: 0,
        })
    }

    /// Whether messages are waiting for room in the ring.
    pub fn pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// On an update, reads the whole table into the queue and appends the
    /// table's statistics; then appends queued messages up to `budget`.
    /// Between updates only the queue.
    pub fn fill(&mut self, out: &mut Vec<Message>, budget: usize, update: bool) {
        let mut room = budget;
        if update {
            self.read();
            for stat in TableStat::ALL {
                out.push(Message::TableStat {
                    stat,
                    total: self.stat(stat),
                });
            }
            room = room.saturating_sub(TableStat::ALL.len());
        }
        let take = room.min(self.queue.len());
        out.extend(self.queue.drain(..take));
    }

    fn stat(&self, stat: TableStat) -> u64 {
        let index = match stat {
            TableStat::Inserted => tgid_stat::ADDED,
            TableStat::Full => tgid_stat::FULL,
            TableStat::Removed => return self.removed,
        };
        match self.stats.get(&index, 0) {
            Ok(per_cpu) => per_cpu.iter().sum(),
            Err(e) => {
                warn!("reading {TGID_STATS_MAP}: {e:?}");
                0
            }
        }
    }

    fn read(&mut self) {
        let walk = Instant::now();
        let slice = self.walks % SWEEP_SLICES;
        self.walks = self.walks.wrapping_add(1);
        let mut pass = Pass {
            queue: &mut self.queue,
            walk,
            counters: self.counters,
            releases: self.releases,
            ending: Vec::new(),
            gone: 0,
        };
        let (table, replaced) = (&mut self.table, &mut self.replaced);
        let mut leftovers = Vec::new();
        // Replaced entries first: a process's last records come before
        // those of the next one with its TGID.
        let result = replaced.map.walk(|tgid, words| {
            let (values, extra) = split(words, pass.counters);
            if replaced
                .sent
                .get(&tgid)
                .is_some_and(|sent| sent.start != extra.start)
            {
                pass.queue.push_back(Message::Exit { tgid });
                replaced.sent.remove(&tgid);
            }
            if let Entry::Vacant(slot) = replaced.sent.entry(tgid) {
                match table.sent.remove(&tgid) {
                    // Passed on from the table so far.
                    Some(sent) if sent.start == extra.start => {
                        table.superseded.remove(&tgid);
                        slot.insert(sent);
                    }
                    // The table's process is a later one, passed on
                    // already: this one was given up for lost.
                    Some(later) => {
                        table.sent.insert(tgid, later);
                        leftovers.push(tgid);
                        return;
                    }
                    // Its whole life came between two reads.
                    None => {}
                }
            }
            pass.visit(
                &mut replaced.sent,
                tgid,
                values,
                &extra,
                true,
                Map::Replaced,
            );
        });
        if let Err(e) = result {
            warn!("reading the replaced per-process entries: {e}");
        }
        for tgid in leftovers {
            replaced.map.remove(tgid);
        }
        let result = table.map.walk(|tgid, words| {
            if replaced.sent.contains_key(&tgid) {
                // Passed on once the earlier process with its TGID ended.
                return;
            }
            let (values, extra) = split(words, pass.counters);
            if table
                .sent
                .get(&tgid)
                .is_some_and(|sent| sent.start != extra.start)
            {
                // Another process with the TGID: the earlier one's entry
                // moved to the replaced ones, read first on the next
                // pass; if it is not there by then, it was lost
                // (`tgid_replaced` was full) and has ended.
                let first = *table.superseded.entry(tgid).or_insert(pass.walk);
                if first == pass.walk {
                    return;
                }
                pass.queue.push_back(Message::Exit { tgid });
                table.sent.remove(&tgid);
                table.superseded.remove(&tgid);
                pass.gone += 1;
            }
            let ended = extra.ended != 0 || (tgid % SWEEP_SLICES == slice && !alive(tgid));
            pass.visit(&mut table.sent, tgid, values, &extra, ended, Map::Table);
        });
        if let Err(e) = result {
            warn!("reading the per-process table: {e}");
        }
        let (ending, gone) = (std::mem::take(&mut pass.ending), pass.gone);
        self.removed += gone;
        for (map, tgid) in ending {
            self.end(map, tgid);
        }
    }

    /// Process `tgid` has ended: its last messages are queued, its entry goes.
    fn end(&mut self, map: Map, tgid: u32) {
        self.queue.push_back(Message::Exit { tgid });
        let entries = match map {
            Map::Table => &mut self.table,
            Map::Replaced => &mut self.replaced,
        };
        entries.sent.remove(&tgid);
        entries.superseded.remove(&tgid);
        entries.map.remove(tgid);
        self.removed += 1;
    }
}

/// Which of the kernel's maps an entry is in.
#[derive(Debug, Clone, Copy)]
enum Map {
    Table,
    Replaced,
}

/// A kernel map of per-process entries, and what was passed on of each.
struct Entries {
    map: HashReader,
    sent: TgidMap<Sent>,
    /// The walk that first found another process's entry under a TGID
    /// whose earlier process `sent` still holds (rare: kept apart).
    superseded: TgidMap<Instant>,
}

impl Entries {
    fn new(ebpf: &mut Ebpf, name: &'static str, counters: usize) -> Result<Entries, AttachError> {
        Ok(Entries {
            map: HashReader::new(take_map_data(ebpf, name)?, counters * 8 + tgid_extra::SIZE),
            sent: TgidMap::default(),
            superseded: TgidMap::default(),
        })
    }
}

/// An entry's counters and extra words.
fn split(words: &[u64], counters: usize) -> (&[u64], TgidExtra) {
    let (values, extra) = words.split_at(counters);
    (
        values,
        bytemuck::pod_read_unaligned(bytemuck::cast_slice(extra)),
    )
}

/// One read of the maps.
struct Pass<'a> {
    queue: &'a mut VecDeque<Message>,
    walk: Instant,
    counters: usize,
    releases: Option<(usize, usize)>,
    /// Entries whose processes end with this pass.
    ending: Vec<(Map, u32)>,
    /// Entries the kernel removed without a last look (their process's
    /// TGID reused while `tgid_replaced` was full).
    gone: u64,
}

impl Pass<'_> {
    /// Passes on what is new of one entry (the process, if new or renamed,
    /// and its deltas), and marks it for its end once nothing more can come.
    fn visit(
        &mut self,
        sent_by_tgid: &mut TgidMap<Sent>,
        tgid: u32,
        values: &[u64],
        extra: &TgidExtra,
        ended: bool,
        map: Map,
    ) {
        let known = sent_by_tgid.get(&tgid).map(|sent| sent.renames);
        if known != Some(extra.renames) {
            // New, or renamed: what the kernel knows of it now.
            for (part, bytes) in name_parts(&extra.comm, PROCESS_NAME_PARTS) {
                self.queue
                    .push_back(Message::ProcessName { tgid, part, bytes });
            }
            self.queue.push_back(Message::ProcessStart {
                tgid,
                start: extra.start,
            });
            if extra.v1_cgroup != 0 {
                self.queue.push_back(Message::V1Cgroup {
                    tgid,
                    hierarchy: extra.v1_hierarchy,
                    id: extra.v1_cgroup,
                });
            }
            self.queue.push_back(Message::Born {
                tgid,
                parent: extra.parent,
                cgroup: extra.cgroup,
                renamed: known.is_some(),
            });
        }
        let sent = sent_by_tgid.entry(tgid).or_insert_with(|| Sent {
            start: extra.start,
            renames: extra.renames,
            ended: None,
            values: vec![0; self.counters],
        });
        sent.renames = extra.renames;
        if ended && sent.ended.is_none() {
            sent.ended = Some(self.walk);
        }
        // Seen ended on an earlier walk, and every exited task of it
        // released: nothing more can come.
        if let Some(since) = sent.ended.filter(|since| *since != self.walk) {
            let settled = self
                .releases
                .is_none_or(|(exits, released)| values[released] >= values[exits]);
            if settled || self.walk.duration_since(since) >= RELEASE_WAIT {
                self.ending.push((map, tgid));
            }
        }
        for (counter, (&now, was)) in values.iter().zip(sent.values.iter_mut()).enumerate() {
            if now > *was {
                self.queue.push_back(Message::Delta {
                    tgid,
                    counter: counter as u32,
                    events: now - *was,
                });
                *was = now;
            }
        }
    }
}
