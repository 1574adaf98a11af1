//! `softirq`: time spent in each softirq vector (spec §2.9, §3.10).
//!
//! The kernel sums nanoseconds; the chart shows the running total in
//! milliseconds, scaled once (the original added whole microseconds per
//! event, so every softirq shorter than 1 µs counted nothing, then
//! truncated each CPU's sum to milliseconds).

use bpf::softirq::counter::*;
use bpf::softirq::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue, Look};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const NS_PER_MS: u64 = 1_000_000;

/// A vector's dimension: the kernel's name for it (`softirq_to_name`).
const fn vector(name: &'static str, counter: u32) -> DimDef {
    DimDef::new(name, name, DimValue::TotalDiv(counter, NS_PER_MS))
}

const CHARTS: &[ChartDef] = &[ChartDef {
    id: "system.softirq_latency",
    look: Look {
        title: "Software IRQ latency",
        units: "milliseconds",
        family: "softirqs",
        context: "",
        kind: ChartKind::Stacked,
        priority: 951,
        module: "softirq",
    },
    mode: ChartMode::Both,
    dims: &[
        vector("HI", HI),
        vector("TIMER", TIMER),
        vector("NET_TX", NET_TX),
        vector("NET_RX", NET_RX),
        vector("BLOCK", BLOCK),
        vector("IRQ_POLL", IRQ_POLL),
        vector("TASKLET", TASKLET),
        vector("SCHED", SCHED),
        vector("HRTIMER", HRTIMER),
        vector("RCU", RCU),
    ],
}];

pub static THREAD: Thread = Thread {
    name: ThreadName::Softirq,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: None,
    calls: &[],
    variants: &[
        Variant::with(
            VariantKind::Tracepoint,
            &[
                (
                    "softirq_entry_btf",
                    Hook::BtfTracepoint("softirq_entry"),
                    Needed::Always,
                ),
                (
                    "softirq_exit_btf",
                    Hook::BtfTracepoint("softirq_exit"),
                    Needed::Always,
                ),
            ],
        ),
        // Kernels before 5.5 have no BTF tracepoints.
        Variant::with(
            VariantKind::Tracepoint,
            &[
                (
                    "softirq_entry_tp",
                    Hook::Tracepoint("irq", "softirq_entry"),
                    Needed::Always,
                ),
                (
                    "softirq_exit_tp",
                    Hook::Tracepoint("irq", "softirq_exit"),
                    Needed::Always,
                ),
            ],
        ),
    ],
    keys: &[],
};
