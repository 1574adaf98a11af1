//! Makes an exact, known number of kernel events for the integration tests.
//!
//! `workload SCENARIO N`: prints `ready`, waits for a line on stdin (so the
//! collector can attach with `--pid` first), does the scenario, prints
//! `done` and exits 0. Every count below is for this process and its
//! descendants only. With `WORKLOAD_COMM` set, the process takes that name
//! first (its children and threads inherit it), so that an
//! `apps_groups.conf` pattern picks out this run.

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenario), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: workload process|sync|oom N");
        std::process::exit(2);
    };
    if let Ok(comm) = std::env::var("WORKLOAD_COMM") {
        let comm = std::ffi::CString::new(comm).expect("a name without NUL");
        nix::sys::prctl::set_name(&comm).expect("PR_SET_NAME");
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go).unwrap();
    match scenario.as_str() {
        "process" => process(n),
        "sync" => sync(n),
        "oom" => oom(n),
        other => {
            eprintln!("unknown scenario {other}");
            std::process::exit(2);
        }
    }
    println!("done");
}

/// N processes and N threads started and ended, and N failed process and N
/// failed thread creations.
fn process(n: usize) {
    for _ in 0..n {
        // SAFETY: the child only calls _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => unsafe { libc::_exit(0) },
            ForkResult::Parent { child } => {
                assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            }
        }
    }
    for _ in 0..n {
        std::thread::spawn(|| {}).join().unwrap();
    }
    for flags in [libc::CLONE_SIGHAND, libc::CLONE_THREAD] {
        for _ in 0..n {
            // CLONE_SIGHAND needs CLONE_VM, CLONE_THREAD needs CLONE_SIGHAND:
            // both fail with EINVAL before any task is made.
            // SAFETY: a clone the kernel refuses creates nothing.
            let ret = unsafe { libc::syscall(libc::SYS_clone, flags as libc::c_ulong, 0, 0, 0, 0) };
            assert_eq!(ret, -1);
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EINVAL)
            );
        }
    }
}

/// N calls of each of fsync, fdatasync, msync, sync, syncfs, sync_file_range.
fn sync(n: usize) {
    let path = std::env::temp_dir().join(format!("workload-sync-{}", std::process::id()));
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.write_all(&[1u8; 4096]).unwrap();
    let fd = file.as_raw_fd();
    // SAFETY: a shared mapping of the 4096 bytes just written, unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    // SAFETY: plain syscalls on our own file and mapping.
    unsafe {
        for _ in 0..n {
            assert_eq!(libc::fsync(fd), 0);
            assert_eq!(libc::fdatasync(fd), 0);
            assert_eq!(libc::msync(map, 4096, libc::MS_SYNC), 0);
            libc::sync();
            assert_eq!(libc::syncfs(fd), 0);
            assert_eq!(
                libc::sync_file_range(fd, 0, 4096, libc::SYNC_FILE_RANGE_WRITE),
                0
            );
        }
        libc::munmap(map, 4096);
    }
    drop(file);
    std::fs::remove_file(path).unwrap();
}

/// Allocates and touches memory, 1 MiB at a time, until the kernel's OOM
/// killer (of a memory-limited cgroup) kills it; gives up with status 3
/// after N MiB, so that a cgroup without a limit harms nothing.
fn oom(n: usize) {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..n {
        chunks.push(vec![1u8; 1 << 20]);
    }
    eprintln!("workload: {n} MiB allocated and not killed");
    std::process::exit(3);
}
