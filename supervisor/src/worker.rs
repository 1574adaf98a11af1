//! A thread's worker process and its life: starting it (fork+exec of our
//! own binary as `ebpf-collector worker <thread>`, its ring at fd 3, its
//! config as RON on stdin, its stdout closed (only the supervisor writes the
//! stream), its stderr a pipe whose lines we forward with the thread's name
//! and keep the last of, for the message that disables a crashing thread),
//! watching it (heartbeat, attach deadline), restarting it with backoff,
//! and stopping it (SIGTERM, then SIGKILL at a deadline), at a reload or
//! at shutdown.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conf::SupervisorSettings;
use ipc::{exit, RingReader, RING_FD};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tracing::{error, info, warn};
use workers::WorkerConfig;

/// Large enough for a few frames of every thread's counters, and for two
/// of the largest possible: disk's 256 devices x 24 buckets (6144 records
/// of 24 bytes). Only the pages written are resident.
pub const RING_CAPACITY: usize = 256 * 1024;
/// For a thread that sends per-process records: 43 000 of them per 100 ms
/// heartbeat (what does not fit waits for the next one).
pub const RING_CAPACITY_PER_PROCESS: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("creating the ring: {0}")]
    Ring(#[from] ipc::RingError),
    #[error("serialising the worker's configuration: {0}")]
    Config(#[from] ron::Error),
    #[error("starting `ebpf-collector worker {thread}`: {source}")]
    Exec {
        thread: String,
        source: std::io::Error,
    },
    #[error("sending the configuration to the worker: {0}")]
    Stdin(std::io::Error),
}

/// How many of a worker's last stderr lines are kept.
const TAIL_LINES: usize = 10;

/// The last lines a thread's workers wrote to stderr, across generations.
#[derive(Debug, Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect()
    }
}

/// A live worker process and our end of its ring.
pub struct Worker {
    pub child: Child,
    pub ring: RingReader,
    stderr: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(
        config: &WorkerConfig,
        generation: u64,
        (capacity, answers): (usize, usize),
        tail: &StderrTail,
    ) -> Result<Worker, SpawnError> {
        let (ring, ring_fd) = ipc::create_answering(capacity, answers, generation)?;
        let input = ron::to_string(config)?;
        // Our own binary, even after an upgrade replaced the file: worker
        // and supervisor must agree on the ring layout.
        let mut command = Command::new("/proc/self/exe");
        command
            .arg0("ebpf-collector")
            .arg("worker")
            .arg(config.thread.key())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let supervisor = nix::unistd::getpid();
        let raw = ring_fd.as_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // Die with the supervisor, even if it is SIGKILLed; and do not
                // outlive a supervisor that died before the prctl.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                    || libc::getppid() != supervisor.as_raw()
                {
                    libc::_exit(127);
                }
                // dup2 onto itself would keep close-on-exec: clear it instead.
                let ok = if raw == RING_FD {
                    libc::fcntl(raw, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(raw, RING_FD) == RING_FD
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = command.spawn().map_err(|source| SpawnError::Exec {
            thread: config.thread.key().to_string(),
            source,
        })?;
        drop::<OwnedFd>(ring_fd);
        let stderr = child
            .stderr
            .take()
            .and_then(|pipe| forward(config.thread.key(), pipe, tail.clone()));
        let mut stdin = child.stdin.take().expect("stdin is piped");
        if let Err(e) = stdin.write_all(input.as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SpawnError::Stdin(e));
        }
        Ok(Worker {
            child,
            ring,
            stderr,
        })
    }

    /// After the worker exited: lets its last stderr lines reach the tail.
    /// Its end of the pipe closed when it died, so the forwarding thread
    /// ends at once; the wait is bounded all the same, because the loop
    /// that calls this must never stall on one worker.
    pub fn finish_stderr(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(100);
        while self.stderr.as_ref().is_some_and(|t| !t.is_finished()) {
            if Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(thread) = self.stderr.take() {
            let _ = thread.join();
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        // The process may already be gone; there is nothing more to do then.
        let _ = kill(self.pid(), signal);
    }
}

/// Copies the worker's stderr lines to ours, prefixed with the thread's
/// name, from a thread of its own: a worker that floods its stderr or stops
/// mid-line never holds up the supervisor.
fn forward(thread: &'static str, pipe: ChildStderr, tail: StderrTail) -> Option<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("stderr-{thread}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buffer = Vec::new();
            while matches!(reader.read_until(b'\n', &mut buffer), Ok(n) if n > 0) {
                let line = String::from_utf8_lossy(&buffer);
                let line = line.trim();
                if !line.is_empty() {
                    let _ = writeln!(std::io::stderr().lock(), "{thread}: {line}");
                    tail.push(line.to_string());
                }
                buffer.clear();
            }
        })
        .ok()
}

/// A worker attaching (it beats from a thread of its own meanwhile,
/// however long the kernel takes) whose heartbeat stopped this long is
/// killed: a worker that is gone, or hung before it could beat.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
/// A worker that has not said it is stopping this long after SIGTERM, or
/// whose heartbeat stopped for this long while it was, gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(500);
/// However it beats, a worker still there this long after SIGTERM gets
/// SIGKILL.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A worker told to stop: it says so in its ring and beats its heartbeat
/// while it releases its links (the kernel takes its time over each);
/// SIGKILLed if it does not say so, once it stops beating for
/// [`STOP_GRACE`], or at [`STOP_LIMIT`].
pub struct Stopping {
    worker: Worker,
    since: Instant,
    beat: u64,
    deadline: Instant,
    killed: bool,
}

impl Stopping {
    /// SIGTERM now.
    pub fn new(worker: Worker, now: Instant) -> Stopping {
        worker.signal(Signal::SIGTERM);
        Stopping {
            beat: worker.ring.heartbeat(),
            worker,
            since: now,
            deadline: now + STOP_GRACE,
            killed: false,
        }
    }

    /// Whether it is gone (reaped); past the deadline it gets SIGKILL.
    pub fn gone(&mut self, now: Instant) -> bool {
        if matches!(self.worker.child.try_wait(), Ok(Some(_))) {
            self.worker.finish_stderr();
            return true;
        }
        if self.killed || now < self.deadline {
            return false;
        }
        let beat = self.worker.ring.heartbeat();
        let progress = self.worker.ring.stopping() && beat != self.beat;
        if progress && now < self.since + STOP_LIMIT {
            // Still stopping.
            (self.beat, self.deadline) = (beat, now + STOP_GRACE);
            return false;
        }
        warn!(
            "worker {} did not stop {} ms after SIGTERM; killing it",
            self.worker.pid(),
            (now - self.since).as_millis()
        );
        self.worker.signal(Signal::SIGKILL);
        self.killed = true;
        false
    }
}

/// Stops every worker of `stopping`: SIGTERM was sent, then waits until
/// each is gone (SIGKILL past its deadline).
pub fn stop_all(mut stopping: Vec<Stopping>) {
    loop {
        let now = Instant::now();
        stopping.retain_mut(|s| !s.gone(now));
        if stopping.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

enum State {
    Running {
        worker: Worker,
        started: Instant,
        attached: bool,
        beat: u64,
        beat_seen: Instant,
        /// We sent SIGKILL (garbage, watchdog) and wait for the death.
        killed: bool,
    },
    Waiting {
        until: Instant,
    },
    /// Will not be restarted until a reload: this thread cannot run here,
    /// or it crashed too often.
    Disabled,
    /// Disabled by a reloaded configuration.
    Off,
}

/// Where a thread's worker stands, as the plugin's own charts show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Running,
    Disabled,
    Off,
}

/// One thread's worker through its generations: the restart policy, the
/// watchdog, and what its deaths cost.
pub struct Life {
    name: &'static str,
    state: State,
    generation: u64,
    /// Deaths inside the crash window, oldest first.
    deaths: VecDeque<Instant>,
    restarts: u64,
    /// Since when no worker has been attached, after a death or a
    /// configuration restart.
    gap_since: Option<Instant>,
    gap: Duration,
    /// Frames dropped by dead generations, and by the current one.
    dropped_base: u64,
    dropped: u64,
    /// The attach variant the current worker's frames report.
    variant: Option<u32>,
    tail: StderrTail,
}

impl Life {
    /// A worker to start at once.
    pub fn new(name: &'static str, now: Instant) -> Life {
        Life {
            name,
            state: State::Waiting { until: now },
            generation: 0,
            deaths: VecDeque::new(),
            restarts: 0,
            gap_since: None,
            gap: Duration::ZERO,
            dropped_base: 0,
            dropped: 0,
            variant: None,
            tail: StderrTail::default(),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.state {
            State::Running { attached: true, .. } => Phase::Running,
            State::Running { .. } | State::Waiting { .. } => Phase::Starting,
            State::Disabled => Phase::Disabled,
            State::Off => Phase::Off,
        }
    }

    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    pub fn dropped_frames(&self) -> u64 {
        self.dropped_base + self.dropped
    }

    pub fn variant(&self) -> Option<u32> {
        self.variant
    }

    /// Time without an attached worker after deaths, until `now`.
    pub fn gap(&self, now: Instant) -> Duration {
        self.gap + self.gap_since.map_or(Duration::ZERO, |since| now - since)
    }

    /// Starts the worker when it is due, with a ring of `capacity` bytes
    /// and an answer area of `answers` rows.
    pub fn start_if_due(
        &mut self,
        now: Instant,
        policy: &SupervisorSettings,
        config: &WorkerConfig,
        capacity: (usize, usize),
    ) {
        if !matches!(self.state, State::Waiting { until } if now >= until) {
            return;
        }
        self.generation += 1;
        match Worker::spawn(config, self.generation, capacity, &self.tail) {
            Ok(worker) => {
                self.state = State::Running {
                    worker,
                    started: now,
                    attached: false,
                    beat: 0,
                    beat_seen: now,
                    killed: false,
                }
            }
            Err(e) => {
                error!("{}: {e}", self.name);
                self.died(now, policy);
            }
        }
    }

    /// The ring of a running worker not being killed: to be drained.
    pub fn ring(&mut self) -> Option<&mut RingReader> {
        match &mut self.state {
            State::Running {
                worker,
                killed: false,
                ..
            } => Some(&mut worker.ring),
            _ => None,
        }
    }

    /// Asks the running worker for its live table and wakes it to answer
    /// (once attached: before, it has no handler for the signal yet, and
    /// it reads the request when its loop starts). The worker's generation
    /// and the request's number.
    pub fn ask(&mut self) -> Option<(u64, u64)> {
        let State::Running {
            worker,
            attached,
            killed: false,
            ..
        } = &self.state
        else {
            return None;
        };
        let asked = (worker.ring.generation(), worker.ring.ask());
        if *attached {
            worker.signal(ipc::REQUEST_SIGNAL);
        }
        Some(asked)
    }

    /// When it must be looked at again, at the latest: its restart when it
    /// waits for one; soon while it is starting or being killed (its first
    /// frames, its death), or while its ring is behind (per-process
    /// messages that did not fit wait for room); when its heartbeat would
    /// be overdue while it runs. Its death wakes the supervisor too
    /// (SIGCHLD).
    pub fn wake(&self, policy: &SupervisorSettings, soon: Instant) -> Option<Instant> {
        match &self.state {
            State::Waiting { until } => Some(*until),
            State::Running {
                attached: true,
                killed: false,
                worker,
                ..
            } if worker.ring.behind() => Some(soon),
            State::Running {
                attached: true,
                killed: false,
                beat_seen,
                ..
            } => Some(*beat_seen + Duration::from_millis(policy.heartbeat_timeout_ms.into())),
            State::Running { .. } => Some(soon),
            State::Disabled | State::Off => None,
        }
    }

    /// A drain brought frames of `variant`: the worker is attached.
    pub fn attached(&mut self, variant: Option<u32>, now: Instant) {
        if let State::Running { attached, .. } = &mut self.state {
            *attached = true;
        }
        self.variant = variant;
        if let Some(since) = self.gap_since.take() {
            self.gap += now - since;
        }
    }

    /// The worker wrote garbage: it is killed.
    pub fn garbage(&mut self, why: &dyn std::fmt::Display) {
        if let State::Running { worker, killed, .. } = &mut self.state {
            error!("{}: worker wrote garbage ({why}); killing it", self.name);
            worker.signal(Signal::SIGKILL);
            *killed = true;
        }
    }

    /// Watches a running worker and reaps it when it died: `true` when a
    /// generation ended (its counters are done), with the next state set by
    /// the restart policy.
    pub fn watch(&mut self, now: Instant, policy: &SupervisorSettings) -> bool {
        let name = self.name;
        let State::Running {
            worker,
            started,
            attached,
            beat,
            beat_seen,
            killed,
        } = &mut self.state
        else {
            return false;
        };
        if !*killed {
            // Shared memory: a worker could write anything there.
            self.dropped = self.dropped.max(worker.ring.dropped());
            let heartbeat = worker.ring.heartbeat();
            if heartbeat != *beat {
                *beat = heartbeat;
                *beat_seen = now;
            }
            let timeout = Duration::from_millis(policy.heartbeat_timeout_ms.into());
            let stuck = now - *beat_seen > if *attached { timeout } else { ATTACH_TIMEOUT };
            if stuck {
                warn!(
                    "{name}: worker stopped responding (no heartbeat for {:?}); killing it",
                    now - *beat_seen
                );
                worker.signal(Signal::SIGKILL);
                *killed = true;
            }
        }
        let status = match worker.child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => return false,
            Err(e) => {
                error!("{name}: cannot wait for the worker: {e}");
                return false;
            }
        };
        worker.finish_stderr();
        let ran = now - *started;
        self.end_generation();
        match status.code() {
            Some(exit::UNSUPPORTED) => {
                error!("{name}: cannot run on this system (see above); thread disabled");
                self.disable(now);
            }
            Some(exit::BAD_INVOCATION) => {
                error!("{name}: the worker refused its start-up input; thread disabled");
                self.disable(now);
            }
            _ => {
                warn!("{name}: worker ended ({status}) after {ran:?}");
                self.died(now, policy);
            }
        }
        true
    }

    /// A worker died unasked: restart it after a delay that doubles with
    /// each death inside the crash window, or give up on the thread when
    /// there were too many.
    fn died(&mut self, now: Instant, policy: &SupervisorSettings) {
        self.gap_since.get_or_insert(now);
        self.restarts += 1;
        let window = Duration::from_secs(policy.crash_window.into());
        self.deaths.push_back(now);
        while self.deaths.front().is_some_and(|t| now - *t > window) {
            self.deaths.pop_front();
        }
        let deaths = self.deaths.len() as u32;
        if policy.crash_limit > 0 && deaths >= policy.crash_limit {
            let lines = self.tail.lines();
            error!(
                "{}: its worker died {deaths} times within {window:?}; thread disabled \
                 until a reload (SIGHUP). The worker's last stderr lines:{}",
                self.name,
                lines
                    .iter()
                    .map(|line| format!("\n  | {line}"))
                    .collect::<String>()
            );
            self.disable(now);
            return;
        }
        let delay = Duration::from_millis(policy.restart_delay_ms.into())
            .saturating_mul(1 << (deaths - 1).min(20))
            .min(Duration::from_millis(policy.restart_delay_max_ms.into()));
        info!("{}: restarting in {delay:?}", self.name);
        self.state = State::Waiting { until: now + delay };
    }

    fn end_generation(&mut self) {
        self.dropped_base += std::mem::take(&mut self.dropped);
        self.variant = None;
    }

    fn disable(&mut self, now: Instant) {
        self.close_gap(now);
        self.state = State::Disabled;
    }

    /// No worker is coming: the time without one stops counting.
    fn close_gap(&mut self, now: Instant) {
        if let Some(since) = self.gap_since.take() {
            self.gap += now - since;
        }
    }

    /// Stops the worker for a reload: `off` (the thread was disabled) or to
    /// be started again at once (its configuration changed). The worker, if
    /// there was one, is returned to be stopped; its generation ended.
    pub fn stop_for_reload(&mut self, now: Instant, off: bool) -> Option<Worker> {
        let next = if off {
            State::Off
        } else {
            State::Waiting { until: now }
        };
        let worker = match std::mem::replace(&mut self.state, next) {
            State::Running { worker, .. } => Some(worker),
            _ => None,
        };
        if worker.is_some() {
            self.end_generation();
            self.gap_since.get_or_insert(now);
        }
        if off {
            self.close_gap(now);
        }
        self.deaths.clear();
        worker
    }

    /// A reload gives a thread disabled before a new chance.
    pub fn retry_if_disabled(&mut self, now: Instant) {
        if matches!(self.state, State::Disabled) {
            info!("{}: disabled before; trying again", self.name);
            self.deaths.clear();
            self.state = State::Waiting { until: now };
        }
    }

    /// Takes the worker out, for shutdown.
    pub fn take_worker(&mut self) -> Option<Worker> {
        match std::mem::replace(&mut self.state, State::Disabled) {
            State::Running { worker, .. } => Some(worker),
            _ => None,
        }
    }
}
