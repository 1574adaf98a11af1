//! Per-application, per-cgroup and per-service charts on the real kernel:
//! a workload with a process name of its own (an `apps_groups.conf` group),
//! run inside a cgroup this test makes (and removes), makes a known number
//! of events; its group's, cgroup's and service's dimensions must show
//! exactly those. No `--pid`: the grouping alone picks the workload out.

use std::time::Duration;

use tests::cgroup::{first_hierarchy, own_path, unified_mount, TestCgroup};
use tests::{require_root, Collector, Workload};

const N: i64 = 25;

/// A process name for one test's workload (at most 15 bytes), unique
/// among the tests running at once.
fn comm(tag: &str) -> String {
    format!("wl{}{tag}", std::process::id())
}

/// The workload's per-process counts in a `process` chart family, as
/// (chart id after the type, dimension of the cgroup chart, count).
fn process_counts(return_mode: bool) -> Vec<(&'static str, &'static str, i64)> {
    let mut counts = vec![
        ("process_create", "_do_fork", N),
        ("thread_create", "sys_clone", N),
        // N children, N threads and the workload itself.
        ("task_exit", "do_exit", 2 * N + 1),
        ("task_close", "release_task", 2 * N + 1),
    ];
    if return_mode {
        // N failed process and N failed thread creations.
        counts.push(("task_error", "do_exit", 2 * N));
    }
    counts
}

fn config(tag: &str, global: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "ebpf.d.conf",
            format!("[global]\n{global}\n[cgroups]\ncheck for new cgroups every = 1\n"),
        ),
        (
            "apps_groups.conf",
            format!("# this test's workload\nebpftest-{tag}: {}\n", comm(tag)),
        ),
    ]
}

fn diag(tag: &str, collector: &Collector) {
    std::thread::sleep(Duration::from_secs(4));
    let s = collector.stream();
    eprintln!(
        "DIAG {tag}: full {:?} lost {:?} inserted {:?} removed {:?} system release {:?}",
        s.total("netdata.ebpf_pid_table_full", "process"),
        s.total("netdata.ebpf_pid_events_lost", "process"),
        s.total("netdata.ebpf_hash_tables_insert_pid_elements", "process"),
        s.total("netdata.ebpf_hash_tables_remove_pid_elements", "process"),
        s.total("system.exit", "release_task")
    );
    let pid = WL
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| t == tag)
        .map(|(_, p)| *p)
        .unwrap_or(0);
    let out = std::process::Command::new("bpftool")
        .args(["map", "dump", "name", "pid_table", "-j"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut mine = 0;
    for chunk in text.split("\"head\":{\"tgid\":").skip(1) {
        let nums: Vec<u64> = chunk
            .split(|c: char| !c.is_ascii_digit())
            .filter(|x| !x.is_empty())
            .take(8)
            .filter_map(|x| x.parse().ok())
            .collect();
        if nums.len() >= 3 && (nums[0] == pid as u64 || nums[2] == pid as u64) && nums[0] != 0 {
            mine += 1;
            if mine < 8 {
                eprintln!("DIAG {tag}: slot {:?}", nums);
            }
        }
    }
    eprintln!("DIAG {tag}: workload {pid}: {mine} slots left in all tables");
    for (id, c) in &s.charts {
        if id.ends_with("task_close") {
            eprintln!(
                "DIAG {tag}: {id} {:?}",
                c.dims
                    .keys()
                    .map(|d| (d.clone(), c.total(d).unwrap()))
                    .collect::<Vec<_>>()
            );
        }
    }
}

fn start(files: &[(&'static str, String)], args: &[&str]) -> Collector {
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let collector = Collector::start(args, &files);
    collector.wait_attached("system.exit");
    collector
}

fn process_args(return_mode: bool) -> Vec<&'static str> {
    let mut args = vec!["--process", "--update-every", "1"];
    if return_mode {
        args.push("--return");
    }
    args
}

fn apps_group_counts_every_event_of_the_workload(tag: &str, return_mode: bool) {
    let collector = start(&config(tag, "apps = yes"), &process_args(return_mode));
    Workload::spawn_named("process", N as usize, Some(&comm(tag))).run();
    let group = format!("ebpftest-{tag}");
    let expected: Vec<(String, &str, i64)> = process_counts(return_mode)
        .into_iter()
        .map(|(chart, _, count)| (format!("apps.{chart}"), group.as_str(), count))
        .collect();
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, d, n)| (c.as_str(), *d, *n))
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    {
        let s = collector.stream();
        let sum = |chart: &str| -> i64 {
            s.chart(chart)
                .map_or(0, |c| c.dims.keys().map(|d| c.total(d).unwrap()).sum())
        };
        eprintln!("DIAG {tag}: apps.task_close all {} system release {} apps.task_exit all {} system exit {}; ours {:?} {:?}",
            sum("apps.task_close"), s.total("system.exit", "release_task").unwrap(),
            sum("apps.task_exit"), s.total("system.exit", "do_exit").unwrap(),
            s.total("apps.task_close", &group), s.total("apps.task_exit", &group));
        eprintln!(
            "DIAG {tag}: full {:?} lost {:?} inserted {:?} removed {:?}",
            s.total("netdata.ebpf_pid_table_full", "process"),
            s.total("netdata.ebpf_pid_events_lost", "process"),
            s.total("netdata.ebpf_hash_tables_insert_pid_elements", "process"),
            s.total("netdata.ebpf_hash_tables_remove_pid_elements", "process")
        );
        eprintln!(
            "DIAG {tag}: close by group {:?}",
            s.chart("apps.task_close").map(|c| c
                .dims
                .keys()
                .map(|d| (d.clone(), c.total(d).unwrap()))
                .collect::<Vec<_>>())
        );
    }
    collector.assert_totals(&expected);
    let stream = collector.stream();
    let chart = stream.chart("apps.process_create").unwrap();
    assert_eq!(
        (
            chart.family.as_str(),
            chart.chart_type.as_str(),
            chart.priority
        ),
        ("processes", "stacked", 20065)
    );
    assert_eq!(chart.dims[&group].algorithm, "absolute");
    assert_eq!(
        stream.chart("apps.task_error").is_some(),
        return_mode,
        "apps.task_error only in return mode"
    );
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
fn apps_group_counts_every_event_of_the_workload_entry_mode() {
    if require_root("apps group, entry mode") {
        apps_group_counts_every_event_of_the_workload("ae", false);
    }
}

#[test]
fn apps_group_counts_every_event_of_the_workload_return_mode() {
    if require_root("apps group, return mode") {
        apps_group_counts_every_event_of_the_workload("ar", true);
    }
}

static WL: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());

/// Runs the workload inside `cgroup`.
fn run_in(cgroup: &TestCgroup, tag: &str) {
    let workload = Workload::spawn_named("process", N as usize, Some(&comm(tag)));
    cgroup.add(workload.pid());
    WL.lock().unwrap().push((tag.to_string(), workload.pid()));
    workload.run();
}

fn cgroup_charts_count_every_event_of_the_workload(tag: &str, return_mode: bool) {
    let (root, controller) = first_hierarchy();
    let id = format!(
        "{}/ebpf-test-{}{tag}",
        own_path(controller).trim_end_matches('/'),
        std::process::id()
    );
    let mut cgroup = TestCgroup::create(&root, &id);
    let collector = start(&config(tag, "cgroups = yes"), &process_args(return_mode));
    let chart_type = cgroup.chart_type();
    let first = format!("{chart_type}.process_create");
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| s.chart(&first).is_some()),
        "{first} never defined; stderr:\n{}",
        collector.stderr()
    );
    run_in(&cgroup, tag);
    let expected: Vec<(String, &str, i64)> = process_counts(return_mode)
        .into_iter()
        .map(|(chart, dim, count)| (format!("{chart_type}.{chart}"), dim, count))
        .collect();
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, d, n)| (c.as_str(), *d, *n))
        .collect();
    diag(tag, &collector);
    collector.assert_totals(&expected);
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
    let (status, stream) = collector.terminate();
    assert!(status.success());
    assert_eq!(stream.errors, Vec::<String>::new());
    tests::all_incremental_monotonic(&stream);
}

#[test]
fn cgroup_charts_count_every_event_of_the_workload_entry_mode() {
    if require_root("cgroup charts, entry mode") {
        cgroup_charts_count_every_event_of_the_workload("ce", false);
    }
}

#[test]
fn cgroup_charts_count_every_event_of_the_workload_return_mode() {
    if require_root("cgroup charts, return mode") {
        cgroup_charts_count_every_event_of_the_workload("cr", true);
    }
}

fn a_system_slice_service_is_a_services_dimension(tag: &str, return_mode: bool) {
    let (root, _) = first_hierarchy();
    let service = format!("ebpf-test-{}{tag}", std::process::id());
    let cgroup = TestCgroup::create(&root, &format!("/system.slice/{service}.service"));
    let collector = start(&config(tag, "cgroups = yes"), &process_args(return_mode));
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| s
            .chart("services.process_create")
            .is_some_and(|c| c.dims.contains_key(&service))),
        "no services dimension {service}; stderr:\n{}",
        collector.stderr()
    );
    run_in(&cgroup, tag);
    let expected: Vec<(String, i64)> = process_counts(return_mode)
        .into_iter()
        .map(|(chart, _, count)| (format!("services.{chart}"), count))
        .collect();
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, n)| (c.as_str(), service.as_str(), *n))
        .collect();
    diag(tag, &collector);
    collector.assert_totals(&expected);
    let stream = collector.stream();
    let exit = stream.chart("services.task_exit").unwrap();
    assert_eq!(
        (exit.title.as_str(), exit.context.as_str(), exit.priority),
        ("Tasks starts exit process.", "services.task_exit", 20067)
    );
    assert_eq!(exit.dims[&service].algorithm, "incremental");
    assert!(
        stream
            .charts
            .keys()
            .all(|id| !id.starts_with(&format!("cgroup_system-slice_{service}"))),
        "a service has no cgroup charts of its own"
    );
    collector.terminate();
}

#[test]
fn a_system_slice_service_is_a_services_dimension_entry_mode() {
    if require_root("services charts, entry mode") {
        a_system_slice_service_is_a_services_dimension("se", false);
    }
}

#[test]
fn a_system_slice_service_is_a_services_dimension_return_mode() {
    if require_root("services charts, return mode") {
        a_system_slice_service_is_a_services_dimension("sr", true);
    }
}

/// The unified hierarchy, as on a pure cgroup v2 host (forced here, where
/// the host may be hybrid): processes are placed by the kernel's cgroup id.
#[test]
fn the_unified_hierarchy_places_processes_by_the_kernels_cgroup_id() {
    if !require_root("unified cgroups") {
        return;
    }
    let tag = "u";
    let root = unified_mount().expect("a cgroup2 (unified) mount");
    let id = format!(
        "{}/ebpf-test-{}{tag}",
        own_path(None).trim_end_matches('/'),
        std::process::id()
    );
    let cgroup = TestCgroup::create(&root, &id);
    let files = config(tag, "cgroups = yes\n[cgroups]\nuse unified cgroups = yes");
    let collector = start(&files, &process_args(false));
    let chart_type = cgroup.chart_type();
    let first = format!("{chart_type}.process_create");
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| s.chart(&first).is_some()),
        "{first} never defined; stderr:\n{}",
        collector.stderr()
    );
    run_in(&cgroup, tag);
    let expected: Vec<(String, &str, i64)> = process_counts(false)
        .into_iter()
        .map(|(chart, dim, count)| (format!("{chart_type}.{chart}"), dim, count))
        .collect();
    let expected: Vec<(&str, &str, i64)> = expected
        .iter()
        .map(|(c, d, n)| (c.as_str(), *d, *n))
        .collect();
    diag(tag, &collector);
    collector.assert_totals(&expected);
    collector.terminate();
}
