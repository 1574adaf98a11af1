/* Helpers every program object shares: counting, the --pid filter, and the
 * per-process tables behind the apps and cgroup charts. */
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
static __always_inline void filter_on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	__u8 yes = 1;

	if (filter_tgid && child_tgid != parent_tgid && tgid_wanted(parent_tgid))
		bpf_map_update_elem(&tracked_tgids, &child_tgid, &yes, BPF_ANY);
}

/* A process leaves the set when its leader is freed, after its last event. */
static __always_inline void filter_on_free(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (filter_tgid && BPF_CORE_READ(task, pid) == tgid)
		bpf_map_delete_elem(&tracked_tgids, &tgid);
}

/* Objects without their own fork/free hooks load these two when filtering. */
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
	}

/* ---- Per-process tables (apps and cgroup charts) ----
 *
 * A thread that counts per process declares PID_TABLE(its slot type); the
 * slot type starts with struct pid_slot_head (layout.h). The table is an
 * mmapable array of `pid table size` slots, open-addressed by TGID: a slot
 * is claimed by compare-and-swap of its tgid, so no hash-table entry
 * overhead and no per-CPU copies (DESIGN.md, "Per-process values"). The
 * worker reads the counters by atomic exchange with 0 (each event is
 * passed on exactly once) and frees a slot after its process is gone.
 *
 * Probing stops at the first free slot, so after a slot before it was
 * freed a process may get a second slot: both are read, and a delta is a
 * delta whichever slot it came from. A process that finds no free slot
 * within PID_PROBES is counted in pid_stats[PID_STAT_FULL]. */

#define PID_PROBES 16

/* Slots in the table; 0 when apps and cgroups are off (the table then has
 * one entry and nothing is recorded). Set by the loader. */
const volatile __u32 pid_slots = 0;

/* Where a TGID's probes start. Related processes have consecutive PIDs
 * (a parent's children, a burst of forks): taken modulo the table they
 * would fill runs of neighbouring slots, which linear probing cannot get
 * past. A multiplicative hash (odd constant, so a bijection on 32 bits)
 * scatters them. */
static __always_inline __u32 pid_slot_start(__u32 tgid, __u32 slots)
{
	return (__u32)((tgid * 2654435761u) % slots);
}

#define PID_TABLE(slot_type)                                   \
	struct {                                               \
		__uint(type, BPF_MAP_TYPE_ARRAY);              \
		__uint(max_entries, 1);                        \
		__uint(map_flags, BPF_F_MMAPABLE);             \
		__type(key, __u32);                            \
		__type(value, slot_type);                      \
	} pid_table SEC(".maps");                              \
	struct {                                               \
		__uint(type, BPF_MAP_TYPE_RINGBUF);            \
		__uint(max_entries, 4096);                     \
	} pid_events SEC(".maps");                             \
	COUNTER_ARRAY(pid_stats, PID_STAT_END)

/* The id of a task's cgroup in the v1 hierarchy of controller `subsys`
 * (an enum cgroup_subsys_id value); 0 when the kernel lacks it. */
static __always_inline __u64 v1_cgroup_id(struct task_struct *task, int subsys)
{
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = NULL;

	if (subsys < 0 || subsys >= CGROUP_SUBSYS_COUNT || !cset)
		return 0;
	bpf_core_read(&css, sizeof(css), &cset->subsys[subsys]);
	return css ? BPF_CORE_READ(css, cgroup, kn, id) : 0;
}

#define SUBSYS(name) \
	(bpf_core_enum_value_exists(enum cgroup_subsys_id, name) ? \
	 (int)bpf_core_enum_value(enum cgroup_subsys_id, name) : -1)

/* Tells the worker what it needs to group the process: its parent, its
 * cgroups (unified and v1: a process gone before user space looks is still
 * placed), its name (the thread group leader's, as /proc/PID/stat has it). */
static __always_inline void pid_event_send(void *events, void *stats, struct task_struct *task,
					   __u32 tgid, __u32 exec)
{
	struct pid_event *event = bpf_ringbuf_reserve(events, sizeof(*event), 0);

	if (!event) {
		counter_add(stats, PID_STAT_LOST, 1);
		return;
	}
	event->tgid = tgid;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	event->cgroup = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	event->v1_cgroups[0] = v1_cgroup_id(task, SUBSYS(cpuacct_cgrp_id));
	event->v1_cgroups[1] = v1_cgroup_id(task, SUBSYS(cpuset_cgrp_id));
	event->v1_cgroups[2] = v1_cgroup_id(task, SUBSYS(io_cgrp_id));
	event->v1_cgroups[3] = v1_cgroup_id(task, SUBSYS(memory_cgrp_id));
	event->v1_cgroups[4] = v1_cgroup_id(task, SUBSYS(devices_cgrp_id));
	BPF_CORE_READ_STR_INTO(&event->comm, task, group_leader, comm);
	event->exec = exec;
	event->pad = 0;
	bpf_ringbuf_submit(event, 0);
}

/* The live slot of `tgid`, claimed if it has none. `task` is a task of
 * that process (its name, parent and cgroup go to the worker), or NULL
 * when the program does not have one. NULL when the table is off or full. */
static __always_inline struct pid_slot_head *pid_slot_of(void *table, void *events, void *stats,
							 __u32 tgid, struct task_struct *task)
{
	__u32 slots = pid_slots;

	if (!slots || !tgid)
		return NULL;
	__u32 start = pid_slot_start(tgid, slots);
	for (int i = 0; i < PID_PROBES; i++) {
		__u32 index = start + i;

		if (index >= slots)
			index -= slots;
		struct pid_slot_head *slot = bpf_map_lookup_elem(table, &index);
		if (!slot)
			return NULL;
		__u32 owner = *(volatile __u32 *)&slot->tgid;
		if (owner == 0)
			owner = __sync_val_compare_and_swap(&slot->tgid, 0, tgid);
		if (owner == 0) {
			/* Ours: freed slots are zeroed before their tgid is released. */
			counter_add(stats, PID_STAT_INSERTED, 1);
			if (task) {
				slot->ppid = BPF_CORE_READ(task, real_parent, tgid);
				pid_event_send(events, stats, task, tgid, 0);
			}
			return slot;
		}
		if (owner == tgid && !(*(volatile __u32 *)&slot->flags & PID_SLOT_GONE))
			return slot;
	}
	counter_add(stats, PID_STAT_FULL, 1);
	return NULL;
}

/* Sets `flag` (if not 0) on every live slot of `tgid`; true when it had one. */
static __always_inline bool pid_slots_mark(void *table, __u32 tgid, __u32 flag)
{
	__u32 slots = pid_slots;
	bool found = false;

	if (!slots || !tgid)
		return false;
	__u32 start = pid_slot_start(tgid, slots);
	for (int i = 0; i < PID_PROBES; i++) {
		__u32 index = start + i;

		if (index >= slots)
			index -= slots;
		struct pid_slot_head *slot = bpf_map_lookup_elem(table, &index);
		if (!slot)
			return found;
		if (*(volatile __u32 *)&slot->tgid == tgid &&
		    !(*(volatile __u32 *)&slot->flags & PID_SLOT_GONE)) {
			if (flag)
				__sync_fetch_and_or(&slot->flags, flag);
			found = true;
		}
	}
	return found;
}

/* Shorthands for objects that declare PID_TABLE. */
#define PID_SLOT(slot_type, tgid, task) \
	((slot_type *)pid_slot_of(&pid_table, &pid_events, &pid_stats, (tgid), (task)))

#define PID_COUNT(field) __sync_fetch_and_add(&(field), 1)

/* A process that exec'd may belong to another group now: its new name
 * goes to the worker if the table holds it. */
static __always_inline void pid_table_exec(void *table, void *events, void *stats,
					   struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (pid_slots_mark(table, tgid, 0))
		pid_event_send(events, stats, task, tgid, 1);
}

/* The exec hook, and (for threads whose last event per process comes
 * before its exit) the exit hook that ends a process's slots when its last
 * task exits. Loaded only with the table on (Needed::PidTable). */
#define PID_TABLE_EXEC_PROGRAM                                                        \
	SEC("tp_btf/sched_process_exec")                                              \
	int BPF_PROG(pid_exec, struct task_struct *task)                              \
	{                                                                             \
		pid_table_exec(&pid_table, &pid_events, &pid_stats, task);            \
		return 0;                                                             \
	}

#define PID_TABLE_EXIT_PROGRAM                                                        \
	SEC("tp_btf/sched_process_exit")                                              \
	int BPF_PROG(pid_exit, struct task_struct *task)                              \
	{                                                                             \
		if (BPF_CORE_READ(task, signal, live.counter) == 0)                   \
			pid_slots_mark(&pid_table, BPF_CORE_READ(task, tgid), PID_SLOT_GONE); \
		return 0;                                                             \
	}

#endif
