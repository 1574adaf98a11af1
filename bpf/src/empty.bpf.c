/* The cheapest program a tracepoint can run: the baseline of the syscall
 * cost benchmark (tests/benches/syscall_cost.rs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint")
int empty(void *ctx)
{
	return 0;
}
