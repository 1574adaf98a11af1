//! `sync` on the real kernel: a workload calls each sync syscall a known
//! number of times; with `--pid` each dimension must show exactly that.

use tests::expected::sync_totals;
use tests::{require_root, Collector, Workload};

const N: i64 = 7;

fn run(files: &[(&str, &str)]) -> Collector {
    let workload = Workload::spawn("sync", N as usize);
    let pid = workload.pid().to_string();
    let collector = Collector::start(&["--sync", "--update-every", "1", "--pid", &pid], files);
    collector.wait_attached("mem.file_segment");
    workload.run();
    collector
}

#[test]
fn counts_each_sync_syscall_of_the_workload_exactly() {
    if !require_root("sync") {
        return;
    }
    let collector = run(&[]);
    collector.assert_totals(&sync_totals(N));
    let stream = collector.stream();
    for (id, title, priority) in [
        (
            "mem.file_sync",
            "Monitor calls for <code>fsync(2)</code> and <code>fdatasync(2)</code>.",
            21300,
        ),
        (
            "mem.memory_map",
            "Monitor calls for <code>msync(2)</code>.",
            21301,
        ),
        (
            "mem.sync",
            "Monitor calls for <code>sync(2)</code> and <code>syncfs(2)</code>.",
            21302,
        ),
        (
            "mem.file_segment",
            "Monitor calls for <code>sync_file_range(2)</code>.",
            21303,
        ),
    ] {
        let chart = stream.chart(id).unwrap();
        assert_eq!((chart.title.as_str(), chart.priority), (title, priority));
        assert_eq!(
            (
                chart.units.as_str(),
                chart.family.as_str(),
                chart.chart_type.as_str(),
                chart.module.as_str()
            ),
            ("calls/s", "synchronization (eBPF)", "line", "sync")
        );
        assert!(chart.dims.values().all(|d| d.algorithm == "incremental"));
    }
    collector.terminate();
}

#[test]
fn syscalls_disabled_in_sync_conf_are_neither_traced_nor_drawn() {
    if !require_root("sync.conf [syscalls]") {
        return;
    }
    let sync_conf = "[syscalls]\n    msync = no\n    syncfs = no\n";
    let collector = run(&[("ebpf.d/sync.conf", sync_conf)]);
    collector.assert_totals(&[
        ("mem.file_sync", "fsync", N),
        ("mem.file_sync", "fdatasync", N),
        ("mem.sync", "sync", N),
        ("mem.file_segment", "sync_file_range", N),
    ]);
    let stream = collector.stream();
    assert!(stream.chart("mem.memory_map").is_none());
    assert_eq!(stream.chart("mem.sync").unwrap().dim_order, ["sync"]);
    collector.terminate();
}

/// `--pid` follows the process and its children, and nothing else: an
/// untracked process that gets the PID again at once (the tracked one
/// leaves the set when its leader is freed, an RCU callback that can come
/// seconds later) is not counted.
#[test]
fn a_pid_used_again_by_another_process_is_not_followed() {
    if !require_root("sync, PID used again") {
        return;
    }
    let tracked = Workload::spawn("sync", N as usize);
    let pid = tracked.pid();
    let collector = Collector::start(
        &["--sync", "--update-every", "1", "--pid", &pid.to_string()],
        &[],
    );
    collector.wait_attached("mem.file_segment");
    tracked.run();
    // This test's child, not the tracked process's.
    let stranger = Workload::spawn_as(pid, || Workload::spawn("sync", N as usize));
    stranger.run();
    collector.assert_totals(&sync_totals(N));
    collector.terminate();
}
