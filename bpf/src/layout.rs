//! Mirrors `include/layout.h`; the C side asserts the same numbers.

/// Indices of the `process_counters` per-CPU array.
pub mod process {
    pub const NEW_PROCESS: u32 = 0;
    pub const NEW_THREAD: u32 = 1;
    pub const TASK_EXIT: u32 = 2;
    pub const GROUP_EXIT: u32 = 3;
    pub const TASK_RELEASE: u32 = 4;
    pub const ERROR_PROCESS: u32 = 5;
    pub const ERROR_THREAD: u32 = 6;
    pub const COUNTERS: u32 = 7;
}

/// Indices of the `sync_counters` per-CPU array.
pub mod sync {
    pub const FSYNC: u32 = 0;
    pub const FDATASYNC: u32 = 1;
    pub const MSYNC: u32 = 2;
    pub const SYNC: u32 = 3;
    pub const SYNCFS: u32 = 4;
    pub const SYNC_FILE_RANGE: u32 = 5;
    pub const COUNTERS: u32 = 6;
}
