//! Answers to the supervisor's requests for a worker's live table (today
//! the network viewer's connections, for the Netdata Function
//! `network-connections`): a fixed-size row type, written by the worker
//! into its ring's answer area (DESIGN.md, "Functions").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytemuck::{Pod, Zeroable};

/// One live TCP connection as the worker read it from the kernel.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ConnectionRow {
    /// IPv4 addresses in the first 4 bytes.
    pub local: [u8; 16],
    pub remote: [u8; 16],
    pub local_port: u16,
    pub remote_port: u16,
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// The kernel's TCP state (`TCP_ESTABLISHED` is 1); 0 not seen yet.
    pub state: u8,
    /// [`DIRECTION_OUTBOUND`], [`DIRECTION_INBOUND`] or 0 (unknown: older
    /// than the collector, and no listener on its local port).
    pub direction: u8,
    pub unused: u8,
    /// The process that made or first used it; 0 unknown.
    pub tgid: u32,
    pub unused2: u32,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sends: u64,
    pub receives: u64,
    pub retransmits: u64,
}
const _: () = assert!(std::mem::size_of::<ConnectionRow>() == 88);

pub const DIRECTION_OUTBOUND: u8 = 1;
pub const DIRECTION_INBOUND: u8 = 2;

/// An address as socket.bpf.c keeps it: IPv4 (`family` `AF_INET`) in the
/// first 4 bytes, else IPv6, an IPv4 peer of an IPv6 socket as IPv4.
pub fn address(family: u8, bytes: &[u8; 16]) -> IpAddr {
    if i32::from(family) == nix::libc::AF_INET {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        let v6 = Ipv6Addr::from(*bytes);
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    }
}
