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

/* softirq: indices of the per-CPU array `softirq_ns`, the kernel's vector
 * numbers (HI_SOFTIRQ .. RCU_SOFTIRQ): nanoseconds spent in each vector. */
enum softirq_counter {
	SOFTIRQ_VECTORS = 10,
};

/* hardirq: indices of the per-CPU array `hardirq_vector_ns` (x86 system
 * vectors, nanoseconds spent in their handlers) and of the per-CPU start
 * times `hardirq_start` (the vectors', then one slot for device IRQs). */
enum hardirq_counter {
	HARDIRQ_APIC_THERMAL = 0,
	HARDIRQ_APIC_THRESHOLD = 1,
	HARDIRQ_APIC_ERROR = 2,
	HARDIRQ_APIC_DEFERRED_ERROR = 3,
	HARDIRQ_APIC_SPURIOUS = 4,
	HARDIRQ_FUNC_CALL = 5,
	HARDIRQ_FUNC_CALL_SINGLE = 6,
	HARDIRQ_RESCHEDULE = 7,
	HARDIRQ_LOCAL_TIMER = 8,
	HARDIRQ_IRQ_WORK = 9,
	HARDIRQ_X86_PLATFORM_IPI = 10,
	HARDIRQ_VECTORS = 11,
	HARDIRQ_DEVICE_SLOT = 11,
	HARDIRQ_START_SLOTS = 12,
};

/* hardirq: entries of the per-CPU hash `hardirq_irq_ns` (IRQ number ->
 * nanoseconds spent in its handlers). */
#define HARDIRQ_MAX_IRQS 2048

/* disk: `disk_latency` maps a device (the kernel's dev_t, major << 20 |
 * minor) to per-CPU completion counts by latency bucket: bucket 0 holds
 * [0, 1) us, bucket k holds [2^(k-1), 2^k) us, the last one everything
 * from 2^22 us (4.2 s) on. */
#define DISK_BUCKETS 24
#define DISK_MAX_DEVICES 256
#define DISK_MAX_IN_FLIGHT 16384

struct disk_buckets {
	__u64 count[DISK_BUCKETS];
};

/* Threads with per-process values (common.bpf.h TGID_VALUES) keep copies of
 * their first <THREAD>_PER_PROCESS counters per TGID, and count that table's
 * entries added and removed and the events it had no room for in the three
 * counters that follow. A failure is always counted right after its calls. */

/* fd: indices of `fd_counters`. */
enum fd_counter {
	FD_OPEN = 0,
	FD_OPEN_ERROR = 1,
	FD_CLOSE = 2,
	FD_CLOSE_ERROR = 3,
	FD_PER_PROCESS = 4,
	FD_TGID_ADDED = 4,
	FD_TGID_REMOVED = 5,
	FD_TGID_FULL = 6,
	FD_COUNTER_END = 7,
};

/* vfs: indices of `vfs_counters`; read and write bytes follow their errors. */
enum vfs_counter {
	VFS_READ = 0,
	VFS_READ_ERROR = 1,
	VFS_READ_BYTES = 2,
	VFS_WRITE = 3,
	VFS_WRITE_ERROR = 4,
	VFS_WRITE_BYTES = 5,
	VFS_FSYNC = 6,
	VFS_FSYNC_ERROR = 7,
	VFS_OPEN = 8,
	VFS_OPEN_ERROR = 9,
	VFS_CREATE = 10,
	VFS_CREATE_ERROR = 11,
	VFS_UNLINK = 12,
	VFS_PER_PROCESS = 13,
	VFS_TGID_ADDED = 13,
	VFS_TGID_REMOVED = 14,
	VFS_TGID_FULL = 15,
	VFS_COUNTER_END = 16,
};

/* mount: indices of `mount_counters` (no per-process values, as the original). */
enum mount_counter {
	MOUNT_MOUNT = 0,
	MOUNT_MOUNT_ERROR = 1,
	MOUNT_UMOUNT = 2,
	MOUNT_UMOUNT_ERROR = 3,
	MOUNT_COUNTER_END = 4,
};

/* shm: indices of `shm_counters`. */
enum shm_counter {
	SHM_GET = 0,
	SHM_AT = 1,
	SHM_DT = 2,
	SHM_CTL = 3,
	SHM_PER_PROCESS = 4,
	SHM_TGID_ADDED = 4,
	SHM_TGID_REMOVED = 5,
	SHM_TGID_FULL = 6,
	SHM_COUNTER_END = 7,
};

_Static_assert(PROCESS_COUNTER_END == 7, "mirrored in layout.rs");
_Static_assert(SYNC_COUNTER_END == 6, "mirrored in layout.rs");
_Static_assert(SOFTIRQ_VECTORS == 10, "mirrored in layout.rs");
_Static_assert(HARDIRQ_VECTORS == 11, "mirrored in layout.rs");
_Static_assert(DISK_BUCKETS == 24 && sizeof(struct disk_buckets) == 192, "mirrored in layout.rs");
_Static_assert(FD_COUNTER_END == 7 && FD_PER_PROCESS == 4, "mirrored in layout.rs");
_Static_assert(VFS_COUNTER_END == 16 && VFS_PER_PROCESS == 13, "mirrored in layout.rs");
_Static_assert(MOUNT_COUNTER_END == 4, "mirrored in layout.rs");
_Static_assert(SHM_COUNTER_END == 7 && SHM_PER_PROCESS == 4, "mirrored in layout.rs");

#endif
