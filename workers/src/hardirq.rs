//! `hardirq`: time spent in hardware interrupt handlers (spec §2.8, §3.9):
//! the eleven x86 system vectors, and one dimension per IRQ number seen,
//! named `<irq>_<name>` from `/proc/interrupts` as the original names them.
//!
//! Differences from the original: the kernel sums nanoseconds and the
//! chart shows the running total in milliseconds, scaled once (the original
//! added whole microseconds per handler, so every handler shorter than 1 µs
//! counted nothing); an IRQ whose `/proc/interrupts` line names no handler,
//! or that has no line any more, is named by its number alone (the
//! original's name was empty, B-26); dimensions are defined with the chart,
//! never inside BEGIN/END.

use std::collections::BTreeMap;

use bpf::hardirq::counter::*;
use bpf::hardirq::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue, Look};
use crate::keyed::{KeyDim, KeySource, Keyed, KeyedCharts};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const NS_PER_MS: u64 = 1_000_000;

/// A system vector's dimension, id and name its counter's.
const fn vector(counter: u32) -> DimDef {
    let name = OBJECT.counters[counter as usize];
    DimDef::new(name, name, DimValue::TotalDiv(counter, NS_PER_MS))
}

const CHART: &str = "system.hardirq_latency";

/// The chart as the original creates it: the vectors, in their order;
/// device IRQs are added per key, after them (Netdata shows dimensions in
/// the order they first came, and the original appends IRQs as they
/// appear).
const CHARTS: &[ChartDef] = &[ChartDef {
    id: CHART,
    look: Look {
        title: "Hardware IRQ latency",
        units: "milliseconds",
        family: "interrupts",
        context: "",
        kind: ChartKind::Stacked,
        priority: 2900,
        module: "hardirq",
    },
    mode: ChartMode::Both,
    dims: &[
        vector(APIC_THERMAL),
        vector(APIC_THRESHOLD),
        vector(APIC_ERROR),
        vector(APIC_DEFERRED_ERROR),
        vector(APIC_SPURIOUS),
        vector(FUNC_CALL),
        vector(FUNC_CALL_SINGLE),
        vector(RESCHEDULE),
        vector(LOCAL_TIMER),
        vector(IRQ_WORK),
        vector(X86_PLATFORM_IPI),
    ],
}];

/// Device IRQs: nanoseconds per IRQ number, a dimension each.
const KEYED: Keyed = Keyed {
    map: "hardirq_irq_ns",
    source: KeySource::Counters {
        names: irq_names_now,
    },
    charts: KeyedCharts::Dims(&[KeyDim::each(CHART, DimValue::TotalDiv(0, NS_PER_MS))]),
};

fn irq_names_now(irqs: &[u32]) -> Vec<Option<String>> {
    let names = irq_names(&std::fs::read_to_string("/proc/interrupts").unwrap_or_default());
    irqs.iter()
        .map(|irq| {
            Some(
                names
                    .get(irq)
                    .cloned()
                    .unwrap_or_else(|| irq.to_string()),
            )
        })
        .collect()
}

/// `<irq>_<last word>` for every numbered line of `/proc/interrupts` (the
/// last word is the last handler's name, or the chip's description when
/// none is registered), `<irq>` for a line with nothing after the per-CPU
/// counts. Characters Netdata's parser would split on become `_`.
fn irq_names(interrupts: &str) -> BTreeMap<u32, String> {
    let mut lines = interrupts.lines();
    let cpus = lines
        .next()
        .map_or(0, |header| header.split_whitespace().count());
    lines
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let irq: u32 = words.next()?.strip_suffix(':')?.parse().ok()?;
            let name = match words.skip(cpus).last() {
                Some(last) => format!("{irq}_{}", last.replace(['=', '\'', '"'], "_")),
                None => irq.to_string(),
            };
            Some((irq, name))
        })
        .collect()
}

/// The programs of one variant: the device IRQ pair, then each x86 vector's
/// pair where the kernel has it.
macro_rules! programs {
    ($suffix:literal, $device:expr, $vector:expr) => {
        [
            [
                (
                    concat!("hardirq_entry", $suffix),
                    $device("irq_handler_entry"),
                    Needed::Always,
                ),
                (
                    concat!("hardirq_exit", $suffix),
                    $device("irq_handler_exit"),
                    Needed::Always,
                ),
            ],
            programs!(@vector $suffix, $vector, "thermal_apic"),
            programs!(@vector $suffix, $vector, "threshold_apic"),
            programs!(@vector $suffix, $vector, "error_apic"),
            programs!(@vector $suffix, $vector, "deferred_error_apic"),
            programs!(@vector $suffix, $vector, "spurious_apic"),
            programs!(@vector $suffix, $vector, "call_function"),
            programs!(@vector $suffix, $vector, "call_function_single"),
            programs!(@vector $suffix, $vector, "reschedule"),
            programs!(@vector $suffix, $vector, "local_timer"),
            programs!(@vector $suffix, $vector, "irq_work"),
            programs!(@vector $suffix, $vector, "x86_platform_ipi"),
        ]
        .as_flattened()
    };
    (@vector $suffix:literal, $vector:expr, $event:literal) => {
        [
            (
                concat!($event, "_entry", $suffix),
                $vector(concat!($event, "_entry")),
                Needed::WhereHookExists,
            ),
            (
                concat!($event, "_exit", $suffix),
                $vector(concat!($event, "_exit")),
                Needed::WhereHookExists,
            ),
        ]
    };
}

const fn irq_tracepoint(event: &'static str) -> Hook {
    Hook::Tracepoint("irq", event)
}

const fn vector_tracepoint(event: &'static str) -> Hook {
    Hook::Tracepoint("irq_vectors", event)
}

pub static THREAD: Thread = Thread {
    name: ThreadName::Hardirq,
    object: OBJECT,
    charts: CHARTS,
    keyed: Some(KEYED),
    per_process: None,
    calls: &[],
    variants: &[
        Variant::with(
            VariantKind::Tracepoint,
            programs!("_btf", Hook::BtfTracepoint, Hook::BtfTracepoint),
        ),
        // Kernels before 5.5 have no BTF tracepoints.
        Variant::with(
            VariantKind::Tracepoint,
            programs!("_tp", irq_tracepoint, vector_tracepoint),
        ),
    ],
    keys: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPTS: &str = "           CPU0       CPU1       
  0:         44          0   IO-APIC   2-edge      timer
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
 36:          0     210981 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
 40:          3          4  PCI-MSI 1-edge      ehci_hcd:usb1, uhci_hcd:usb2
 41:          0          0
 42:          0          0  weird=chip
NMI:          0          0   Non-maskable interrupts
ERR:          0
";

    #[test]
    fn names_irqs_as_the_original_and_never_leaves_a_name_empty() {
        let names = irq_names(INTERRUPTS);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                (0, "0_timer".to_string()),
                (24, "24_ACPI:Ged".into()),
                (36, "36_virtio1-req.0".into()),
                (40, "40_uhci_hcd:usb2".into()),
                (41, "41".into()),
                (42, "42_weird_chip".into()),
            ]
        );
    }

    #[test]
    fn an_irq_without_a_line_is_named_by_its_number() {
        let names = irq_names_now(&[999_999]);
        assert_eq!(names, [Some("999999".to_owned())]);
    }
}
