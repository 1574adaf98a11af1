//! The `statsd` output against an in-process StatsD server: the workload's
//! exact counts arrive as counters and gauges (alone, and next to the
//! Netdata protocol), datagrams respect the MTU, and a TCP server that
//! goes away and comes back costs only the metrics sent meanwhile.

use std::time::Duration;

use conf::ThreadName;
use tests::expected::{process_totals, sync_totals};
use tests::protocol::Stream;
use tests::statsd::{Protocol, Received, Server};
use tests::{require_root, Collector, Workload};
use workers::{registry, Algorithm};

const N: i64 = 20;

/// A workload held at its start line, and a collector that watches it
/// and sends to `server`, with `args` added, as host `t-1` (metric names
/// `<prefix>.t_1.<chart>.<dimension>`).
fn watch(server: &Server, scenario: &str, args: &[&str]) -> (Workload, Collector) {
    let workload = Workload::spawn(scenario, N as usize);
    let pid = workload.pid().to_string();
    let destination = server.destination();
    let mut all = vec!["--statsd", &destination, "--pid", &pid];
    all.extend_from_slice(args);
    // The threads' own charts only (without a file the original's code
    // default turns apps on).
    let collector = Collector::start(
        &all,
        &[(
            "ebpf.d.conf",
            "[global]\n    apps = no\n[statsd]\n    host name = t-1\n",
        )],
    );
    (workload, collector)
}

/// The metric of a chart's dimension, and whether it is a counter.
fn metric(prefix: &str, chart: &str, dim_id: &str) -> (String, bool) {
    let def = registry::all()
        .iter()
        .flat_map(|t| t.charts)
        .find(|c| c.id == chart)
        .unwrap_or_else(|| panic!("no chart {chart}"));
    let dim = def.dims.iter().find(|d| d.id == dim_id).unwrap();
    (
        format!("{prefix}.{chart}.{}", dim.name),
        dim.value.algorithm() == Algorithm::Incremental,
    )
}

/// What the server made of one dimension: the counter's total, or the sum
/// of the gauge's per-interval values.
fn statsd_total(received: &Received, prefix: &str, chart: &str, dim_id: &str) -> Option<i64> {
    match metric(prefix, chart, dim_id) {
        (name, true) => received.counter_total(&name),
        (name, false) => received.gauge_sum(&name),
    }
}

/// Waits until every total has arrived, then checks it stays exact.
fn assert_statsd_totals(server: &Server, prefix: &str, expected: &[(&str, &str, i64)]) {
    let matches = |r: &Received| {
        expected
            .iter()
            .all(|(c, d, v)| statsd_total(r, prefix, c, d) == Some(*v))
    };
    let reached = server.wait_until(Duration::from_secs(30), matches);
    if reached {
        std::thread::sleep(Duration::from_millis(2500));
    }
    let received = server.received();
    let report: Vec<String> = expected
        .iter()
        .map(|(c, d, v)| {
            let got = statsd_total(&received, prefix, c, d);
            format!("{c} {d}: expected {v}, got {got:?}")
        })
        .collect();
    assert!(
        reached && matches(&received),
        "StatsD totals differ:\n{}",
        report.join("\n")
    );
    assert_eq!(received.errors, Vec::<String>::new(), "bad lines");
}

#[test]
fn netdata_and_statsd_at_once_both_carry_the_exact_counts() {
    if !require_root("statsd over UDP with netdata") {
        return;
    }
    let server = Server::start(Protocol::Udp);
    let (workload, collector) = watch(
        &server,
        "process,sync",
        &[
            "--output",
            "netdata,statsd",
            "--process",
            "--sync",
            "--return",
        ],
    );
    collector.wait_attached("system.exit");
    collector.wait_attached("mem.file_segment");
    workload.run();
    let mut expected = process_totals(N);
    expected.extend(sync_totals(N));
    collector.assert_totals(&expected);
    assert_statsd_totals(&server, "ebpf.t_1", &expected);
    // Every dimension of the threads' charts (the plugin's own charts are
    // Netdata's only), the Netdata stream's total and StatsD's agree.
    let stream = collector.stream();
    let everything: Vec<(&str, &str, i64)> = stream
        .charts
        .iter()
        .filter(|(id, _)| !id.starts_with("netdata."))
        .flat_map(|(id, chart)| {
            chart
                .dim_order
                .iter()
                .map(move |dim| (id.as_str(), dim.as_str(), chart.total(dim).unwrap()))
        })
        .collect();
    assert_eq!(everything.len(), 14);
    assert_statsd_totals(&server, "ebpf.t_1", &everything);

    // Every dimension of every chart of both threads is a metric, and
    // nothing else is.
    let mut want: Vec<String> = [ThreadName::Process, ThreadName::Sync]
        .into_iter()
        .flat_map(|name| registry::find(name).unwrap().charts)
        .flat_map(|c| {
            c.dims
                .iter()
                .map(move |d| format!("ebpf.t_1.{}.{}", c.id, d.name))
        })
        .collect();
    want.sort();
    let mut got: Vec<String> = server.received().names().cloned().collect();
    got.sort();
    assert_eq!(got, want);
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
fn statsd_alone_batches_within_the_mtu_and_writes_nothing_on_stdout() {
    if !require_root("statsd alone, small MTU") {
        return;
    }
    const MTU: usize = 128;
    let server = Server::start(Protocol::Udp);
    let mtu = MTU.to_string();
    let (workload, collector) = watch(
        &server,
        "process",
        &[
            "--output",
            "statsd",
            "--statsd-prefix",
            "t1.ebpf",
            "--statsd-mtu",
            &mtu,
            "--process",
            "--return",
        ],
    );
    let attached = server.wait_until(Duration::from_secs(60), |r| {
        r.gauges.contains_key("t1.ebpf.t_1.system.exit.process")
    });
    assert!(attached, "no metrics; stderr:\n{}", collector.stderr());
    workload.run();
    assert_statsd_totals(&server, "t1.ebpf.t_1", &process_totals(N));

    let received = server.received();
    assert!(
        received.datagrams.iter().all(|&size| size <= MTU),
        "datagram sizes {:?}",
        received.datagrams
    );
    // Lines are packed, not sent one per datagram: 8 lines (16 with
    // negative gauges) per update, of 30 to 45 bytes each.
    let lines: usize = received.lines_per_datagram.iter().sum();
    assert!(
        lines >= 2 * received.datagrams.len(),
        "{lines} lines in {} datagrams",
        received.datagrams.len()
    );
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(stream.lines, 0, "statsd alone wrote on stdout");
}

#[test]
fn a_tcp_server_that_closes_and_reopens_is_survived() {
    if !require_root("statsd over TCP, server restart") {
        return;
    }
    let server = Server::start(Protocol::Tcp);
    let (workload, collector) = watch(&server, "sync", &["--output", "netdata,statsd", "--sync"]);
    collector.wait_attached("mem.file_sync");
    let fsync = "ebpf.t_1.mem.file_sync.fsync";
    assert!(server.wait_until(Duration::from_secs(10), |r| r.counters.contains_key(fsync)));

    // The server goes away: the supervisor must go on updating Netdata.
    let updates = |s: &Stream| s.chart("mem.file_sync").map_or(0, |c| c.updates);
    let closed = server.close();
    let before = updates(&collector.stream());
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| updates(s) >= before + 3),
        "the Netdata output stalled while the StatsD server was down"
    );

    // Back on the same port: the collector reconnects by itself.
    let server = Server::reopen(Protocol::Tcp, closed);
    assert!(
        server.wait_until(Duration::from_secs(15), |r| r.connections == 2),
        "no reconnection; stderr:\n{}",
        collector.stderr()
    );
    let reconnected = server.received().counters[fsync].len();
    assert!(
        server.wait_until(Duration::from_secs(10), |r| r.counters[fsync].len()
            > reconnected)
    );
    workload.run();
    // Only zeros were lost while the server was down: the workload ran
    // after the reconnection, so its counts arrive exactly.
    assert_statsd_totals(&server, "ebpf.t_1", &sync_totals(N));
    collector.assert_totals(&sync_totals(N));
    let stderr = collector.stderr();
    assert!(
        stderr.contains("metric lines were dropped meanwhile"),
        "the drops were not reported:\n{stderr}"
    );
    let (status, _) = collector.terminate();
    assert!(status.success());
}

/// The supervisor's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A TCP server down for a minute: the Netdata output never pauses, what
/// was not sent is counted on `netdata.ebpf_statsd_lines` and said in the
/// log every minute, the supervisor's memory does not grow, and once the
/// server is back the metrics flow again.
#[test]
fn a_server_down_for_a_minute_costs_only_counted_drops() {
    if !require_root("statsd over TCP, server down for a minute") {
        return;
    }
    let down = Server::start(Protocol::Tcp).close();
    let destination = format!("tcp://127.0.0.1:{}", down.0);
    let collector = Collector::start(
        &[
            "--output",
            "netdata,statsd",
            "--statsd",
            &destination,
            "--sync",
            "--update-every",
            "1",
        ],
        &[("ebpf.d.conf", "[global]\n    apps = no\n")],
    );
    collector.wait_attached("mem.file_sync");
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kib(collector.pid());
    let updates = |s: &Stream| s.chart("mem.file_sync").map_or(0, |c| c.updates);
    let before = updates(&collector.stream());
    std::thread::sleep(Duration::from_secs(62));
    let stream = collector.stream();
    assert!(
        updates(&stream) >= before + 58,
        "the Netdata output stalled: {} updates in 62 s",
        updates(&stream) - before
    );
    let grown = rss_kib(collector.pid()).saturating_sub(rss);
    assert!(grown < 1024, "the supervisor grew by {grown} KiB");
    let lines = "netdata.ebpf_statsd_lines";
    assert_eq!(stream.total(lines, "sent"), Some(0));
    let dropped = stream.total(lines, "dropped").unwrap();
    assert!(dropped >= 60, "{dropped} lines dropped in a minute");
    let stderr = collector.stderr();
    assert!(
        stderr.contains("dropped in the last 60 s"),
        "no report of the drops:\n{stderr}"
    );
    let server = Server::reopen(Protocol::Tcp, down);
    assert!(
        server.wait_until(Duration::from_secs(15), |r| !r.counters.is_empty()),
        "no metrics after the server came back; stderr:\n{}",
        collector.stderr()
    );
    assert!(collector.wait_until(Duration::from_secs(10), |s| s
        .total(lines, "sent")
        .is_some_and(|sent| sent > 0)));
    let (status, _) = collector.terminate();
    assert!(status.success());
}
