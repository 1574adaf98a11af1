//! What a collector thread is: one value, declared by its module ([`Thread`]),
//! and what a worker process receives from the supervisor.

use std::path::PathBuf;

use conf::{Config, LoadMode, OwnKey, OwnKind, OwnValue, ThreadName, ThreadSettings};
use serde::{Deserialize, Serialize};

use crate::chart::ChartDef;
use crate::keyed::{KeySource, Keyed, Retire};
use crate::per_process::PerProcess;

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
    /// The tracefs tracepoints `syscalls/sys_enter_<name>` (or, with
    /// `exit`, `sys_exit_<name>`) of each syscall: one program, a link each.
    Syscalls {
        exit: bool,
        names: &'static [&'static str],
    },
    /// A trampoline on function entry (`fentry/`).
    FEntry(&'static [&'static str]),
    /// A trampoline on function return (`fexit/`).
    FExit(&'static [&'static str]),
    /// A kprobe or kretprobe, as the program's section says (`kprobe/`,
    /// `kretprobe/`). A name that does not attach is also tried as the
    /// clones kallsyms has of it (`lookup_fast.constprop.0`).
    KProbe(&'static [&'static str]),
}

impl Hook {
    /// Whether a program of `section` can attach here.
    pub fn takes(self, section: bpf::Section) -> bool {
        use bpf::Section as S;
        matches!(
            (self, section),
            (Hook::BtfTracepoint(_), S::BtfTracepoint)
                | (Hook::Tracepoint(..) | Hook::Syscalls { .. }, S::Tracepoint)
                | (Hook::FEntry(_), S::FEntry)
                | (Hook::FExit(_), S::FExit)
                | (Hook::KProbe(_), S::KProbe | S::KRetProbe)
        )
    }
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
    /// As `Counter`, and skipped where the kernel lacks the hook (a
    /// filesystem's functions where it is a module not loaded, or not built).
    CounterWhereHookExists(u32),
    /// With the per-process table on or `--pid`: who caused the events
    /// that run in no process's context (socket's retransmissions).
    Attribution,
}

impl Needed {
    /// Whether a kernel without the hook skips the program.
    pub fn where_hook_exists(self) -> bool {
        matches!(
            self,
            Needed::WhereHookExists | Needed::CounterWhereHookExists(_)
        )
    }
}

/// One program of an object and where it attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The C function's name.
    pub name: String,
    pub hook: Hook,
    pub needed: Needed,
}

impl ProgramSpec {
    pub fn new(name: impl Into<String>, hook: Hook, needed: Needed) -> ProgramSpec {
        ProgramSpec {
            name: name.into(),
            hook,
            needed,
        }
    }
}

/// When a [`Call`] is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// On entry, in every load mode.
    Entry,
    /// On return (reads and writes, whose size only the return tells).
    Return,
    /// On entry in entry mode, on return (with its failures) in return mode.
    ByMode,
}

/// A call a thread counts the same way in each variant: on the syscalls'
/// tracepoints, or on the kernel function they reach. Its C programs come
/// from `ENTRY_CALL(stem, …)` and `RETURN_CALL(stem, …)` (common.bpf.h):
/// `<stem>_enter` and `<stem>_exit` for the tracepoints, `_fentry` and
/// `_fexit`, `_kprobe` and `_kretprobe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub stem: &'static str,
    pub side: Side,
    /// The tracepoint variant's syscalls (each one's `sys_enter_`/`sys_exit_`).
    pub syscalls: &'static [&'static str],
    /// The trampoline and probe variants' kernel function, by the names it
    /// has had (`syscall_functions!` for a syscall's own).
    pub functions: &'static [&'static str],
    /// Attached only while this counter is collected (a switch of the
    /// thread's configuration; `Side::Entry` or `Side::Return` only).
    pub counter: Option<u32>,
}

impl Call {
    pub const fn new(
        stem: &'static str,
        side: Side,
        syscalls: &'static [&'static str],
        functions: &'static [&'static str],
    ) -> Call {
        Call {
            stem,
            side,
            syscalls,
            functions,
            counter: None,
        }
    }

    /// Attached only while `counter` is collected.
    pub const fn switched(self, counter: u32) -> Call {
        Call {
            counter: Some(counter),
            ..self
        }
    }

    /// Its programs in a variant of `kind`.
    fn programs(&self, kind: VariantKind) -> impl Iterator<Item = ProgramSpec> + '_ {
        let (entry, exit) = match self.side {
            Side::Entry => (Some(Needed::Always), None),
            Side::Return => (None, Some(Needed::Always)),
            Side::ByMode => (Some(Needed::EntryMode), Some(Needed::ReturnMode)),
        };
        let gate = |needed: Needed| self.counter.map_or(needed, Needed::Counter);
        let program = move |exit: bool, needed: Needed| {
            let (suffix, hook) = match (kind, exit) {
                (VariantKind::Tracepoint, false) => (
                    "enter",
                    Hook::Syscalls {
                        exit,
                        names: self.syscalls,
                    },
                ),
                (VariantKind::Tracepoint, true) => (
                    "exit",
                    Hook::Syscalls {
                        exit,
                        names: self.syscalls,
                    },
                ),
                (VariantKind::Trampoline, false) => ("fentry", Hook::FEntry(self.functions)),
                (VariantKind::Trampoline, true) => ("fexit", Hook::FExit(self.functions)),
                (VariantKind::Probe, false) => ("kprobe", Hook::KProbe(self.functions)),
                (VariantKind::Probe, true) => ("kretprobe", Hook::KProbe(self.functions)),
            };
            ProgramSpec::new(format!("{}_{suffix}", self.stem), hook, gate(needed))
        };
        entry
            .map(move |needed| program(false, needed))
            .into_iter()
            .chain(exit.map(move |needed| program(true, needed)))
    }
}

/// One way of attaching a thread: a set of programs of one kind of hook.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub kind: VariantKind,
    /// Programs of its own; the thread's [`Call`]s come on top.
    pub programs: &'static [(&'static str, Hook, Needed)],
    /// Maps of the object compiled with one entry, which this variant
    /// needs (when the third holds) with the second's entries.
    pub maps: &'static [(&'static str, u32, Needed)],
}

impl Variant {
    pub const fn new(kind: VariantKind) -> Variant {
        Variant::with(kind, &[])
    }

    pub const fn with(
        kind: VariantKind,
        programs: &'static [(&'static str, Hook, Needed)],
    ) -> Variant {
        Variant {
            kind,
            programs,
            maps: &[],
        }
    }

    /// The variant, with its maps sized as `maps` says.
    pub const fn sizing(self, maps: &'static [(&'static str, u32, Needed)]) -> Variant {
        Variant { maps, ..self }
    }
}

/// Runs in the task that calls exec, once its new name is set.
const EXEC_FUNCTIONS: &[&str] = &["setup_new_exec"];

/// Runs in the task renamed (by exec, prctl or `/proc/PID/comm`), before
/// the new name is copied: the `task_rename` tracepoint's place.
const RENAME_FUNCTIONS: &[&str] = &["__set_task_comm"];

/// Runs once for every released (reaped) task: `cgroup_release()`, called
/// by `release_task()` for each task it releases, including a group leader
/// released together with the group's last thread; `release_task()` itself
/// (the original's hook) where the kernel lacks it; that one misses such a
/// leader.
pub const RELEASE_FUNCTIONS: &[&str] = &["cgroup_release", "release_task"];

/// Run in every exiting task, told whether it is its process's last
/// (`group_dead`): the same argument in both, the second.
pub const GROUP_EXIT_FUNCTIONS: &[&str] = &["taskstats_exit", "acct_collect"];

/// Runs in the parent for every new task.
const FORK_FUNCTIONS: &[&str] = &["wake_up_new_task"];

/// The programs common.bpf.h gives an object, of a variant's kind: name
/// (a variant kind's suffix follows), hook, when. `PID_FILTER_PROGRAMS`
/// (with --pid: new children of tracked processes are tracked, released
/// ones dropped), `TGID_VALUES` (with the per-process table: execs,
/// renames and a process's last exit).
fn common_programs(kind: VariantKind) -> [(&'static str, Hook, Needed); 5] {
    let hook = |event: &'static str, functions: &'static [&'static str]| match kind {
        VariantKind::Tracepoint => Hook::BtfTracepoint(event),
        VariantKind::Trampoline => Hook::FEntry(functions),
        VariantKind::Probe => Hook::KProbe(functions),
    };
    [
        (
            "filter_fork",
            hook("sched_process_fork", FORK_FUNCTIONS),
            Needed::PidFilter,
        ),
        (
            "filter_free",
            hook("sched_process_free", RELEASE_FUNCTIONS),
            Needed::PidFilter,
        ),
        (
            "tgid_values_exec",
            hook("sched_process_exec", EXEC_FUNCTIONS),
            Needed::PerProcess,
        ),
        (
            "tgid_values_rename",
            hook("task_rename", RENAME_FUNCTIONS),
            Needed::PerProcess,
        ),
        (
            "tgid_values_exit",
            hook("sched_process_exit", GROUP_EXIT_FUNCTIONS),
            Needed::PerProcess,
        ),
    ]
}

/// A collector thread: everything its worker and the supervisor need to
/// know of it, declared once in its module and listed in the registry.
#[derive(Debug)]
pub struct Thread {
    pub name: ThreadName,
    /// Its compiled `.bpf.c`, with what it declares.
    pub object: bpf::Object,
    /// System-wide charts of its counters.
    pub charts: &'static [ChartDef],
    /// Counters per key (a disk, an IRQ) and their charts.
    pub keyed: Option<Keyed>,
    /// Counters per process and their apps, cgroup and services charts.
    pub per_process: Option<PerProcess>,
    /// Calls attached by each of its variants, the way of the variant's kind.
    pub calls: &'static [Call],
    /// The variants, most preferred first.
    pub variants: &'static [Variant],
    /// Its own configuration keys (e.g. `sync.conf` `[syscalls]`).
    pub keys: &'static [OwnKey],
}

impl Thread {
    /// Names of the cumulative counters the worker reports, by index.
    pub fn counters(&self) -> &'static [&'static str] {
        self.object.counters
    }

    /// Whether `counter` is collected: a switch among its own keys can turn
    /// it off (a disabled syscall's dimension is not drawn).
    pub fn collects(&self, settings: &ThreadSettings, counter: u32) -> bool {
        self.keys
            .iter()
            .filter(|key| key.kind == OwnKind::Switch { counter })
            .all(|key| settings.own(key) != OwnValue::Bool(false))
    }

    /// Its own keyed map and that map's size, when the thread reads one
    /// ([`KeySource::Reader`]) and it is on under `cfg`.
    pub fn keyed_entries(&self, cfg: &WorkerConfig) -> Option<(&'static str, u32)> {
        match self.keyed {
            Some(Keyed {
                map,
                source: KeySource::Reader { entries, .. },
                ..
            }) => Some((map, entries(cfg))).filter(|(_, entries)| *entries > 0),
            _ => None,
        }
    }

    /// How its worker retires keys under `cfg`, if it does.
    pub fn key_retirement(&self, cfg: &WorkerConfig) -> Option<Retire> {
        match self.keyed {
            Some(Keyed {
                source: KeySource::Reader { retire, .. },
                ..
            }) => retire(cfg),
            _ => None,
        }
    }

    /// Its per-process declaration when it counts per process under
    /// `settings` (its table is on).
    pub fn per_process_on(&self, settings: &ThreadSettings) -> Option<&PerProcess> {
        self.per_process
            .as_ref()
            .filter(|per| per.slots(settings) > 0)
    }

    /// Every program `variant` may attach: its own, its calls', and those
    /// common.bpf.h gave the object, of its kind.
    pub fn programs(&self, variant: &Variant) -> Vec<ProgramSpec> {
        let kind = variant.kind;
        let own = variant
            .programs
            .iter()
            .map(|&(name, hook, needed)| ProgramSpec::new(name, hook, needed));
        let calls = self.calls.iter().flat_map(|call| call.programs(kind));
        let suffix = match kind {
            VariantKind::Tracepoint => "",
            VariantKind::Trampoline => "_fentry",
            VariantKind::Probe => "_kprobe",
        };
        let common = common_programs(kind)
            .into_iter()
            .map(|(name, hook, needed)| ProgramSpec::new(format!("{name}{suffix}"), hook, needed))
            .filter(|spec| self.object.has_program(&spec.name));
        own.chain(calls).chain(common).collect()
    }
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

impl WorkerConfig {
    pub fn settings(&self) -> &ThreadSettings {
        self.config.thread(self.thread)
    }

    pub fn btf_path(&self) -> PathBuf {
        self.config.global.btf_path.join("vmlinux")
    }

    /// Whether a program `needed` so is loaded under this configuration.
    pub fn needs(&self, thread: &Thread, needed: Needed) -> bool {
        let settings = self.settings();
        match needed {
            Needed::Always | Needed::WhereHookExists => true,
            Needed::EntryMode => settings.mode == LoadMode::Entry,
            Needed::ReturnMode => settings.mode == LoadMode::Return,
            Needed::PidFilter => self.pid_filter.is_some(),
            Needed::PerProcess => thread.per_process_on(settings).is_some(),
            Needed::Attribution => {
                self.pid_filter.is_some() || thread.per_process_on(settings).is_some()
            }
            Needed::Counter(counter) | Needed::CounterWhereHookExists(counter) => {
                thread.collects(settings, counter)
            }
        }
    }
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
    thread: &Thread,
    settings: &ThreadSettings,
) -> (Vec<(u32, &'static Variant)>, Option<String>) {
    let forced = match settings.type_format {
        conf::TypeFormat::Auto => None,
        conf::TypeFormat::Legacy => Some(VariantKind::Probe),
        conf::TypeFormat::CoRe => Some(VariantKind::from_tracing(settings.core_tracing)),
    };
    let all = thread.variants.iter().enumerate();
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
                thread.name,
                own_kinds(thread).join(", ")
            )),
        ),
        _ => (chosen, None),
    }
}

/// The kinds of `thread`'s variants, in its order, each once (hardirq has
/// two tracepoint variants: BTF and tracefs).
fn own_kinds(thread: &Thread) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for variant in thread.variants {
        if !kinds.contains(&variant.kind.as_str()) {
            kinds.push(variant.kind.as_str());
        }
    }
    kinds
}

impl Thread {
    /// The kinds of variant it does not have (dcstat: no tracepoint, as the
    /// kernel has none where it counts), for saying why it cannot run.
    pub fn missing_kinds(&self) -> Vec<VariantKind> {
        [
            VariantKind::Trampoline,
            VariantKind::Tracepoint,
            VariantKind::Probe,
        ]
        .into_iter()
        .filter(|kind| !self.variants.iter().any(|v| v.kind == *kind))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conf::{CoreTracing, TypeFormat};

    static VARIANTS: [Variant; 2] = [
        Variant::new(VariantKind::Tracepoint),
        Variant::new(VariantKind::Probe),
    ];
    static FAKE: Thread = Thread {
        name: ThreadName::Sync,
        object: bpf::sync::OBJECT,
        charts: &[],
        keyed: None,
        per_process: None,
        calls: &[],
        variants: &VARIANTS,
        keys: &[],
    };

    fn kinds(
        format: TypeFormat,
        tracing: CoreTracing,
    ) -> (Vec<(u32, VariantKind)>, Option<String>) {
        let mut settings = Config::default().thread(ThreadName::Sync).clone();
        settings.type_format = format;
        settings.core_tracing = tracing;
        let (list, note) = candidates(&FAKE, &settings);
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

    #[test]
    fn a_call_gives_each_variant_its_programs() {
        const CALL: Call = Call::new(
            "fd_open",
            Side::ByMode,
            &["open", "openat"],
            &["do_sys_openat2"],
        );
        let names = |kind| -> Vec<(String, Needed)> {
            CALL.programs(kind).map(|p| (p.name, p.needed)).collect()
        };
        assert_eq!(
            names(VariantKind::Tracepoint),
            [
                ("fd_open_enter".to_owned(), Needed::EntryMode),
                ("fd_open_exit".to_owned(), Needed::ReturnMode)
            ]
        );
        let switched = Call::new("sync_fsync", Side::Entry, &["fsync"], &[]).switched(3);
        let programs: Vec<ProgramSpec> = switched.programs(VariantKind::Probe).collect();
        assert_eq!(
            programs,
            [ProgramSpec::new(
                "sync_fsync_kprobe",
                Hook::KProbe(&[]),
                Needed::Counter(3)
            )]
        );
    }
}
