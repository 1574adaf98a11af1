//! Kernel memory of BPF maps, as the kernel accounts it (`memlock` in a
//! map's fdinfo): ours, read from the processes that hold them, and the
//! original's layouts, created here so that the kernel reports their size.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use aya::maps::MapInfo;

/// A field of an fdinfo file.
pub fn fdinfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// The kernel's memory of every map the processes hold, by map name
/// (bytes, as `memlock` in fdinfo: the map's own accounting).
pub fn map_memory(pids: &[u32]) -> BTreeMap<String, u64> {
    let mut seen = BTreeMap::new();
    for pid in pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(text) = std::fs::read_to_string(fd.path()) else {
                continue;
            };
            if let (Some(id), Some(memlock)) = (
                fdinfo_field(&text, "map_id"),
                fdinfo_field(&text, "memlock"),
            ) {
                seen.insert(id as u32, memlock);
            }
        }
    }
    let mut by_name = BTreeMap::new();
    for (id, memlock) in seen {
        let name = MapInfo::from_id(id)
            .ok()
            .and_then(|m| m.name_as_str().map(str::to_owned))
            .unwrap_or_default();
        *by_name.entry(name).or_insert(0) += memlock;
    }
    by_name
}

/// Bytes as KiB with one decimal, as the memory benchmarks print them.
pub fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

/// The kinds of map the original's layouts use (`bpf_map_type`).
#[derive(Debug, Clone, Copy)]
pub enum MapType {
    Hash = 1,
    Array = 2,
    PerCpuHash = 5,
    PerCpuArray = 6,
}

/// What the kernel accounts for a map of this shape (created, measured,
/// closed).
pub fn map_memlock(map_type: MapType, key_size: u32, value_size: u32, entries: u32) -> u64 {
    let fd = create_map(map_type, (key_size, value_size), entries, 0);
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    fdinfo_field(&text, "memlock").expect("memlock in fdinfo")
}

/// A new map of this shape, with `flags` (`map_flags`).
pub fn create_map(
    map_type: MapType,
    (key_size, value_size): (u32, u32),
    entries: u32,
    flags: u32,
) -> OwnedFd {
    let mut attr = [0u32; 30];
    attr[0] = map_type as u32;
    attr[1] = key_size;
    attr[2] = value_size;
    attr[3] = entries;
    attr[4] = flags;
    // SAFETY: BPF_MAP_CREATE (0) reads the attribute union we pass.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            0,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    assert!(
        fd >= 0,
        "BPF_MAP_CREATE: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a new descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// The machine's possible CPUs: what per-CPU maps are sized by.
pub fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| {
            s.trim()
                .split(',')
                .map(|range| match range.split_once('-') {
                    Some((a, b)) => Some(b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1),
                    None => Some(1),
                })
                .sum()
        })
        .unwrap_or(1)
}
