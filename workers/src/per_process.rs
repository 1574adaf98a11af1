//! Per-process values, for the apps, cgroup and systemd-services charts: a
//! thread's declaration of them. The worker's reader of the kernel table is
//! [`crate::pid_table`]; the supervisor groups (DESIGN.md, "Data path").

use conf::ThreadSettings;

use crate::chart::{ChartKind, ChartMode, DimValue, Look};

/// How one per-process chart looks in one of its three views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The chart's id after the type (`apps.<id>`, `cgroup_<name>.<id>`,
    /// `services.<id>`).
    pub id: &'static str,
    pub look: Look,
    /// `incremental` on the running total, or `absolute` on the events of
    /// the interval.
    pub incremental: bool,
}

/// One per-process counter drawn per apps group, per cgroup and per
/// systemd service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessChart {
    /// Index of the thread's counter (one of the first
    /// `bpf::Object::per_process`, which the kernel keeps per process).
    pub counter: u32,
    /// A second counter added to it.
    pub plus: Option<u32>,
    /// A hit-ratio chart instead: the percentage of `counter`'s events of
    /// the interval that were not this counter's (`DimValue::HitRatio`).
    pub misses: Option<u32>,
    /// Netdata draws its dimensions' values times `multiplier` / `divisor`.
    pub multiplier: i64,
    pub divisor: i64,
    pub mode: ChartMode,
    /// `apps.<id>`: one dimension per apps group.
    pub apps: View,
    /// `cgroup_<name>.<id>`: one chart per cgroup, with this dimension
    /// (id, name).
    pub cgroup: (View, (&'static str, &'static str)),
    /// `services.<id>`: one dimension per systemd service.
    pub services: View,
}

impl ProcessChart {
    /// Its dimensions' value in `view`.
    pub fn value(&self, view: &View) -> DimValue {
        if let Some(misses) = self.misses {
            return DimValue::HitRatio(self.counter, misses);
        }
        match (view.incremental, self.plus) {
            (true, None) => DimValue::Total(self.counter),
            (true, Some(plus)) => DimValue::TotalSum(self.counter, plus),
            (false, None) => DimValue::Delta(self.counter),
            (false, Some(plus)) => DimValue::DeltaSum(self.counter, plus),
        }
    }
}

/// The families, units and module of a thread's per-process charts.
#[derive(Debug, Clone, Copy)]
pub struct Families {
    pub apps: &'static str,
    /// Of the cgroup and services charts.
    pub cgroup: &'static str,
    pub units: &'static str,
    pub module: &'static str,
}

impl Families {
    /// A per-process chart whose three views are running totals
    /// (`incremental`), as most of the original's are: apps and services
    /// stacked at `priority`, the cgroup chart a line at `cgroup_priority`
    /// with dimension `dim` (id, name); contexts `cgroup.<context>` and
    /// `services.<context>`.
    #[allow(clippy::too_many_arguments)]
    pub const fn totals(
        self,
        counter: u32,
        mode: ChartMode,
        id: &'static str,
        title: &'static str,
        contexts: (&'static str, &'static str),
        dim: (&'static str, &'static str),
        priority: u32,
        cgroup_priority: u32,
    ) -> ProcessChart {
        let look = Look {
            title,
            units: self.units,
            family: self.cgroup,
            context: contexts.1,
            kind: ChartKind::Stacked,
            priority,
            module: self.module,
        };
        let view = View {
            id,
            look,
            incremental: true,
        };
        ProcessChart {
            counter,
            plus: None,
            misses: None,
            multiplier: 1,
            divisor: 1,
            mode,
            apps: View {
                look: Look {
                    family: self.apps,
                    context: "",
                    ..look
                },
                ..view
            },
            cgroup: (
                View {
                    look: Look {
                        context: contexts.0,
                        kind: ChartKind::Line,
                        priority: cgroup_priority,
                        ..look
                    },
                    ..view
                },
                dim,
            ),
            services: view,
        }
    }
}

/// The `cgroup.<context>` and `services.<context>` contexts of a
/// per-process chart.
#[macro_export]
#[doc(hidden)]
macro_rules! contexts {
    ($context:literal) => {
        (concat!("cgroup.", $context), concat!("services.", $context))
    };
}

/// A thread's per-process counting: the charts, and how its table behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerProcess {
    pub charts: &'static [ProcessChart],
    /// The table never needs more entries than this, whatever `pid table
    /// size` says (oomkill's victims wait only until the next read).
    pub max_slots: Option<u32>,
    /// The apps charts are drawn even with `apps = no` (oomkill, as the
    /// original forces apps on for it).
    pub apps_always: bool,
    /// (exits, releases): an ended process's entry stays while its releases
    /// trail its exits, up to the reader's limit. Threads are freed in RCU
    /// callbacks, in no order and, with lazy RCU, up to 10 s apart, so a
    /// thread's release may come seconds after its leader's; without an
    /// entry it would not be counted.
    pub releases_follow_exits: Option<(u32, u32)>,
}

impl PerProcess {
    /// Whether the apps charts are drawn.
    pub fn apps(&self, settings: &ThreadSettings) -> bool {
        self.apps_always || settings.apps
    }

    /// Entries of the kernel table: 0 (off) unless apps or cgroup charts
    /// are drawn.
    pub fn slots(&self, settings: &ThreadSettings) -> u32 {
        if !(self.apps(settings) || settings.cgroups) {
            return 0;
        }
        let size = settings.pid_table_size;
        self.max_slots.map_or(size, |cap| size.min(cap))
    }
}
