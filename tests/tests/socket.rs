//! `socket` on the real kernel: a workload in a network namespace of its
//! own makes a known number of TCP connections, messages, UDP datagrams
//! and failures; with `--pid` each dimension must show exactly that, and
//! the kernel's own counters of that namespace must agree.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::expected::{socket_totals, SOCKET_BYTES};
use tests::protocol::Stream;
use tests::{
    forced_variant, kernel_btf_has, require_root, scaled, slowdown, workers_of, Collector, Workload,
};

const N: i64 = 5;

/// `/proc/PID/net/snmp`'s `Tcp:` and `Udp:` counters: those of PID's
/// network namespace.
fn snmp(pid: u32) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/snmp")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut counters = BTreeMap::new();
    for pair in lines.chunks(2) {
        let (names, values) = (pair[0].split_whitespace(), pair[1].split_whitespace());
        let mut names = names.peekable();
        let prefix = names.next().unwrap().trim_end_matches(':').to_owned();
        for (name, value) in names.zip(values.skip(1)) {
            if let Ok(value) = value.parse() {
                counters.insert(format!("{prefix}{name}"), value);
            }
        }
    }
    counters
}

/// Whether test `what` runs: as root, and socket can run here (else its
/// refusal was asserted).
fn socket_runs(what: &str) -> bool {
    require_root(what) && !refused_without_length_tracepoints(&["--socket"])
}

/// With the tracepoint variant forced on a kernel without the length
/// tracepoints (before 6.3), the thread cannot run: the collector must say
/// so and why. True when that is the case (and was asserted).
fn refused_without_length_tracepoints(args: &[&str]) -> bool {
    if forced_variant().as_deref() != Some("tracepoint")
        || kernel_btf_has("btf_trace_sock_send_length")
    {
        return false;
    }
    let collector = Collector::start(args, &[]);
    let said = tests::poll(Duration::from_secs(60), Duration::from_millis(100), || {
        let stderr = collector.stderr();
        stderr.contains("btf_trace_sock_send_length")
            && stderr.contains("socket: cannot run on this system")
    });
    assert!(said, "no reason given:\n{}", collector.stderr());
    // Its only thread disabled: it asks Netdata not to restart it.
    let (_, stream) = collector.terminate();
    assert!(stream.disabled, "no DISABLE");
    true
}

fn run(mode: &[&str]) {
    if refused_without_length_tracepoints(&["--socket"]) {
        return;
    }
    let mut workload = Workload::spawn("socket", N as usize);
    let pid = workload.pid().to_string();
    let mut args = vec!["--socket", "--update-every", "1", "--pid", &pid];
    args.extend(mode);
    let collector = Collector::start(&args, &[]);
    collector.wait_attached("ip.tcp_functions");
    workload.work();
    let kernel = snmp(workload.pid());
    // What the namespace's kernel counted: the same connections (IPv4 and
    // IPv6 share the TCP counters) and the IPv4 datagrams.
    assert_eq!(kernel["TcpActiveOpens"], 2 * N, "{kernel:?}");
    assert_eq!(kernel["TcpPassiveOpens"], 2 * N, "{kernel:?}");
    assert_eq!(kernel["TcpRetransSegs"], 0, "{kernel:?}");
    assert_eq!(kernel["UdpOutDatagrams"], 2 * N, "{kernel:?}");
    assert_eq!(kernel["UdpInDatagrams"], 2 * N, "{kernel:?}");
    let expected = socket_totals(N);
    let drawn: Vec<_> = if mode.contains(&"--return") {
        expected
    } else {
        expected
            .into_iter()
            .filter(|(chart, _, _)| !chart.ends_with("_error"))
            .collect()
    };
    collector.assert_totals(&drawn);
    workload.exit();
    collector.terminate();
}

#[test]
fn counts_every_connection_message_and_failure_exactly_entry_mode() {
    if !require_root("socket") {
        return;
    }
    run(&[]);
}

#[test]
fn counts_every_connection_message_and_failure_exactly_return_mode() {
    if !require_root("socket") {
        return;
    }
    run(&["--return"]);
}

/// A segment lost on the namespace's loopback (every packet dropped for a
/// second, bpf/src/drop.bpf.c) is retransmitted: `ip.tcp_retransmit` and
/// the workload's apps group count exactly the retransmissions the
/// namespace's kernel counted, all for the process of the socket although
/// they run in a timer; the rest of the connection is counted as usual.
#[test]
fn a_lost_segment_is_retransmitted_and_counted_for_its_process() {
    if !socket_runs("socket retransmissions") {
        return;
    }
    let comm = format!("rt{}", std::process::id());
    let mut workload = Workload::spawn_named("retransmit", 1, Some(&comm));
    let pid = workload.pid().to_string();
    let files = [
        ("ebpf.d.conf", "[global]\n    apps = yes\n".to_owned()),
        ("apps_groups.conf", format!("lost: {comm}\n")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let args = ["--socket", "--update-every", "1", "--pid", &pid];
    let collector = Collector::start(&args, &files);
    collector.wait_attached("ip.tcp_functions");
    workload.work();
    let retransmitted = snmp(workload.pid())["TcpRetransSegs"];
    assert!(retransmitted > 0, "the kernel retransmitted nothing");
    collector.assert_totals(&[
        ("ip.tcp_retransmit", "tcp_retransmit_skb", retransmitted),
        ("apps.bandwidth_tcp_retransmit", "lost", retransmitted),
        ("ip.tcp_outbound_conn", "tcp_connect_v4", 1),
        ("ip.inbound_conn", "inet_csk_accept_tcp", 1),
        ("ip.tcp_functions", "tcp_sendmsg", 1),
        ("ip.tcp_functions", "tcp_cleanup_rbuf", 1),
        ("ip.total_tcp_bandwidth", "tcp_sendmsg", SOCKET_BYTES),
        ("ip.total_tcp_bandwidth", "tcp_cleanup_rbuf", SOCKET_BYTES),
        // Client, server and listener.
        ("ip.tcp_functions", "tcp_close", 3),
    ]);
    workload.exit();
    collector.terminate();
}

/// The collector with the network viewer on (`network connections =
/// yes`) under network.conf `[network connections]` lines `selectors`,
/// counting only `pid` and what it starts; attached.
fn viewer_collector(selectors: &str, pid: u32) -> Collector {
    let network = format!("[network connections]\n{selectors}");
    let files = [
        (
            "ebpf.d.conf",
            "[ebpf programs]\n    network connections = yes\n",
        ),
        ("ebpf.d/network.conf", network.as_str()),
    ];
    let pid = pid.to_string();
    let args = ["--socket", "--update-every", "1", "--pid", &pid];
    let collector = Collector::start(&args, &files);
    collector.wait_attached("ip.tcp_functions");
    collector
}

/// Runs the `socket` scenario with the network viewer on under `selectors`
/// (see [`viewer_collector`]); returns the collector once the connections
/// ended and both directions have a dimension, with the names of the
/// outbound and the inbound ones.
fn viewer(selectors: &str) -> Option<(Collector, BTreeSet<String>, BTreeSet<String>)> {
    if refused_without_length_tracepoints(&["--socket"]) {
        return None;
    }
    let mut workload = Workload::spawn("socket", N as usize);
    let collector = viewer_collector(selectors, workload.pid());
    workload.work();
    workload.exit();
    let charted = |s: &Stream| {
        ["ebpf.outbound_bytes", "ebpf.inbound_bytes"]
            .iter()
            .all(|chart| s.charts.get(*chart).is_some_and(|c| c.dims.len() >= 2))
    };
    assert!(
        collector.wait_until(Duration::from_secs(30), charted),
        "no connection charts:\n{}",
        collector.stderr()
    );
    let stream = collector.stream();
    let out = names(&stream, "ebpf.outbound_bytes");
    let inbound = names(&stream, "ebpf.inbound_bytes");
    Some((collector, out, inbound))
}

/// The names of `chart`'s dimensions, without their `_sent`/`_recv`.
fn names(stream: &Stream, chart: &str) -> BTreeSet<String> {
    stream.charts[chart]
        .dim_order
        .iter()
        .map(|id| {
            id.trim_end_matches("_sent")
                .trim_end_matches("_recv")
                .to_owned()
        })
        .collect()
}

/// The dimension name of `names` that ends with `tail`, and its port.
fn named<'a>(names: &'a BTreeSet<String>, tail: &str) -> (&'a str, String) {
    let name = names
        .iter()
        .find(|name| name.ends_with(tail))
        .unwrap_or_else(|| panic!("no dimension *{tail}: {names:?}"));
    (name, name.split(':').next().unwrap().to_owned())
}

/// What `connections` connections of the scenario (one message of
/// SOCKET_BYTES each way) put in the dimension `name` of `direction`'s
/// charts.
fn connection_totals(direction: &str, name: &str, connections: i64) -> Vec<(String, String, i64)> {
    let mut totals = Vec::new();
    for (chart, each) in [("bytes", SOCKET_BYTES), ("packets", 1)] {
        for way in ["_sent", "_recv"] {
            let chart = format!("ebpf.{direction}_{chart}");
            totals.push((chart, format!("{name}{way}"), connections * each));
        }
    }
    if direction == "outbound" {
        totals.push(("ebpf.outbound_retransmit".into(), name.to_owned(), 0));
    }
    totals
}

fn assert_connection_totals(collector: &Collector, mut expected: Vec<(String, String, i64)>) {
    expected.push(("ebpf.connections_untracked".into(), "untracked".into(), 0));
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, d, v)| (c.as_str(), d.as_str(), *v))
        .collect();
    collector.assert_totals(&expected);
}

/// Every address and port selected: each connection's bytes and messages
/// each way land in its dimension, `<port>:TCP:<address>` outbound and
/// `<port>:TCP` inbound, exactly, after the connections ended; nothing is
/// untracked.
#[test]
fn the_network_viewer_charts_every_connection_exactly() {
    if !require_root("socket network viewer") {
        return;
    }
    let Some((collector, out, _)) = viewer("    ports = *\n    ips = *\n") else {
        return;
    };
    let stream = collector.stream();
    let outbound = &stream.charts["ebpf.outbound_bytes"];
    assert_eq!(
        outbound.header(),
        (
            "Outbound connections (bytes).",
            "bytes/s",
            "network connections",
            "",
            "stacked",
            21080,
            1,
            "ebpf.plugin",
            "socket"
        )
    );
    let ((v4, port4), (v6, port6)) = (named(&out, ":TCP:127.0.0.1"), named(&out, ":TCP:[::1]"));
    let dims = outbound.dimensions();
    for (way, multiplier) in [("_sent", -1), ("_recv", 1)] {
        let id = format!("{v4}{way}");
        assert!(
            dims.contains(&(&id, &id, "incremental", multiplier)),
            "{dims:?}"
        );
    }
    let mut expected = connection_totals("outbound", v4, N);
    expected.extend(connection_totals("outbound", v6, N));
    // Both listeners' services, one dimension if they got the same port.
    let mut inbound: BTreeMap<String, i64> = BTreeMap::new();
    for port in [port4, port6] {
        *inbound.entry(format!("{port}:TCP")).or_default() += N;
    }
    for (service, connections) in inbound {
        expected.extend(connection_totals("inbound", &service, connections));
    }
    assert_connection_totals(&collector, expected);
    collector.terminate();
}

/// `maximum dimensions = 4`: one name and "other" per direction. The
/// scenario's IPv4 connections come first and are named; its IPv6 ones add
/// up in "other" (`other:ALL:other` outbound with `ports` set, `other:ALL`
/// inbound).
#[test]
fn the_network_viewer_adds_connections_beyond_the_limit_up_in_other() {
    if !require_root("socket network viewer") {
        return;
    }
    let selectors = "    maximum dimensions = 4\n    ports = *\n    ips = *\n";
    let Some((collector, out, inbound)) = viewer(selectors) else {
        return;
    };
    let (v4, port4) = named(&out, ":TCP:127.0.0.1");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(inbound.len(), 2, "{inbound:?}");
    let mut expected = connection_totals("outbound", v4, N);
    expected.extend(connection_totals("outbound", "other:ALL:other", N));
    expected.extend(connection_totals("inbound", &format!("{port4}:TCP"), N));
    expected.extend(connection_totals("inbound", "other:ALL", N));
    assert_connection_totals(&collector, expected);
    collector.terminate();
}

/// `ips = 127.0.0.0/8` and no `ports`: only the IPv4 connections, named
/// `TCP:<address>` outbound; the IPv6 ones are in no dimension, not even
/// "other".
#[test]
fn the_network_viewer_charts_only_the_selected_addresses() {
    if !require_root("socket network viewer") {
        return;
    }
    let Some((collector, out, inbound)) = viewer("    ips = 127.0.0.0/8\n") else {
        return;
    };
    assert_eq!(out, BTreeSet::from(["TCP:127.0.0.1".to_owned()]));
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    let service = inbound.first().unwrap();
    let mut expected = connection_totals("outbound", "TCP:127.0.0.1", N);
    expected.extend(connection_totals("inbound", service, N));
    assert_connection_totals(&collector, expected);
    let stream = collector.stream();
    assert_eq!(names(&stream, "ebpf.outbound_bytes").len(), 1);
    assert_eq!(names(&stream, "ebpf.inbound_bytes").len(), 1);
    collector.terminate();
}

/// The name /etc/hosts gives 127.0.0.1 (the resolver's first source, as
/// the test machines have it), if it has one.
fn loopback_name() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        (words.next() == Some("127.0.0.1")).then(|| words.next().map(str::to_owned))?
    })
}

/// `resolve hostnames = yes`: the IPv4 peer is named as /etc/hosts names
/// 127.0.0.1 (its number where it has no name); `hostnames` keeps only
/// that name.
#[test]
fn the_network_viewer_names_hosts_when_asked() {
    if !require_root("socket network viewer") {
        return;
    }
    let host = loopback_name().unwrap_or_else(|| "127.0.0.1".to_owned());
    let selectors = format!(
        "    resolve hostnames = yes\n    hostnames = {host}\n    ports = *\n    ips = 127.0.0.0/8\n"
    );
    let Some((collector, out, inbound)) = viewer(&selectors) else {
        return;
    };
    let (name, _) = named(&out, &format!(":TCP:{host}"));
    assert_eq!(out.len(), 1, "{out:?}");
    let mut expected = connection_totals("outbound", name, N);
    expected.extend(connection_totals("inbound", inbound.first().unwrap(), N));
    assert_connection_totals(&collector, expected);
    collector.terminate();
}

/// What every dimension of each connection chart adds up to (by chart and
/// `_sent`/`_recv`).
fn chart_sums(stream: &Stream) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for direction in ["outbound", "inbound"] {
        for unit in ["bytes", "packets"] {
            let chart = format!("ebpf.{direction}_{unit}");
            let Some(info) = stream.chart(&chart) else {
                continue;
            };
            for dim in info.dims.keys() {
                let way = if dim.ends_with("_sent") {
                    "_sent"
                } else {
                    "_recv"
                };
                *sums.entry(format!("{chart}{way}")).or_default() +=
                    stream.total(&chart, dim).unwrap();
            }
        }
    }
    sums
}

/// The socket worker SIGKILLed between two runs of the scenario (one
/// workload, paused between them): the restarted worker names the second
/// run's connections (their listeners' ports differ) and the supervisor carries each name's counts on from the
/// dead worker's. Each chart adds up to what the two runs made, no name
/// counted twice: a name's key is made of the name, so the second run's
/// names take no key that held the first run's counts.
#[test]
fn the_network_viewer_keeps_each_names_counts_across_a_worker_restart() {
    if !socket_runs("socket network viewer restart") {
        return;
    }
    let mut workload = Workload::spawn("socket,pause,socket", N as usize);
    let collector = viewer_collector("    ports = *\n    ips = *\n", workload.pid());
    let expected = |runs: i64| {
        let mut sums = BTreeMap::new();
        for direction in ["outbound", "inbound"] {
            for (unit, each) in [("bytes", SOCKET_BYTES), ("packets", 1)] {
                for way in ["_sent", "_recv"] {
                    // Each run: N connections over IPv4, N over IPv6.
                    let chart = format!("ebpf.{direction}_{unit}{way}");
                    sums.insert(chart, runs * 2 * N * each);
                }
            }
        }
        sums
    };
    let check = |runs: i64| {
        let reached = collector.wait_until(scaled(Duration::from_secs(30)), |s| {
            chart_sums(s) == expected(runs)
        });
        std::thread::sleep(Duration::from_millis(2500));
        let sums = chart_sums(&collector.stream());
        assert!(
            reached && sums == expected(runs),
            "after run {runs}: {sums:?}, expected {:?}\nstderr:\n{}",
            expected(runs),
            collector.stderr()
        );
    };
    workload.work();
    check(1);
    let worker = workers_of(collector.pid(), "socket").next().unwrap();
    kill(Pid::from_raw(worker as i32), Signal::SIGKILL).unwrap();
    let last = |s: &Stream, chart: &str| s.chart(chart).and_then(|c| c.last("socket"));
    let back = collector.wait_until(scaled(Duration::from_secs(30)), |s| {
        last(s, "netdata.ebpf_restarts") == Some(1) && last(s, "netdata.ebpf_threads") == Some(1)
    });
    assert!(back, "socket's worker not back:\n{}", collector.stderr());
    workload.resume();
    check(2);
    workload.exit();
    assert_eq!(collector.stream().errors, Vec::<String>::new());
    collector.terminate();
}

/// The outbound names ever charted but "other", retired ones included.
fn outbound_names(stream: &Stream) -> Vec<String> {
    let Some(chart) = stream.chart("ebpf.outbound_bytes") else {
        return Vec::new();
    };
    chart
        .dims
        .keys()
        .filter_map(|id| id.strip_suffix("_sent"))
        .filter(|name| !name.starts_with("other:"))
        .map(str::to_owned)
        .collect()
}

/// The outbound bytes chart and the collector's stderr, for a failure.
fn outbound_report(collector: &Collector) -> String {
    format!(
        "{:?}\nstderr:\n{}",
        collector.stream().chart("ebpf.outbound_bytes"),
        collector.stderr()
    )
}

/// Whether outbound `name`'s dimensions were sent obsolete.
fn outbound_retired(stream: &Stream, name: &str) -> bool {
    let dims = &stream.charts["ebpf.outbound_bytes"].dims;
    ["_sent", "_recv"]
        .iter()
        .all(|way| dims[&format!("{name}{way}")].obsolete)
}

/// `retire dimensions after = 2` and one name a direction (`maximum
/// dimensions = 4`): the first run's IPv4 connections are named, its IPv6
/// ones "other"; two seconds after they ended, their name is retired
/// (DIMENSION … obsolete, no more SETs) and its slot is free, so the
/// second run's IPv4 connections are named again, not "other", and count
/// from zero.
#[test]
fn the_network_viewer_retires_names_without_connections() {
    if !socket_runs("socket network viewer retirement") {
        return;
    }
    let selectors =
        "    maximum dimensions = 4\n    retire dimensions after = 2\n    ports = *\n    ips = *\n";
    let mut workload = Workload::spawn("socket,pause,socket", N as usize);
    let collector = viewer_collector(selectors, workload.pid());
    let sent = |s: &Stream, name: &str| s.total("ebpf.outbound_bytes", &format!("{name}_sent"));
    let report = || outbound_report(&collector);
    workload.work();
    let first = |s: &Stream| {
        let names = outbound_names(s);
        (names.len() == 1
            && sent(s, &names[0]) == Some(N * SOCKET_BYTES)
            && sent(s, "other:ALL:other") == Some(N * SOCKET_BYTES))
        .then(|| names[0].clone())
    };
    assert!(
        collector.wait_until(scaled(Duration::from_secs(30)), |s| first(s).is_some()),
        "the first run not charted: {}",
        report()
    );
    let first_name = first(&collector.stream()).unwrap();
    assert!(
        collector.wait_until(scaled(Duration::from_secs(30)), |s| {
            outbound_retired(s, &first_name)
        }),
        "{first_name} not retired: {}",
        report()
    );
    workload.resume();
    // A name like the first (its listener's port alike) would come back
    // from zero, its dimension showing both runs.
    let second = |s: &Stream| {
        let names = outbound_names(s);
        let charted = match names.iter().find(|name| **name != first_name) {
            Some(name) => sent(s, name) == Some(N * SOCKET_BYTES),
            None => sent(s, &first_name) == Some(2 * N * SOCKET_BYTES),
        };
        charted && sent(s, "other:ALL:other") == Some(2 * N * SOCKET_BYTES)
    };
    assert!(
        collector.wait_until(scaled(Duration::from_secs(30)), second),
        "the second run not charted under a name of its own: {}",
        report()
    );
    workload.exit();
    assert_eq!(collector.stream().errors, Vec::<String>::new());
    collector.terminate();
}

/// A worker retires only the names it met: names of a SIGKILLed worker
/// that its successor never meets are retired by the supervisor
/// `retire dimensions after` seconds after the restart, "other" never.
/// The kill comes well before the dead worker would have retired them.
#[test]
fn the_network_viewer_retires_a_dead_workers_names() {
    if !socket_runs("socket network viewer retirement after a restart") {
        return;
    }
    // Long enough for the kill to come first (the run is charted within
    // seconds), short enough not to scale with the kernel matrix's
    // slowdown in full: 40 s there, not 150.
    let retire_after = 10 + 2 * u64::from(slowdown());
    let selectors = format!(
        "    maximum dimensions = 4\n    retire dimensions after = {retire_after}\n    ports = *\n    ips = *\n"
    );
    let mut workload = Workload::spawn("socket", N as usize);
    let collector = viewer_collector(&selectors, workload.pid());
    let report = || outbound_report(&collector);
    workload.work();
    assert!(
        collector.wait_until(scaled(Duration::from_secs(30)), |s| {
            outbound_names(s).len() == 1
        }),
        "the run not charted: {}",
        report()
    );
    let name = outbound_names(&collector.stream()).remove(0);
    let worker = workers_of(collector.pid(), "socket").next().unwrap();
    kill(Pid::from_raw(worker as i32), Signal::SIGKILL).unwrap();
    assert!(
        !outbound_retired(&collector.stream(), &name),
        "{name} retired before its worker was killed: {}",
        report()
    );
    let retired = collector.wait_until(
        scaled(Duration::from_secs(30)) + Duration::from_secs(retire_after),
        |s| outbound_retired(s, &name),
    );
    assert!(
        retired,
        "{name} not retired after the restart: {}",
        report()
    );
    let stream = collector.stream();
    assert_eq!(
        stream
            .chart("netdata.ebpf_restarts")
            .and_then(|c| c.last("socket")),
        Some(1)
    );
    assert!(
        !outbound_retired(&stream, "other:ALL:other"),
        "{}",
        report()
    );
    workload.exit();
    assert_eq!(collector.stream().errors, Vec::<String>::new());
    collector.terminate();
}
