//! `softirq` on the real kernel. Time in a softirq cannot be made exact,
//! but its structure can be checked, and loopback TCP traffic (received in
//! NET_RX softirqs) must make NET_RX grow, by no more than the wall time
//! it took on every CPU; every interval's total must fit in the CPUs'
//! time (milliseconds, not microseconds). The interval comes from the
//! thread's own `softirq.conf`.

use std::time::Duration;

use tests::kernel::{assert_back_to, snapshot};
use tests::protocol::Stream;
use tests::provoke::loopback_traffic;
use tests::{require_root, Collector};

const CHART: &str = "system.softirq_latency";
const VECTORS: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

fn last(stream: &Stream, dim: &str) -> i64 {
    stream.total(CHART, dim).unwrap_or(0)
}

#[test]
fn loopback_traffic_grows_net_rx_and_the_chart_is_the_originals() {
    if !require_root("softirq") {
        return;
    }
    let objects = snapshot();
    // The thread's own file sets its interval.
    let collector = Collector::start(
        &["--softirq"],
        &[("ebpf.d/softirq.conf", "[global]\n    update every = 2\n")],
    );
    collector.wait_attached(CHART);
    let updates = |s: &Stream| s.chart(CHART).map_or(0, |c| c.updates);
    // A fresh update as the baseline.
    let seen = updates(&collector.stream());
    assert!(collector.wait_until(Duration::from_secs(10), |s| updates(s) > seen));
    let before = last(&collector.stream(), "NET_RX");
    let took = loopback_traffic(512 << 20);
    let cpus = std::thread::available_parallelism().unwrap().get() as i64;
    let grown = |s: &Stream| last(s, "NET_RX") > before;
    assert!(
        collector.wait_until(Duration::from_secs(10), grown),
        "NET_RX stayed at {before} ms over {took:?} of loopback traffic; stderr:\n{}",
        collector.stderr()
    );
    // Two more updates, then the whole stream.
    let seen = updates(&collector.stream());
    assert!(collector.wait_until(Duration::from_secs(10), |s| updates(s) >= seen + 2));
    let (_, stream) = collector.terminate();
    let growth = last(&stream, "NET_RX") - before;
    eprintln!("NET_RX grew {growth} ms while 512 MiB went over loopback in {took:?}");
    // Up to two updates before and after the traffic were counted too.
    let bound = (took.as_millis() as i64 + 8000) * cpus;
    assert!(
        growth <= bound,
        "NET_RX grew {growth} ms in {took:?} on {cpus} CPUs"
    );

    let chart = stream.chart(CHART).unwrap();
    assert_eq!(
        chart.header(),
        (
            "Software IRQ latency",
            "milliseconds",
            "softirqs",
            "",
            "stacked",
            951,
            2,
            "ebpf.plugin",
            "softirq"
        )
    );
    let dims: Vec<_> = VECTORS.iter().map(|v| (*v, *v, "incremental", 1)).collect();
    assert_eq!(chart.dimensions(), dims);
    // Each interval's milliseconds, summed over the vectors, fit in the
    // CPUs' time (2000 ms per CPU, and some for an interval's jitter).
    let values: Vec<&Vec<i64>> = VECTORS.iter().map(|v| &chart.dims[*v].values).collect();
    for i in 1..chart.updates {
        let interval: i64 = values.iter().map(|v| v[i] - v[i - 1]).sum();
        assert!(
            interval <= 3000 * cpus,
            "{interval} ms of softirqs in two seconds on {cpus} CPUs"
        );
    }
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
    assert_back_to(&objects);
}
