/* process: task creation, exit and release, and (return mode) failed
 * fork/clone calls; the same per process in tgid_values when apps or
 * cgroups are on. */
#include "common.bpf.h"

COUNTER_ARRAY(process_counters, PROCESS_TABLE_END);
TGID_VALUES(PROCESS_PER_PROCESS, process_counters, PROCESS_TGID_ADDED)

/* Counts one event of process `tgid` (of which `task` is a task). */
static __always_inline void count_for(__u32 tgid, struct task_struct *task, __u32 index)
{
	count(&process_counters, tgid_values_on ? tgid_values_of(tgid, task) : NULL, index, 1);
}

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

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);

	filter_on_fork(parent, child);
	if (!tgid_wanted(parent_tgid))
		return 0;
	count_for(parent_tgid, parent,
		  BPF_CORE_READ(child, tgid) == parent_tgid ? PROCESS_NEW_THREAD : PROCESS_NEW_PROCESS);
	return 0;
}

/* Runs in the exiting task after do_exit() decremented signal->live, so a
 * zero there means this was the process's last task (on every kernel, with
 * or without the tracepoint's later group_dead argument). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u8 yes = 1;

	if (!tgid_wanted(tgid))
		return 0;
	if (filter_tgid)
		bpf_map_update_elem(&exiting_tasks, &pid, &yes, BPF_ANY);
	count_for(tgid, task, PROCESS_TASK_EXIT);
	if (BPF_CORE_READ(task, signal, live.counter) == 0)
		count_for(tgid, task, PROCESS_GROUP_EXIT);
	return 0;
}

/* Fired from the RCU callback that release_task() queues: one per reaped
 * task. Per process it counts only where the process still has an entry
 * (it exited, so it has one, unless user space already took the entry of
 * an ended process: a thread freed after its leader). */
SEC("tp_btf/sched_process_free")
int BPF_PROG(process_free, struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (!filter_tgid || bpf_map_delete_elem(&exiting_tasks, &pid) == 0)
		count(&process_counters,
		      tgid_values_on ? bpf_map_lookup_elem(&tgid_values, &tgid) : NULL,
		      PROCESS_TASK_RELEASE, 1);
	filter_on_free(task);
	return 0;
}

/* Return mode. clone(2) and clone3(2) can create a process or a thread; the
 * flags are only known on entry, so they wait here for the exit. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} clone_flags SEC(".maps");

static __always_inline void count_failure(long ret, bool thread)
{
	__u64 *own;

	if (ret < 0 && current_counted(&own))
		count(&process_counters, own, thread ? PROCESS_ERROR_THREAD : PROCESS_ERROR_PROCESS, 1);
}

static __always_inline void remember_flags(__u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_update_elem(&clone_flags, &id, &flags, BPF_ANY);
}

static __always_inline bool take_thread_flag(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *flags = bpf_map_lookup_elem(&clone_flags, &id);
	bool thread = flags && (*flags & CLONE_THREAD_FLAG);

	bpf_map_delete_elem(&clone_flags, &id);
	return thread;
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
	bool thread = take_thread_flag();

	count_failure(ctx->ret, thread);
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
	bool thread = take_thread_flag();

	count_failure(ctx->ret, thread);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fork")
int process_fork_exit(struct trace_event_raw_sys_exit *ctx)
{
	count_failure(ctx->ret, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_vfork")
int process_vfork_exit(struct trace_event_raw_sys_exit *ctx)
{
	count_failure(ctx->ret, false);
	return 0;
}
