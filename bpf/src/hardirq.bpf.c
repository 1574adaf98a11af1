/* hardirq: time spent in hardware interrupt handlers, per IRQ number
 * (irq_handler_entry/exit, once per handler of a shared line) and, on x86,
 * per x86 system vector (the irq_vectors tracepoints; elsewhere, and for
 * vectors a kernel is built without, those programs are not attached).
 * Handlers run with
 * interrupts off, so on one CPU they never overlap; start times are per CPU
 * so that handlers running at once on different CPUs never mix, and a
 * device IRQ's exit only counts if its entry was for the same IRQ.
 * Nanoseconds, summed: user space scales the totals. */
#include "common.bpf.h"

/* The x86 system vectors: nanoseconds in their handlers. */
enum hardirq_vector {
	HARDIRQ_APIC_THERMAL,
	HARDIRQ_APIC_THRESHOLD,
	HARDIRQ_APIC_ERROR,
	HARDIRQ_APIC_DEFERRED_ERROR,
	HARDIRQ_APIC_SPURIOUS,
	HARDIRQ_FUNC_CALL,
	HARDIRQ_FUNC_CALL_SINGLE,
	HARDIRQ_RESCHEDULE,
	HARDIRQ_LOCAL_TIMER,
	HARDIRQ_IRQ_WORK,
	HARDIRQ_X86_PLATFORM_IPI,
	HARDIRQ_VECTORS,
};

/* Start times per CPU: one slot per vector, then one for device IRQs. */
#define HARDIRQ_DEVICE_SLOT HARDIRQ_VECTORS
#define HARDIRQ_START_SLOTS (HARDIRQ_VECTORS + 1)

/* Device IRQs seen at most. */
#define HARDIRQ_MAX_IRQS 2048

struct irq_start {
	__u64 ns; /* 0: no entry seen on this CPU */
	__u32 irq;
	__u32 unused;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HARDIRQ_START_SLOTS);
	__type(key, __u32);
	__type(value, struct irq_start);
} hardirq_start SEC(".maps");

COUNTER_ARRAY(hardirq_vector_ns, enum hardirq_vector, HARDIRQ_VECTORS);

/* Nanoseconds per device IRQ, one copy for all CPUs (atomic adds): an IRQ
 * is mostly served by one CPU, and per-CPU copies would cost 16 KiB per
 * possible CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HARDIRQ_MAX_IRQS);
	__type(key, __u32);
	__type(value, __u64);
} hardirq_irq_ns SEC(".maps");

static __always_inline void irq_enter(__u32 slot, __u32 irq)
{
	struct irq_start *start = bpf_map_lookup_elem(&hardirq_start, &slot);

	if (start) {
		start->ns = bpf_ktime_get_ns();
		start->irq = irq;
	}
}

/* Nanoseconds since the matching entry on this CPU, or 0. */
static __always_inline __u64 irq_leave(__u32 slot, __u32 irq)
{
	struct irq_start *start = bpf_map_lookup_elem(&hardirq_start, &slot);
	__u64 elapsed;

	if (!start || !start->ns || start->irq != irq)
		return 0;
	elapsed = bpf_ktime_get_ns() - start->ns;
	start->ns = 0;
	return elapsed;
}

static __always_inline void device_irq_leave(__u32 irq)
{
	__u64 elapsed = irq_leave(HARDIRQ_DEVICE_SLOT, irq);
	__u64 zero = 0, *total;

	if (!elapsed)
		return;
	total = lookup_or_init(&hardirq_irq_ns, &irq, &zero);
	if (total)
		__sync_fetch_and_add(total, elapsed);
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(hardirq_entry_btf, int irq, struct irqaction *action)
{
	irq_enter(HARDIRQ_DEVICE_SLOT, irq);
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(hardirq_exit_btf, int irq, struct irqaction *action, int ret)
{
	device_irq_leave(irq);
	return 0;
}

SEC("tracepoint/irq/irq_handler_entry")
int hardirq_entry_tp(struct trace_event_raw_irq_handler_entry *ctx)
{
	irq_enter(HARDIRQ_DEVICE_SLOT, ctx->irq);
	return 0;
}

SEC("tracepoint/irq/irq_handler_exit")
int hardirq_exit_tp(struct trace_event_raw_irq_handler_exit *ctx)
{
	device_irq_leave(ctx->irq);
	return 0;
}

static __always_inline void vector_leave(__u32 slot)
{
	__u64 elapsed = irq_leave(slot, 0);

	if (elapsed)
		counter_add(&hardirq_vector_ns, slot, elapsed);
}

/* One x86 system vector: entry and exit, as tp_btf and tracefs programs. */
#define VECTOR(event, slot)                                                   \
	SEC("tp_btf/" #event "_entry")                                        \
	int BPF_PROG(event##_entry_btf, int vector)                           \
	{                                                                     \
		irq_enter(slot, 0);                                           \
		return 0;                                                     \
	}                                                                     \
	SEC("tp_btf/" #event "_exit")                                         \
	int BPF_PROG(event##_exit_btf, int vector)                            \
	{                                                                     \
		vector_leave(slot);                                           \
		return 0;                                                     \
	}                                                                     \
	SEC("tracepoint/irq_vectors/" #event "_entry")                        \
	int event##_entry_tp(void *ctx)                                       \
	{                                                                     \
		irq_enter(slot, 0);                                           \
		return 0;                                                     \
	}                                                                     \
	SEC("tracepoint/irq_vectors/" #event "_exit")                         \
	int event##_exit_tp(void *ctx)                                        \
	{                                                                     \
		vector_leave(slot);                                           \
		return 0;                                                     \
	}

VECTOR(thermal_apic, HARDIRQ_APIC_THERMAL)
VECTOR(threshold_apic, HARDIRQ_APIC_THRESHOLD)
VECTOR(error_apic, HARDIRQ_APIC_ERROR)
VECTOR(deferred_error_apic, HARDIRQ_APIC_DEFERRED_ERROR)
VECTOR(spurious_apic, HARDIRQ_APIC_SPURIOUS)
VECTOR(call_function, HARDIRQ_FUNC_CALL)
VECTOR(call_function_single, HARDIRQ_FUNC_CALL_SINGLE)
VECTOR(reschedule, HARDIRQ_RESCHEDULE)
VECTOR(local_timer, HARDIRQ_LOCAL_TIMER)
VECTOR(irq_work, HARDIRQ_IRQ_WORK)
VECTOR(x86_platform_ipi, HARDIRQ_X86_PLATFORM_IPI)
