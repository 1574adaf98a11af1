//! Chart tables: compile-time data mirroring `spec/netdata-ebpf.md`, and
//! the rule that turns a thread's cumulative counters into a dimension's
//! value. The supervisor builds the charts a run draws from these (and
//! computes the values); a worker never looks at them.

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

/// When a chart exists: some only in `return` load mode (error charts),
/// some only while the thread's own keyed map is on (the network viewer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartMode {
    Both,
    ReturnOnly,
    WithKeyedMap,
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
    /// The sum of two cumulative counters.
    TotalSum(u32, u32),
    /// Events of two counters since the previous update.
    DeltaSum(u32, u32),
    /// Events of the first counter beyond those of the second since the
    /// previous update, never below 0: cachestat's hits, accesses that
    /// added no page.
    Hits(u32, u32),
    /// [`DimValue::Hits`] in percent of the first counter's events; 100
    /// when it has none (nothing was missed).
    HitRatio(u32, u32),
    /// The same percentage, but 0 when the first counter has no events: the
    /// original's directory-cache ratio (dcstat's look-ups and misses).
    LookupHitRatio(u32, u32),
    /// The counter's current value as it is: a level, not an event count
    /// (e.g. a boolean state).
    Current(u32),
}

impl DimValue {
    pub fn algorithm(self) -> Algorithm {
        match self {
            DimValue::Total(_) | DimValue::TotalDiv(..) | DimValue::TotalSum(..) => {
                Algorithm::Incremental
            }
            DimValue::Delta(_)
            | DimValue::DeltaDiff(..)
            | DimValue::DeltaSum(..)
            | DimValue::Hits(..)
            | DimValue::HitRatio(..)
            | DimValue::LookupHitRatio(..)
            | DimValue::Current(_) => Algorithm::Absolute,
        }
    }

    /// Every counter the value reads.
    pub fn counters(self) -> impl Iterator<Item = u32> {
        let (a, b) = match self {
            DimValue::Total(c)
            | DimValue::TotalDiv(c, _)
            | DimValue::Delta(c)
            | DimValue::Current(c) => (c, None),
            DimValue::DeltaDiff(a, b)
            | DimValue::TotalSum(a, b)
            | DimValue::DeltaSum(a, b)
            | DimValue::Hits(a, b)
            | DimValue::HitRatio(a, b)
            | DimValue::LookupHitRatio(a, b) => (a, Some(b)),
        };
        std::iter::once(a).chain(b)
    }
}

/// How a chart looks in Netdata: everything on its CHART line but its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub title: &'static str,
    pub units: &'static str,
    pub family: &'static str,
    pub context: &'static str,
    pub kind: ChartKind,
    pub priority: u32,
    /// Netdata's `module` field (the original's, e.g. `filedescriptor` for fd).
    pub module: &'static str,
}

/// What most charts of a thread share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub units: &'static str,
    pub family: &'static str,
    pub module: &'static str,
}

impl Defaults {
    /// A line chart with no context, in every load mode.
    pub const fn chart(
        self,
        id: &'static str,
        title: &'static str,
        priority: u32,
        dims: &'static [DimDef],
    ) -> ChartDef {
        ChartDef {
            id,
            look: self.look(title, priority),
            mode: ChartMode::Both,
            dims,
        }
    }

    /// [`Defaults::chart`], drawn only in return mode (failures).
    pub const fn errors(
        self,
        id: &'static str,
        title: &'static str,
        priority: u32,
        dims: &'static [DimDef],
    ) -> ChartDef {
        ChartDef {
            mode: ChartMode::ReturnOnly,
            ..self.chart(id, title, priority, dims)
        }
    }

    pub const fn look(self, title: &'static str, priority: u32) -> Look {
        Look {
            title,
            units: self.units,
            family: self.family,
            context: "",
            kind: ChartKind::Line,
            priority,
            module: self.module,
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
    /// And divides it by this (bytes drawn as kilobits: 8 / 1000).
    pub divisor: i64,
}

impl DimDef {
    /// The common case: multiplier 1.
    pub const fn new(id: &'static str, name: &'static str, value: DimValue) -> DimDef {
        DimDef {
            id,
            name,
            value,
            multiplier: 1,
            divisor: 1,
        }
    }

    /// Drawn as `multiplier` / `divisor` of its value.
    pub const fn scaled(self, multiplier: i64, divisor: i64) -> DimDef {
        DimDef {
            multiplier,
            divisor,
            ..self
        }
    }

    /// A running total of `counter`.
    pub const fn total(id: &'static str, name: &'static str, counter: u32) -> DimDef {
        DimDef::new(id, name, DimValue::Total(counter))
    }

    /// A running total of `object`'s counter `counter`, id and name the
    /// counter's.
    pub const fn named_total(object: &bpf::Object, counter: u32) -> DimDef {
        let name = object.counters[counter as usize];
        DimDef::total(name, name, counter)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartDef {
    /// `type.id`, e.g. `system.process_thread`.
    pub id: &'static str,
    pub look: Look,
    pub mode: ChartMode,
    pub dims: &'static [DimDef],
}

impl ChartMode {
    /// Whether a chart of this mode is drawn in load mode `mode`, with the
    /// thread's keyed map on or not.
    pub fn drawn_in(self, mode: conf::LoadMode, keyed_map: bool) -> bool {
        match self {
            ChartMode::Both => true,
            ChartMode::ReturnOnly => mode == conf::LoadMode::Return,
            ChartMode::WithKeyedMap => keyed_map,
        }
    }
}
