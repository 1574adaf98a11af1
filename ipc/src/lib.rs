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

/// How often a worker proves it is alive, whatever its update interval,
/// when the supervisor kills it after `timeout` without a beat: a quarter
/// of that, and at most once a second, since every wake-up of every
/// worker costs an idle machine (BENCHMARKS.md, "Userspace CPU at idle").
pub fn heartbeat_period(timeout: Duration) -> Duration {
    (timeout / 4).min(Duration::from_secs(1))
}

/// How often a worker beats while it does something that may take long
/// (attaching, releasing its links), and sends the per-process messages
/// that did not fit into the ring: soon enough that the supervisor,
/// which kills a stopping worker silent for 500 ms, never mistakes it.
pub const BUSY_BEAT: Duration = Duration::from_millis(100);

/// Tells a worker that the supervisor wrote a request into its ring.
pub const REQUEST_SIGNAL: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGUSR1;

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
