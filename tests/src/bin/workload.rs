//! Makes an exact, known number of kernel events for the integration tests.
//!
//! `workload SCENARIO[,SCENARIO...] N`: prepares what the scenarios need,
//! prints `ready`, waits for SIGUSR1 (so the collector can attach with
//! `--pid` first), does each scenario in turn, stops itself with SIGSTOP (so
//! a test can look at its per-process values) and, once continued, exits 0.
//! Between SIGUSR1 and the stop it makes no syscall but the scenarios' own
//! (raw libc calls, no stdio). Every count below is for this process and its
//! descendants; scenarios do not add to each other's counts (sync makes no
//! process, process no sync call).
//! `oom` allocates until killed: it never reaches the stop. `pause` stops
//! the process with SIGSTOP (a test looks, then continues it);
//! `rename=NAME` renames it with `prctl(PR_SET_NAME)`, without exec.
//! `socket`, `connections` and `retransmit` work in a network namespace of
//! their own, on its loopback. `connections` makes N TCP connections to a
//! listener on 127.0.0.1 and N to one on ::1, one message each way on
//! each, and leaves them all open until the process exits. `cachestat=FILE` reads the N pages of FILE (a block
//! device: see tests/cachestat.rs) out of the page cache, reads them
//! again, and dirties them. `swap` needs swap on (tests/swap.rs).
//! `mdflush=DEVICE` writes a page of an md device (see tests/mdflush.rs)
//! and `fdatasync`s it, N times: N flushes the device receives.
//! `filesystem=DIR` opens (and closes) a file of DIR N times, then writes,
//! reads and fsyncs it N times each, one syscall per event.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;

use nix::sys::signal::{raise, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenarios), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!(
            "usage: workload process|sync|fd|vfs|mount|shm|dcstat|swap|cachestat=FILE|mdflush=DEVICE|filesystem=DIR|oom|socket|connections|retransmit[,...] N"
        );
        std::process::exit(2);
    };
    let work: Vec<Box<dyn FnOnce()>> = scenarios
        .split(',')
        .map(|scenario| -> Box<dyn FnOnce()> {
            match scenario {
                "process" => Box::new(move || process(n)),
                "sync" => Box::new(move || sync(n)),
                "fd" => Box::new(move || fd_with_child(n)),
                "vfs" => vfs(n),
                "mount" => mount(n),
                "shm" => Box::new(move || shm(n)),
                "dcstat" => dcstat(n),
                "swap" => swap(n),
                "oom" => Box::new(move || oom(n)),
                "socket" => socket(n),
                "connections" => connections(n),
                "retransmit" => retransmit(),
                "pause" => Box::new(|| raise(Signal::SIGSTOP).unwrap()),
                other if other.starts_with("cachestat=") => {
                    cachestat(&other["cachestat=".len()..], n)
                }
                other if other.starts_with("mdflush=") => mdflush(&other["mdflush=".len()..], n),
                other if other.starts_with("filesystem=") => {
                    filesystem(&other["filesystem=".len()..], n)
                }
                other if other.starts_with("rename=") => {
                    let name = c(&other["rename=".len()..]);
                    Box::new(move || rename(&name))
                }
                other => {
                    eprintln!("unknown scenario {other}");
                    std::process::exit(2);
                }
            }
        })
        .collect();
    let go = SigSet::from(Signal::SIGUSR1);
    go.thread_block().unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    go.wait().unwrap();
    for scenario in work {
        scenario();
    }
    raise(Signal::SIGSTOP).unwrap();
    // SAFETY: ends the process without flushing or closing anything more.
    unsafe { libc::_exit(0) }
}

/// Asserts that a raw call succeeded; returns its result.
fn ok(call: &str, ret: i64) -> i64 {
    assert!(
        ret >= 0,
        "{call} failed: {}",
        std::io::Error::last_os_error()
    );
    ret
}

/// Asserts that a raw call failed with `errno`.
fn fails(call: &str, ret: i64, errno: i32) {
    assert_eq!(
        (ret, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(errno)),
        "{call}"
    );
}

fn c(path: &str) -> CString {
    CString::new(path).unwrap()
}

/// A private mount namespace with a fresh tmpfs on /tmp: the scenario's
/// files and mounts vanish with the process, nothing to clean up.
fn private_tmp() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
    mount_tmpfs(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, "");
    mount_tmpfs(Some("tmpfs"), "/tmp", Some("tmpfs"), 0, "");
}

fn mount_tmpfs(source: Option<&str>, target: &str, fstype: Option<&str>, flags: u64, data: &str) {
    let (source, fstype) = (source.map(c), fstype.map(c));
    let (target, data) = (c(target), c(data));
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: valid C strings or null, as mount(2) accepts.
    let ret = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            data.as_ptr().cast(),
        )
    };
    ok("mount", ret.into());
}

/// The process's new name, as `prctl(PR_SET_NAME)` gives it (its leader's
/// name: the one `/proc/PID/stat` shows).
fn rename(name: &CString) {
    // SAFETY: a NUL-terminated name; the kernel copies at most 15 bytes.
    let ret = unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    ok("prctl(PR_SET_NAME)", ret.into());
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
            fails("clone", ret, libc::EINVAL);
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

/// `fd` in this process, then again in a child that exits: 2N opens of
/// which N fail (a missing file), 2N closes of which N fail (no such fd).
fn fd_with_child(n: usize) {
    fd(n);
    // SAFETY: the child makes raw syscalls only, then calls _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            fd(n);
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
        }
    }
}

fn fd(n: usize) {
    const NOT_OPEN: i32 = 1 << 20;
    for _ in 0..n {
        // SAFETY: plain syscalls on constant paths and our own descriptors.
        unsafe {
            let fd = ok(
                "open /dev/null",
                libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY).into(),
            );
            fails(
                "open of a missing file",
                libc::open(c"/nonexistent/ebpf-collector".as_ptr(), libc::O_RDONLY).into(),
                libc::ENOENT,
            );
            ok("close", libc::close(fd as i32).into());
            fails("close of no fd", libc::close(NOT_OPEN).into(), libc::EBADF);
        }
    }
}

/// In a private tmpfs: N reads of 100 bytes and N readv of 50, N failing
/// reads (write-only fd); N writes of 70 bytes and N writev of 15, N failing
/// writes (read-only fd); N fsync and N failing fsync (a pipe); N opens, N
/// opens that fail inside vfs_open (a FIFO without reader, O_NONBLOCK) and N
/// opens of a missing file (which never reach vfs_open); N creates (mknod of
/// a regular file), N failing creates (a full tmpfs), N unlinks, and N
/// directories removed with unlinkat(AT_REMOVEDIR), which are no unlinks.
fn vfs(n: usize) -> Box<dyn FnOnce()> {
    private_tmp();
    std::fs::write("/tmp/data", vec![7u8; n * 150]).unwrap();
    std::fs::create_dir("/tmp/full").unwrap();
    // Its root directory is its only inode.
    mount_tmpfs(Some("tmpfs"), "/tmp/full", Some("tmpfs"), 0, "nr_inodes=1");
    nix::unistd::mkfifo("/tmp/fifo", nix::sys::stat::Mode::S_IRWXU).unwrap();
    let read_only = std::fs::File::open("/tmp/data").unwrap();
    let write_only = std::fs::File::create("/tmp/out").unwrap();
    let (pipe, _pipe_writer) = nix::unistd::pipe().unwrap();
    let created: Vec<CString> = (0..n).map(|i| c(&format!("/tmp/created-{i}"))).collect();
    let refused: Vec<CString> = (0..n).map(|i| c(&format!("/tmp/full/{i}"))).collect();
    let directories: Vec<CString> = (0..n).map(|i| c(&format!("/tmp/directory-{i}"))).collect();
    for directory in &directories {
        std::fs::create_dir(directory.to_str().unwrap()).unwrap();
    }
    Box::new(move || {
        let (rfd, wfd) = (read_only.as_raw_fd(), write_only.as_raw_fd());
        let mut buffer = [0u8; 100];
        let mut halves = [0u8; 50];
        let (first, second) = halves.split_at_mut(30);
        let read_iov = [
            libc::iovec {
                iov_base: first.as_mut_ptr().cast(),
                iov_len: 30,
            },
            libc::iovec {
                iov_base: second.as_mut_ptr().cast(),
                iov_len: 20,
            },
        ];
        let write_iov = [
            libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: 10,
            },
            libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: 5,
            },
        ];
        let mode = libc::S_IFREG | 0o600;
        // SAFETY: plain syscalls on our own descriptors, buffers and C strings.
        unsafe {
            for i in 0..n {
                let buf = buffer.as_mut_ptr().cast();
                assert_eq!(ok("read", libc::read(rfd, buf, 100) as i64), 100);
                assert_eq!(
                    ok("readv", libc::readv(rfd, read_iov.as_ptr(), 2) as i64),
                    50
                );
                fails(
                    "read of a write-only fd",
                    libc::read(wfd, buf, 1) as i64,
                    libc::EBADF,
                );
                assert_eq!(ok("write", libc::write(wfd, buf, 70) as i64), 70);
                assert_eq!(
                    ok("writev", libc::writev(wfd, write_iov.as_ptr(), 2) as i64),
                    15
                );
                fails(
                    "write to a read-only fd",
                    libc::write(rfd, buf, 1) as i64,
                    libc::EBADF,
                );
                ok("fsync", libc::fsync(wfd).into());
                fails(
                    "fsync of a pipe",
                    libc::fsync(pipe.as_raw_fd()).into(),
                    libc::EINVAL,
                );
                let fd = ok(
                    "open",
                    libc::open(c"/tmp/data".as_ptr(), libc::O_RDONLY).into(),
                );
                ok("close", libc::close(fd as i32).into());
                fails(
                    "open of a FIFO without reader",
                    libc::open(c"/tmp/fifo".as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK).into(),
                    libc::ENXIO,
                );
                fails(
                    "open of a missing file",
                    libc::open(c"/tmp/missing".as_ptr(), libc::O_RDONLY).into(),
                    libc::ENOENT,
                );
                ok("mknod", libc::mknod(created[i].as_ptr(), mode, 0).into());
                fails(
                    "mknod in a full tmpfs",
                    libc::mknod(refused[i].as_ptr(), mode, 0).into(),
                    libc::ENOSPC,
                );
                ok(
                    "unlinkat",
                    libc::unlinkat(libc::AT_FDCWD, created[i].as_ptr(), 0).into(),
                );
                ok(
                    "unlinkat(AT_REMOVEDIR)",
                    libc::unlinkat(libc::AT_FDCWD, directories[i].as_ptr(), libc::AT_REMOVEDIR)
                        .into(),
                );
            }
        }
    })
}

/// In a private mount namespace: N mounts and umounts of a tmpfs, N mounts
/// that fail (an unknown filesystem type) and N umounts that fail (not a
/// mount point).
fn mount(n: usize) -> Box<dyn FnOnce()> {
    private_tmp();
    std::fs::create_dir("/tmp/mountpoint").unwrap();
    Box::new(move || {
        let target = c"/tmp/mountpoint".as_ptr();
        let none = std::ptr::null();
        // SAFETY: plain syscalls on constant C strings.
        unsafe {
            for _ in 0..n {
                ok(
                    "mount",
                    libc::mount(c"tmpfs".as_ptr(), target, c"tmpfs".as_ptr(), 0, none).into(),
                );
                ok("umount2", libc::umount2(target, 0).into());
                fails(
                    "mount of an unknown filesystem type",
                    libc::mount(c"none".as_ptr(), target, c"no-such-fs".as_ptr(), 0, none).into(),
                    libc::ENODEV,
                );
                fails(
                    "umount2 of no mount point",
                    libc::umount2(target, 0).into(),
                    libc::EINVAL,
                );
            }
        }
    })
}

/// N segments created, attached, detached and removed: N calls of each of
/// shmget, shmat, shmdt and shmctl.
fn shm(n: usize) {
    for _ in 0..n {
        // SAFETY: a private segment, attached, detached and removed here.
        unsafe {
            let id = ok(
                "shmget",
                libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600).into(),
            ) as i32;
            let address = libc::shmat(id, std::ptr::null(), 0);
            assert_ne!(address as isize, -1, "shmat");
            ok("shmdt", libc::shmdt(address).into());
            ok(
                "shmctl",
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()).into(),
            );
        }
    }
}

/// Pages of the `cachestat` scenario.
const PAGE: usize = 4096;

/// A page written to block device `device` then `fdatasync`: the write
/// goes out as plain writes, and the block device's fsync sends one empty
/// REQ_PREFLUSH bio, whatever was written; `n` times.
fn mdflush(device: &str, n: usize) -> Box<dyn FnOnce()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(device)
        .unwrap();
    let page = [1u8; PAGE];
    Box::new(move || {
        let fd = file.as_raw_fd();
        // SAFETY: plain syscalls on our own descriptor and buffer.
        unsafe {
            for i in 0..n {
                let at = (i * PAGE) as libc::off_t;
                let written = libc::pwrite(fd, page.as_ptr().cast(), PAGE, at);
                assert_eq!(ok("pwrite", written as i64), PAGE as i64);
                ok("fdatasync", libc::fdatasync(fd).into());
            }
        }
    })
}

/// A file of directory `dir`, made now: `n` openat (each closed), then
/// `n` pwrite of a page, `n` pread of it and `n` fsync, on one descriptor.
fn filesystem(dir: &str, n: usize) -> Box<dyn FnOnce()> {
    let path = format!("{dir}/workload-file");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let path = c(&path);
    let mut page = vec![1u8; PAGE];
    Box::new(move || {
        let fd = file.as_raw_fd();
        let buf = page.as_mut_ptr().cast();
        // SAFETY: plain syscalls on our own file, descriptors and buffer.
        unsafe {
            for _ in 0..n {
                let opened = libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY);
                ok(
                    "close",
                    libc::close(ok("openat", opened.into()) as i32).into(),
                );
            }
            for _ in 0..n {
                let written = libc::pwrite(fd, buf, PAGE, 0);
                assert_eq!(ok("pwrite", written as i64), PAGE as i64);
            }
            for _ in 0..n {
                let read = libc::pread(fd, buf, PAGE, 0);
                assert_eq!(ok("pread", read as i64), PAGE as i64);
            }
            for _ in 0..n {
                ok("fsync", libc::fsync(fd).into());
            }
        }
        drop(file);
    })
}

/// The page cache of `file` (of `n` pages: a block device's), dropped;
/// then, one page per call (a read is one look-up of the page cache per
/// page): `n` pages read in (misses), read again (hits); all `n` read again
/// in one call (hits: longer than a batch of folios, the kernel looks them
/// up in several); and, one page per call, overwritten (dirtied).
fn cachestat(file: &str, n: usize) -> Box<dyn FnOnce()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let fd = file.as_raw_fd();
    // SAFETY: our own descriptor; mlockall only maps in what we have.
    unsafe {
        let dropped = libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
        assert_eq!(dropped, 0, "posix_fadvise");
        // Our own code and libraries faulted in now: a page fault later is
        // a page cache access too.
        ok("mlockall", libc::mlockall(libc::MCL_CURRENT).into());
    }
    let mut buffer = vec![1u8; PAGE];
    let mut whole = vec![0u8; n * PAGE];
    Box::new(move || {
        let buf = buffer.as_mut_ptr().cast();
        // SAFETY: plain syscalls on our own descriptor and buffer.
        unsafe {
            for _pass in 0..2 {
                for i in 0..n {
                    let at = (i * PAGE) as libc::off_t;
                    assert_eq!(
                        ok("pread", libc::pread(fd, buf, PAGE, at) as i64),
                        PAGE as i64
                    );
                }
            }
            let all = libc::pread(fd, whole.as_mut_ptr().cast(), n * PAGE, 0);
            assert_eq!(ok("pread", all as i64), (n * PAGE) as i64);
            for i in 0..n {
                let at = (i * PAGE) as libc::off_t;
                assert_eq!(
                    ok("pwrite", libc::pwrite(fd, buf, PAGE, at) as i64),
                    PAGE as i64
                );
            }
        }
        drop(file);
    })
}

/// Directory-cache look-ups of one name each, relative to a directory fd
/// on a tmpfs of its own, so that each call looks up exactly one
/// component: N `fstatat` of a cached file (N `lookup_fast()` that find
/// it), N `fstatat` of a missing name (N `lookup_fast()` that do not: the
/// walk asks the filesystem, and tmpfs keeps no negative dentry), N
/// `mkdirat` of the cached file's name (N `d_lookup()` that find it,
/// EEXIST) and N `unlinkat` of the missing name (N `d_lookup()` that find
/// nothing, ENOENT).
fn dcstat(n: usize) -> Box<dyn FnOnce()> {
    private_tmp();
    std::fs::create_dir("/tmp/dc").unwrap();
    std::fs::write("/tmp/dc/cached", b"").unwrap();
    let dir = std::fs::File::open("/tmp/dc").unwrap();
    // Looked up once now: in the cache whatever the file's creation did.
    std::fs::metadata("/tmp/dc/cached").unwrap();
    Box::new(move || {
        let (cached, missing) = (c("cached"), c("missing"));
        let fd = dir.as_raw_fd();
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: plain syscalls on our own directory; `stat` is written only.
        unsafe {
            for _ in 0..n {
                let flags = libc::AT_SYMLINK_NOFOLLOW;
                let ret = libc::fstatat(fd, cached.as_ptr(), stat.as_mut_ptr(), flags);
                ok("fstatat of a cached file", ret.into());
            }
            for _ in 0..n {
                let flags = libc::AT_SYMLINK_NOFOLLOW;
                let ret = libc::fstatat(fd, missing.as_ptr(), stat.as_mut_ptr(), flags);
                fails("fstatat of a missing name", ret.into(), libc::ENOENT);
            }
            for _ in 0..n {
                let ret = libc::mkdirat(fd, cached.as_ptr(), 0o700);
                fails("mkdirat of a cached name", ret.into(), libc::EEXIST);
            }
            for _ in 0..n {
                let ret = libc::unlinkat(fd, missing.as_ptr(), 0);
                fails("unlinkat of a missing name", ret.into(), libc::ENOENT);
            }
        }
        drop(dir);
    })
}

/// N pages of our own written to swap and read back: N anonymous pages
/// (small ones: no huge page, whose swap-out writes it whole), each filled
/// with a non-zero pattern (6.12 keeps zero-filled pages out of swap),
/// pushed out with `madvise(MADV_PAGEOUT)`, which writes them in this
/// process; then each page read again, a fault that reads it back in this
/// process (one page each with `vm.page-cluster` 0: no readahead).
fn swap(n: usize) -> Box<dyn FnOnce()> {
    let bytes = n * PAGE;
    // SAFETY: a new private anonymous mapping, used only through `pages`.
    let pages = unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(at, libc::MAP_FAILED, "mmap");
        ok(
            "madvise(MADV_NOHUGEPAGE)",
            libc::madvise(at, bytes, libc::MADV_NOHUGEPAGE).into(),
        );
        std::slice::from_raw_parts_mut(at.cast::<u8>(), bytes)
    };
    let pattern = |page: usize| (page % 251 + 1) as u8;
    for (page, bytes) in pages.chunks_mut(PAGE).enumerate() {
        bytes.fill(pattern(page));
    }
    Box::new(move || {
        // SAFETY: our own mapping; MADV_PAGEOUT keeps its contents.
        let ret = unsafe { libc::madvise(pages.as_mut_ptr().cast(), bytes, libc::MADV_PAGEOUT) };
        ok("madvise(MADV_PAGEOUT)", ret.into());
        for (page, bytes) in pages.chunks(PAGE).enumerate() {
            // SAFETY: a byte of our mapping. Volatile: the read (the fault
            // that swaps the page in) is the point.
            let first = unsafe { std::ptr::read_volatile(bytes.as_ptr()) };
            assert_eq!(first, pattern(page), "page {page} came back changed");
        }
    })
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

const SOCKET_BYTES: usize = tests::expected::SOCKET_BYTES as usize;

/// In a network namespace of its own (nothing outside is counted, and
/// `/proc/PID/net/snmp` shows the kernel's own counts of it), over IPv4 and
/// IPv6 loopback each: n TCP connections made and accepted, each carrying
/// one message of SOCKET_BYTES each way in one send and one receive, both
/// ends closed; n UDP datagrams each way; one failed TCP send (not
/// connected), one failed TCP receive, one failed UDP send (MSG_OOB), one
/// failed UDP receive (nothing to read); both listeners closed.
fn socket(n: usize) -> Box<dyn FnOnce()> {
    use std::net::{Ipv4Addr, UdpSocket};

    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    loopback_up();
    Box::new(move || {
        let message = [7u8; SOCKET_BYTES];
        for host in LOOPBACKS {
            // Each closed before the next is made.
            tcp_connections(host, n, &message, drop);
            let server = UdpSocket::bind(host).expect("bind UDP");
            let client = UdpSocket::bind(host).expect("bind UDP");
            for _ in 0..n {
                client
                    .send_to(&message, server.local_addr().unwrap())
                    .expect("sendto");
                let (size, from) = server
                    .recv_from(&mut [0u8; SOCKET_BYTES])
                    .expect("recvfrom");
                assert_eq!(size, SOCKET_BYTES);
                server.send_to(&message, from).expect("sendto");
                assert_eq!(
                    client.recv(&mut [0u8; SOCKET_BYTES]).expect("recv"),
                    SOCKET_BYTES
                );
            }
        }
        let unconnected = new_socket(libc::SOCK_STREAM);
        let fd = unconnected.as_raw_fd();
        // SAFETY: a valid socket and buffer of the given length.
        let sent = unsafe { libc::send(fd, message.as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
        fails(
            "send on an unconnected TCP socket",
            sent as i64,
            libc::EPIPE,
        );
        let mut buffer = [0u8; SOCKET_BYTES];
        // SAFETY: as above.
        let got = unsafe { libc::recv(fd, buffer.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) };
        fails(
            "recv on an unconnected TCP socket",
            got as i64,
            libc::ENOTCONN,
        );
        drop(unconnected);
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
        udp.connect(udp.local_addr().unwrap()).expect("connect UDP");
        // SAFETY: as above.
        let oob = unsafe { libc::send(udp.as_raw_fd(), message.as_ptr().cast(), 1, libc::MSG_OOB) };
        fails("send(MSG_OOB) on UDP", oob as i64, libc::EOPNOTSUPP);
        // SAFETY: as above.
        let got = unsafe {
            libc::recv(
                udp.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                1,
                libc::MSG_DONTWAIT,
            )
        };
        fails("recv on an empty UDP socket", got as i64, libc::EAGAIN);
    })
}

fn connections(n: usize) -> Box<dyn FnOnce()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    loopback_up();
    Box::new(move || {
        let message = [7u8; SOCKET_BYTES];
        for host in LOOPBACKS {
            // Open until the process exits.
            tcp_connections(host, n, &message, std::mem::forget);
        }
    })
}

/// IPv4 and IPv6 loopback, any port.
const LOOPBACKS: [std::net::SocketAddr; 2] = [
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0),
    std::net::SocketAddr::new(std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0),
];

/// n TCP connections made to and accepted by a listener on `host` (closed
/// after them), one after the other, each carrying `message` once each
/// way, then handed to `done` as (client, server).
fn tcp_connections(
    host: std::net::SocketAddr,
    n: usize,
    message: &[u8],
    mut done: impl FnMut((std::net::TcpStream, std::net::TcpStream)),
) {
    let listener = std::net::TcpListener::bind(host).expect("listen");
    let to = listener.local_addr().unwrap();
    for _ in 0..n {
        let client = std::net::TcpStream::connect(to).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        exchange(&client, &server, message);
        exchange(&server, &client, message);
        done((client, server));
    }
}

/// One message from `from` to `to`: one send, one receive of all of it.
fn exchange(from: &std::net::TcpStream, to: &std::net::TcpStream, message: &[u8]) {
    use std::io::Write as _;

    (&*from).write_all(message).expect("send");
    let mut buffer = vec![0u8; message.len()];
    // SAFETY: a valid socket and buffer of the given length.
    let got = unsafe {
        libc::recv(
            to.as_raw_fd(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            libc::MSG_WAITALL,
        )
    };
    assert_eq!(ok("recv", got as i64), message.len() as i64);
}

/// A new IPv4 socket of `kind`.
fn new_socket(kind: libc::c_int) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd as _;

    // SAFETY: socket(2) with constant arguments; the fd is new and ours.
    let fd = unsafe { libc::socket(libc::AF_INET, kind, 0) };
    ok("socket", fd.into());
    // SAFETY: as above.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// A new network namespace's loopback is down.
fn loopback_up() {
    let socket = new_socket(libc::SOCK_DGRAM);
    // SAFETY: an all-zero ifreq is valid; the name fits with its NUL.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *to = *from as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq given.
    unsafe {
        ok(
            "SIOCGIFFLAGS",
            libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request).into(),
        );
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        ok(
            "SIOCSIFFLAGS",
            libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request).into(),
        );
    }
}

/// In a network namespace of its own: one TCP connection over IPv4
/// loopback whose one message is lost (every packet the loopback receives
/// dropped for a second) and then retransmitted, both ends closed, the
/// listener closed. How many retransmissions it takes is the kernel's
/// (its timers): the namespace's `TcpRetransSegs` says. Tail loss probes
/// are off in the namespace: every retransmission is a timeout's, through
/// tcp_retransmit_skb(), which every variant sees.
fn retransmit() -> Box<dyn FnOnce()> {
    use std::io::{Read as _, Write as _};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    loopback_up();
    std::fs::write("/proc/sys/net/ipv4/tcp_early_retrans", "0").expect("tcp_early_retrans");
    Box::new(move || {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listen");
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        let dropper = drop_received("lo");
        client.write_all(&[7u8; SOCKET_BYTES]).expect("send");
        std::thread::sleep(std::time::Duration::from_secs(1));
        drop(dropper);
        let mut message = [0u8; SOCKET_BYTES];
        server
            .read_exact(&mut message)
            .expect("the retransmitted message");
        drop(client);
        drop(server);
    })
}

/// Every packet `device` receives is dropped until the value is dropped
/// (bpf/src/drop.bpf.c).
fn drop_received(device: &str) -> aya::Ebpf {
    use aya::programs::{tc, SchedClassifier, TcAttachType};

    let mut ebpf = aya::Ebpf::load(bpf::drop::OBJECT.bytes).expect("load drop.bpf.o");
    // Kernels before 6.6 attach through a clsact qdisc (others ignore it).
    let _ = tc::qdisc_add_clsact(device);
    let program: &mut SchedClassifier = ebpf
        .program_mut("drop_all")
        .expect("drop_all")
        .try_into()
        .expect("a classifier");
    program.load().expect("load drop_all");
    program
        .attach(device, TcAttachType::Ingress)
        .expect("attach drop_all");
    ebpf
}
