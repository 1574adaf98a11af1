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

use bpf::oomkill::counter::*;
use bpf::oomkill::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartKind, ChartMode, Look};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const TITLE: &str = "OOM kills. This chart is provided by eBPF plugin.";

const fn view(title: &'static str, context: &'static str, kind: ChartKind, priority: u32) -> View {
    View {
        id: "oomkills",
        look: Look {
            title,
            units: "kills",
            family: "mem",
            context,
            kind,
            priority,
            module: "oomkill",
        },
        incremental: false,
    }
}

const PER_PROCESS: PerProcess = PerProcess {
    charts: &[ProcessChart {
        counter: KILLS,
        plus: None,
        misses: None,
        multiplier: 1,
        divisor: 1,
        mode: ChartMode::Both,
        apps: view("OOM kills", "", ChartKind::Stacked, 20020),
        cgroup: (
            view(TITLE, "cgroup.oomkills", ChartKind::Line, 45600),
            ("oomkill", "oomkill"),
        ),
        services: view(TITLE, "", ChartKind::Line, 20191),
    }],
    // Victims wait in the table only until the worker's next look.
    max_slots: Some(1024),
    apps_always: true,
    releases_follow_exits: None,
};

pub static THREAD: Thread = Thread {
    name: ThreadName::Oomkill,
    object: OBJECT,
    charts: &[],
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: &[],
    variants: &[
        // Kernels from 6.8 pass the victim's task: its TGID, name, parent
        // and cgroup are exact.
        Variant::with(
            VariantKind::Tracepoint,
            &[(
                "oomkill_victim",
                Hook::BtfTracepoint("mark_victim"),
                Needed::Always,
            )],
        ),
        // Before 6.8 the tracepoint passes the victim's pid only.
        Variant::with(
            VariantKind::Tracepoint,
            &[(
                "oomkill_victim_pid",
                Hook::Tracepoint("oom", "mark_victim"),
                Needed::Always,
            )],
        ),
    ],
    keys: &[],
};
