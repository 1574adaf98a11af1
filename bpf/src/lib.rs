//! The BPF objects, embedded, and the layouts they share with Rust.

pub mod layout;

/// An 8-byte aligned copy of a file: aya parses ELF objects in place.
macro_rules! object {
    ($name:literal) => {
        object!($name, ".bpf.o")
    };
    ($name:literal, $suffix:literal) => {{
        #[repr(C, align(8))]
        struct Aligned<T: ?Sized>(T);
        const ALIGNED: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
            env!("OUT_DIR"),
            "/",
            $name,
            $suffix
        )));
        &ALIGNED.0
    }};
}

/// `src/check.bpf.c`: one empty program per kind of hook, for `ebpf-collector check`.
pub const CHECK: &[u8] = object!("check");
/// `src/process.bpf.c`.
pub const PROCESS: &[u8] = object!("process");
/// `src/sync.bpf.c`.
pub const SYNC: &[u8] = object!("sync");
/// `src/softirq.bpf.c`.
pub const SOFTIRQ: &[u8] = object!("softirq");
/// `src/hardirq.bpf.c`.
pub const HARDIRQ: &[u8] = object!("hardirq");
/// `src/disk.bpf.c`.
pub const DISK: &[u8] = object!("disk");
/// `src/fd.bpf.c`.
pub const FD: &[u8] = object!("fd");
/// `src/vfs.bpf.c`.
pub const VFS: &[u8] = object!("vfs");
/// `src/mount.bpf.c`.
pub const MOUNT: &[u8] = object!("mount");
/// `src/shm.bpf.c`.
pub const SHM: &[u8] = object!("shm");
/// `src/empty.bpf.c`: programs that do nothing, the benchmarks' baseline.
pub const EMPTY: &[u8] = object!("empty");
/// `src/oomkill.bpf.c`.
pub const OOMKILL: &[u8] = object!("oomkill");

/// The objects with a per-process table, by thread, compiled with that
/// table allocated on demand (`BPF_F_NO_PREALLOC`; common.bpf.h
/// `TGID_VALUES_MAP_FLAGS`), for kernels that allow it in tracing programs.
pub const ON_DEMAND: [(&str, &[u8]); 5] = [
    ("process", object!("process", ".on-demand.bpf.o")),
    ("fd", object!("fd", ".on-demand.bpf.o")),
    ("vfs", object!("vfs", ".on-demand.bpf.o")),
    ("shm", object!("shm", ".on-demand.bpf.o")),
    ("oomkill", object!("oomkill", ".on-demand.bpf.o")),
];

/// The on-demand object of thread `key` (`ON_DEMAND`), if it has one.
pub fn on_demand(key: &str) -> Option<&'static [u8]> {
    ON_DEMAND
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, object)| *object)
}
