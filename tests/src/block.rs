//! A loop device of our own for block I/O tests, backed by a file in
//! `/dev/shm` (tmpfs), so that no real disk is ever touched; detached and
//! removed when dropped.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;

/// Direct I/O needs buffers aligned to the logical block size.
const ALIGN: usize = 4096;

pub struct LoopDevice {
    pub number: u32,
    backing: PathBuf,
    attached: bool,
}

impl LoopDevice {
    /// A free loop device attached to a new zero-filled file of `bytes`.
    pub fn create(bytes: u64) -> LoopDevice {
        let backing = PathBuf::from(format!(
            "/dev/shm/ebpf-collector-loop-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&backing)
            .expect("create the loop device's backing file in /dev/shm");
        file.set_len(bytes).unwrap();
        let control = File::open("/dev/loop-control")
            .expect("/dev/loop-control (the loop driver: modprobe loop)");
        // Another process may take the free device first: ask again.
        for _ in 0..20 {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument.
            let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
            assert!(
                number >= 0,
                "LOOP_CTL_GET_FREE: {}",
                std::io::Error::last_os_error()
            );
            let device = OpenOptions::new()
                .read(true)
                .write(true)
                .open(format!("/dev/loop{number}"))
                .unwrap();
            // SAFETY: LOOP_SET_FD takes the backing file's descriptor.
            let set = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_SET_FD, file.as_raw_fd()) };
            if set == 0 {
                return LoopDevice {
                    number: number as u32,
                    backing,
                    attached: true,
                };
            }
            let error = std::io::Error::last_os_error();
            assert_eq!(
                error.raw_os_error(),
                Some(libc::EBUSY),
                "LOOP_SET_FD: {error}"
            );
        }
        panic!("no free loop device after 20 tries");
    }

    pub fn name(&self) -> String {
        format!("loop{}", self.number)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/{}", self.name()))
    }

    /// Requests completed so far (reads and writes, `/sys/block/<name>/stat`).
    pub fn completed(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/sys/block/{}/stat", self.name())).unwrap();
        let fields: Vec<u64> = stat
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        fields[0] + fields[4]
    }

    /// Waits until nothing else (udev's probe of a new device) does I/O on
    /// the device for half a second.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = (self.completed(), Instant::now());
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.completed();
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() >= Duration::from_millis(500) {
                return;
            }
        }
        panic!("{} never became idle", self.name());
    }

    /// `writes` direct writes then `reads` direct reads of `ALIGN` bytes
    /// at distinct offsets; returns the longest one as the caller saw it.
    pub fn direct_io(&self, writes: u64, reads: u64) -> Duration {
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(self.path())
            .unwrap();
        let layout = std::alloc::Layout::from_size_align(ALIGN, ALIGN).unwrap();
        // SAFETY: a non-zero size; freed below.
        let buffer = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!buffer.is_null());
        // SAFETY: ALIGN bytes, allocated above, only used here.
        let block = unsafe { std::slice::from_raw_parts_mut(buffer, ALIGN) };
        let mut longest = Duration::ZERO;
        for i in 0..writes + reads {
            let offset = (i % writes.max(reads).max(1)) * ALIGN as u64;
            let start = Instant::now();
            let done = if i < writes {
                device.write_at(block, offset)
            } else {
                device.read_at(block, offset)
            };
            longest = longest.max(start.elapsed());
            assert_eq!(done.unwrap(), ALIGN, "a short direct I/O");
        }
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(buffer, layout) };
        longest
    }

    /// Detaches the device now (dropping does it too).
    pub fn detach(&mut self) {
        if !self.attached {
            return;
        }
        let device = File::open(self.path()).unwrap();
        // SAFETY: LOOP_CLR_FD takes no argument.
        let cleared = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CLR_FD) };
        assert_eq!(
            cleared,
            0,
            "LOOP_CLR_FD: {}",
            std::io::Error::last_os_error()
        );
        self.attached = false;
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if self.attached {
            if let Ok(device) = File::open(self.path()) {
                // SAFETY: LOOP_CLR_FD takes no argument.
                unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CLR_FD) };
            }
        }
        let _ = std::fs::remove_file(&self.backing);
    }
}
