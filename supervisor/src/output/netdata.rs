//! Netdata's plugins.d text protocol, as the original plugin writes it
//! (spec §1.2), and the plugin's own charts (spec §7).

use std::io::{self, Write};

use conf::ThreadName;
use tracing::warn;
use workers::{ChartDef, ChartKind, ChartMode, DimDef, DimValue, Look, VariantKind};

use super::names::{self, Ids};
use super::{Chart, Dim, Output, Sample, Status, ThreadState, ThreadStatus};
use crate::function::Reply;

pub struct Netdata<W: Write> {
    out: W,
    /// Whether to send the plugin's own charts (Netdata's
    /// `NETDATA_INTERNALS_MONITORING=NO` turns them off).
    self_charts: bool,
    /// The update interval the own charts were defined with.
    self_defined: Option<u32>,
    /// The ids charts and dimensions are sent with (`names`).
    ids: Ids,
}

impl<W: Write> Netdata<W> {
    pub fn new(out: W) -> Self {
        Netdata {
            out,
            self_charts: true,
            self_defined: None,
            ids: Ids::default(),
        }
    }

    /// Without the plugin's own charts.
    pub fn without_self_charts(mut self) -> Self {
        self.self_charts = false;
        self
    }

    /// What was written to.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
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

static STATSD_LINES: [DimDef; 2] = [
    DimDef::new("sent", "sent", DimValue::Total(0)),
    DimDef::new("dropped", "dropped", DimValue::Total(1)),
];

static LEVELS: [DimDef; 16] = per_thread(false);
static TOTALS: [DimDef; 16] = per_thread(true);

/// The threads the original has per-process tables for, and their
/// dimension names in its PID-table charts (spec §7).
const PID_TABLE_THREADS: [(ThreadName, &str); 9] = [
    (ThreadName::Process, "process"),
    (ThreadName::Socket, "socket"),
    (ThreadName::Cachestat, "cachestat"),
    (ThreadName::Dcstat, "dc"),
    (ThreadName::Swap, "swap"),
    (ThreadName::Vfs, "vfs"),
    (ThreadName::Fd, "fd"),
    (ThreadName::Oomkill, "oomkill"),
    (ThreadName::Shm, "shm"),
];

static PID_TABLE_TOTALS: [DimDef; 9] = {
    let mut dims = [DimDef::new("", "", DimValue::Total(0)); 9];
    let mut i = 0;
    while i < dims.len() {
        let name = PID_TABLE_THREADS[i].1;
        dims[i] = DimDef::new(name, name, DimValue::Total(i as u32));
        i += 1;
    }
    dims
};

/// One value per [`PID_TABLE_THREADS`] entry: the statistic of its table.
fn pid_table_values(status: &Status, stat: ipc::TableStat) -> Vec<u64> {
    PID_TABLE_THREADS
        .iter()
        .map(|(name, _)| {
            status
                .threads
                .iter()
                .find(|t| t.thread == *name)
                .and_then(|t| t.pid_table)
                .map_or(0, |table| table[stat as usize])
        })
        .collect()
}
static RELOADS: [DimDef; 1] = [DimDef::new(
    "reload_rejected",
    "reload_rejected",
    DimValue::Total(0),
)];

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
        look: Look {
            title,
            units,
            family: "ebpf",
            context: "",
            kind: ChartKind::Line,
            priority,
            module: "process",
        },
        mode: ChartMode::Both,
        dims,
    }
}

/// `netdata.ebpf_threads` and `netdata.ebpf_load_methods` are the
/// original's; the others are ours. Each chart comes with the counters its
/// dimensions index.
type OwnChart = (ChartDef, fn(&Status) -> Vec<u64>);
static OWN_CHARTS: [OwnChart; 14] = [
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
    (
        own(
            "netdata.ebpf_hash_tables_insert_pid_elements",
            "Elements inserted into PID table",
            "rows",
            140007,
            &PID_TABLE_TOTALS,
        ),
        |s| pid_table_values(s, ipc::TableStat::Inserted),
    ),
    (
        own(
            "netdata.ebpf_hash_tables_remove_pid_elements",
            "Elements removed from PID table",
            "rows",
            140008,
            &PID_TABLE_TOTALS,
        ),
        |s| pid_table_values(s, ipc::TableStat::Removed),
    ),
    (
        own(
            "netdata.ebpf_pid_table_full",
            "Events not counted per process: the PID table was full.",
            "events",
            140015,
            &PID_TABLE_TOTALS,
        ),
        |s| pid_table_values(s, ipc::TableStat::Full),
    ),
    (
        own(
            "netdata.ebpf_config_errors",
            "Configuration reloads rejected",
            "reloads",
            140016,
            &RELOADS,
        ),
        |s| vec![s.rejected_reloads],
    ),
    (
        own(
            "netdata.ebpf_kernel_cost",
            "Time the kernel spent in this plugin's BPF programs",
            "nanoseconds/s",
            140017,
            &TOTALS,
        ),
        |s| per_thread_values(s, |t| t.kernel_cost.map_or(0, |c| c.nanoseconds)),
    ),
    (
        own(
            "netdata.ebpf_kernel_runs",
            "Runs of this plugin's BPF programs",
            "runs/s",
            140018,
            &TOTALS,
        ),
        |s| per_thread_values(s, |t| t.kernel_cost.map_or(0, |c| c.runs)),
    ),
    (
        own(
            "netdata.ebpf_statsd_lines",
            "StatsD metric lines sent and dropped",
            "lines/s",
            140019,
            &STATSD_LINES,
        ),
        |s| {
            let delivery = s.statsd.unwrap_or_default();
            vec![delivery.sent, delivery.dropped]
        },
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
            self.ids.chart(&chart.id),
            names::name(&chart.title),
            names::name(chart.units),
            names::name(&chart.family),
            names::name(chart.context),
            chart.kind.as_str(),
            chart.priority,
            chart.update_every,
        )
    }

    /// The CHART line that defines `chart`, with the plugin and module.
    fn definition_line(&mut self, chart: &Chart) -> io::Result<()> {
        let module = names::name(chart.module);
        self.chart_line(chart, &format!("'' 'ebpf.plugin' '{module}'"))
    }

    /// `dim` of `chart`, with Netdata's `options` (each after a space).
    fn dimension_line(&mut self, chart: &Chart, dim: &Dim, options: &str) -> io::Result<()> {
        let id = self.ids.dim(&chart.id, &dim.id);
        // An empty name is `''`: Netdata then shows the id; or the text the
        // id was cleaned from, when it was.
        let name = if dim.name.is_empty() && id != dim.id.as_str() {
            &dim.id
        } else {
            &dim.name
        };
        writeln!(
            self.out,
            "DIMENSION {id} {} {} {} {}{options}",
            names::name_word(name),
            dim.value.algorithm().as_str(),
            dim.multiplier,
            dim.divisor,
        )
    }
}

impl<W: Write> Output for Netdata<W> {
    fn define(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            for collision in self.ids.define(chart) {
                warn!("{collision}");
            }
            self.definition_line(chart)?;
            for dim in &chart.dims {
                self.dimension_line(chart, dim, if dim.hidden { " hidden" } else { "" })?;
            }
        }
        Ok(())
    }

    fn retire_dims(&mut self, chart: &Chart, dims: &[Dim]) -> io::Result<()> {
        // DIMENSION applies to the chart of the last CHART line.
        self.definition_line(chart)?;
        for dim in dims {
            let options = if dim.hidden {
                " obsolete hidden"
            } else {
                " obsolete"
            };
            self.dimension_line(chart, dim, options)?;
            self.ids.forget_dim(&chart.id, &dim.id);
        }
        Ok(())
    }

    fn update(&mut self, chart: &Chart, samples: &[Sample]) -> io::Result<()> {
        writeln!(self.out, "BEGIN {}", self.ids.chart(&chart.id))?;
        for (dim, sample) in chart.dims.iter().zip(samples) {
            writeln!(
                self.out,
                "SET {} = {}",
                self.ids.dim(&chart.id, &dim.id),
                sample.value
            )?;
        }
        writeln!(self.out, "END")
    }

    fn obsolete(&mut self, charts: &[Chart]) -> io::Result<()> {
        for chart in charts {
            // The original's obsolete line has no plugin and module fields.
            self.chart_line(chart, "'obsolete'")?;
            self.ids.forget(&chart.id);
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
                    Chart::of(def, status.update_every, |_| true),
                    counters(status),
                )
            })
            .collect();
        // Born at zero, as the threads' charts (charts::ChartSet): what
        // they carry when first defined would never be stored.
        let born = self.self_defined.is_none();
        if self.self_defined != Some(status.update_every) {
            let defs: Vec<Chart> = charts.iter().map(|(c, _)| c.clone()).collect();
            self.define(&defs)?;
            self.self_defined = Some(status.update_every);
        }
        for (chart, counters) in charts {
            // Each dimension is its counter as it is: a level or a total.
            let samples: Vec<Sample> = chart
                .dims
                .iter()
                .map(|dim| {
                    let counter = dim.value.counters().next().unwrap_or(0);
                    let value = match born {
                        true => 0,
                        false => counters.get(counter as usize).copied().unwrap_or(0) as i64,
                    };
                    Sample {
                        value,
                        events: value,
                    }
                })
                .collect();
            self.update(&chart, &samples)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn register_function(&mut self, name: &str, timeout: u32, help: &str) -> io::Result<()> {
        writeln!(self.out, "FUNCTION GLOBAL \"{name}\" {timeout} \"{help}\"")
    }

    /// The body may hold any line but one starting with
    /// `FUNCTION_RESULT_END`, which ends it: ours are JSON or our help.
    fn function_result(&mut self, reply: &Reply) -> io::Result<()> {
        writeln!(
            self.out,
            "FUNCTION_RESULT_BEGIN \"{}\" {} \"{}\" {}",
            reply.transaction, reply.status, reply.content_type, reply.expires
        )?;
        write!(self.out, "{}", reply.body)?;
        writeln!(self.out, "\nFUNCTION_RESULT_END")
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
    use std::collections::{BTreeMap, BTreeSet};

    use ::tests::protocol::Stream;
    use conf::AppsGroups;
    use proptest::prelude::*;
    use workers::per_process::View;
    use workers::registry;

    use super::*;
    use crate::charts::{samples, Dim};

    #[test]
    fn writes_the_originals_lines() {
        let process = registry::find(conf::ThreadName::Process).unwrap();
        let chart = Chart::of(&process.charts[0], 5, |_| true);
        let mut out = Netdata::new(Vec::new());
        out.define(std::slice::from_ref(&chart)).unwrap();
        out.update(&chart, &samples([57, 40])).unwrap();
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

    /// A dimension that leaves a chart still drawn is sent obsolete, gets
    /// no more SETs, and is defined again, not obsolete, when it comes back.
    #[test]
    fn a_dimension_that_leaves_is_obsolete_until_it_comes_back() {
        let process = registry::find(conf::ThreadName::Process).unwrap();
        let view = &process.per_process.unwrap().charts[0].apps;
        let dims = |names: &[&str]| -> Vec<(String, String)> {
            names
                .iter()
                .map(|n| (n.to_string(), String::new()))
                .collect()
        };
        let chart = |names: &[&str]| drawn("apps.x".into(), view, "apps", &dims(names));
        let mut set = crate::charts::ChartSet::default();
        let mut stream = ::tests::protocol::Stream::new();
        let totals = crate::totals::Totals::new(process);
        for names in [&["a", "b"][..], &["a"], &["a", "b"]] {
            let mut out = Netdata::new(Vec::new()).without_self_charts();
            set.relayout(vec![chart(names)], &mut out).unwrap();
            set.update(&totals, &mut out).unwrap();
            let text = String::from_utf8(out.into_inner()).unwrap();
            text.lines().for_each(|line| stream.feed(line));
            if names.len() == 1 {
                // Still hidden (`drawn` hides key 1).
                assert!(
                    text.contains("DIMENSION b '' incremental 1 1 obsolete hidden\n"),
                    "{text}"
                );
            }
            let b = &stream.chart("apps.x").unwrap().dims["b"];
            assert_eq!(b.obsolete, names.len() == 1, "{text}");
        }
        assert_eq!(stream.errors, Vec::<String>::new());
    }

    /// A chart the way the supervisor draws a per-process view, a cgroup's
    /// or an IRQ's: `dims` (id, name) in order, each reading its own key.
    fn drawn(id: String, view: &View, family: &str, dims: &[(String, String)]) -> Chart {
        Chart {
            id,
            title: format!("{} {family}", view.look.title),
            units: view.look.units,
            family: family.to_owned(),
            context: view.look.context,
            kind: view.look.kind,
            priority: view.look.priority,
            module: "process",
            update_every: 1,
            dims: dims
                .iter()
                .enumerate()
                .map(|(key, (id, name))| Dim {
                    id: id.clone(),
                    name: name.clone(),
                    value: DimValue::Total(0),
                    key: key as u64,
                    multiplier: 1,
                    divisor: 1,
                    hidden: key % 3 == 1,
                })
                .collect(),
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Distinct texts, in order of first appearance.
    fn distinct(texts: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut seen = BTreeSet::new();
        texts
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .collect()
    }

    /// Every chart an apps group, cgroup, service or IRQ name reaches:
    /// `apps.*` (a dimension per group, named by its id), `cgroup_<name>.*`
    /// (one per cgroup, its name also the family), `services.*` (a
    /// dimension per service), `system.hardirq_latency` (a dimension per
    /// IRQ, id and name the IRQ's).
    fn hostile_charts(groups: &[String], cgroups: &[String], irqs: &[String]) -> Vec<Chart> {
        let process = registry::find(ThreadName::Process).unwrap();
        let per = process.per_process.unwrap();
        let mut charts = Vec::new();
        let none = |names: &[String]| -> Vec<(String, String)> {
            names.iter().map(|n| (n.clone(), String::new())).collect()
        };
        for def in per.charts {
            let (view, (dim_id, dim_name)) = &def.cgroup;
            charts.push(drawn(
                format!("apps.{}", def.apps.id),
                &def.apps,
                "apps",
                &none(groups),
            ));
            for cgroup in cgroups {
                let dims = [((*dim_id).to_owned(), (*dim_name).to_owned())];
                charts.push(drawn(
                    format!("cgroup_{cgroup}.{}", view.id),
                    view,
                    cgroup,
                    &dims,
                ));
            }
            let id = format!("services.{}", def.services.id);
            charts.push(drawn(id, &def.services, "services", &none(cgroups)));
        }
        let hardirq = registry::find(ThreadName::Hardirq).unwrap();
        let mut chart = Chart::of(&hardirq.charts[0], 1, |_| true);
        chart.dims.extend(irqs.iter().map(|irq| Dim {
            id: irq.clone(),
            name: irq.clone(),
            value: DimValue::Total(1),
            key: 1,
            multiplier: 1,
            divisor: 1,
            hidden: false,
        }));
        charts.push(chart);
        charts
    }

    /// The stream the Netdata output makes of `charts`: defined (the apps
    /// charts first with only their first dimension, as groups appear one
    /// by one), updated twice with a distinct value per dimension, the
    /// cgroup charts then obsoleted.
    fn stream_of(charts: &[Chart]) -> (Stream, String) {
        let mut out = Netdata::new(Vec::new()).without_self_charts();
        let first: Vec<Chart> = charts
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.dims.truncate(1);
                c
            })
            .collect();
        out.define(&first).unwrap();
        out.define(charts).unwrap();
        for round in 0..2 {
            for chart in charts {
                let values = (0..chart.dims.len() as i64).map(|v| v + round);
                out.update(chart, &samples(values)).unwrap();
            }
        }
        let cgroups: Vec<Chart> = charts
            .iter()
            .filter(|c| c.id.starts_with("cgroup_"))
            .cloned()
            .collect();
        out.obsolete(&cgroups).unwrap();
        out.exit().unwrap();
        let text = String::from_utf8(out.out).expect("the output is UTF-8");
        let mut stream = Stream::new();
        for line in text.split('\n') {
            stream.feed(line);
        }
        (stream, text)
    }

    /// A Function registered and answered as Netdata 1.37.1 reads them: the
    /// result whole between its begin and end lines, the table's one long
    /// JSON line included.
    #[test]
    fn functions_are_registered_and_answered_whole() {
        let mut out = Netdata::new(Vec::new()).without_self_charts();
        out.register_function("network-connections", 10, "Live connections")
            .unwrap();
        let rows = vec![ipc::ConnectionRow::default(); 200];
        let table = crate::function::table("t1", &rows, |_| Default::default(), 1);
        out.function_result(&table).unwrap();
        let error = crate::function::Reply::error("t2", 404, "No function 'x'.");
        out.function_result(&error).unwrap();
        out.exit().unwrap();
        let text = String::from_utf8(out.out).unwrap();
        let mut stream = Stream::new();
        for line in text.lines() {
            stream.feed(line);
        }
        assert_eq!(stream.errors, Vec::<String>::new(), "{text}");
        assert!(stream.exited);
        assert_eq!(stream.functions["network-connections"], 10);
        let [first, second] = &stream.results[..] else {
            panic!("{:?}", stream.results);
        };
        assert_eq!(
            (
                first.transaction.as_str(),
                first.status,
                first.content_type.as_str()
            ),
            ("t1", 200, "application/json")
        );
        assert_eq!(first.expires, table.expires);
        assert_eq!(first.body, format!("{}\n", table.body));
        assert!(first.body.len() > 15360);
        assert_eq!((second.transaction.as_str(), second.status), ("t2", 404));
        assert_eq!(second.body, format!("{}\n", error.body));
    }

    fn check_stream(charts: &[Chart]) -> Result<(), TestCaseError> {
        let (stream, text) = stream_of(charts);
        prop_assert_eq!(&stream.errors, &Vec::<String>::new(), "{}", text);
        prop_assert!(stream.exited);
        prop_assert!(!text.contains('\r'));
        // One line per protocol line: nothing broke a line.
        let dims: usize = charts.iter().map(|c| c.dims.len()).sum();
        let first: usize = charts.iter().map(|c| c.dims.len().min(1)).sum();
        let lines = 2 * charts.len() + first + dims + 2 * (2 * charts.len() + dims);
        let obsolete = charts
            .iter()
            .filter(|c| c.id.starts_with("cgroup_"))
            .count();
        prop_assert_eq!(text.lines().count(), lines + obsolete + 1);
        // Distinct charts and dimensions stay distinct, and each keeps its
        // values: every chart got its distinct values exactly.
        prop_assert_eq!(stream.charts.len(), charts.len());
        let mut want: BTreeMap<Vec<Vec<i64>>, usize> = BTreeMap::new();
        let mut got: BTreeMap<Vec<Vec<i64>>, usize> = BTreeMap::new();
        for chart in charts {
            let values = (0..chart.dims.len() as i64)
                .map(|v| vec![v, v + 1])
                .collect();
            *want.entry(values).or_default() += 1;
        }
        for (id, chart) in &stream.charts {
            prop_assert!(
                id.chars()
                    .all(|c| c.is_ascii_graphic() && !"='\"\\".contains(c)),
                "{}",
                id
            );
            for dim in chart.dims.keys() {
                prop_assert!(
                    dim.chars()
                        .all(|c| c.is_ascii_graphic() && !"='\"\\".contains(c)),
                    "{}",
                    dim
                );
            }
            let mut values: Vec<Vec<i64>> = chart.dims.values().map(|d| d.values.clone()).collect();
            values.sort();
            *got.entry(values).or_default() += 1;
        }
        prop_assert_eq!(got, want);
        Ok(())
    }

    fn names() -> impl Strategy<Value = Vec<String>> {
        let raw = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| text(&b)),
            any::<String>(),
            "[ a_b=.'\"\\\\\t\r\n\0-]{0,6}",
        ];
        prop::collection::vec(raw, 0..8).prop_map(distinct)
    }

    proptest! {
        /// Arbitrary group, cgroup and IRQ names never break the stream:
        /// no protocol error, every SET names a defined dimension, and
        /// distinct names stay distinct dimensions and charts.
        #[test]
        fn hostile_names_give_a_valid_stream(
            groups in names(),
            cgroups in names(),
            irqs in names(),
        ) {
            let mut cgroups = cgroups;
            // Two cgroups that are the same chart are one cgroup.
            cgroups.retain(|c| !c.is_empty());
            check_stream(&hostile_charts(&groups, &cgroups, &irqs))?;
        }

        /// The same for the groups an arbitrary `apps_groups.conf` gives.
        #[test]
        fn any_apps_groups_file_gives_a_valid_stream(
            file in prop::collection::vec(
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..30),
                    "[\"' a-c=:#\\\\-]{0,12}: [a-c*]{1,3}\n".prop_map(String::into_bytes),
                ],
                0..10,
            ),
        ) {
            let (apps, _) = AppsGroups::parse(std::path::Path::new("/apps_groups.conf"), &file.concat());
            let groups: Vec<String> = apps.groups.iter().map(|g| g.name.clone()).collect();
            check_stream(&hostile_charts(&groups, &[], &[]))?;
        }
    }

    #[test]
    fn a_cleaned_id_is_named_by_what_it_was_cleaned_from() {
        let charts = hostile_charts(&["my group".into(), "it's".into(), "ok".into()], &[], &[]);
        let (stream, _) = stream_of(&charts[..1]);
        let apps = stream.charts.values().next().unwrap();
        assert_eq!(
            apps.dimensions()
                .iter()
                .map(|(id, name, _, _)| (*id, *name))
                .collect::<Vec<_>>(),
            [("my_group", "my group"), ("it_s", "it\"s"), ("ok", "ok")]
        );
    }
}
