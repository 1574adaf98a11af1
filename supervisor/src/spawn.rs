//! Starting one worker process: fork+exec of our own binary as
//! `ebpf-collector worker <thread>`, its ring at fd 3, its config as RON on
//! stdin, its stdout closed (only the supervisor writes the stream), its
//! stderr a pipe whose lines we forward with the thread's name and keep the
//! last of, for the message that disables a crashing thread.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipc::RingReader;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use workers::runtime::RING_FD;
use workers::WorkerConfig;

/// Large enough for a few frames of every thread's counters, and for two
/// of the largest possible: disk's 256 devices x 24 buckets (6144 records
/// of 24 bytes). Only the pages written are resident.
const RING_CAPACITY: usize = 256 * 1024;

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
        tail: &StderrTail,
    ) -> Result<Worker, SpawnError> {
        let (ring, ring_fd) = ipc::create(RING_CAPACITY, generation)?;
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
