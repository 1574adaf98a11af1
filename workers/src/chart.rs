//! Chart tables: compile-time data mirroring `spec/netdata-ebpf.md`, and the
//! rule that turns a thread's cumulative counters into chart values.

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
            DimValue::Total(_) => Algorithm::Incremental,
            DimValue::Delta(_) | DimValue::DeltaDiff(..) | DimValue::Current(_) => {
                Algorithm::Absolute
            }
        }
    }

    /// Every counter the value reads.
    pub fn counters(self) -> impl Iterator<Item = u32> {
        let (a, b) = match self {
            DimValue::Total(c) | DimValue::Delta(c) | DimValue::Current(c) => (c, None),
            DimValue::DeltaDiff(a, b) => (a, Some(b)),
        };
        std::iter::once(a).chain(b)
    }

    /// The value to send, from the counters now and at the previous update.
    pub fn compute(self, now: &[u64], previous: &[u64]) -> i64 {
        let delta = |c: u32| now[c as usize].wrapping_sub(previous[c as usize]) as i64;
        match self {
            DimValue::Total(c) | DimValue::Current(c) => now[c as usize] as i64,
            DimValue::Delta(c) => delta(c),
            DimValue::DeltaDiff(a, b) => delta(a) - delta(b),
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
