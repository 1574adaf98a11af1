//! What our programs cost the kernel, on the plugin's own charts
//! (`netdata.ebpf_kernel_runs`, `netdata.ebpf_kernel_cost`) and in `check`:
//! with statistics on for good, a thread's runs are exactly its programs'
//! runs; sampled (the default), the rate of the last window is carried on.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::{collector_bin, require_root, Collector, TempDir, Workload};

const N: i64 = 6;
const RUNS: &str = "netdata.ebpf_kernel_runs";
const COST: &str = "netdata.ebpf_kernel_cost";

#[test]
fn continuous_statistics_count_every_run_of_a_threads_programs() {
    if !require_root("kernel cost, continuous") {
        return;
    }
    // No --pid: its programs would run on every fork and exit of the
    // machine. The mount thread's programs run once per mount or umount
    // call in entry mode, and nothing else mounts while tests hold the lock.
    // The workload makes its namespace (mounts of its own) before it is ready.
    let workload = Workload::spawn("mount", N as usize);
    let collector = Collector::start(
        &["--update-every", "1", "--mount", "--sync"],
        &[(
            "ebpf.d.conf",
            "[supervisor]\n    kernel cost = continuous\n",
        )],
    );
    collector.wait_attached("mount_points.call");
    workload.run();
    collector.assert_totals(&[
        ("mount_points.call", "mount", 2 * N),
        ("mount_points.call", "umount", 2 * N),
        (RUNS, "mount", 4 * N),
    ]);
    let stream = collector.stream();
    let spent = stream.total(COST, "mount").unwrap();
    assert!(spent > 0, "{COST} mount: {spent} ns for {} runs", 4 * N);
    // Threads not running cost nothing.
    assert_eq!(stream.total(RUNS, "vfs"), Some(0));
    assert!(collector
        .stderr()
        .contains("kernel cost: BPF statistics on for as long as we run"));
    collector.terminate();
}

/// `syncfs` calls on a tmpfs file (nothing to write back: cheap) every
/// `gap`, until `until`; returns how many, and over how long.
fn syncfs_calls(gap: Duration, until: Instant) -> (u64, Duration) {
    let dir = TempDir::new("kernel-cost");
    let file = File::create(dir.0.join("f")).unwrap();
    let started = Instant::now();
    let mut calls = 0;
    while Instant::now() < until {
        // SAFETY: syncfs on a descriptor we own.
        assert_eq!(unsafe { libc::syncfs(file.as_raw_fd()) }, 0);
        calls += 1;
        std::thread::sleep(gap);
    }
    (calls, started.elapsed())
}

#[test]
fn sampled_statistics_carry_the_last_windows_rate() {
    if !require_root("kernel cost, sampled") {
        return;
    }
    let collector = Collector::start(&["--update-every", "1", "--sync"], &[]);
    collector.wait_attached("mem.sync");
    // The first window opens 2 s after start and lasts 1 s; a steady load
    // from before it to well after it.
    let (calls, took) = syncfs_calls(
        Duration::from_millis(10),
        Instant::now() + Duration::from_secs(8),
    );
    let rate = calls as f64 / took.as_secs_f64();
    let stream = collector.stream();
    let sync = &stream.chart(RUNS).unwrap().dims["sync"].values;
    // Once measured, every second carries the window's rate; the load's
    // own pace varies a little, other processes' syncs add a few.
    let per_second: Vec<i64> = sync.windows(2).map(|w| w[1] - w[0]).collect();
    let carried: Vec<i64> = per_second.iter().copied().skip_while(|&d| d == 0).collect();
    assert!(
        carried.len() >= 3,
        "no estimate after the first window: {sync:?}"
    );
    for &estimate in &carried[1..carried.len() - 1] {
        assert!(
            (estimate as f64 - rate).abs() < rate * 0.25,
            "sync: {estimate} runs/s estimated, {rate:.0} made: {per_second:?}"
        );
    }
    assert!(collector
        .stderr()
        .contains("kernel cost: BPF statistics on for 1 s in every 60 s"));
    collector.terminate();
}

#[test]
fn check_reports_each_runnable_threads_cost() {
    if !require_root("kernel cost in check") {
        return;
    }
    let config = TempDir::new("config");
    let out = Command::new(collector_bin())
        .args(["check", "--config-dir"])
        .arg(&config.0)
        .args(["--mount", "--sync"])
        .env_remove("NETDATA_USER_CONFIG_DIR")
        .env_remove("NETDATA_STOCK_CONFIG_DIR")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report
            .contains("kernel cost      over one second, every runnable thread attached at once:"),
        "{report}"
    );
    for thread in ["mount", "sync"] {
        let row = report
            .lines()
            .find(|l| l.trim_start().starts_with(thread) && l.contains(" runs, "))
            .unwrap_or_else(|| panic!("no kernel cost of {thread}:\n{report}"));
        assert!(row.ends_with(" ns per run)"), "{row}");
    }
}
