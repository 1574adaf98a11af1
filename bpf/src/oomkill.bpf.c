/* oomkill: OOM kills per process (oom:mark_victim). The thread has no
 * system-wide chart; its table is always on. */
#include "common.bpf.h"

PID_TABLE(struct oomkill_pid_slot);

static __always_inline void count_kill(__u32 tgid, struct task_struct *task)
{
	struct oomkill_pid_slot *slot = PID_SLOT(struct oomkill_pid_slot, tgid, task);

	if (slot)
		PID_COUNT(slot->kills);
}

/* Kernels from 6.8 pass the victim's task. The direct field access makes
 * the verifier refuse this program where the tracepoint passes a pid. */
SEC("tp_btf/mark_victim")
int BPF_PROG(oomkill_victim, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (tgid_wanted(tgid))
		count_kill(tgid, task);
	return 0;
}

/* Older kernels: the victim's pid. The OOM killer picks a task holding the
 * process's memory, which is its leader unless that already exited, so the
 * pid is taken as the TGID. The process's name, parent and cgroup are known
 * when the victim is the task running out of memory, as it usually is. */
SEC("tracepoint/oom/mark_victim")
int oomkill_victim_pid(struct trace_event_raw_mark_victim *ctx)
{
	__u32 tgid = ctx->pid;
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();

	if (tgid_wanted(tgid))
		count_kill(tgid, BPF_CORE_READ(current, tgid) == tgid ? current : NULL);
	return 0;
}

PID_TABLE_EXIT_PROGRAM
PID_FILTER_PROGRAMS
