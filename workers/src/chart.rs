//! Chart tables: compile-time data mirroring `spec/netdata-ebpf.md`, the
//! rule that turns a thread's cumulative counters into chart values, and the
//! charts a run actually draws (table entries made concrete, or built at
//! run time per key).

use std::collections::BTreeMap;

/// How Netdata draws the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    Stacked,
}

impl ChartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Stacked => "stacked",
        }
    }
}

/// When a chart exists: some only in `return` load mode (error charts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartMode {
    Both,
    ReturnOnly,
}

/// Netdata's dimension algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Absolute,
    Incremental,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Absolute => "absolute",
            Algorithm::Incremental => "incremental",
        }
    }
}

/// How a dimension's value derives from the thread's counters (indices into
/// its counter table). Workers only ever report cumulative counters; the
/// supervisor computes these, so a dropped frame or a restarted worker never
/// loses or double-counts an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimValue {
    /// The cumulative counter itself; Netdata differentiates it.
    Total(u32),
    /// The cumulative counter divided by the second number (nanoseconds
    /// shown as milliseconds): the total is scaled, not each event, so the
    /// value is never more than one unit short, however many events.
    TotalDiv(u32, u64),
    /// Events since the previous update.
    Delta(u32),
    /// Events of the first counter minus events of the second since the
    /// previous update.
    DeltaDiff(u32, u32),
    /// The counter's current value as it is: a level, not an event count
    /// (e.g. a boolean state).
    Current(u32),
}

impl DimValue {
    pub fn algorithm(self) -> Algorithm {
        match self {
            DimValue::Total(_) | DimValue::TotalDiv(..) => Algorithm::Incremental,
            DimValue::Delta(_) | DimValue::DeltaDiff(..) | DimValue::Current(_) => {
                Algorithm::Absolute
            }
        }
    }

    /// Every counter the value reads.
    pub fn counters(self) -> impl Iterator<Item = u32> {
        let (a, b) = match self {
            DimValue::Total(c)
            | DimValue::TotalDiv(c, _)
            | DimValue::Delta(c)
            | DimValue::Current(c) => (c, None),
            DimValue::DeltaDiff(a, b) => (a, Some(b)),
        };
        std::iter::once(a).chain(b)
    }

    /// The value to send for the counters of `key` (0 for plain ones),
    /// from the counters now and at the previous update.
    pub fn compute(self, key: u64, now: &Snapshot, previous: &Snapshot) -> i64 {
        let delta = |c: u32| now.get(c, key).wrapping_sub(previous.get(c, key)) as i64;
        match self {
            DimValue::Total(c) | DimValue::Current(c) => now.get(c, key) as i64,
            DimValue::TotalDiv(c, divisor) => (now.get(c, key) / divisor.max(1)) as i64,
            DimValue::Delta(c) => delta(c),
            DimValue::DeltaDiff(a, b) => delta(a) - delta(b),
        }
    }
}

/// A thread's cumulative counters at one moment: the plain ones by index,
/// and the keyed ones (per disk, per IRQ, …) by index and key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub plain: Vec<u64>,
    pub keyed: BTreeMap<(u32, u64), u64>,
}

impl Snapshot {
    /// Key 0 is the plain counter; a counter never seen reads 0.
    pub fn get(&self, index: u32, key: u64) -> u64 {
        if key == 0 {
            self.plain.get(index as usize).copied().unwrap_or(0)
        } else {
            self.keyed.get(&(index, key)).copied().unwrap_or(0)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimDef {
    pub id: &'static str,
    pub name: &'static str,
    pub value: DimValue,
    /// Netdata multiplies the value by this: -1 draws a dimension below
    /// the axis (the original's `vfs_write` bytes, network "sent").
    pub multiplier: i64,
}

impl DimDef {
    /// The common case: multiplier 1.
    pub const fn new(id: &'static str, name: &'static str, value: DimValue) -> DimDef {
        DimDef {
            id,
            name,
            value,
            multiplier: 1,
        }
    }
}

/// One dimension per counter of `names`, id and name the counter's: its
/// total (`divisor` 1) or its total divided by `divisor`.
pub const fn total_dims<const N: usize>(names: &[&'static str], divisor: u64) -> [DimDef; N] {
    let mut dims = [DimDef::new("", "", DimValue::Total(0)); N];
    let mut i = 0;
    while i < N {
        let value = match divisor {
            1 => DimValue::Total(i as u32),
            _ => DimValue::TotalDiv(i as u32, divisor),
        };
        dims[i] = DimDef::new(names[i], names[i], value);
        i += 1;
    }
    dims
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartDef {
    /// `type.id`, e.g. `system.process_thread`.
    pub id: &'static str,
    pub title: &'static str,
    pub units: &'static str,
    pub family: &'static str,
    pub context: &'static str,
    pub kind: ChartKind,
    pub priority: u32,
    /// Netdata's `module` field (the original's, e.g. `filedescriptor` for fd).
    pub module: &'static str,
    pub mode: ChartMode,
    pub dims: &'static [DimDef],
}

impl ChartDef {
    /// This table entry as drawn: every dimension `keep` accepts, reading
    /// the plain counters.
    pub fn instance(&self, update_every: u32, keep: impl Fn(&DimDef) -> bool) -> Chart {
        Chart {
            id: self.id.to_string(),
            title: self.title.to_string(),
            units: self.units,
            family: self.family.to_string(),
            context: self.context,
            kind: self.kind,
            priority: self.priority,
            module: self.module,
            update_every,
            dims: self
                .dims
                .iter()
                .filter(|d| keep(d))
                .map(|d| d.instance(0))
                .collect(),
        }
    }
}

impl DimDef {
    /// This dimension reading the counters of `key`.
    pub fn instance(&self, key: u64) -> Dim {
        Dim {
            id: self.id.to_string(),
            name: self.name.to_string(),
            value: self.value,
            key,
            multiplier: self.multiplier,
        }
    }
}

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
    /// keyed ones.
    pub key: u64,
    pub multiplier: i64,
}

impl Chart {
    /// One value per dimension, from the counters now and at the previous
    /// update.
    pub fn values(&self, now: &Snapshot, previous: &Snapshot) -> Vec<i64> {
        self.dims
            .iter()
            .map(|dim| dim.value.compute(dim.key, now, previous))
            .collect()
    }
}
