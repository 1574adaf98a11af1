/* mount: calls of mount(2) and umount2(2) and, in return mode, their
 * failures. tracepoint: the syscalls' tracepoints; trampoline and probe:
 * their x86-64 entry points, as the original. No per-process values: the
 * original has no apps or cgroup charts for mount. */
#include "common.bpf.h"

enum mount_counter {
	MOUNT_MOUNT,
	MOUNT_MOUNT_ERROR,
	MOUNT_UMOUNT,
	MOUNT_UMOUNT_ERROR,
	MOUNT_COUNTERS,
};

COUNTER_ARRAY(mount_counters, enum mount_counter, MOUNT_COUNTERS);
PID_FILTER_PROGRAMS

static __always_inline int mount_call(__u32 calls)
{
	if (current_wanted())
		counter_add(&mount_counters, calls, 1);
	return 0;
}

static __always_inline int mount_return(__u32 calls, long ret)
{
	if (current_wanted())
		count_return(&mount_counters, NULL, calls, ret);
	return 0;
}

#define MOUNT_SYSCALL(syscall, calls)                                    \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)                   \
	int mount_enter_##syscall(void *ctx)                             \
	{                                                                \
		return mount_call(calls);                                \
	}                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #syscall)                    \
	int mount_exit_##syscall(struct trace_event_raw_sys_exit *ctx)   \
	{                                                                \
		return mount_return(calls, ctx->ret);                    \
	}                                                                \
	SEC("fentry")                                                    \
	int BPF_PROG(syscall##_fentry)                                   \
	{                                                                \
		return mount_call(calls);                                \
	}                                                                \
	SEC("fexit")                                                     \
	int BPF_PROG(syscall##_fexit)                                    \
	{                                                                \
		return mount_return(calls, (long)fexit_ret(ctx));        \
	}                                                                \
	SEC("kprobe")                                                    \
	int BPF_KPROBE(syscall##_kprobe)                                 \
	{                                                                \
		return mount_call(calls);                                \
	}                                                                \
	SEC("kretprobe")                                                 \
	int BPF_KRETPROBE(syscall##_kretprobe, long ret)                 \
	{                                                                \
		return mount_return(calls, ret);                         \
	}

/* The umount2(2) syscall's kernel name is umount. */
MOUNT_SYSCALL(mount, MOUNT_MOUNT)
MOUNT_SYSCALL(umount, MOUNT_UMOUNT)
