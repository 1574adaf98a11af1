//! `socket`: TCP and UDP calls and bytes each way, TCP connections made and
//! accepted, closes and retransmissions, system-wide and per process
//! (spec §2.7, §3.8).
//!
//! Differences on purpose: every label says what its value is (the
//! original swapped received and sent in `ip.tcp_functions`, `ip.tcp_error`
//! and `ip.total_udp_bandwidth`, B-7, B-8, and in the cgroup bandwidth
//! charts, B-9); bandwidth is kilobits everywhere; UDP receive failures are
//! counted (B-14); a retransmission is its socket's process's, not the
//! process that happened to run (B-12, B-13); `ip.inbound_conn` has no UDP
//! dimension (UDP accepts nothing: the original's was always 0). README.md
//! says what each variant counts.

mod connections;

use bpf::socket::counter::*;
use bpf::socket::OBJECT;
use bpf::connection_counter;
use conf::{network, OwnKey, ThreadName};

use crate::chart::{ChartDef, ChartKind, ChartMode, Defaults, DimDef, DimValue, Look};
use crate::keyed::{KeyDim, KeySource, Keyed, KeyedCharts};
use crate::per_process::{PerProcess, ProcessChart, View};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "kernel",
    module: "socket",
};
const CONNECTIONS: Defaults = Defaults {
    units: "connections/s",
    ..DEFAULTS
};
const KILOBITS: Defaults = Defaults {
    units: "kilobits/s",
    ..DEFAULTS
};

/// Bytes drawn as kilobits, received above the axis and sent below.
const fn received_kilobits(id: &'static str, counter: u32) -> DimDef {
    DimDef::total(id, "received", counter).scaled(8, 1000)
}
const fn sent_kilobits(id: &'static str, counter: u32) -> DimDef {
    DimDef::total(id, "sent", counter).scaled(-8, 1000)
}

/// Priorities as the original's in return mode; entry mode keeps their
/// order (the original shifts the later ones down by the error charts it
/// does not draw).
const CHARTS: &[ChartDef] = &[
    CONNECTIONS.chart(
        "ip.inbound_conn",
        "Inbound connections.",
        21070,
        &[DimDef::total(
            "inet_csk_accept_tcp",
            "connected_tcp",
            TCP_ACCEPT,
        )],
    ),
    CONNECTIONS.chart(
        "ip.tcp_outbound_conn",
        "TCP outbound connections.",
        21071,
        &[
            DimDef::total("tcp_connect_v4", "connected_V4", CONNECT_V4),
            DimDef::total("tcp_connect_v6", "connected_V6", CONNECT_V6),
        ],
    ),
    DEFAULTS.chart(
        "ip.tcp_functions",
        "Calls to internal functions",
        21072,
        &[
            DimDef::total("tcp_cleanup_rbuf", "received", TCP_RECEIVE),
            DimDef::total("tcp_sendmsg", "sent", TCP_SEND),
            DimDef::total("tcp_close", "close", TCP_CLOSE),
        ],
    ),
    KILOBITS.chart(
        "ip.total_tcp_bandwidth",
        "TCP bandwidth",
        21073,
        &[
            received_kilobits("tcp_cleanup_rbuf", TCP_RECEIVE_BYTES),
            sent_kilobits("tcp_sendmsg", TCP_SEND_BYTES),
        ],
    ),
    DEFAULTS.errors(
        "ip.tcp_error",
        "TCP errors",
        21074,
        &[
            DimDef::total("tcp_cleanup_rbuf", "received", TCP_RECEIVE_ERROR),
            DimDef::total("tcp_sendmsg", "sent", TCP_SEND_ERROR),
        ],
    ),
    DEFAULTS.chart(
        "ip.tcp_retransmit",
        "Packages retransmitted",
        21075,
        &[DimDef::total(
            "tcp_retransmit_skb",
            "retransmitted",
            TCP_RETRANSMIT,
        )],
    ),
    DEFAULTS.chart(
        "ip.udp_functions",
        "UDP calls",
        21076,
        &[
            DimDef::total("udp_recvmsg", "received", UDP_RECEIVE),
            DimDef::total("udp_sendmsg", "sent", UDP_SEND),
        ],
    ),
    KILOBITS.chart(
        "ip.total_udp_bandwidth",
        "UDP bandwidth",
        21077,
        &[
            received_kilobits("udp_recvmsg", UDP_RECEIVE_BYTES),
            sent_kilobits("udp_sendmsg", UDP_SEND_BYTES),
        ],
    ),
    DEFAULTS.errors(
        "ip.udp_error",
        "UDP errors",
        21078,
        &[
            DimDef::total("udp_recvmsg", "received", UDP_RECEIVE_ERROR),
            DimDef::total("udp_sendmsg", "sent", UDP_SEND_ERROR),
        ],
    ),
    // The network viewer's: their dimensions are the connections' (KEYED).
    viewer("ebpf.outbound_bytes", "Outbound connections (bytes).", "bytes/s", 21080),
    viewer("ebpf.outbound_packets", "Outbound connections (packets)", "packets/s", 21082),
    viewer("ebpf.outbound_retransmit", "Retransmitted packets", "calls/s", 21083),
    viewer("ebpf.inbound_bytes", "Inbound connections (bytes)", "bytes/s", 21084),
    viewer("ebpf.inbound_packets", "Inbound connections (packets)", "packets/s", 21085),
    ChartDef {
        id: "ebpf.connections_untracked",
        look: VIEWER.look(
            "Connections not tracked: the connection table was full",
            21086,
        ),
        mode: ChartMode::WithKeyedMap,
        dims: &[DimDef::total("untracked", "untracked", CONNECTIONS_UNTRACKED)],
    },
];

const VIEWER: Defaults = Defaults {
    units: "connections/s",
    family: "network connections",
    module: "socket",
};

/// A network viewer chart, stacked as the original's.
const fn viewer(id: &'static str, title: &'static str, units: &'static str, priority: u32) -> ChartDef {
    let look = Defaults { units, ..VIEWER }.look(title, priority);
    ChartDef {
        id,
        look: Look {
            kind: ChartKind::Stacked,
            ..look
        },
        mode: ChartMode::Both,
        dims: &[],
    }
}

/// A connection dimension of `chart`, one per key of `keys`: the
/// connections' counter `counter`, sent below the axis (`-1`).
const fn connection_dim(
    chart: &'static str,
    keys: (u64, u64),
    suffix: &'static str,
    counter: u32,
    multiplier: i64,
) -> KeyDim {
    KeyDim {
        chart,
        keys,
        suffix,
        value: DimValue::Total(counter),
        multiplier,
    }
}

/// The network viewer: each outbound connection's bytes and packets each
/// way and its retransmissions, each inbound one's bytes and packets, by
/// the dimension names of spec §2.7 (socket/connections.rs).
const KEYED: Keyed = Keyed {
    map: "socket_connections",
    source: KeySource::Reader {
        entries: connections::entries,
        open: connections::open,
        retire: connections::retirement,
    },
    charts: KeyedCharts::Dims(&{
        use connection_counter::*;
        use connections::{INBOUND_KEYS as IN, OUTBOUND_KEYS as OUT};
        [
            connection_dim("ebpf.outbound_bytes", OUT, "_sent", SENT_BYTES, -1),
            connection_dim("ebpf.outbound_bytes", OUT, "_recv", RECEIVED_BYTES, 1),
            connection_dim("ebpf.outbound_packets", OUT, "_sent", SENDS, -1),
            connection_dim("ebpf.outbound_packets", OUT, "_recv", RECEIVES, 1),
            connection_dim("ebpf.outbound_retransmit", OUT, "", RETRANSMITS, 1),
            connection_dim("ebpf.inbound_bytes", IN, "_sent", SENT_BYTES, -1),
            connection_dim("ebpf.inbound_bytes", IN, "_recv", RECEIVED_BYTES, 1),
            connection_dim("ebpf.inbound_packets", IN, "_sent", SENDS, -1),
            connection_dim("ebpf.inbound_packets", IN, "_recv", RECEIVES, 1),
        ]
    }),
};

/// The look of one view of a per-process chart.
const fn look(
    title: &'static str,
    units: &'static str,
    family: &'static str,
    context: &'static str,
    kind: ChartKind,
    priority: u32,
) -> Look {
    Look {
        title,
        units,
        family,
        context,
        kind,
        priority,
        module: "socket",
    }
}

/// The names of one per-process chart: its id, its titles (apps; cgroup
/// and services), units, the context after `cgroup.`/`services.`, the
/// cgroup chart's dimension, and its apps, services and cgroup priorities
/// (the original orders apps and services differently).
struct Names {
    id: &'static str,
    apps_title: &'static str,
    title: &'static str,
    units: &'static str,
    contexts: (&'static str, &'static str),
    dim: (&'static str, &'static str),
    priorities: (u32, u32, u32),
}

const fn view(id: &'static str, look: Look) -> View {
    View {
        id,
        look,
        incremental: true,
    }
}

const fn per_process(counter: u32, plus: Option<u32>, names: Names) -> ProcessChart {
    let (apps, services, cgroup) = names.priorities;
    let kilobits = plus.is_some();
    ProcessChart {
        counter,
        plus,
        derived: None,
        multiplier: if kilobits { 8 } else { 1 },
        divisor: if kilobits { 1000 } else { 1 },
        mode: ChartMode::Both,
        apps: view(
            names.id,
            look(names.apps_title, names.units, "net", "", ChartKind::Stacked, apps),
        ),
        cgroup: (
            view(
                names.id,
                look(
                    names.title,
                    names.units,
                    "network (eBPF)",
                    names.contexts.0,
                    ChartKind::Line,
                    cgroup,
                ),
            ),
            names.dim,
        ),
        services: view(
            names.id,
            look(
                names.title,
                names.units,
                "net",
                names.contexts.1,
                ChartKind::Stacked,
                services,
            ),
        ),
    }
}

macro_rules! names {
    ($id:literal, $apps_title:literal, $title:literal, $units:literal, $context:literal,
     $dim:expr, $priorities:expr) => {
        Names {
            id: $id,
            apps_title: $apps_title,
            title: $title,
            units: $units,
            contexts: (concat!("cgroup.", $context), concat!("services.", $context)),
            dim: $dim,
            priorities: $priorities,
        }
    };
}

/// The apps, cgroup and services charts (spec §2.7). Bytes are the TCP and
/// UDP bytes together, as the original's per-process counters are.
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        per_process(
            CONNECT_V4,
            None,
            names!(
                "outbound_conn_v4",
                "Calls to tcp_v4_connection",
                "Calls to tcp_v4_connection",
                "connections/s",
                "net_conn_ipv4",
                ("tcp_connect_v4", "connected_V4"),
                (20080, 20080, 45300)
            ),
        ),
        per_process(
            CONNECT_V6,
            None,
            names!(
                "outbound_conn_v6",
                "Calls to tcp_v6_connection",
                "Calls to tcp_v6_connection",
                "connections/s",
                "net_conn_ipv6",
                ("tcp_connect_v6", "connected_V6"),
                (20081, 20081, 45301)
            ),
        ),
        per_process(
            TCP_RECEIVE_BYTES,
            Some(UDP_RECEIVE_BYTES),
            names!(
                "total_bandwidth_recv",
                "bytes received",
                "Bytes received",
                "kilobits/s",
                "net_bytes_recv",
                ("received", "received"),
                (20083, 20082, 45302)
            ),
        ),
        per_process(
            TCP_SEND_BYTES,
            Some(UDP_SEND_BYTES),
            names!(
                "total_bandwidth_sent",
                "Bytes sent",
                "Bytes sent",
                "kilobits/s",
                "net_bytes_send",
                ("sent", "sent"),
                (20082, 20083, 45303)
            ),
        ),
        per_process(
            TCP_RECEIVE,
            None,
            names!(
                "bandwidth_tcp_recv",
                "Calls for tcp_cleanup_rbuf",
                "Calls to tcp_cleanup_rbuf.",
                "calls/s",
                "net_tcp_recv",
                ("tcp_cleanup_rbuf", "received"),
                (20085, 20084, 45304)
            ),
        ),
        per_process(
            TCP_SEND,
            None,
            names!(
                "bandwidth_tcp_send",
                "Calls for tcp_sendmsg",
                "Calls to tcp_sendmsg.",
                "calls/s",
                "net_tcp_send",
                ("tcp_sendmsg", "sent"),
                (20084, 20085, 45305)
            ),
        ),
        per_process(
            TCP_RETRANSMIT,
            None,
            names!(
                "bandwidth_tcp_retransmit",
                "Calls for tcp_retransmit",
                "Calls to tcp_retransmit.",
                "calls/s",
                "net_retransmit",
                ("tcp_retransmit_skb", "retransmitted"),
                (20086, 20086, 45306)
            ),
        ),
        per_process(
            UDP_SEND,
            None,
            names!(
                "bandwidth_udp_send",
                "Calls for udp_sendmsg",
                "Calls to udp_sendmsg",
                "calls/s",
                "net_udp_send",
                ("udp_sendmsg", "sent"),
                (20087, 20087, 45307)
            ),
        ),
        per_process(
            UDP_RECEIVE,
            None,
            names!(
                "bandwidth_udp_recv",
                "Calls for udp_recvmsg",
                "Calls to udp_recvmsg",
                "calls/s",
                "net_udp_recv",
                ("udp_recvmsg", "received"),
                (20088, 20088, 45308)
            ),
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

/// The process of each TCP socket, in the probe variant (the others keep
/// it in the socket's own storage), and of each listener (tracepoint
/// variant), with the per-process table on or `--pid` (socket.bpf.c
/// `socket_owners`, `socket_listeners`): the events of a socket beyond
/// them still count in total without --pid, not per process.
const OWNERS: (&str, u32, Needed) = ("socket_owners", 16384, Needed::Attribution);
const LISTENERS: (&str, u32, Needed) = ("socket_listeners", 1024, Needed::Attribution);
/// Sends and receives in flight, for the kretprobes (`socket_calls`).
const CALLS_IN_FLIGHT: (&str, u32, Needed) = ("socket_calls", 16384, Needed::Always);
/// Retransmissions in flight, by the task they run in (one per CPU at a
/// time, but tasks come and go).
const RETRANSMITS_IN_FLIGHT: (&str, u32, Needed) = ("socket_retransmits", 1024, Needed::Always);

/// A send or receive function's programs: on its return.
macro_rules! io {
    ($kind:ident, $name:literal, $function:literal) => {
        io!(@ $kind, concat!("socket_", $name), $function)
    };
    (@ Trampoline, $stem:expr, $function:literal) => {
        (concat!($stem, "_fexit"), Hook::FExit(&[$function]), Needed::Always)
    };
    (@ Probe, $stem:expr, $function:literal) => {
        (concat!($stem, "_kretprobe"), Hook::KProbe(&[$function]), Needed::Always)
    };
}

/// The same program set, of the trampoline or the probe variant (whose
/// kretprobes also need a kprobe on entry).
macro_rules! functions {
    ($kind:ident, $entry:literal, $exit:literal, $($extra:expr),*) => {
        &[
            $($extra,)*
            io!($kind, "tcp_sendmsg", "tcp_sendmsg"),
            io!($kind, "tcp_recvmsg", "tcp_recvmsg"),
            io!($kind, "udp_sendmsg", "udp_sendmsg"),
            io!($kind, "udpv6_sendmsg", "udpv6_sendmsg"),
            io!($kind, "udp_recvmsg", "udp_recvmsg"),
            io!($kind, "udpv6_recvmsg", "udpv6_recvmsg"),
            (
                concat!("socket_tcp_v4_connect_", $entry),
                entry_hook!($kind, "tcp_v4_connect"),
                Needed::Always,
            ),
            (
                concat!("socket_tcp_v6_connect_", $entry),
                entry_hook!($kind, "tcp_v6_connect"),
                Needed::Always,
            ),
            (
                concat!("socket_accept_", $exit),
                exit_hook!($kind, "inet_csk_accept"),
                Needed::Always,
            ),
            (
                concat!("socket_tcp_close_", $entry),
                entry_hook!($kind, "tcp_close"),
                Needed::Always,
            ),
        ]
    };
}

macro_rules! entry_hook {
    (Trampoline, $function:literal) => {
        Hook::FEntry(&[$function])
    };
    (Probe, $function:literal) => {
        Hook::KProbe(&[$function])
    };
}

macro_rules! exit_hook {
    (Trampoline, $function:literal) => {
        Hook::FExit(&[$function])
    };
    (Probe, $function:literal) => {
        Hook::KProbe(&[$function])
    };
}

const TRAMPOLINE: &[(&str, Hook, Needed)] = functions!(
    Trampoline,
    "fentry",
    "fexit",
    (
        "socket_retransmit_fexit",
        Hook::FExit(&["tcp_retransmit_skb"]),
        Needed::Always
    )
);

const TRACEPOINT: &[(&str, Hook, Needed)] = &[
    ("socket_send", Hook::BtfTracepoint("sock_send_length"), Needed::Always),
    (
        "socket_receive",
        Hook::BtfTracepoint("sock_recv_length"),
        Needed::Always,
    ),
    (
        "socket_state_change",
        Hook::BtfTracepoint("inet_sock_set_state"),
        Needed::Always,
    ),
    (
        "socket_destroy",
        Hook::BtfTracepoint("tcp_destroy_sock"),
        Needed::Always,
    ),
    (
        "socket_retransmit_tp",
        Hook::BtfTracepoint("tcp_retransmit_skb"),
        Needed::Always,
    ),
];

/// The kprobes that keep a call's socket for its kretprobe.
macro_rules! probe_entry {
    ($name:literal) => {
        (
            concat!("socket_", $name, "_kprobe"),
            Hook::KProbe(&[$name]),
            Needed::Always,
        )
    };
}

const PROBE: &[(&str, Hook, Needed)] = functions!(
    Probe,
    "kprobe",
    "kretprobe",
    probe_entry!("tcp_sendmsg"),
    probe_entry!("tcp_recvmsg"),
    probe_entry!("udp_sendmsg"),
    probe_entry!("udpv6_sendmsg"),
    probe_entry!("udp_recvmsg"),
    probe_entry!("udpv6_recvmsg"),
    (
        "socket_retransmit_kprobe",
        Hook::KProbe(&["tcp_retransmit_skb"]),
        Needed::Always
    ),
    (
        "socket_retransmit_kretprobe",
        Hook::KProbe(&["tcp_retransmit_skb"]),
        Needed::Always
    )
);

const VARIANTS: &[Variant] = &[
    // Trampolines run for TCP and UDP calls only; the length tracepoints
    // for every socket's (unix sockets too).
    Variant::with(VariantKind::Trampoline, TRAMPOLINE),
    Variant::with(VariantKind::Tracepoint, TRACEPOINT).sizing(&[LISTENERS]),
    Variant::with(VariantKind::Probe, PROBE).sizing(&[OWNERS, CALLS_IN_FLIGHT, RETRANSMITS_IN_FLIGHT]),
];

/// `network.conf` (spec §4.4): read and checked. The table sizes are the
/// original's maps' (ours are sized as README.md says); `[network
/// connections]` and `[service name]` configure the network viewer.
const KEYS: &[OwnKey] = &[
    network::TABLE_SIZES[0],
    network::TABLE_SIZES[1],
    network::TABLE_SIZES[2],
    network::TABLE_SIZES[3],
    network::MAXIMUM_DIMENSIONS,
    network::RETIRE_DIMENSIONS_AFTER,
    network::RESOLVE_HOSTNAMES,
    network::RESOLVE_SERVICE_NAMES,
    network::PORTS,
    network::IPS,
    network::HOSTNAMES,
    network::SERVICE_NAMES,
];

pub static THREAD: Thread = Thread {
    name: ThreadName::Socket,
    object: OBJECT,
    charts: CHARTS,
    keyed: Some(KEYED),
    per_process: Some(PER_PROCESS),
    calls: &[],
    variants: VARIANTS,
    keys: KEYS,
};
