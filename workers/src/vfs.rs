//! `vfs`: reads and writes (calls, bytes, failures), fsync, open, create and
//! unlink (spec §2.3, §3.4).
//!
//! The tracepoint variant counts the syscalls that reach each kernel
//! function; the trampoline and probe variants the kernel functions the
//! original hooks. Bytes are the bytes read or written (the original summed
//! log2 of the sizes, B-46), and each call is counted once (B-47, B-48).
//! README.md says exactly what each variant counts.

use bpf::vfs::counter::*;
use bpf::vfs::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartMode, Defaults, DimDef, Look};
use crate::contexts;
use crate::per_process::{Families, PerProcess};
use crate::thread::{Call, Hook, Needed, Side, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "vfs",
    module: "vfs",
};

const CHARTS: &[ChartDef] = &[
    DEFAULTS.chart(
        "filesystem.vfs_deleted_objects",
        "Remove files",
        2150,
        &[DimDef::total("vfs_unlink", "delete", UNLINK)],
    ),
    DEFAULTS.chart(
        "filesystem.vfs_io",
        "Calls to IO",
        2151,
        &[
            DimDef::total("vfs_read", "read", READ),
            DimDef::total("vfs_write", "write", WRITE),
        ],
    ),
    ChartDef {
        id: "filesystem.vfs_io_bytes",
        look: Look {
            units: "bytes/s",
            // The original's one vfs chart under module `filesystem`.
            module: "filesystem",
            ..DEFAULTS.look("Bytes written and read", 2152)
        },
        mode: ChartMode::Both,
        dims: &[
            DimDef::total("vfs_read", "read", READ_BYTES),
            DimDef::total("vfs_write", "write", WRITE_BYTES).scaled(-1, 1),
        ],
    },
    DEFAULTS.errors(
        "filesystem.vfs_io_error",
        "Fails to write or read",
        2153,
        &[
            DimDef::total("vfs_read", "read", READ_ERROR),
            DimDef::total("vfs_write", "write", WRITE_ERROR),
        ],
    ),
    DEFAULTS.chart(
        "filesystem.vfs_fsync",
        "Calls for <code>vfs_fsync</code>",
        2154,
        &[DimDef::total("vfs_fsync", "fsync", FSYNC)],
    ),
    DEFAULTS.errors(
        "filesystem.vfs_fsync_error",
        "Fails to synchronize",
        2155,
        &[DimDef::total("vfs_fsync", "fsync", FSYNC_ERROR)],
    ),
    DEFAULTS.chart(
        "filesystem.vfs_open",
        "Calls for <code>vfs_open</code>",
        2156,
        &[DimDef::total("vfs_open", "open", OPEN)],
    ),
    DEFAULTS.errors(
        "filesystem.vfs_open_error",
        "Fails to open a file",
        2157,
        &[DimDef::total("vfs_open", "open", OPEN_ERROR)],
    ),
    DEFAULTS.chart(
        "filesystem.vfs_create",
        "Calls for <code>vfs_create</code>",
        2158,
        &[DimDef::total("vfs_create", "create", CREATE)],
    ),
    DEFAULTS.errors(
        "filesystem.vfs_create_error",
        "Fails to create a file.",
        2159,
        &[DimDef::total("vfs_create", "create", CREATE_ERROR)],
    ),
];

/// Each function and the syscalls that reach it. Reads and writes are
/// counted on return, where their size is known.
const CALLS: &[Call] = &[
    Call::new("vfs_read", Side::Return, &["read", "pread64"], &["vfs_read"]),
    Call::new(
        "vfs_readv",
        Side::Return,
        &["readv", "preadv", "preadv2"],
        &["vfs_readv"],
    ),
    Call::new("vfs_write", Side::Return, &["write", "pwrite64"], &["vfs_write"]),
    Call::new(
        "vfs_writev",
        Side::Return,
        &["writev", "pwritev", "pwritev2"],
        &["vfs_writev"],
    ),
    Call::new(
        "vfs_open",
        Side::ByMode,
        &["open", "openat", "openat2", "creat", "open_by_handle_at"],
        &["vfs_open"],
    ),
    // unlinkat(2) has a program of its own: rmdir(2) is one of its forms.
    Call::new("vfs_unlink", Side::Entry, &["unlink"], &["vfs_unlink"]),
];

const FSYNC_SYSCALLS: &[&str] = &["fsync", "fdatasync"];
/// Whole-file calls of it are vfs_fsync()'s (vfs.bpf.c).
const FSYNC_FUNCTIONS: &[&str] = &["vfs_fsync_range"];
const CREATE_FUNCTIONS: &[&str] = &["vfs_create"];
const MKNOD_EXITS: Hook = Hook::Syscalls {
    exit: true,
    names: &["mknod", "mknodat"],
};

const fn sys_enter(syscall: &'static str) -> Hook {
    Hook::Tracepoint("syscalls", syscall)
}

const VARIANTS: &[Variant] = &[
    // fsync, unlinkat and mknod (creates) look at their arguments.
    Variant::with(
        VariantKind::Tracepoint,
        &[
            (
                "vfs_fsync_enter",
                Hook::Syscalls {
                    exit: false,
                    names: FSYNC_SYSCALLS,
                },
                Needed::EntryMode,
            ),
            (
                "vfs_fsync_exit",
                Hook::Syscalls {
                    exit: true,
                    names: FSYNC_SYSCALLS,
                },
                Needed::ReturnMode,
            ),
            (
                "vfs_enter_unlinkat",
                sys_enter("sys_enter_unlinkat"),
                Needed::Always,
            ),
            ("vfs_enter_mknod", sys_enter("sys_enter_mknod"), Needed::EntryMode),
            (
                "vfs_enter_mknodat",
                sys_enter("sys_enter_mknodat"),
                Needed::EntryMode,
            ),
            ("vfs_mark_mknod", sys_enter("sys_enter_mknod"), Needed::ReturnMode),
            (
                "vfs_mark_mknodat",
                sys_enter("sys_enter_mknodat"),
                Needed::ReturnMode,
            ),
            ("vfs_exit_mknod", MKNOD_EXITS, Needed::ReturnMode),
        ],
    ),
    Variant::with(
        VariantKind::Trampoline,
        &[
            (
                "vfs_fsync_fentry",
                Hook::FEntry(FSYNC_FUNCTIONS),
                Needed::EntryMode,
            ),
            (
                "vfs_fsync_fexit",
                Hook::FExit(FSYNC_FUNCTIONS),
                Needed::ReturnMode,
            ),
            (
                "vfs_create_fentry",
                Hook::FEntry(CREATE_FUNCTIONS),
                Needed::EntryMode,
            ),
            (
                "vfs_create_fexit",
                Hook::FExit(CREATE_FUNCTIONS),
                Needed::ReturnMode,
            ),
        ],
    ),
    Variant::with(
        VariantKind::Probe,
        &[
            (
                "vfs_fsync_kprobe",
                Hook::KProbe(FSYNC_FUNCTIONS),
                Needed::EntryMode,
            ),
            (
                "vfs_fsync_mark_kprobe",
                Hook::KProbe(FSYNC_FUNCTIONS),
                Needed::ReturnMode,
            ),
            (
                "vfs_fsync_kretprobe",
                Hook::KProbe(FSYNC_FUNCTIONS),
                Needed::ReturnMode,
            ),
            (
                "vfs_create_kprobe",
                Hook::KProbe(CREATE_FUNCTIONS),
                Needed::EntryMode,
            ),
            (
                "vfs_create_kretprobe",
                Hook::KProbe(CREATE_FUNCTIONS),
                Needed::ReturnMode,
            ),
        ],
    ),
];

const FAMILIES: Families = Families {
    apps: "vfs",
    cgroup: "vfs (eBPF)",
    units: "calls/s",
    module: "vfs",
};
const BYTES: Families = Families {
    units: "bytes/s",
    ..FAMILIES
};

/// The apps, cgroup and services charts (spec §2.3).
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        FAMILIES.totals(
            UNLINK,
            ChartMode::Both,
            "file_deleted",
            "Files deleted",
            contexts!("vfs_unlink"),
            ("vfs_unlink", "delete"),
            20065,
            45500,
        ),
        FAMILIES.totals(
            WRITE,
            ChartMode::Both,
            "vfs_write_call",
            "Write to disk",
            contexts!("vfs_write"),
            ("vfs_write", "write"),
            20066,
            45501,
        ),
        FAMILIES.totals(
            WRITE_ERROR,
            ChartMode::ReturnOnly,
            "vfs_write_error",
            "Fails to write",
            contexts!("vfs_write_error"),
            ("vfs_write", "write"),
            20067,
            45502,
        ),
        FAMILIES.totals(
            READ,
            ChartMode::Both,
            "vfs_read_call",
            "Read from disk",
            contexts!("vfs_read"),
            ("vfs_read", "read"),
            20068,
            45503,
        ),
        FAMILIES.totals(
            READ_ERROR,
            ChartMode::ReturnOnly,
            "vfs_read_error",
            "Fails to read",
            contexts!("vfs_read_error"),
            ("vfs_read", "read"),
            20069,
            45504,
        ),
        BYTES.totals(
            WRITE_BYTES,
            ChartMode::Both,
            "vfs_write_bytes",
            "Bytes written on disk",
            contexts!("vfs_write_bytes"),
            ("vfs_write", "write"),
            20070,
            45505,
        ),
        BYTES.totals(
            READ_BYTES,
            ChartMode::Both,
            "vfs_read_bytes",
            "Bytes read from disk",
            contexts!("vfs_read_bytes"),
            ("vfs_read", "read"),
            20071,
            45506,
        ),
        FAMILIES.totals(
            FSYNC,
            ChartMode::Both,
            "vfs_fsync",
            "Calls for <code>vfs_fsync</code>",
            contexts!("vfs_fsync"),
            ("vfs_fsync", "fsync"),
            20072,
            45507,
        ),
        FAMILIES.totals(
            FSYNC_ERROR,
            ChartMode::ReturnOnly,
            "vfs_fsync_error",
            "Sync error",
            contexts!("vfs_fsync_error"),
            ("vfs_fsync", "fsync"),
            20073,
            45508,
        ),
        FAMILIES.totals(
            OPEN,
            ChartMode::Both,
            "vfs_open",
            "Calls for <code>vfs_open</code>",
            contexts!("vfs_open"),
            ("vfs_open", "open"),
            20074,
            45509,
        ),
        FAMILIES.totals(
            OPEN_ERROR,
            ChartMode::ReturnOnly,
            "vfs_open_error",
            "Open error",
            contexts!("vfs_open_error"),
            ("vfs_open", "open"),
            20075,
            45510,
        ),
        FAMILIES.totals(
            CREATE,
            ChartMode::Both,
            "vfs_create",
            "Calls for <code>vfs_create</code>",
            contexts!("vfs_create"),
            ("vfs_create", "create"),
            20076,
            45511,
        ),
        FAMILIES.totals(
            CREATE_ERROR,
            ChartMode::ReturnOnly,
            "vfs_create_error",
            "Create error",
            contexts!("vfs_create_error"),
            ("vfs_create", "create"),
            20077,
            45512,
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

pub static THREAD: Thread = Thread {
    name: ThreadName::Vfs,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: CALLS,
    variants: VARIANTS,
    keys: &[],
};
