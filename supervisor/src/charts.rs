//! The charts a run draws: built from a thread's tables, the keys its
//! workers named and the grouping ([`layout`]); kept per thread with what
//! each dimension read at the last update ([`ChartSet`]), which is the one
//! place where counters become each update's values, for every output.

use std::collections::HashMap;
use std::io;

use workers::chart::{Algorithm, ChartDef, ChartKind, DimDef, DimValue, Look};
use workers::keyed::KeyedCharts;
use workers::{Thread, WorkerConfig};

use crate::grouping::{self, Grouping};
use crate::output::Output;
use crate::totals::{self, Totals};

/// A chart as a run draws it. Charts that exist per key (a disk, an IRQ, an
/// apps group) are built at run time, so everything here is owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// `type.id`.
    pub id: String,
    pub title: String,
    pub units: &'static str,
    pub family: String,
    pub context: &'static str,
    pub kind: ChartKind,
    pub priority: u32,
    pub module: &'static str,
    pub update_every: u32,
    pub dims: Vec<Dim>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dim {
    pub id: String,
    pub name: String,
    pub value: DimValue,
    /// Which counters `value` reads: 0 for the plain ones, else the key of
    /// keyed ones, or a target key (`totals::group_key`, `cgroup_key`).
    pub key: u64,
    pub multiplier: i64,
    pub divisor: i64,
    /// Sent with Netdata's `hidden` option (a hidden apps group).
    pub hidden: bool,
}

impl Chart {
    /// A chart that looks like `look`, in `family`.
    pub fn new(
        id: String,
        look: &Look,
        family: String,
        update_every: u32,
        dims: Vec<Dim>,
    ) -> Chart {
        Chart {
            id,
            title: look.title.to_owned(),
            units: look.units,
            family,
            context: look.context,
            kind: look.kind,
            priority: look.priority,
            module: look.module,
            update_every,
            dims,
        }
    }

    /// A table entry as drawn: every dimension `keep` accepts, reading the
    /// plain counters.
    pub fn of(def: &ChartDef, update_every: u32, keep: impl Fn(&DimDef) -> bool) -> Chart {
        let dims = def
            .dims
            .iter()
            .filter(|d| keep(d))
            .map(|d| Dim::of(d, 0))
            .collect();
        Chart::new(
            def.id.to_owned(),
            &def.look,
            def.look.family.to_owned(),
            update_every,
            dims,
        )
    }
}

impl Dim {
    /// A table's dimension reading the counters of `key`.
    pub fn of(def: &DimDef, key: u64) -> Dim {
        Dim {
            id: def.id.to_owned(),
            name: def.name.to_owned(),
            value: def.value,
            key,
            multiplier: def.multiplier,
            divisor: def.divisor,
            hidden: false,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.value.algorithm()
    }
}

/// One dimension's value at an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// What Netdata gets: the running total of an `incremental`
    /// dimension, the interval's value of an `absolute` one.
    pub value: i64,
    /// What happened in the interval: the events an `incremental`
    /// dimension counted since the last update (StatsD counters, rates);
    /// the value itself for an `absolute` one.
    pub events: i64,
}

/// Samples of values that are their own events (tests of outputs).
#[cfg(test)]
pub fn samples(values: impl IntoIterator<Item = i64>) -> Vec<Sample> {
    values
        .into_iter()
        .map(|value| Sample {
            value,
            events: value,
        })
        .collect()
}

/// The charts of `thread` under `cfg`: its table (error charts only in
/// return mode, the viewer's own chart only with the viewer on, dimensions
/// of counters it does not collect left out, charts left without
/// dimensions dropped), its keys' charts by the names its workers gave
/// them, its per-process charts as the grouping stands.
pub fn layout(
    thread: &Thread,
    cfg: &WorkerConfig,
    totals: &Totals,
    grouping: Option<&Grouping>,
) -> Vec<Chart> {
    let settings = cfg.settings();
    let keyed_map = thread.keyed_entries(cfg).is_some();
    let update_every = settings.update_every;
    let collected = |dim: &DimDef| dim.value.counters().all(|c| thread.collects(settings, c));
    let mut charts: Vec<Chart> = thread
        .charts
        .iter()
        .filter(|def| def.mode.drawn_in(settings.mode, keyed_map))
        .map(|def| Chart::of(def, update_every, collected))
        .collect();
    if let Some(keyed) = &thread.keyed {
        let named = totals
            .key_names()
            .iter()
            .filter(|(_, name)| !name.is_empty());
        match keyed.charts {
            KeyedCharts::PerKey { prefix, look, dims } => {
                charts.extend(named.map(|(&key, name)| {
                    let dims = dims.iter().map(|d| Dim::of(d, key)).collect();
                    Chart::new(
                        format!("{prefix}.{name}"),
                        &look,
                        name.clone(),
                        update_every,
                        dims,
                    )
                }))
            }
            KeyedCharts::Named {
                prefix,
                charts: each,
                switched,
            } => {
                for (&key, name) in named {
                    // Totals' key k + 1 is the map's key k (keyed.rs).
                    let index = key.saturating_sub(1);
                    if switched && !thread.collects(settings, index as u32) {
                        continue;
                    }
                    for (n, def) in each.iter().enumerate() {
                        let mut chart = Chart::new(
                            format!("{prefix}.{name}{}", def.id),
                            &def.look,
                            format!("{name}{}", def.look.family),
                            update_every,
                            def.dims.iter().map(|d| Dim::of(d, key)).collect(),
                        );
                        chart.title = format!("{name}{}", def.look.title);
                        chart.priority += (index as usize * each.len() + n) as u32;
                        charts.push(chart);
                    }
                }
            }
            KeyedCharts::Dims(each) => {
                let named: Vec<_> = named.collect();
                for def in each {
                    let Some(chart) = charts.iter_mut().find(|c| c.id == def.chart) else {
                        continue;
                    };
                    chart
                        .dims
                        .extend(named.iter().filter(|(&key, _)| def.takes(key)).map(
                            |(&key, name)| {
                                let id = format!("{name}{}", def.suffix);
                                Dim {
                                    name: id.clone(),
                                    id,
                                    value: def.value,
                                    key,
                                    multiplier: def.multiplier,
                                    divisor: 1,
                                    hidden: false,
                                }
                            },
                        ));
                }
            }
        }
    }
    // After the keys' dimensions: mdflush's chart has only those.
    charts.retain(|chart| !chart.dims.is_empty());
    if let Some(grouping) = grouping {
        charts.extend(grouping::charts::charts(thread, settings, grouping));
    }
    charts
}

/// What a dimension's counters read at the last update.
type Reference = [u64; 2];

/// What a dimension of a chart set carries from one update to the next.
#[derive(Debug, Clone, Copy, Default)]
struct DimState {
    reference: Reference,
    /// Never sent yet in this run: its first update is its zero (below).
    born: bool,
}

/// A thread's charts: what the output was told, and what each dimension
/// read at the last update. Defining, redefining and obsoleting happen here
/// only.
///
/// Born at zero: Netdata stores neither a new chart's first collection nor
/// a dimension's first value (an `incremental` one's is its baseline; spec
/// and DESIGN.md, "Netdata's rules"), so whatever a dimension carried when
/// it was born would never reach the agent's storage. A dimension new to
/// this run is therefore sent 0 first, and the events it had then come with
/// its next update: its reference stays where it was (its totals' start).
/// A dimension that comes back (its chart was obsolete: Netdata keeps a
/// chart's state) carries on from what it sent last.
#[derive(Debug, Default)]
pub struct ChartSet {
    charts: Vec<Chart>,
    /// By chart and dimension, as `charts`.
    states: Vec<Vec<DimState>>,
    /// Whether the output knows `charts` as they are.
    defined: bool,
    /// The states of dimensions that went away, by (chart id, dim id), with
    /// the key they read: a chart that comes back (a thread enabled again,
    /// a syscall switched on again) carries on.
    retired: HashMap<(String, String), (u64, DimState)>,
}

impl ChartSet {
    pub fn defined(&self) -> bool {
        self.defined
    }

    /// Takes `charts` as the thread's charts: once defined, charts that
    /// went away become obsolete and new or changed ones are defined
    /// (again).
    pub fn relayout(&mut self, charts: Vec<Chart>, output: &mut dyn Output) -> io::Result<()> {
        if self.defined {
            let gone = self.gone(&charts);
            if !gone.is_empty() {
                output.obsolete(&gone)?;
            }
            let changed: Vec<Chart> = charts
                .iter()
                .filter(|new| !self.charts.contains(new))
                .cloned()
                .collect();
            if !changed.is_empty() {
                output.define(&changed)?;
            }
            for chart in &changed {
                let left = self.left_dims(chart);
                if !left.is_empty() {
                    output.retire_dims(chart, &left)?;
                }
            }
        }
        self.take(charts);
        Ok(())
    }

    /// The dimensions the current version of `chart` has and it has not (a
    /// retired connection name, a service gone).
    fn left_dims(&self, chart: &Chart) -> Vec<Dim> {
        self.charts
            .iter()
            .filter(|old| old.id == chart.id)
            .flat_map(|old| &old.dims)
            .filter(|dim| !chart.dims.iter().any(|new| new.id == dim.id))
            .cloned()
            .collect()
    }

    /// Takes `charts`, to be defined all again with the next update (their
    /// update interval or dimensions may have changed); those that went
    /// away become obsolete now.
    pub fn redefine(&mut self, charts: Vec<Chart>, output: &mut dyn Output) -> io::Result<()> {
        let gone = self.gone(&charts);
        if self.defined && !gone.is_empty() {
            output.obsolete(&gone)?;
        }
        self.defined = false;
        self.take(charts);
        Ok(())
    }

    /// Every chart becomes obsolete (the thread was disabled).
    pub fn obsolete(&mut self, output: &mut dyn Output) -> io::Result<()> {
        if self.defined {
            output.obsolete(&self.charts)?;
            self.defined = false;
        }
        Ok(())
    }

    /// One update: the charts defined first if they are not, then each
    /// chart's samples from `totals`.
    pub fn update(&mut self, totals: &Totals, output: &mut dyn Output) -> io::Result<()> {
        if !self.defined {
            output.define(&self.charts)?;
            self.defined = true;
        }
        let mut samples = Vec::new();
        for (chart, states) in self.charts.iter().zip(&mut self.states) {
            samples.clear();
            samples.extend(
                chart
                    .dims
                    .iter()
                    .zip(states.iter_mut())
                    .map(|(dim, state)| {
                        if std::mem::take(&mut state.born) {
                            Sample::default()
                        } else {
                            sample(dim, totals, &mut state.reference)
                        }
                    }),
            );
            output.update(chart, &samples)?;
        }
        Ok(())
    }

    /// The charts of now that `charts` does not have.
    fn gone(&self, charts: &[Chart]) -> Vec<Chart> {
        self.charts
            .iter()
            .filter(|old| !charts.iter().any(|new| new.id == old.id))
            .cloned()
            .collect()
    }

    /// `charts` replace the current ones; each dimension keeps what it
    /// read before, by chart and dimension id; a new one is born.
    fn take(&mut self, charts: Vec<Chart>) {
        for (chart, states) in self.charts.iter().zip(&self.states) {
            for (dim, state) in chart.dims.iter().zip(states) {
                self.retired
                    .insert((chart.id.clone(), dim.id.clone()), (dim.key, *state));
            }
        }
        self.states = charts
            .iter()
            .map(|chart| {
                chart
                    .dims
                    .iter()
                    .map(|dim| {
                        self.retired
                            .remove(&(chart.id.clone(), dim.id.clone()))
                            .filter(|(key, _)| same_counters(*key, dim.key))
                            .map_or(
                                DimState {
                                    born: true,
                                    ..DimState::default()
                                },
                                |(_, state)| state,
                            )
                    })
                    .collect()
            })
            .collect();
        self.charts = charts;
    }

    /// Forgets what dimensions that went away read of keys `keep` refuses
    /// (cgroups that are gone, whose totals are forgotten too).
    pub fn forget_retired(&mut self, keep: impl Fn(u64) -> bool) {
        self.retired.retain(|_, (key, _)| keep(*key));
    }
}

/// Whether a dimension that read `old` and now reads `new` still reads the
/// same counters: the same key, or an apps group's, whose totals follow its
/// name when the groups are read again (a cgroup's or a disk's key is
/// another one's: a new cgroup or device of the same name).
fn same_counters(old: u64, new: u64) -> bool {
    old == new || (totals::is_group_key(old) && totals::is_group_key(new))
}

/// The percentage of `events` that were not `misses`, `idle` without
/// events; never below 0 (misses counted where no event was: pages added
/// by writes, d_lookup() misses outside path walks).
fn hit_ratio(events: i64, misses: i64, idle: i64) -> i64 {
    if events <= 0 {
        return idle;
    }
    (events - misses).clamp(0, events) * 100 / events
}

/// `dim`'s sample from the counters now and at its last update, which
/// `reference` then becomes.
fn sample(dim: &Dim, totals: &Totals, reference: &mut Reference) -> Sample {
    let mut counters = dim.value.counters();
    let a = counters.next().unwrap_or(0);
    let b = counters.next();
    let now = [
        totals.get(a, dim.key),
        b.map_or(0, |b| totals.get(b, dim.key)),
    ];
    let (value, events) = derive(dim.value, now, *reference);
    *reference = now;
    Sample { value, events }
}

/// A value's (value, events) from its counters now and at the last update.
fn derive(value: DimValue, now: Reference, reference: Reference) -> (i64, i64) {
    let delta = |i: usize| now[i].wrapping_sub(reference[i]) as i64;
    match value {
        DimValue::Total(_) => (now[0] as i64, delta(0)),
        DimValue::TotalDiv(_, divisor) => {
            let scaled = |total: u64| (total / divisor.max(1)) as i64;
            (scaled(now[0]), scaled(now[0]) - scaled(reference[0]))
        }
        DimValue::TotalSum(..) => (now[0].wrapping_add(now[1]) as i64, delta(0) + delta(1)),
        DimValue::Delta(_) => (delta(0), delta(0)),
        DimValue::DeltaDiff(..) => (delta(0) - delta(1), delta(0) - delta(1)),
        DimValue::DeltaSum(..) => (delta(0) + delta(1), delta(0) + delta(1)),
        DimValue::Hits(..) => {
            let hits = (delta(0) - delta(1)).max(0);
            (hits, hits)
        }
        DimValue::HitRatio(..) => {
            let ratio = hit_ratio(delta(0), delta(1), 100);
            (ratio, ratio)
        }
        DimValue::Current(_) => (now[0] as i64, now[0] as i64),
        DimValue::LookupHitRatio(..) => {
            let ratio = hit_ratio(delta(0), delta(1), 0);
            (ratio, ratio)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_accesses_that_added_no_page_and_the_ratio_their_share() {
        // 10 accesses, 4 pages added since the last update.
        let (now, before) = ([110, 54], [100, 50]);
        assert_eq!(derive(DimValue::Hits(0, 1), now, before), (6, 6));
        assert_eq!(derive(DimValue::HitRatio(0, 1), now, before), (60, 60));
        // More pages added than accessed (written ones): no hit, ratio 0.
        assert_eq!(derive(DimValue::Hits(0, 1), [101, 60], before), (0, 0));
        assert_eq!(derive(DimValue::HitRatio(0, 1), [101, 60], before), (0, 0));
        // No access: nothing missed.
        assert_eq!(derive(DimValue::HitRatio(0, 1), before, before), (100, 100));
        // 2 of 3 is 66 %, truncated as the original.
        assert_eq!(
            derive(DimValue::HitRatio(0, 1), [103, 51], before),
            (66, 66)
        );
    }

    #[test]
    fn a_lookup_hit_ratio_is_the_percentage_of_lookups_that_did_not_miss() {
        let ratio =
            |lookups, misses| derive(DimValue::LookupHitRatio(0, 1), [lookups, misses], [0, 0]).0;
        assert_eq!(ratio(14, 7), 50);
        assert_eq!(ratio(3, 0), 100);
        assert_eq!(ratio(3, 1), 66);
        // No look-ups: 0, as the original; more misses than look-ups
        // (d_lookup() misses outside path walks): never below 0.
        assert_eq!(ratio(0, 5), 0);
        assert_eq!(ratio(2, 5), 0);
    }
}
