/* mount: calls of mount(2) and umount2(2) and, in return mode, their
 * failures. tracepoint: the syscalls' tracepoints; trampoline and probe:
 * their entry points, as the original. No per-process values: the
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

static __always_inline void mount_call(__u32 calls)
{
	if (current_wanted())
		counter_add(&mount_counters, calls, 1);
}

static __always_inline void mount_return(__u32 calls, long ret)
{
	if (current_wanted())
		count_return(&mount_counters, NULL, calls, ret);
}

ENTRY_CALL(mount, mount_call(MOUNT_MOUNT))
RETURN_CALL(mount, long, mount_return(MOUNT_MOUNT, ret))
/* The umount2(2) syscall's kernel name is umount. */
ENTRY_CALL(umount, mount_call(MOUNT_UMOUNT))
RETURN_CALL(umount, long, mount_return(MOUNT_UMOUNT, ret))
