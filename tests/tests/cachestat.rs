//! `cachestat` on the real kernel: a workload reads a file of P pages
//! out of the page cache (P misses), reads it again (P hits) and overwrites
//! it (P pages dirtied); with `--pid` the charts must show exactly that.
//! The file lives on an ext4 of our own, on a loop device backed by tmpfs
//! (tmpfs's own page cache is not filled through the hooked functions),
//! mounted `lazytime,noatime` so that no inode block (the block device's
//! page cache) is looked up while the file is read or written.

use std::ffi::CString;
use std::process::Command;

use tests::block::LoopDevice;
use tests::expected::cachestat_totals;
use tests::{cannot_run, require_root, Collector, TempDir, Workload};

const PAGES: i64 = 64;
const HITS: &str = "mem.cachestat_hits";

/// An ext4 on a loop device, mounted on a directory of its own; unmounted
/// and detached when dropped.
struct Ext4 {
    dir: TempDir,
    _device: LoopDevice,
}

impl Ext4 {
    fn mount() -> Option<Ext4> {
        let device = LoopDevice::create(32 << 20);
        let made = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(device.path())
            .status();
        if !made.is_ok_and(|status| status.success()) {
            cannot_run("cachestat: mkfs.ext4 (e2fsprogs) is needed for a real filesystem");
            return None;
        }
        let dir = TempDir::new("cachestat");
        let c = |s: &str| CString::new(s).unwrap();
        let (source, target) = (
            c(device.path().to_str().unwrap()),
            c(dir.0.to_str().unwrap()),
        );
        // SAFETY: C strings that outlive the call.
        let mounted = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                c"ext4".as_ptr(),
                libc::MS_LAZYTIME | libc::MS_NOATIME,
                std::ptr::null(),
            )
        };
        assert_eq!(
            mounted,
            0,
            "mount ext4: {}",
            std::io::Error::last_os_error()
        );
        Some(Ext4 {
            dir,
            _device: device,
        })
    }

    fn path(&self) -> &str {
        self.dir.0.to_str().unwrap()
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let target = CString::new(self.path()).unwrap();
        // SAFETY: a C string that outlives the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn counts_pages_read_in_read_again_and_dirtied_exactly() {
    if !require_root("cachestat") {
        return;
    }
    let Some(ext4) = Ext4::mount() else {
        return;
    };
    let workload = Workload::spawn(&format!("cachestat={}", ext4.path()), PAGES as usize);
    let collector = Collector::watching(&workload, &["--cachestat"], &[], HITS);
    workload.run();
    collector.assert_totals(&cachestat_totals(PAGES));
    let stream = collector.stream();
    // Every interval's ratio is between 0 (all missed) and 100.
    let ratios = &stream.chart("mem.cachestat_ratio").unwrap().dims["ratio"].values;
    assert!(ratios.iter().all(|r| (0..=100).contains(r)), "{ratios:?}");
    for (id, title, units, priority, dim, algorithm) in [
        (
            "mem.cachestat_ratio",
            "Hit ratio",
            "%",
            21100,
            "ratio",
            "absolute",
        ),
        (
            "mem.cachestat_dirties",
            "Number of dirty pages",
            "pages/s",
            21101,
            "dirty",
            "incremental",
        ),
        (
            HITS,
            "Number of accessed files",
            "hits/s",
            21102,
            "hit",
            "absolute",
        ),
        (
            "mem.cachestat_misses",
            "Files out of page cache",
            "misses/s",
            21103,
            "miss",
            "absolute",
        ),
    ] {
        let chart = stream.chart(id).unwrap();
        assert_eq!(
            chart.header(),
            (
                title,
                units,
                "page_cache",
                "",
                "line",
                priority,
                1,
                "ebpf.plugin",
                "cachestat"
            ),
            "{id}"
        );
        assert_eq!(chart.dimensions(), [(dim, dim, algorithm, 1)], "{id}");
    }
    collector.terminate();
}
