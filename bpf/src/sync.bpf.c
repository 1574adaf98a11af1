/* sync: calls of the six syscalls that flush data to storage. Each syscall
 * has one program per attach variant (workers/src/sync.rs picks them): its
 * sys_enter tracepoint, a trampoline or a kprobe on its syscall function. */
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

#define SYNC_PROGRAMS(syscall, index)                                \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)               \
	int sync_##syscall(void *ctx)                                \
	{                                                            \
		count_call(index);                                   \
		return 0;                                            \
	}                                                            \
	ENTRY_PROGRAMS(sync_##syscall, count_call(index))

SYNC_PROGRAMS(fsync, SYNC_FSYNC)
SYNC_PROGRAMS(fdatasync, SYNC_FDATASYNC)
SYNC_PROGRAMS(msync, SYNC_MSYNC)
SYNC_PROGRAMS(sync, SYNC_SYNC)
SYNC_PROGRAMS(syncfs, SYNC_SYNCFS)
SYNC_PROGRAMS(sync_file_range, SYNC_SYNC_FILE_RANGE)
