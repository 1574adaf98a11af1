/* sync: calls of the six syscalls that flush data to storage, on their
 * sys_enter tracepoints or their syscall functions (a trampoline or a
 * kprobe). */
#include "common.bpf.h"

enum sync_counter {
	SYNC_FSYNC,
	SYNC_FDATASYNC,
	SYNC_MSYNC,
	SYNC_SYNC,
	SYNC_SYNCFS,
	SYNC_SYNC_FILE_RANGE,
	SYNC_COUNTERS,
};

COUNTER_ARRAY(sync_counters, enum sync_counter, SYNC_COUNTERS);

PID_FILTER_PROGRAMS

static __always_inline void count_call(__u32 index)
{
	if (current_wanted())
		counter_add(&sync_counters, index, 1);
}

ENTRY_CALL(sync_fsync, count_call(SYNC_FSYNC))
ENTRY_CALL(sync_fdatasync, count_call(SYNC_FDATASYNC))
ENTRY_CALL(sync_msync, count_call(SYNC_MSYNC))
ENTRY_CALL(sync_sync, count_call(SYNC_SYNC))
ENTRY_CALL(sync_syncfs, count_call(SYNC_SYNCFS))
ENTRY_CALL(sync_sync_file_range, count_call(SYNC_SYNC_FILE_RANGE))
