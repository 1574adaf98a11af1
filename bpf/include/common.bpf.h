/* Helpers every program object shares: counting, the --pid filter and
 * per-process values.
 *
 * An object's contract with its Rust module is what the object itself
 * declares: its programs (name and kind of section), its maps, and the
 * enums that name map slots, carried into the object's BTF by the map
 * definitions (`__type(counters, enum ...)`: the thread's counters;
 * `__type(index, enum ...)`: other named slots). bpf/build.rs reads them
 * from the compiled object and generates `bpf::<object>`: a counter's index
 * and name, a program's name and kind exist once, here in C. A slot enum
 * numbers its slots 0, 1, ... in order and ends with their count. */
#ifndef EBPF_COLLECTOR_COMMON_BPF_H
#define EBPF_COLLECTOR_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* An object of a thread that has no tracepoint variant (dcstat: the
 * kernel has no tracepoint where it counts) defines NO_TRACEPOINTS first:
 * the common tracepoint programs below are left out of it, as no variant
 * of its thread would attach them. */
#ifdef NO_TRACEPOINTS
#define IF_TRACEPOINTS(...)
#else
#define IF_TRACEPOINTS(...) __VA_ARGS__
#endif

/* Per-CPU u64 slots named by `enum_type`, `count` of them. */
#define SLOT_ARRAY(name, marker, enum_type, count)       \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, count);              \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
		__type(marker, enum_type);               \
	} name SEC(".maps")

/* The thread's counters: what its worker reports, by their enum's index
 * (bpf::<thread>::counter), named after the enumerators in lower case
 * without their common prefix. */
#define COUNTER_ARRAY(name, enum_type, count) SLOT_ARRAY(name, counters, enum_type, count)

/* Atomic even though the slot is per-CPU: a preempted program on the same
 * CPU must not lose an increment, and exact counts are the point. */
static __always_inline void counter_add(void *map, __u32 index, __u64 n)
{
	__u64 *slot = bpf_map_lookup_elem(map, &index);
	if (slot)
		__sync_fetch_and_add(slot, n);
}

/* The value of `key` in a hash map, inserted as `*init` if missing; NULL
 * only when the map is full. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Latency histograms (disk, filesystem): the original's 24 buckets. */
#define LATENCY_BUCKETS 24

/* The bucket of a latency of `ns`: 0 below 1 us, else floor(log2(us)) + 1,
 * at most the last one; each bucket then holds what the original's label
 * for it says (the original's own put a latency one bucket low, B-29). */
static __always_inline __u64 latency_bucket(__u64 ns)
{
	__u64 us = ns / 1000, log, shift, slot;

	if (!us)
		return 0;
	shift = (us > 0xFFFFFFFF) << 5; us >>= shift; log = shift;
	shift = (us > 0xFFFF) << 4; us >>= shift; log |= shift;
	shift = (us > 0xFF) << 3; us >>= shift; log |= shift;
	shift = (us > 0xF) << 2; us >>= shift; log |= shift;
	shift = (us > 0x3) << 1; us >>= shift; log |= shift;
	log |= us >> 1;
	slot = log + 1;
	/* Compare the register that indexes: older verifiers do not see
	 * through clang's `log + 1 > 23` turned into `log > 22`. */
	barrier_var(slot);
	if (slot > LATENCY_BUCKETS - 1)
		slot = LATENCY_BUCKETS - 1;
	return slot;
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

/* Without --pid no helper is called: the verifier drops the lookup. */
static __always_inline bool current_wanted(void)
{
	return !filter_tgid || tgid_wanted(bpf_get_current_pid_tgid() >> 32);
}

/* A tracked parent's new process is tracked from its birth on; any other
 * new process is not, even when its TGID is still in the set: a tracked
 * process leaves it when its leader is freed, an RCU callback that lazy RCU
 * can hold back for seconds after the TGID was handed out again. */
static __always_inline void filter_on_fork_of(__u32 parent_tgid, struct task_struct *child)
{
	__u32 child_tgid;
	__u8 yes = 1;

	if (!filter_tgid)
		return;
	child_tgid = BPF_CORE_READ(child, tgid);
	if (child_tgid == parent_tgid)
		return;
	if (tgid_wanted(parent_tgid))
		bpf_map_update_elem(&tracked_tgids, &child_tgid, &yes, BPF_ANY);
	else
		bpf_map_delete_elem(&tracked_tgids, &child_tgid);
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

/* The trampoline and probe variants' programs on a kernel function's
 * entry: name_fentry and name_kprobe, both running `call` with the
 * function's arguments (the rest of the macro's arguments, as BPF_PROG and
 * BPF_KPROBE take them). An object of a thread that has tracepoint
 * variants only defines TRACEPOINTS_ONLY first: it gets none; one of a
 * thread without a probe variant defines NO_PROBES: it gets the fentry
 * program only. */
#define ENTRY_FENTRY(name, call, ...)                                             \
	SEC("fentry")                                                             \
	int BPF_PROG(name##_fentry, ##__VA_ARGS__)                                \
	{                                                                         \
		call;                                                             \
		return 0;                                                         \
	}
#define ENTRY_KPROBE(name, call, ...)                                             \
	SEC("kprobe")                                                             \
	int BPF_KPROBE(name##_kprobe, ##__VA_ARGS__)                              \
	{                                                                         \
		call;                                                             \
		return 0;                                                         \
	}
#ifdef TRACEPOINTS_ONLY
#define ENTRY_PROGRAMS(name, call, ...)
#elif defined(NO_PROBES)
#define ENTRY_PROGRAMS(name, call, ...) ENTRY_FENTRY(name, call, ##__VA_ARGS__)
#else
#define ENTRY_PROGRAMS(name, call, ...)                                           \
	ENTRY_FENTRY(name, call, ##__VA_ARGS__)                                   \
	ENTRY_KPROBE(name, call, ##__VA_ARGS__)
#endif

/* With --pid the loader attaches the programs of these of its variant's
 * kind (workers/src/thread.rs): new children of a tracked process are
 * tracked, released processes dropped. wake_up_new_task() runs in the
 * parent for every new task; cgroup_release() runs once for every released
 * task, a group leader reaped together with its last thread included
 * (release_task() runs once for both). An object whose own programs see
 * releases (process) has only the fork ones. */
#define PID_FILTER_FORK_PROGRAMS                                                  \
	IF_TRACEPOINTS(                                                           \
	SEC("tp_btf/sched_process_fork")                                          \
	int BPF_PROG(filter_fork, struct task_struct *parent, struct task_struct *child) \
	{                                                                         \
		filter_on_fork(parent, child);                                    \
		return 0;                                                         \
	})                                                                        \
	ENTRY_PROGRAMS(filter_fork, filter_on_fork_of(bpf_get_current_pid_tgid() >> 32, child), \
		       struct task_struct *child)

#define PID_FILTER_PROGRAMS                                                       \
	PID_FILTER_FORK_PROGRAMS                                                  \
	IF_TRACEPOINTS(                                                           \
	SEC("tp_btf/sched_process_free")                                          \
	int BPF_PROG(filter_free, struct task_struct *task)                       \
	{                                                                         \
		filter_on_free(task);                                             \
		return 0;                                                         \
	})                                                                        \
	ENTRY_PROGRAMS(filter_free, filter_on_free(task), struct task_struct *task)

/* The programs of a call counted on entry, running the statement `count`:
 * `stem_enter` for syscall tracepoints, `stem_fentry` and `stem_kprobe`
 * for a kernel function. The loader attaches those of its variant's kind
 * where the thread's Rust module says (workers::thread::Call). */
#define ENTRY_CALL(stem, count)                                                   \
	SEC("tracepoint")                                                         \
	int stem##_enter(void *ctx)                                               \
	{                                                                         \
		count;                                                            \
		return 0;                                                         \
	}                                                                         \
	ENTRY_PROGRAMS(stem, count)

/* The trampoline and probe variants' programs on a kernel function's
 * return: `name_fexit` and `name_kretprobe`, running `count` with the
 * function's return value `ret` as `type` (an `int` function's register
 * must be read as int). */
#define RETURN_PROGRAMS(name, type, count)                                        \
	SEC("fexit")                                                              \
	int BPF_PROG(name##_fexit)                                                \
	{                                                                         \
		type ret = (type)fexit_ret(ctx);                                  \
		count;                                                            \
		return 0;                                                         \
	}                                                                         \
	SEC("kretprobe")                                                          \
	int BPF_KRETPROBE(name##_kretprobe, type ret)                             \
	{                                                                         \
		count;                                                            \
		return 0;                                                         \
	}

/* A call counted on return: `stem_exit` for syscall tracepoints, then
 * RETURN_PROGRAMS(stem, type, count). */
#define RETURN_CALL(stem, type, count)                                            \
	SEC("tracepoint")                                                         \
	int stem##_exit(struct trace_event_raw_sys_exit *ctx)                     \
	{                                                                         \
		type ret = ctx->ret;                                              \
		count;                                                            \
		return 0;                                                         \
	}                                                                         \
	RETURN_PROGRAMS(stem, type, count)

/* Adds `n` to a counter and, when `own` is not NULL, to the process's own
 * copy of it (the per-process values below). */
static __always_inline void count(void *counters, __u64 *own, __u32 index, __u64 n)
{
	counter_add(counters, index, n);
	if (own)
		__sync_fetch_and_add(&own[index], n);
}

/* A call that returned `ret`; a failure also counts in `calls + 1`. */
static __always_inline void count_return(void *counters, __u64 *own, __u32 calls, long ret)
{
	count(counters, own, calls, 1);
	if (ret < 0)
		count(counters, own, calls + 1, 1);
}

/* A trampoline's return value, as the raw register: an `int` function's
 * caller must cast it to int. The helper (kernel 5.17+) works whatever the
 * function's argument count, so one fexit program serves every name a
 * function has had. */
static __always_inline __u64 fexit_ret(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return ret;
}

/* Per-process values, for the apps and cgroup charts. The loader sets this
 * when the thread's apps or cgroup charts are on; while it is 0 the verifier
 * drops every per-process lookup and update. */
const volatile __u32 tgid_values_on = 0;

/* The per-process table's own statistics (bpf::tgid_stat), in `tgid_stats`. */
enum tgid_stat {
	TGID_STAT_ADDED,
	TGID_STAT_ENDED,
	TGID_STAT_FULL,
	TGID_STAT_COUNT,
};

#define TGID_COMM_BYTES 16

/* What a process's entry holds after its counters: its cgroup in the
 * unified hierarchy, its cgroup in the first v1 hierarchy Netdata reads
 * and that hierarchy's id (0 without one), and its parent, as the kernel
 * had them when the entry was made (or at its last exec); its leader's start time (a later process
 * with the same TGID has another); its new names since the entry was made
 * (an exec, or its leader renamed by prctl(PR_SET_NAME) or /proc/PID/comm);
 * whether its last task exited; and its name, kept current (so that a
 * process gone before user space looked is still grouped by the name it
 * had). bpf::tgid_extra. */
struct tgid_extra {
	__u64 cgroup;
	__u64 v1_cgroup;
	__u64 start;
	__u32 parent;
	__u32 renames;
	__u32 ended;
	char comm[TGID_COMM_BYTES];
	__u32 v1_hierarchy;
};

#define EEXIST 17

/* The id of `cset`'s cgroup for controller `controller` (an enum
 * cgroup_subsys_id value, -1: not in this kernel), and its hierarchy's, if
 * that is a v1 hierarchy (the unified one is hierarchy 0). */
static __always_inline __u64 cgroup_in_v1(struct css_set *cset, int controller, __u32 *hierarchy)
{
	struct cgroup_subsys_state *css = NULL;
	struct cgroup *cgroup;

	if (controller < 0)
		return 0;
	bpf_core_read(&css, sizeof(css), &cset->subsys[controller]);
	cgroup = BPF_CORE_READ(css, cgroup);
	*hierarchy = BPF_CORE_READ(cgroup, root, hierarchy_id);
	return cgroup && *hierarchy ? BPF_CORE_READ(cgroup, kn, id) : 0;
}

#define CONTROLLER(name)                                                          \
	(bpf_core_enum_value_exists(enum cgroup_subsys_id, name##_cgrp_id)        \
		 ? (int)bpf_core_enum_value(enum cgroup_subsys_id, name##_cgrp_id) \
		 : -1)

/* The cgroup of `task` in the first v1 hierarchy Netdata reads (the first
 * of cpuacct, cpuset, blkio, memory and devices on one), and that
 * hierarchy's id: on hybrid hosts Docker's cgroupfs driver makes a
 * container's cgroups in the v1 hierarchies only (the same path in each),
 * which the unified one does not name. 0 on pure cgroup v2. */
static __always_inline __u64 v1_cgroup(struct task_struct *task, __u32 *hierarchy)
{
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	__u64 id;

	*hierarchy = 0;
	if (!cset)
		return 0;
	if ((id = cgroup_in_v1(cset, CONTROLLER(cpuacct), hierarchy)) ||
	    (id = cgroup_in_v1(cset, CONTROLLER(cpuset), hierarchy)) ||
	    (id = cgroup_in_v1(cset, CONTROLLER(io), hierarchy)) ||
	    (id = cgroup_in_v1(cset, CONTROLLER(memory), hierarchy)) ||
	    (id = cgroup_in_v1(cset, CONTROLLER(devices), hierarchy)))
		return id;
	*hierarchy = 0;
	return 0;
}

/* `task` may be NULL (nothing known then). */
static __always_inline void tgid_extra_init(struct tgid_extra *extra, struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	extra->cgroup = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	extra->v1_cgroup = v1_cgroup(task, &extra->v1_hierarchy);
	extra->start = BPF_CORE_READ(leader, start_time);
	extra->parent = BPF_CORE_READ(task, real_parent, tgid);
	if (leader)
		bpf_core_read_str(&extra->comm, TGID_COMM_BYTES, &leader->comm);
}

/* How `tgid_values` is allocated: preallocated by default, as kernels
 * before 6.1 warn (a kernel WARN) when a tracing program uses a hash
 * allocated at run time; build.rs compiles the objects that have the table
 * a second time with BPF_F_NO_PREALLOC, which the loader picks where the
 * kernel has bpf_mem_alloc (6.1+): the table then costs what its live
 * entries need, not `pid table size` entries. */
#ifndef TGID_VALUES_MAP_FLAGS
#define TGID_VALUES_MAP_FLAGS 0
#endif


/* Declares `tgid_values`: copies of the thread's counters 0..count-1 per
 * TGID, then a struct tgid_extra, in a hash (see TGID_VALUES_MAP_FLAGS)
 * that the loader sizes to `pid table size`; `tgid_stats`, the table's own
 * statistics; `tgid_values_of()`, a process's counters, its entry made if
 * missing; `tgid_counters()`, those of an existing entry; `current_counted()`,
 * the filter plus the current process's counters; and the programs that
 * record an exec and mark an entry ended when its process is freed (the
 * worker reads it a last time, then deletes it). */
#define TGID_VALUES(count)                                                             \
	struct tgid_values {                                                           \
		__u64 counters[count];                                                 \
		struct tgid_extra extra;                                               \
	};                                                                             \
                                                                                       \
	struct {                                                                       \
		__uint(type, BPF_MAP_TYPE_HASH);                                       \
		__uint(max_entries, 1);                                                \
		__uint(map_flags, TGID_VALUES_MAP_FLAGS);                              \
		__type(key, __u32);                                                    \
		__type(value, struct tgid_values);                                     \
	} tgid_values SEC(".maps");                                                    \
                                                                                       \
	/* Entries of ended processes whose TGID a new process took before user   \
	 * space's last look (PID reuse): moved here, read and deleted by user    \
	 * space, so that neither process's counts are lost or merged. One entry  \
	 * as compiled; the loader sizes it (bpf::TGID_REPLACED_ENTRIES). */        \
	struct {                                                                       \
		__uint(type, BPF_MAP_TYPE_HASH);                                       \
		__uint(max_entries, 1);                                                \
		__uint(map_flags, TGID_VALUES_MAP_FLAGS);                              \
		__type(key, __u32);                                                    \
		__type(value, struct tgid_values);                                     \
	} tgid_replaced SEC(".maps");                                                  \
                                                                                       \
	SLOT_ARRAY(tgid_stats, index, enum tgid_stat, TGID_STAT_COUNT);                   \
                                                                                       \
	/* `task` is a task of process `tgid`. */                                      \
	static __always_inline __u64 *tgid_values_of(__u32 tgid, struct task_struct *task) \
	{                                                                              \
		struct tgid_values init = {};                                          \
		struct tgid_values *values = bpf_map_lookup_elem(&tgid_values, &tgid); \
		long err;                                                              \
                                                                                       \
		/* An ended process's entry waits for user space's last look; a       \
		 * new process with its TGID (reused) gets an entry of its own, the    \
		 * old one moves to `tgid_replaced` (if that is full, what user space  \
		 * did not read of it is lost, counted as FULL). */                    \
		if (values && (!values->extra.ended ||                                 \
			       values->extra.start ==                                  \
				       BPF_CORE_READ(task, group_leader, start_time)))  \
			return values->counters;                                       \
		if (values) {                                                          \
			if (bpf_map_update_elem(&tgid_replaced, &tgid, values, BPF_NOEXIST)) \
				counter_add(&tgid_stats, TGID_STAT_FULL, 1);           \
			bpf_map_delete_elem(&tgid_values, &tgid);                      \
		}                                                                      \
		tgid_extra_init(&init.extra, task);                                    \
		err = bpf_map_update_elem(&tgid_values, &tgid, &init, BPF_NOEXIST);    \
		if (err && err != -EEXIST) {                                           \
			counter_add(&tgid_stats, TGID_STAT_FULL, 1);                   \
			return NULL;                                                   \
		}                                                                      \
		if (!err)                                                              \
			counter_add(&tgid_stats, TGID_STAT_ADDED, 1);                  \
		values = bpf_map_lookup_elem(&tgid_values, &tgid);                     \
		return values ? values->counters : NULL;                               \
	}                                                                              \
                                                                                       \
	/* The counters of the process of `task`, not the current one, if it has  \
	 * an entry (and the table is on): its own, even when a new process took  \
	 * its TGID (its releases may come that late). Told apart by the task's   \
	 * own start, not its leader's: a thread's free (an RCU callback) may run \
	 * after its leader's task was freed and its memory reused (seen: 2 of   \
	 * 21 releases lost). A process's leader started no later than any of    \
	 * its tasks, and one that took the TGID since started after them all.   \
	 * The entry in `tgid_values` is the newer one: it is looked at first. */ \
	static __always_inline __attribute__((unused)) __u64 *tgid_counters_of(      \
		struct task_struct *task)                                              \
	{                                                                              \
		__u32 tgid = BPF_CORE_READ(task, tgid);                                \
		__u64 born = BPF_CORE_READ(task, start_time);                          \
		struct tgid_values *values;                                            \
                                                                                       \
		if (!tgid_values_on)                                                   \
			return NULL;                                                   \
		values = bpf_map_lookup_elem(&tgid_values, &tgid);                     \
		if (values && values->extra.start <= born)                             \
			return values->counters;                                       \
		values = bpf_map_lookup_elem(&tgid_replaced, &tgid);                   \
		return values && values->extra.start <= born ? values->counters : NULL; \
	}                                                                              \
                                                                                       \
	/* Whether the current process's events count (--pid), and where its own   \
	 * values go (NULL: nowhere). No helper call when neither is on. */        \
	static __always_inline __attribute__((unused)) bool current_counted(__u64 **own) \
	{                                                                              \
		__u32 tgid;                                                            \
                                                                                       \
		*own = NULL;                                                           \
		if (!filter_tgid && !tgid_values_on)                                   \
			return true;                                                   \
		tgid = bpf_get_current_pid_tgid() >> 32;                               \
		if (!tgid_wanted(tgid))                                                \
			return false;                                                  \
		if (tgid_values_on)                                                    \
			*own = tgid_values_of(                                         \
				tgid, (struct task_struct *)bpf_get_current_task());   \
		return true;                                                           \
	}                                                                              \
                                                                                       \
	/* A process with an entry that calls exec may belong to another group     \
	 * now: its new name and cgroup, and one more exec for user space. */      \
	static __always_inline void tgid_values_exec_of(struct task_struct *task)      \
	{                                                                              \
		__u32 tgid = BPF_CORE_READ(task, tgid);                                \
		struct tgid_values *values = bpf_map_lookup_elem(&tgid_values, &tgid); \
                                                                                       \
		/* An ended entry is an earlier process's (its TGID reused). */        \
		if (!values || values->extra.ended)                                    \
			return;                                                        \
		values->extra.cgroup = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id); \
		values->extra.v1_cgroup = v1_cgroup(task, &values->extra.v1_hierarchy); \
		bpf_core_read_str(&values->extra.comm, TGID_COMM_BYTES, &task->comm);  \
		__sync_fetch_and_add(&values->extra.renames, 1);                       \
	}                                                                              \
                                                                                       \
	/* A process's name is its leader's: a renamed leader (prctl, or          \
	 * /proc/PID/comm) may belong to another group now, as apps.plugin        \
	 * regroups it. Other threads' names are not the process's. Runs before   \
	 * the new name `comm` is copied into the task. */                          \
	static __always_inline void tgid_values_rename_of(struct task_struct *task,   \
							  const char *comm)            \
	{                                                                              \
		__u32 tgid = BPF_CORE_READ(task, tgid);                                \
		struct tgid_values *values;                                            \
                                                                                       \
		if (BPF_CORE_READ(task, pid) != tgid)                                  \
			return;                                                        \
		values = bpf_map_lookup_elem(&tgid_values, &tgid);                     \
		if (!values || values->extra.ended)                                    \
			return;                                                        \
		bpf_probe_read_kernel_str(&values->extra.comm, TGID_COMM_BYTES, comm); \
		__sync_fetch_and_add(&values->extra.renames, 1);                       \
	}                                                                              \
                                                                                       \
	/* Its last task exits (`group_dead`, told by the kernel or read from   \
	 * signal->live): user space reads the entry a last time and deletes it.  \
	 * Written, not added: two tasks exiting together may both see it. */     \
	static __always_inline void tgid_values_exited(struct task_struct *task,       \
						       bool group_dead)                \
	{                                                                              \
		__u32 tgid = BPF_CORE_READ(task, tgid);                                \
		struct tgid_values *values;                                            \
                                                                                       \
		if (!group_dead)                                                       \
			return;                                                        \
		values = bpf_map_lookup_elem(&tgid_values, &tgid);                     \
		if (values && !values->extra.ended) {                                  \
			values->extra.ended = 1;                                       \
			counter_add(&tgid_stats, TGID_STAT_ENDED, 1);                  \
		}                                                                      \
	}                                                                              \
                                                                                       \
	/* All three, for each variant kind (the loader adds those of the        \
	 * variant's kind, workers/src/thread.rs): setup_new_exec() runs in the   \
	 * exec'ing task once its new name is set; __set_task_comm() is where the \
	 * task_rename tracepoint is; taskstats_exit() and acct_collect() run in  \
	 * every exiting task and are told whether it is the last, which          \
	 * sched_process_exit reads from signal->live (process.bpf.c). */         \
	IF_TRACEPOINTS(                                                                \
	SEC("tp_btf/sched_process_exec")                                               \
	int BPF_PROG(tgid_values_exec, struct task_struct *task)                       \
	{                                                                              \
		tgid_values_exec_of(task);                                             \
		return 0;                                                              \
	}                                                                              \
	SEC("tp_btf/task_rename")                                                      \
	int BPF_PROG(tgid_values_rename, struct task_struct *task, const char *comm)   \
	{                                                                              \
		tgid_values_rename_of(task, comm);                                     \
		return 0;                                                              \
	}                                                                              \
	SEC("tp_btf/sched_process_exit")                                               \
	int BPF_PROG(tgid_values_exit, struct task_struct *task)                       \
	{                                                                              \
		tgid_values_exited(task, BPF_CORE_READ(task, signal, live.counter) == 0); \
		return 0;                                                              \
	})                                                                             \
	ENTRY_PROGRAMS(tgid_values_exec,                                               \
		       tgid_values_exec_of((struct task_struct *)bpf_get_current_task()), \
		       struct linux_binprm *bprm)                                      \
	ENTRY_PROGRAMS(tgid_values_rename, tgid_values_rename_of(task, comm),          \
		       struct task_struct *task, const char *comm)                      \
	ENTRY_PROGRAMS(tgid_values_exit,                                               \
		       tgid_values_exited((struct task_struct *)bpf_get_current_task(),   \
					  group_dead),                                 \
		       __u64 first, int group_dead)

#endif
