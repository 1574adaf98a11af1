/* filesystem: latency histograms of reads, writes, opens and syncs per
 * filesystem type (spec §2.14, §3.14), ext4, xfs, nfs, zfs and btrfs.
 *
 * The tracepoint variant times the syscalls, from sys_enter to sys_exit,
 * and finds the filesystem through the file descriptor: the one the call
 * names (read, write, fsync) or, for an open, the one it returned. The
 * file's filesystem is its superblock's magic number, which ext4 shares
 * with the ext2 and ext3 it also mounts (as the original's ext4 functions
 * serve those too).
 *
 * The trampoline and probe variants time the original's functions of
 * each filesystem (spec §3.14), from entry to return: the filesystem is
 * the function's. */
#include "common.bpf.h"

/* The filesystems, in the original's order; key of `fs_latency`. */
enum fs_type {
	FS_EXT4,
	FS_XFS,
	FS_NFS,
	FS_ZFS,
	FS_BTRFS,
	FS_TYPES,
};

#define FS_NONE FS_TYPES

enum fs_op {
	FS_READ,
	FS_WRITE,
	FS_OPEN,
	FS_SYNC,
	FS_OPS,
};

#define EXT4_SUPER_MAGIC 0xEF53
#define XFS_SUPER_MAGIC 0x58465342
#define NFS_SUPER_MAGIC 0x6969
#define ZFS_SUPER_MAGIC 0x2fc12fc1
#define BTRFS_SUPER_MAGIC 0x9123683E

/* Calls of a filesystem that could not be timed: no room for the call in
 * flight (the thread's storage not allocated, or, before kernel 5.11, the
 * hash of calls full); charted as `filesystem.untimed_calls`. The conf
 * switches (`ext4dist`, ...) name these. */
COUNTER_ARRAY(fs_untimed, enum fs_type, FS_TYPES);

PID_FILTER_PROGRAMS

/* Per filesystem, per-CPU calls by operation and latency bucket: slot
 * op * 24 + bucket. Per CPU (3.8 KiB each for the five filesystems),
 * unlike disk's buckets: every read and write of every CPU counts here,
 * and one shared slot would bounce its cache line between them. An array,
 * whose look-up the verifier inlines, not a hash (README, "filesystem").
 * Bucket 0 holds [0, 1) us, bucket k [2^(k-1), 2^k) us, the last one
 * everything from 2^22 us (4.2 s) on. */
struct fs_buckets {
	__u64 count[FS_OPS * LATENCY_BUCKETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_TYPES);
	__type(key, __u32);
	__type(value, struct fs_buckets);
} fs_latency SEC(".maps");

/* A thread's call in flight; `ns` 0: none. */
struct fs_start {
	__u64 ns;
	__u32 fs;
	__u32 op;
};

#ifndef NO_TASK_STORAGE
/* In the thread's own storage (kernel 5.11+): a look-up in the task
 * instead of a hash's insert, look-up and delete, which cost 220 ns of a
 * timed pread's 618 (README, "filesystem"). Freed with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fs_start);
} fs_started SEC(".maps");

/* Fails only when the kernel cannot allocate the thread's storage (or a
 * program of ours on this CPU is using task storage already). */
static __always_inline bool call_begin(const struct fs_start *start)
{
	struct fs_start *call = bpf_task_storage_get(&fs_started, bpf_get_current_task_btf(), NULL,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!call)
		return false;
	*call = *start;
	return true;
}

static __always_inline struct fs_start *call_in_flight(void)
{
	struct fs_start *call = bpf_task_storage_get(&fs_started, bpf_get_current_task_btf(), NULL, 0);

	return call && call->ns ? call : NULL;
}

static __always_inline void call_end(struct fs_start *call)
{
	call->ns = 0;
}
#else
/* Kernels before 5.11 (build.rs compiles this object a second time with
 * NO_TASK_STORAGE): a hash by thread. */
#define FS_MAX_IN_FLIGHT 16384

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FS_MAX_IN_FLIGHT);
	__type(key, __u64);
	__type(value, struct fs_start);
} fs_started SEC(".maps");

/* Fails when the hash is full. */
static __always_inline bool call_begin(const struct fs_start *start)
{
	__u64 id = bpf_get_current_pid_tgid();

	return !bpf_map_update_elem(&fs_started, &id, start, BPF_ANY);
}

static __always_inline struct fs_start *call_in_flight(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&fs_started, &id);
}

static __always_inline void call_end(struct fs_start *call)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&fs_started, &id);
}
#endif

/* The filesystem of the current task's descriptor `fd`, FS_NONE if it is
 * none of ours or not open. The task's pointers are followed with plain
 * loads (its BTF pointer); the descriptor's slot is read with a helper (a
 * variable index), and so is the file's superblock. */
static __always_inline __u32 fd_fs(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file *file = NULL;
	unsigned long magic;

	if (fd < 0 || !fdt || fd >= fdt->max_fds)
		return FS_NONE;
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
	if (!file)
		return FS_NONE;
	magic = BPF_CORE_READ(file, f_inode, i_sb, s_magic);
	switch (magic) {
	case EXT4_SUPER_MAGIC:
		return FS_EXT4;
	case XFS_SUPER_MAGIC:
		return FS_XFS;
	case NFS_SUPER_MAGIC:
		return FS_NFS;
	case ZFS_SUPER_MAGIC:
		return FS_ZFS;
	case BTRFS_SUPER_MAGIC:
		return FS_BTRFS;
	}
	return FS_NONE;
}

static __always_inline void start(__u32 fs, __u32 op)
{
	struct fs_start call = { .ns = bpf_ktime_get_ns(), .fs = fs, .op = op };

	if (!call_begin(&call) && fs < FS_TYPES)
		counter_add(&fs_untimed, fs, 1);
}

/* A call on descriptor `fd`, timed if the file is on one of ours. */
static __always_inline void start_on(long fd, __u32 op)
{
	__u32 fs;

	if (!current_wanted())
		return;
	fs = fd_fs(fd);
	if (fs < FS_TYPES)
		start(fs, op);
}

static __always_inline void count_latency(__u32 fs, __u32 op, __u64 elapsed)
{
	struct fs_buckets *buckets;
	__u64 slot = latency_bucket(elapsed);

	buckets = bpf_map_lookup_elem(&fs_latency, &fs);
	if (!buckets || op >= FS_OPS)
		return;
	__sync_fetch_and_add(&buckets->count[op * LATENCY_BUCKETS + slot], 1);
}

/* A filesystem function's return: its call, started on its entry. */
static __always_inline void finish(__u32 fs, __u32 op)
{
	struct fs_start *call = call_in_flight();
	__u64 elapsed;

	if (!call)
		return;
	elapsed = bpf_ktime_get_ns() - call->ns;
	/* The start of another function, whose return was missed (it began
	 * before we attached), or of a call this one made to another of
	 * them (nfs's getattr), which ended first: this call is not timed. */
	if (call->fs != fs || call->op != op)
		return;
	call_end(call);
	count_latency(fs, op, elapsed);
}

static __always_inline void enter(__u32 fs, __u32 op)
{
	if (current_wanted())
		start(fs, op);
}

/* fs_<fs>_<op>_fentry and _kprobe on the function's entry,
 * fs_<fs>_<op>_fexit and _kretprobe on its return. */
#define FS_FUNCTION(stem, fs, op)                                                 \
	SEC("fentry")                                                             \
	int BPF_PROG(stem##_fentry)                                               \
	{                                                                         \
		enter(fs, op);                                                    \
		return 0;                                                         \
	}                                                                         \
	SEC("fexit")                                                              \
	int BPF_PROG(stem##_fexit)                                                \
	{                                                                         \
		finish(fs, op);                                                   \
		return 0;                                                         \
	}                                                                         \
	SEC("kprobe")                                                             \
	int BPF_KPROBE(stem##_kprobe)                                             \
	{                                                                         \
		enter(fs, op);                                                    \
		return 0;                                                         \
	}                                                                         \
	SEC("kretprobe")                                                          \
	int BPF_KRETPROBE(stem##_kretprobe)                                       \
	{                                                                         \
		finish(fs, op);                                                   \
		return 0;                                                         \
	}

#define FS_FUNCTIONS(name, fs)                     \
	FS_FUNCTION(fs_##name##_read, fs, FS_READ)   \
	FS_FUNCTION(fs_##name##_write, fs, FS_WRITE) \
	FS_FUNCTION(fs_##name##_open, fs, FS_OPEN)   \
	FS_FUNCTION(fs_##name##_sync, fs, FS_SYNC)

FS_FUNCTIONS(ext4, FS_EXT4)
FS_FUNCTIONS(xfs, FS_XFS)
FS_FUNCTIONS(nfs, FS_NFS)
FS_FUNCTIONS(zfs, FS_ZFS)
FS_FUNCTIONS(btrfs, FS_BTRFS)

SEC("tracepoint")
int fs_read_enter(struct trace_event_raw_sys_enter *ctx)
{
	start_on(ctx->args[0], FS_READ);
	return 0;
}

SEC("tracepoint")
int fs_write_enter(struct trace_event_raw_sys_enter *ctx)
{
	start_on(ctx->args[0], FS_WRITE);
	return 0;
}

SEC("tracepoint")
int fs_sync_enter(struct trace_event_raw_sys_enter *ctx)
{
	start_on(ctx->args[0], FS_SYNC);
	return 0;
}

/* Which filesystem an open is on is known when it returns a descriptor:
 * every open of a process we count is timed. */
SEC("tracepoint")
int fs_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	if (current_wanted())
		start(FS_NONE, FS_OPEN);
	return 0;
}

SEC("tracepoint")
int fs_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct fs_start *call = call_in_flight();
	__u64 elapsed;
	__u32 fs, op;

	if (!call)
		return 0;
	elapsed = bpf_ktime_get_ns() - call->ns;
	fs = call->fs;
	op = call->op;
	call_end(call);
	/* A failed open has no file, so no filesystem. */
	if (op == FS_OPEN)
		fs = fd_fs(ctx->ret);
	if (fs < FS_TYPES)
		count_latency(fs, op, elapsed);
	return 0;
}
