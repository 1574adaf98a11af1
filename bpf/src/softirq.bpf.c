/* softirq: time spent in each softirq vector, from softirq_entry to
 * softirq_exit on the same CPU (softirqs do not nest on a CPU; the start
 * time is kept per CPU and per vector all the same). Nanoseconds, summed:
 * user space scales the total, so no event's fraction of a unit is lost. */
#include "common.bpf.h"

/* The kernel's vector numbers (HI_SOFTIRQ .. RCU_SOFTIRQ). */
enum softirq_vector {
	SOFTIRQ_HI,
	SOFTIRQ_TIMER,
	SOFTIRQ_NET_TX,
	SOFTIRQ_NET_RX,
	SOFTIRQ_BLOCK,
	SOFTIRQ_IRQ_POLL,
	SOFTIRQ_TASKLET,
	SOFTIRQ_SCHED,
	SOFTIRQ_HRTIMER,
	SOFTIRQ_RCU,
	SOFTIRQ_VECTORS,
};

/* Nanoseconds spent in each vector. */
COUNTER_ARRAY(softirq_ns, enum softirq_vector, SOFTIRQ_VECTORS);

/* When the running vector started on this CPU; 0 = not seen starting. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOFTIRQ_VECTORS);
	__type(key, __u32);
	__type(value, __u64);
} softirq_start SEC(".maps");

static __always_inline void softirq_enter(__u32 vector)
{
	__u64 *start = bpf_map_lookup_elem(&softirq_start, &vector);

	if (start)
		*start = bpf_ktime_get_ns();
}

static __always_inline void softirq_leave(__u32 vector)
{
	__u64 *start = bpf_map_lookup_elem(&softirq_start, &vector);

	if (!start || !*start)
		return;
	counter_add(&softirq_ns, vector, bpf_ktime_get_ns() - *start);
	*start = 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(softirq_entry_btf, unsigned int vector)
{
	softirq_enter(vector);
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(softirq_exit_btf, unsigned int vector)
{
	softirq_leave(vector);
	return 0;
}

SEC("tracepoint/irq/softirq_entry")
int softirq_entry_tp(struct trace_event_raw_softirq *ctx)
{
	softirq_enter(ctx->vec);
	return 0;
}

SEC("tracepoint/irq/softirq_exit")
int softirq_exit_tp(struct trace_event_raw_softirq *ctx)
{
	softirq_leave(ctx->vec);
	return 0;
}
