//! Per-process values, for the apps, cgroup and systemd-services charts: a
//! thread's declaration of them (a small table in its module) and the
//! worker's reader of the kernel's per-process table.
//!
//! The worker does no grouping: it passes on, per process, what happened
//! since it last looked (deltas), what the kernel knows about the process
//! (parent, name, cgroup) and its end; the supervisor groups. See DESIGN.md,
//! "Data path".

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::Ebpf;
use bpf::layout::{tgid_extra, TGID_VALUES_MAP};
use conf::{Config, ThreadSettings};
use ipc::{Record, RecordKind, TableStat};

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

/// The kernel's `tgid_values` hash, whatever its value's length.
trait TgidMap {
    /// Every entry: TGID, then counters and extra words.
    fn entries(&self) -> Vec<(u32, Vec<u64>)>;
    fn remove(&mut self, tgid: u32);
}

struct Words<const N: usize>(BpfHashMap<MapData, u32, [u64; N]>);

impl<const N: usize> TgidMap for Words<N> {
    fn entries(&self) -> Vec<(u32, Vec<u64>)> {
        // An entry deleted meanwhile ends the walk early or is skipped:
        // what it missed comes on the next update.
        self.0
            .iter()
            .filter_map(Result::ok)
            .map(|(tgid, values)| (tgid, values.to_vec()))
            .collect()
    }

    fn remove(&mut self, tgid: u32) {
        // Gone already is fine: the entry is what is to go.
        let _ = self.0.remove(&tgid);
    }
}

/// The value lengths of the threads' tables (counters + extra words).
macro_rules! words_map {
    ($map:expr, $words:expr, $($n:literal),*) => {
        match $words {
            $($n => Ok(Box::new(Words::<$n>(BpfHashMap::try_from($map).map_err(map_error)?)) as Box<dyn TgidMap>),)*
            other => Err(AttachError::Map {
                map: TGID_VALUES_MAP,
                detail: format!("no reader for {other} words per entry"),
            }),
        }
    };
}

fn map_error(e: aya::maps::MapError) -> AttachError {
    AttachError::Map {
        map: TGID_VALUES_MAP,
        detail: format!("{e:?}"),
    }
}

/// What a worker passed on of one process.
struct Sent {
    /// Its execs since its entry was made.
    execs: u64,
    /// Whether its entry was marked ended. The entry goes one walk later:
    /// the kernel frees tasks in RCU callbacks, in no particular order, so
    /// a thread's release can come after its leader's (and is counted only
    /// while the entry is there).
    ended: bool,
    /// Its counters.
    values: Vec<u64>,
}

/// The worker's reader of its kernel per-process table: on every update it
/// walks the table and passes on, per process, what changed since the last
/// look (deltas), what the kernel knew of it when it entered the table
/// (name, parent, cgroup), and its end, after which the entry is deleted.
pub struct PidTable {
    map: Box<dyn TgidMap>,
    counters: usize,
    /// What was passed on of each process in the table.
    sent: HashMap<u32, Sent>,
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
        let counters = per.counters.len();
        let map = words_map!(map, counters + tgid_extra::WORDS, 5, 8, 11, 17)?;
        Ok(PidTable {
            map,
            counters,
            sent: HashMap::new(),
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
        let sweep = self.last_sweep.elapsed() >= SWEEP_PERIOD;
        if sweep {
            self.last_sweep = Instant::now();
        }
        for (tgid, values) in self.map.entries() {
            let extra = &values[self.counters..];
            let parent = extra[tgid_extra::PARENT];
            let ended = parent & tgid_extra::ENDED != 0 || (sweep && !alive(tgid));
            let key = u64::from(tgid);
            let execs = parent >> tgid_extra::EXEC.trailing_zeros();
            let known = self.sent.get(&tgid).map(|sent| sent.execs);
            if known != Some(execs) {
                // New, or it called exec: what the kernel knows of it now.
                for half in 0..2 {
                    let name = extra[tgid_extra::COMM + half];
                    self.queue
                        .push_back(Record::new(RecordKind::TgidName, half as u32, key, name));
                }
                let kind = match known {
                    None => RecordKind::TgidBorn,
                    Some(_) => RecordKind::TgidExec,
                };
                let cgroup = extra[tgid_extra::CGROUP];
                self.queue
                    .push_back(Record::new(kind, parent as u32, key, cgroup));
            }
            let sent = self.sent.entry(tgid).or_insert_with(|| Sent {
                execs,
                ended: false,
                values: vec![0; self.counters],
            });
            sent.execs = execs;
            // Seen ended on the previous walk too: nothing more can come.
            let last = ended && sent.ended;
            sent.ended = ended;
            for (counter, (&now, was)) in values[..self.counters]
                .iter()
                .zip(sent.values.iter_mut())
                .enumerate()
            {
                if now > *was {
                    self.queue.push_back(Record::new(
                        RecordKind::TgidDelta,
                        counter as u32,
                        key,
                        now - *was,
                    ));
                    *was = now;
                }
            }
            if last {
                self.end(tgid);
            }
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
fn alive(tgid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(tgid as libc::pid_t, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
