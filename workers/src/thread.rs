//! The contract every collector thread implements, and what a worker
//! process receives from the supervisor.

use std::collections::BTreeSet;
use std::path::PathBuf;

use aya::Ebpf;
use conf::{Config, LoadMode, ThreadName, ThreadSettings};
use serde::{Deserialize, Serialize};

use crate::chart::{Chart, ChartDef, ChartMode};
use crate::loader::{AttachError, CounterCollector};
use crate::per_process::{PerProcess, PidTable};

/// How a variant hooks the kernel. Each thread lists its variants in the
/// order `auto` tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VariantKind {
    Tracepoint,
    Trampoline,
    Probe,
}

impl VariantKind {
    /// The variant `ebpf co-re tracing` names.
    pub fn from_tracing(tracing: conf::CoreTracing) -> VariantKind {
        match tracing {
            conf::CoreTracing::Tracepoint => VariantKind::Tracepoint,
            conf::CoreTracing::Trampoline => VariantKind::Trampoline,
            conf::CoreTracing::Probe => VariantKind::Probe,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VariantKind::Tracepoint => "tracepoint",
            VariantKind::Trampoline => "trampoline",
            VariantKind::Probe => "probe",
        }
    }
}

/// Where one BPF program attaches. Kernel functions are given as the names
/// they have had across kernel versions; the first one this kernel has wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// A BTF-typed raw tracepoint (`tp_btf/<name>`): needs BTF, not tracefs.
    BtfTracepoint(&'static str),
    /// A tracefs tracepoint (`tracepoint/<category>/<name>`).
    Tracepoint(&'static str, &'static str),
    /// A trampoline on function entry (`fentry/`).
    FEntry(&'static [&'static str]),
    /// A trampoline on function return (`fexit/`).
    FExit(&'static [&'static str]),
    /// A kprobe or kretprobe, as the program's section says (`kprobe/`,
    /// `kretprobe/`).
    KProbe(&'static [&'static str]),
}

/// The prefix of syscall functions on the build target's architecture
/// since it has syscall wrappers (x86_64: 4.17).
#[cfg(target_arch = "x86_64")]
macro_rules! syscall_prefix {
    () => {
        "__x64_sys_"
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! syscall_prefix {
    () => {
        "__arm64_sys_"
    };
}
#[cfg(target_arch = "riscv64")]
macro_rules! syscall_prefix {
    () => {
        "__riscv_sys_"
    };
}
#[cfg(target_arch = "s390x")]
macro_rules! syscall_prefix {
    () => {
        "__s390x_sys_"
    };
}
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "s390x"
)))]
macro_rules! syscall_prefix {
    () => {
        "sys_"
    };
}

/// The names the kernel function of syscall `$name` has had, for
/// [`Hook::FEntry`] and [`Hook::KProbe`]: `__x64_sys_fsync` (the arch's
/// wrapper), `__do_sys_fsync` (what the BTF of some kernels keeps for
/// syscalls without arguments, whose wrapper is an alias of it), and
/// `sys_fsync` (before the wrappers). The first the kernel has wins.
macro_rules! syscall_functions {
    ($name:literal) => {
        &[
            concat!($crate::thread::syscall_prefix!(), $name),
            concat!("__do_sys_", $name),
            concat!("sys_", $name),
        ]
    };
}
pub(crate) use {syscall_functions, syscall_prefix};

/// When a program is loaded at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    Always,
    /// Always, where the kernel has the hook; skipped where it does not
    /// (tracepoints that exist only with some kernel options, such as
    /// `irq_vectors:threshold_apic_entry`).
    WhereHookExists,
    /// Only in `entry` load mode (return mode counts the same calls on return).
    EntryMode,
    /// Only in `return` load mode (programs that see return values).
    ReturnMode,
    /// Only with `--pid`: keeps the tracked-process set current.
    PidFilter,
    /// Only with the thread's apps or cgroup charts on: keeps the
    /// per-process table (`common.bpf.h` `TGID_VALUES`) current.
    PerProcess,
    /// Only while the given counter is collected (see [`Thread::collects`]).
    Counter(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The C function name in the object.
    pub name: &'static str,
    pub hook: Hook,
    pub needed: Needed,
}

impl ProgramSpec {
    pub const fn new(name: &'static str, hook: Hook, needed: Needed) -> ProgramSpec {
        ProgramSpec { name, hook, needed }
    }

    /// The program of `PID_FILTER_PROGRAMS` (`common.bpf.h`) that adds a
    /// tracked process's new children to the `--pid` set, for a variant of
    /// `kind`. For objects without their own fork hook.
    pub const fn filter_fork(kind: VariantKind) -> ProgramSpec {
        let (name, hook) = match kind {
            VariantKind::Tracepoint => ("filter_fork", Hook::BtfTracepoint("sched_process_fork")),
            VariantKind::Trampoline => ("filter_fork_fentry", Hook::FEntry(&["wake_up_new_task"])),
            VariantKind::Probe => ("filter_fork_kprobe", Hook::KProbe(&["wake_up_new_task"])),
        };
        ProgramSpec::new(name, hook, Needed::PidFilter)
    }

    /// The program of `PID_FILTER_PROGRAMS` that drops a released process
    /// from the `--pid` set, for a variant of `kind`.
    pub const fn filter_free(kind: VariantKind) -> ProgramSpec {
        let (name, hook) = match kind {
            VariantKind::Tracepoint => ("filter_free", Hook::BtfTracepoint("sched_process_free")),
            VariantKind::Trampoline => ("filter_free_fentry", Hook::FEntry(RELEASE_FUNCTIONS)),
            VariantKind::Probe => ("filter_free_kprobe", Hook::KProbe(RELEASE_FUNCTIONS)),
        };
        ProgramSpec::new(name, hook, Needed::PidFilter)
    }
}

impl ProgramSpec {
    /// The programs `TGID_VALUES` (`common.bpf.h`) defines that keep the
    /// per-process table current, of a variant's kind: an exec, and the
    /// release of a process's last task.
    pub const fn tgid_values(kind: VariantKind) -> [ProgramSpec; 2] {
        let (exec, free) = match kind {
            VariantKind::Tracepoint => (
                (
                    "tgid_values_exec",
                    Hook::BtfTracepoint("sched_process_exec"),
                ),
                (
                    "tgid_values_free",
                    Hook::BtfTracepoint("sched_process_free"),
                ),
            ),
            VariantKind::Trampoline => (
                ("tgid_values_exec_fentry", Hook::FEntry(EXEC_FUNCTIONS)),
                ("tgid_values_free_fentry", Hook::FEntry(RELEASE_FUNCTIONS)),
            ),
            VariantKind::Probe => (
                ("tgid_values_exec_kprobe", Hook::KProbe(EXEC_FUNCTIONS)),
                ("tgid_values_free_kprobe", Hook::KProbe(RELEASE_FUNCTIONS)),
            ),
        };
        [
            ProgramSpec::new(exec.0, exec.1, Needed::PerProcess),
            ProgramSpec::new(free.0, free.1, Needed::PerProcess),
        ]
    }
}

/// Runs in the task that calls exec, once its new name is set.
pub const EXEC_FUNCTIONS: &[&str] = &["setup_new_exec"];

/// Runs once for every released (reaped) task: `cgroup_release()`, called
/// by `release_task()` for each task it releases, including a group leader
/// released together with the group's last thread; `release_task()` itself
/// (the original's hook) where the kernel lacks it; that one misses such a
/// leader.
pub const RELEASE_FUNCTIONS: &[&str] = &["cgroup_release", "release_task"];

/// The tracepoint pair of `PID_FILTER_PROGRAMS` (`common.bpf.h`).
pub const PID_FILTER_PROGRAMS: [ProgramSpec; 2] = [
    ProgramSpec::filter_fork(VariantKind::Tracepoint),
    ProgramSpec::filter_free(VariantKind::Tracepoint),
];

/// `<prefix>_<side>_<syscall>` on `syscalls/sys_<side>_<syscall>`: the
/// names the C objects' per-syscall macros give their programs.
macro_rules! syscall_program {
    ($prefix:literal, enter, $syscall:literal, $needed:expr) => {
        $crate::thread::ProgramSpec::new(
            concat!($prefix, "_enter_", $syscall),
            $crate::thread::Hook::Tracepoint("syscalls", concat!("sys_enter_", $syscall)),
            $needed,
        )
    };
    ($prefix:literal, exit, $syscall:literal, $needed:expr) => {
        $crate::thread::ProgramSpec::new(
            concat!($prefix, "_exit_", $syscall),
            $crate::thread::Hook::Tracepoint("syscalls", concat!("sys_exit_", $syscall)),
            $needed,
        )
    };
}
pub(crate) use syscall_program;

/// One way of attaching a thread: an object and the programs it needs.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub kind: VariantKind,
    pub object: &'static [u8],
    /// The per-CPU `u64` array holding the thread's counters (unused by a
    /// thread without plain counters).
    pub counter_map: &'static str,
    pub programs: &'static [ProgramSpec],
}

/// Everything a worker process needs, sent as RON on its stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub thread: ThreadName,
    /// The config as the supervisor read it; the thread picks its parts.
    pub config: Config,
    /// Count only this process and its descendants.
    pub pid_filter: Option<u32>,
    /// The worker ends when this process is no longer its parent.
    pub supervisor: u32,
}

/// The variants a thread may use under its settings, in the order to try
/// them, and a note when the settings force a kind the thread does not
/// have. `ebpf type format = auto` tries all in the thread's preference
/// order (`ebpf co-re tracing` is then only the original's hint: stock files
/// always say `trampoline`); `co-re` forces the `ebpf co-re tracing` choice
/// and `legacy` the probe set. Like the original's, the keys choose only
/// among the program sets a thread has: one that lacks the forced kind
/// (hardirq has tracepoints only) tries all of its own, and says so.
pub fn candidates(
    thread: &dyn Thread,
    settings: &ThreadSettings,
) -> (Vec<(u32, &'static Variant)>, Option<String>) {
    let forced = match settings.type_format {
        conf::TypeFormat::Auto => None,
        conf::TypeFormat::Legacy => Some(VariantKind::Probe),
        conf::TypeFormat::CoRe => Some(VariantKind::from_tracing(settings.core_tracing)),
    };
    let all = thread.variants().iter().enumerate();
    let of_kind = |kind: Option<VariantKind>| -> Vec<(u32, &'static Variant)> {
        all.clone()
            .filter(|(_, v)| kind.is_none_or(|kind| v.kind == kind))
            .map(|(i, v)| (i as u32, v))
            .collect()
    };
    let chosen = of_kind(forced);
    match forced {
        Some(kind) if chosen.is_empty() => (
            of_kind(None),
            Some(format!(
                "the configuration forces the {} variant, which {} does not have: trying its own ({})",
                kind.as_str(),
                thread.name(),
                own_kinds(thread).join(", ")
            )),
        ),
        _ => (chosen, None),
    }
}

/// The kinds of `thread`'s variants, in its order, each once (hardirq has
/// two tracepoint variants: BTF and tracefs).
fn own_kinds(thread: &dyn Thread) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for variant in thread.variants() {
        if !kinds.contains(&variant.kind.as_str()) {
            kinds.push(variant.kind.as_str());
        }
    }
    kinds
}

impl WorkerConfig {
    pub fn settings(&self) -> &ThreadSettings {
        self.config.thread(self.thread)
    }

    pub fn btf_path(&self) -> PathBuf {
        self.config.global.btf_path.join("vmlinux")
    }
}

/// A collector thread. The supervisor knows threads only through this trait
/// and the registry; the worker process drives `attach` and the
/// [`Collector`] it returns.
pub trait Thread: Sync {
    fn name(&self) -> ThreadName;

    /// Names of the cumulative counters the worker reports, by index.
    fn counters(&self) -> &'static [&'static str];

    fn charts(&self) -> &'static [ChartDef];

    /// The variants, most preferred first.
    fn variants(&self) -> &'static [Variant];

    /// Whether this counter is collected under `config` (a disabled
    /// syscall's dimension is not drawn).
    fn collects(&self, _config: &Config, _counter: u32) -> bool {
        true
    }

    /// How the thread counts per process, if it does (the apps, cgroup and
    /// systemd-services charts).
    fn per_process(&self) -> Option<&'static PerProcess> {
        None
    }

    /// The charts drawn under `config`, given the keyed counters seen so
    /// far (`(index, key)`: a disk, an IRQ). The supervisor asks again
    /// whenever a new key appears. The default is the thread's table.
    fn layout(&self, config: &Config, _keys: &BTreeSet<(u32, u64)>) -> Vec<Chart> {
        table_layout(self, config)
    }

    /// The worker's reader of the attached object. The default sums the
    /// variant's per-CPU counter array into plain counters, and maps the
    /// per-process table when it is on.
    fn collector(
        &self,
        ebpf: Ebpf,
        variant: &Variant,
        config: &WorkerConfig,
    ) -> Result<Box<dyn Collector>, AttachError> {
        Ok(Box::new(StandardCollector::new(
            self, ebpf, variant, config,
        )?))
    }
}

/// Plain counters and, when on, the per-process table.
pub struct StandardCollector {
    counters: Option<CounterCollector>,
    table: Option<PidTable>,
    /// Owns the programs and links; dropping it detaches everything.
    _ebpf: Ebpf,
}

impl StandardCollector {
    pub fn new<T: Thread + ?Sized>(
        thread: &T,
        mut ebpf: Ebpf,
        variant: &Variant,
        config: &WorkerConfig,
    ) -> Result<StandardCollector, AttachError> {
        let count = thread.counters().len() as u32;
        let counters = (count > 0)
            .then(|| CounterCollector::new(&mut ebpf, variant.counter_map, count))
            .transpose()?;
        let settings = config.settings();
        let table = thread
            .per_process()
            .filter(|per| per.slots(settings) > 0)
            .map(|per| PidTable::new(&mut ebpf, per))
            .transpose()?;
        Ok(StandardCollector {
            counters,
            table,
            _ebpf: ebpf,
        })
    }
}

impl Collector for StandardCollector {
    fn collect(&mut self, records: &mut Vec<ipc::Record>) -> Result<(), CollectError> {
        if let Some(counters) = &mut self.counters {
            counters.collect(records)?;
        }
        if let Some(table) = &mut self.table {
            table.take_kernel_stats(records);
        }
        Ok(())
    }

    fn pid_table(&mut self) -> Option<&mut PidTable> {
        self.table.as_mut()
    }
}

/// A thread's table as drawn under `config`: error charts only in return
/// mode, dimensions of counters it does not collect left out, charts left
/// without dimensions dropped.
pub fn table_layout<T: Thread + ?Sized>(thread: &T, config: &Config) -> Vec<Chart> {
    let settings = config.thread(thread.name());
    thread
        .charts()
        .iter()
        .filter(|def| def.mode == ChartMode::Both || settings.mode == LoadMode::Return)
        .map(|def| {
            def.instance(settings.update_every, |dim| {
                dim.value.counters().all(|c| thread.collects(config, c))
            })
        })
        .filter(|chart| !chart.dims.is_empty())
        .collect()
}

/// A thread that is nothing but static tables.
pub struct StaticThread {
    pub name: ThreadName,
    pub counters: &'static [&'static str],
    pub charts: &'static [ChartDef],
    pub variants: &'static [Variant],
    /// [`Thread::collects`].
    pub collects: fn(&Config, u32) -> bool,
    /// [`Thread::per_process`].
    pub per_process: Option<&'static PerProcess>,
}

impl StaticThread {
    /// For [`StaticThread::collects`]: every counter, whatever the configuration.
    pub fn collects_all(_config: &Config, _counter: u32) -> bool {
        true
    }
}

impl Thread for StaticThread {
    fn name(&self) -> ThreadName {
        self.name
    }

    fn counters(&self) -> &'static [&'static str] {
        self.counters
    }

    fn charts(&self) -> &'static [ChartDef] {
        self.charts
    }

    fn variants(&self) -> &'static [Variant] {
        self.variants
    }

    fn collects(&self, config: &Config, counter: u32) -> bool {
        (self.collects)(config, counter)
    }

    fn per_process(&self) -> Option<&'static PerProcess> {
        self.per_process
    }
}

/// A value reading of a kernel map failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading map `{map}`: {source:?}")]
    Map {
        map: &'static str,
        source: aya::maps::MapError,
    },
}

/// Reads the kernel maps once per tick.
pub trait Collector {
    /// Appends this tick's records.
    fn collect(&mut self, records: &mut Vec<ipc::Record>) -> Result<(), CollectError>;

    /// The per-process table, when the thread counts per process.
    fn pid_table(&mut self) -> Option<&mut PidTable> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::{CoreTracing, TypeFormat};

    struct Fake;
    const fn variant(kind: VariantKind) -> Variant {
        Variant {
            kind,
            object: &[],
            counter_map: "",
            programs: &[],
        }
    }
    static VARIANTS: [Variant; 2] = [
        variant(VariantKind::Tracepoint),
        variant(VariantKind::Probe),
    ];
    impl Thread for Fake {
        fn name(&self) -> ThreadName {
            ThreadName::Sync
        }
        fn counters(&self) -> &'static [&'static str] {
            &[]
        }
        fn charts(&self) -> &'static [ChartDef] {
            &[]
        }
        fn variants(&self) -> &'static [Variant] {
            &VARIANTS
        }
    }

    fn kinds(
        format: TypeFormat,
        tracing: CoreTracing,
    ) -> (Vec<(u32, VariantKind)>, Option<String>) {
        let mut settings = Config::default().thread(ThreadName::Sync).clone();
        settings.type_format = format;
        settings.core_tracing = tracing;
        let (list, note) = candidates(&Fake, &settings);
        (list.into_iter().map(|(i, v)| (i, v.kind)).collect(), note)
    }

    #[test]
    fn auto_tries_every_variant_in_the_threads_order() {
        assert_eq!(
            kinds(TypeFormat::Auto, CoreTracing::Trampoline),
            (
                vec![(0, VariantKind::Tracepoint), (1, VariantKind::Probe)],
                None
            )
        );
    }

    #[test]
    fn co_re_and_legacy_force_one_variant() {
        assert_eq!(
            kinds(TypeFormat::CoRe, CoreTracing::Tracepoint),
            (vec![(0, VariantKind::Tracepoint)], None)
        );
        assert_eq!(
            kinds(TypeFormat::Legacy, CoreTracing::Tracepoint),
            (vec![(1, VariantKind::Probe)], None)
        );
    }

    #[test]
    fn a_forced_kind_the_thread_lacks_falls_back_to_its_own_order() {
        let (list, note) = kinds(TypeFormat::CoRe, CoreTracing::Trampoline);
        assert_eq!(
            list,
            vec![(0, VariantKind::Tracepoint), (1, VariantKind::Probe)]
        );
        let note = note.expect("a note saying why");
        assert!(
            note.contains("forces the trampoline variant, which sync does not have"),
            "{note}"
        );
    }
}
