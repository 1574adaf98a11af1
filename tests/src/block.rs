//! A loop device of our own for block I/O tests, backed by a file in
//! `/dev/shm` (tmpfs), so that no real disk is ever touched; detached and
//! removed when dropped.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
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
        // Several per thread (an md array's members): numbered.
        static CREATED: AtomicU32 = AtomicU32::new(0);
        let backing = PathBuf::from(format!(
            "/dev/shm/ebpf-collector-loop-{}-{:?}-{}",
            std::process::id(),
            std::thread::current().id(),
            CREATED.fetch_add(1, Ordering::Relaxed)
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

    /// Flushes completed so far (`/sys/block/<name>/stat`, the block
    /// layer's own count, 0 when the kernel does not count them).
    pub fn flushes(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/sys/block/{}/stat", self.name())).unwrap();
        stat.split_whitespace()
            .nth(15)
            .map_or(0, |f| f.parse().unwrap())
    }

    /// `major:minor`, as sysfs names the device.
    pub fn dev(&self) -> String {
        std::fs::read_to_string(format!("/sys/block/{}/dev", self.name()))
            .unwrap()
            .trim()
            .to_owned()
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

/// The md driver's control file: writing `mdN` creates md unit N.
const NEW_ARRAY: &str = "/sys/module/md_mod/parameters/new_array";

/// A RAID1 md array of two loop devices of our own, assembled through
/// md's sysfs files alone (no mdadm): no superblock (`metadata_version =
/// none`), in sync from the start, so md itself writes nothing. Stopped
/// and its devices detached when dropped.
pub struct MdArray {
    /// The md unit: the array is `/dev/md<unit>`.
    pub unit: u32,
    pub members: [LoopDevice; 2],
}

impl MdArray {
    /// An array on the first free unit, its members of `bytes` each.
    pub fn raid1(bytes: u64) -> MdArray {
        let members = [LoopDevice::create(bytes), LoopDevice::create(bytes)];
        let unit = (0..1000)
            .find(|unit| std::fs::write(NEW_ARRAY, format!("md{unit}")).is_ok())
            .unwrap_or_else(|| {
                panic!(
                    "cannot create an md array through {NEW_ARRAY}: {} (load md_mod and raid1)",
                    std::io::Error::last_os_error()
                )
            });
        let array = MdArray { unit, members };
        let kib = (bytes / 1024).to_string();
        array.set("metadata_version", "none");
        array.set("level", "raid1");
        array.set("raid_disks", "2");
        for (slot, member) in array.members.iter().enumerate() {
            array.set("new_dev", &member.dev());
            let dev = format!("dev-{}", member.name());
            array.set(&format!("{dev}/slot"), &slot.to_string());
            array.set(&format!("{dev}/size"), &kib);
        }
        array.set("component_size", &kib);
        array.set("resync_start", "none");
        array.set("array_state", "active");
        array
    }

    pub fn name(&self) -> String {
        format!("md{}", self.unit)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/{}", self.name()))
    }

    /// Writes `value` to the array's md sysfs file `file`.
    fn set(&self, file: &str, value: &str) {
        let path = format!("/sys/block/{}/md/{file}", self.name());
        std::fs::write(&path, value).unwrap_or_else(|e| panic!("{value} > {path}: {e}"));
    }
}

impl Drop for MdArray {
    fn drop(&mut self) {
        // Stopped, the array lets its members go (they are detached next).
        let _ = std::fs::write(
            format!("/sys/block/{}/md/array_state", self.name()),
            "clear",
        );
    }
}
