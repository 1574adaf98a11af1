//! Per-application, per-cgroup and per-service charts on the real kernel:
//! a workload with a process name of its own (an `apps_groups.conf` group),
//! in some tests run inside a cgroup the test makes (and removes), makes a
//! known number of events; its group's, cgroup's and service's dimensions
//! must show exactly those. No `--pid`: the grouping alone picks the
//! workload out, its children included.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use tests::block::LoopDevice;
use tests::cgroup::{own_path, unified_mount, TestCgroup};
use tests::expected::{cachestat_totals, swap_totals, SOCKET_BYTES};
use tests::no_tracepoints::{refused_here, wait_attached};
use tests::provoke::{oom_cgroup, oom_cgroup_at, oom_cgroup_v1_only, oom_kill};
use tests::swap::Swap;
use tests::{cannot_run, require_root, scaled, Collector, Workload};

const N: i64 = 10;

/// A process name for one test's workload (at most 15 bytes), unique
/// among the tests running at once.
fn comm(tag: &str) -> String {
    format!("wl{}{tag}", std::process::id())
}

fn group(tag: &str) -> String {
    format!("ebpftest-{tag}")
}

/// `ebpf.d.conf` with `global`, and an `apps_groups.conf` that gives the
/// workload its own group (after a pattern that matches nothing, so that
/// the group is not the first).
fn config(tag: &str, global: &str) -> Vec<(&'static str, String)> {
    config_scanning(tag, global, 1)
}

/// [`config`], with cgroup scans `scan_every` seconds apart.
fn config_scanning(tag: &str, global: &str, scan_every: u32) -> Vec<(&'static str, String)> {
    vec![
        (
            "ebpf.d.conf",
            format!("[global]\n{global}\n[cgroups]\ncheck for new cgroups every = {scan_every}\n"),
        ),
        (
            "apps_groups.conf",
            apps_groups(&format!("{}: {}", group(tag), comm(tag))),
        ),
    ]
}

/// `apps_groups.conf` with `rules` after a pattern that matches nothing.
fn apps_groups(rules: &str) -> String {
    format!("# this test's workload\nnothing: no-such-process*\n{rules}\n")
}

fn start(files: &[(&'static str, String)], args: &[&str], chart: &str) -> Collector {
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let mut all = vec!["--update-every", "1"];
    all.extend_from_slice(args);
    let collector = Collector::start(&all, &files);
    collector.wait_attached(chart);
    collector
}

/// One per-process chart's count: (id after the type, dimension of the
/// cgroup chart, count, only in return mode).
type Count = (&'static str, &'static str, i64, bool);

/// What one scenario of the workload makes, per process chart, for its
/// thread.
struct Scenario {
    name: &'static str,
    flag: &'static str,
    /// A system chart of the thread: it has data once the thread attached.
    chart: &'static str,
    counts: fn(&Collector) -> Vec<Count>,
}

const PROCESS: Scenario = Scenario {
    name: "process",
    flag: "--process",
    chart: "system.exit",
    counts: |_| {
        vec![
            ("process_create", "_do_fork", N, false),
            ("thread_create", "sys_clone", N, false),
            // N children, N threads and the workload itself.
            ("task_exit", "do_exit", 2 * N + 1, false),
            ("task_close", "release_task", 2 * N + 1, false),
            // N failed process and N failed thread creations.
            ("task_error", "do_exit", 2 * N, true),
        ]
    },
};

/// The workload's opens and closes, then its child's: 2N of each, N of
/// them failing, in each process.
const FD: Scenario = Scenario {
    name: "fd",
    flag: "--fd",
    chart: "filesystem.file_descriptor",
    counts: |_| {
        vec![
            ("file_open", "do_sys_open", 4 * N, false),
            ("file_open_error", "do_sys_open", 2 * N, true),
            ("file_closed", "__close_fd", 4 * N, false),
            ("file_close_error", "__close_fd", 2 * N, true),
        ]
    },
};

/// As tests/vfs.rs.
const VFS: Scenario = Scenario {
    name: "vfs",
    flag: "--vfs",
    chart: "filesystem.vfs_io",
    counts: |collector| {
        // Only the tracepoint variant sees opens of a missing file.
        let missing = i64::from(collector.variant().as_deref() == Some("tracepoint")) * N;
        vec![
            ("file_deleted", "vfs_unlink", N, false),
            ("vfs_write_call", "vfs_write", 3 * N, false),
            ("vfs_write_error", "vfs_write", N, true),
            ("vfs_read_call", "vfs_read", 3 * N, false),
            ("vfs_read_error", "vfs_read", N, true),
            ("vfs_write_bytes", "vfs_write", 85 * N, false),
            ("vfs_read_bytes", "vfs_read", 150 * N, false),
            ("vfs_fsync", "vfs_fsync", 2 * N, false),
            ("vfs_fsync_error", "vfs_fsync", N, true),
            ("vfs_open", "vfs_open", 2 * N + missing, false),
            ("vfs_open_error", "vfs_open", N + missing, true),
            ("vfs_create", "vfs_create", 2 * N, false),
            ("vfs_create_error", "vfs_create", N, true),
        ]
    },
};

const SHM: Scenario = Scenario {
    name: "shm",
    flag: "--shm",
    chart: "system.shared_memory_calls",
    counts: |_| {
        vec![
            ("shmget_call", "get", N, false),
            ("shmat_call", "at", N, false),
            ("shmdt_call", "dt", N, false),
            ("shmctl_call", "ctl", N, false),
        ]
    },
};

/// As tests/socket.rs: the workload's own TCP and UDP traffic, in its
/// network namespace; bytes are TCP's and UDP's together.
const SOCKET: Scenario = Scenario {
    name: "socket",
    flag: "--socket",
    chart: "ip.tcp_functions",
    counts: |_| {
        let (calls, bytes) = (4 * N + 1, 8 * N * SOCKET_BYTES);
        vec![
            ("outbound_conn_v4", "tcp_connect_v4", N, false),
            ("outbound_conn_v6", "tcp_connect_v6", N, false),
            ("total_bandwidth_recv", "received", bytes, false),
            ("total_bandwidth_sent", "sent", bytes, false),
            ("bandwidth_tcp_recv", "tcp_cleanup_rbuf", calls, false),
            ("bandwidth_tcp_send", "tcp_sendmsg", calls, false),
            ("bandwidth_tcp_retransmit", "tcp_retransmit_skb", 0, false),
            ("bandwidth_udp_send", "udp_sendmsg", calls, false),
            ("bandwidth_udp_recv", "udp_recvmsg", calls, false),
        ]
    },
};

/// Scenarios run together (none adds to another's counts): those of the
/// cgroup and services tests, which run on this host only...
const HOST_MIX: &[&Scenario] = &[&PROCESS, &SHM, &SOCKET];
/// ...and those of the tests that also run in the kernel matrix, where a
/// variant forced on a kernel without it (socket's tracepoints before
/// 6.3) would keep a thread from running.
const MIX: &[&Scenario] = &[&PROCESS, &SHM];

/// The workload's argument for `mix`.
fn scenarios(mix: &[&Scenario]) -> String {
    let names: Vec<&str> = mix.iter().map(|scenario| scenario.name).collect();
    names.join(",")
}

fn mode_args(scenario: &Scenario, return_mode: bool) -> Vec<&'static str> {
    let mut args = vec![scenario.flag];
    if return_mode {
        args.push("--return");
    }
    args
}

/// `(chart, dimension, total)` the collector must show for `scenario`:
/// `chart_type.<id>`, with `dim` the dimension, or the cgroup chart's own
/// dimension when `dim` is `None`.
fn expected(
    collector: &Collector,
    scenario: &Scenario,
    return_mode: bool,
    chart_type: &str,
    dim: Option<&str>,
) -> Vec<(String, String, i64)> {
    (scenario.counts)(collector)
        .into_iter()
        .filter(|(.., return_only)| return_mode || !return_only)
        .map(|(id, cgroup_dim, count, _)| {
            (
                format!("{chart_type}.{id}"),
                dim.unwrap_or(cgroup_dim).to_owned(),
                count,
            )
        })
        .collect()
}

fn assert_totals(collector: &Collector, expected: &[(String, String, i64)]) {
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, d, n)| (c.as_str(), d.as_str(), *n))
        .collect();
    collector.assert_totals(&expected);
}

/// Stops `collector`: it exits cleanly, its stream broke no protocol rule,
/// and Netdata would have stored every count.
fn stop_cleanly(collector: Collector) {
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
}

fn apps_group_counts_every_event(scenario: &Scenario, tag: &str, return_mode: bool) {
    // Ready (its start-up and preparation done) before the collector
    // starts: only the scenario's own events are seen.
    let workload = Workload::spawn_named(scenario.name, N as usize, Some(&comm(tag)));
    let collector = start(
        &config(tag, "apps = yes"),
        &mode_args(scenario, return_mode),
        scenario.chart,
    );
    workload.run();
    let group = group(tag);
    let expected = expected(&collector, scenario, return_mode, "apps", Some(&group));
    assert_totals(&collector, &expected);
    let stream = collector.stream();
    // Error charts only in return mode, as the original.
    let errors = (scenario.counts)(&collector)
        .into_iter()
        .filter(|(.., return_only)| *return_only)
        .map(|(id, ..)| format!("apps.{id}"));
    for chart in errors {
        assert_eq!(stream.chart(&chart).is_some(), return_mode, "{chart}");
    }
    stop_cleanly(collector);
}

#[test]
fn apps_process_entry_mode() {
    if require_root("apps process, entry mode") {
        apps_group_counts_every_event(&PROCESS, "pe", false);
    }
}

#[test]
fn apps_process_return_mode() {
    if require_root("apps process, return mode") {
        apps_group_counts_every_event(&PROCESS, "pr", true);
    }
}

#[test]
fn apps_fd_entry_mode() {
    if require_root("apps fd, entry mode") {
        apps_group_counts_every_event(&FD, "fe", false);
    }
}

#[test]
fn apps_fd_return_mode() {
    if require_root("apps fd, return mode") {
        apps_group_counts_every_event(&FD, "fr", true);
    }
}

#[test]
fn apps_vfs_entry_mode() {
    if require_root("apps vfs, entry mode") {
        apps_group_counts_every_event(&VFS, "ve", false);
    }
}

#[test]
fn apps_vfs_return_mode() {
    if require_root("apps vfs, return mode") {
        apps_group_counts_every_event(&VFS, "vr", true);
    }
}

#[test]
fn apps_shm_entry_mode() {
    if require_root("apps shm, entry mode") {
        apps_group_counts_every_event(&SHM, "se", false);
    }
}

#[test]
fn apps_shm_return_mode() {
    if require_root("apps shm, return mode") {
        apps_group_counts_every_event(&SHM, "sr", true);
    }
}

#[test]
fn apps_socket_entry_mode() {
    if require_root("apps socket, entry mode") {
        apps_group_counts_every_event(&SOCKET, "ne", false);
    }
}

#[test]
fn apps_socket_return_mode() {
    if require_root("apps socket, return mode") {
        apps_group_counts_every_event(&SOCKET, "nr", true);
    }
}

/// As tests/cachestat.rs, per apps group: the workload's reads and writes
/// of a loop device of its own, counted before it exits (its exit's
/// unmapping marks pages accessed for the function variants).
#[test]
fn apps_cachestat() {
    if !require_root("apps cachestat") {
        return;
    }
    // Refused before 6.11, as tests/cachestat.rs asserts.
    if tests::forced_variant().as_deref() == Some("tracepoint")
        && !tests::kernel_btf_has("btf_trace_mm_filemap_get_pages")
    {
        return;
    }
    let tag = "ca";
    let device = LoopDevice::create(N as u64 * 4096);
    let scenario = format!("cachestat={}", device.path().display());
    let mut workload = Workload::spawn_named(&scenario, N as usize, Some(&comm(tag)));
    let collector = start(
        &config(tag, "apps = yes"),
        &["--cachestat"],
        "mem.cachestat_hits",
    );
    workload.work();
    let group = group(tag);
    let expected: Vec<(String, String, i64)> = cachestat_totals(N)
        .into_iter()
        .map(|(chart, _, n)| (chart.replace("mem.", "apps."), group.clone(), n))
        .collect();
    assert_totals(&collector, &expected);
    workload.exit();
    stop_cleanly(collector);
}

/// The `cachestat` scenario on a loop device of its own, in `cgroup`:
/// every page counted in `chart_type`'s charts (`dim`: the dimension, or
/// the cgroup chart's own when `None`). Its reads before it stops, as in
/// [`apps_cachestat`].
fn cachestat_in(cgroup: &TestCgroup, tag: &str, chart_type: &str, dim: Option<&str>) {
    let device = LoopDevice::create(N as u64 * 4096);
    let scenario = format!("cachestat={}", device.path().display());
    let mut workload = Workload::spawn_in(&scenario, N as usize, Some(&comm(tag)), &cgroup.dirs);
    let collector = start(
        &config(tag, "cgroups = yes"),
        &["--cachestat"],
        "mem.cachestat_hits",
    );
    let hits = format!("{chart_type}.cachestat_hits");
    let shown = |s: &tests::protocol::Stream| {
        s.chart(&hits)
            .is_some_and(|c| dim.is_none_or(|dim| c.dims.contains_key(dim)))
    };
    assert!(
        collector.wait_until(Duration::from_secs(15), shown),
        "{hits} never shown; stderr:\n{}",
        collector.stderr()
    );
    workload.work();
    let expected: Vec<(String, String, i64)> = cachestat_totals(N)
        .into_iter()
        .map(|(chart, own, n)| {
            let chart = chart.replace("mem.", &format!("{chart_type}."));
            (chart, dim.unwrap_or(own).to_owned(), n)
        })
        .collect();
    assert_totals(&collector, &expected);
    workload.exit();
    stop_cleanly(collector);
}

#[test]
fn cachestat_cgroup_charts() {
    if require_root("cachestat cgroup charts") {
        let cgroup = host_cgroup("cc");
        cachestat_in(&cgroup, "cc", &cgroup.chart_type(), None);
    }
}

#[test]
fn cachestat_services_charts() {
    if require_root("cachestat services charts") {
        let service = format!("ebpf-test-{}cs", std::process::id());
        let cgroup = TestCgroup::create(&format!("/system.slice/{service}.service"));
        cachestat_in(&cgroup, "cs", "services", Some(&service));
    }
}

/// As tests/swap.rs, per apps group: the workload's pages written to swap
/// and read back, on a zram device of the test's own. Where swap cannot
/// run (this machine: no kprobes, trampolines refused) it asserts the
/// refusal instead.
#[test]
fn apps_swap() {
    if !require_root("apps swap") || refused_here("swap", &["--swap"]) {
        return;
    }
    let _swap = match Swap::zram(1024) {
        Ok(swap) => swap,
        Err(why) => {
            cannot_run(&format!("apps swap: {why}"));
            return;
        }
    };
    let tag = "sw";
    let mut workload = Workload::spawn_named("swap", N as usize, Some(&comm(tag)));
    let files = config(tag, "apps = yes");
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let collector = Collector::start(&["--update-every", "1", "--swap"], &files);
    wait_attached(&collector, "swap", "mem.swapcalls");
    workload.work();
    let group = group(tag);
    let expected: Vec<(String, String, i64)> = swap_totals(N)
        .into_iter()
        .map(|(_, dim, n)| (format!("apps.swap_{dim}_call"), group.clone(), n))
        .collect();
    assert_totals(&collector, &expected);
    workload.exit();
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::assert_netdata_keeps_everything(&stream);
}

#[test]
fn apps_charts_are_the_originals() {
    if !require_root("apps chart definitions") {
        return;
    }
    let tag = "d";
    let collector = start(
        &config(tag, "apps = yes"),
        &["--process", "--fd"],
        "system.exit",
    );
    Workload::spawn_named("process,fd", N as usize, Some(&comm(tag))).run();
    let group = group(tag);
    let defined = |s: &tests::protocol::Stream| {
        ["apps.process_create", "apps.file_open"]
            .iter()
            .all(|id| s.chart(id).is_some_and(|c| c.dims.contains_key(&group)))
    };
    assert!(collector.wait_until(Duration::from_secs(10), defined));
    let stream = collector.stream();
    for (id, title, family, priority, algorithm) in [
        (
            "apps.process_create",
            "Process started",
            "processes",
            20065,
            "absolute",
        ),
        (
            "apps.file_open",
            "Number of open files",
            "file_access",
            20061,
            "incremental",
        ),
    ] {
        let chart = stream.chart(id).unwrap();
        assert_eq!(
            (
                chart.title.as_str(),
                chart.family.as_str(),
                chart.chart_type.as_str(),
                chart.priority,
                chart.dims[&group].algorithm.as_str()
            ),
            (title, family, "stacked", priority, algorithm),
            "{id}"
        );
    }
    collector.terminate();
}

/// SIGHUP reads `apps_groups.conf` again. The workload's name moves from
/// group A to group B; A stays, after B and matching nothing, so that its
/// position changes. A run before the reload counts for A, a run after it
/// for B, and A keeps exactly its total: totals follow their group by
/// name, not by position.
#[test]
fn sighup_regroups_by_the_new_apps_groups() {
    if !require_root("apps regrouped on SIGHUP") {
        return;
    }
    let tag = "h";
    let (a, b) = (group("ha"), group("hb"));
    // Both ready (their start-up done) before the collector starts: only
    // their scenarios are seen. The second has no event before its run,
    // after the reload: it is first grouped then, by the new rules.
    let first = Workload::spawn_named(FD.name, N as usize, Some(&comm(tag)));
    let second = Workload::spawn_named(FD.name, N as usize, Some(&comm(tag)));
    let mut files = config(tag, "apps = yes");
    files[1].1 = apps_groups(&format!("{a}: {}", comm(tag)));
    let collector = start(&files, &mode_args(&FD, false), FD.chart);
    first.run();
    let in_a = expected(&collector, &FD, false, "apps", Some(&a));
    assert_totals(&collector, &in_a);

    let rules = format!("{b}: {}\n{a}: no-such-process-a*", comm(tag));
    std::fs::write(
        collector.config_dir().join("apps_groups.conf"),
        apps_groups(&rules),
    )
    .unwrap();
    kill(Pid::from_raw(collector.pid() as i32), Signal::SIGHUP).unwrap();
    let reloaded = tests::poll(Duration::from_secs(10), Duration::from_millis(50), || {
        collector
            .stderr()
            .contains("SIGHUP: reloading the configuration")
    });
    assert!(reloaded, "no reload; stderr:\n{}", collector.stderr());
    second.run();
    let mut both = in_a;
    both.extend(expected(&collector, &FD, false, "apps", Some(&b)));
    assert_totals(&collector, &both);

    // A group gone from the rules leaves every chart it had a dimension
    // in: DIMENSION ... obsolete, and B stays.
    std::fs::write(
        collector.config_dir().join("apps_groups.conf"),
        apps_groups(&format!("{b}: {}", comm(tag))),
    )
    .unwrap();
    kill(Pid::from_raw(collector.pid() as i32), Signal::SIGHUP).unwrap();
    let charts: Vec<String> = both.iter().map(|(chart, ..)| chart.clone()).collect();
    let obsolete = |s: &tests::protocol::Stream, group: &str| {
        charts.iter().all(|chart| {
            s.chart(chart)
                .and_then(|c| c.dims.get(group))
                .is_some_and(|dim| dim.obsolete)
        })
    };
    let dropped = collector.wait_until(Duration::from_secs(10), |s| obsolete(s, &a));
    assert!(
        dropped,
        "{a} not sent obsolete in {charts:?}; stderr:\n{}",
        collector.stderr()
    );
    let stream = collector.stream();
    assert!(
        charts
            .iter()
            .all(|chart| !stream.charts[chart].dims[&b].obsolete),
        "{b} sent obsolete"
    );
    stop_cleanly(collector);
}

/// Runs the scenarios of `mix` inside `cgroup`.
fn run_in(cgroup: &TestCgroup, mix: &[&Scenario], tag: &str) {
    Workload::spawn_in(&scenarios(mix), N as usize, Some(&comm(tag)), &cgroup.dirs).run();
}

/// What the scenarios of `mix` make together.
fn cgroup_expected(
    collector: &Collector,
    mix: &[&Scenario],
    return_mode: bool,
    chart_type: &str,
    dim: Option<&str>,
) -> Vec<(String, String, i64)> {
    mix.iter()
        .flat_map(|scenario| expected(collector, scenario, return_mode, chart_type, dim))
        .collect()
}

/// The threads of [`HOST_MIX`], all attached: a workload run before a
/// worker attached would count nothing for its thread.
fn start_cgroup_threads(tag: &str, global: &str, return_mode: bool) -> Collector {
    start_threads_with(&config(tag, global), return_mode, HOST_MIX)
}

/// The threads of `mix` with these configuration files, all attached.
fn start_threads_with(
    files: &[(&'static str, String)],
    return_mode: bool,
    mix: &[&Scenario],
) -> Collector {
    let mut args: Vec<&str> = mix.iter().map(|scenario| scenario.flag).collect();
    if return_mode {
        args.push("--return");
    }
    let collector = start(files, &args, mix[0].chart);
    for scenario in &mix[1..] {
        collector.wait_attached(scenario.chart);
    }
    collector
}

fn cgroup_charts_count_every_event(cgroup: TestCgroup, tag: &str, global: &str, return_mode: bool) {
    let mut cgroup = cgroup;
    let collector = start_cgroup_threads(tag, global, return_mode);
    let chart_type = cgroup.chart_type();
    let first = format!("{chart_type}.process_create");
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| s.chart(&first).is_some()),
        "{first} never defined; stderr:\n{}",
        collector.stderr()
    );
    run_in(&cgroup, HOST_MIX, tag);
    let expected = cgroup_expected(&collector, HOST_MIX, return_mode, &chart_type, None);
    assert_totals(&collector, &expected);
    let stream = collector.stream();
    let chart = stream.chart(&first).unwrap();
    assert_eq!(
        (
            chart.context.as_str(),
            chart.family.as_str(),
            chart.priority
        ),
        ("cgroup.process_create", "processes (eBPF)", 45000)
    );
    assert_eq!(chart.dims["_do_fork"].name, "process");
    assert_eq!(chart.dims["_do_fork"].algorithm, "incremental");
    // The cgroup goes: its charts become obsolete.
    cgroup.remove();
    let obsolete = collector.wait_until(Duration::from_secs(10), |s| {
        expected
            .iter()
            .all(|(chart, ..)| s.chart(chart).is_some_and(|c| c.obsolete))
    });
    assert!(obsolete, "charts of the removed cgroup not obsolete");
    stop_cleanly(collector);
}

/// A test's cgroup path, below this process's own.
fn cgroup_id(tag: &str) -> String {
    format!(
        "{}/ebpf-test-{}{tag}",
        own_path(None).trim_end_matches('/'),
        std::process::id()
    )
}

/// A cgroup made as systemd makes them on this host (hybrid: the first v1
/// hierarchy and the unified one; pure v2: the unified one).
fn host_cgroup(tag: &str) -> TestCgroup {
    TestCgroup::create(&cgroup_id(tag))
}

#[test]
fn cgroup_charts_entry_mode() {
    if require_root("cgroup charts, entry mode") {
        cgroup_charts_count_every_event(host_cgroup("ce"), "ce", "cgroups = yes", false);
    }
}

#[test]
fn cgroup_charts_return_mode() {
    if require_root("cgroup charts, return mode") {
        cgroup_charts_count_every_event(host_cgroup("cr"), "cr", "cgroups = yes", true);
    }
}

/// The unified hierarchy alone, as on a pure cgroup v2 host (forced here,
/// where the host may be hybrid): processes are placed by the kernel's
/// cgroup id.
#[test]
fn cgroup_charts_unified_hierarchy() {
    if !require_root("unified cgroups") {
        return;
    }
    let tag = "u";
    let root = unified_mount().expect("a cgroup2 (unified) mount");
    let cgroup = TestCgroup::create_in(&[root], &cgroup_id(tag));
    let global = "cgroups = yes\n[cgroups]\nuse unified cgroups = yes";
    cgroup_charts_count_every_event(cgroup, tag, global, false);
}

fn a_system_slice_service_is_a_services_dimension(tag: &str, return_mode: bool) {
    let service = format!("ebpf-test-{}{tag}", std::process::id());
    let cgroup = TestCgroup::create(&format!("/system.slice/{service}.service"));
    let collector = start_cgroup_threads(tag, "cgroups = yes", return_mode);
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| s
            .chart("services.process_create")
            .is_some_and(|c| c.dims.contains_key(&service))),
        "no services dimension {service}; stderr:\n{}",
        collector.stderr()
    );
    run_in(&cgroup, HOST_MIX, tag);
    let expected = cgroup_expected(
        &collector,
        HOST_MIX,
        return_mode,
        "services",
        Some(&service),
    );
    assert_totals(&collector, &expected);
    let stream = collector.stream();
    let exit = stream.chart("services.task_exit").unwrap();
    assert_eq!(
        (exit.title.as_str(), exit.context.as_str(), exit.priority),
        ("Tasks starts exit process.", "services.task_exit", 20067)
    );
    assert_eq!(exit.dims[&service].algorithm, "incremental");
    assert_no_cgroup_charts(&stream, &service);
    collector.terminate();
}

/// A service is a dimension of the services charts, not a cgroup.
fn assert_no_cgroup_charts(stream: &tests::protocol::Stream, service: &str) {
    assert!(
        stream
            .charts
            .keys()
            .all(|id| !id.starts_with(&format!("cgroup_system-slice_{service}"))),
        "a service has no cgroup charts of its own"
    );
}

#[test]
fn services_entry_mode() {
    if require_root("services charts, entry mode") {
        a_system_slice_service_is_a_services_dimension("ye", false);
    }
}

#[test]
fn services_return_mode() {
    if require_root("services charts, return mode") {
        a_system_slice_service_is_a_services_dimension("yr", true);
    }
}

/// The oomkill thread, running (it has no chart until a kill).
fn start_oomkill(tag: &str, global: &str, return_mode: bool) -> Collector {
    start_oomkill_with(&config(tag, global), return_mode)
}

fn start_oomkill_with(files: &[(&'static str, String)], return_mode: bool) -> Collector {
    let mut args = vec!["--update-every", "1", "--oomkill"];
    if return_mode {
        args.push("--return");
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let collector = Collector::start(&args, &files);
    collector.wait_running("oomkill");
    collector
}

/// A workload in a small memory cgroup of its own allocates until the
/// kernel's OOM killer kills it: one kill for its apps group. The cgroup
/// is removed after; nothing else is touched.
fn an_oom_kill_is_counted_for_the_group(tag: &str, return_mode: bool) {
    let collector = start_oomkill(tag, "apps = no", return_mode);
    let mut cgroup = oom_cgroup(&format!("ebpf-test-{}{tag}", std::process::id()));
    oom_kill(&cgroup, Some(&comm(tag)));
    let group = group(tag);
    collector.assert_totals(&[("apps.oomkills", &group, 1)]);
    let stream = collector.stream();
    let chart = stream.chart("apps.oomkills").unwrap();
    assert_eq!(
        (
            chart.title.as_str(),
            chart.units.as_str(),
            chart.family.as_str(),
            chart.priority,
            chart.dims[&group].algorithm.as_str()
        ),
        ("OOM kills", "kills", "mem", 20020, "absolute")
    );
    cgroup.remove();
    collector.terminate();
}

#[test]
fn oomkill_entry_mode() {
    if require_root("oomkill, entry mode") {
        an_oom_kill_is_counted_for_the_group("oe", false);
    }
}

#[test]
fn oomkill_return_mode() {
    if require_root("oomkill, return mode") {
        an_oom_kill_is_counted_for_the_group("or", true);
    }
}

/// Two OOM kills with cgroups on: one in a memory cgroup of the test's
/// own, one in a systemd service's (on a hybrid host both are in the v1
/// memory hierarchy, where the limit is, and at the same path in the
/// unified one, as systemd makes them). Each is counted exactly once, on
/// the cgroup's own `oomkills` chart and on the service's dimension of
/// `services.oomkills`, and not on the other's; both on the apps group.
#[test]
fn oomkill_cgroup_and_service() {
    if !require_root("oomkill cgroup and services charts") {
        return;
    }
    let tag = "oc";
    let collector = start_oomkill(tag, "cgroups = yes", false);
    let mut cgroup = oom_cgroup(&format!("ebpf-test-{}{tag}", std::process::id()));
    let service = format!("ebpf-test-{}{tag}", std::process::id());
    let mut service_cgroup = oom_cgroup_at(&format!("/system.slice/{service}.service"));
    let chart = format!("{}.oomkills", cgroup.chart_type());
    let both = |s: &tests::protocol::Stream| {
        s.chart(&chart).is_some()
            && s.chart("services.oomkills")
                .is_some_and(|c| c.dims.contains_key(&service))
    };
    assert!(
        collector.wait_until(Duration::from_secs(10), both),
        "no {chart} or services dimension {service}; stderr:\n{}",
        collector.stderr()
    );
    oom_kill(&cgroup, Some(&comm(tag)));
    oom_kill(&service_cgroup, Some(&comm(tag)));
    let group = group(tag);
    collector.assert_totals(&[
        (&chart, "oomkill", 1),
        ("services.oomkills", &service, 1),
        ("apps.oomkills", &group, 2),
    ]);
    let stream = collector.stream();
    let oomkills = stream.chart(&chart).unwrap();
    assert_eq!(
        (
            oomkills.title.as_str(),
            oomkills.units.as_str(),
            oomkills.family.as_str(),
            oomkills.context.as_str(),
            oomkills.chart_type.as_str(),
            oomkills.priority,
            oomkills.dims["oomkill"].name.as_str(),
            oomkills.dims["oomkill"].algorithm.as_str(),
        ),
        (
            "OOM kills. This chart is provided by eBPF plugin.",
            "kills",
            "mem",
            "cgroup.oomkills",
            "line",
            45600,
            "oomkill",
            "absolute"
        )
    );
    let services = stream.chart("services.oomkills").unwrap();
    assert_eq!(
        (
            services.title.as_str(),
            services.units.as_str(),
            services.family.as_str(),
            services.chart_type.as_str(),
            services.priority,
            services.dims[&service].algorithm.as_str()
        ),
        (
            oomkills.title.as_str(),
            "kills",
            "mem",
            "line",
            20191,
            "absolute"
        )
    );
    assert_no_cgroup_charts(&stream, &service);
    cgroup.remove();
    service_cgroup.remove();
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(stream.errors, Vec::<String>::new());
}

/// Born while the collector runs, events at once, then gone: the burst of
/// a process that starts after the collector, in a group, cgroup or
/// service nobody saw before, making all its events and exiting within
/// one update. Netdata stores neither a new chart's first collection nor
/// a new dimension's first value, so each of these must be born at zero
/// and carry the burst in its next update; the stream's totals (what
/// Netdata stores) must be exactly the events.
enum Newcomer {
    /// A process of an apps group that had no process yet.
    Group,
    /// A process in a cgroup made after the collector started, before the
    /// next cgroup scan (a minute away), of an apps group already shown
    /// (nothing but the new cgroup changes the charts).
    Cgroup,
    /// The same for a systemd service's cgroup.
    Service,
}

fn a_newcomers_burst_is_counted_whole(newcomer: Newcomer, tag: &str, return_mode: bool) {
    // No scan but the first one during the test: only the kernel's
    // cgroup id can place the process.
    let files = config_scanning(tag, "apps = yes\ncgroups = yes", 60);
    let collector = start_threads_with(&files, return_mode, MIX);
    let (chart_type, dim, cgroup) = match newcomer {
        Newcomer::Group => ("apps".to_owned(), Some(group(tag)), None),
        Newcomer::Cgroup => {
            let cgroup = host_cgroup(tag);
            (cgroup.chart_type(), None, Some(cgroup))
        }
        Newcomer::Service => {
            let service = format!("ebpf-test-{}{tag}", std::process::id());
            let cgroup = TestCgroup::create(&format!("/system.slice/{service}.service"));
            ("services".to_owned(), Some(service), Some(cgroup))
        }
    };
    if cgroup.is_some() {
        // The group is shown first, outside the cgroup: its showing must
        // not be what brings the new cgroup's charts (it did, and hid that
        // a cgroup found between scans changed no chart).
        Workload::spawn_named(&scenarios(MIX), 1, Some(&comm(tag))).run();
        let shown = |s: &tests::protocol::Stream| {
            s.charts
                .iter()
                .any(|(id, chart)| id.starts_with("apps.") && chart.dims.contains_key(&group(tag)))
        };
        assert!(
            collector.wait_until(scaled(Duration::from_secs(10)), shown),
            "apps group {} never shown",
            group(tag)
        );
    }
    let before = collector.stream();
    let unseen = |s: &tests::protocol::Stream| {
        s.charts.iter().all(|(id, chart)| {
            !id.starts_with(&format!("{chart_type}."))
                || dim.as_ref().is_some_and(|d| !chart.dims.contains_key(d))
        })
    };
    assert!(
        unseen(&before),
        "{chart_type} {dim:?} exists before its burst"
    );
    // Spawned now: the group's first process (its start-up makes no event
    // of the process and shm charts but its own exit).
    let workload = match &cgroup {
        Some(cgroup) => {
            Workload::spawn_in(&scenarios(MIX), N as usize, Some(&comm(tag)), &cgroup.dirs)
        }
        None => Workload::spawn_named(&scenarios(MIX), N as usize, Some(&comm(tag))),
    };
    workload.run();
    let expected = cgroup_expected(&collector, MIX, return_mode, &chart_type, dim.as_deref());
    assert_totals(&collector, &expected);
    stop_cleanly(collector);
}

#[test]
fn a_new_groups_burst_entry_mode() {
    if require_root("a new apps group's burst, entry mode") {
        a_newcomers_burst_is_counted_whole(Newcomer::Group, "ge", false);
    }
}

#[test]
fn a_new_groups_burst_return_mode() {
    if require_root("a new apps group's burst, return mode") {
        a_newcomers_burst_is_counted_whole(Newcomer::Group, "gr", true);
    }
}

#[test]
fn a_new_cgroups_burst_entry_mode() {
    if require_root("a new cgroup's burst, entry mode") {
        a_newcomers_burst_is_counted_whole(Newcomer::Cgroup, "ne", false);
    }
}

#[test]
fn a_new_cgroups_burst_return_mode() {
    if require_root("a new cgroup's burst, return mode") {
        a_newcomers_burst_is_counted_whole(Newcomer::Cgroup, "nr", true);
    }
}

#[test]
fn a_new_services_burst_entry_mode() {
    if require_root("a new service's burst, entry mode") {
        a_newcomers_burst_is_counted_whole(Newcomer::Service, "we", false);
    }
}

#[test]
fn a_new_services_burst_return_mode() {
    if require_root("a new service's burst, return mode") {
        a_newcomers_burst_is_counted_whole(Newcomer::Service, "wr", true);
    }
}

/// `prctl(PR_SET_NAME)` without exec: the process is grouped again by its
/// new name, as apps.plugin does; what it did before stays with the old
/// group. The kernel passes the rename on (`task_rename`).
fn a_renamed_process_is_regrouped(tag: &str, return_mode: bool) {
    let (old, new) = (group(&format!("{tag}o")), group(&format!("{tag}n")));
    let new_name = format!("wn{}{tag}", std::process::id());
    let mut files = config(tag, "apps = yes");
    files[1].1 = apps_groups(&format!("{old}: {}\n{new}: {new_name}", comm(tag)));
    let mut workload = Workload::spawn_named(
        &format!("shm,pause,rename={new_name},shm"),
        N as usize,
        Some(&comm(tag)),
    );
    let collector = start(&files, &mode_args(&SHM, return_mode), SHM.chart);
    workload.work();
    let before = expected(&collector, &SHM, return_mode, "apps", Some(&old));
    assert_totals(&collector, &before);
    workload.resume();
    let mut both = before;
    both.extend(expected(&collector, &SHM, return_mode, "apps", Some(&new)));
    assert_totals(&collector, &both);
    workload.exit();
    stop_cleanly(collector);
}

#[test]
fn a_renamed_process_is_regrouped_entry_mode() {
    if require_root("a renamed process, entry mode") {
        a_renamed_process_is_regrouped("me", false);
    }
}

#[test]
fn a_renamed_process_is_regrouped_return_mode() {
    if require_root("a renamed process, return mode") {
        a_renamed_process_is_regrouped("mr", true);
    }
}

/// Held while a test plays with `ns_last_pid`, which is the whole
/// machine's: two such tests at once can take each other's PIDs. (CI,
/// 2026-12-07: the entry mode's test failed while the return mode's ran,
/// its second cgroup with two exits for one; not explained further.)
static PID_GAME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A PID the kernel hands out again at once, while the collector still
/// holds the first process (its grace period, its unread entry): the two
/// processes, of the same name, in two cgroups, are never merged. The
/// kernel's start time tells them apart.
fn a_reused_pid_never_merges_two_processes(tag: &str, return_mode: bool) {
    let _alone = PID_GAME.lock().unwrap_or_else(|e| e.into_inner());
    let (first_cgroup, second_cgroup) = (
        host_cgroup(&format!("{tag}a")),
        host_cgroup(&format!("{tag}b")),
    );
    let collector = start_threads_with(&config(tag, "apps = yes\ncgroups = yes"), return_mode, MIX);
    let first = Workload::spawn_in(SHM.name, N as usize, Some(&comm(tag)), &first_cgroup.dirs);
    let pid = first.pid();
    first.run();
    let second = Workload::spawn_as(pid, || {
        Workload::spawn_in(SHM.name, N as usize, Some(&comm(tag)), &second_cgroup.dirs)
    });
    second.run();
    // Each exits once, its own release included.
    let exit = |chart_type: &str, dim: Option<&str>, count: i64| {
        [("task_exit", "do_exit"), ("task_close", "release_task")].map(|(id, own)| {
            (
                format!("{chart_type}.{id}"),
                dim.unwrap_or(own).to_owned(),
                count,
            )
        })
    };
    let mut expected = Vec::new();
    for cgroup in [&first_cgroup, &second_cgroup] {
        let chart_type = cgroup.chart_type();
        expected.extend(self::expected(
            &collector,
            &SHM,
            return_mode,
            &chart_type,
            None,
        ));
        expected.extend(exit(&chart_type, None, 1));
    }
    let group = group(tag);
    for (chart, dim, count) in self::expected(&collector, &SHM, return_mode, "apps", Some(&group)) {
        expected.push((chart, dim, 2 * count));
    }
    expected.extend(exit("apps", Some(&group), 2));
    assert_totals(&collector, &expected);
    stop_cleanly(collector);
}

#[test]
fn a_reused_pid_entry_mode() {
    if require_root("a reused PID, entry mode") {
        a_reused_pid_never_merges_two_processes("pe2", false);
    }
}

#[test]
fn a_reused_pid_return_mode() {
    if require_root("a reused PID, return mode") {
        a_reused_pid_never_merges_two_processes("pr2", true);
    }
}

/// An OOM kill in a cgroup that exists only in the v1 hierarchies
/// (Docker's cgroupfs driver on a hybrid host): the unified hierarchy has
/// the victim where its parent is, so only the kernel's cgroup of the
/// victim in the first v1 hierarchy (the same path as the memory cgroup it
/// was charged to) names the cgroup; the kill is counted there, though the
/// victim is gone before anybody looks.
#[test]
fn oomkill_in_a_v1_only_memory_cgroup() {
    if !require_root("oomkill in a v1-only memory cgroup") {
        return;
    }
    let tag = "o1";
    let id = format!("/ebpf-test-{}{tag}", std::process::id());
    let Some(mut cgroup) = oom_cgroup_v1_only(&id) else {
        cannot_run("oomkill in a v1-only memory cgroup: no v1 memory hierarchy (pure cgroup v2)");
        return;
    };
    // One scan, at the start: the victim, born later, is in none.
    let collector = start_oomkill_with(&config_scanning(tag, "cgroups = yes", 60), false);
    let chart = format!("{}.oomkills", cgroup.chart_type());
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| s.chart(&chart).is_some()),
        "no {chart}; stderr:\n{}",
        collector.stderr()
    );
    oom_kill(&cgroup, Some(&comm(tag)));
    collector.assert_totals(&[(&chart, "oomkill", 1), ("apps.oomkills", &group(tag), 1)]);
    cgroup.remove();
    stop_cleanly(collector);
}
