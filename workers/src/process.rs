//! `process`: tasks started, exited and released (spec §2.1).
//!
//! Differences from the original, on purpose: `process` counts new
//! processes and `thread` new threads (the original counted exec+fork and
//! "all forks"); `release_task` is positive; `system.process_status`
//! `process` is processes started minus processes ended; `task_error`
//! `sys_clone` counts failed thread creations (always 0 in the original).

use bpf::layout::process::*;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::thread::{Hook, Needed, ProgramSpec, Thread, Variant, VariantKind};

pub struct Process;

const COUNTERS: &[&str] = &[
    "new_process",
    "new_thread",
    "task_exit",
    "group_exit",
    "task_release",
    "error_process",
    "error_thread",
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

const fn program(name: &'static str, hook: Hook, needed: Needed) -> ProgramSpec {
    ProgramSpec { name, hook, needed }
}

const fn syscalls(event: &'static str) -> Hook {
    Hook::Tracepoint("syscalls", event)
}

const VARIANTS: &[Variant] = &[Variant {
    kind: VariantKind::Tracepoint,
    object: bpf::PROCESS,
    counter_map: "process_counters",
    programs: &[
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
}];

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
}
