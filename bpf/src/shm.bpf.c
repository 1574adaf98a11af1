/* shm: calls of shmget(2), shmat(2), shmdt(2) and shmctl(2), counted on
 * entry. tracepoint: the syscalls' tracepoints; trampoline and probe: their
 * entry points, as the original. */
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

static __always_inline void shm_call(__u32 calls)
{
	__u64 *own;

	if (current_counted(&own))
		count(&shm_counters, own, calls, 1);
}

ENTRY_CALL(shmget, shm_call(SHM_GET))
ENTRY_CALL(shmat, shm_call(SHM_AT))
ENTRY_CALL(shmdt, shm_call(SHM_DT))
ENTRY_CALL(shmctl, shm_call(SHM_CTL))
