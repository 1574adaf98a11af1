/* fd: calls of open and close and, in return mode, their failures.
 *
 * tracepoint: the open(2), openat(2), openat2(2), creat(2) and close(2)
 * syscalls; trampoline and probe: do_sys_openat2 (or do_sys_open), as the
 * original, and close(2)'s entry point (the original's close_fd is not
 * what close(2) calls on recent kernels). Entry mode counts
 * each call on entry; return mode counts it, and its failure, on return:
 * one program per hook either way (the original's CO-RE code loaded both
 * and counted every call twice, spec B-48). */
#include "common.bpf.h"

/* A failure is always counted right after its calls (count_return). */
enum fd_counter {
	FD_OPEN,
	FD_OPEN_ERROR,
	FD_CLOSE,
	FD_CLOSE_ERROR,
	FD_COUNTERS,
};

COUNTER_ARRAY(fd_counters, enum fd_counter, FD_COUNTERS);
TGID_VALUES(FD_COUNTERS)
PID_FILTER_PROGRAMS

static __always_inline void fd_call(__u32 calls)
{
	__u64 *own;

	if (current_counted(&own))
		count(&fd_counters, own, calls, 1);
}

static __always_inline void fd_return(__u32 calls, long ret)
{
	__u64 *own;

	if (current_counted(&own))
		count_return(&fd_counters, own, calls, ret);
}

ENTRY_CALL(fd_open, fd_call(FD_OPEN))
RETURN_CALL(fd_open, long, fd_return(FD_OPEN, ret))
ENTRY_CALL(fd_close, fd_call(FD_CLOSE))
RETURN_CALL(fd_close, long, fd_return(FD_CLOSE, ret))
