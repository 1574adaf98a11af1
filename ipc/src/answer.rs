//! Answers to the supervisor's requests for a worker's live table (today
//! the network viewer's connections, for the Netdata Function
//! `network-connections`): a fixed-size row type, written by the worker
//! into its ring's answer area (DESIGN.md, "Functions").

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
