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

static __always_inline int fd_call(__u32 calls)
{
	__u64 *own;

	if (current_counted(&own))
		count(&fd_counters, own, calls, 1);
	return 0;
}

static __always_inline int fd_return(__u32 calls, long ret)
{
	__u64 *own;

	if (current_counted(&own))
		count_return(&fd_counters, own, calls, ret);
	return 0;
}

#define FD_SYSCALL(syscall, calls)                                        \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)                    \
	int fd_enter_##syscall(void *ctx)                                 \
	{                                                                 \
		return fd_call(calls);                                    \
	}                                                                 \
	SEC("tracepoint/syscalls/sys_exit_" #syscall)                     \
	int fd_exit_##syscall(struct trace_event_raw_sys_exit *ctx)       \
	{                                                                 \
		return fd_return(calls, ctx->ret);                        \
	}

FD_SYSCALL(open, FD_OPEN)
FD_SYSCALL(openat, FD_OPEN)
FD_SYSCALL(openat2, FD_OPEN)
FD_SYSCALL(creat, FD_OPEN)
FD_SYSCALL(close, FD_CLOSE)

SEC("fentry")
int BPF_PROG(fd_open_fentry)
{
	return fd_call(FD_OPEN);
}

SEC("fexit")
int BPF_PROG(fd_open_fexit)
{
	return fd_return(FD_OPEN, (long)fexit_ret(ctx));
}

SEC("fentry")
int BPF_PROG(fd_close_fentry)
{
	return fd_call(FD_CLOSE);
}

SEC("fexit")
int BPF_PROG(fd_close_fexit)
{
	return fd_return(FD_CLOSE, (long)fexit_ret(ctx));
}

SEC("kprobe")
int BPF_KPROBE(fd_open_kprobe)
{
	return fd_call(FD_OPEN);
}

SEC("kretprobe")
int BPF_KRETPROBE(fd_open_kretprobe, long ret)
{
	return fd_return(FD_OPEN, ret);
}

SEC("kprobe")
int BPF_KPROBE(fd_close_kprobe)
{
	return fd_call(FD_CLOSE);
}

SEC("kretprobe")
int BPF_KRETPROBE(fd_close_kretprobe, long ret)
{
	return fd_return(FD_CLOSE, ret);
}
