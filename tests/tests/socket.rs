//! `socket` on the real kernel: a workload in a network namespace of its
//! own makes a known number of TCP connections, messages, UDP datagrams
//! and failures; with `--pid` each dimension must show exactly that, and
//! the kernel's own counters of that namespace must agree.

use std::collections::BTreeMap;
use std::time::Duration;

use tests::expected::{socket_totals, SOCKET_BYTES};
use tests::{forced_variant, kernel_btf_has, require_root, Collector, Workload};

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
    if !require_root("socket retransmissions") {
        return;
    }
    if refused_without_length_tracepoints(&["--socket"]) {
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

/// The network viewer (`network connections = yes`, every address and
/// port selected): each connection's bytes and messages each way land in
/// its dimension, `<port>:TCP:<address>` outbound and `<port>:TCP`
/// inbound, exactly, after the connections ended; nothing is untracked.
#[test]
fn the_network_viewer_charts_every_connection_exactly() {
    if !require_root("socket network viewer") {
        return;
    }
    if refused_without_length_tracepoints(&["--socket"]) {
        return;
    }
    let mut workload = Workload::spawn("socket", N as usize);
    let pid = workload.pid().to_string();
    let files = [
        (
            "ebpf.d.conf",
            "[ebpf programs]\n    network connections = yes\n",
        ),
        (
            "ebpf.d/network.conf",
            "[network connections]\n    ports = *\n    ips = *\n",
        ),
    ];
    let args = ["--socket", "--update-every", "1", "--pid", &pid];
    let collector = Collector::start(&args, &files);
    collector.wait_attached("ip.tcp_functions");
    workload.work();
    workload.exit();
    // Both listeners' ports, from the dimensions' names.
    let ended = |s: &tests::protocol::Stream| {
        ["ebpf.outbound_bytes", "ebpf.inbound_bytes"]
            .iter()
            .all(|chart| s.charts.get(*chart).is_some_and(|c| c.dims.len() >= 4))
    };
    assert!(
        collector.wait_until(Duration::from_secs(30), ended),
        "no connection charts:\n{}",
        collector.stderr()
    );
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
    let port_of = |suffix: &str| -> String {
        let id = outbound
            .dim_order
            .iter()
            .find(|id| id.ends_with(suffix))
            .unwrap_or_else(|| panic!("no dimension *{suffix}: {:?}", outbound.dim_order));
        id.split(':').next().unwrap().to_owned()
    };
    let (v4, v6) = (
        format!("{}:TCP:127.0.0.1", port_of(":TCP:127.0.0.1_sent")),
        format!("{}:TCP:[::1]", port_of(":TCP:[::1]_sent")),
    );
    let dims = outbound.dimensions();
    assert!(dims.contains(&(
        &format!("{v4}_sent"),
        &format!("{v4}_sent"),
        "incremental",
        -1
    )));
    assert!(dims.contains(&(
        &format!("{v4}_recv"),
        &format!("{v4}_recv"),
        "incremental",
        1
    )));
    let bytes = N * SOCKET_BYTES;
    let mut expected: Vec<(String, String, i64)> = Vec::new();
    let mut inbound: BTreeMap<String, i64> = BTreeMap::new();
    for host in [&v4, &v6] {
        for (chart, total) in [("bytes", bytes), ("packets", N)] {
            for way in ["_sent", "_recv"] {
                expected.push((
                    format!("ebpf.outbound_{chart}"),
                    format!("{host}{way}"),
                    total,
                ));
            }
        }
        expected.push(("ebpf.outbound_retransmit".into(), host.to_string(), 0));
        // The listener's port, the service the inbound side reached.
        let service = format!("{}:TCP", host.split(':').next().unwrap());
        *inbound.entry(service).or_default() += 1;
    }
    for (service, listeners) in inbound {
        for (chart, total) in [("bytes", bytes), ("packets", N)] {
            for way in ["_sent", "_recv"] {
                let dim = format!("{service}{way}");
                expected.push((format!("ebpf.inbound_{chart}"), dim, listeners * total));
            }
        }
    }
    expected.push(("ebpf.connections_untracked".into(), "untracked".into(), 0));
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, d, v)| (c.as_str(), d.as_str(), *v))
        .collect();
    collector.assert_totals(&expected);
    collector.terminate();
}
