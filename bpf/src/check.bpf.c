/* `ebpf-collector check`: one empty program per kind of hook. Each is
 * attached and detached at once to tell which kinds this kernel allows;
 * the map proves whether map memory is charged to RLIMIT_MEMLOCK. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} check_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int check_tracepoint(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(check_btf_tracepoint)
{
	return 0;
}

SEC("fentry")
int BPF_PROG(check_fentry)
{
	return 0;
}

SEC("kprobe")
int check_kprobe(void *ctx)
{
	return 0;
}
