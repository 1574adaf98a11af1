//! Per-process values, for the apps, cgroup and systemd-services charts: a
//! thread's declaration of them (a small table in its module) and the
//! worker's reader of the kernel's per-process table.
//!
//! The worker does no grouping: it passes on, per process, what happened
//! since it last looked (deltas), what the kernel knows about the process
//! (parent, name, cgroup) and its end; the supervisor groups. See DESIGN.md,
//! "Data path".

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use aya::maps::{Map, MapData};
use aya::Ebpf;
use bpf::layout::{tgid_extra, TGID_VALUES_MAP};
use conf::{Config, ThreadSettings};
use ipc::tgid::TgidMap;
use ipc::{Record, RecordKind, TableStat};
use tracing::{debug, warn};

use crate::chart::{ChartKind, ChartMode, DimValue};
use crate::loader::AttachError;
use crate::thread::Thread;

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
    /// A second counter added to it.
    pub plus: Option<u32>,
    pub mode: ChartMode,
    /// `apps.<id>`: one dimension per apps group.
    pub apps: View,
    /// `cgroup_<name>.<id>`: one chart per cgroup, with this dimension
    /// (id, name).
    pub cgroup: (View, (&'static str, &'static str)),
    /// `services.<id>`: one dimension per systemd service.
    pub services: View,
}

/// The families and units of a thread's per-process charts.
#[derive(Debug, Clone, Copy)]
pub struct Families {
    pub apps: &'static str,
    /// Of the cgroup and services charts.
    pub cgroup: &'static str,
    pub units: &'static str,
}

/// A per-process chart whose three views are running totals
/// (`incremental`), as most of the original's are: apps and services
/// stacked at `priority`, the cgroup chart a line at `cgroup_priority`
/// with one dimension, contexts `cgroup.<context>` and
/// `services.<context>`.
macro_rules! incremental_chart {
    ($counter:expr, $mode:expr, $families:expr, $id:literal, $title:literal,
     $context:literal, $dim:expr, $priority:expr, $cgroup_priority:expr) => {{
        let families: $crate::per_process::Families = $families;
        let view = $crate::per_process::View {
            id: $id,
            title: $title,
            units: families.units,
            family: families.cgroup,
            context: concat!("services.", $context),
            kind: $crate::chart::ChartKind::Stacked,
            priority: $priority,
            incremental: true,
        };
        $crate::per_process::ProcessChart {
            counter: $counter,
            plus: None,
            mode: $mode,
            apps: $crate::per_process::View {
                family: families.apps,
                context: "",
                ..view
            },
            cgroup: (
                $crate::per_process::View {
                    context: concat!("cgroup.", $context),
                    kind: $crate::chart::ChartKind::Line,
                    priority: $cgroup_priority,
                    ..view
                },
                $dim,
            ),
            services: view,
        }
    }};
}
pub(crate) use incremental_chart;

/// A thread's per-process counting: the kernel table and the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerProcess {
    /// Names of the per-process counters: the thread's first counters,
    /// which `tgid_values` (`common.bpf.h` `TGID_VALUES`) keeps per
    /// process. The table's own statistics (added, ended, full) follow
    /// them among the thread's counters.
    pub counters: &'static [&'static str],
    pub charts: &'static [ProcessChart],
    /// Netdata's `module` field of the charts.
    pub module: &'static str,
    /// A cap below `pid table size` (oomkill: victims are few).
    pub max_slots: Option<u32>,
    /// The apps charts are drawn even with `apps = no` (oomkill, as the
    /// original forces apps on for it).
    pub apps_always: bool,
    /// Counters of task exits and releases (process): an ended entry stays
    /// while its releases trail its exits, up to [`RELEASE_WAIT`]. Threads
    /// are freed in RCU callbacks, in no order and, with lazy RCU, up to
    /// 10 s apart, so a thread's release may come seconds after its
    /// leader's; without an entry it would not be counted.
    pub releases_follow_exits: Option<(u32, u32)>,
}

impl ProcessChart {
    /// Its dimensions' value in `view`.
    pub fn value(&self, view: &View) -> DimValue {
        match (view.incremental, self.plus) {
            (true, None) => DimValue::Total(self.counter),
            (true, Some(plus)) => DimValue::TotalSum(self.counter, plus),
            (false, None) => DimValue::Delta(self.counter),
            (false, Some(plus)) => DimValue::DeltaSum(self.counter, plus),
        }
    }
}

impl PerProcess {
    /// Whether the apps charts are drawn.
    pub fn apps(&self, settings: &ThreadSettings) -> bool {
        self.apps_always || settings.apps
    }

    /// Entries of the kernel table: 0 (off) unless apps or cgroup charts
    /// are drawn.
    pub fn slots(&self, settings: &ThreadSettings) -> u32 {
        if !(self.apps(settings) || settings.cgroups) {
            return 0;
        }
        let size = settings.pid_table_size;
        self.max_slots.map_or(size, |cap| size.min(cap))
    }
}

/// The thread's per-process declaration when it counts per process under
/// `config` (its table is on).
pub fn enabled(thread: &dyn Thread, config: &Config) -> Option<&'static PerProcess> {
    thread
        .per_process()
        .filter(|per| per.slots(config.thread(thread.name())) > 0)
}

/// How often entries of processes that no longer exist are looked for (a
/// process whose end the kernel programs did not see).
const SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// How long an ended entry waits for its threads' releases at most: lazy
/// RCU holds callbacks back for up to 10 s.
const RELEASE_WAIT: Duration = Duration::from_secs(15);

/// Entries read per `BPF_MAP_LOOKUP_BATCH` call.
const BATCH: usize = 4096;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
/// The kernel's ENOTSUPP, which it may return to user space.
const ENOTSUPP: i32 = 524;

/// `union bpf_attr` for the batch commands.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `union bpf_attr` for the one-element commands.
#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value_or_next_key: u64,
    flags: u64,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> std::io::Result<()> {
    // SAFETY: `attr` is the `union bpf_attr` member that `command` reads
    // and writes back; its pointers point into live buffers of the caller.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>(),
        )
    };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The kernel's `tgid_values` hash, read whole with `BPF_MAP_LOOKUP_BATCH`
/// (kernel 5.6+; aya 0.14 has no batch call): one syscall per [`BATCH`]
/// entries instead of two per entry, which cost 89 ms a tick with 30k
/// processes (`scripts/bench-apps`). Older kernels are read entry by entry.
struct TgidTable {
    map: MapData,
    /// Counters and extra words per entry.
    words: usize,
    keys: Vec<u32>,
    values: Vec<u64>,
    batch: bool,
}

impl TgidTable {
    fn fd(&self) -> u32 {
        self.map.fd().as_fd().as_raw_fd() as u32
    }

    /// Calls `each` with every entry (TGID, words). An entry deleted or
    /// added meanwhile may be missed: it comes on the next walk.
    fn walk(&mut self, mut each: impl FnMut(u32, &[u64])) {
        if self.batch {
            match self.walk_batched(&mut each) {
                Ok(()) => return,
                Err((0, e))
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)
                    ) =>
                {
                    debug!("no batch lookup ({e}): the table is read entry by entry");
                    self.batch = false;
                }
                Err((_, e)) => {
                    warn!("reading the per-process table: {e}");
                    return;
                }
            }
        }
        self.walk_by_entry(&mut each);
    }

    /// On error, the entries handed over before it, and the error.
    fn walk_batched(
        &mut self,
        each: &mut impl FnMut(u32, &[u64]),
    ) -> Result<(), (usize, std::io::Error)> {
        let (mut token_in, mut token_out) = (0u32, 0u32);
        let mut first = true;
        let mut seen = 0;
        loop {
            let mut attr = BatchAttr {
                in_batch: if first {
                    0
                } else {
                    &token_in as *const u32 as u64
                },
                out_batch: &mut token_out as *mut u32 as u64,
                keys: self.keys.as_mut_ptr() as u64,
                values: self.values.as_mut_ptr() as u64,
                count: BATCH as u32,
                map_fd: self.fd(),
                ..BatchAttr::default()
            };
            let result = bpf(BPF_MAP_LOOKUP_BATCH, &mut attr);
            // The kernel writes back how many it copied, also with ENOENT.
            let got = (attr.count as usize).min(BATCH);
            for (key, values) in self.keys[..got]
                .iter()
                .zip(self.values.chunks_exact(self.words))
            {
                each(*key, values);
            }
            seen += got;
            match result {
                Ok(()) => {}
                // The end of the table.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) => return Err((seen, e)),
            }
            token_in = token_out;
            first = false;
        }
    }

    fn walk_by_entry(&mut self, each: &mut impl FnMut(u32, &[u64])) {
        let mut key: Option<u32> = None;
        let mut next = 0u32;
        let mut values = vec![0u64; self.words];
        loop {
            let mut attr = ElemAttr {
                map_fd: self.fd(),
                key: key.as_ref().map_or(0, |k| k as *const u32 as u64),
                value_or_next_key: &mut next as *mut u32 as u64,
                ..ElemAttr::default()
            };
            if bpf(BPF_MAP_GET_NEXT_KEY, &mut attr).is_err() {
                return;
            }
            let mut attr = ElemAttr {
                map_fd: self.fd(),
                key: &next as *const u32 as u64,
                value_or_next_key: values.as_mut_ptr() as u64,
                ..ElemAttr::default()
            };
            // Deleted meanwhile: skipped.
            if bpf(BPF_MAP_LOOKUP_ELEM, &mut attr).is_ok() {
                each(next, &values);
            }
            key = Some(next);
        }
    }

    fn remove(&mut self, tgid: u32) {
        let mut attr = ElemAttr {
            map_fd: self.fd(),
            key: &tgid as *const u32 as u64,
            ..ElemAttr::default()
        };
        // Gone already is fine: the entry is what is to go.
        let _ = bpf(BPF_MAP_DELETE_ELEM, &mut attr);
    }
}

/// What a worker passed on of one process.
struct Sent {
    /// Its execs since its entry was made.
    execs: u64,
    /// The walk that first saw its entry ended (marked by the kernel at
    /// its leader's free, or found dead by a sweep). The entry goes on a
    /// later walk, once its releases caught up (see
    /// [`PerProcess::releases_follow_exits`]).
    ended: Option<Instant>,
    /// Its counters.
    values: Vec<u64>,
}

/// The worker's reader of its kernel per-process table: on every update it
/// walks the table and passes on, per process, what changed since the last
/// look (deltas), what the kernel knew of it when it entered the table
/// (name, parent, cgroup), and its end, after which the entry is deleted.
pub struct PidTable {
    map: TgidTable,
    counters: usize,
    /// [`PerProcess::releases_follow_exits`].
    releases: Option<(usize, usize)>,
    /// What was passed on of each process in the table.
    sent: TgidMap<Sent>,
    /// Records waiting for room in the ring.
    queue: VecDeque<Record>,
    /// The kernel's counts of entries added, ended, and events without
    /// room (the thread's counters after the per-process ones).
    kernel_stats: [u64; 3],
    removed: u64,
    last_sweep: Instant,
}

impl PidTable {
    /// The table of an attached object.
    pub fn new(ebpf: &mut Ebpf, per: &PerProcess) -> Result<PidTable, AttachError> {
        let map = ebpf.take_map(TGID_VALUES_MAP).ok_or(AttachError::Map {
            map: TGID_VALUES_MAP,
            detail: "missing from the object".into(),
        })?;
        let Map::HashMap(map) = map else {
            return Err(AttachError::Map {
                map: TGID_VALUES_MAP,
                detail: "not a hash map".into(),
            });
        };
        let counters = per.counters.len();
        let words = counters + tgid_extra::WORDS;
        let releases = per
            .releases_follow_exits
            .map(|(exits, releases)| (exits as usize, releases as usize));
        Ok(PidTable {
            map: TgidTable {
                map,
                words,
                keys: vec![0; BATCH],
                values: vec![0; BATCH * words],
                batch: true,
            },
            counters,
            releases,
            sent: TgidMap::default(),
            queue: VecDeque::new(),
            kernel_stats: [0; 3],
            removed: 0,
            last_sweep: Instant::now(),
        })
    }

    /// Index of the first of the table's statistics among the thread's
    /// counters.
    pub fn stats_base(&self) -> u32 {
        self.counters as u32
    }

    /// The kernel's table statistics from this update's counter records.
    pub fn take_kernel_stats(&mut self, records: &[Record]) {
        let base = self.stats_base();
        for record in records {
            if record.kind == RecordKind::Counter as u32 && (base..base + 3).contains(&record.index)
            {
                self.kernel_stats[(record.index - base) as usize] = record.value;
            }
        }
    }

    /// Whether records are waiting for room in the ring.
    pub fn pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// On an update, reads the whole table into the queue; then appends
    /// queued records up to `budget`. Between updates only the queue.
    pub fn fill(&mut self, records: &mut Vec<Record>, budget: usize, update: bool) {
        if update {
            self.read();
            for stat in TableStat::ALL {
                let value = match stat {
                    TableStat::Inserted => self.kernel_stats[0],
                    TableStat::Removed => self.removed,
                    TableStat::Full => self.kernel_stats[2],
                };
                records.push(Record::new(RecordKind::TableStat, stat as u32, 0, value));
            }
        }
        let room = budget.saturating_sub(if update { TableStat::ALL.len() } else { 0 });
        let take = room.min(self.queue.len());
        records.extend(self.queue.drain(..take));
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
        self.map.walk(|tgid, values| {
            let extra = &values[counters..];
            let parent = extra[tgid_extra::PARENT];
            let ended = parent & tgid_extra::ENDED != 0 || (sweep && !alive(tgid));
            let key = u64::from(tgid);
            let execs = parent >> tgid_extra::EXEC.trailing_zeros();
            let known = sent_by_tgid.get(&tgid).map(|sent| sent.execs);
            if known != Some(execs) {
                // New, or it called exec: what the kernel knows of it now.
                for half in 0..2 {
                    let name = extra[tgid_extra::COMM + half];
                    queue.push_back(Record::new(RecordKind::TgidName, half as u32, key, name));
                }
                let kind = match known {
                    None => RecordKind::TgidBorn,
                    Some(_) => RecordKind::TgidExec,
                };
                let cgroup = extra[tgid_extra::CGROUP];
                queue.push_back(Record::new(kind, parent as u32, key, cgroup));
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
            for (counter, (&now, was)) in values[..counters]
                .iter()
                .zip(sent.values.iter_mut())
                .enumerate()
            {
                if now > *was {
                    queue.push_back(Record::new(
                        RecordKind::TgidDelta,
                        counter as u32,
                        key,
                        now - *was,
                    ));
                    *was = now;
                }
            }
        });
        for tgid in last {
            self.end(tgid);
        }
    }

    /// Process `tgid` has ended: its last records are queued, its entry goes.
    fn end(&mut self, tgid: u32) {
        self.queue
            .push_back(Record::new(RecordKind::TgidExit, 0, u64::from(tgid), 0));
        self.sent.remove(&tgid);
        self.map.remove(tgid);
        self.removed += 1;
    }
}

/// Whether a process exists (a zombie does).
pub fn alive(tgid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(tgid as libc::pid_t, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
