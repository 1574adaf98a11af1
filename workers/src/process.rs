//! `process`: tasks started, exited and released (spec §2.1).
//!
//! Differences from the original, on purpose: `process` counts new
//! processes and `thread` new threads (the original counted exec+fork and
//! "all forks"); `release_task` is positive; `system.process_status`
//! `process` is processes started minus processes ended; `task_error`
//! `sys_clone` counts failed thread creations (always 0 in the original).
//!
//! Variants, each counting the same events (the kernel matrix proves it):
//! - `trampoline`: fork's outcome at `fexit` of `kernel_clone()`
//!   (`_do_fork()` before 5.10): the child's PID or an error, thread or
//!   process by `CLONE_THREAD`; exits at `do_exit()`; the last task of a
//!   process at `taskstats_exit()` (`acct_collect()`), which is told
//!   `group_dead`; releases at `cgroup_release()` (`release_task()`).
//! - `tracepoint`: `sched_process_{fork,exit,free}`; in return mode failed
//!   fork/vfork/clone/clone3 syscalls at their `sys_exit` tracepoints.
//! - `probe`: the trampoline's functions as kprobes, a kretprobe for the
//!   fork outcome with the flags its kprobe saved.
//!
//! The fork hook of the trampoline and probe variants sees errors in every
//! mode (its failures are only charted in return mode). It counts failed
//! `kernel_clone()` calls, the tracepoint variant failed syscalls: they
//! differ only for clone3 arguments refused before `kernel_clone()` and
//! for failed kernel thread creation.
//!
//! Per process (apps, cgroup and services charts), the same events of each
//! process: `apps.*` count the events of the interval (`absolute`, as the
//! original, without its every-other-interval zeros, B-37); cgroup and
//! services charts are running totals (`incremental`). The cgroup
//! `task_exit` counts exits (the original sent releases, B-4), and the
//! services `task_exit`/`task_close` titles and contexts match their values
//! (swapped in the original, B-5). `task_close` counts the releases of a
//! process's own tasks (the original counted them for the process that
//! reaped them, often the parent).

use bpf::layout::process::*;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, ProgramSpec, Thread, Variant, VariantKind, RELEASE_FUNCTIONS};

pub struct Process;

const COUNTERS: &[&str] = &[
    "new_process",
    "new_thread",
    "task_exit",
    "group_exit",
    "task_release",
    "error_process",
    "error_thread",
    "tgid_added",
    "tgid_ended",
    "tgid_full",
];
const _: () = assert!(COUNTERS.len() == bpf::layout::process::COUNTERS as usize);

const fn chart(
    id: &'static str,
    title: &'static str,
    units: &'static str,
    priority: u32,
    mode: ChartMode,
    dims: &'static [DimDef],
) -> ChartDef {
    ChartDef {
        id,
        title,
        units,
        family: "processes",
        context: "",
        kind: ChartKind::Line,
        priority,
        module: "process",
        mode,
        dims,
    }
}

const fn dim(id: &'static str, name: &'static str, value: DimValue) -> DimDef {
    DimDef::new(id, name, value)
}

const CHARTS: &[ChartDef] = &[
    chart(
        "system.process_thread",
        "Start process",
        "calls/s",
        21002,
        ChartMode::Both,
        &[
            dim("_do_fork", "process", DimValue::Delta(NEW_PROCESS)),
            dim("sys_clone", "thread", DimValue::Delta(NEW_THREAD)),
        ],
    ),
    chart(
        "system.exit",
        "Exit process",
        "calls/s",
        21003,
        ChartMode::Both,
        &[
            dim("do_exit", "process", DimValue::Delta(TASK_EXIT)),
            dim("release_task", "task", DimValue::Delta(TASK_RELEASE)),
        ],
    ),
    chart(
        "system.process_status",
        "Process not closed",
        "difference",
        21004,
        ChartMode::Both,
        &[
            dim(
                "process",
                "process",
                DimValue::DeltaDiff(NEW_PROCESS, GROUP_EXIT),
            ),
            dim(
                "zombie",
                "zombie",
                DimValue::DeltaDiff(TASK_EXIT, TASK_RELEASE),
            ),
        ],
    ),
    chart(
        "system.task_error",
        "Fails to create process",
        "calls/s",
        21005,
        ChartMode::ReturnOnly,
        &[
            dim("_do_fork", "process", DimValue::Delta(ERROR_PROCESS)),
            dim("sys_clone", "thread", DimValue::Delta(ERROR_THREAD)),
        ],
    ),
];

/// How one view of a per-process chart looks; only these differ.
const fn view(
    id: &'static str,
    title: &'static str,
    family: &'static str,
    context: &'static str,
    kind: ChartKind,
    priority: u32,
    incremental: bool,
) -> View {
    View {
        id,
        title,
        units: "calls/s",
        family,
        context,
        kind,
        priority,
        incremental,
    }
}

/// One per-process chart in its three views (spec §2.1): `offset` from the
/// original's first priority, `dim` the cgroup chart's dimension (id, name).
macro_rules! per_process {
    ($counter:expr, $plus:expr, $mode:expr, $id:literal, $title:literal, $offset:literal, $dim:expr) => {
        ProcessChart {
            counter: $counter,
            plus: $plus,
            mode: $mode,
            apps: view(
                $id,
                $title,
                "processes",
                "",
                ChartKind::Stacked,
                20065 + $offset,
                false,
            ),
            cgroup: (
                view(
                    $id,
                    $title,
                    "processes (eBPF)",
                    concat!("cgroup.", $id),
                    ChartKind::Line,
                    45000 + $offset,
                    true,
                ),
                $dim,
            ),
            services: view(
                $id,
                $title,
                "process (eBPF)",
                concat!("services.", $id),
                ChartKind::Stacked,
                20065 + $offset,
                true,
            ),
        }
    };
}

const PER_PROCESS_CHARTS: PerProcess = PerProcess {
    counters: COUNTERS.split_at(PER_PROCESS as usize).0,
    charts: &[
        per_process!(
            NEW_PROCESS,
            None,
            ChartMode::Both,
            "process_create",
            "Process started",
            0,
            ("_do_fork", "process")
        ),
        per_process!(
            NEW_THREAD,
            None,
            ChartMode::Both,
            "thread_create",
            "Threads started",
            1,
            ("sys_clone", "thread")
        ),
        per_process!(
            TASK_EXIT,
            None,
            ChartMode::Both,
            "task_exit",
            "Tasks starts exit process.",
            2,
            ("do_exit", "process")
        ),
        per_process!(
            TASK_RELEASE,
            None,
            ChartMode::Both,
            "task_close",
            "Tasks closed",
            3,
            ("release_task", "task")
        ),
        per_process!(
            ERROR_PROCESS,
            Some(ERROR_THREAD),
            ChartMode::ReturnOnly,
            "task_error",
            "Errors to create process or threads.",
            4,
            ("do_exit", "process")
        ),
    ],
    module: "process",
    max_slots: None,
    apps_always: false,
    releases_follow_exits: Some((TASK_EXIT, TASK_RELEASE)),
};

const fn program(name: &'static str, hook: Hook, needed: Needed) -> ProgramSpec {
    ProgramSpec { name, hook, needed }
}

const fn syscalls(event: &'static str) -> Hook {
    Hook::Tracepoint("syscalls", event)
}

const fn variant(kind: VariantKind, programs: &'static [ProgramSpec]) -> Variant {
    Variant {
        kind,
        object: bpf::PROCESS,
        counter_map: "process_counters",
        programs,
    }
}

/// Where a fork's outcome is seen: its PID or error, and its flags.
const CLONE_FUNCTIONS: &[&str] = &["kernel_clone", "_do_fork", "do_fork"];
/// Run in every exiting task, told whether it is its process's last
/// (`group_dead`): the same argument in both, the second.
const GROUP_EXIT_FUNCTIONS: &[&str] = &["taskstats_exit", "acct_collect"];

/// The trampoline and probe variants: the same functions, hooked with
/// `$hook` by the programs `process_<what><suffix>`, after their own
/// programs for the fork's outcome (`$clone`).
macro_rules! function_variant {
    ($kind:ident, $suffix:literal, $hook:ident, [$($clone:expr),+]) => {
        variant(
            VariantKind::$kind,
            &[
                ProgramSpec::filter_fork(VariantKind::$kind),
                ProgramSpec::tgid_values(VariantKind::$kind)[0],
                ProgramSpec::tgid_values(VariantKind::$kind)[1],
                $($clone,)+
                program(
                    concat!("process_exit", $suffix),
                    Hook::$hook(&["do_exit"]),
                    Needed::Always,
                ),
                program(
                    concat!("process_group_exit", $suffix),
                    Hook::$hook(GROUP_EXIT_FUNCTIONS),
                    Needed::Always,
                ),
                program(
                    concat!("process_release", $suffix),
                    Hook::$hook(RELEASE_FUNCTIONS),
                    Needed::Always,
                ),
            ],
        )
    };
}

/// The trampoline variant first: in return mode the tracepoint variant's
/// syscall tracepoints slow every syscall of every task (DESIGN.md).
const VARIANTS: &[Variant] = &[
    function_variant!(
        Trampoline,
        "_fentry",
        FEntry,
        [program(
            "process_clone_fexit",
            Hook::FExit(CLONE_FUNCTIONS),
            Needed::Always
        )]
    ),
    variant(
        VariantKind::Tracepoint,
        &[
            program(
                "process_fork",
                Hook::BtfTracepoint("sched_process_fork"),
                Needed::Always,
            ),
            program(
                "process_exit",
                Hook::BtfTracepoint("sched_process_exit"),
                Needed::Always,
            ),
            program(
                "process_free",
                Hook::BtfTracepoint("sched_process_free"),
                Needed::Always,
            ),
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[0],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[1],
            program(
                "process_clone_enter",
                syscalls("sys_enter_clone"),
                Needed::ReturnMode,
            ),
            program(
                "process_clone_exit",
                syscalls("sys_exit_clone"),
                Needed::ReturnMode,
            ),
            program(
                "process_clone3_enter",
                syscalls("sys_enter_clone3"),
                Needed::ReturnMode,
            ),
            program(
                "process_clone3_exit",
                syscalls("sys_exit_clone3"),
                Needed::ReturnMode,
            ),
            program(
                "process_fork_exit",
                syscalls("sys_exit_fork"),
                Needed::ReturnMode,
            ),
            program(
                "process_vfork_exit",
                syscalls("sys_exit_vfork"),
                Needed::ReturnMode,
            ),
        ],
    ),
    // The return probe needs the flags its entry probe saved: entry first.
    function_variant!(
        Probe,
        "_kprobe",
        KProbe,
        [
            program(
                "process_clone_kprobe",
                Hook::KProbe(CLONE_FUNCTIONS),
                Needed::Always
            ),
            program(
                "process_clone_kretprobe",
                Hook::KProbe(CLONE_FUNCTIONS),
                Needed::Always
            )
        ]
    ),
];

impl Thread for Process {
    fn name(&self) -> ThreadName {
        ThreadName::Process
    }

    fn counters(&self) -> &'static [&'static str] {
        COUNTERS
    }

    fn charts(&self) -> &'static [ChartDef] {
        CHARTS
    }

    fn variants(&self) -> &'static [Variant] {
        VARIANTS
    }

    fn per_process(&self) -> Option<&'static PerProcess> {
        Some(&PER_PROCESS_CHARTS)
    }
}
