//! `dcstat`: the directory cache (spec §2.12, §3.12), system-wide and per
//! process, on the original's two functions: `lookup_fast()` (a path
//! walk's look-up of one component in the cache: `reference`) and the
//! return of `d_lookup()` (the cache look-up of open with `O_CREAT`,
//! unlink, mkdir, rename and filesystems' own look-ups: `slow`, and `miss`
//! when it found nothing).
//!
//! No tracepoint fires in either function or anywhere a dentry look-up's
//! result is known, so there is no tracepoint variant: on a kernel without
//! kprobes that refuses trampolines (the development machine) the thread
//! cannot run, and the worker and `check` say so.
//!
//! Differences on purpose: the hit ratio is the interval's (the original's
//! global one was since start, its apps ones over the groups' totals,
//! B-22), and `dc_reference`'s `slow` and `miss` are the interval's events
//! even when it had no `reference` (the original wrote 0 then, B-49).

use bpf::dcstat::counter::*;
use bpf::dcstat::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue, Look};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const FAMILY: &str = "directory cache (eBPF)";
const RATIO_TITLE: &str = "Percentage of files inside directory cache";

const fn look(title: &'static str, units: &'static str, kind: ChartKind, priority: u32) -> Look {
    Look {
        title,
        units,
        family: FAMILY,
        context: "",
        kind,
        priority,
        module: "dcstat",
    }
}

const CHARTS: &[ChartDef] = &[
    ChartDef {
        id: "filesystem.dc_hit_ratio",
        look: look(RATIO_TITLE, "%", ChartKind::Line, 21200),
        mode: ChartMode::Both,
        dims: &[DimDef::new(
            "ratio",
            "ratio",
            DimValue::LookupHitRatio(REFERENCE, MISS),
        )],
    },
    ChartDef {
        id: "filesystem.dc_reference",
        look: look(
            "Variables used to calculate hit ratio.",
            "files",
            ChartKind::Line,
            21201,
        ),
        mode: ChartMode::Both,
        dims: &[
            DimDef::new("reference", "reference", DimValue::Delta(REFERENCE)),
            DimDef::new("slow", "slow", DimValue::Delta(SLOW)),
            DimDef::new("miss", "miss", DimValue::Delta(MISS)),
        ],
    },
];

const fn view(
    id: &'static str,
    title: &'static str,
    units: &'static str,
    context: &'static str,
    kind: ChartKind,
    priority: u32,
) -> View {
    let look = look(title, units, kind, priority);
    View {
        id,
        look: Look { context, ..look },
        incremental: false,
    }
}

/// One per-process chart in its three views: apps (`$apps_kind`), the
/// cgroup chart and services (lines), contexts `cgroup.<context>` and
/// `services.<context>`, the cgroup dimension `$dim`.
macro_rules! per_process {
    ($counter:expr, $derived:expr, $id:literal, $title:expr, $units:literal, $context:literal,
     $apps_kind:expr, $apps:literal, $cgroup:literal, $services:literal, $dim:literal) => {
        ProcessChart {
            counter: $counter,
            plus: None,
            derived: $derived,
            multiplier: 1,
            divisor: 1,
            mode: ChartMode::Both,
            apps: view($id, $title, $units, "", $apps_kind, $apps),
            cgroup: (
                view(
                    $id,
                    $title,
                    $units,
                    concat!("cgroup.", $context),
                    ChartKind::Line,
                    $cgroup,
                ),
                ($dim, $dim),
            ),
            services: view(
                $id,
                $title,
                $units,
                concat!("services.", $context),
                ChartKind::Line,
                $services,
            ),
        }
    };
}

/// The apps, cgroup and services charts (spec §2.12), all `absolute` as
/// the original's: the interval's events, or its hit ratio. `dc_not_found`
/// keeps the original's services priority, the same as `dc_not_cache`'s
/// (B-23), so that dashboards order them as before.
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        per_process!(
            REFERENCE,
            Some(DimValue::LookupHitRatio(REFERENCE, MISS)),
            "dc_hit_ratio",
            RATIO_TITLE,
            "%",
            "dc_ratio",
            ChartKind::Line,
            20100,
            45700,
            21200,
            "ratio"
        ),
        per_process!(
            REFERENCE,
            None,
            "dc_reference",
            "Count file access",
            "files",
            "dc_reference",
            ChartKind::Stacked,
            20101,
            45701,
            21201,
            "reference"
        ),
        per_process!(
            SLOW,
            None,
            "dc_not_cache",
            "Files not present inside directory cache",
            "files",
            "dc_not_cache",
            ChartKind::Stacked,
            20102,
            45702,
            21202,
            "slow"
        ),
        per_process!(
            MISS,
            None,
            "dc_not_found",
            "Files not found",
            "files",
            "dc_not_found",
            ChartKind::Stacked,
            20103,
            45703,
            21202,
            "miss"
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

/// `lookup_fast()` is static and its callers are few: compilers may clone
/// it (`lookup_fast.constprop.0`, which the original's probe looked up in
/// kallsyms); `Hook::KProbe` attaches to such a clone when the plain name
/// is missing. A trampoline needs the plain name in BTF and kallsyms.
const LOOKUP_FAST: &[&str] = &["lookup_fast"];
const D_LOOKUP: &[&str] = &["d_lookup"];

const VARIANTS: &[Variant] = &[
    Variant::with(
        VariantKind::Trampoline,
        &[
            (
                "dc_lookup_fast_fentry",
                Hook::FEntry(LOOKUP_FAST),
                Needed::Always,
            ),
            ("dc_d_lookup_fexit", Hook::FExit(D_LOOKUP), Needed::Always),
        ],
    ),
    Variant::with(
        VariantKind::Probe,
        &[
            (
                "dc_lookup_fast_kprobe",
                Hook::KProbe(LOOKUP_FAST),
                Needed::Always,
            ),
            (
                "dc_d_lookup_kretprobe",
                Hook::KProbe(D_LOOKUP),
                Needed::Always,
            ),
        ],
    ),
];

pub static THREAD: Thread = Thread {
    name: ThreadName::Dcstat,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: &[],
    variants: VARIANTS,
    keys: &[],
};
