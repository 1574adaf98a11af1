//! `filesystem`: latency histograms of reads, writes, opens and syncs per
//! mounted filesystem type, ext4, xfs, nfs, zfs and btrfs (spec §2.14,
//! §3.14), each while `filesystem.conf` `[filesystem] <fs>dist` is yes.
//!
//! Variants: `tracepoint` times the syscalls that name a file descriptor
//! (read, pread64, readv, write, pwrite64, writev, fsync, fdatasync) and
//! openat, from their `sys_enter` to their `sys_exit` tracepoint, and finds
//! the filesystem from the descriptor's superblock (filesystem.bpf.c);
//! `trampoline` times the original's functions of each filesystem, from
//! entry to return.
//!
//! Differences from the original: its kprobes timed the filesystem's own
//! functions (`ext4_file_read_iter`, ...), as our trampoline variant
//! does; the tracepoint variant times the whole syscall (the
//! descriptor look-up and copy-in around the same work; an open's path
//! walk as well) and counts only the syscalls above (not preadv2,
//! io_uring, sendfile or a kernel thread's reads, nor failed opens), and
//! its nfs fourth chart counts fsync like the others', not `nfs_getattr`
//! (the trampoline variant times `nfs_getattr`; the chart is
//! `nfs_sync_latency` in every variant, not `nfs_attribute_latency`). Each
//! call lands in the bucket its label names (B-29, as disk). A
//! filesystem's charts appear at its first call after the thread started,
//! not at its mount, and become obsolete once no filesystem of its type is
//! mounted (checked every 10 updates); their priorities are fixed per
//! filesystem, not growing with every re-creation (B-30).
//!
//! Ours alone: `filesystem.untimed_calls`, per filesystem, the calls that
//! could not be timed (no room for the call in flight), which the
//! histograms therefore miss: counted, never silently.

use bpf::filesystem::counter::*;
use bpf::filesystem::OBJECT;
use conf::{OwnKey, ThreadName};

use crate::chart::{ChartDef, ChartKind, Defaults, DimDef, Look};
use crate::disk::{bucket_dims, BUCKETS};
use crate::keyed::{KeyChart, KeySource, Keyed, KeyedCharts};
use crate::thread::{Hook, Needed, Thread, Variant, VariantKind};

/// Calls per filesystem, operation and latency bucket (filesystem.bpf.c).
const LATENCY: &str = "fs_latency";

/// The operations' charts, in the order of their slots in the map.
const OPERATIONS: [&str; 4] = ["read", "write", "open", "sync"];
const _: () =
    assert!(OBJECT.map(LATENCY).value_size as usize == 8 * BUCKETS.len() * OPERATIONS.len());

// Each operation's buckets: the map value's histogram at its index in
// OPERATIONS.
static READ_DIMS: [DimDef; 24] = bucket_dims(0);
static WRITE_DIMS: [DimDef; 24] = bucket_dims(1);
static OPEN_DIMS: [DimDef; 24] = bucket_dims(2);
static SYNC_DIMS: [DimDef; 24] = bucket_dims(3);

const fn chart(
    id: &'static str,
    title: &'static str,
    context: &'static str,
    dims: &'static [DimDef],
) -> KeyChart {
    KeyChart {
        id,
        look: Look {
            title,
            units: "calls/s",
            family: "_latency",
            context,
            kind: ChartKind::Stacked,
            priority: HISTOGRAMS_PRIORITY,
            module: "filesystem",
        },
        dims,
    }
}

/// The first histogram chart's priority; filesystem `k`'s chart `n` is
/// at `k * OPERATIONS.len() + n` after it.
const HISTOGRAMS_PRIORITY: u32 = 2160;

/// The thread's counters: calls of each filesystem that were not timed
/// (each dimension named as its filesystem), after every histogram.
const CHARTS: &[ChartDef] = &[Defaults {
    units: "calls/s",
    family: "untimed calls",
    module: "filesystem",
}
.chart(
    "filesystem.untimed_calls",
    "Calls not timed: no room for the call in flight",
    HISTOGRAMS_PRIORITY + (FILESYSTEMS.len() * OPERATIONS.len()) as u32,
    &[
        DimDef::named_total(&OBJECT, EXT4),
        DimDef::named_total(&OBJECT, XFS),
        DimDef::named_total(&OBJECT, NFS),
        DimDef::named_total(&OBJECT, ZFS),
        DimDef::named_total(&OBJECT, BTRFS),
    ],
)];

/// `filesystem.<fs>_read_latency`, ... per filesystem type.
const KEYED: Keyed = Keyed {
    map: LATENCY,
    source: KeySource::Counters {
        names: mounted_names,
    },
    charts: KeyedCharts::Named {
        prefix: "filesystem",
        charts: &[
            chart(
                "_read_latency",
                " latency for each read request.",
                "filesystem.read_latency",
                &READ_DIMS,
            ),
            chart(
                "_write_latency",
                " latency for each write request.",
                "filesystem.write_latency",
                &WRITE_DIMS,
            ),
            chart(
                "_open_latency",
                " latency for each open request.",
                "filesystem.open_latency",
                &OPEN_DIMS,
            ),
            chart(
                "_sync_latency",
                " latency for each sync request.",
                "filesystem.sync_latency",
                &SYNC_DIMS,
            ),
        ],
        switched: true,
    },
};

/// The filesystems by their key (`enum fs_type`): name, and the mount
/// types that are it.
const FILESYSTEMS: [(&str, &[&str]); 5] = [
    ("ext4", &["ext4"]),
    ("xfs", &["xfs"]),
    ("nfs", &["nfs", "nfs4"]),
    ("zfs", &["zfs"]),
    ("btrfs", &["btrfs"]),
];
const _: () = assert!(OBJECT.counters.len() == FILESYSTEMS.len());

/// Each filesystem's name while one of its type is mounted.
fn mounted_names(keys: &[u32]) -> Vec<Option<String>> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let types = mount_types(&mountinfo);
    keys.iter()
        .map(|&key| {
            let (name, kinds) = FILESYSTEMS.get(key as usize)?;
            kinds
                .iter()
                .any(|kind| types.contains(kind))
                .then(|| (*name).to_owned())
        })
        .collect()
}

/// The filesystem types of `/proc/self/mountinfo`: the word after the
/// ` - ` separator of each line.
fn mount_types(mountinfo: &str) -> Vec<&str> {
    mountinfo
        .lines()
        .filter_map(|line| line.split_once(" - ")?.1.split_whitespace().next())
        .collect()
}

/// `filesystem.conf` `[filesystem]`: `<fs>dist` charts that filesystem.
const KEYS: &[OwnKey] = &[
    OwnKey::switch("filesystem", "ext4dist", EXT4),
    OwnKey::switch("filesystem", "xfsdist", XFS),
    OwnKey::switch("filesystem", "nfsdist", NFS),
    OwnKey::switch("filesystem", "zfsdist", ZFS),
    OwnKey::switch("filesystem", "btrfsdist", BTRFS),
];

const READS: &[&str] = &["read", "pread64", "readv"];
const WRITES: &[&str] = &["write", "pwrite64", "writev"];
const OPENS: &[&str] = &["openat"];
const SYNCS: &[&str] = &["fsync", "fdatasync"];
const ALL: &[&str] = &[
    "read",
    "pread64",
    "readv",
    "write",
    "pwrite64",
    "writev",
    "openat",
    "fsync",
    "fdatasync",
];

/// The trampoline or probe programs on the original's functions (spec
/// §3.14), on entry (`$entry` hooks, programs `..._$in`) and return
/// (`$exit`, `..._$out`): ext4's, which Debian builds in; the others'
/// skipped where the kernel lacks them (modules not loaded; for
/// trampolines, any module: the loader reads the kernel's own BTF only).
macro_rules! functions {
    ($entry:ident $in:literal, $exit:ident $out:literal) => {
        functions!(@ $entry $in, $exit $out;
            "ext4" EXT4 Counter:
                read = "ext4_file_read_iter", write = "ext4_file_write_iter", open = "ext4_file_open", sync = "ext4_sync_file";
            "xfs" XFS CounterWhereHookExists:
                read = "xfs_file_read_iter", write = "xfs_file_write_iter", open = "xfs_file_open", sync = "xfs_file_fsync";
            "nfs" NFS CounterWhereHookExists:
                read = "nfs_file_read", write = "nfs_file_write", open = "nfs_file_open", sync = "nfs_getattr";
            "zfs" ZFS CounterWhereHookExists:
                read = "zpl_iter_read", write = "zpl_iter_write", open = "zpl_open", sync = "zpl_fsync";
            "btrfs" BTRFS CounterWhereHookExists:
                read = "btrfs_file_read_iter", write = "btrfs_file_write_iter", open = "btrfs_file_open", sync = "btrfs_sync_file"
        )
    };
    (@ $entry:ident $in:literal, $exit:ident $out:literal;
     $($fs:literal $counter:ident $needed:ident: $($op:ident = $function:literal),+);+) => {
        &[$($(
            functions!(@one $entry $in, $fs, $op, $function, $counter, $needed),
            functions!(@one $exit $out, $fs, $op, $function, $counter, $needed),
        )+)+]
    };
    (@one $hook:ident $suffix:literal, $fs:literal, $op:ident, $function:literal, $counter:ident, $needed:ident) => {
        (
            concat!("fs_", $fs, "_", stringify!($op), "_", $suffix),
            Hook::$hook(&[$function]),
            Needed::$needed($counter),
        )
    };
}

const fn enter(name: &'static str, names: &'static [&'static str]) -> (&'static str, Hook, Needed) {
    (name, Hook::Syscalls { exit: false, names }, Needed::Always)
}

pub static THREAD: Thread = Thread {
    name: ThreadName::Filesystem,
    object: OBJECT,
    charts: CHARTS,
    keyed: Some(KEYED),
    per_process: None,
    calls: &[],
    // Tracepoints first: they see every filesystem, whenever it is
    // mounted, module or not. A trampoline sees only filesystems built into
    // the kernel (the loader looks for functions in its BTF only); a probe,
    // those loaded when the thread starts. The price of tracepoints:
    // syscall tracepoints make every syscall of every task take the
    // kernel's slow path (DESIGN.md).
    variants: &[
        Variant::with(
            VariantKind::Tracepoint,
            &[
                enter("fs_read_enter", READS),
                enter("fs_write_enter", WRITES),
                enter("fs_open_enter", OPENS),
                enter("fs_sync_enter", SYNCS),
                (
                    "fs_exit",
                    Hook::Syscalls {
                        exit: true,
                        names: ALL,
                    },
                    Needed::Always,
                ),
            ],
        ),
        Variant::with(
            VariantKind::Trampoline,
            functions!(FEntry "fentry", FExit "fexit"),
        ),
        Variant::with(
            VariantKind::Probe,
            functions!(KProbe "kprobe", KProbe "kretprobe"),
        ),
    ],
    keys: KEYS,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_types() {
        let text = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n\
                    30 22 0:40 / /mnt rw shared:5 - nfs4 srv:/x rw,vers=4.2\n\
                    broken\n";
        assert_eq!(mount_types(text), ["ext4", "nfs4"]);
    }

    #[test]
    fn every_exit_has_its_enter() {
        let entered: Vec<&str> = [READS, WRITES, OPENS, SYNCS].concat();
        assert_eq!(entered, ALL);
    }
}
