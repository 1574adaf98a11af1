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

use bpf::process::counter::*;
use bpf::process::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, Defaults, DimDef, DimValue, Look};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{
    Hook, Needed, Thread, Variant, VariantKind, GROUP_EXIT_FUNCTIONS, RELEASE_FUNCTIONS,
};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "processes",
    module: "process",
};

const fn dim(id: &'static str, name: &'static str, value: DimValue) -> DimDef {
    DimDef::new(id, name, value)
}

const CHARTS: &[ChartDef] = &[
    DEFAULTS.chart(
        "system.process_thread",
        "Start process",
        21002,
        &[
            dim("_do_fork", "process", DimValue::Delta(NEW_PROCESS)),
            dim("sys_clone", "thread", DimValue::Delta(NEW_THREAD)),
        ],
    ),
    DEFAULTS.chart(
        "system.exit",
        "Exit process",
        21003,
        &[
            dim("do_exit", "process", DimValue::Delta(TASK_EXIT)),
            dim("release_task", "task", DimValue::Delta(TASK_RELEASE)),
        ],
    ),
    ChartDef {
        id: "system.process_status",
        look: Look {
            units: "difference",
            ..DEFAULTS.look("Process not closed", 21004)
        },
        mode: ChartMode::Both,
        dims: &[
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
    },
    DEFAULTS.errors(
        "system.task_error",
        "Fails to create process",
        21005,
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
        look: Look {
            title,
            units: "calls/s",
            family,
            context,
            kind,
            priority,
            module: "process",
        },
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
            misses: None,
            multiplier: 1,
            divisor: 1,
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

const PER_PROCESS: PerProcess = PerProcess {
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
    max_slots: None,
    apps_always: false,
    releases_follow_exits: Some((TASK_EXIT, TASK_RELEASE)),
};

/// Where a fork's outcome is seen: its PID or error, and its flags.
const CLONE_FUNCTIONS: &[&str] = &["kernel_clone", "_do_fork", "do_fork"];
const EXIT_FUNCTIONS: &[&str] = &["do_exit"];

const fn always(name: &'static str, hook: Hook) -> (&'static str, Hook, Needed) {
    (name, hook, Needed::Always)
}

const fn failures(name: &'static str, event: &'static str) -> (&'static str, Hook, Needed) {
    (name, Hook::Tracepoint("syscalls", event), Needed::ReturnMode)
}

pub static THREAD: Thread = Thread {
    name: ThreadName::Process,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: &[],
    // The trampoline variant first: in return mode the tracepoint variant's
    // syscall tracepoints slow every syscall of every task (DESIGN.md).
    variants: &[
        Variant::with(
            VariantKind::Trampoline,
            &[
                always("process_clone_fexit", Hook::FExit(CLONE_FUNCTIONS)),
                always("process_exit_fentry", Hook::FEntry(EXIT_FUNCTIONS)),
                always(
                    "process_group_exit_fentry",
                    Hook::FEntry(GROUP_EXIT_FUNCTIONS),
                ),
                always("process_release_fentry", Hook::FEntry(RELEASE_FUNCTIONS)),
            ],
        ),
        Variant::with(
            VariantKind::Tracepoint,
            &[
                always("process_fork", Hook::BtfTracepoint("sched_process_fork")),
                always("process_exit", Hook::BtfTracepoint("sched_process_exit")),
                always("process_free", Hook::BtfTracepoint("sched_process_free")),
                failures("process_clone_enter", "sys_enter_clone"),
                failures("process_clone_exit", "sys_exit_clone"),
                failures("process_clone3_enter", "sys_enter_clone3"),
                failures("process_clone3_exit", "sys_exit_clone3"),
                failures("process_fork_exit", "sys_exit_fork"),
                failures("process_vfork_exit", "sys_exit_vfork"),
            ],
        ),
        // The return probe needs the flags its entry probe saved: entry first.
        Variant::with(
            VariantKind::Probe,
            &[
                always("process_clone_kprobe", Hook::KProbe(CLONE_FUNCTIONS)),
                always("process_clone_kretprobe", Hook::KProbe(CLONE_FUNCTIONS)),
                always("process_exit_kprobe", Hook::KProbe(EXIT_FUNCTIONS)),
                always(
                    "process_group_exit_kprobe",
                    Hook::KProbe(GROUP_EXIT_FUNCTIONS),
                ),
                always("process_release_kprobe", Hook::KProbe(RELEASE_FUNCTIONS)),
            ],
        ),
    ],
    keys: &[],
};
