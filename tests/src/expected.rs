//! What the workloads make: `(chart, dimension id, events)` for a
//! collector that watches only the workload (`--pid`).

/// The `process` scenario of `n`, in return mode (as `tests/process.rs`
/// asserts it).
pub fn process_totals(n: i64) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("system.process_thread", "_do_fork", n),
        ("system.process_thread", "sys_clone", n),
        // n children + n threads + the workload's own main thread.
        ("system.exit", "do_exit", 2 * n + 1),
        ("system.exit", "release_task", 2 * n + 1),
        // n processes started, n + 1 ended (the workload itself).
        ("system.process_status", "process", -1),
        ("system.process_status", "zombie", 0),
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
