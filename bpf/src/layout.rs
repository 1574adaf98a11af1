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
