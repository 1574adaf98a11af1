/* shm: calls of shmget(2), shmat(2), shmdt(2) and shmctl(2), counted on
 * entry. tracepoint: the syscalls' tracepoints; trampoline and probe: their
 * x86-64 entry points, as the original. */
#include "common.bpf.h"

enum shm_counter {
	SHM_GET,
	SHM_AT,
	SHM_DT,
	SHM_CTL,
	SHM_COUNTERS,
};

COUNTER_ARRAY(shm_counters, enum shm_counter, SHM_COUNTERS);
TGID_VALUES(SHM_COUNTERS)
PID_FILTER_PROGRAMS

static __always_inline int shm_call(__u32 calls)
{
	__u64 *own;

	if (current_counted(&own))
		count(&shm_counters, own, calls, 1);
	return 0;
}

#define SHM_SYSCALL(syscall, calls)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)                   \
	int shm_enter_##syscall(void *ctx)                               \
	{                                                                \
		return shm_call(calls);                                  \
	}                                                                \
	SEC("fentry")                                                    \
	int BPF_PROG(syscall##_fentry)                                   \
	{                                                                \
		return shm_call(calls);                                  \
	}                                                                \
	SEC("kprobe")                                                    \
	int BPF_KPROBE(syscall##_kprobe)                                 \
	{                                                                \
		return shm_call(calls);                                  \
	}

SHM_SYSCALL(shmget, SHM_GET)
SHM_SYSCALL(shmat, SHM_AT)
SHM_SYSCALL(shmdt, SHM_DT)
SHM_SYSCALL(shmctl, SHM_CTL)
