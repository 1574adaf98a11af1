//! `swap` on the real kernel: a workload writes N pages of its own to
//! swap and reads them back (`tests/src/bin/workload.rs`), on a zram swap
//! device of the test's own with `vm.page-cluster` 0 (no readahead:
//! `tests/src/swap.rs`); with `--pid` each dimension must show exactly N,
//! per process too, and so must `/proc/vmstat`'s `pswpin` and `pswpout`
//! over the same interval (nothing else swaps in the kernel matrix's
//! guest).
//!
//! The thread hooks kernel functions only (no tracepoint is there): on a
//! kernel without kprobes that refuses trampolines (the development
//! machine) every test asserts the refusal instead, with its reasons; the
//! kernel matrix runs the counts in 6.1 and 6.12 under each variant.

use tests::expected::swap_totals;
use tests::no_tracepoints::{refused_here, wait_attached};
use tests::swap::{vmstat_pages, Swap};
use tests::{cannot_run, require_root, Collector, Workload};

const N: i64 = 50;
const CALLS: &str = "mem.swapcalls";

/// Swap on for the test, or why there cannot be.
fn swap_on() -> Option<Swap> {
    Swap::zram(1024)
        .map_err(|why| cannot_run(&format!("swap: {why}")))
        .ok()
}

/// Runs `workload` (stopped, ready) to its end and asserts that the
/// kernel's own counts of pages swapped in and out over its run are
/// exactly N each.
fn run_and_compare_with_vmstat(mut workload: Workload) {
    let (pswpin, pswpout) = vmstat_pages();
    workload.work();
    let (pswpin_after, pswpout_after) = vmstat_pages();
    workload.exit();
    assert_eq!(
        (pswpin_after - pswpin, pswpout_after - pswpout),
        (N, N),
        "/proc/vmstat: pages swapped in and out during the workload"
    );
}

/// The workload's pages, system-wide with `--pid` and in its own apps
/// group (apps on, a group naming only it), in one run: the matrix's VMs
/// are slow to start collectors.
#[test]
fn counts_pages_swapped_out_and_in_exactly() {
    if !require_root("swap") || refused_here("swap", &["--swap"]) {
        return;
    }
    let Some(_swap) = swap_on() else { return };
    let comm = format!("sw{}", std::process::id());
    let workload = Workload::spawn_named("swap", N as usize, Some(&comm));
    let pid = workload.pid().to_string();
    let files = [
        ("ebpf.d.conf", "[global]\n    apps = yes\n".to_owned()),
        ("apps_groups.conf", format!("swapper: {comm}\n")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let args = ["--swap", "--update-every", "1", "--pid", &pid];
    let collector = Collector::start(&args, &files);
    wait_attached(&collector, "swap", CALLS);
    run_and_compare_with_vmstat(workload);
    let mut expected = swap_totals(N);
    expected.extend([
        ("apps.swap_read_call", "swapper", N),
        ("apps.swap_write_call", "swapper", N),
    ]);
    collector.assert_totals(&expected);
    let stream = collector.stream();
    let defined = stream.chart(CALLS).expect(CALLS);
    assert_eq!(
        defined.header(),
        (
            "Calls to access swap memory",
            "calls/s",
            "swap",
            "",
            "line",
            1037,
            1,
            "ebpf.plugin",
            "swap"
        )
    );
    assert_eq!(
        defined.dimensions(),
        vec![
            ("read", "read", "incremental", 1),
            ("write", "write", "incremental", 1)
        ]
    );
    for (id, title, priority) in [
        (
            "apps.swap_read_call",
            "Calls to function <code>swap_readpage</code>.",
            20191,
        ),
        (
            "apps.swap_write_call",
            "Calls to function <code>swap_writepage</code>.",
            20192,
        ),
    ] {
        let defined = stream.chart(id).expect(id);
        assert_eq!(
            defined.header(),
            (
                title,
                "calls/s",
                "swap",
                "",
                "stacked",
                priority,
                1,
                "ebpf.plugin",
                "swap"
            ),
            "{id}"
        );
    }
    collector.terminate();
}
