//! The ring between two real processes: a forked child writes, the parent
//! reads, as supervisor and worker do.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipc::{create, Message, Pushed, RingWriter};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

const FRAMES: u64 = 20_000;

fn counter(index: u32, total: u64) -> Message {
    Message::Counter { index, total }
}

#[test]
fn a_child_process_writes_frames_the_parent_reads_in_order() {
    let (mut reader, fd) = create(4096, 1).unwrap();
    let child_fd = fd.as_fd().try_clone_to_owned().unwrap();
    // SAFETY: the child only maps the ring, writes into it and _exits.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = match RingWriter::open(child_fd) {
                Ok(mut writer) => {
                    let mut n = 1;
                    while n <= FRAMES {
                        let records = [counter(0, n), counter(1, 2 * n)];
                        match writer.push(0, &records) {
                            Ok(Pushed::Written) => n += 1,
                            Ok(Pushed::Dropped) => std::thread::yield_now(),
                            Err(_) => unsafe { libc_exit(2) },
                        }
                        writer.beat();
                    }
                    0
                }
                Err(_) => 1,
            };
            unsafe { libc_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(child_fd);
            let mut records = Vec::new();
            let mut expected = 1;
            let deadline = Instant::now() + Duration::from_secs(60);
            while expected <= FRAMES {
                assert!(Instant::now() < deadline, "timed out at frame {expected}");
                match reader.next_frame(&mut records).unwrap() {
                    Some(_) => {
                        assert_eq!(records, [counter(0, expected), counter(1, 2 * expected)]);
                        expected += 1;
                    }
                    None => std::thread::yield_now(),
                }
            }
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            assert!(reader.heartbeat() >= FRAMES);
            assert_eq!(reader.next_frame(&mut records).unwrap(), None);
        }
    }
}

/// `_exit` without running the test harness's atexit handlers in the child.
unsafe fn libc_exit(code: i32) -> ! {
    nix::libc::_exit(code)
}
