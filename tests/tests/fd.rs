//! `fd` on the real kernel: a workload and a child of it each open N files,
//! fail N opens of a missing file, close the N files and fail N closes of
//! no descriptor; with `--pid` every dimension must show exactly that, in
//! entry and in return mode, with every attach variant.

use tests::{require_root, Collector, ExpectedChart, Workload};

const N: i64 = 6;
/// Calls of each kind, by both processes.
const CALLS: i64 = 2 * 2 * N;
const FAILURES: i64 = 2 * N;

fn run(files: &[(&str, &str)]) -> Collector {
    let workload = Workload::spawn("fd", N as usize);
    let collector = Collector::watching(&workload, &["--fd"], files, "filesystem.file_descriptor");
    workload.run();
    collector
}

#[test]
fn entry_mode_counts_every_open_and_close_exactly() {
    if !require_root("fd entry mode") {
        return;
    }
    let collector = run(&[]);
    collector.assert_totals(&[
        ("filesystem.file_descriptor", "do_sys_open", CALLS),
        ("filesystem.file_descriptor", "__close_fd", CALLS),
    ]);
    assert!(
        collector.stream().chart("filesystem.file_error").is_none(),
        "error chart in entry mode"
    );
    collector.terminate();
}

#[test]
fn return_mode_also_counts_failures_and_charts_are_the_originals() {
    if !require_root("fd return mode") {
        return;
    }
    // The thread's own file sets its mode.
    let collector = run(&[("ebpf.d/fd.conf", "[global]\n    ebpf load mode = return\n")]);
    collector.assert_totals(&[
        ("filesystem.file_descriptor", "do_sys_open", CALLS),
        ("filesystem.file_descriptor", "__close_fd", CALLS),
        ("filesystem.file_error", "do_sys_open", FAILURES),
        ("filesystem.file_error", "__close_fd", FAILURES),
    ]);
    let stream = collector.stream();
    let dims = &[("do_sys_open", "open", 1), ("__close_fd", "close", 1)];
    for (id, title, priority) in [
        ("filesystem.file_descriptor", "Open and close calls", 2195),
        ("filesystem.file_error", "Open fails", 2196),
    ] {
        ExpectedChart {
            id,
            title,
            units: "calls/s",
            family: "file_access",
            priority,
            module: "filedescriptor",
            dims,
        }
        .assert_defined(&stream, 1);
    }
    collector.terminate();
}
