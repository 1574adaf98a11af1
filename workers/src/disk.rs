//! `disk`: block I/O latency histograms, one chart per disk (spec §2.13,
//! §3.13), from `block_rq_issue` to `block_rq_complete`.
//!
//! Differences from the original: each completion lands in the bucket its
//! label names (the original's bucket k held [2^k, 2^(k+1)) µs under the
//! label of [2^(k-1), 2^k), B-29; the labels, which dashboards see, are
//! kept); loop and ram disks (majors up to 7, which the original skipped)
//! are charted like any disk that completes I/O; a device missing from
//! `/proc/partitions` but with a size in sysfs (hidden NVMe multipath
//! paths) is named from sysfs.
//! The block tracepoints report the whole disk, so I/O to a partition
//! counts for its disk, as it did in the original.

use std::collections::BTreeMap;
use std::path::Path;

use bpf::disk::OBJECT;
use conf::ThreadName;

use crate::chart::{ChartKind, DimDef, DimValue, Look};
use crate::keyed::{KeySource, Keyed, KeyedCharts};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

/// The map of completions per device and latency bucket (disk.bpf.c).
const LATENCY: &str = "disk_latency";

/// One slot per bucket: the original's labels
/// (`ebpf_fill_histogram_dimension`), the ids dashboards know.
pub(crate) const BUCKETS: [&str; 24] = [
    "0us->1us",
    "1us->2us",
    "2us->4us",
    "4us->8us",
    "8us->16us",
    "16us->32us",
    "32us->64us",
    "64us->128us",
    "128us->256us",
    "256us->512us",
    "512us->1ms",
    "1ms->2ms",
    "2ms->4ms",
    "4ms->8ms",
    "8ms->16ms",
    "16ms->32ms",
    "32ms->65ms",
    "65ms->131ms",
    "131ms->262ms",
    "262ms->524ms",
    "524ms->1s",
    "1s->2s",
    "2s->4s",
    "4s->+Inf",
];
const _: () = assert!(OBJECT.map(LATENCY).value_size as usize == 8 * BUCKETS.len());

/// The dimensions of a map value's `histogram`th histogram (filesystem's
/// values hold one per operation): its buckets are slots
/// `histogram * 24 ..`.
pub(crate) const fn bucket_dims(histogram: usize) -> [DimDef; 24] {
    let mut dims = [DimDef::new("", "", DimValue::Total(0)); 24];
    let mut i = 0;
    while i < dims.len() {
        dims[i] = DimDef::total(
            BUCKETS[i],
            BUCKETS[i],
            (histogram * BUCKETS.len() + i) as u32,
        );
        i += 1;
    }
    dims
}

static BUCKET_DIMS: [DimDef; 24] = bucket_dims(0);

/// `disk_latency_io.<name>` per disk seen that still exists: a disk that
/// went away gets its chart marked obsolete.
const KEYED: Keyed = Keyed {
    map: LATENCY,
    source: KeySource::Counters { names: disk_names },
    charts: KeyedCharts::PerKey {
        prefix: "disk_latency_io",
        look: Look {
            title: "Disk latency",
            units: "calls/s",
            family: "",
            context: "disk.latency_io",
            kind: ChartKind::Stacked,
            priority: 2095,
            module: "disk",
        },
        dims: &BUCKET_DIMS,
    },
};

/// Each device's name, from `/proc/partitions`, else from sysfs.
fn disk_names(devices: &[u32]) -> Vec<Option<String>> {
    let partitions =
        partition_names(&std::fs::read_to_string("/proc/partitions").unwrap_or_default());
    devices
        .iter()
        .map(|&dev| {
            partitions
                .get(&dev)
                .cloned()
                .or_else(|| sysfs_name(Path::new("/sys/dev/block"), dev))
        })
        .collect()
}

/// The kernel's dev_t (12 bits of major, 20 of minor).
fn dev_t(major: u32, minor: u32) -> u32 {
    (major << 20) | minor
}

/// dev_t to name, from `/proc/partitions` (after its two header lines:
/// major, minor, size in blocks, name).
fn partition_names(partitions: &str) -> BTreeMap<u32, String> {
    partitions
        .lines()
        .skip(2)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [major, minor, _, name] = words[..] else {
                return None;
            };
            Some((
                dev_t(major.parse().ok()?, minor.parse().ok()?),
                name.to_owned(),
            ))
        })
        .collect()
}

/// The device's name from its `<major>:<minor>` link in `/sys/dev/block`,
/// if it has a size (a detached loop device keeps its link, with size 0).
fn sysfs_name(dir: &Path, dev: u32) -> Option<String> {
    let link = dir.join(format!("{}:{}", dev >> 20, dev & 0xfffff));
    let size = std::fs::read_to_string(link.join("size")).ok()?;
    if size.trim().parse::<u64>().ok()? == 0 {
        return None;
    }
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_str()?.to_owned())
}

const fn program(name: &'static str, hook: Hook) -> (&'static str, Hook, Needed) {
    (name, hook, Needed::Always)
}

pub static THREAD: Thread = Thread {
    name: ThreadName::Disk,
    object: OBJECT,
    // No chart before a disk completes I/O.
    charts: &[],
    keyed: Some(KEYED),
    per_process: None,
    calls: &[],
    variants: &[
        Variant::with(
            VariantKind::Tracepoint,
            &[
                program("disk_issue_btf", Hook::BtfTracepoint("block_rq_issue")),
                program(
                    "disk_complete_btf",
                    Hook::BtfTracepoint("block_rq_complete"),
                ),
            ],
        ),
        // Kernels before 5.5 have no BTF tracepoints.
        Variant::with(
            VariantKind::Tracepoint,
            &[
                program("disk_issue_tp", Hook::Tracepoint("block", "block_rq_issue")),
                program(
                    "disk_complete_tp",
                    Hook::Tracepoint("block", "block_rq_complete"),
                ),
            ],
        ),
    ],
    keys: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_partitions() {
        let text = "major minor  #blocks  name\n\n 254        0  268435456 vda\n   8        1     1024 sda1\n 259   1048575  1 nvme9n1\nbroken line\n";
        let names = partition_names(text);
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                (dev_t(8, 1), "sda1".to_string()),
                (dev_t(254, 0), "vda".into()),
                (dev_t(259, 1048575), "nvme9n1".into()),
            ]
        );
    }

    #[test]
    fn names_devices_from_sysfs_links() {
        let dir = std::env::temp_dir().join(format!("disk-sysfs-{}", std::process::id()));
        let devices = dir.join("devices");
        for (name, size) in [("nvme0c0n1", "2048\n"), ("loop3", "0\n")] {
            std::fs::create_dir_all(devices.join(name)).unwrap();
            std::fs::write(devices.join(name).join("size"), size).unwrap();
        }
        std::os::unix::fs::symlink(devices.join("nvme0c0n1"), dir.join("259:3")).unwrap();
        std::os::unix::fs::symlink(devices.join("loop3"), dir.join("7:3")).unwrap();
        let found = sysfs_name(&dir, dev_t(259, 3));
        let empty = sysfs_name(&dir, dev_t(7, 3));
        let missing = sysfs_name(&dir, dev_t(259, 4));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.as_deref(), Some("nvme0c0n1"));
        assert_eq!((empty, missing), (None, None));
    }
}
