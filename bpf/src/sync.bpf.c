/* sync: calls of the six syscalls that flush data to storage, one
 * tracepoint each (cheaper for the rest of the system than raw_syscalls). */
#include "common.bpf.h"

COUNTER_ARRAY(sync_counters, SYNC_COUNTER_END);

PID_FILTER_PROGRAMS

#define SYNC_TRACEPOINT(syscall, index)                              \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)               \
	int sync_##syscall(void *ctx)                                \
	{                                                            \
		if (current_wanted())                                \
			counter_add(&sync_counters, index, 1);       \
		return 0;                                            \
	}

SYNC_TRACEPOINT(fsync, SYNC_FSYNC)
SYNC_TRACEPOINT(fdatasync, SYNC_FDATASYNC)
SYNC_TRACEPOINT(msync, SYNC_MSYNC)
SYNC_TRACEPOINT(sync, SYNC_SYNC)
SYNC_TRACEPOINT(syncfs, SYNC_SYNCFS)
SYNC_TRACEPOINT(sync_file_range, SYNC_SYNC_FILE_RANGE)
