//! Netdata parent and child, two real 1.37.1 agents (`netdata-host`) on
//! this machine: the child runs the plugin and streams to the parent, which
//! runs no plugin. The parent serves the child's charts
//! (`/host/<child>/api/v1/data`) with the exact counts of a workload, the
//! same as the child stores; then the parent restarts, then the child (the
//! agent starts our plugin again), and a workload after each is exact on
//! the parent too.
//!
//! What each agent keeps across a restart is measured, not assumed (README,
//! "Many machines"): the parent runs with `memory mode` ram in one test and
//! dbengine in the other; the child runs with ram, so its own history ends
//! at its restart. Whatever the parent stored is kept across the child's
//! restart, and what the parent lost at its own restart comes back from the
//! child by replication (1.37's), as far as the child still holds it.

use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tests::expected::sync_totals;
use tests::netdata_host::{close_enough, require_netdata, NetdataHost, Row};
use tests::{collector_bin, require_root, TempDir, Workload};
use workers::registry;

/// One pair of agents at a time: the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const N: i64 = 20;
/// Longer than a whole test: every point since the agents started.
const WINDOW: u32 = 600;
/// Any UUID (1.37 refuses a key that is not one): the parent accepts
/// children that present it.
const API_KEY: &str = "e8bfc011-ec70-4c43-9a57-5b1a8d4c4f4e";
const CHARTS: [&str; 4] = [
    "mem.file_sync",
    "mem.memory_map",
    "mem.sync",
    "mem.file_segment",
];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The parent's stream.conf: children presenting the key are accepted,
/// and kept in `mode` (the parent's own database mode, netdata.conf `[db]`).
fn parent_stream_conf(mode: &str) -> String {
    format!(
        "[{API_KEY}]\n    enabled = yes\n    default memory mode = {mode}\n    health enabled by default = no\n"
    )
}

/// The child's stream.conf: everything it collects goes to the parent.
fn child_stream_conf(parent_port: u16) -> String {
    format!(
        "[stream]\n    enabled = yes\n    destination = 127.0.0.1:{parent_port}\n    api key = {API_KEY}\n"
    )
}

/// What Netdata calls dimension `dim` of `chart`.
fn dim_name(chart: &str, dim: &str) -> &'static str {
    registry::all()
        .iter()
        .flat_map(|t| t.charts)
        .find(|c| c.id == chart)
        .and_then(|c| c.dims.iter().find(|d| d.id == dim))
        .unwrap_or_else(|| panic!("no dimension {chart} {dim}"))
        .name
}

/// Whether `chart` of the child has a value on every dimension after
/// `since` (unix seconds), on the child and on the parent.
fn fresh(parent: &NetdataHost, child: &NetdataHost, chart: &str, since: i64) -> bool {
    let full = |rows: Vec<Row>| {
        rows.iter()
            .any(|row| row.time > since && row.values.iter().all(|(_, v)| v.is_some()))
    };
    full(child.series(chart, 10)) && full(parent.child_series(&child.instance, chart, 10))
}

/// How long the child may take to stream again after the parent restarts:
/// a 1.37 child whose handshake times out while the parent is still
/// starting skips that parent for 30 s (measured: "will retry it in 25
/// seconds" five seconds after the attempt), then needs a few seconds more.
const RECONNECT: Duration = Duration::from_secs(75);

fn wait_fresh(
    parent: &NetdataHost,
    child: &NetdataHost,
    since: i64,
    timeout: Duration,
    what: &str,
) {
    for chart in CHARTS {
        let ok = parent.wait_until(timeout, |p| fresh(p, child, chart, since));
        assert!(
            ok,
            "{what}: {chart} has no data after {since} on both agents\nchild: {:?}\nparent: {:?}\nchild's log:\n{}\nparent's log:\n{}",
            child.series(chart, 20),
            parent.child_series(&child.instance, chart, 20),
            tail(child),
            tail(parent)
        );
    }
}

/// The end of an agent's log, newest first.
fn tail(netdata: &NetdataHost) -> String {
    let log = netdata.log();
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    tail.join("\n")
}

/// The points of dimension `name` that hold events: (second, value).
fn nonzero(rows: &[Row], name: &str) -> Vec<(i64, f64)> {
    rows.iter()
        .flat_map(|row| {
            row.values
                .iter()
                .map(move |(label, v)| (row.time, label, v))
        })
        .filter(|(_, label, v)| *label == name && v.is_some_and(|v| v != 0.0))
        .map(|(time, _, v)| (time, v.unwrap()))
        .collect()
}

/// Waits until the parent's copy of every sync dimension sums to
/// `on_parent` and the child's own to `on_child` events; on a timeout,
/// both series and both logs. With `same_points`, the parent also holds
/// the child's points where the child has them: the same values at the
/// same seconds.
fn assert_sums(
    parent: &NetdataHost,
    child: &NetdataHost,
    on_parent: i64,
    on_child: i64,
    same_points: bool,
    what: &str,
) {
    for (chart, dim, _) in sync_totals(N) {
        let name = dim_name(chart, dim);
        let host = child.instance.as_str();
        let both = |p: &NetdataHost| {
            close_enough(p.child_sum(host, chart, name, WINDOW), on_parent as f64)
                && close_enough(child.sum(chart, name, WINDOW), on_child as f64)
        };
        let reached = parent.wait_until(Duration::from_secs(20), both);
        let (got_parent, got_child) = (
            parent.child_sum(host, chart, name, WINDOW),
            child.sum(chart, name, WINDOW),
        );
        eprintln!(
            "{what}: {chart} {name}: parent {got_parent} ({on_parent} expected), child {got_child} ({on_child})"
        );
        // Where the events sit in time on each: README, "Many machines".
        let parent_points = nonzero(&parent.child_series(host, chart, WINDOW), name);
        let child_points = nonzero(&child.series(chart, WINDOW), name);
        eprintln!("    points with events, parent {parent_points:?}\n                        child  {child_points:?}");
        assert!(
            reached,
            "{what}: {chart} {name}: parent has {got_parent} of {on_parent}, child {got_child} of {on_child}\nparent, last 120 s: {:?}\nchild, last 120 s: {:?}\nparent's log, newest first:\n{}\nchild's log, newest first:\n{}",
            parent.child_series(host, chart, 120),
            child.series(chart, 120),
            tail(parent),
            tail(child)
        );
        if same_points {
            assert_eq!(
                on_parent, on_child,
                "{what}: {chart} {name}, parent and child"
            );
        }
    }
}

fn parent_and_child(mode: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Three runs of N of each sync call, the process stopped between them.
    let mut workload = Workload::spawn("sync,pause,sync,pause,sync", N as usize);
    let nothing = TempDir::new("netdata-parent");
    let mut parent = NetdataHost::start_streaming(
        &nothing.0,
        &format!("[db]\n    mode = {mode}\n"),
        &parent_stream_conf(mode),
    );
    let plugins = TempDir::new("netdata-child");
    let plugin = plugins.0.join("ebpf-collector.plugin");
    std::fs::copy(collector_bin(), &plugin).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = NetdataHost::start_streaming(
        &plugins.0,
        &format!(
            "[plugin:ebpf-collector]\n    command options = --sync --pid {}\n",
            workload.pid()
        ),
        &child_stream_conf(parent.port),
    );
    let started = now();
    wait_fresh(&parent, &child, started, Duration::from_secs(30), "start");
    let mirrored = parent.api("/api/v1/info").unwrap()["mirrored_hosts"].to_string();
    assert!(mirrored.contains(&child.instance), "{mirrored}");

    workload.work();
    assert_sums(&parent, &child, N, N, true, "first workload");

    // The parent restarts: while it is down, the child keeps collecting.
    // A parent in ram gets the child's history back by replication, each
    // point a second later than on the child (measured; dbengine keeps
    // them at their seconds).
    let dbengine = mode == "dbengine";
    let restarted = now();
    parent.restart();
    wait_fresh(
        &parent,
        &child,
        restarted + 1,
        RECONNECT,
        "parent restarted",
    );
    assert_sums(&parent, &child, N, N, dbengine, "parent restarted");
    workload.resume();
    assert_sums(&parent, &child, 2 * N, 2 * N, dbengine, "second workload");

    // The child restarts: its agent runs our plugin again, which attaches
    // anew; a child in memory mode ram starts with an empty history, the
    // parent keeps what it stored.
    let restarted = now();
    child.restart();
    wait_fresh(&parent, &child, restarted + 1, RECONNECT, "child restarted");
    assert_sums(&parent, &child, 2 * N, 0, false, "child restarted");
    workload.resume();
    assert_sums(&parent, &child, 3 * N, N, false, "third workload");
    workload.exit();
}

#[test]
fn parent_in_ram_serves_the_childs_exact_counts_across_restarts() {
    if require_root("streaming, parent in ram") && require_netdata("streaming, parent in ram") {
        parent_and_child("ram");
    }
}

#[test]
fn parent_in_dbengine_serves_the_childs_exact_counts_across_restarts() {
    if require_root("streaming, parent in dbengine")
        && require_netdata("streaming, parent in dbengine")
    {
        parent_and_child("dbengine");
    }
}
