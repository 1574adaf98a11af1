//! What the workloads make: `(chart, dimension id, events)` for a
//! collector that watches only the workload (`--pid`).

/// The `process` scenario of `n`, in return mode, as `tests/process.rs`
/// asserts it; less `system.exit` `release_task` and
/// `system.process_status` `zombie`, which the process thread's PID filter
/// can miss by one when the kernel frees a thread after its group leader
/// (RCU callbacks run on different CPUs), so that the tests of the outputs
/// do not inherit that race.
pub fn process_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("system.process_thread", "_do_fork", n),
        ("system.process_thread", "sys_clone", n),
        // n children + n threads + the workload's own main thread.
        ("system.exit", "do_exit", 2 * n + 1),
        // n processes started, n + 1 ended (the workload itself).
        ("system.process_status", "process", -1),
        ("system.task_error", "_do_fork", n),
        ("system.task_error", "sys_clone", n),
    ]
}

/// The `sync` scenario of `n`: each of the six syscalls `n` times.
pub fn sync_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("mem.file_sync", "fsync", n),
        ("mem.file_sync", "fdatasync", n),
        ("mem.memory_map", "msync", n),
        ("mem.sync", "sync", n),
        ("mem.sync", "syncfs", n),
        ("mem.file_segment", "sync_file_range", n),
    ]
}
