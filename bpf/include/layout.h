/* Map key and value layouts shared with Rust (bpf/src/layout.rs mirrors
 * them; both sides assert the numbers below). */
#ifndef EBPF_COLLECTOR_LAYOUT_H
#define EBPF_COLLECTOR_LAYOUT_H

/* process: indices of the per-CPU counter array `process_counters`. */
enum process_counter {
	PROCESS_NEW_PROCESS = 0,  /* fork/vfork/clone without CLONE_THREAD */
	PROCESS_NEW_THREAD = 1,   /* clone with CLONE_THREAD */
	PROCESS_TASK_EXIT = 2,    /* any task (process or thread) exits */
	PROCESS_GROUP_EXIT = 3,   /* the last task of a process exits */
	PROCESS_TASK_RELEASE = 4, /* an exited task is released (reaped) */
	PROCESS_ERROR_PROCESS = 5,/* fork/vfork/clone of a process failed */
	PROCESS_ERROR_THREAD = 6, /* clone of a thread failed */
	PROCESS_COUNTER_END = 7,
};

/* sync: indices of the per-CPU counter array `sync_counters`. */
enum sync_counter {
	SYNC_FSYNC = 0,
	SYNC_FDATASYNC = 1,
	SYNC_MSYNC = 2,
	SYNC_SYNC = 3,
	SYNC_SYNCFS = 4,
	SYNC_SYNC_FILE_RANGE = 5,
	SYNC_COUNTER_END = 6,
};

/* Per-process tables (common.bpf.h, PID_TABLE): every slot starts with
 * this head; counters follow, u32 each, at offset 12. */
struct pid_slot_head {
	__u32 tgid;  /* 0: free; claimed by compare-and-swap */
	__u32 flags; /* PID_SLOT_* */
	__u32 ppid;  /* the parent's TGID when the slot was claimed */
};

#define PID_SLOT_GONE 1 /* the process ended: the worker sends the rest and frees the slot */

/* The v1 hierarchies whose cgroup ids a pid_event carries, in this order
 * (the order the supervisor looks for a process's cgroup in). */
#define PID_V1_HIERARCHIES 5 /* cpuacct, cpuset, blkio, memory, devices */

/* What the kernel tells the worker about a process when it enters a table
 * or calls exec, through the `pid_events` ring buffer. */
struct pid_event {
	__u32 tgid;
	__u32 ppid;
	__u64 cgroup; /* cgroup id (directory inode) in the unified hierarchy */
	__u64 v1_cgroups[PID_V1_HIERARCHIES]; /* the same in each v1 hierarchy */
	char comm[16];
	__u32 exec;   /* 1: an exec, 0: entered the table */
	__u32 pad;
};

/* Indices of the per-CPU `pid_stats` array. */
enum pid_stat {
	PID_STAT_INSERTED = 0, /* slots claimed */
	PID_STAT_FULL = 1,     /* events not attributed: no free slot in reach */
	PID_STAT_LOST = 2,     /* pid_events records lost (ring buffer full) */
	PID_STAT_END = 3,
};

/* process: per-process counters. */
enum process_pid_counter {
	PROCESS_PID_CREATE_PROCESS = 0, /* processes this process started */
	PROCESS_PID_CREATE_THREAD = 1,  /* threads it started */
	PROCESS_PID_TASK_EXIT = 2,      /* its tasks that exited */
	PROCESS_PID_TASK_CLOSE = 3,     /* its tasks that were released */
	PROCESS_PID_TASK_ERROR = 4,     /* its failed process or thread creations */
	PROCESS_PID_COUNTER_END = 5,
};

struct process_pid_slot {
	struct pid_slot_head head;
	__u32 counters[PROCESS_PID_COUNTER_END];
};

/* oomkill: one per-process counter, its OOM kills. */
struct oomkill_pid_slot {
	struct pid_slot_head head;
	__u32 kills;
};

_Static_assert(PROCESS_COUNTER_END == 7, "mirrored in layout.rs");
_Static_assert(SYNC_COUNTER_END == 6, "mirrored in layout.rs");
_Static_assert(sizeof(struct pid_slot_head) == 12, "mirrored in layout.rs");
_Static_assert(sizeof(struct pid_event) == 80, "mirrored in layout.rs");
_Static_assert(PID_STAT_END == 3, "mirrored in layout.rs");
_Static_assert(PROCESS_PID_COUNTER_END == 5, "mirrored in layout.rs");
_Static_assert(sizeof(struct process_pid_slot) == 32, "mirrored in layout.rs");
_Static_assert(sizeof(struct oomkill_pid_slot) == 16, "mirrored in layout.rs");

#endif
