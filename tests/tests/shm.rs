//! `shm` on the real kernel: a workload creates, attaches, detaches and
//! removes N shared memory segments; with `--pid` every dimension must show
//! exactly N, and `shm.conf` `[syscalls]` must decide what is traced.

use tests::{require_root, Collector, ExpectedChart, Workload};

const N: i64 = 6;
const CHART: &str = "system.shared_memory_calls";

fn run(extra: &[&str], files: &[(&str, &str)]) -> Collector {
    let workload = Workload::spawn("shm", N as usize);
    let args = [&["--shm"], extra].concat();
    let collector = Collector::watching(&workload, &args, files, CHART);
    workload.run();
    collector
}

#[test]
fn counts_every_shared_memory_call_exactly_and_charts_are_the_originals() {
    if !require_root("shm") {
        return;
    }
    let collector = run(&[], &[]);
    collector.assert_totals(&[
        (CHART, "get", N),
        (CHART, "at", N),
        (CHART, "dt", N),
        (CHART, "ctl", N),
    ]);
    ExpectedChart {
        id: CHART,
        title: "Calls to shared memory system calls",
        units: "calls/s",
        family: "ipc shared memory",
        priority: 1207,
        module: "shm",
        dims: &[
            ("get", "get", 1),
            ("at", "at", 1),
            ("dt", "dt", 1),
            ("ctl", "ctl", 1),
        ],
    }
    .assert_defined(&collector.stream(), 1);
    collector.terminate();
}

#[test]
fn return_mode_counts_the_same() {
    if !require_root("shm return mode") {
        return;
    }
    let collector = run(&["--return"], &[]);
    collector.assert_totals(&[
        (CHART, "get", N),
        (CHART, "at", N),
        (CHART, "dt", N),
        (CHART, "ctl", N),
    ]);
    collector.terminate();
}

#[test]
fn syscalls_disabled_in_shm_conf_are_neither_traced_nor_drawn() {
    if !require_root("shm.conf [syscalls]") {
        return;
    }
    let shm_conf = "[syscalls]\n    shmat = no\n    shmctl = no\n";
    let collector = run(&[], &[("ebpf.d/shm.conf", shm_conf)]);
    collector.assert_totals(&[(CHART, "get", N), (CHART, "dt", N)]);
    assert_eq!(
        collector.stream().chart(CHART).unwrap().dim_order,
        ["get", "dt"]
    );
    collector.terminate();
}
