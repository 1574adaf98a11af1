//! `softirq`: time spent in each softirq vector (spec §2.9, §3.10).
//!
//! The kernel sums nanoseconds; the chart shows the running total in
//! milliseconds, scaled once (the original added whole microseconds per
//! event, so every softirq shorter than 1 µs counted nothing, then
//! truncated each CPU's sum to milliseconds).

use conf::ThreadName;

use crate::chart::{total_dims, ChartDef, ChartKind, ChartMode, DimDef};
use crate::thread::{Hook, Needed, ProgramSpec, StaticThread, Variant, VariantKind};

/// The kernel's vector names, in its numbering (`softirq_to_name`).
const COUNTERS: &[&str] = &[
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];
const _: () = assert!(COUNTERS.len() == bpf::layout::softirq::VECTORS as usize);

const NS_PER_MS: u64 = 1_000_000;

static DIMS: [DimDef; COUNTERS.len()] = total_dims(COUNTERS, NS_PER_MS);

static CHARTS: [ChartDef; 1] = [ChartDef {
    id: "system.softirq_latency",
    title: "Software IRQ latency",
    units: "milliseconds",
    family: "softirqs",
    context: "",
    kind: ChartKind::Stacked,
    priority: 951,
    module: "softirq",
    mode: ChartMode::Both,
    dims: &DIMS,
}];

const fn program(name: &'static str, event: &'static str) -> ProgramSpec {
    ProgramSpec::new(name, Hook::BtfTracepoint(event), Needed::Always)
}

const fn tracefs(name: &'static str, event: &'static str) -> ProgramSpec {
    ProgramSpec::new(name, Hook::Tracepoint("irq", event), Needed::Always)
}

const VARIANTS: &[Variant] = &[
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::SOFTIRQ,
        counter_map: "softirq_ns",
        programs: &[
            program("softirq_entry_btf", "softirq_entry"),
            program("softirq_exit_btf", "softirq_exit"),
        ],
    },
    // Kernels before 5.5 have no BTF tracepoints.
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::SOFTIRQ,
        counter_map: "softirq_ns",
        programs: &[
            tracefs("softirq_entry_tp", "softirq_entry"),
            tracefs("softirq_exit_tp", "softirq_exit"),
        ],
    },
];

pub static THREAD: StaticThread = StaticThread {
    name: ThreadName::Softirq,
    counters: COUNTERS,
    charts: &CHARTS,
    variants: VARIANTS,
    collects: StaticThread::collects_all,
};
