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

/// The per-CPU array `softirq_ns`: one slot per softirq vector.
pub mod softirq {
    pub const VECTORS: u32 = 10;
}

/// Indices of the per-CPU array `hardirq_vector_ns` (x86 system vectors).
pub mod hardirq {
    pub const APIC_THERMAL: u32 = 0;
    pub const APIC_THRESHOLD: u32 = 1;
    pub const APIC_ERROR: u32 = 2;
    pub const APIC_DEFERRED_ERROR: u32 = 3;
    pub const APIC_SPURIOUS: u32 = 4;
    pub const FUNC_CALL: u32 = 5;
    pub const FUNC_CALL_SINGLE: u32 = 6;
    pub const RESCHEDULE: u32 = 7;
    pub const LOCAL_TIMER: u32 = 8;
    pub const IRQ_WORK: u32 = 9;
    pub const X86_PLATFORM_IPI: u32 = 10;
    pub const VECTORS: u32 = 11;
}

/// The per-CPU hash `disk_latency`: dev_t to completions by latency bucket.
pub mod disk {
    pub const BUCKETS: usize = 24;
    /// `struct disk_buckets`.
    pub type Buckets = [u64; BUCKETS];
    const _: () = assert!(std::mem::size_of::<Buckets>() == 192);
}

/// Indices of the `fd_counters` per-CPU array. The first [`fd::PER_PROCESS`]
/// are also kept per process in `tgid_values`.
pub mod fd {
    pub const OPEN: u32 = 0;
    pub const OPEN_ERROR: u32 = 1;
    pub const CLOSE: u32 = 2;
    pub const CLOSE_ERROR: u32 = 3;
    pub const PER_PROCESS: u32 = 4;
    pub const TGID_ADDED: u32 = 4;
    pub const TGID_REMOVED: u32 = 5;
    pub const TGID_FULL: u32 = 6;
    pub const COUNTERS: u32 = 7;
}

/// Indices of the `vfs_counters` per-CPU array. The first
/// [`vfs::PER_PROCESS`] are also kept per process in `tgid_values`.
pub mod vfs {
    pub const READ: u32 = 0;
    pub const READ_ERROR: u32 = 1;
    pub const READ_BYTES: u32 = 2;
    pub const WRITE: u32 = 3;
    pub const WRITE_ERROR: u32 = 4;
    pub const WRITE_BYTES: u32 = 5;
    pub const FSYNC: u32 = 6;
    pub const FSYNC_ERROR: u32 = 7;
    pub const OPEN: u32 = 8;
    pub const OPEN_ERROR: u32 = 9;
    pub const CREATE: u32 = 10;
    pub const CREATE_ERROR: u32 = 11;
    pub const UNLINK: u32 = 12;
    pub const PER_PROCESS: u32 = 13;
    pub const TGID_ADDED: u32 = 13;
    pub const TGID_REMOVED: u32 = 14;
    pub const TGID_FULL: u32 = 15;
    pub const COUNTERS: u32 = 16;
}

/// Indices of the `mount_counters` per-CPU array.
pub mod mount {
    pub const MOUNT: u32 = 0;
    pub const MOUNT_ERROR: u32 = 1;
    pub const UMOUNT: u32 = 2;
    pub const UMOUNT_ERROR: u32 = 3;
    pub const COUNTERS: u32 = 4;
}

/// Indices of the `shm_counters` per-CPU array. The first
/// [`shm::PER_PROCESS`] are also kept per process in `tgid_values`.
pub mod shm {
    pub const GET: u32 = 0;
    pub const AT: u32 = 1;
    pub const DT: u32 = 2;
    pub const CTL: u32 = 3;
    pub const PER_PROCESS: u32 = 4;
    pub const TGID_ADDED: u32 = 4;
    pub const TGID_REMOVED: u32 = 5;
    pub const TGID_FULL: u32 = 6;
    pub const COUNTERS: u32 = 7;
}

/// The per-process table (`common.bpf.h` `TGID_VALUES`): a hash from TGID
/// (`u32`) to that process's copies of a thread's first `PER_PROCESS`
/// counters, as `[u64; PER_PROCESS]`.
pub const TGID_VALUES_MAP: &str = "tgid_values";
/// The `const volatile` global that turns the per-process table on.
pub const TGID_VALUES_ON: &str = "tgid_values_on";
