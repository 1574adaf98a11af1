//! Events of a known kind at will, for the tests and the event-cost
//! benchmark: interrupts (hardirq, softirq) and OOM kills (oomkill).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::cgroup::TestCgroup;
use crate::Workload;

/// Sends `bytes` over a loopback TCP connection; returns how long it took.
pub fn loopback_traffic(bytes: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut buffer = vec![0u8; 1 << 16];
        let mut received = 0;
        while received < bytes {
            let n = peer.read(&mut buffer).unwrap();
            assert!(n > 0, "connection closed early");
            received += n;
        }
    });
    let mut sender = TcpStream::connect(address).unwrap();
    let chunk = vec![7u8; 1 << 16];
    let mut sent = 0;
    while sent < bytes {
        sent += sender
            .write(&chunk[..(bytes - sent).min(chunk.len())])
            .unwrap();
    }
    receiver.join().unwrap();
    start.elapsed()
}

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).unwrap();
    sched_setaffinity(Pid::from_raw(0), &set).unwrap();
}

/// For `duration`, membarriers from CPU 0 while a thread of ours spins on
/// CPU 1: each one is an IPI to CPU 1. Returns how many were made.
pub fn interrupt_the_other_cpu(duration: Duration) -> u64 {
    // SAFETY: membarrier takes two integers and a CPU number.
    let registered = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            0,
            0,
        )
    };
    assert_eq!(
        registered,
        0,
        "membarrier: {}",
        std::io::Error::last_os_error()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            pin(1);
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    let caller = std::thread::spawn(move || {
        pin(0);
        // Let the spinner get onto CPU 1.
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let mut calls = 0;
        while start.elapsed() < duration {
            // SAFETY: as above.
            let done = unsafe {
                libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)
            };
            assert_eq!(done, 0);
            calls += 1;
        }
        calls
    });
    let calls = caller.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    calls
}

/// A memory cgroup `name` small enough (32 MiB) for [`oom_kill`] to be
/// quick; removed on drop.
pub fn oom_cgroup(name: &str) -> TestCgroup {
    TestCgroup::memory_limited(name, OOM_LIMIT)
}

/// [`oom_cgroup`] at the path `id` in the hierarchies (e.g. a systemd
/// service's, `/system.slice/NAME.service`).
pub fn oom_cgroup_at(id: &str) -> TestCgroup {
    TestCgroup::memory_limited_at(id, OOM_LIMIT)
}

/// [`oom_cgroup`] at `id` in the v1 memory hierarchy only
/// ([`TestCgroup::memory_limited_v1_only`]).
pub fn oom_cgroup_v1_only(id: &str) -> Option<TestCgroup> {
    TestCgroup::memory_limited_v1_only(id, OOM_LIMIT)
}

const OOM_LIMIT: u64 = 32 << 20;

/// One OOM kill: a workload (with process name `comm`, when given) in
/// `cgroup` ([`oom_cgroup`]) allocates until the kernel's OOM killer kills
/// it. Nothing outside the cgroup is touched.
pub fn oom_kill(cgroup: &TestCgroup, comm: Option<&str>) {
    // At most 256 MiB: without the limit it would give up, not harm.
    Workload::spawn_in("oom", 256, comm, &cgroup.dirs).run_until_killed();
}
