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

use std::collections::{BTreeMap, BTreeSet};

use aya::maps::{MapData, PerCpuArray, PerCpuHashMap};
use aya::Ebpf;
use bpf::layout::hardirq::*;
use conf::{Config, ThreadName};

use crate::chart::{total_dims, Chart, ChartDef, ChartKind, ChartMode, Dim, DimDef, DimValue};
use crate::loader::{take_map, AttachError};
use crate::thread::{
    CollectError, Collector, Hook, Needed, ProgramSpec, Thread, Variant, VariantKind, WorkerConfig,
};

pub struct Hardirq;

/// The system vectors' dimension ids, by their index in
/// `hardirq_vector_ns`, then the keyed counter of device IRQs.
const COUNTERS: &[&str] = &[
    "apic_thermal",
    "apic_threshold",
    "apic_error",
    "apic_deferred_error",
    "apic_spurious",
    "func_call",
    "func_call_single",
    "reschedule",
    "local_timer",
    "irq_work",
    "x86_platform_ipi",
    "irq",
];
/// The keyed counter: nanoseconds per IRQ number (key: the number + 1, as
/// key 0 is reserved and IRQ 0 exists).
const IRQ: u32 = VECTORS;
const _: () = assert!(COUNTERS.len() == VECTORS as usize + 1);

const NS_PER_MS: u64 = 1_000_000;

static VECTOR_DIMS: [DimDef; VECTORS as usize] = total_dims(COUNTERS, NS_PER_MS);

/// The chart as the original creates it; device IRQs are added per key.
static CHARTS: [ChartDef; 1] = [ChartDef {
    id: "system.hardirq_latency",
    title: "Hardware IRQ latency",
    units: "milliseconds",
    family: "interrupts",
    context: "",
    kind: ChartKind::Stacked,
    priority: 2900,
    module: "hardirq",
    mode: ChartMode::Both,
    dims: &VECTOR_DIMS,
}];

/// The programs of one variant: the device IRQ pair, then each x86 vector's
/// pair where the kernel has it.
macro_rules! programs {
    ($suffix:literal, $device:expr, $vector:expr) => {
        &[
            [
                ProgramSpec {
                    name: concat!("hardirq_entry", $suffix),
                    hook: $device("irq_handler_entry"),
                    needed: Needed::Always,
                },
                ProgramSpec {
                    name: concat!("hardirq_exit", $suffix),
                    hook: $device("irq_handler_exit"),
                    needed: Needed::Always,
                },
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
            ProgramSpec {
                name: concat!($event, "_entry", $suffix),
                hook: $vector(concat!($event, "_entry")),
                needed: Needed::WhereHookExists,
            },
            ProgramSpec {
                name: concat!($event, "_exit", $suffix),
                hook: $vector(concat!($event, "_exit")),
                needed: Needed::WhereHookExists,
            },
        ]
    };
}

const fn irq_tracepoint(event: &'static str) -> Hook {
    Hook::Tracepoint("irq", event)
}

const fn vector_tracepoint(event: &'static str) -> Hook {
    Hook::Tracepoint("irq_vectors", event)
}

const VARIANTS: &[Variant] = &[
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::HARDIRQ,
        counter_map: "hardirq_vector_ns",
        programs: programs!("_btf", Hook::BtfTracepoint, Hook::BtfTracepoint),
    },
    // Kernels before 5.5 have no BTF tracepoints.
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::HARDIRQ,
        counter_map: "hardirq_vector_ns",
        programs: programs!("_tp", irq_tracepoint, vector_tracepoint),
    },
];

impl Thread for Hardirq {
    fn name(&self) -> ThreadName {
        ThreadName::Hardirq
    }

    fn counters(&self) -> &'static [&'static str] {
        COUNTERS
    }

    fn charts(&self) -> &'static [ChartDef] {
        &CHARTS
    }

    fn variants(&self) -> &'static [Variant] {
        VARIANTS
    }

    /// The vectors' dimensions, then the IRQs' in IRQ order: Netdata shows
    /// dimensions in the order they first came, so as with the original
    /// (vectors defined with the chart, IRQs appended as they appear) the
    /// vectors come first.
    fn layout(&self, config: &Config, keys: &BTreeSet<(u32, u64)>) -> Vec<Chart> {
        let names = irq_names(&std::fs::read_to_string("/proc/interrupts").unwrap_or_default());
        let mut chart = CHARTS[0].instance(config.thread(self.name()).update_every, |_| true);
        let irqs = keys
            .iter()
            .filter(|(index, _)| *index == IRQ)
            .map(|&(_, key)| {
                let irq = key - 1;
                let name = names.get(&irq).cloned().unwrap_or_else(|| irq.to_string());
                Dim {
                    id: name.clone(),
                    name,
                    value: DimValue::TotalDiv(IRQ, NS_PER_MS),
                    key,
                    multiplier: 1,
                }
            });
        chart.dims.extend(irqs);
        vec![chart]
    }

    fn collector(
        &self,
        mut ebpf: Ebpf,
        variant: &Variant,
        _config: &WorkerConfig,
    ) -> Result<Box<dyn Collector>, AttachError> {
        Ok(Box::new(HardirqCollector {
            vectors: take_map(&mut ebpf, variant.counter_map)?,
            irqs: take_map(&mut ebpf, "hardirq_irq_ns")?,
            _ebpf: ebpf,
        }))
    }
}

/// `<irq>_<last word>` for every numbered line of `/proc/interrupts` (the
/// last word is the last handler's name, or the chip's description when
/// none is registered), `<irq>` for a line with nothing after the per-CPU
/// counts. Characters Netdata's parser would split on become `_`.
fn irq_names(interrupts: &str) -> BTreeMap<u64, String> {
    let mut lines = interrupts.lines();
    let cpus = lines
        .next()
        .map_or(0, |header| header.split_whitespace().count());
    lines
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let irq: u64 = words.next()?.strip_suffix(':')?.parse().ok()?;
            let name = match words.skip(cpus).last() {
                Some(last) => format!("{irq}_{}", last.replace(['=', '\'', '"'], "_")),
                None => irq.to_string(),
            };
            Some((irq, name))
        })
        .collect()
}

struct HardirqCollector {
    /// Owns the programs and links.
    _ebpf: Ebpf,
    vectors: PerCpuArray<MapData, u64>,
    irqs: PerCpuHashMap<MapData, u32, u64>,
}

impl Collector for HardirqCollector {
    fn collect(&mut self, records: &mut Vec<ipc::Record>) -> Result<(), CollectError> {
        let error = |map| move |source| CollectError::Map { map, source };
        for index in 0..VECTORS {
            let per_cpu = self
                .vectors
                .get(&index, 0)
                .map_err(error("hardirq_vector_ns"))?;
            records.push(ipc::Record::counter(index, per_cpu.iter().sum()));
        }
        for entry in self.irqs.iter() {
            let (irq, per_cpu) = entry.map_err(error("hardirq_irq_ns"))?;
            records.push(ipc::Record::keyed(
                IRQ,
                u64::from(irq) + 1,
                per_cpu.iter().sum(),
            ));
        }
        Ok(())
    }
}

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
    fn the_vectors_come_first_then_irqs_in_irq_order() {
        let keys = BTreeSet::from([(IRQ, 1000), (IRQ, 1), (2, 0)]);
        let charts = Hardirq.layout(&Config::default(), &keys);
        assert_eq!(charts.len(), 1);
        let dims: Vec<(&str, u64)> = charts[0]
            .dims
            .iter()
            .map(|d| (d.id.as_str(), d.key))
            .collect();
        let vectors: Vec<(&str, u64)> = COUNTERS[..VECTORS as usize]
            .iter()
            .map(|c| (*c, 0))
            .collect();
        assert_eq!(dims[..VECTORS as usize], vectors);
        let irqs = &dims[VECTORS as usize..];
        assert_eq!(irqs.len(), 2);
        assert!(irqs[0].0 == "0" || irqs[0].0.starts_with("0_"), "{irqs:?}");
        assert_eq!(irqs[0].1, 1);
        assert_eq!(irqs[1], ("999", 1000), "an IRQ without a line");
    }
}
