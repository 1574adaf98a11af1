//! `cachestat`: the page cache's hit ratio, dirtied pages, hits and misses
//! (spec §2.11, §3.11). The kernel counts pages accessed, pages added
//! (misses: read in, or created by a write) and pages dirtied; hits are
//! accesses that added no page, derived per interval by the supervisor
//! (`DimValue::Hits`, `DimValue::HitRatio`). README.md says where this
//! differs from the original's formula.

use bpf::cachestat::counter::*;
use bpf::cachestat::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, Defaults, DimDef, DimValue, Look};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "pages/s",
    family: "page_cache",
    module: "cachestat",
};

const HITS: DimValue = DimValue::Hits(ACCESSED, ADDED);
const RATIO: DimValue = DimValue::HitRatio(ACCESSED, ADDED);

/// A chart of the thread's family in `units`.
const fn chart(
    id: &'static str,
    title: &'static str,
    units: &'static str,
    priority: u32,
    dims: &'static [DimDef],
) -> ChartDef {
    let def = DEFAULTS.chart(id, title, priority, dims);
    ChartDef {
        look: Look { units, ..def.look },
        ..def
    }
}

const CHARTS: &[ChartDef] = &[
    chart(
        "mem.cachestat_ratio",
        "Hit ratio",
        "%",
        21100,
        &[DimDef::new("ratio", "ratio", RATIO)],
    ),
    chart(
        "mem.cachestat_dirties",
        "Number of dirty pages",
        "pages/s",
        21101,
        &[DimDef::total("dirty", "dirty", DIRTIED)],
    ),
    chart(
        "mem.cachestat_hits",
        "Number of accessed files",
        "hits/s",
        21102,
        &[DimDef::new("hit", "hit", HITS)],
    ),
    chart(
        "mem.cachestat_misses",
        "Files out of page cache",
        "misses/s",
        21103,
        &[DimDef::new("miss", "miss", DimValue::Delta(ADDED))],
    ),
];

/// The names of one per-process chart: its id, title, units, contexts,
/// the cgroup chart's dimension (id, name), how apps draws it, and its
/// apps and services priority and its cgroup one.
struct Names {
    id: &'static str,
    title: &'static str,
    units: &'static str,
    contexts: (&'static str, &'static str),
    dim: (&'static str, &'static str),
    apps: ChartKind,
    priorities: (u32, u32),
}

/// One per-process chart: `value` in every view, or with `None` the
/// running total of `counter` (incremental: dirtied pages, whose apps and
/// cgroup values the original differentiated twice, B-20). cgroup and
/// services charts are lines.
const fn per_process(counter: u32, value: Option<DimValue>, names: Names) -> ProcessChart {
    let look = Look {
        title: names.title,
        units: names.units,
        family: "page_cache",
        context: "",
        kind: ChartKind::Line,
        priority: names.priorities.0,
        module: "cachestat",
    };
    let view = View {
        id: names.id,
        look,
        incremental: value.is_none(),
    };
    ProcessChart {
        counter,
        plus: None,
        derived: value,
        multiplier: 1,
        divisor: 1,
        mode: ChartMode::Both,
        apps: View {
            look: Look {
                kind: names.apps,
                ..look
            },
            ..view
        },
        cgroup: (
            View {
                look: Look {
                    family: "page cache (eBPF)",
                    context: names.contexts.0,
                    priority: names.priorities.1,
                    ..look
                },
                ..view
            },
            names.dim,
        ),
        services: View {
            look: Look {
                context: names.contexts.1,
                ..look
            },
            ..view
        },
    }
}

macro_rules! names {
    ($id:literal, $title:literal, $units:literal, $dim:literal, $apps:expr, $priorities:expr) => {
        Names {
            id: concat!("cachestat_", $id),
            title: $title,
            units: $units,
            contexts: (
                concat!("cgroup.cachestat_", $id),
                concat!("services.cachestat_", $id),
            ),
            dim: ($dim, $dim),
            apps: $apps,
            priorities: $priorities,
        }
    };
}

/// The apps, cgroup and services charts (spec §2.11).
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        per_process(
            ACCESSED,
            Some(RATIO),
            names!("ratio", "Hit ratio", "%", "ratio", ChartKind::Line, (20090, 45200)),
        ),
        per_process(
            DIRTIED,
            None,
            names!(
                "dirties",
                "Number of dirty pages",
                "pages/s",
                "dirty",
                ChartKind::Stacked,
                (20091, 45201)
            ),
        ),
        per_process(
            ACCESSED,
            Some(HITS),
            names!(
                "hits",
                "Number of accessed files",
                "hits/s",
                "hit",
                ChartKind::Stacked,
                (20092, 45202)
            ),
        ),
        per_process(
            ADDED,
            Some(DimValue::Delta(ADDED)),
            names!(
                "misses",
                "Files out of page cache",
                "misses/s",
                "miss",
                ChartKind::Stacked,
                (20093, 45203)
            ),
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

/// BTF tracepoints: pages added and dirtied since 5.17 (folios), accesses
/// since 6.11.
const TRACEPOINT: &[(&str, Hook, Needed)] = &[
    (
        "cachestat_get_pages",
        Hook::BtfTracepoint("mm_filemap_get_pages"),
        Needed::Always,
    ),
    (
        "cachestat_map_pages",
        Hook::BtfTracepoint("mm_filemap_map_pages"),
        Needed::Always,
    ),
    (
        "cachestat_fault",
        Hook::BtfTracepoint("mm_filemap_fault"),
        Needed::Always,
    ),
    (
        "cachestat_added",
        Hook::BtfTracepoint("mm_filemap_add_to_page_cache"),
        Needed::Always,
    ),
    (
        "cachestat_dirtied",
        Hook::BtfTracepoint("writeback_dirty_folio"),
        Needed::Always,
    ),
];

/// The original's functions under their folio names (5.16+): the old
/// page names are compatibility wrappers there, which hooking would miss
/// every caller of the folio functions with.
const ACCESS: &[&str] = &["folio_mark_accessed"];
const ADD: &[&str] = &["filemap_add_folio"];
const DIRTY: &[&str] = &["__folio_mark_dirty"];

const TRAMPOLINE: &[(&str, Hook, Needed)] = &[
    ("cachestat_access_fentry", Hook::FEntry(ACCESS), Needed::Always),
    ("cachestat_add_fentry", Hook::FEntry(ADD), Needed::Always),
    ("cachestat_dirty_fentry", Hook::FEntry(DIRTY), Needed::Always),
];

const PROBE: &[(&str, Hook, Needed)] = &[
    ("cachestat_access_kprobe", Hook::KProbe(ACCESS), Needed::Always),
    ("cachestat_add_kprobe", Hook::KProbe(ADD), Needed::Always),
    ("cachestat_dirty_kprobe", Hook::KProbe(DIRTY), Needed::Always),
];

pub static THREAD: Thread = Thread {
    name: ThreadName::Cachestat,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: &[],
    variants: &[
        // A read's tracepoint fires once per batch of folios, the access
        // function once per folio: cheapest first.
        Variant::with(VariantKind::Tracepoint, TRACEPOINT),
        Variant::with(VariantKind::Trampoline, TRAMPOLINE),
        Variant::with(VariantKind::Probe, PROBE),
    ],
    keys: &[],
};
