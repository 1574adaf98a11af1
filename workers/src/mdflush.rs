//! `mdflush`: flushes md (software RAID) devices receive (spec §2.16,
//! §3.17), one dimension per md unit, `md<unit>`, counted on entry to
//! `md_flush_request()`, which every md personality calls for a bio with
//! REQ_PREFLUSH.
//!
//! No tracepoint fires there, so there is no tracepoint variant: on a
//! kernel without kprobes that refuses trampolines (the development
//! machine) the thread cannot run, and the worker and `check` say so. Where
//! md is a module (`md_mod`), it must be loaded before the thread starts
//! (the original exits likewise), and only the probe variant can attach:
//! the loader finds trampoline targets in the kernel's own BTF, and
//! `md_flush_request` is then in the module's.
//!
//! Differences from the original: dimensions are defined with the chart,
//! never inside BEGIN/END (B-27), and the chart only exists once an md
//! device has flushed (the original defined it with no dimension); the
//! trampoline variant counts as the probe does (the original's CO-RE path
//! never read its map, B-27).

use bpf::mdflush::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimValue, Look};
use crate::keyed::{KeyDim, KeySource, Keyed, KeyedCharts};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const CHART: &str = "mdstat.mdstat_flush";

/// The chart, its dimensions all per md unit.
const CHARTS: &[ChartDef] = &[ChartDef {
    id: CHART,
    look: Look {
        title: "MD flushes",
        units: "flushes",
        family: "flush (eBPF)",
        context: "md.flush",
        kind: ChartKind::Stacked,
        priority: 2101,
        module: "mdflush",
    },
    mode: ChartMode::Both,
    dims: &[],
}];

/// Flushes per md unit, a dimension each.
const KEYED: Keyed = Keyed {
    map: "mdflush_flushes",
    source: KeySource::Counters { names: unit_names },
    charts: KeyedCharts::Dims(&[KeyDim::each(CHART, DimValue::Total(0))]),
};

/// `md<unit>`, as the original names them; a unit keeps its dimension
/// after its array is stopped, as there.
fn unit_names(units: &[u32]) -> Vec<Option<String>> {
    units.iter().map(|unit| Some(format!("md{unit}"))).collect()
}

const MD_FLUSH_REQUEST: &[&str] = &["md_flush_request"];

pub static THREAD: Thread = Thread {
    name: ThreadName::Mdflush,
    object: OBJECT,
    charts: CHARTS,
    keyed: Some(KEYED),
    per_process: None,
    calls: &[],
    variants: &[
        Variant::with(
            VariantKind::Trampoline,
            &[(
                "mdflush_fentry",
                Hook::FEntry(MD_FLUSH_REQUEST),
                Needed::Always,
            )],
        ),
        Variant::with(
            VariantKind::Probe,
            &[(
                "mdflush_kprobe",
                Hook::KProbe(MD_FLUSH_REQUEST),
                Needed::Always,
            )],
        ),
    ],
    keys: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_units_as_the_original() {
        assert_eq!(
            unit_names(&[0, 127, 512]),
            [Some("md0".into()), Some("md127".into()), Some("md512".into())]
        );
    }
}
