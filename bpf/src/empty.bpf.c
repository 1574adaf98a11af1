/* The cheapest program a tracepoint can run: the baseline of the syscall
 * cost benchmark (tests/benches/syscall_cost.rs) and, on tracefs
 * tracepoints, of the event cost benchmark (tests/benches/event_cost.rs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint")
int empty(void *ctx)
{
	return 0;
}

/* The same for BTF tracepoints (event_cost.rs); loaded once per
 * tracepoint, as a BTF tracepoint program is bound to one. */
SEC("tp_btf")
int empty_btf(void *ctx)
{
	return 0;
}

/* The same for kernel functions (event_cost.rs, threads without a
 * tracepoint variant): a trampoline is bound to its function at load. */
SEC("fentry")
int BPF_PROG(empty_fentry)
{
	return 0;
}

SEC("fexit")
int BPF_PROG(empty_fexit)
{
	return 0;
}

SEC("kprobe")
int empty_kprobe(void *ctx)
{
	return 0;
}

SEC("kretprobe")
int empty_kretprobe(void *ctx)
{
	return 0;
}
