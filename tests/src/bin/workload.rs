//! Makes an exact, known number of kernel events for the integration tests.
//!
//! `workload SCENARIO[,SCENARIO...] N`: prints `ready`, waits for a line on
//! stdin (so the collector can attach with `--pid` first), does each
//! scenario in turn, prints `done` and exits 0. Every count below is for
//! this process and its descendants only; scenarios do not add to each
//! other's counts (sync makes no process, process no sync call).

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenarios), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: workload process|sync[,...] N");
        std::process::exit(2);
    };
    let scenarios: Vec<fn(usize)> = scenarios
        .split(',')
        .map(|scenario| match scenario {
            "process" => process as fn(usize),
            "sync" => sync,
            other => {
                eprintln!("unknown scenario {other}");
                std::process::exit(2);
            }
        })
        .collect();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go).unwrap();
    for scenario in scenarios {
        scenario(n);
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
