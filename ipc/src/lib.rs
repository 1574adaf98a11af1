//! The supervisor ↔ worker channel: one memfd ring per worker, carrying
//! frames of fixed-size records decoded into messages (see DESIGN.md, "The
//! ring"), and what both ends of it agree on.

mod answer;
mod record;
mod ring;
pub mod schedule;
pub mod tgid;

use std::time::Duration;

pub use answer::{address, ConnectionRow, DIRECTION_INBOUND, DIRECTION_OUTBOUND};
pub use record::{
    name_parts, FrameHeader, Message, Record, RecordError, TableStat, FRAME_CONTINUATION,
    FRAME_MAGIC, KEY_LIMIT, KEY_NAME_PARTS, PID_MAX_LIMIT, PROCESS_NAME_PARTS,
};
pub use ring::{
    create, create_answering, frame_bytes, max_records, Garbled, Pushed, RingError, RingReader,
    RingWriter, LAYOUT_VERSION, MAX_CAPACITY, MIN_CAPACITY, RING_MAGIC,
};

/// Where the supervisor puts a worker's ring.
pub const RING_FD: std::os::fd::RawFd = 3;

/// How often a worker proves it is alive, whatever its update interval.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_millis(100);

/// Exit statuses of a worker, which the supervisor tells apart.
pub mod exit {
    /// Stopped on request.
    pub const STOPPED: i32 = 0;
    /// Something broke at run time: worth a restart.
    pub const FAILED: i32 = 1;
    /// The supervisor started us wrongly: a restart would fail the same way.
    pub const BAD_INVOCATION: i32 = 2;
    /// No variant of this thread can run on this kernel.
    pub const UNSUPPORTED: i32 = 3;
}

/// Whether a process exists (a zombie does): both sides look when the
/// kernel did not say a process ended.
pub fn alive(tgid: u32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(tgid as i32), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}
