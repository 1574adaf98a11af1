//! `vfs`: reads and writes (calls, bytes, failures), fsync, open, create and
//! unlink (spec §2.3, §3.4).
//!
//! The tracepoint variant counts the syscalls that reach each kernel
//! function; the trampoline and probe variants the kernel functions the
//! original hooks. Bytes are the bytes read or written (the original summed
//! log2 of the sizes, B-46), and each call is counted once (B-47, B-48).
//! README.md says exactly what each variant counts.

use bpf::layout::vfs::*;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::per_process::{incremental_chart, Families, PerProcess};
use crate::thread::{
    syscall_program, Hook, Needed, ProgramSpec, StaticThread, Variant, VariantKind,
    PID_FILTER_PROGRAMS,
};

const COUNTERS: &[&str] = &[
    "read",
    "read_error",
    "read_bytes",
    "write",
    "write_error",
    "write_bytes",
    "fsync",
    "fsync_error",
    "open",
    "open_error",
    "create",
    "create_error",
    "unlink",
    "tgid_added",
    "tgid_ended",
    "tgid_full",
];
const _: () = assert!(COUNTERS.len() == bpf::layout::vfs::COUNTERS as usize);

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
        family: "vfs",
        context: "",
        kind: ChartKind::Line,
        priority,
        module: "vfs",
        mode,
        dims,
    }
}

const fn dim(id: &'static str, name: &'static str, counter: u32) -> DimDef {
    DimDef::new(id, name, DimValue::Total(counter))
}

const CHARTS: &[ChartDef] = &[
    chart(
        "filesystem.vfs_deleted_objects",
        "Remove files",
        2150,
        ChartMode::Both,
        &[dim("vfs_unlink", "delete", UNLINK)],
    ),
    chart(
        "filesystem.vfs_io",
        "Calls to IO",
        2151,
        ChartMode::Both,
        &[
            dim("vfs_read", "read", READ),
            dim("vfs_write", "write", WRITE),
        ],
    ),
    ChartDef {
        units: "bytes/s",
        // The original's one vfs chart under module `filesystem`.
        module: "filesystem",
        ..chart(
            "filesystem.vfs_io_bytes",
            "Bytes written and read",
            2152,
            ChartMode::Both,
            &[
                dim("vfs_read", "read", READ_BYTES),
                DimDef {
                    multiplier: -1,
                    ..dim("vfs_write", "write", WRITE_BYTES)
                },
            ],
        )
    },
    chart(
        "filesystem.vfs_io_error",
        "Fails to write or read",
        2153,
        ChartMode::ReturnOnly,
        &[
            dim("vfs_read", "read", READ_ERROR),
            dim("vfs_write", "write", WRITE_ERROR),
        ],
    ),
    chart(
        "filesystem.vfs_fsync",
        "Calls for <code>vfs_fsync</code>",
        2154,
        ChartMode::Both,
        &[dim("vfs_fsync", "fsync", FSYNC)],
    ),
    chart(
        "filesystem.vfs_fsync_error",
        "Fails to synchronize",
        2155,
        ChartMode::ReturnOnly,
        &[dim("vfs_fsync", "fsync", FSYNC_ERROR)],
    ),
    chart(
        "filesystem.vfs_open",
        "Calls for <code>vfs_open</code>",
        2156,
        ChartMode::Both,
        &[dim("vfs_open", "open", OPEN)],
    ),
    chart(
        "filesystem.vfs_open_error",
        "Fails to open a file",
        2157,
        ChartMode::ReturnOnly,
        &[dim("vfs_open", "open", OPEN_ERROR)],
    ),
    chart(
        "filesystem.vfs_create",
        "Calls for <code>vfs_create</code>",
        2158,
        ChartMode::Both,
        &[dim("vfs_create", "create", CREATE)],
    ),
    chart(
        "filesystem.vfs_create_error",
        "Fails to create a file.",
        2159,
        ChartMode::ReturnOnly,
        &[dim("vfs_create", "create", CREATE_ERROR)],
    ),
];

const fn tracepoint(name: &'static str, event: &'static str, needed: Needed) -> ProgramSpec {
    ProgramSpec::new(name, Hook::Tracepoint("syscalls", event), needed)
}

/// A program on a kernel function of the same name.
macro_rules! function {
    ($program:literal, $function:literal, $hook:ident, $needed:ident) => {
        ProgramSpec::new($program, Hook::$hook(&[$function]), Needed::$needed)
    };
}

const VARIANTS: &[Variant] = &[
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::VFS,
        counter_map: "vfs_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[0],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[1],
            syscall_program!("vfs", exit, "read", Needed::Always),
            syscall_program!("vfs", exit, "pread64", Needed::Always),
            syscall_program!("vfs", exit, "readv", Needed::Always),
            syscall_program!("vfs", exit, "preadv", Needed::Always),
            syscall_program!("vfs", exit, "preadv2", Needed::Always),
            syscall_program!("vfs", exit, "write", Needed::Always),
            syscall_program!("vfs", exit, "pwrite64", Needed::Always),
            syscall_program!("vfs", exit, "writev", Needed::Always),
            syscall_program!("vfs", exit, "pwritev", Needed::Always),
            syscall_program!("vfs", exit, "pwritev2", Needed::Always),
            syscall_program!("vfs", enter, "fsync", Needed::EntryMode),
            syscall_program!("vfs", exit, "fsync", Needed::ReturnMode),
            syscall_program!("vfs", enter, "fdatasync", Needed::EntryMode),
            syscall_program!("vfs", exit, "fdatasync", Needed::ReturnMode),
            syscall_program!("vfs", enter, "open", Needed::EntryMode),
            syscall_program!("vfs", exit, "open", Needed::ReturnMode),
            syscall_program!("vfs", enter, "openat", Needed::EntryMode),
            syscall_program!("vfs", exit, "openat", Needed::ReturnMode),
            syscall_program!("vfs", enter, "openat2", Needed::EntryMode),
            syscall_program!("vfs", exit, "openat2", Needed::ReturnMode),
            syscall_program!("vfs", enter, "creat", Needed::EntryMode),
            syscall_program!("vfs", exit, "creat", Needed::ReturnMode),
            syscall_program!("vfs", enter, "open_by_handle_at", Needed::EntryMode),
            syscall_program!("vfs", exit, "open_by_handle_at", Needed::ReturnMode),
            syscall_program!("vfs", enter, "mknod", Needed::EntryMode),
            tracepoint("vfs_mark_mknod", "sys_enter_mknod", Needed::ReturnMode),
            syscall_program!("vfs", exit, "mknod", Needed::ReturnMode),
            syscall_program!("vfs", enter, "mknodat", Needed::EntryMode),
            tracepoint("vfs_mark_mknodat", "sys_enter_mknodat", Needed::ReturnMode),
            syscall_program!("vfs", exit, "mknodat", Needed::ReturnMode),
            syscall_program!("vfs", enter, "unlink", Needed::Always),
            syscall_program!("vfs", enter, "unlinkat", Needed::Always),
        ],
    },
    Variant {
        kind: VariantKind::Trampoline,
        object: bpf::VFS,
        counter_map: "vfs_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Trampoline)[0],
            ProgramSpec::tgid_values(VariantKind::Trampoline)[1],
            function!("vfs_read_fexit", "vfs_read", FExit, Always),
            function!("vfs_readv_fexit", "vfs_readv", FExit, Always),
            function!("vfs_write_fexit", "vfs_write", FExit, Always),
            function!("vfs_writev_fexit", "vfs_writev", FExit, Always),
            function!("vfs_fsync_fentry", "vfs_fsync_range", FEntry, EntryMode),
            function!("vfs_fsync_fexit", "vfs_fsync_range", FExit, ReturnMode),
            function!("vfs_open_fentry", "vfs_open", FEntry, EntryMode),
            function!("vfs_open_fexit", "vfs_open", FExit, ReturnMode),
            function!("vfs_create_fentry", "vfs_create", FEntry, EntryMode),
            function!("vfs_create_fexit", "vfs_create", FExit, ReturnMode),
            function!("vfs_unlink_fentry", "vfs_unlink", FEntry, Always),
        ],
    },
    Variant {
        kind: VariantKind::Probe,
        object: bpf::VFS,
        counter_map: "vfs_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Probe)[0],
            ProgramSpec::tgid_values(VariantKind::Probe)[1],
            function!("vfs_read_kretprobe", "vfs_read", KProbe, Always),
            function!("vfs_readv_kretprobe", "vfs_readv", KProbe, Always),
            function!("vfs_write_kretprobe", "vfs_write", KProbe, Always),
            function!("vfs_writev_kretprobe", "vfs_writev", KProbe, Always),
            function!("vfs_fsync_kprobe", "vfs_fsync_range", KProbe, EntryMode),
            function!(
                "vfs_fsync_mark_kprobe",
                "vfs_fsync_range",
                KProbe,
                ReturnMode
            ),
            function!("vfs_fsync_kretprobe", "vfs_fsync_range", KProbe, ReturnMode),
            function!("vfs_open_kprobe", "vfs_open", KProbe, EntryMode),
            function!("vfs_open_kretprobe", "vfs_open", KProbe, ReturnMode),
            function!("vfs_create_kprobe", "vfs_create", KProbe, EntryMode),
            function!("vfs_create_kretprobe", "vfs_create", KProbe, ReturnMode),
            function!("vfs_unlink_kprobe", "vfs_unlink", KProbe, Always),
        ],
    },
];

const FAMILIES: Families = Families {
    apps: "vfs",
    cgroup: "vfs (eBPF)",
    units: "calls/s",
};
const BYTES: Families = Families {
    units: "bytes/s",
    ..FAMILIES
};

/// The apps, cgroup and services charts (spec §2.3).
static PER_PROCESS_CHARTS: PerProcess = PerProcess {
    counters: COUNTERS.split_at(PER_PROCESS as usize).0,
    charts: &[
        incremental_chart!(
            UNLINK,
            ChartMode::Both,
            FAMILIES,
            "file_deleted",
            "Files deleted",
            "vfs_unlink",
            ("vfs_unlink", "delete"),
            20065,
            45500
        ),
        incremental_chart!(
            WRITE,
            ChartMode::Both,
            FAMILIES,
            "vfs_write_call",
            "Write to disk",
            "vfs_write",
            ("vfs_write", "write"),
            20066,
            45501
        ),
        incremental_chart!(
            WRITE_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "vfs_write_error",
            "Fails to write",
            "vfs_write_error",
            ("vfs_write", "write"),
            20067,
            45502
        ),
        incremental_chart!(
            READ,
            ChartMode::Both,
            FAMILIES,
            "vfs_read_call",
            "Read from disk",
            "vfs_read",
            ("vfs_read", "read"),
            20068,
            45503
        ),
        incremental_chart!(
            READ_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "vfs_read_error",
            "Fails to read",
            "vfs_read_error",
            ("vfs_read", "read"),
            20069,
            45504
        ),
        incremental_chart!(
            WRITE_BYTES,
            ChartMode::Both,
            BYTES,
            "vfs_write_bytes",
            "Bytes written on disk",
            "vfs_write_bytes",
            ("vfs_write", "write"),
            20070,
            45505
        ),
        incremental_chart!(
            READ_BYTES,
            ChartMode::Both,
            BYTES,
            "vfs_read_bytes",
            "Bytes read from disk",
            "vfs_read_bytes",
            ("vfs_read", "read"),
            20071,
            45506
        ),
        incremental_chart!(
            FSYNC,
            ChartMode::Both,
            FAMILIES,
            "vfs_fsync",
            "Calls for <code>vfs_fsync</code>",
            "vfs_fsync",
            ("vfs_fsync", "fsync"),
            20072,
            45507
        ),
        incremental_chart!(
            FSYNC_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "vfs_fsync_error",
            "Sync error",
            "vfs_fsync_error",
            ("vfs_fsync", "fsync"),
            20073,
            45508
        ),
        incremental_chart!(
            OPEN,
            ChartMode::Both,
            FAMILIES,
            "vfs_open",
            "Calls for <code>vfs_open</code>",
            "vfs_open",
            ("vfs_open", "open"),
            20074,
            45509
        ),
        incremental_chart!(
            OPEN_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "vfs_open_error",
            "Open error",
            "vfs_open_error",
            ("vfs_open", "open"),
            20075,
            45510
        ),
        incremental_chart!(
            CREATE,
            ChartMode::Both,
            FAMILIES,
            "vfs_create",
            "Calls for <code>vfs_create</code>",
            "vfs_create",
            ("vfs_create", "create"),
            20076,
            45511
        ),
        incremental_chart!(
            CREATE_ERROR,
            ChartMode::ReturnOnly,
            FAMILIES,
            "vfs_create_error",
            "Create error",
            "vfs_create_error",
            ("vfs_create", "create"),
            20077,
            45512
        ),
    ],
    module: "vfs",
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

pub static THREAD: StaticThread = StaticThread {
    name: ThreadName::Vfs,
    counters: COUNTERS,
    charts: CHARTS,
    variants: VARIANTS,
    collects: StaticThread::collects_all,
    per_process: Some(&PER_PROCESS_CHARTS),
};
