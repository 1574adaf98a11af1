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

_Static_assert(PROCESS_COUNTER_END == 7, "mirrored in layout.rs");
_Static_assert(SYNC_COUNTER_END == 6, "mirrored in layout.rs");

#endif
