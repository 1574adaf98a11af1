//! Host preparation the workers depend on: privileges and tracefs.

use std::path::Path;

use nix::mount::{mount, MsFlags};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Says what is missing when this process cannot load and attach BPF
/// programs; `None` when it can.
pub fn missing_privileges() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())?;
    let has = |cap: u32| effective & (1 << cap) != 0;
    let bpf = has(CAP_BPF) || has(CAP_SYS_ADMIN);
    let perfmon = has(CAP_PERFMON) || has(CAP_SYS_ADMIN);
    (!(bpf && perfmon)).then(|| {
        "loading eBPF programs needs root, or the capabilities CAP_BPF and CAP_PERFMON \
         (CAP_SYS_ADMIN on kernels before 5.8)"
            .to_string()
    })
}

/// Tracepoint programs need tracefs, which some systems do not mount at
/// boot. We mount it and leave it mounted: other tools may start using it
/// while we run, and an unmount would pull it from under them.
pub fn ensure_tracefs() -> Result<bool, String> {
    let populated = |dir: &str| {
        Path::new(dir)
            .join("events")
            .read_dir()
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    };
    if populated(TRACEFS) || populated(DEBUGFS_TRACING) {
        return Ok(false);
    }
    mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("tracefs is not mounted and mounting it at {TRACEFS} failed: {e}"))?;
    Ok(true)
}
