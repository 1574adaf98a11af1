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
static __always_inline void vfs_io(__u32 calls, long ret)
{
	__u64 *own;

	if (!current_counted(&own))
		return;
	count_return(&vfs_counters, own, calls, ret);
	if (ret > 0)
		count(&vfs_counters, own, calls + 2, ret);
}

/* Reads and writes: the syscalls that reach vfs_read()/vfs_write(), and
 * those that reach vfs_readv()/vfs_writev(). */
RETURN_CALL(vfs_read, long, vfs_io(VFS_READ, ret))
RETURN_CALL(vfs_readv, long, vfs_io(VFS_READ, ret))
RETURN_CALL(vfs_write, long, vfs_io(VFS_WRITE, ret))
RETURN_CALL(vfs_writev, long, vfs_io(VFS_WRITE, ret))

/* vfs_open() returns int. */
ENTRY_CALL(vfs_open, vfs_call(VFS_OPEN))
RETURN_CALL(vfs_open, int, vfs_return(VFS_OPEN, ret))

ENTRY_CALL(vfs_unlink, vfs_call(VFS_UNLINK))

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

/* --- create: vfs_create(), which mknod(2) of a regular file calls
 * (open(2) with O_CREAT calls the filesystem directly) --- */

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

/* Both mknod(2) and mknodat(2). */
SEC("tracepoint")
int vfs_exit_mknod(struct trace_event_raw_sys_exit *ctx)
{
	return vfs_marked_return(ctx->ret);
}

ENTRY_PROGRAMS(vfs_create, vfs_call(VFS_CREATE))
RETURN_PROGRAMS(vfs_create, int, vfs_return(VFS_CREATE, ret))

/* --- fsync: fsync(2) and fdatasync(2); the functions' whole-file calls --- */

SEC("tracepoint")
int vfs_fsync_enter(void *ctx)
{
	return vfs_call(VFS_FSYNC);
}

SEC("tracepoint")
int vfs_fsync_exit(struct trace_event_raw_sys_exit *ctx)
{
	return vfs_return(VFS_FSYNC, ctx->ret);
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
