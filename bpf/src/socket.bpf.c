/* socket: TCP and UDP calls and bytes each way, TCP connections made and
 * accepted, closed sockets and retransmitted segments (spec §2.7, §3.8).
 *
 * tracepoint (6.3+): sock_send_length and sock_recv_length (every send and
 * receive of a socket, with its result), inet_sock_set_state (a connect's
 * SYN sent, a connection accepted by a listener), tcp_destroy_sock and
 * tcp_retransmit_skb. trampoline and probe: the original's functions,
 * sends and receives on their return (tcp_recvmsg for the original's
 * tcp_cleanup_rbuf, which a blocking receive calls twice). README.md says
 * where the variants count differently. */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

/* The per-process counters come first (TGID_VALUES): a byte counter
 * follows its calls (socket_io). */
enum socket_counter {
	SOCKET_CONNECT_V4,
	SOCKET_CONNECT_V6,
	SOCKET_TCP_SEND,
	SOCKET_TCP_SEND_BYTES,
	SOCKET_TCP_RECEIVE,
	SOCKET_TCP_RECEIVE_BYTES,
	SOCKET_UDP_SEND,
	SOCKET_UDP_SEND_BYTES,
	SOCKET_UDP_RECEIVE,
	SOCKET_UDP_RECEIVE_BYTES,
	SOCKET_TCP_RETRANSMIT,
	SOCKET_TCP_SEND_ERROR,
	SOCKET_TCP_RECEIVE_ERROR,
	SOCKET_UDP_SEND_ERROR,
	SOCKET_UDP_RECEIVE_ERROR,
	SOCKET_TCP_CLOSE,
	SOCKET_TCP_ACCEPT,
	SOCKET_CONNECTIONS_UNTRACKED,
	SOCKET_COUNTERS,
};

#define SOCKET_PER_PROCESS (SOCKET_TCP_RETRANSMIT + 1)

COUNTER_ARRAY(socket_counters, enum socket_counter, SOCKET_COUNTERS);
TGID_VALUES(SOCKET_PER_PROCESS)
PID_FILTER_PROGRAMS

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define E2BIG 7

/* The process a TCP socket was connected, listened, sent or received for:
 * a retransmission, an accepted connection and (tracepoint variant) a
 * socket's end run in softirq or a timer, in no process of their own.
 * Kept only with the per-process table on or --pid. Programs that get the
 * socket typed (`typed`: BTF tracepoints, trampolines) keep it in the
 * socket's own storage, found without a hash look-up and freed with the
 * socket; kprobes, which cannot, in a hash by the socket's address (the
 * loader sizes it for the probe variant; one entry as compiled), deleted
 * when the socket is closed. */
struct socket_owner {
	__u32 tgid;
	__u32 unused;
	__u64 start;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct socket_owner);
} socket_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, TGID_VALUES_MAP_FLAGS);
	__type(key, __u64);
	__type(value, struct socket_owner);
} socket_owners SEC(".maps");

static __always_inline struct socket_owner *owner_of(const struct sock *sk, bool typed)
{
	__u64 key = (__u64)sk;

	if (typed)
		return bpf_sk_storage_get(&socket_storage, (struct sock *)sk, NULL, 0);
	return bpf_map_lookup_elem(&socket_owners, &key);
}

static __always_inline void forget_owner(const struct sock *sk, bool typed)
{
	__u64 key = (__u64)sk;

	if (!typed)
		bpf_map_delete_elem(&socket_owners, &key);
}

/* Listening sockets' owners by network namespace and port: a connection's
 * socket is born in softirq, from its listener, which it does not name. */
struct socket_listener {
	__u64 net;
	__u32 port;
	__u32 unused;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, TGID_VALUES_MAP_FLAGS);
	__type(key, struct socket_listener);
	__type(value, struct socket_owner);
} socket_listeners SEC(".maps");

static __always_inline bool owners_on(void)
{
	return filter_tgid || tgid_values_on;
}

static __always_inline struct socket_listener listener_of(const struct sock *sk)
{
	struct socket_listener key = {
		.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net),
		.port = BPF_CORE_READ(sk, __sk_common.skc_num),
	};

	return key;
}

/* Whether an event of a socket whose owner is `owner` (NULL: unknown)
 * counts under --pid. */
static __always_inline bool owner_wanted(const struct socket_owner *owner)
{
	return !filter_tgid || (owner && tgid_wanted(owner->tgid));
}

static __always_inline struct socket_owner current_owner(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct socket_owner owner = {
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.start = BPF_CORE_READ(task, group_leader, start_time),
	};

	return owner;
}

/* Written when the socket is new or used by another process: a socket
 * outliving its process and used by a later one of the same TGID (PID
 * reuse) keeps the first's start time. */
static __always_inline void remember_owner(const struct sock *sk, bool typed)
{
	struct socket_owner *known = owner_of(sk, typed);
	struct socket_owner owner;
	__u64 key = (__u64)sk;

	if (known && known->tgid == bpf_get_current_pid_tgid() >> 32)
		return;
	owner = current_owner();
	if (!typed) {
		bpf_map_update_elem(&socket_owners, &key, &owner, BPF_ANY);
		return;
	}
	known = bpf_sk_storage_get(&socket_storage, (struct sock *)sk, NULL,
				   BPF_SK_STORAGE_GET_F_CREATE);
	if (known)
		*known = owner;
}

/* The network viewer's table (`network connections = yes`): each TCP
 * connection's addresses, ports and counters. The loader sizes it from
 * network.conf's connection table sizes (one entry as compiled, and
 * `keyed_on` 0: off). A live connection's entry is keyed by its socket's
 * address (`born` 0), made when the connection is made or accepted, or
 * first used (one older than the collector). When it is closed, its entry
 * moves to the key of its socket and birth, where the worker reads it a
 * last time and removes it: no count of a connection is lost when it
 * ends, and the next socket at the same address starts a new entry. A
 * connection that finds the table full is not tracked: counted in
 * SOCKET_CONNECTIONS_UNTRACKED, never silently. */
enum connection_counter {
	CONNECTION_SENT_BYTES,
	CONNECTION_RECEIVED_BYTES,
	CONNECTION_SENDS,
	CONNECTION_RECEIVES,
	CONNECTION_RETRANSMITS,
	CONNECTION_COUNTERS,
};

struct connection_key {
	__u64 socket;
	/* 0 while the connection lives; then its `born`. */
	__u64 born;
};

struct connection {
	__u64 counters[CONNECTION_COUNTERS];
	/* When its entry was made (kernel ns). */
	__u64 born;
	/* IPv4 addresses in the first 4 bytes; ports in host order. */
	__u8 local[16];
	__u8 remote[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
	/* Made by a connect, accepted from a listener; neither: older than
	 * the collector. */
	__u8 outbound;
	__u8 inbound;
	/* The kernel's TCP state (TCP_ESTABLISHED, ...) as last seen: its
	 * changes (tracepoint variant), else at each send, receive or
	 * retransmission. */
	__u8 state;
	/* The process that made it (connect) or first used it (a send or
	 * receive; an accept in softirq has none): 0 until then. */
	__u32 tgid;
	__u32 unused;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, TGID_VALUES_MAP_FLAGS);
	__type(key, struct connection_key);
	__type(value, struct connection);
	__type(slots, enum connection_counter);
} socket_connections SEC(".maps");

const volatile __u32 keyed_on = 0;

/* The live entry of `sk`, if it has one (and the table is on). */
static __always_inline struct connection *live_connection(const struct sock *sk)
{
	struct connection_key key = { .socket = (__u64)sk };

	return keyed_on ? bpf_map_lookup_elem(&socket_connections, &key) : NULL;
}

/* The live entry of `sk`, made (`outbound`, `inbound`) when it has none. */
static __always_inline struct connection *connection_of(const struct sock *sk, bool outbound,
							bool inbound)
{
	struct connection_key key = { .socket = (__u64)sk };
	struct connection *known = live_connection(sk);
	struct connection fresh = {
		.outbound = outbound,
		.inbound = inbound,
	};

	if (known || !keyed_on)
		return known;
	fresh.born = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&socket_connections, &key, &fresh, BPF_NOEXIST) == -E2BIG) {
		counter_add(&socket_counters, SOCKET_CONNECTIONS_UNTRACKED, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&socket_connections, &key);
}

/* The connection's addresses and ports, read until both ports are known:
 * a connect's local port is chosen after its SYN_SENT, an accepted
 * socket's addresses are set after its SYN_RECV, and the first send,
 * receive or retransmission comes after both. */
static __always_inline void connection_address(struct connection *c, const struct sock *sk)
{
	if (c->local_port && c->remote_port)
		return;
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (c->family == AF_INET) {
		bpf_core_read(c->local, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(c->remote, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(c->local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(c->remote, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* The entry of `sk`, which is in use (a send, a receive, a
 * retransmission), made if it has none, with its ends and state read. */
static __always_inline struct connection *connection_used(const struct sock *sk)
{
	struct connection *c = connection_of(sk, false, false);

	if (c) {
		connection_address(c, sk);
		c->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	}
	return c;
}

/* A send or receive of `bytes` on `sk`, for its connection. */
static __always_inline void connection_io(const struct sock *sk, bool sending, long bytes)
{
	struct connection *c = connection_used(sk);

	if (!c)
		return;
	if (!c->tgid)
		c->tgid = bpf_get_current_pid_tgid() >> 32;
	__sync_fetch_and_add(&c->counters[sending ? CONNECTION_SENDS : CONNECTION_RECEIVES], 1);
	__sync_fetch_and_add(
		&c->counters[sending ? CONNECTION_SENT_BYTES : CONNECTION_RECEIVED_BYTES], bytes);
}

static __always_inline void connection_close(const struct sock *sk)
{
	struct connection_key key = { .socket = (__u64)sk };
	struct connection *c = live_connection(sk);
	struct connection ended;

	if (!c)
		return;
	ended = *c;
	bpf_map_delete_elem(&socket_connections, &key);
	key.born = ended.born;
	if (bpf_map_update_elem(&socket_connections, &key, &ended, BPF_NOEXIST) == -E2BIG)
		counter_add(&socket_counters, SOCKET_CONNECTIONS_UNTRACKED, 1);
}

/* A send (`sending`) or receive on `sk` (of `family` and `protocol`) that
 * returned `ret`: its call, then its failure or its bytes. Other families
 * and protocols (unix, netlink, raw, ...) are not counted. */
static __always_inline void socket_io(const struct sock *sk, __u16 family, __u16 protocol,
				      long ret, bool sending, bool typed)
{
	__u32 calls, error;
	__u64 *own;

	if (family != AF_INET && family != AF_INET6)
		return;
	if (protocol == IPPROTO_TCP) {
		calls = sending ? SOCKET_TCP_SEND : SOCKET_TCP_RECEIVE;
		error = sending ? SOCKET_TCP_SEND_ERROR : SOCKET_TCP_RECEIVE_ERROR;
	} else if (protocol == IPPROTO_UDP) {
		calls = sending ? SOCKET_UDP_SEND : SOCKET_UDP_RECEIVE;
		error = sending ? SOCKET_UDP_SEND_ERROR : SOCKET_UDP_RECEIVE_ERROR;
	} else {
		return;
	}
	if (!current_counted(&own))
		return;
	count(&socket_counters, own, calls, 1);
	if (ret < 0)
		counter_add(&socket_counters, error, 1);
	else if (ret > 0)
		count(&socket_counters, own, calls + 1, ret);
	if (ret > 0 && protocol == IPPROTO_TCP)
		connection_io(sk, sending, ret);
	if (owners_on() && protocol == IPPROTO_TCP)
		remember_owner(sk, typed);
}

/* A TCP connect by the current process on `sk`. */
static __always_inline void socket_connect(const struct sock *sk, __u16 family, bool typed)
{
	struct connection *c;
	__u64 *own;

	if (!current_counted(&own))
		return;
	count(&socket_counters, own, family == AF_INET6 ? SOCKET_CONNECT_V6 : SOCKET_CONNECT_V4, 1);
	c = connection_of(sk, true, false);
	if (c) {
		c->tgid = bpf_get_current_pid_tgid() >> 32;
		c->state = TCP_SYN_SENT;
	}
	if (owners_on())
		remember_owner(sk, typed);
}

/* The end of a TCP socket: in close() (trampoline, probe: `in_process`)
 * or when the kernel destroys it (tracepoint). */
static __always_inline void socket_close(const struct sock *sk, bool in_process, bool typed)
{
	bool wanted = true;

	connection_close(sk);
	if (!owners_on()) {
		counter_add(&socket_counters, SOCKET_TCP_CLOSE, 1);
		return;
	}
	if (in_process)
		wanted = current_wanted();
	else if (filter_tgid)
		wanted = owner_wanted(owner_of(sk, typed));
	if (wanted)
		counter_add(&socket_counters, SOCKET_TCP_CLOSE, 1);
	forget_owner(sk, typed);
}

/* A segment of `sk` retransmitted: in total, and for the process that
 * owns the socket when it has an entry (not a new one: this is no
 * process's context). */
static __always_inline void socket_retransmit(const struct sock *sk, bool typed)
{
	struct socket_owner *owner = NULL;
	struct tgid_values *values;
	struct connection *c;
	__u32 tgid;

	if (owners_on()) {
		owner = owner_of(sk, typed);
		if (!owner_wanted(owner))
			return;
	}
	counter_add(&socket_counters, SOCKET_TCP_RETRANSMIT, 1);
	c = connection_used(sk);
	if (c)
		__sync_fetch_and_add(&c->counters[CONNECTION_RETRANSMITS], 1);
	if (!owner || !tgid_values_on)
		return;
	tgid = owner->tgid;
	values = bpf_map_lookup_elem(&tgid_values, &tgid);
	if (!values || values->extra.start != owner->start)
		values = bpf_map_lookup_elem(&tgid_replaced, &tgid);
	if (values && values->extra.start == owner->start)
		__sync_fetch_and_add(&values->counters[SOCKET_TCP_RETRANSMIT], 1);
}

/* socket_io() of a socket the verifier knows the type of (a BTF
 * tracepoint's or a trampoline's argument): its fields are read directly,
 * without a helper call each. */
#define SOCKET_IO(sk, ret, sending)                                                \
	socket_io(sk, (sk)->__sk_common.skc_family, (sk)->sk_protocol, ret, sending, true)

/* --- tracepoint variant --- */

SEC("tp_btf/sock_send_length")
int BPF_PROG(socket_send, struct sock *sk, int ret)
{
	SOCKET_IO(sk, ret, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(socket_receive, struct sock *sk, int ret)
{
	SOCKET_IO(sk, ret, false);
	return 0;
}

/* tcp_v4_connect()/tcp_v6_connect() move a socket from CLOSE to SYN_SENT
 * in the connecting process; a listener's new child is born LISTEN and
 * set to SYN_RECV (TcpPassiveOpens counts it there). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(socket_state_change, const struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	struct socket_listener listener;

	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		socket_connect(sk, sk->__sk_common.skc_family, true);
	} else if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		listener = listener_of(sk);
		if (!owners_on() || owner_wanted(bpf_map_lookup_elem(&socket_listeners, &listener))) {
			counter_add(&socket_counters, SOCKET_TCP_ACCEPT, 1);
			connection_of(sk, false, true);
		}
	} else if (newstate == TCP_LISTEN && owners_on()) {
		struct socket_owner owner = current_owner();

		listener = listener_of(sk);
		bpf_map_update_elem(&socket_listeners, &listener, &owner, BPF_ANY);
		remember_owner(sk, true);
	} else if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE && owners_on()) {
		listener = listener_of(sk);
		bpf_map_delete_elem(&socket_listeners, &listener);
	} else if (newstate == TCP_CLOSE) {
		connection_close(sk);
	}
	if (newstate != TCP_CLOSE) {
		struct connection *c = live_connection(sk);

		if (c)
			c->state = newstate;
	}
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(socket_destroy, struct sock *sk)
{
	socket_close(sk, false, true);
	return 0;
}

/* Kernels that pass the retransmission's result (6.12+) call it for
 * failed attempts too; TcpRetransSegs counts the sent ones. The check is
 * resolved when the object is loaded: the verifier drops the read of an
 * argument the kernel does not have. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(socket_retransmit_tp, const struct sock *sk)
{
	if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err) &&
	    (int)ctx[2] != 0)
		return 0;
	socket_retransmit(sk, true);
	return 0;
}

/* --- trampoline and probe variants --- */

/* A kretprobe cannot see its function's arguments: the kprobe keeps the
 * socket for it, by thread (a send or receive may sleep and move CPU).
 * Sized by the loader for the probe variant only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
} socket_calls SEC(".maps");

static __always_inline void socket_call_enter(const struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 value = (__u64)sk;

	bpf_map_update_elem(&socket_calls, &id, &value, BPF_ANY);
}

static __always_inline void socket_call_return(long ret, bool sending)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *sk = bpf_map_lookup_elem(&socket_calls, &id);
	const struct sock *socket;

	if (!sk)
		return;
	socket = (const struct sock *)*sk;
	socket_io(socket, BPF_CORE_READ(socket, __sk_common.skc_family),
		  BPF_CORE_READ(socket, sk_protocol), ret, sending, false);
	bpf_map_delete_elem(&socket_calls, &id);
}

/* A send or receive function `name(struct sock *sk, ...)` returning int:
 * `name_fexit`; `name_kprobe` and `name_kretprobe`. */
#define SOCKET_IO_PROGRAMS(name, sending)                                         \
	SEC("fexit")                                                              \
	int BPF_PROG(socket_##name##_fexit, const struct sock *sk)                \
	{                                                                         \
		SOCKET_IO(sk, (int)fexit_ret(ctx), sending);                      \
		return 0;                                                         \
	}                                                                         \
	SEC("kprobe")                                                             \
	int BPF_KPROBE(socket_##name##_kprobe, const struct sock *sk)             \
	{                                                                         \
		socket_call_enter(sk);                                            \
		return 0;                                                         \
	}                                                                         \
	SEC("kretprobe")                                                          \
	int BPF_KRETPROBE(socket_##name##_kretprobe, int ret)                     \
	{                                                                         \
		socket_call_return(ret, sending);                                 \
		return 0;                                                         \
	}

SOCKET_IO_PROGRAMS(tcp_sendmsg, true)
SOCKET_IO_PROGRAMS(tcp_recvmsg, false)
SOCKET_IO_PROGRAMS(udpv6_sendmsg, true)
SOCKET_IO_PROGRAMS(udpv6_recvmsg, false)

/* udpv6_sendmsg() hands a v4-mapped destination to udp_sendmsg(): that
 * send is udpv6_sendmsg's, counted once there. */
static __always_inline bool ipv4_socket(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET;
}

SEC("fexit")
int BPF_PROG(socket_udp_sendmsg_fexit, const struct sock *sk)
{
	if (ipv4_socket(sk))
		SOCKET_IO(sk, (int)fexit_ret(ctx), true);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(socket_udp_sendmsg_kprobe, const struct sock *sk)
{
	if (ipv4_socket(sk))
		socket_call_enter(sk);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(socket_udp_sendmsg_kretprobe, int ret)
{
	socket_call_return(ret, true);
	return 0;
}

SOCKET_IO_PROGRAMS(udp_recvmsg, false)

/* tcp_v6_connect() hands a v4-mapped destination to tcp_v4_connect(): one
 * connect, of an IPv6 socket. */
/* A kernel function's programs on entry, `name_fentry` and `name_kprobe`,
 * running `call` with its socket `sk`, told whether it is typed. */
#define SOCKET_ENTRY_PROGRAMS(name, call)                                         \
	SEC("fentry")                                                             \
	int BPF_PROG(name##_fentry, const struct sock *sk)                        \
	{                                                                         \
		bool typed = true;                                                \
		call;                                                             \
		return 0;                                                         \
	}                                                                         \
	SEC("kprobe")                                                             \
	int BPF_KPROBE(name##_kprobe, const struct sock *sk)                      \
	{                                                                         \
		bool typed = false;                                               \
		call;                                                             \
		return 0;                                                         \
	}

SOCKET_ENTRY_PROGRAMS(socket_tcp_v4_connect,
		      if (ipv4_socket(sk)) socket_connect(sk, AF_INET, typed))
SOCKET_ENTRY_PROGRAMS(socket_tcp_v6_connect, socket_connect(sk, AF_INET6, typed))

/* A connection accepted in a process's accept() (trampoline, probe). */
static __always_inline void socket_accepted(const struct sock *sk)
{
	if (sk && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP && current_wanted()) {
		counter_add(&socket_counters, SOCKET_TCP_ACCEPT, 1);
		connection_of(sk, false, true);
	}
}

SEC("fexit")
int BPF_PROG(socket_accept_fexit)
{
	socket_accepted((const struct sock *)fexit_ret(ctx));
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(socket_accept_kretprobe, const struct sock *sk)
{
	socket_accepted(sk);
	return 0;
}

SOCKET_ENTRY_PROGRAMS(socket_tcp_close, socket_close(sk, true, typed))

/* The original's function: tcp_retransmit_skb() returns 0 when the
 * segment was sent. Tail loss probes call __tcp_retransmit_skb() directly,
 * which some kernels also inline into tcp_retransmit_skb(): only the
 * tracepoint variant sees those (README.md). */
SEC("fexit")
int BPF_PROG(socket_retransmit_fexit, const struct sock *sk)
{
	if ((int)fexit_ret(ctx) == 0)
		socket_retransmit(sk, true);
	return 0;
}

/* The probe variant, on the same function: the segment's socket kept from the kprobe for the
 * kretprobe, by the task the retransmission runs in (or interrupted: it
 * runs in a timer or softirq, which never sleeps). A retransmission whose
 * softirq interrupts another's kprobe and kretprobe in the same task
 * overwrites its socket: one of the two is lost. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
} socket_retransmits SEC(".maps");

SEC("kprobe")
int BPF_KPROBE(socket_retransmit_kprobe, const struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 value = (__u64)sk;

	bpf_map_update_elem(&socket_retransmits, &id, &value, BPF_ANY);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(socket_retransmit_kretprobe, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *sk = bpf_map_lookup_elem(&socket_retransmits, &id);

	if (!sk)
		return 0;
	if (ret == 0)
		socket_retransmit((const struct sock *)*sk, false);
	bpf_map_delete_elem(&socket_retransmits, &id);
	return 0;
}
