//! `vfs` on the real kernel: in a private tmpfs, a workload reads, writes,
//! syncs, opens, creates and removes files a known number of times with
//! known sizes, half of each failing where the chart counts failures; with
//! `--pid` every dimension must show exactly that, bytes included, in entry
//! and in return mode, with every attach variant.

use tests::{require_root, Collector, ExpectedChart, Workload};

const N: i64 = 5;

/// What the workload makes, by chart and dimension, in return mode; entry
/// mode draws the same without the `_error` charts.
fn expected(collector: &Collector) -> Vec<(&'static str, &'static str, i64)> {
    // An open of a missing file is an open(2) call that fails, but it ends
    // before reaching vfs_open: only the tracepoint variant counts it.
    let missing = match collector.variant().as_deref() {
        Some("tracepoint") => N,
        Some(_) => 0,
        None => panic!("no variant attached; stderr:\n{}", collector.stderr()),
    };
    vec![
        ("filesystem.vfs_io", "vfs_read", 3 * N),
        ("filesystem.vfs_io", "vfs_write", 3 * N),
        ("filesystem.vfs_io_bytes", "vfs_read", (100 + 50) * N),
        ("filesystem.vfs_io_bytes", "vfs_write", (70 + 15) * N),
        ("filesystem.vfs_io_error", "vfs_read", N),
        ("filesystem.vfs_io_error", "vfs_write", N),
        ("filesystem.vfs_fsync", "vfs_fsync", 2 * N),
        ("filesystem.vfs_fsync_error", "vfs_fsync", N),
        ("filesystem.vfs_open", "vfs_open", 2 * N + missing),
        ("filesystem.vfs_open_error", "vfs_open", N + missing),
        ("filesystem.vfs_create", "vfs_create", 2 * N),
        ("filesystem.vfs_create_error", "vfs_create", N),
        ("filesystem.vfs_deleted_objects", "vfs_unlink", N),
    ]
}

fn run(extra: &[&str]) -> Collector {
    let workload = Workload::spawn("vfs", N as usize);
    let args = [&["--vfs"], extra].concat();
    let collector = Collector::watching(&workload, &args, &[], "filesystem.vfs_io");
    workload.run();
    collector
}

#[test]
fn entry_mode_counts_every_call_and_byte_exactly() {
    if !require_root("vfs entry mode") {
        return;
    }
    let collector = run(&[]);
    let expected: Vec<_> = expected(&collector)
        .into_iter()
        .filter(|(chart, _, _)| !chart.ends_with("_error"))
        .collect();
    collector.assert_totals(&expected);
    let stream = collector.stream();
    let errors: Vec<&String> = stream
        .charts
        .keys()
        .filter(|id| id.ends_with("_error"))
        .collect();
    assert!(errors.is_empty(), "error charts in entry mode: {errors:?}");
    collector.terminate();
}

#[test]
fn return_mode_also_counts_failures_and_charts_are_the_originals() {
    if !require_root("vfs return mode") {
        return;
    }
    let collector = run(&["--return"]);
    collector.assert_totals(&expected(&collector));
    let stream = collector.stream();
    let read_write = &[("vfs_read", "read", 1), ("vfs_write", "write", 1)];
    for (id, title, priority, dims) in [
        (
            "filesystem.vfs_deleted_objects",
            "Remove files",
            2150,
            &[("vfs_unlink", "delete", 1)][..],
        ),
        ("filesystem.vfs_io", "Calls to IO", 2151, read_write),
        (
            "filesystem.vfs_io_error",
            "Fails to write or read",
            2153,
            read_write,
        ),
        (
            "filesystem.vfs_fsync",
            "Calls for <code>vfs_fsync</code>",
            2154,
            &[("vfs_fsync", "fsync", 1)],
        ),
        (
            "filesystem.vfs_fsync_error",
            "Fails to synchronize",
            2155,
            &[("vfs_fsync", "fsync", 1)],
        ),
        (
            "filesystem.vfs_open",
            "Calls for <code>vfs_open</code>",
            2156,
            &[("vfs_open", "open", 1)],
        ),
        (
            "filesystem.vfs_open_error",
            "Fails to open a file",
            2157,
            &[("vfs_open", "open", 1)],
        ),
        (
            "filesystem.vfs_create",
            "Calls for <code>vfs_create</code>",
            2158,
            &[("vfs_create", "create", 1)],
        ),
        (
            "filesystem.vfs_create_error",
            "Fails to create a file.",
            2159,
            &[("vfs_create", "create", 1)],
        ),
    ] {
        ExpectedChart {
            id,
            title,
            units: "calls/s",
            family: "vfs",
            priority,
            module: "vfs",
            dims,
        }
        .assert_defined(&stream, 1);
    }
    // The original's one vfs chart of module `filesystem`, write drawn below the axis.
    ExpectedChart {
        id: "filesystem.vfs_io_bytes",
        title: "Bytes written and read",
        units: "bytes/s",
        family: "vfs",
        priority: 2152,
        module: "filesystem",
        dims: &[("vfs_read", "read", 1), ("vfs_write", "write", -1)],
    }
    .assert_defined(&stream, 1);
    collector.terminate();
}
