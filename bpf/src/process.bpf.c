/* process: task creation, exit and release, and failed fork/clone calls;
 * the same per process in tgid_values when apps or cgroups are on. One set
 * of programs per attach variant (workers/src/process.rs picks them);
 * every set counts the same events into the same counters. */
#include "common.bpf.h"

enum process_counter {
	PROCESS_NEW_PROCESS,   /* fork/vfork/clone without CLONE_THREAD */
	PROCESS_NEW_THREAD,    /* clone with CLONE_THREAD */
	PROCESS_TASK_EXIT,     /* any task (process or thread) exits */
	PROCESS_GROUP_EXIT,    /* the last task of a process exits */
	PROCESS_TASK_RELEASE,  /* an exited task is released (reaped) */
	PROCESS_ERROR_PROCESS, /* fork/vfork/clone of a process failed */
	PROCESS_ERROR_THREAD,  /* clone of a thread failed */
	PROCESS_COUNTERS,
};

COUNTER_ARRAY(process_counters, enum process_counter, PROCESS_COUNTERS);
/* Every counter is kept per process too. */
TGID_VALUES(PROCESS_COUNTERS)

/* Releases leave the --pid set in count_release(), after they counted. */
PID_FILTER_FORK_PROGRAMS

/* With --pid: the tasks whose release is still to be counted, by pid. A
 * task's group is tracked when it exits, but maybe no longer when it is
 * freed: frees are RCU callbacks, run in any order across CPUs, and the
 * group leader's free ends the tracking of its TGID, possibly before a
 * thread's free (seen: 15 of 25 threads' releases lost). So the decision
 * is taken at exit and looked up at free. User space shrinks the map to 1
 * entry without --pid, like tracked_tgids. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} exiting_tasks SEC(".maps");

#define CLONE_THREAD_FLAG 0x00010000

/* One event of the current process. */
static __always_inline void count_current(__u32 index)
{
	__u64 *own;

	if (current_counted(&own))
		count(&process_counters, own, index, 1);
}

/* Counted for the exiting task, in its own context. */
static __always_inline void count_task_exit(void)
{
	count_current(PROCESS_TASK_EXIT);
}

/* group_dead: the exiting task was its process's last one. */
static __always_inline void count_group_exit(bool group_dead)
{
	if (group_dead)
		count_current(PROCESS_GROUP_EXIT);
}

/* Counted for the released task. The leader's release is a process's last
 * event: it leaves the --pid set after it. Per process it counts only where
 * the process still has an entry: it exited, so it has one; user space
 * keeps an ended process's entry until its releases caught up with its
 * exits, for a thread whose release (an RCU callback) comes after its
 * leader's. */
static __always_inline void count_release(bool wanted, struct task_struct *task)
{
	if (wanted)
		count(&process_counters, tgid_counters_of(task), PROCESS_TASK_RELEASE, 1);
	filter_on_free(task);
}

/* A fork/clone's outcome, in the parent's context: a thread or a process
 * as CLONE_THREAD says (the child then has the parent's tgid or its own). */
static __always_inline void count_clone(long ret, __u64 flags)
{
	bool thread = flags & CLONE_THREAD_FLAG;

	if (ret < 0)
		count_current(thread ? PROCESS_ERROR_THREAD : PROCESS_ERROR_PROCESS);
	else
		count_current(thread ? PROCESS_NEW_THREAD : PROCESS_NEW_PROCESS);
}

/* Return values arrive without the flags, which are only known on entry:
 * they wait here, per task, for the return. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} clone_flags SEC(".maps");

static __always_inline void remember_flags(__u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&clone_flags, &id, &flags, BPF_ANY);
}

static __always_inline __u64 take_flags(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *found = bpf_map_lookup_elem(&clone_flags, &id);
	__u64 flags = found ? *found : 0;

	bpf_map_delete_elem(&clone_flags, &id);
	return flags;
}

/* ---- tracepoint variant ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);

	if (!tgid_wanted(parent_tgid))
		return 0;
	count(&process_counters, tgid_values_on ? tgid_values_of(parent_tgid, parent) : NULL,
	      BPF_CORE_READ(child, tgid) == parent_tgid ? PROCESS_NEW_THREAD : PROCESS_NEW_PROCESS, 1);
	return 0;
}

/* Processes whose death a task has claimed, by signal_struct address: the
 * start time of the process that claimed it. An entry whose leader's free
 * was not seen outlives its process (measured: 4 entries stayed after 2000
 * short processes, no zombie left), and a later process whose
 * signal_struct takes its address must still count: an entry of another
 * start time is not a claim of this process (two of its tasks dying
 * together over such an entry could both count it: rarer still). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} dead_groups SEC(".maps");

/* Whether the exiting `task` is the first to claim its process's death. */
static __always_inline bool claim_group_death(struct task_struct *task)
{
	__u64 group = (__u64)BPF_CORE_READ(task, signal);
	__u64 start = BPF_CORE_READ(task, group_leader, start_time);
	__u64 *claimed;

	if (bpf_map_update_elem(&dead_groups, &group, &start, BPF_NOEXIST) == 0)
		return true;
	claimed = bpf_map_lookup_elem(&dead_groups, &group);
	if (claimed && *claimed == start)
		return false;
	bpf_map_update_elem(&dead_groups, &group, &start, BPF_ANY);
	return true;
}

/* Runs in the exiting task after do_exit() decremented signal->live, so a
 * zero there means the process has no live task left. Two tasks exiting
 * together can both read it (the first decremented to 1, the second to 0,
 * then the first read): the first to claim the group counts it. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	__u8 yes = 1;

	count_task_exit();
	if (filter_tgid && tgid_wanted(BPF_CORE_READ(task, tgid)))
		bpf_map_update_elem(&exiting_tasks, &pid, &yes, BPF_ANY);
	if (BPF_CORE_READ(task, signal, live.counter) == 0)
		count_group_exit(claim_group_death(task));
	return 0;
}

/* Fired from the RCU callback that release_task() queues: one per reaped
 * task, in no particular order. Released last, the leader ends its
 * process's claim. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(process_free, struct task_struct *task)
{
	__u64 group = (__u64)BPF_CORE_READ(task, signal);
	__u32 pid = BPF_CORE_READ(task, pid);

	if (pid == BPF_CORE_READ(task, tgid))
		bpf_map_delete_elem(&dead_groups, &group);
	count_release(!filter_tgid || bpf_map_delete_elem(&exiting_tasks, &pid) == 0, task);
	return 0;
}

/* Return mode: failed clone(2), clone3(2), fork(2), vfork(2). Successes are
 * counted by process_fork above. */
static __always_inline void count_failure(long ret, __u64 flags)
{
	if (ret < 0)
		count_clone(ret, flags);
}

SEC("tracepoint/syscalls/sys_enter_clone")
int process_clone_enter(struct trace_event_raw_sys_enter *ctx)
{
	remember_flags(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int process_clone_exit(struct trace_event_raw_sys_exit *ctx)
{
	count_failure(ctx->ret, take_flags());
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int process_clone3_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;

	/* struct clone_args starts with the u64 flags. */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]);
	remember_flags(flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int process_clone3_exit(struct trace_event_raw_sys_exit *ctx)
{
	count_failure(ctx->ret, take_flags());
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fork")
int process_fork_exit(struct trace_event_raw_sys_exit *ctx)
{
	count_failure(ctx->ret, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_vfork")
int process_vfork_exit(struct trace_event_raw_sys_exit *ctx)
{
	count_failure(ctx->ret, 0);
	return 0;
}

/* ---- trampoline variant ---- */

/* kernel_clone() (_do_fork() before 5.10) returns the child's PID or an
 * error, with its arguments still at hand. */
SEC("fexit")
int BPF_PROG(process_clone_fexit, struct kernel_clone_args *args, int ret)
{
	count_clone(ret, BPF_CORE_READ(args, flags));
	return 0;
}

/* ---- trampoline and probe variants ---- */

ENTRY_PROGRAMS(process_exit, count_task_exit())

/* taskstats_exit(task, group_dead) and acct_collect(code, group_dead) run
 * in every exiting task after its signal->live decrement and are told
 * whether it was the last one: exact even when threads exit together
 * (exit_group), where reading signal->live at do_exit() is not. */
ENTRY_PROGRAMS(process_group_exit, count_group_exit(group_dead), __u64 first, int group_dead)

/* Called by release_task() in order: a process's threads, then its leader. */
ENTRY_PROGRAMS(process_release, count_release(tgid_wanted(BPF_CORE_READ(task, tgid)), task),
	       struct task_struct *task)

/* ---- probe variant ---- */

/* Kernels before 5.3 pass the flags themselves as the first argument of
 * _do_fork()/do_fork(), later ones a struct kernel_clone_args. */
SEC("kprobe")
int BPF_KPROBE(process_clone_kprobe, void *first)
{
	__u64 flags = (__u64)first;

	if (bpf_core_type_exists(struct kernel_clone_args))
		flags = BPF_CORE_READ((struct kernel_clone_args *)first, flags);
	remember_flags(flags);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(process_clone_kretprobe, int ret)
{
	count_clone(ret, take_flags());
	return 0;
}
