//! `sync`: calls of fsync, fdatasync, msync, sync, syncfs and
//! sync_file_range (spec §2.4).
//!
//! Unlike the original, a chart whose two syscalls are not both enabled in
//! `sync.conf` keeps the enabled one's dimension instead of vanishing.

use bpf::layout::sync::*;
use conf::{Config, ThreadName};

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::thread::{Hook, Needed, ProgramSpec, Thread, Variant, VariantKind, PID_FILTER_PROGRAMS};

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

const fn program(name: &'static str, event: &'static str, counter: u32) -> ProgramSpec {
    ProgramSpec {
        name,
        hook: Hook::Tracepoint("syscalls", event),
        needed: Needed::Counter(counter),
    }
}

const VARIANTS: &[Variant] = &[Variant {
    kind: VariantKind::Tracepoint,
    object: bpf::SYNC,
    counter_map: "sync_counters",
    programs: &[
        PID_FILTER_PROGRAMS[0],
        PID_FILTER_PROGRAMS[1],
        program("sync_fsync", "sys_enter_fsync", FSYNC),
        program("sync_fdatasync", "sys_enter_fdatasync", FDATASYNC),
        program("sync_msync", "sys_enter_msync", MSYNC),
        program("sync_sync", "sys_enter_sync", SYNC),
        program("sync_syncfs", "sys_enter_syncfs", SYNCFS),
        program(
            "sync_sync_file_range",
            "sys_enter_sync_file_range",
            SYNC_FILE_RANGE,
        ),
    ],
}];

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
