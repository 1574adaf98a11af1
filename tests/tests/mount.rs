//! `mount` on the real kernel: a workload, in its own mount namespace,
//! mounts and unmounts a tmpfs N times, fails N mounts (unknown filesystem
//! type) and N umounts (not a mount point); with `--pid` every dimension
//! must show exactly that, in entry and in return mode.

use tests::{require_root, Collector, ExpectedChart, Workload};

const N: i64 = 6;

fn run(files: &[(&str, &str)]) -> Collector {
    let workload = Workload::spawn("mount", N as usize);
    let collector = Collector::watching(&workload, &["--mount"], files, "mount_points.call");
    workload.run();
    collector
}

#[test]
fn entry_mode_counts_every_mount_and_umount_exactly() {
    if !require_root("mount entry mode") {
        return;
    }
    let collector = run(&[]);
    collector.assert_totals(&[
        ("mount_points.call", "mount", 2 * N),
        ("mount_points.call", "umount", 2 * N),
    ]);
    // Nothing counts failures in entry mode (the original drew zeros, B-32).
    assert!(collector.stream().chart("mount_points.error").is_none());
    collector.terminate();
}

#[test]
fn return_mode_also_counts_failures_and_charts_are_the_originals() {
    if !require_root("mount return mode") {
        return;
    }
    // The thread's own file sets its mode.
    let collector = run(&[(
        "ebpf.d/mount.conf",
        "[global]\n    ebpf load mode = return\n",
    )]);
    collector.assert_totals(&[
        ("mount_points.call", "mount", 2 * N),
        ("mount_points.call", "umount", 2 * N),
        ("mount_points.error", "mount", N),
        ("mount_points.error", "umount", N),
    ]);
    let stream = collector.stream();
    for (id, title, priority) in [
        (
            "mount_points.call",
            "Calls to mount and umount syscalls",
            2190,
        ),
        (
            "mount_points.error",
            "Errors to mount and umount file systems",
            2191,
        ),
    ] {
        ExpectedChart {
            id,
            title,
            units: "calls/s",
            family: "mount (eBPF)",
            priority,
            module: "mount",
            dims: &[("mount", "mount", 1), ("umount", "umount", 1)],
        }
        .assert_defined(&stream, 1);
    }
    collector.terminate();
}
