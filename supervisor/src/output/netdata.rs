//! Netdata's plugins.d text protocol, as the original plugin writes it
//! (spec §1.2), and the plugin's own charts (spec §7).

use std::io::{self, Write};

use conf::ThreadName;
use workers::{ChartDef, ChartKind, ChartMode, DimDef, DimValue, Snapshot, VariantKind};

use super::{Chart, Output, Status, ThreadState, ThreadStatus};

pub struct Netdata<W: Write> {
    out: W,
    /// Whether to send the plugin's own charts (Netdata's
    /// `NETDATA_INTERNALS_MONITORING=NO` turns them off).
    self_charts: bool,
    /// The update interval the own charts were defined with.
    self_defined: Option<u32>,
}

impl<W: Write> Netdata<W> {
    pub fn new(out: W) -> Self {
        Netdata {
            out,
            self_charts: true,
            self_defined: None,
        }
    }

    /// Without the plugin's own charts.
    pub fn without_self_charts(mut self) -> Self {
        self.self_charts = false;
        self
    }
}

/// The original's names of the threads (`dc` for dcstat), in
/// [`ThreadName::ALL`] order: the dimensions of the own charts.
const THREAD_DIMS: [&str; 16] = {
    let mut names = [""; 16];
    let mut i = 0;
    while i < names.len() {
        names[i] = match ThreadName::ALL[i] {
            ThreadName::Dcstat => "dc",
            other => other.key(),
        };
        i += 1;
    }
    names
};

/// One dimension per thread; `incremental` for running totals.
const fn per_thread(incremental: bool) -> [DimDef; 16] {
    let mut dims = [DimDef::new("", "", DimValue::Current(0)); 16];
    let mut i = 0;
    while i < dims.len() {
        let value = if incremental {
            DimValue::Total(i as u32)
        } else {
            DimValue::Current(i as u32)
        };
        dims[i] = DimDef::new(THREAD_DIMS[i], THREAD_DIMS[i], value);
        i += 1;
    }
    dims
}

static LEVELS: [DimDef; 16] = per_thread(false);
static TOTALS: [DimDef; 16] = per_thread(true);
static LOAD_METHODS: [DimDef; 2] = [
    DimDef::new("legacy", "legacy", DimValue::Current(0)),
    DimDef::new("co-re", "co-re", DimValue::Current(1)),
];

const fn own(
    id: &'static str,
    title: &'static str,
    units: &'static str,
    priority: u32,
    dims: &'static [DimDef],
) -> ChartDef {
    ChartDef {
        id,
        title,
        units,
        family: "ebpf",
        context: "",
        kind: ChartKind::Line,
        priority,
        module: "process",
        mode: ChartMode::Both,
        dims,
    }
}

/// `netdata.ebpf_threads` and `netdata.ebpf_load_methods` are the
/// original's; the others are ours. Each chart comes with the counters its
/// dimensions index.
type OwnChart = (ChartDef, fn(&Status) -> Vec<u64>);
static OWN_CHARTS: [OwnChart; 7] = [
    (
        own(
            "netdata.ebpf_threads",
            "Threads running.",
            "boolean",
            140000,
            &LEVELS,
        ),
        |s| per_thread_values(s, |t| u64::from(t.state == ThreadState::Running)),
    ),
    (
        own(
            "netdata.ebpf_load_methods",
            "Load info.",
            "methods",
            140002,
            &LOAD_METHODS,
        ),
        load_methods,
    ),
    (
        own(
            "netdata.ebpf_restarts",
            "Worker restarts.",
            "restarts",
            140010,
            &TOTALS,
        ),
        |s| per_thread_values(s, |t| t.restarts),
    ),
    (
        own(
            "netdata.ebpf_disabled_threads",
            "Threads enabled but disabled by the supervisor.",
            "boolean",
            140011,
            &LEVELS,
        ),
        |s| per_thread_values(s, |t| u64::from(t.state == ThreadState::Disabled)),
    ),
    (
        own(
            "netdata.ebpf_dropped_frames",
            "Frames dropped on full rings.",
            "frames",
            140012,
            &TOTALS,
        ),
        |s| per_thread_values(s, |t| t.dropped_frames),
    ),
    (
        own(
            "netdata.ebpf_restart_gap",
            "Time without an attached worker after a worker died.",
            "milliseconds",
            140013,
            &TOTALS,
        ),
        |s| per_thread_values(s, |t| t.gap_ms),
    ),
    (
        own(
            "netdata.ebpf_attach_variant",
            "Attach variant in use (1 tracepoint, 2 trampoline, 3 probe).",
            "variant",
            140014,
            &LEVELS,
        ),
        |s| per_thread_values(s, |t| t.variant.map_or(0, variant_code)),
    ),
];

fn per_thread_values(status: &Status, value: fn(&ThreadStatus) -> u64) -> Vec<u64> {
    status.threads.iter().map(value).collect()
}

fn variant_code(kind: VariantKind) -> u64 {
    match kind {
        VariantKind::Tracepoint => 1,
        VariantKind::Trampoline => 2,
        VariantKind::Probe => 3,
    }
}

/// Running threads by load method: the original's `legacy` are kprobes;
/// every one of our objects is CO-RE, so `legacy` counts the probe variant,
/// which is what `--legacy` asks for.
fn load_methods(status: &Status) -> Vec<u64> {
    let running = status
        .threads
        .iter()
        .filter(|t| t.state == ThreadState::Running);
    let legacy = running
        .clone()
        .filter(|t| t.variant == Some(VariantKind::Probe))
        .count();
    vec![legacy as u64, (running.count() - legacy) as u64]
}

impl<W: Write> Netdata<W> {
    /// A CHART line up to the update interval, then `rest`.
    fn chart_line(&mut self, chart: &Chart, rest: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "CHART {} '' '{}' '{}' '{}' '{}' '{}' {} {} {rest}",
            chart.id,
            chart.title,
            chart.units,
            chart.family,
            chart.context,
            chart.kind.as_str(),
            chart.priority,
            chart.update_every,
        )
    }
}

impl<W: Write> Output for Netdata<W> {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            self.chart_line(chart, &format!("'' 'ebpf.plugin' '{}'", chart.module))?;
            for dim in &chart.dims {
                writeln!(
                    self.out,
                    "DIMENSION {} {} {} {} 1",
                    dim.id,
                    dim.name,
                    dim.value.algorithm().as_str(),
                    dim.multiplier
                )?;
            }
        }
        Ok(())
    }

    fn update(&mut self, chart: &Chart, values: &[i64]) -> io::Result<()> {
        writeln!(self.out, "BEGIN {}", chart.id)?;
        for (dim, value) in chart.dims.iter().zip(values) {
            writeln!(self.out, "SET {} = {value}", dim.id)?;
        }
        writeln!(self.out, "END")
    }

    fn obsolete(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            // The original's obsolete line has no plugin and module fields.
            self.chart_line(chart, "'obsolete'")?;
        }
        Ok(())
    }

    fn status(&mut self, status: &Status) -> io::Result<()> {
        if !self.self_charts {
            return Ok(());
        }
        let charts: Vec<(Chart, Vec<u64>)> = OWN_CHARTS
            .iter()
            .map(|(def, counters)| {
                (
                    def.instance(status.update_every, |_| true),
                    counters(status),
                )
            })
            .collect();
        if self.self_defined != Some(status.update_every) {
            let defs: Vec<Chart> = charts.iter().map(|(c, _)| c.clone()).collect();
            self.define(&defs)?;
            self.self_defined = Some(status.update_every);
        }
        for (chart, counters) in charts {
            let now = Snapshot {
                plain: counters,
                keyed: Default::default(),
            };
            self.update(&chart, &chart.values(&now, &now))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn disable(&mut self) -> io::Result<()> {
        writeln!(self.out, "DISABLE")?;
        self.out.flush()
    }

    fn exit(&mut self) -> io::Result<()> {
        writeln!(self.out, "EXIT")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workers::registry;

    #[test]
    fn writes_the_originals_lines() {
        let process = registry::find(conf::ThreadName::Process).unwrap();
        let def = &process.charts()[0];
        let chart = def.instance(5, |_| true);
        let mut out = Netdata::new(Vec::new());
        out.define(std::slice::from_ref(&chart)).unwrap();
        out.update(&chart, &[57, 40]).unwrap();
        out.exit().unwrap();
        assert_eq!(
            String::from_utf8(out.out).unwrap(),
            "CHART system.process_thread '' 'Start process' 'calls/s' 'processes' '' 'line' 21002 5 '' 'ebpf.plugin' 'process'\n\
             DIMENSION _do_fork process absolute 1 1\n\
             DIMENSION sys_clone thread absolute 1 1\n\
             BEGIN system.process_thread\n\
             SET _do_fork = 57\n\
             SET sys_clone = 40\n\
             END\n\
             EXIT\n"
        );
    }
}
