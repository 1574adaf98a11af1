//! The worker process (`ebpf-collector worker <thread>`): attach one thread,
//! then once per tick read its maps and write a frame into the ring at fd 3,
//! beating the heartbeat in between.

use std::io::Read;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use conf::ThreadName;
use std::sync::mpsc::RecvTimeoutError;

use ipc::{exit, schedule, Message, Pushed, RingError, RingWriter, BUSY_BEAT, RING_FD};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::resource::{setrlimit, Resource, RLIM_INFINITY};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::time::TimeSpec;
use tracing::{debug, error, info, warn};

use crate::loader::{self, CollectError, Collector};
use crate::privileges::{self, CapSet};
use crate::registry;
use crate::thread::{candidates, Thread, WorkerConfig};

/// Why a worker could not start; a restart would fail the same way.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("PR_SET_PDEATHSIG: {0}")]
    DeathSignal(nix::Error),
    #[error("reading the configuration from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("configuration on stdin is not valid RON: {0}")]
    Config(#[from] ron::error::SpannedError),
    #[error("configuration is for thread `{0}`")]
    OtherThread(ThreadName),
    #[error("the supervisor is gone")]
    Orphan,
    #[error("no ring at fd {RING_FD}: {0}")]
    NoRing(nix::Error),
    #[error("ring at fd {RING_FD}: {0}")]
    Ring(RingError),
}

/// What ends a running worker.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error("cannot write to the ring: {0}")]
    Ring(#[from] RingError),
}

/// Runs a worker to its end and returns its exit status.
pub fn run(thread_name: &str) -> i32 {
    let Some(thread) = thread_name
        .parse::<ThreadName>()
        .ok()
        .and_then(registry::find)
    else {
        error!("worker: unknown thread `{thread_name}`");
        return exit::BAD_INVOCATION;
    };
    // The supervisor prefixes our stderr lines with the thread's name.
    // Exec'd as /proc/self/exe, which names us "exe" in ps and top.
    if let Err(e) = nix::sys::prctl::set_name(c"ebpf-collector") {
        warn!("cannot set the process name: {e}");
    }
    let (cfg, ring) = match setup(thread) {
        Ok(ready) => ready,
        Err(e) => {
            error!("{e}");
            return exit::BAD_INVOCATION;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop)) {
        error!("cannot handle SIGTERM: {e}");
        return exit::FAILED;
    }
    let alarm = match Alarm::new() {
        Ok(alarm) => alarm,
        Err(e) => {
            error!("cannot handle SIGTERM and {}: {e}", ipc::REQUEST_SIGNAL);
            return exit::FAILED;
        }
    };
    // Ctrl-C reaches the whole process group; the supervisor decides.
    // SAFETY: installing SIG_IGN has no handler to be unsafe in.
    let _ = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) };
    if let Err(e) = raise_memlock() {
        // Only kernels before 5.11 need it; there a map load will fail and say so.
        tracing::debug!("cannot raise RLIMIT_MEMLOCK: {e}");
    }
    let Some((variant, mut collector)) = attach_beating(thread, &cfg, &ring) else {
        return exit::UNSUPPORTED;
    };
    // The kernel's BTF, parsed to load the object, is freed by now: most of
    // a worker's heap (15 MB of its 20 MB PSS, measured by
    // `scripts/bench-apps`). glibc keeps freed memory unless told.
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe { libc::malloc_trim(0) };
    let undelivered = match drop_privileges(&mut collector) {
        Ok((kept, undelivered)) => {
            debug!("attached; capabilities kept: {kept}");
            undelivered
        }
        Err(e) => {
            error!("cannot drop capabilities after attaching: {e}");
            return exit::FAILED;
        }
    };
    collect_loop(
        &cfg,
        ring,
        variant,
        (collector, undelivered),
        (&stop, &alarm),
    )
}

/// Sleeps that SIGTERM (stop) and the supervisor's request signal cut
/// short: a worker sleeps up to a second between beats, and must neither
/// make the supervisor wait that long nor miss a signal that came just
/// before it slept (the pipe keeps it).
struct Alarm {
    read: OwnedFd,
}

impl Alarm {
    fn new() -> std::io::Result<Alarm> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, write.try_clone()?)?;
        signal_hook::low_level::pipe::register(ipc::REQUEST_SIGNAL as i32, write)?;
        Ok(Alarm { read })
    }

    /// For `duration`, or until one of the signals came.
    fn sleep(&self, duration: Duration) {
        let mut fds = [PollFd::new(self.read.as_fd(), PollFlags::POLLIN)];
        // EINTR is a wake-up like any other.
        let _ = ppoll(&mut fds, Some(TimeSpec::from_duration(duration)), None);
        let mut drained = [0u8; 64];
        while matches!(nix::unistd::read(&self.read, &mut drained), Ok(n) if n > 0) {}
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK: lift it
/// before attaching.
pub fn raise_memlock() -> nix::Result<()> {
    setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY)
}

fn setup(thread: &Thread) -> Result<(WorkerConfig, RingWriter), SetupError> {
    // Set before exec by the supervisor too, but exec of a setuid binary
    // (the Netdata plugin install) clears it.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(SetupError::DeathSignal)?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(SetupError::Stdin)?;
    let cfg: WorkerConfig = ron::from_str(&input)?;
    if cfg.thread != thread.name {
        return Err(SetupError::OtherThread(cfg.thread));
    }
    if nix::unistd::getppid().as_raw() as u32 != cfg.supervisor {
        return Err(SetupError::Orphan);
    }
    fcntl(
        // SAFETY: only checks that fd 3 is open before we take it.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(RING_FD) },
        FcntlArg::F_GETFD,
    )
    .map_err(SetupError::NoRing)?;
    // SAFETY: fd 3 is open and handed to us by the supervisor, owned by nobody else here.
    let ring =
        RingWriter::open(unsafe { OwnedFd::from_raw_fd(RING_FD) }).map_err(SetupError::Ring)?;
    Ok((cfg, ring))
}

/// [`attach`], beating the heartbeat meanwhile from a thread of its own:
/// attaching may take long (under emulation, filesystem's 40 kprobes took
/// over a minute), and the supervisor must tell a slow attach from a dead
/// worker.
fn attach_beating(
    thread: &Thread,
    cfg: &WorkerConfig,
    ring: &RingWriter,
) -> Option<(u32, Collector)> {
    let (attached, beating) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends as soon as the attach does (the sender is dropped).
            while let Err(RecvTimeoutError::Timeout) = beating.recv_timeout(BUSY_BEAT) {
                ring.beat();
            }
        });
        let result = attach(thread, cfg);
        drop(attached);
        result
    })
}

/// Tries the variants in order; says why each one that failed was rejected.
fn attach(thread: &Thread, cfg: &WorkerConfig) -> Option<(u32, Collector)> {
    let btf = match loader::kernel_btf(cfg) {
        Ok(btf) => btf,
        Err(e) => {
            error!("{e}; no variant can run");
            return None;
        }
    };
    let (candidates, note) = candidates(thread, cfg.settings());
    if let Some(note) = note {
        info!("{note}");
    }
    for (index, variant) in candidates {
        match loader::attach(thread, variant, cfg, &btf) {
            Ok(collector) => {
                info!("attached the {} variant", variant.kind.as_str());
                return Some((index, collector));
            }
            // The next variant may well work: not a warning yet.
            Err(e) => info!("{} variant rejected: {e}", variant.kind.as_str()),
        }
    }
    let missing: Vec<&str> = thread.missing_kinds().iter().map(|k| k.as_str()).collect();
    if missing.is_empty() {
        error!("no allowed variant of this thread can run on this kernel");
    } else {
        error!(
            "no allowed variant of this thread can run on this kernel; it has no {} variant",
            missing.join(" or ")
        );
    }
    None
}

/// Once attached, a worker only reads its maps, which needs at most the
/// capability guarding `bpf()`; it keeps nothing else, and no exec can give
/// anything back. Also what the reading that showed it said only once (a
/// key's name or end), for the first update: that reading is not sent.
fn drop_privileges(collector: &mut Collector) -> std::io::Result<(CapSet, Vec<Message>)> {
    let bpf = privileges::bpf_cap();
    privileges::keep_only(CapSet::of(&[bpf]), false)?;
    privileges::forbid_new_privileges()?;
    let mut reading = Vec::new();
    privileges::drop_if_unneeded(bpf, || collector.collect(&mut reading).is_ok())?;
    Ok((privileges::current()?.1, undelivered(&reading)))
}

fn collect_loop(
    cfg: &WorkerConfig,
    mut ring: RingWriter,
    variant: u32,
    (mut collector, undelivered): (Collector, Vec<Message>),
    (stop, alarm): (&AtomicBool, &Alarm),
) -> i32 {
    let period = Duration::from_secs(cfg.settings().update_every.into());
    let heartbeat = ipc::heartbeat_period(Duration::from_millis(
        cfg.config.supervisor.heartbeat_timeout_ms.into(),
    ));
    let mut sender = Sender {
        messages: Vec::new(),
        undelivered,
    };
    let mut rows = Vec::new();
    let mut answered = 0;
    // The first reading at once (a restarted thread's data comes soon),
    // then each a little before an update (ipc::schedule).
    let mut next_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        ring.beat();
        let tick = Instant::now() >= next_tick;
        let pending = match sender.send(&mut ring, variant, &mut collector, tick) {
            Ok(pending) => pending,
            Err(e) => {
                error!("{e}");
                return exit::FAILED;
            }
        };
        // The supervisor's request for the live table: its signal cut our
        // sleep short.
        let request = ring.request();
        if request != answered {
            if let Err(e) = collector.rows(&mut rows) {
                error!("{e}");
                return exit::FAILED;
            }
            ring.answer(request, &rows);
            answered = request;
        }
        if tick {
            // The next one after now: ticks missed while stopped (SIGSTOP)
            // are skipped, never made up in a burst.
            let update = schedule::next_update(period, SystemTime::now() + schedule::READ_LEAD);
            next_tick = schedule::instant_of(update - schedule::READ_LEAD);
        }
        // Per-process messages that did not fit go as soon as the
        // supervisor made room.
        let beat = if pending { BUSY_BEAT } else { heartbeat };
        alarm.sleep(beat.min(next_tick.saturating_duration_since(Instant::now())));
    }
    info!("stopping");
    ring.stopping();
    std::mem::forget(collector);
    close_links(&ring);
    exit::STOPPED
}

/// A worker's frames.
struct Sender {
    messages: Vec<Message>,
    /// What a reading not sent said only once (names, a key's end), for
    /// the next update: one dropped on a full ring, or the reading before
    /// the first (see [`drop_privileges`]); its counters come again anyway.
    undelivered: Vec<Message>,
}

impl Sender {
    /// On a tick, the update's frame: the counters, then per-process
    /// messages as far as the ring has room. Between ticks, the
    /// per-process messages that did not fit, in continuation frames.
    /// Whether some still wait.
    fn send(
        &mut self,
        ring: &mut RingWriter,
        variant: u32,
        collector: &mut Collector,
        tick: bool,
    ) -> Result<bool, RunError> {
        let messages = &mut self.messages;
        messages.clear();
        if tick {
            messages.append(&mut self.undelivered);
            collector.collect(messages)?;
        }
        let mut flags = 0;
        if let Some(table) = collector.pid_table() {
            if !tick && !table.pending() {
                return Ok(false);
            }
            let budget = ring.free_records().saturating_sub(messages.len());
            table.fill(messages, budget, tick);
            if !tick {
                flags = ipc::FRAME_CONTINUATION;
            }
        } else if !tick {
            return Ok(false);
        }
        // Only an update can be dropped (the ring was full); per-process
        // messages are made only as far as the ring has room.
        if ring.push_flagged(variant, flags, messages)? == Pushed::Dropped {
            self.undelivered = undelivered(messages);
        }
        let pending = collector.pid_table().is_some_and(|table| table.pending());
        // After the frame: the supervisor comes back for the rest soon.
        ring.backlog(pending);
        Ok(pending)
    }
}

/// What of a dropped update the next one must carry: the keys' names and
/// ends, which no update says again. Not per-process messages: made only
/// as far as the ring has room, they are not in a dropped frame, and sent
/// late they would come after later ones (an exit before its deltas).
fn undelivered(dropped: &[Message]) -> Vec<Message> {
    dropped
        .iter()
        .filter(|message| matches!(message, Message::KeyName { .. } | Message::KeyGone { .. }))
        .copied()
        .collect()
}

/// Releases every link of the forgotten collector, beating the heartbeat
/// meanwhile: the supervisor then sees a worker making progress, not one
/// ignoring SIGTERM. Releasing a syscall tracepoint's link (a perf event)
/// waits for RCU grace periods under a kernel-wide mutex: about 35 ms each
/// here, one after the other whoever closes them, 1.3 s for the 38 of all
/// threads in entry mode. Closed from one thread each, the others (BTF
/// tracepoints) overlap.
fn close_links(ring: &RingWriter) {
    let links: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.as_os_str() == "anon_inode:bpf_link")
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    // Every closing thread holds a sender: the receiver learns when the
    // last one is done, and beats meanwhile.
    let (closing, all_closed) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        for fd in links {
            let closing = closing.clone();
            // SAFETY: the collector that owned these fds was forgotten.
            scope.spawn(move || drop((unsafe { OwnedFd::from_raw_fd(fd) }, closing)));
        }
        drop(closing);
        while let Err(RecvTimeoutError::Timeout) = all_closed.recv_timeout(BUSY_BEAT) {
            ring.beat();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_update_leaves_its_keys_names_and_ends_to_the_next() {
        let name = Message::KeyName {
            key: 1,
            part: 0,
            bytes: *b"ext4\0\0\0\0",
        };
        let dropped = [
            Message::Counter { index: 0, total: 5 },
            name,
            Message::Keyed {
                index: 0,
                key: 1,
                total: 9,
            },
            Message::KeyGone { key: 2 },
            Message::Program { id: 7 },
            Message::Exit { tgid: 42 },
        ];
        assert_eq!(undelivered(&dropped), [name, Message::KeyGone { key: 2 }]);
    }
}
