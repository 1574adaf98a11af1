/* Drops every packet a device receives: how the tests lose a segment in
 * their own network namespace, to see it retransmitted (tests/socket.rs),
 * on kernels without netem. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define TC_ACT_SHOT 2

SEC("classifier")
int drop_all(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}
