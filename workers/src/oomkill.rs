//! `oomkill`: OOM kills per process, from `oom:mark_victim` (spec §2.10).
//! Only per-process charts, like the original: `apps.oomkills` (always on:
//! the original forces apps on for this thread), the cgroup `oomkills` and
//! `services.oomkills`.
//!
//! Differences on purpose (spec B-25): every chart gets a value every
//! interval (the original wrote only in intervals with a kill, leaving
//! gaps), the value is the number of kills in the interval (the original's
//! 0/1 hid a second kill), a kill of a process no group names goes to
//! `other` as a real dimension (the original SET `other` without defining
//! it), and `services.oomkills` is `absolute` like the others (the original
//! made its 0/1 values `incremental`).

use bpf::layout::oomkill::*;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, ProgramSpec, Thread, Variant, VariantKind, PID_FILTER_PROGRAMS};

pub struct Oomkill;

const TITLE: &str = "OOM kills. This chart is provided by eBPF plugin.";

const fn view(title: &'static str, context: &'static str, kind: ChartKind, priority: u32) -> View {
    View {
        id: "oomkills",
        title,
        units: "kills",
        family: "mem",
        context,
        kind,
        priority,
        incremental: false,
    }
}

const COUNTERS: &[&str] = &["kills", "tgid_added", "tgid_ended", "tgid_full"];
const _: () = assert!(COUNTERS.len() == bpf::layout::oomkill::COUNTERS as usize);

const PER_PROCESS_CHARTS: PerProcess = PerProcess {
    counters: COUNTERS.split_at(PER_PROCESS as usize).0,
    charts: &[ProcessChart {
        counter: KILLS,
        plus: None,
        mode: ChartMode::Both,
        apps: view("OOM kills", "", ChartKind::Stacked, 20020),
        cgroup: (
            view(TITLE, "cgroup.oomkills", ChartKind::Line, 45600),
            ("oomkill", "oomkill"),
        ),
        services: view(TITLE, "", ChartKind::Line, 20191),
    }],
    module: "oomkill",
    // Victims wait in the table only until the worker's next look.
    max_slots: Some(1024),
    apps_always: true,
    releases_follow_exits: None,
};

/// A variant: the victim's program `name` on `hook`, and the table's and
/// the filter's programs.
macro_rules! victim_variant {
    ($name:literal, $hook:expr) => {
        Variant {
            kind: VariantKind::Tracepoint,
            object: bpf::OOMKILL,
            counter_map: "oomkill_counters",
            programs: &[
                ProgramSpec::new($name, $hook, Needed::Always),
                ProgramSpec::tgid_values(VariantKind::Tracepoint)[0],
                ProgramSpec::tgid_values(VariantKind::Tracepoint)[1],
                PID_FILTER_PROGRAMS[0],
                PID_FILTER_PROGRAMS[1],
            ],
        }
    };
}

const VARIANTS: &[Variant] = &[
    // Kernels from 6.8 pass the victim's task: its TGID, name, parent and
    // cgroup are exact.
    victim_variant!("oomkill_victim", Hook::BtfTracepoint("mark_victim")),
    // Before 6.8 the tracepoint passes the victim's pid only.
    victim_variant!("oomkill_victim_pid", Hook::Tracepoint("oom", "mark_victim")),
];

impl Thread for Oomkill {
    fn name(&self) -> ThreadName {
        ThreadName::Oomkill
    }

    fn counters(&self) -> &'static [&'static str] {
        COUNTERS
    }

    fn charts(&self) -> &'static [ChartDef] {
        &[]
    }

    fn variants(&self) -> &'static [Variant] {
        VARIANTS
    }

    fn per_process(&self) -> Option<&'static PerProcess> {
        Some(&PER_PROCESS_CHARTS)
    }
}
