/* oomkill: OOM kills (oom:mark_victim), in total and per process. The
 * thread draws only per-process charts; its table is always on. */
#define TRACEPOINTS_ONLY
#include "common.bpf.h"

enum oomkill_counter {
	OOMKILL_KILLS,
	OOMKILL_COUNTERS,
};

COUNTER_ARRAY(oomkill_counters, enum oomkill_counter, OOMKILL_COUNTERS);
TGID_VALUES(OOMKILL_COUNTERS)

static __always_inline void count_kill(__u32 tgid, struct task_struct *task)
{
	if (tgid_wanted(tgid))
		count(&oomkill_counters, tgid_values_of(tgid, task), OOMKILL_KILLS, 1);
}

/* Kernels from 6.8 pass the victim's task. The direct field access makes
 * the verifier refuse this program where the tracepoint passes a pid. */
SEC("tp_btf/mark_victim")
int BPF_PROG(oomkill_victim, struct task_struct *task)
{
	count_kill(task->tgid, task);
	return 0;
}

/* Older kernels: the victim's pid. The OOM killer picks a task holding the
 * process's memory, which is its leader unless that already exited, so the
 * pid is taken as the TGID. Its name, parent and cgroup are known when the
 * victim is the task running out of memory, as it usually is. */
SEC("tracepoint/oom/mark_victim")
int oomkill_victim_pid(struct trace_event_raw_mark_victim *ctx)
{
	__u32 tgid = ctx->pid;
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();

	count_kill(tgid, BPF_CORE_READ(current, tgid) == tgid ? current : NULL);
	return 0;
}

PID_FILTER_PROGRAMS
