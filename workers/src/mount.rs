//! `mount`: calls of mount(2) and umount2(2), and their failures in return
//! mode (spec §2.5, §3.6).
//!
//! Unlike the original, `mount_points.error` exists only in return mode:
//! in entry mode nothing counts failures, and a chart of zeros would say
//! "no failures" (B-32).

use bpf::layout::mount::*;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::thread::{
    syscall_program, Hook, Needed, ProgramSpec, StaticThread, Variant, VariantKind,
    PID_FILTER_PROGRAMS,
};

const COUNTERS: &[&str] = &["mount", "mount_error", "umount", "umount_error"];
const _: () = assert!(COUNTERS.len() == bpf::layout::mount::COUNTERS as usize);

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
        family: "mount (eBPF)",
        context: "",
        kind: ChartKind::Line,
        priority,
        module: "mount",
        mode,
        dims,
    }
}

const CHARTS: &[ChartDef] = &[
    chart(
        "mount_points.call",
        "Calls to mount and umount syscalls",
        2190,
        ChartMode::Both,
        &[
            DimDef::new("mount", "mount", DimValue::Total(MOUNT)),
            DimDef::new("umount", "umount", DimValue::Total(UMOUNT)),
        ],
    ),
    chart(
        "mount_points.error",
        "Errors to mount and umount file systems",
        2191,
        ChartMode::ReturnOnly,
        &[
            DimDef::new("mount", "mount", DimValue::Total(MOUNT_ERROR)),
            DimDef::new("umount", "umount", DimValue::Total(UMOUNT_ERROR)),
        ],
    ),
];

/// The syscalls' x86-64 entry points, as the original hooks them.
const MOUNT_FUNCTIONS: &[&str] = &["__x64_sys_mount"];
const UMOUNT_FUNCTIONS: &[&str] = &["__x64_sys_umount"];

const VARIANTS: &[Variant] = &[
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::MOUNT,
        counter_map: "mount_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            syscall_program!("mount", enter, "mount", Needed::EntryMode),
            syscall_program!("mount", exit, "mount", Needed::ReturnMode),
            syscall_program!("mount", enter, "umount", Needed::EntryMode),
            syscall_program!("mount", exit, "umount", Needed::ReturnMode),
        ],
    },
    Variant {
        kind: VariantKind::Trampoline,
        object: bpf::MOUNT,
        counter_map: "mount_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::new(
                "mount_fentry",
                Hook::FEntry(MOUNT_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "mount_fexit",
                Hook::FExit(MOUNT_FUNCTIONS),
                Needed::ReturnMode,
            ),
            ProgramSpec::new(
                "umount_fentry",
                Hook::FEntry(UMOUNT_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "umount_fexit",
                Hook::FExit(UMOUNT_FUNCTIONS),
                Needed::ReturnMode,
            ),
        ],
    },
    Variant {
        kind: VariantKind::Probe,
        object: bpf::MOUNT,
        counter_map: "mount_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::new(
                "mount_kprobe",
                Hook::KProbe(MOUNT_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "mount_kretprobe",
                Hook::KProbe(MOUNT_FUNCTIONS),
                Needed::ReturnMode,
            ),
            ProgramSpec::new(
                "umount_kprobe",
                Hook::KProbe(UMOUNT_FUNCTIONS),
                Needed::EntryMode,
            ),
            ProgramSpec::new(
                "umount_kretprobe",
                Hook::KProbe(UMOUNT_FUNCTIONS),
                Needed::ReturnMode,
            ),
        ],
    },
];

pub static THREAD: StaticThread = StaticThread {
    name: ThreadName::Mount,
    counters: COUNTERS,
    charts: CHARTS,
    variants: VARIANTS,
    collects: StaticThread::collects_all,
};
