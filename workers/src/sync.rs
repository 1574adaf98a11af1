//! `sync`: calls of fsync, fdatasync, msync, sync, syncfs and
//! sync_file_range (spec §2.4).
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

use bpf::layout::sync::*;
use conf::{Config, ThreadName};

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::thread::{syscall_functions, Hook, Needed, ProgramSpec, Thread, Variant, VariantKind};

pub struct Sync;

const COUNTERS: &[&str] = &[
    "fsync",
    "fdatasync",
    "msync",
    "sync",
    "syncfs",
    "sync_file_range",
];
const _: () = assert!(COUNTERS.len() == bpf::layout::sync::COUNTERS as usize);

const fn chart(
    id: &'static str,
    title: &'static str,
    priority: u32,
    dims: &'static [DimDef],
) -> ChartDef {
    ChartDef {
        id,
        title,
        units: "calls/s",
        family: "synchronization (eBPF)",
        context: "",
        kind: ChartKind::Line,
        priority,
        module: "sync",
        mode: ChartMode::Both,
        dims,
    }
}

const fn dim(counter: u32) -> DimDef {
    let name = COUNTERS[counter as usize];
    DimDef::new(name, name, DimValue::Total(counter))
}

const CHARTS: &[ChartDef] = &[
    chart(
        "mem.file_sync",
        "Monitor calls for <code>fsync(2)</code> and <code>fdatasync(2)</code>.",
        21300,
        &[dim(FSYNC), dim(FDATASYNC)],
    ),
    chart(
        "mem.memory_map",
        "Monitor calls for <code>msync(2)</code>.",
        21301,
        &[dim(MSYNC)],
    ),
    chart(
        "mem.sync",
        "Monitor calls for <code>sync(2)</code> and <code>syncfs(2)</code>.",
        21302,
        &[dim(SYNC), dim(SYNCFS)],
    ),
    chart(
        "mem.file_segment",
        "Monitor calls for <code>sync_file_range(2)</code>.",
        21303,
        &[dim(SYNC_FILE_RANGE)],
    ),
];

const fn program(name: &'static str, hook: Hook, counter: u32) -> ProgramSpec {
    ProgramSpec {
        name,
        hook,
        needed: Needed::Counter(counter),
    }
}

/// Where each variant hooks a syscall.
macro_rules! fentry {
    ($syscall:literal) => {
        Hook::FEntry(syscall_functions!($syscall))
    };
}
macro_rules! sys_enter {
    ($syscall:literal) => {
        Hook::Tracepoint("syscalls", concat!("sys_enter_", $syscall))
    };
}
macro_rules! kprobe {
    ($syscall:literal) => {
        Hook::KProbe(syscall_functions!($syscall))
    };
}

/// A variant of `kind`: the `--pid` filter pair, then the program
/// `sync_<syscall><suffix>` of each syscall (`SYNC_PROGRAMS` in
/// sync.bpf.c), hooked where `$hook!` says.
macro_rules! variant {
    ($kind:ident, $suffix:literal, $hook:ident) => {
        Variant {
            kind: VariantKind::$kind,
            object: bpf::SYNC,
            counter_map: "sync_counters",
            programs: &[
                ProgramSpec::filter_fork(VariantKind::$kind),
                ProgramSpec::filter_free(VariantKind::$kind),
                program(concat!("sync_fsync", $suffix), $hook!("fsync"), FSYNC),
                program(
                    concat!("sync_fdatasync", $suffix),
                    $hook!("fdatasync"),
                    FDATASYNC,
                ),
                program(concat!("sync_msync", $suffix), $hook!("msync"), MSYNC),
                program(concat!("sync_sync", $suffix), $hook!("sync"), SYNC),
                program(concat!("sync_syncfs", $suffix), $hook!("syncfs"), SYNCFS),
                program(
                    concat!("sync_sync_file_range", $suffix),
                    $hook!("sync_file_range"),
                    SYNC_FILE_RANGE,
                ),
            ],
        }
    };
}

/// A trampoline only costs the traced syscalls; a syscall tracepoint makes
/// every syscall of every task take the kernel's slow path (DESIGN.md).
const VARIANTS: &[Variant] = &[
    variant!(Trampoline, "_fentry", fentry),
    variant!(Tracepoint, "", sys_enter),
    variant!(Probe, "_kprobe", kprobe),
];

impl Thread for Sync {
    fn name(&self) -> ThreadName {
        ThreadName::Sync
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

    fn collects(&self, config: &Config, counter: u32) -> bool {
        let enabled = &config.sync_syscalls;
        match counter {
            FSYNC => enabled.fsync,
            FDATASYNC => enabled.fdatasync,
            MSYNC => enabled.msync,
            SYNC => enabled.sync,
            SYNCFS => enabled.syncfs,
            SYNC_FILE_RANGE => enabled.sync_file_range,
            _ => false,
        }
    }
}
