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

/// The per-process tables (`PID_TABLE` in `include/common.bpf.h`).
pub mod pid {
    use bytemuck::{Pod, Zeroable};

    /// Bytes of `struct pid_slot_head`: tgid, flags, ppid. Counters follow.
    pub const HEAD_BYTES: usize = 12;
    /// Offsets of the head's fields.
    pub const TGID: usize = 0;
    pub const FLAGS: usize = 4;
    pub const PPID: usize = 8;
    /// `PID_SLOT_GONE`: the process ended.
    pub const SLOT_GONE: u32 = 1;

    /// Indices of the per-CPU `pid_stats` array.
    pub const STAT_INSERTED: u32 = 0;
    pub const STAT_FULL: u32 = 1;
    pub const STAT_LOST: u32 = 2;
    pub const STATS: u32 = 3;

    /// `PID_V1_HIERARCHIES`: cpuacct, cpuset, blkio, memory, devices.
    pub const V1_HIERARCHIES: [&str; 5] = ["cpuacct", "cpuset", "blkio", "memory", "devices"];

    /// `struct pid_event`, a record of the `pid_events` ring buffer.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
    pub struct Event {
        pub tgid: u32,
        pub ppid: u32,
        /// Cgroup id (directory inode) in the unified hierarchy.
        pub cgroup: u64,
        /// The same in each v1 hierarchy of [`V1_HIERARCHIES`].
        pub v1_cgroups: [u64; 5],
        pub comm: [u8; 16],
        /// 1: an exec; 0: the process entered the table.
        pub exec: u32,
        pub pad: u32,
    }
    const _: () = assert!(std::mem::size_of::<Event>() == 80);
}

/// Per-process counters of `struct process_pid_slot`.
pub mod process_pid {
    pub const CREATE_PROCESS: u32 = 0;
    pub const CREATE_THREAD: u32 = 1;
    pub const TASK_EXIT: u32 = 2;
    pub const TASK_CLOSE: u32 = 3;
    pub const TASK_ERROR: u32 = 4;
    pub const COUNTERS: u32 = 5;
    /// `sizeof(struct process_pid_slot)`.
    pub const SLOT_BYTES: usize = 32;
}

/// `struct oomkill_pid_slot`: one counter, the kills.
pub mod oomkill_pid {
    pub const KILLS: u32 = 0;
    pub const COUNTERS: u32 = 1;
    pub const SLOT_BYTES: usize = 16;
}
