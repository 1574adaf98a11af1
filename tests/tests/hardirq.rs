//! `hardirq` on the real kernel. The number and length of hardware
//! interrupts cannot be made exact, but IPIs can be provoked: membarrier
//! (private expedited) interrupts every other CPU running one of our
//! threads, so the call-function vectors' time must grow. The chart must
//! be the original's, the eleven vectors and one dimension per IRQ named
//! as `/proc/interrupts` names it.

use std::collections::BTreeMap;
use std::time::Duration;

use tests::kernel::{assert_back_to, snapshot};
use tests::protocol::Stream;
use tests::provoke::interrupt_the_other_cpu;
use tests::{require_root, Collector};

const CHART: &str = "system.hardirq_latency";
const VECTORS: [&str; 11] = [
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
];

fn ipi_ms(stream: &Stream) -> i64 {
    ["func_call", "func_call_single"]
        .iter()
        .map(|d| stream.total(CHART, d).unwrap_or(0))
        .sum()
}

/// IRQ number to the dimension id the original gives it (`<irq>_<last
/// word of its /proc/interrupts line>`).
fn original_names() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string("/proc/interrupts").unwrap();
    let mut lines = text.lines();
    let cpus = lines.next().unwrap().split_whitespace().count();
    lines
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let irq = words[0].strip_suffix(':')?;
            irq.parse::<u32>().ok()?;
            let last = words.get(1 + cpus..)?.last()?;
            Some((irq.to_string(), format!("{irq}_{last}")))
        })
        .collect()
}

#[test]
fn ipis_grow_the_call_function_vectors_and_irqs_are_named_as_the_original() {
    if !require_root("hardirq") {
        return;
    }
    let objects = snapshot();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert!(
        cpus >= 2,
        "hardirq: provoking IPIs needs two CPUs, this machine has {cpus}"
    );
    let collector = Collector::start(&["--hardirq", "--update-every", "1"], &[]);
    collector.wait_attached(CHART);
    let updates = |s: &Stream| s.chart(CHART).map_or(0, |c| c.updates);
    let seen = updates(&collector.stream());
    assert!(collector.wait_until(Duration::from_secs(10), |s| updates(s) > seen));
    let before = ipi_ms(&collector.stream());
    let timer_before = collector.stream().total(CHART, "local_timer").unwrap();
    let calls = interrupt_the_other_cpu(Duration::from_secs(2));
    let grown =
        |s: &Stream| ipi_ms(s) > before && s.total(CHART, "local_timer").unwrap() > timer_before;
    assert!(
        collector.wait_until(Duration::from_secs(10), grown),
        "func_call + func_call_single stayed at {before} ms (or local_timer at \
         {timer_before} ms) over {calls} membarrier IPIs; stderr:\n{}",
        collector.stderr()
    );
    eprintln!(
        "{calls} membarrier IPIs: call-function vectors grew {} ms",
        ipi_ms(&collector.stream()) - before
    );
    let seen = updates(&collector.stream());
    assert!(collector.wait_until(Duration::from_secs(10), |s| updates(s) >= seen + 2));
    let (_, stream) = collector.terminate();

    let chart = stream.chart(CHART).unwrap();
    assert_eq!(
        chart.header(),
        (
            "Hardware IRQ latency",
            "milliseconds",
            "interrupts",
            "",
            "stacked",
            2900,
            1,
            "ebpf.plugin",
            "hardirq"
        )
    );
    // Netdata keeps dimensions in the order they first came; the eleven
    // vectors are defined with the chart, as the original does.
    assert_eq!(chart.dim_order[..VECTORS.len()], VECTORS);
    let names = original_names();
    for id in &chart.dim_order[VECTORS.len()..] {
        let irq = id.split('_').next().unwrap();
        let expected = names.get(irq).map_or(irq, String::as_str);
        assert_eq!(id, expected, "IRQ {irq}");
    }
    assert!(chart
        .dimensions()
        .iter()
        .all(|(id, name, algorithm, multiplier)| id == name
            && *algorithm == "incremental"
            && *multiplier == 1));
    // Each interval's milliseconds fit in the CPUs' time.
    for i in 1..chart.updates {
        let interval: i64 = chart
            .dims
            .values()
            .filter(|d| d.values.len() == chart.updates)
            .map(|d| d.values[i] - d.values[i - 1])
            .sum();
        assert!(
            interval <= 1500 * cpus as i64,
            "{interval} ms in one second"
        );
    }
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
    assert_back_to(&objects);
}
