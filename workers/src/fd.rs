//! `fd`: calls of open and close, and their failures in return mode
//! (spec §2.2, §3.3).
//!
//! The tracepoint variant counts the open(2), openat(2), openat2(2), creat(2)
//! and close(2) syscalls; the trampoline and probe variants the kernel
//! function they all call to open (as the original) and close(2)'s entry
//! point. README.md says where the variants differ.

use bpf::fd::counter::*;
use bpf::fd::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartMode, Defaults, DimDef};
use crate::contexts;
use crate::per_process::{Families, PerProcess};
use crate::thread::{syscall_functions, Call, Side, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "file_access",
    module: "filedescriptor",
};

const CHARTS: &[ChartDef] = &[
    DEFAULTS.chart(
        "filesystem.file_descriptor",
        "Open and close calls",
        2195,
        &[
            DimDef::total("do_sys_open", "open", OPEN),
            DimDef::total("__close_fd", "close", CLOSE),
        ],
    ),
    DEFAULTS.errors(
        "filesystem.file_error",
        "Open fails",
        2196,
        &[
            DimDef::total("do_sys_open", "open", OPEN_ERROR),
            DimDef::total("__close_fd", "close", CLOSE_ERROR),
        ],
    ),
];

const CALLS: &[Call] = &[
    // open(2), openat(2), openat2(2) and creat(2) all call do_sys_openat2
    // (do_sys_open before 5.6).
    Call::new(
        "fd_open",
        Side::ByMode,
        &["open", "openat", "openat2", "creat"],
        &["do_sys_openat2", "do_sys_open"],
    ),
    // close(2)'s entry point. The original hooks close_fd (__close_fd
    // before 5.11), which close(2) no longer calls on recent kernels (6.12:
    // its closes all went uncounted).
    Call::new("fd_close", Side::ByMode, &["close"], syscall_functions!("close")),
];

const FAMILIES: Families = Families {
    apps: "file_access",
    cgroup: "file_access (eBPF)",
    units: "calls/s",
    module: "filedescriptor",
};

/// The apps, cgroup and services charts (spec §2.2).
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        FAMILIES.totals(
            OPEN,
            ChartMode::Both,
            "file_open",
            "Number of open files",
            contexts!("fd_open"),
            ("do_sys_open", "open"),
            20061,
            45400,
        ),
        FAMILIES.totals(
            OPEN_ERROR,
            ChartMode::ReturnOnly,
            "file_open_error",
            "Fails to open files",
            contexts!("fd_open_error"),
            ("do_sys_open", "open"),
            20062,
            45401,
        ),
        FAMILIES.totals(
            CLOSE,
            ChartMode::Both,
            "file_closed",
            "Files closed",
            contexts!("fd_close"),
            ("__close_fd", "close"),
            20063,
            45402,
        ),
        FAMILIES.totals(
            CLOSE_ERROR,
            ChartMode::ReturnOnly,
            "file_close_error",
            "Fails to close files",
            contexts!("fd_close_error"),
            ("__close_fd", "close"),
            20064,
            45403,
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

pub static THREAD: Thread = Thread {
    name: ThreadName::Fd,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: CALLS,
    variants: &[
        Variant::new(VariantKind::Tracepoint),
        Variant::new(VariantKind::Trampoline),
        Variant::new(VariantKind::Probe),
    ],
    keys: &[],
};
