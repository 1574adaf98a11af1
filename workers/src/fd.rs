//! `fd`: calls of open and close, and their failures in return mode
//! (spec §2.2, §3.3).
//!
//! The tracepoint variant counts the open(2), openat(2), openat2(2), creat(2)
//! and close(2) syscalls; the trampoline and probe variants the kernel
//! function they all call to open (as the original) and close(2)'s entry
//! point. README.md says where the variants differ.

use bpf::layout::fd::*;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::per_process::{incremental_chart, Families, PerProcess};
use crate::thread::{
    syscall_program, Hook, Needed, ProgramSpec, StaticThread, Variant, VariantKind,
    PID_FILTER_PROGRAMS,
};

const COUNTERS: &[&str] = &[
    "open",
    "open_error",
    "close",
    "close_error",
    "tgid_added",
    "tgid_ended",
    "tgid_full",
];
const _: () = assert!(COUNTERS.len() == bpf::layout::fd::COUNTERS as usize);

const fn chart(
    id: &'static str,
    title: &'static str,
    priority: u32,
    mode: ChartMode,
    dims: &'static [DimDef],
) -> ChartDef {
    ChartDef {
        id,
        title,
        units: "calls/s",
        family: "file_access",
        context: "",
        kind: ChartKind::Line,
        priority,
        module: "filedescriptor",
        mode,
        dims,
    }
}

const CHARTS: &[ChartDef] = &[
    chart(
        "filesystem.file_descriptor",
        "Open and close calls",
        2195,
        ChartMode::Both,
        &[
            DimDef::new("do_sys_open", "open", DimValue::Total(OPEN)),
            DimDef::new("__close_fd", "close", DimValue::Total(CLOSE)),
        ],
    ),
    chart(
        "filesystem.file_error",
        "Open fails",
        2196,
        ChartMode::ReturnOnly,
        &[
            DimDef::new("do_sys_open", "open", DimValue::Total(OPEN_ERROR)),
            DimDef::new("__close_fd", "close", DimValue::Total(CLOSE_ERROR)),
        ],
    ),
];

/// The kernel functions, newest name first: open(2), openat(2), openat2(2)
/// and creat(2) all call do_sys_openat2 (do_sys_open before 5.6).
const OPEN_FUNCTIONS: &[&str] = &["do_sys_openat2", "do_sys_open"];
/// close(2)'s entry point. The original hooks close_fd (__close_fd before
/// 5.11), which close(2) no longer calls on recent kernels (6.12: its
/// closes all went uncounted).
const CLOSE_FUNCTIONS: &[&str] = &["__x64_sys_close"];

const VARIANTS: &[Variant] = &[
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::FD,
        counter_map: "fd_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[0],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[1],
            syscall_program!("fd", enter, "open", Needed::EntryMode),
            syscall_program!("fd", enter, "openat", Needed::EntryMode),
            syscall_program!("fd", enter, "openat2", Needed::EntryMode),
            syscall_program!("fd", enter, "creat", Needed::EntryMode),
            syscall_program!("fd", enter, "close", Needed::EntryMode),
            syscall_program!("fd", exit, "open", Needed::ReturnMode),
            syscall_program!("fd", exit, "openat", Needed::ReturnMode),
            syscall_program!("fd", exit, "openat2", Needed::ReturnMode),
            syscall_program!("fd", exit, "creat", Needed::ReturnMode),
            syscall_program!("fd", exit, "close", Needed::ReturnMode),
        ],
    },
    Variant {
        kind: VariantKind::Trampoline,
        object: bpf::FD,
        counter_map: "fd_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Trampoline)[0],
            ProgramSpec::tgid_values(VariantKind::Trampoline)[1],
            ProgramSpec::new(
                "fd_open_fentry",
                Hook::FEntry(OPEN_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "fd_open_fexit",
                Hook::FExit(OPEN_FUNCTIONS),
                Needed::ReturnMode,
            ),
            ProgramSpec::new(
                "fd_close_fentry",
                Hook::FEntry(CLOSE_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "fd_close_fexit",
                Hook::FExit(CLOSE_FUNCTIONS),
                Needed::ReturnMode,
            ),
        ],
    },
    Variant {
        kind: VariantKind::Probe,
        object: bpf::FD,
        counter_map: "fd_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Probe)[0],
            ProgramSpec::tgid_values(VariantKind::Probe)[1],
            ProgramSpec::new(
                "fd_open_kprobe",
                Hook::KProbe(OPEN_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "fd_open_kretprobe",
                Hook::KProbe(OPEN_FUNCTIONS),
                Needed::ReturnMode,
            ),
            ProgramSpec::new(
                "fd_close_kprobe",
                Hook::KProbe(CLOSE_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "fd_close_kretprobe",
                Hook::KProbe(CLOSE_FUNCTIONS),
                Needed::ReturnMode,
            ),
        ],
    },
];

const FAMILIES: Families = Families {
    apps: "file_access",
    cgroup: "file_access (eBPF)",
    units: "calls/s",
};

/// The apps, cgroup and services charts (spec §2.2).
static PER_PROCESS_CHARTS: PerProcess = PerProcess {
    counters: COUNTERS.split_at(PER_PROCESS as usize).0,
    charts: &[
        incremental_chart!(
            OPEN,
            ChartMode::Both,
            FAMILIES,
            "file_open",
            "Number of open files",
            "fd_open",
            ("do_sys_open", "open"),
            20061,
            45400
        ),
        incremental_chart!(
            OPEN_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "file_open_error",
            "Fails to open files",
            "fd_open_error",
            ("do_sys_open", "open"),
            20062,
            45401
        ),
        incremental_chart!(
            CLOSE,
            ChartMode::Both,
            FAMILIES,
            "file_closed",
            "Files closed",
            "fd_close",
            ("__close_fd", "close"),
            20063,
            45402
        ),
        incremental_chart!(
            CLOSE_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "file_close_error",
            "Fails to close files",
            "fd_close_error",
            ("__close_fd", "close"),
            20064,
            45403
        ),
    ],
    module: "filedescriptor",
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

pub static THREAD: StaticThread = StaticThread {
    name: ThreadName::Fd,
    counters: COUNTERS,
    charts: CHARTS,
    variants: VARIANTS,
    collects: StaticThread::collects_all,
    per_process: Some(&PER_PROCESS_CHARTS),
};
