//! The worker's reader of its kernel per-process table (common.bpf.h
//! `TGID_VALUES`): on every update it walks the table and passes on, per
//! process, what changed since the last look (deltas), what the kernel knew
//! of it when it entered the table (name, parent, cgroup), and its end,
//! after which the entry is deleted. The worker does no grouping: the
//! supervisor does (DESIGN.md, "Data path").

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray};
use aya::Ebpf;
use bpf::{tgid_extra, tgid_stat, TGID_STATS_MAP, TGID_VALUES_MAP};
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
    /// Its parent's TGID.
    parent: u32,
    /// `tgid_extra::ENDED` once ended, plus `tgid_extra::EXEC` per exec.
    state: u32,
    /// Its name, NUL-padded.
    comm: [u8; 16],
}
const _: () = {
    assert!(std::mem::size_of::<TgidExtra>() == tgid_extra::SIZE);
    assert!(std::mem::offset_of!(TgidExtra, cgroup) == tgid_extra::CGROUP);
    assert!(std::mem::offset_of!(TgidExtra, parent) == tgid_extra::PARENT);
    assert!(std::mem::offset_of!(TgidExtra, state) == tgid_extra::STATE);
    assert!(std::mem::offset_of!(TgidExtra, comm) == tgid_extra::COMM);
    assert!(tgid_stat::COUNT as usize == TableStat::ALL.len());
};

/// How often entries of processes that no longer exist are looked for (a
/// process whose end the kernel programs did not see).
const SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// How long an ended entry waits for its threads' releases at most: lazy
/// RCU holds callbacks back for up to 10 s.
const RELEASE_WAIT: Duration = Duration::from_secs(15);

/// What a worker passed on of one process.
struct Sent {
    /// Its execs since its entry was made.
    execs: u32,
    /// The walk that first saw its entry ended (marked by the kernel at
    /// its leader's free, or found dead by a sweep). The entry goes on a
    /// later walk, once its releases caught up (see
    /// [`PerProcess::releases_follow_exits`]).
    ended: Option<Instant>,
    /// Its counters.
    values: Vec<u64>,
}

pub struct PidTable {
    map: HashReader,
    stats: PerCpuArray<MapData, u64>,
    counters: usize,
    /// [`PerProcess::releases_follow_exits`].
    releases: Option<(usize, usize)>,
    /// What was passed on of each process in the table.
    sent: TgidMap<Sent>,
    /// Messages waiting for room in the ring.
    queue: VecDeque<Message>,
    removed: u64,
    last_sweep: Instant,
}

impl PidTable {
    /// The table of an attached object that keeps `counters` per process.
    pub fn new(ebpf: &mut Ebpf, per: &PerProcess, counters: u32) -> Result<PidTable, AttachError> {
        let map = take_map_data(ebpf, TGID_VALUES_MAP)?;
        let counters = counters as usize;
        let releases = per
            .releases_follow_exits
            .map(|(exits, releases)| (exits as usize, releases as usize));
        Ok(PidTable {
            map: HashReader::new(map, counters * 8 + tgid_extra::SIZE),
            stats: take_map(ebpf, TGID_STATS_MAP)?,
            counters,
            releases,
            sent: TgidMap::default(),
            queue: VecDeque::new(),
            removed: 0,
            last_sweep: Instant::now(),
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
        let sweep = walk.duration_since(self.last_sweep) >= SWEEP_PERIOD;
        if sweep {
            self.last_sweep = walk;
        }
        let (counters, releases) = (self.counters, self.releases);
        let (sent_by_tgid, queue) = (&mut self.sent, &mut self.queue);
        let mut last = Vec::new();
        let result = self.map.walk(|tgid, words| {
            let (values, extra) = words.split_at(counters);
            let extra: TgidExtra = bytemuck::pod_read_unaligned(bytemuck::cast_slice(extra));
            let ended = extra.state & tgid_extra::ENDED != 0 || (sweep && !alive(tgid));
            let execs = extra.state / tgid_extra::EXEC;
            let known = sent_by_tgid.get(&tgid).map(|sent| sent.execs);
            if known != Some(execs) {
                // New, or it called exec: what the kernel knows of it now.
                for (part, bytes) in name_parts(&extra.comm, PROCESS_NAME_PARTS) {
                    queue.push_back(Message::ProcessName { tgid, part, bytes });
                }
                queue.push_back(Message::Born {
                    tgid,
                    parent: extra.parent,
                    cgroup: extra.cgroup,
                    exec: known.is_some(),
                });
            }
            let sent = sent_by_tgid.entry(tgid).or_insert_with(|| Sent {
                execs,
                ended: None,
                values: vec![0; counters],
            });
            sent.execs = execs;
            if ended && sent.ended.is_none() {
                sent.ended = Some(walk);
            }
            // Seen ended on an earlier walk, and every exited task of it
            // released: nothing more can come.
            if let Some(since) = sent.ended.filter(|since| *since != walk) {
                let settled =
                    releases.is_none_or(|(exits, released)| values[released] >= values[exits]);
                if settled || walk.duration_since(since) >= RELEASE_WAIT {
                    last.push(tgid);
                }
            }
            for (counter, (&now, was)) in values.iter().zip(sent.values.iter_mut()).enumerate() {
                if now > *was {
                    queue.push_back(Message::Delta {
                        tgid,
                        counter: counter as u32,
                        events: now - *was,
                    });
                    *was = now;
                }
            }
        });
        if let Err(e) = result {
            warn!("reading the per-process table: {e}");
        }
        for tgid in last {
            self.end(tgid);
        }
    }

    /// Process `tgid` has ended: its last messages are queued, its entry goes.
    fn end(&mut self, tgid: u32) {
        self.queue.push_back(Message::Exit { tgid });
        self.sent.remove(&tgid);
        self.map.remove(tgid);
        self.removed += 1;
    }
}
