//! Per-process values, for the apps, cgroup and systemd-services charts: a
//! thread's declaration of them (a small table in its module) and the
//! worker's reader of the kernel's per-process table.
//!
//! The worker does no grouping: it passes on, per process, what happened
//! since it last looked (deltas), what the kernel knows about the process
//! (parent, name, cgroup) and its end; the supervisor groups. See DESIGN.md,
//! "Per-process values".

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::Ebpf;
use bpf::layout::pid::{self, Event};
/// The v1 hierarchies whose cgroup ids the kernel passes on, in order.
pub use bpf::layout::pid::V1_HIERARCHIES;
use conf::{Config, ThreadSettings};
use ipc::{Record, RecordKind, TableStat};

use crate::chart::{ChartKind, ChartMode};
use crate::loader::AttachError;
use crate::thread::{CollectError, Thread};

/// How one chart looks in one of the three views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The chart's id after the type (`apps.<id>`, `cgroup_<name>.<id>`,
    /// `services.<id>`).
    pub id: &'static str,
    pub title: &'static str,
    pub units: &'static str,
    pub family: &'static str,
    pub context: &'static str,
    pub kind: ChartKind,
    pub priority: u32,
    /// `incremental` on the running total, or `absolute` on the events of
    /// the interval.
    pub incremental: bool,
}

/// One per-process counter drawn per apps group, per cgroup and per
/// systemd service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessChart {
    /// Index into [`PerProcess::counters`].
    pub counter: u32,
    pub mode: ChartMode,
    /// `apps.<id>`: one dimension per apps group.
    pub apps: View,
    /// `cgroup_<name>.<id>`: one chart per cgroup, with this dimension
    /// (id, name).
    pub cgroup: (View, (&'static str, &'static str)),
    /// `services.<id>`: one dimension per systemd service.
    pub services: View,
}

/// A thread's per-process counting: the kernel table and the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerProcess {
    /// Names of the per-process counters, in slot order (u32 each, after
    /// the slot head).
    pub counters: &'static [&'static str],
    /// `sizeof` the thread's C slot type.
    pub slot_bytes: usize,
    pub charts: &'static [ProcessChart],
    /// Netdata's `module` field of the charts.
    pub module: &'static str,
    /// A cap below `pid table size` (oomkill: victims are few).
    pub max_slots: Option<u32>,
    /// The apps charts are drawn even with `apps = no` (oomkill, as the
    /// original forces apps on for it).
    pub apps_always: bool,
}

impl PerProcess {
    /// Whether the apps charts are drawn.
    pub fn apps(&self, settings: &ThreadSettings) -> bool {
        self.apps_always || settings.apps
    }

    /// Slots of the kernel table: 0 (off) unless apps or cgroup charts are
    /// drawn.
    pub fn slots(&self, settings: &ThreadSettings) -> u32 {
        if !(self.apps(settings) || settings.cgroups) {
            return 0;
        }
        let size = settings.pid_table_size;
        self.max_slots.map_or(size, |cap| size.min(cap))
    }

    /// Bytes of the `pid_events` ring buffer: 8 per slot, a power of two
    /// from one page to 64 KiB (the worker drains it every 100 ms).
    pub fn events_bytes(&self, settings: &ThreadSettings) -> u32 {
        (self.slots(settings).saturating_mul(8))
            .next_power_of_two()
            .clamp(page_size() as u32, 64 << 10)
    }
}

/// The thread's per-process declaration when it counts per process under
/// `config` (its table is on).
pub fn enabled(thread: &dyn Thread, config: &Config) -> Option<&'static PerProcess> {
    thread
        .per_process()
        .filter(|per| per.slots(config.thread(thread.name())) > 0)
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// At most this many kernel events wait for room in the ring.
const QUEUE_MAX: usize = 16384;
/// How often slots of processes that no longer exist are looked for (a
/// process whose end the kernel programs could not mark).
const SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// Records a slot can need at most besides its deltas: born, exit.
const SLOT_RECORDS: usize = 2;
/// Records an event needs at most: two for the name, one per v1
/// hierarchy's cgroup, one born or exec.
const EVENT_RECORDS: usize = 3 + pid::V1_HIERARCHIES.len();

/// The kernel's array of slots, mapped into the worker's memory.
struct Slots {
    base: *mut u8,
    len: usize,
    stride: usize,
    slots: usize,
}

impl Slots {
    /// A 4-byte field of a slot, shared with the kernel programs.
    fn field(&self, slot: usize, offset: usize) -> &AtomicU32 {
        debug_assert!(slot < self.slots && offset + 4 <= self.stride);
        // SAFETY: inside the mapping, 4-byte aligned (stride and offsets are
        // multiples of 4); the kernel side uses atomic operations too.
        unsafe { &*(self.base.add(slot * self.stride + offset) as *const AtomicU32) }
    }

    fn counter(&self, slot: usize, counter: usize) -> &AtomicU32 {
        self.field(slot, pid::HEAD_BYTES + 4 * counter)
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `PidTable::new`, used by nothing after this.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The kernel's per-process table of one worker, mapped into its memory.
pub struct PidTable {
    slots: Slots,
    counters: usize,
    /// Whether cgroup charts are drawn: only then are v1 cgroup ids sent.
    cgroups: bool,
    events: RingBuf<MapData>,
    stats: PerCpuArray<MapData, u64>,
    queue: VecDeque<Event>,
    /// The TGID each slot was last announced with (`TgidBorn`).
    announced: Vec<u32>,
    /// Where the next pass over the slots starts: a pass cut short by a
    /// full ring resumes there.
    next_slot: usize,
    removed: u64,
    /// Events lost because the queue was full.
    dropped_events: u64,
    last_sweep: Instant,
    scratch: Vec<u64>,
}


impl PidTable {
    /// Maps the table of an attached object; `slots` as the loader sized it.
    pub fn new(
        ebpf: &mut Ebpf,
        per: &PerProcess,
        settings: &ThreadSettings,
    ) -> Result<PidTable, AttachError> {
        let slots = per.slots(settings);
        let missing = |map: &'static str| AttachError::Map {
            map,
            detail: "missing from the object".into(),
        };
        let error = |map: &'static str| {
            move |e: aya::maps::MapError| AttachError::Map {
                map,
                detail: format!("{e:?}"),
            }
        };
        let table = ebpf.take_map("pid_table").ok_or(missing("pid_table"))?;
        let aya::maps::Map::Array(table) = table else {
            return Err(AttachError::Map {
                map: "pid_table",
                detail: "not an array".into(),
            });
        };
        let events = RingBuf::try_from(ebpf.take_map("pid_events").ok_or(missing("pid_events"))?)
            .map_err(error("pid_events"))?;
        let stats = PerCpuArray::try_from(ebpf.take_map("pid_stats").ok_or(missing("pid_stats"))?)
            .map_err(error("pid_stats"))?;
        let stride = per.slot_bytes.next_multiple_of(8);
        let len = (stride * slots as usize).next_multiple_of(page_size());
        // SAFETY: maps the array's values, which BPF_F_MMAPABLE allows; the
        // mapping stays valid after the fd closes and is unmapped on drop.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&table.fd().as_fd()),
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(AttachError::Map {
                map: "pid_table",
                detail: format!("mmap: {}", std::io::Error::last_os_error()),
            });
        }
        Ok(PidTable {
            slots: Slots {
                base: address.cast(),
                len,
                stride,
                slots: slots as usize,
            },
            counters: per.counters.len(),
            cgroups: settings.cgroups,
            events,
            stats,
            queue: VecDeque::new(),
            announced: vec![0; slots as usize],
            next_slot: 0,
            removed: 0,
            dropped_events: 0,
            last_sweep: Instant::now(),
            scratch: vec![0; per.counters.len()],
        })
    }

    /// Moves what the kernel sent into the queue; called every heartbeat
    /// so that its ring buffer never fills between updates.
    pub fn poll_events(&mut self) {
        while let Some(item) = self.events.next() {
            if item.len() < std::mem::size_of::<Event>() {
                continue;
            }
            let event: Event = bytemuck::pod_read_unaligned(&item[..std::mem::size_of::<Event>()]);
            drop(item);
            if self.queue.len() < QUEUE_MAX {
                self.queue.push_back(event);
            } else {
                self.dropped_events += 1;
            }
        }
    }

    /// Whether records are waiting for room in the ring.
    pub fn pending(&self) -> bool {
        !self.queue.is_empty() || self.next_slot != 0
    }

    /// Appends up to `budget` records: the table's statistics, the queued
    /// events, then every slot's news from where the last pass stopped.
    /// Counters are taken from the kernel (exchanged with 0) only when
    /// their records fit, so what does not fit waits in the kernel.
    pub fn fill(&mut self, records: &mut Vec<Record>, budget: usize) -> Result<(), CollectError> {
        let start = records.len();
        let room = |records: &Vec<Record>, need: usize| records.len() - start + need <= budget;
        if !room(records, TableStat::ALL.len()) {
            return Ok(());
        }
        self.stat_records(records)?;
        self.poll_events();
        while let Some(event) = self.queue.front() {
            if !room(records, EVENT_RECORDS) {
                return Ok(());
            }
            let tgid = u64::from(event.tgid);
            for (half, bytes) in event.comm.chunks_exact(8).enumerate() {
                let value = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
                records.push(Record::new(RecordKind::TgidName, half as u32, tgid, value));
            }
            if self.cgroups {
                for (hierarchy, &id) in event.v1_cgroups.iter().enumerate() {
                    if id != 0 {
                        records.push(Record::new(
                            RecordKind::TgidCgroupV1,
                            hierarchy as u32,
                            tgid,
                            id,
                        ));
                    }
                }
            }
            let kind = if event.exec != 0 {
                RecordKind::TgidExec
            } else {
                RecordKind::TgidBorn
            };
            records.push(Record::new(kind, event.ppid, tgid, event.cgroup));
            self.queue.pop_front();
        }
        let sweep = self.last_sweep.elapsed() >= SWEEP_PERIOD;
        if sweep {
            self.last_sweep = Instant::now();
        }
        let first = self.next_slot;
        let slots = self.slots.slots;
        for visited in 0..slots {
            let slot = (first + visited) % slots;
            if !room(records, SLOT_RECORDS + self.counters) {
                self.next_slot = slot;
                return Ok(());
            }
            self.take_slot(slot, sweep, records);
        }
        self.next_slot = 0;
        Ok(())
    }

    /// The news of one slot, and the slot freed when its process is gone.
    fn take_slot(&mut self, slot: usize, sweep: bool, records: &mut Vec<Record>) {
        let table = &self.slots;
        let tgid = table.field(slot, pid::TGID).load(Ordering::Acquire);
        if tgid == 0 {
            return;
        }
        let flags = table.field(slot, pid::FLAGS);
        if sweep && flags.load(Ordering::Acquire) & pid::SLOT_GONE == 0 && !alive(tgid) {
            flags.fetch_or(pid::SLOT_GONE, Ordering::AcqRel);
        }
        // Read before the counters: the kernel marks a process gone after
        // its last event, so nothing is counted in the slot after this.
        let gone = flags.load(Ordering::Acquire) & pid::SLOT_GONE != 0;
        let key = u64::from(tgid);
        if self.announced[slot] != tgid {
            let ppid = table.field(slot, pid::PPID).load(Ordering::Relaxed);
            records.push(Record::new(RecordKind::TgidBorn, ppid, key, 0));
            self.announced[slot] = tgid;
        }
        for counter in 0..self.counters {
            self.scratch[counter] = u64::from(table.counter(slot, counter).swap(0, Ordering::AcqRel));
        }
        for (counter, &delta) in self.scratch.iter().enumerate() {
            if delta != 0 {
                records.push(Record::new(RecordKind::TgidDelta, counter as u32, key, delta));
            }
        }
        if gone {
            records.push(Record::new(RecordKind::TgidExit, 0, key, 0));
            table.field(slot, pid::PPID).store(0, Ordering::Relaxed);
            flags.store(0, Ordering::Relaxed);
            // Last: the kernel claims a slot only once its tgid is 0.
            table.field(slot, pid::TGID).store(0, Ordering::Release);
            self.announced[slot] = 0;
            self.removed += 1;
        }
    }

    fn stat_records(&self, records: &mut Vec<Record>) -> Result<(), CollectError> {
        let kernel = |index: u32| -> Result<u64, CollectError> {
            let per_cpu = self
                .stats
                .get(&index, 0)
                .map_err(|source| CollectError::Map {
                    map: "pid_stats",
                    source,
                })?;
            Ok(per_cpu.iter().sum())
        };
        for stat in TableStat::ALL {
            let value = match stat {
                TableStat::Inserted => kernel(pid::STAT_INSERTED)?,
                TableStat::Removed => self.removed,
                TableStat::Full => kernel(pid::STAT_FULL)?,
                TableStat::Lost => kernel(pid::STAT_LOST)? + self.dropped_events,
            };
            records.push(Record::new(RecordKind::TableStat, stat as u32, 0, value));
        }
        Ok(())
    }
}

/// Whether a process exists (a zombie does).
fn alive(tgid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(tgid as libc::pid_t, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
