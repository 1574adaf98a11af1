/* vfs: reads and writes (calls, bytes, failures), fsync, open, create and
 * unlink calls, and in return mode the failures of fsync, open and create.
 *
 * tracepoint: the syscalls that reach each kernel function (README.md says
 * which and where the counts differ); trampoline and probe: the kernel
 * functions the original hooks. Reads and writes are always counted on
 * return, where their size is known: bytes are the bytes transferred, not
 * the original's sum of log2(size) (spec B-46). */
#include "common.bpf.h"

/* A failure follows its calls (count_return), and read and write bytes
 * follow their failures (vfs_io). */
enum vfs_counter {
	VFS_READ,
	VFS_READ_ERROR,
	VFS_READ_BYTES,
	VFS_WRITE,
	VFS_WRITE_ERROR,
	VFS_WRITE_BYTES,
	VFS_FSYNC,
	VFS_FSYNC_ERROR,
	VFS_OPEN,
	VFS_OPEN_ERROR,
	VFS_CREATE,
	VFS_CREATE_ERROR,
	VFS_UNLINK,
	VFS_COUNTERS,
};

COUNTER_ARRAY(vfs_counters, enum vfs_counter, VFS_COUNTERS);
TGID_VALUES(VFS_COUNTERS)
PID_FILTER_PROGRAMS

#define AT_REMOVEDIR 0x200
#define S_IFMT 00170000
#define S_IFREG 0100000

static __always_inline int vfs_call(__u32 calls)
{
	__u64 *own;

	if (current_counted(&own))
		count(&vfs_counters, own, calls, 1);
	return 0;
}

static __always_inline int vfs_return(__u32 calls, long ret)
{
	__u64 *own;

	if (current_counted(&own))
		count_return(&vfs_counters, own, calls, ret);
	return 0;
}

/* A read or write that returned `ret`: the call, then its failure or its
 * bytes (counters calls + 1, calls + 2). */
static __always_inline int vfs_io(__u32 calls, long ret)
{
	__u64 *own;

	if (!current_counted(&own))
		return 0;
	count_return(&vfs_counters, own, calls, ret);
	if (ret > 0)
		count(&vfs_counters, own, calls + 2, ret);
	return 0;
}

/* --- tracepoint --- */

#define VFS_IO_SYSCALL(syscall, calls)                                   \
	SEC("tracepoint/syscalls/sys_exit_" #syscall)                    \
	int vfs_exit_##syscall(struct trace_event_raw_sys_exit *ctx)     \
	{                                                                \
		return vfs_io(calls, ctx->ret);                          \
	}

VFS_IO_SYSCALL(read, VFS_READ)
VFS_IO_SYSCALL(pread64, VFS_READ)
VFS_IO_SYSCALL(readv, VFS_READ)
VFS_IO_SYSCALL(preadv, VFS_READ)
VFS_IO_SYSCALL(preadv2, VFS_READ)
VFS_IO_SYSCALL(write, VFS_WRITE)
VFS_IO_SYSCALL(pwrite64, VFS_WRITE)
VFS_IO_SYSCALL(writev, VFS_WRITE)
VFS_IO_SYSCALL(pwritev, VFS_WRITE)
VFS_IO_SYSCALL(pwritev2, VFS_WRITE)

#define VFS_SYSCALL(syscall, calls)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)                   \
	int vfs_enter_##syscall(void *ctx)                               \
	{                                                                \
		return vfs_call(calls);                                  \
	}                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #syscall)                    \
	int vfs_exit_##syscall(struct trace_event_raw_sys_exit *ctx)     \
	{                                                                \
		return vfs_return(calls, ctx->ret);                      \
	}

VFS_SYSCALL(fsync, VFS_FSYNC)
VFS_SYSCALL(fdatasync, VFS_FSYNC)
VFS_SYSCALL(open, VFS_OPEN)
VFS_SYSCALL(openat, VFS_OPEN)
VFS_SYSCALL(openat2, VFS_OPEN)
VFS_SYSCALL(creat, VFS_OPEN)
VFS_SYSCALL(open_by_handle_at, VFS_OPEN)

SEC("tracepoint/syscalls/sys_enter_unlink")
int vfs_enter_unlink(void *ctx)
{
	return vfs_call(VFS_UNLINK);
}

/* unlinkat(2) with AT_REMOVEDIR is rmdir(2), which does not reach vfs_unlink. */
SEC("tracepoint/syscalls/sys_enter_unlinkat")
int vfs_enter_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & AT_REMOVEDIR)
		return 0;
	return vfs_call(VFS_UNLINK);
}

/* Calls whose kind is only known on entry but which return mode counts on
 * return: the entry marks the thread's call with its counter. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} marked_calls SEC(".maps");

static __always_inline int vfs_mark(__u32 calls)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&marked_calls, &id, &calls, BPF_ANY);
	return 0;
}

static __always_inline int vfs_marked_return(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 *calls = bpf_map_lookup_elem(&marked_calls, &id);
	__u32 counter;

	if (!calls)
		return 0;
	counter = *calls;
	bpf_map_delete_elem(&marked_calls, &id);
	/* Bounded for the verifier: the marks are VFS_CREATE or VFS_FSYNC. */
	return vfs_return(counter == VFS_CREATE ? VFS_CREATE : VFS_FSYNC, ret);
}

/* vfs_create is what mknod(2) of a regular file calls (open(2) with O_CREAT
 * calls the filesystem directly). */
static __always_inline bool regular_file(__u64 mode)
{
	return (mode & S_IFMT) == 0 || (mode & S_IFMT) == S_IFREG;
}

SEC("tracepoint/syscalls/sys_enter_mknod")
int vfs_enter_mknod(struct trace_event_raw_sys_enter *ctx)
{
	return regular_file(ctx->args[1]) ? vfs_call(VFS_CREATE) : 0;
}

SEC("tracepoint/syscalls/sys_enter_mknodat")
int vfs_enter_mknodat(struct trace_event_raw_sys_enter *ctx)
{
	return regular_file(ctx->args[2]) ? vfs_call(VFS_CREATE) : 0;
}

SEC("tracepoint/syscalls/sys_enter_mknod")
int vfs_mark_mknod(struct trace_event_raw_sys_enter *ctx)
{
	return regular_file(ctx->args[1]) ? vfs_mark(VFS_CREATE) : 0;
}

SEC("tracepoint/syscalls/sys_enter_mknodat")
int vfs_mark_mknodat(struct trace_event_raw_sys_enter *ctx)
{
	return regular_file(ctx->args[2]) ? vfs_mark(VFS_CREATE) : 0;
}

SEC("tracepoint/syscalls/sys_exit_mknod")
int vfs_exit_mknod(struct trace_event_raw_sys_exit *ctx)
{
	return vfs_marked_return(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_mknodat")
int vfs_exit_mknodat(struct trace_event_raw_sys_exit *ctx)
{
	return vfs_marked_return(ctx->ret);
}

/* --- trampoline and probe: one program per kernel function and side --- */

#define VFS_IO_FUNCTION(function, calls)                                 \
	SEC("fexit")                                                     \
	int BPF_PROG(function##_fexit)                                   \
	{                                                                \
		return vfs_io(calls, (long)fexit_ret(ctx));              \
	}                                                                \
	SEC("kretprobe")                                                 \
	int BPF_KRETPROBE(function##_kretprobe, long ret)                \
	{                                                                \
		return vfs_io(calls, ret);                               \
	}

VFS_IO_FUNCTION(vfs_read, VFS_READ)
VFS_IO_FUNCTION(vfs_readv, VFS_READ)
VFS_IO_FUNCTION(vfs_write, VFS_WRITE)
VFS_IO_FUNCTION(vfs_writev, VFS_WRITE)

/* Functions returning int. */
#define VFS_FUNCTION(function, calls)                                    \
	SEC("fentry")                                                    \
	int BPF_PROG(function##_fentry)                                  \
	{                                                                \
		return vfs_call(calls);                                  \
	}                                                                \
	SEC("fexit")                                                     \
	int BPF_PROG(function##_fexit)                                   \
	{                                                                \
		return vfs_return(calls, (int)fexit_ret(ctx));           \
	}                                                                \
	SEC("kprobe")                                                    \
	int BPF_KPROBE(function##_kprobe)                                \
	{                                                                \
		return vfs_call(calls);                                  \
	}                                                                \
	SEC("kretprobe")                                                 \
	int BPF_KRETPROBE(function##_kretprobe, int ret)                 \
	{                                                                \
		return vfs_return(calls, ret);                           \
	}

VFS_FUNCTION(vfs_open, VFS_OPEN)
VFS_FUNCTION(vfs_create, VFS_CREATE)

SEC("fentry")
int BPF_PROG(vfs_unlink_fentry)
{
	return vfs_call(VFS_UNLINK);
}

SEC("kprobe")
int BPF_KPROBE(vfs_unlink_kprobe)
{
	return vfs_call(VFS_UNLINK);
}

/* vfs_fsync(file, datasync) is vfs_fsync_range(file, 0, LLONG_MAX,
 * datasync), so small that compilers inline it into fsync(2)'s code (on
 * Debian's 6.12 a trampoline on vfs_fsync never fires): its calls are the
 * whole-file calls of vfs_fsync_range. */
#define LLONG_MAX 0x7fffffffffffffffLL

static __always_inline bool whole_file(long long start, long long end)
{
	return start == 0 && end == LLONG_MAX;
}

SEC("fentry")
int BPF_PROG(vfs_fsync_fentry, struct file *file, long long start, long long end)
{
	return whole_file(start, end) ? vfs_call(VFS_FSYNC) : 0;
}

SEC("fexit")
int BPF_PROG(vfs_fsync_fexit, struct file *file, long long start, long long end)
{
	return whole_file(start, end) ? vfs_return(VFS_FSYNC, (int)fexit_ret(ctx)) : 0;
}

SEC("kprobe")
int BPF_KPROBE(vfs_fsync_kprobe, struct file *file, long long start, long long end)
{
	return whole_file(start, end) ? vfs_call(VFS_FSYNC) : 0;
}

/* A kretprobe no longer sees the arguments. */
SEC("kprobe")
int BPF_KPROBE(vfs_fsync_mark_kprobe, struct file *file, long long start, long long end)
{
	return whole_file(start, end) ? vfs_mark(VFS_FSYNC) : 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(vfs_fsync_kretprobe, int ret)
{
	return vfs_marked_return(ret);
}
