//! `mount`: calls of mount(2) and umount2(2), and their failures in return
//! mode (spec §2.5, §3.6).
//!
//! Unlike the original, `mount_points.error` exists only in return mode:
//! in entry mode nothing counts failures, and a chart of zeros would say
//! "no failures" (B-32).

use bpf::mount::counter::*;
use bpf::mount::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, Defaults, DimDef};
use crate::thread::{syscall_functions, Call, Side, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "mount (eBPF)",
    module: "mount",
};

const CHARTS: &[ChartDef] = &[
    DEFAULTS.chart(
        "mount_points.call",
        "Calls to mount and umount syscalls",
        2190,
        &[
            DimDef::total("mount", "mount", MOUNT),
            DimDef::total("umount", "umount", UMOUNT),
        ],
    ),
    DEFAULTS.errors(
        "mount_points.error",
        "Errors to mount and umount file systems",
        2191,
        &[
            DimDef::total("mount", "mount", MOUNT_ERROR),
            DimDef::total("umount", "umount", UMOUNT_ERROR),
        ],
    ),
];

/// The syscalls' entry points, as the original hooks them; the umount2(2)
/// syscall's kernel name is umount.
const CALLS: &[Call] = &[
    Call::new("mount", Side::ByMode, &["mount"], syscall_functions!("mount")),
    Call::new("umount", Side::ByMode, &["umount"], syscall_functions!("umount")),
];

pub static THREAD: Thread = Thread {
    name: ThreadName::Mount,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: None,
    calls: CALLS,
    variants: &[
        Variant::new(VariantKind::Tracepoint),
        Variant::new(VariantKind::Trampoline),
        Variant::new(VariantKind::Probe),
    ],
    keys: &[],
};
