//! `process` on the real kernel: a workload starts and ends a known number
//! of processes and threads, and fails a known number of clones; with
//! `--pid` every dimension must show exactly that.

use tests::expected::process_totals;
use tests::{require_root, Collector, Workload};

const N: i64 = 25;

/// Events of the workload (its own process included) and its descendants,
/// without the return-mode error chart.
fn expected_entry() -> Vec<(&'static str, &'static str, i64)> {
    process_totals(N)
        .into_iter()
        .filter(|(chart, ..)| *chart != "system.task_error")
        .collect()
}

fn run(extra: &[&str]) -> Collector {
    let workload = Workload::spawn("process", N as usize);
    let pid = workload.pid().to_string();
    let mut args = vec!["--process", "--update-every", "1", "--pid", &pid];
    args.extend_from_slice(extra);
    let collector = Collector::start(&args, &[]);
    collector.wait_attached("system.exit");
    workload.run();
    collector
}

#[test]
fn entry_mode_counts_every_event_of_the_workload_exactly() {
    if !require_root("process entry mode") {
        return;
    }
    let collector = run(&[]);
    collector.assert_totals(&expected_entry());
    let stream = collector.stream();
    assert!(
        stream.chart("system.task_error").is_none(),
        "error chart in entry mode"
    );
    let (status, _) = collector.terminate();
    assert!(status.success());
}

#[test]
fn return_mode_also_counts_failed_process_and_thread_creation() {
    if !require_root("process return mode") {
        return;
    }
    let collector = run(&["--return"]);
    collector.assert_totals(&process_totals(N));
    collector.terminate();
}

#[test]
fn charts_are_defined_as_the_original_defines_them() {
    if !require_root("process chart definitions") {
        return;
    }
    let collector = Collector::start(&["--process", "--return", "--update-every", "2"], &[]);
    collector.wait_attached("system.task_error");
    let stream = collector.stream();
    let expect = [
        (
            "system.process_thread",
            "Start process",
            "calls/s",
            21002,
            [("_do_fork", "process"), ("sys_clone", "thread")],
        ),
        (
            "system.exit",
            "Exit process",
            "calls/s",
            21003,
            [("do_exit", "process"), ("release_task", "task")],
        ),
        (
            "system.process_status",
            "Process not closed",
            "difference",
            21004,
            [("process", "process"), ("zombie", "zombie")],
        ),
        (
            "system.task_error",
            "Fails to create process",
            "calls/s",
            21005,
            [("_do_fork", "process"), ("sys_clone", "thread")],
        ),
    ];
    for (id, title, units, priority, dims) in expect {
        let chart = stream
            .chart(id)
            .unwrap_or_else(|| panic!("{id} not defined"));
        assert_eq!(
            (
                chart.title.as_str(),
                chart.units.as_str(),
                chart.family.as_str(),
                chart.context.as_str()
            ),
            (title, units, "processes", "")
        );
        assert_eq!(
            (
                chart.chart_type.as_str(),
                chart.priority,
                chart.update_every
            ),
            ("line", priority, 2)
        );
        assert_eq!(
            (chart.plugin.as_str(), chart.module.as_str()),
            ("ebpf.plugin", "process")
        );
        let got: Vec<(&str, &str, &str)> = chart
            .dim_order
            .iter()
            .map(|d| {
                (
                    d.as_str(),
                    chart.dims[d].name.as_str(),
                    chart.dims[d].algorithm.as_str(),
                )
            })
            .collect();
        let want: Vec<(&str, &str, &str)> =
            dims.iter().map(|(i, n)| (*i, *n, "absolute")).collect();
        assert_eq!(got, want, "{id}");
    }
    assert_eq!(stream.errors, Vec::<String>::new());
    collector.terminate();
}
