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

/// What the `process,shm` workload of `n` makes on the per-process charts
/// (`apps.<id>`, `cgroup_<name>.<id>`, `services.<id>`), started after
/// the collector: chart id after its type, events, whether only return
/// mode draws the chart.
pub fn process_shm_per_process(n: i64) -> Vec<(&'static str, i64, bool)> {
    vec![
        ("process_create", n, false),
        ("thread_create", n, false),
        // n children, n threads and the workload itself.
        ("task_exit", 2 * n + 1, false),
        ("task_close", 2 * n + 1, false),
        // n failed process and n failed thread creations.
        ("task_error", 2 * n, true),
        ("shmget_call", n, false),
        ("shmat_call", n, false),
        ("shmdt_call", n, false),
        ("shmctl_call", n, false),
    ]
}
