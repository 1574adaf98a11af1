//! `sync`: calls of fsync, fdatasync, msync, sync, syncfs and
//! sync_file_range (spec §2.4), each only when enabled in `sync.conf`
//! `[syscalls]`.
//!
//! Unlike the original, a chart whose two syscalls are not both enabled in
//! `sync.conf` keeps the enabled one's dimension instead of vanishing.
//!
//! Variants: `trampoline` (fentry on each syscall's function,
//! `__x64_sys_fsync` on x86_64), `tracepoint` (`syscalls/sys_enter_fsync`),
//! `probe` (kprobes on the trampoline's functions). None counts calls of
//! 32-bit programs on a 64-bit kernel, except that trampoline and probe
//! count their sync(2): without arguments, its 32- and 64-bit entry points
//! are one function.

use bpf::sync::counter::*;
use bpf::sync::OBJECT;
use conf::{OwnKey, ThreadName};

use crate::chart::{ChartDef, Defaults, DimDef};
use crate::thread::{syscall_functions, Call, Side, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "synchronization (eBPF)",
    module: "sync",
};

/// A syscall's dimension, id and name its counter's.
const fn dim(counter: u32) -> DimDef {
    DimDef::named_total(&OBJECT, counter)
}

const CHARTS: &[ChartDef] = &[
    DEFAULTS.chart(
        "mem.file_sync",
        "Monitor calls for <code>fsync(2)</code> and <code>fdatasync(2)</code>.",
        21300,
        &[dim(FSYNC), dim(FDATASYNC)],
    ),
    DEFAULTS.chart(
        "mem.memory_map",
        "Monitor calls for <code>msync(2)</code>.",
        21301,
        &[dim(MSYNC)],
    ),
    DEFAULTS.chart(
        "mem.sync",
        "Monitor calls for <code>sync(2)</code> and <code>syncfs(2)</code>.",
        21302,
        &[dim(SYNC), dim(SYNCFS)],
    ),
    DEFAULTS.chart(
        "mem.file_segment",
        "Monitor calls for <code>sync_file_range(2)</code>.",
        21303,
        &[dim(SYNC_FILE_RANGE)],
    ),
];

/// A syscall counted on entry while `sync.conf` enables it.
macro_rules! syscall {
    ($name:literal, $counter:expr) => {
        Call::new(
            concat!("sync_", $name),
            Side::Entry,
            &[$name],
            syscall_functions!($name),
        )
        .switched($counter)
    };
}

const CALLS: &[Call] = &[
    syscall!("fsync", FSYNC),
    syscall!("fdatasync", FDATASYNC),
    syscall!("msync", MSYNC),
    syscall!("sync", SYNC),
    syscall!("syncfs", SYNCFS),
    syscall!("sync_file_range", SYNC_FILE_RANGE),
];

/// `sync.conf` `[syscalls]`.
const KEYS: &[OwnKey] = &[
    OwnKey::switch("syscalls", "fsync", FSYNC),
    OwnKey::switch("syscalls", "fdatasync", FDATASYNC),
    OwnKey::switch("syscalls", "msync", MSYNC),
    OwnKey::switch("syscalls", "sync", SYNC),
    OwnKey::switch("syscalls", "syncfs", SYNCFS),
    OwnKey::switch("syscalls", "sync_file_range", SYNC_FILE_RANGE),
];

pub static THREAD: Thread = Thread {
    name: ThreadName::Sync,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: None,
    calls: CALLS,
    // A trampoline only costs the traced syscalls; a syscall tracepoint
    // makes every syscall of every task take the kernel's slow path
    // (DESIGN.md).
    variants: &[
        Variant::new(VariantKind::Trampoline),
        Variant::new(VariantKind::Tracepoint),
        Variant::new(VariantKind::Probe),
    ],
    keys: KEYS,
};
