/* Helpers every program object shares: counting and the --pid filter. */
#ifndef EBPF_COLLECTOR_COMMON_BPF_H
#define EBPF_COLLECTOR_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "layout.h"

char LICENSE[] SEC("license") = "GPL";

/* Per-CPU u64 counters indexed by a thread's counter enum. */
#define COUNTER_ARRAY(name, entries)                     \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, entries);            \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
	} name SEC(".maps")

/* Atomic even though the slot is per-CPU: a preempted program on the same
 * CPU must not lose an increment, and exact counts are the point. */
static __always_inline void counter_add(void *map, __u32 index, __u64 n)
{
	__u64 *slot = bpf_map_lookup_elem(map, &index);
	if (slot)
		__sync_fetch_and_add(slot, n);
}

/* --pid: when non-zero only this TGID and its descendants are counted. The
 * set holds every tracked TGID; user space seeds it, the fork and free
 * hooks below keep it current. */
const volatile __u32 filter_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} tracked_tgids SEC(".maps");

static __always_inline bool tgid_wanted(__u32 tgid)
{
	if (!filter_tgid)
		return true;
	return bpf_map_lookup_elem(&tracked_tgids, &tgid) != NULL;
}

static __always_inline bool current_wanted(void)
{
	return tgid_wanted(bpf_get_current_pid_tgid() >> 32);
}

/* A tracked parent's new process is tracked from its birth on. */
static __always_inline void filter_on_fork_of(__u32 parent_tgid, struct task_struct *child)
{
	__u32 child_tgid;
	__u8 yes = 1;

	if (!filter_tgid)
		return;
	child_tgid = BPF_CORE_READ(child, tgid);
	if (child_tgid != parent_tgid && tgid_wanted(parent_tgid))
		bpf_map_update_elem(&tracked_tgids, &child_tgid, &yes, BPF_ANY);
}

static __always_inline void filter_on_fork(struct task_struct *parent, struct task_struct *child)
{
	if (filter_tgid)
		filter_on_fork_of(BPF_CORE_READ(parent, tgid), child);
}

/* A process leaves the set when its leader is freed, after its last event. */
static __always_inline void filter_on_free(struct task_struct *task)
{
	__u32 tgid;

	if (!filter_tgid)
		return;
	tgid = BPF_CORE_READ(task, tgid);
	if (BPF_CORE_READ(task, pid) == tgid)
		bpf_map_delete_elem(&tracked_tgids, &tgid);
}

/* Tasks that exited while tracked, by task_struct address. A task's
 * sched_process_free runs from an RCU callback, possibly after its
 * leader's, when its tgid has left the set already: callbacks of different
 * CPUs run in any order, lazy ones seconds late (seen on 6.18: a third of
 * a process's threads freed after it). The mark still says it was. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} tracked_exits SEC(".maps");

static __always_inline void filter_on_exit(struct task_struct *task)
{
	__u64 key = (__u64)task;
	__u8 yes = 1;

	if (filter_tgid && tgid_wanted(BPF_CORE_READ(task, tgid)))
		bpf_map_update_elem(&tracked_exits, &key, &yes, BPF_ANY);
}

/* At a task's free: whether it was tracked when it exited. */
static __always_inline bool filter_freed_wanted(struct task_struct *task)
{
	__u64 key = (__u64)task;

	return !filter_tgid || bpf_map_delete_elem(&tracked_exits, &key) == 0;
}

/* The trampoline and probe variants' programs on a kernel function's
 * entry: name_fentry and name_kprobe, both running `call` with the
 * function's arguments (the rest of the macro's arguments, as BPF_PROG and
 * BPF_KPROBE take them). */
#define ENTRY_PROGRAMS(name, call, ...)                                           \
	SEC("fentry")                                                             \
	int BPF_PROG(name##_fentry, ##__VA_ARGS__)                                \
	{                                                                         \
		call;                                                             \
		return 0;                                                         \
	}                                                                         \
	SEC("kprobe")                                                             \
	int BPF_KPROBE(name##_kprobe, ##__VA_ARGS__)                              \
	{                                                                         \
		call;                                                             \
		return 0;                                                         \
	}

/* Objects without their own fork and free hooks load one pair of these
 * when filtering, of their variant's kind (ProgramSpec::filter_fork and
 * filter_free in workers/src/thread.rs). wake_up_new_task() runs in the
 * parent for every new task; cgroup_release() runs once for every released
 * task, a group leader reaped together with its last thread included
 * (release_task() runs once for both). */
#define PID_FILTER_PROGRAMS                                                       \
	SEC("tp_btf/sched_process_fork")                                          \
	int BPF_PROG(filter_fork, struct task_struct *parent, struct task_struct *child) \
	{                                                                         \
		filter_on_fork(parent, child);                                    \
		return 0;                                                         \
	}                                                                         \
	SEC("tp_btf/sched_process_free")                                          \
	int BPF_PROG(filter_free, struct task_struct *task)                       \
	{                                                                         \
		filter_on_free(task);                                             \
		return 0;                                                         \
	}                                                                         \
	ENTRY_PROGRAMS(filter_fork, filter_on_fork_of(bpf_get_current_pid_tgid() >> 32, child), \
		       struct task_struct *child)                                 \
	ENTRY_PROGRAMS(filter_free, filter_on_free(task), struct task_struct *task)

#endif
