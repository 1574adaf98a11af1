//! `swap`: pages read from and written to swap (spec §2.15, §3.15),
//! system-wide and per process, counted where the kernel counts `pswpin`
//! and `pswpout` (`/proc/vmstat`): the entry of `swap_read_folio()`
//! (`swap_readpage()` before 6.10) and of `__swap_writepage()`, which
//! issues a write (the original hooked `swap_writepage()`, which also sees
//! the folios zswap or 6.12's zero map keep and never writes). A large
//! folio counts its pages, as `/proc/vmstat` does.
//!
//! No tracepoint fires in either function, so there is no tracepoint
//! variant: on a kernel without kprobes that refuses trampolines (the
//! development machine) the thread cannot run, and the worker and `check`
//! say so. Both variants count on entry in either load mode: a return
//! tells nothing more.
//!
//! `mem.swapcalls` has v1.42's id and priority (v1.37–v1.41:
//! `system.swapcalls`, 202; B-41).

use bpf::swap::counter::*;
use bpf::swap::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartMode, Defaults, DimDef, Look};
use crate::contexts;
use crate::per_process::{Families, PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "swap",
    module: "swap",
};

const CHARTS: &[ChartDef] = &[DEFAULTS.chart(
    "mem.swapcalls",
    "Calls to access swap memory",
    1037,
    &[
        DimDef::total("read", "read", READ),
        DimDef::total("write", "write", WRITE),
    ],
)];

const FAMILIES: Families = Families {
    apps: "swap",
    cgroup: "swap (eBPF)",
    units: "calls/s",
    module: "swap",
};

/// `chart` with its services view titled `title`: the original's services
/// read chart says "Calls to", not "Calls to function".
const fn services_titled(chart: ProcessChart, title: &'static str) -> ProcessChart {
    ProcessChart {
        services: View {
            look: Look {
                title,
                ..chart.services.look
            },
            ..chart.services
        },
        ..chart
    }
}

/// The apps, cgroup and services charts (spec §2.15). Their priorities are
/// the original's, the same as shm's (B-19: harmless, kept so that
/// dashboards order them as before).
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        services_titled(
            FAMILIES.totals(
                READ,
                ChartMode::Both,
                "swap_read_call",
                "Calls to function <code>swap_readpage</code>.",
                contexts!("swap_read"),
                ("read", "read"),
                20191,
                45100,
            ),
            "Calls to <code>swap_readpage</code>.",
        ),
        FAMILIES.totals(
            WRITE,
            ChartMode::Both,
            "swap_write_call",
            "Calls to function <code>swap_writepage</code>.",
            contexts!("swap_write"),
            ("write", "write"),
            20192,
            45101,
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

/// Newest name first: `swap_read_folio()` since 6.10.
const READ_FUNCTIONS: &[&str] = &["swap_read_folio", "swap_readpage"];
const WRITE_FUNCTIONS: &[&str] = &["__swap_writepage"];

const VARIANTS: &[Variant] = &[
    Variant::with(
        VariantKind::Trampoline,
        &[
            (
                "swap_read_fentry",
                Hook::FEntry(READ_FUNCTIONS),
                Needed::Always,
            ),
            (
                "swap_write_fentry",
                Hook::FEntry(WRITE_FUNCTIONS),
                Needed::Always,
            ),
        ],
    ),
    Variant::with(
        VariantKind::Probe,
        &[
            (
                "swap_read_kprobe",
                Hook::KProbe(READ_FUNCTIONS),
                Needed::Always,
            ),
            (
                "swap_write_kprobe",
                Hook::KProbe(WRITE_FUNCTIONS),
                Needed::Always,
            ),
        ],
    ),
];

pub static THREAD: Thread = Thread {
    name: ThreadName::Swap,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: &[],
    variants: VARIANTS,
    keys: &[],
};
