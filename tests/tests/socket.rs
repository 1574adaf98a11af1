//! `socket` on the real kernel: a workload in a network namespace of its
//! own makes a known number of TCP connections, messages, UDP datagrams
//! and failures; with `--pid` each dimension must show exactly that, and
//! the kernel's own counters of that namespace must agree.

use std::collections::BTreeMap;

use tests::expected::socket_totals;
use tests::{require_root, Collector, Workload};

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

fn run(mode: &[&str]) {
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
