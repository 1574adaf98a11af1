//! Per-process values, the kernel side of the apps and cgroup charts: with
//! apps or cgroups on, fd, vfs and shm keep each process's own counts in
//! their `tgid_values` map, sized by `pid table size`, exactly; an entry
//! goes when its process is gone; a full table counts the events it had no
//! room for, and shows them; with both off the table stays empty at one
//! entry. The maps are read with bpftool, to see the kernel side alone
//! (tests/apps.rs shows them through the charts).

use std::time::Duration;

use bpf::{fd, shm, tgid_stat, vfs, TGID_STATS_MAP, TGID_VALUES_MAP};
use serde_json::Value;
use tests::{children, poll, require_root, Collector, Workload};

const N: u64 = 4;

fn bpftool(args: &[&str]) -> Value {
    let out = std::process::Command::new("bpftool")
        .arg("--json")
        .args(args)
        .output()
        .expect("bpftool is needed (apt-get install bpftool)");
    assert!(out.status.success(), "bpftool {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The id of the map called `name` that the collector's one worker holds
/// (from its descriptors: bpftool cannot always tell a map's owner).
fn worker_map(collector: &Collector, name: &str) -> String {
    let workers = children(collector.pid());
    assert_eq!(workers.len(), 1, "one worker expected: {workers:?}");
    let fdinfo = format!("/proc/{}/fdinfo", workers[0]);
    let ids: Vec<String> = std::fs::read_dir(&fdinfo)
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let info = std::fs::read_to_string(entry.path()).ok()?;
            let id = info.lines().find_map(|l| l.strip_prefix("map_id:"))?;
            Some(id.trim().to_owned())
        })
        .collect();
    ids.into_iter()
        .find(|id| bpftool(&["map", "show", "id", id])["name"] == name)
        .unwrap_or_else(|| panic!("the worker holds no map {name}"))
}

/// What the per-process table holds for `tgid`.
fn values_of(collector: &Collector, tgid: u32) -> Option<Vec<u64>> {
    let id = worker_map(collector, TGID_VALUES_MAP);
    bpftool(&["map", "dump", "id", &id])
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["formatted"])
        .find(|entry| entry["key"] == tgid)
        .map(|entry| {
            // The counters; the extra fields (parent, cgroup, name) follow.
            entry["value"]["counters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        })
}

fn table_size(collector: &Collector) -> u64 {
    let id = worker_map(collector, TGID_VALUES_MAP);
    bpftool(&["map", "show", "id", &id])["max_entries"]
        .as_u64()
        .unwrap()
}

/// A per-CPU counter array, summed over the CPUs.
fn counters(collector: &Collector, map: &str) -> Vec<u64> {
    let id = worker_map(collector, map);
    bpftool(&["map", "dump", "id", &id])
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let per_cpu = entry["formatted"]["values"].as_array().unwrap();
            per_cpu.iter().map(|v| v["value"].as_u64().unwrap()).sum()
        })
        .collect()
}

/// Polls until `done` holds: the kernel frees exited tasks after an RCU
/// grace period.
fn eventually(done: impl FnMut() -> bool) -> bool {
    poll(Duration::from_secs(15), Duration::from_millis(100), done)
}

/// A collector of `thread` watching a workload doing `scenario`, its work
/// done and the workload stopped before its exit.
fn worked(scenario: &str, args: &[&str], conf: &str, chart: &str) -> (Collector, Workload) {
    let mut workload = Workload::spawn(scenario, N as usize);
    let file = format!("ebpf.d/{scenario}.conf");
    let collector = Collector::watching(&workload, args, &[(&file, conf)], chart);
    workload.work();
    (collector, workload)
}

const FD_CHART: &str = "filesystem.file_descriptor";

#[test]
fn fd_keeps_each_process_exactly_until_it_is_gone() {
    if !require_root("fd per-process values") {
        return;
    }
    let conf = "[global]\n    apps = yes\n    pid table size = 1000\n";
    let (collector, workload) = worked("fd", &["--fd", "--return"], conf, FD_CHART);
    let main = workload.pid();
    // Opens, failed opens, closes, failed closes of the main process.
    assert_eq!(values_of(&collector, main), Some(vec![2 * N, N, 2 * N, N]));
    assert_eq!(table_size(&collector), 1000);
    let stats = |c: &Collector| {
        let all = counters(c, TGID_STATS_MAP);
        [tgid_stat::ADDED, tgid_stat::ENDED, tgid_stat::FULL].map(|i| all[i as usize])
    };
    // Its child has exited and been reaped.
    assert!(
        eventually(|| stats(&collector) == [2, 1, 0]),
        "added, removed, full: {:?}",
        stats(&collector)
    );
    workload.exit();
    assert!(
        eventually(|| values_of(&collector, main).is_none() && stats(&collector) == [2, 2, 0]),
        "the workload's entry outlived it: {:?}, {:?}",
        values_of(&collector, main),
        stats(&collector)
    );
    collector.terminate();
}

#[test]
fn a_full_table_counts_the_events_it_had_no_room_for() {
    if !require_root("fd per-process table full") {
        return;
    }
    let conf = "[global]\n    apps = yes\n    pid table size = 1\n";
    let (collector, workload) = worked("fd", &["--fd"], conf, FD_CHART);
    // The main process came first; entry mode counts no failures.
    assert_eq!(
        values_of(&collector, workload.pid()),
        Some(vec![2 * N, 0, 2 * N, 0])
    );
    let stats = counters(&collector, TGID_STATS_MAP);
    // The child's 2N opens and 2N closes found no room.
    assert_eq!(
        [tgid_stat::ADDED, tgid_stat::FULL].map(|i| stats[i as usize]),
        [1, 4 * N]
    );
    // The system-wide counts miss nothing.
    let all = counters(&collector, "fd_counters");
    assert_eq!(
        [fd::counter::OPEN, fd::counter::CLOSE].map(|i| all[i as usize]),
        [4 * N, 4 * N]
    );
    // And the plugin's own chart shows what had no room.
    let shown = |s: &tests::protocol::Stream| s.total("netdata.ebpf_pid_table_full", "fd");
    assert!(
        collector.wait_until(Duration::from_secs(10), |s| shown(s) == Some(4 * N as i64)),
        "netdata.ebpf_pid_table_full fd: {:?}",
        shown(&collector.stream())
    );
    workload.exit();
    collector.terminate();
}

#[test]
fn vfs_keeps_each_process_exactly() {
    if !require_root("vfs per-process values") {
        return;
    }
    let (collector, workload) = worked(
        "vfs",
        &["--vfs", "--return"],
        "[global]\n    apps = yes\n",
        "filesystem.vfs_io",
    );
    // See tests/vfs.rs: only the tracepoint variant sees opens of a missing file.
    let missing = u64::from(collector.variant().as_deref() == Some("tracepoint")) * N;
    use vfs::counter::*;
    let mut expected = vec![0; vfs::OBJECT.per_process as usize];
    for (counter, value) in [
        (READ, 3 * N),
        (READ_ERROR, N),
        (READ_BYTES, 150 * N),
        (WRITE, 3 * N),
        (WRITE_ERROR, N),
        (WRITE_BYTES, 85 * N),
        (FSYNC, 2 * N),
        (FSYNC_ERROR, N),
        (OPEN, 2 * N + missing),
        (OPEN_ERROR, N + missing),
        (CREATE, 2 * N),
        (CREATE_ERROR, N),
        (UNLINK, N),
    ] {
        expected[counter as usize] = value;
    }
    assert_eq!(values_of(&collector, workload.pid()), Some(expected));
    workload.exit();
    collector.terminate();
}

#[test]
fn shm_keeps_each_process_exactly_with_cgroups_on() {
    if !require_root("shm per-process values") {
        return;
    }
    let (collector, workload) = worked(
        "shm",
        &["--shm"],
        "[global]\n    cgroups = yes\n",
        "system.shared_memory_calls",
    );
    assert_eq!(
        values_of(&collector, workload.pid()),
        Some(vec![N; shm::OBJECT.per_process as usize])
    );
    workload.exit();
    collector.terminate();
}

#[test]
fn with_apps_and_cgroups_off_nothing_is_kept_per_process() {
    if !require_root("no per-process values") {
        return;
    }
    let conf = "[global]\n    apps = no\n    cgroups = no\n";
    let (collector, workload) = worked("fd", &["--fd"], conf, FD_CHART);
    assert_eq!(values_of(&collector, workload.pid()), None);
    assert_eq!(table_size(&collector), 1);
    assert_eq!(
        counters(&collector, TGID_STATS_MAP)[tgid_stat::ADDED as usize],
        0
    );
    workload.exit();
    collector.terminate();
}
