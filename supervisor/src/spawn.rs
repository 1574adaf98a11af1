//! Starting one worker process: fork+exec of our own binary as
//! `ebpf-collector worker <thread>`, its ring at fd 3, its config as RON on
//! stdin, its stdout closed (only the supervisor writes the stream).

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use ipc::RingReader;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use workers::runtime::RING_FD;
use workers::WorkerConfig;

/// Large enough for a few frames of every thread's counters.
const RING_CAPACITY: usize = 64 * 1024;

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

/// A live worker process and our end of its ring.
pub struct Worker {
    pub child: Child,
    pub ring: RingReader,
}

impl Worker {
    pub fn spawn(config: &WorkerConfig, generation: u64) -> Result<Worker, SpawnError> {
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
            .stderr(Stdio::inherit());
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
        let mut stdin = child.stdin.take().expect("stdin is piped");
        if let Err(e) = stdin.write_all(input.as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SpawnError::Stdin(e));
        }
        Ok(Worker { child, ring })
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        // The process may already be gone; there is nothing more to do then.
        let _ = kill(self.pid(), signal);
    }
}
