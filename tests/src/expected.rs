//! What the workloads make: `(chart, dimension id, events)` for a
//! collector that watches only the workload (`--pid`).

/// The `process` scenario of `n`, in return mode (as `tests/process.rs`
/// asserts it).
pub fn process_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("system.process_thread", "_do_fork", n),
        ("system.process_thread", "sys_clone", n),
        // n children + n threads + the workload's own main thread.
        ("system.exit", "do_exit", 2 * n + 1),
        ("system.exit", "release_task", 2 * n + 1),
        // n processes started, n + 1 ended (the workload itself).
        ("system.process_status", "process", -1),
        ("system.process_status", "zombie", 0),
        ("system.task_error", "_do_fork", n),
        ("system.task_error", "sys_clone", n),
    ]
}

/// The `sync` scenario of `n`: each of the six syscalls `n` times.
pub fn sync_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("mem.file_sync", "fsync", n),
        ("mem.file_sync", "fdatasync", n),
        ("mem.memory_map", "msync", n),
        ("mem.sync", "sync", n),
        ("mem.sync", "syncfs", n),
        ("mem.file_segment", "sync_file_range", n),
    ]
}

/// What the `process,shm` workload of `n` makes on the per-process charts
/// (`apps.<id>`, `cgroup_<name>.<id>`, `services.<id>`), started after
/// the collector: chart id after its type, events, whether only return
/// mode draws the chart.
pub fn process_shm_per_process(n: i64) -> Vec<(&'static str, i64, bool)> {
    vec![
        ("process_create", n, false),
        ("thread_create", n, false),
        // n children, n threads and the workload itself.
        ("task_exit", 2 * n + 1, false),
        ("task_close", 2 * n + 1, false),
        // n failed process and n failed thread creations.
        ("task_error", 2 * n, true),
        ("shmget_call", n, false),
        ("shmat_call", n, false),
        ("shmdt_call", n, false),
        ("shmctl_call", n, false),
    ]
}

/// The `cachestat=FILE` scenario of `pages`: every page read in (a miss),
/// read again twice (hits: one page per call, then all in one call), and
/// dirtied.
pub fn cachestat_totals(pages: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("mem.cachestat_misses", "miss", pages),
        ("mem.cachestat_hits", "hit", 2 * pages),
        ("mem.cachestat_dirties", "dirty", pages),
    ]
}

/// Bytes of each TCP message and UDP datagram of the `socket` scenario.
pub const SOCKET_BYTES: i64 = 1000;

/// The `socket` scenario of `n` in return mode: per address family (IPv4,
/// IPv6) n TCP connections with one message each way and both ends
/// closed, and n UDP datagrams each way; one failure of each kind; two
/// listeners closed.
pub fn socket_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    let (connections, datagrams) = (2 * n, 2 * n);
    vec![
        ("ip.inbound_conn", "inet_csk_accept_tcp", connections),
        ("ip.tcp_outbound_conn", "tcp_connect_v4", n),
        ("ip.tcp_outbound_conn", "tcp_connect_v6", n),
        // A message each way per connection, and the failed one.
        ("ip.tcp_functions", "tcp_sendmsg", 2 * connections + 1),
        ("ip.tcp_functions", "tcp_cleanup_rbuf", 2 * connections + 1),
        // Both ends, the unconnected socket and the listeners.
        ("ip.tcp_functions", "tcp_close", 2 * connections + 1 + 2),
        (
            "ip.total_tcp_bandwidth",
            "tcp_sendmsg",
            2 * connections * SOCKET_BYTES,
        ),
        (
            "ip.total_tcp_bandwidth",
            "tcp_cleanup_rbuf",
            2 * connections * SOCKET_BYTES,
        ),
        ("ip.tcp_error", "tcp_sendmsg", 1),
        ("ip.tcp_error", "tcp_cleanup_rbuf", 1),
        ("ip.tcp_retransmit", "tcp_retransmit_skb", 0),
        ("ip.udp_functions", "udp_sendmsg", 2 * datagrams + 1),
        ("ip.udp_functions", "udp_recvmsg", 2 * datagrams + 1),
        (
            "ip.total_udp_bandwidth",
            "udp_sendmsg",
            2 * datagrams * SOCKET_BYTES,
        ),
        (
            "ip.total_udp_bandwidth",
            "udp_recvmsg",
            2 * datagrams * SOCKET_BYTES,
        ),
        ("ip.udp_error", "udp_sendmsg", 1),
        ("ip.udp_error", "udp_recvmsg", 1),
    ]
}

/// The `dcstat` scenario of `n` (`tests/src/bin/workload.rs`): `2n`
/// look-ups in a path walk (`n` cached, `n` missing), `2n` `d_lookup()`
/// of which `n` found nothing.
pub fn dcstat_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("filesystem.dc_reference", "reference", 2 * n),
        ("filesystem.dc_reference", "slow", 2 * n),
        ("filesystem.dc_reference", "miss", n),
    ]
}

/// The `swap` scenario of `n`: `n` pages written to swap and read back.
pub fn swap_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![("mem.swapcalls", "read", n), ("mem.swapcalls", "write", n)]
}

/// The `filesystem=DIR` scenario of `n` on a filesystem of each of `kinds`:
/// `(chart, calls)`, the calls summed over the chart's buckets.
pub fn filesystem_totals(kinds: &[&str], n: i64) -> Vec<(String, i64)> {
    kinds
        .iter()
        .flat_map(|kind| {
            ["read", "write", "open", "sync"]
                .map(|op| (format!("filesystem.{kind}_{op}_latency"), n))
        })
        .collect()
}

/// The latency histograms' bucket labels (disk, filesystem), the
/// original's (spec §3.13), in order.
pub const HISTOGRAM_LABELS: [&str; 24] = [
    "0us->1us",
    "1us->2us",
    "2us->4us",
    "4us->8us",
    "8us->16us",
    "16us->32us",
    "32us->64us",
    "64us->128us",
    "128us->256us",
    "256us->512us",
    "512us->1ms",
    "1ms->2ms",
    "2ms->4ms",
    "4ms->8ms",
    "8ms->16ms",
    "16ms->32ms",
    "32ms->65ms",
    "65ms->131ms",
    "131ms->262ms",
    "262ms->524ms",
    "524ms->1s",
    "1s->2s",
    "2s->4s",
    "4s->+Inf",
];
