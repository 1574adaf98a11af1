//! Swap of our own for the swap tests: a zram device (the `zram` module;
//! the kernel matrix loads it), so that no disk is touched and its writes
//! and reads are synchronous: a page `madvise(MADV_PAGEOUT)` writes leaves
//! memory at once, so that touching it again reads it back. With
//! `vm.page-cluster` 0 (no swap readahead: each fault reads its own page
//! only). Swap off, the device reset and `page-cluster` restored when
//! dropped.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

const PAGE: usize = 4096;
const PAGE_CLUSTER: &str = "/proc/sys/vm/page-cluster";

pub struct Swap {
    device: CString,
    reset: String,
    page_cluster: String,
}

impl Swap {
    /// Swap on `/dev/zram<N>` of `pages` pages; `Err` says why there can
    /// be none (no zram driver, a device in use).
    pub fn zram(pages: u32) -> Result<Swap, String> {
        let sys = (0..16)
            .map(|n| format!("/sys/block/zram{n}"))
            .find(|sys| {
                std::fs::read_to_string(format!("{sys}/disksize")).is_ok_and(|s| s.trim() == "0")
            })
            .ok_or("no unused zram device (the zram module: modprobe zram)")?;
        let name = Path::new(&sys).file_name().unwrap().to_string_lossy();
        let device = format!("/dev/{name}");
        std::fs::write(
            format!("{sys}/disksize"),
            (pages as usize * PAGE).to_string(),
        )
        .map_err(|e| format!("{sys}/disksize: {e}"))?;
        let page_cluster =
            std::fs::read_to_string(PAGE_CLUSTER).map_err(|e| format!("{PAGE_CLUSTER}: {e}"))?;
        let swap = Swap {
            device: CString::new(device.clone()).unwrap(),
            reset: format!("{sys}/reset"),
            page_cluster,
        };
        OpenOptions::new()
            .write(true)
            .open(&device)
            .and_then(|dev| dev.write_all_at(&header(pages), 0))
            .map_err(|e| format!("writing the swap header on {device}: {e}"))?;
        std::fs::write(PAGE_CLUSTER, "0").map_err(|e| format!("{PAGE_CLUSTER}: {e}"))?;
        // SAFETY: a valid C string; flags 0.
        if unsafe { libc::swapon(swap.device.as_ptr(), 0) } != 0 {
            return Err(format!(
                "swapon {device}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(swap)
    }
}

/// What mkswap writes: version 1 of the header, `pages - 1` the last
/// usable page, no bad pages, the magic at the end of the first page
/// (mm/swapfile.c, `union swap_header`).
fn header(pages: u32) -> Vec<u8> {
    let mut page = vec![0u8; PAGE];
    page[1024..1028].copy_from_slice(&1u32.to_ne_bytes());
    page[1028..1032].copy_from_slice(&(pages - 1).to_ne_bytes());
    page[PAGE - 10..].copy_from_slice(b"SWAPSPACE2");
    page
}

impl Drop for Swap {
    fn drop(&mut self) {
        // SAFETY: a valid C string. Reads every page still out back in.
        unsafe { libc::swapoff(self.device.as_ptr()) };
        let _ = std::fs::write(&self.reset, "1");
        let _ = std::fs::write(PAGE_CLUSTER, self.page_cluster.trim());
    }
}

/// `pswpin` and `pswpout` of `/proc/vmstat`: pages the kernel read from
/// and wrote to swap since boot.
pub fn vmstat_pages() -> (i64, i64) {
    let vmstat = std::fs::read_to_string("/proc/vmstat").expect("/proc/vmstat");
    let value = |name: &str| {
        vmstat
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/vmstat"))
    };
    (value("pswpin"), value("pswpout"))
}
