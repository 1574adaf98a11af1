//! Least privilege: the capabilities loading and attaching BPF programs
//! needs, what the supervisor keeps to start workers, and what a worker keeps
//! once attached. Raw `capget`/`capset` and `prctl`: two system calls do not
//! justify a crate.

use std::fmt;
use std::io;

pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// A set of capabilities, bit `n` for capability `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    pub fn of(caps: &[u32]) -> CapSet {
        CapSet(caps.iter().fold(0, |bits, cap| bits | 1 << cap))
    }

    pub fn contains(self, cap: u32) -> bool {
        self.0 & (1 << cap) != 0
    }

    pub fn intersect(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    fn caps(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |cap| self.contains(*cap))
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let names: Vec<String> = self.caps().map(cap_name).collect();
        f.write_str(&names.join(","))
    }
}

fn cap_name(cap: u32) -> String {
    match cap {
        CAP_DAC_READ_SEARCH => "cap_dac_read_search".into(),
        CAP_SETPCAP => "cap_setpcap".into(),
        CAP_SYS_ADMIN => "cap_sys_admin".into(),
        CAP_SYS_RESOURCE => "cap_sys_resource".into(),
        CAP_PERFMON => "cap_perfmon".into(),
        CAP_BPF => "cap_bpf".into(),
        other => format!("cap_{other}"),
    }
}

/// The highest capability this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(CAP_BPF)
}

/// The capability that guards `bpf()`: CAP_BPF, or CAP_SYS_ADMIN on kernels
/// before 5.8, which lack it.
pub fn bpf_cap() -> u32 {
    if last_cap() >= CAP_BPF {
        CAP_BPF
    } else {
        CAP_SYS_ADMIN
    }
}

/// What loading and attaching a thread needs: `bpf()` and perf events
/// (CAP_BPF + CAP_PERFMON; CAP_SYS_ADMIN before 5.8), reading tracepoint
/// ids in tracefs, which is mode 0700 (CAP_DAC_READ_SEARCH, for a non-root
/// user), and raising RLIMIT_MEMLOCK on kernels before 5.11, which charge
/// BPF memory to it (CAP_SYS_RESOURCE, kept only when we have it). Debian's
/// kernels add `perf_event_paranoid` level 3 (their default), where
/// perf_event_open, which kprobes and tracefs tracepoints attach through,
/// needs CAP_SYS_ADMIN: kept there (when we have it).
pub fn attach_set() -> CapSet {
    let set = if bpf_cap() == CAP_BPF {
        CapSet::of(&[CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, CAP_SYS_RESOURCE])
    } else {
        CapSet::of(&[CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_RESOURCE])
    };
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok());
    match paranoid {
        Some(level) if level >= 3 => CapSet(set.0 | 1 << CAP_SYS_ADMIN),
        _ => set,
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// This process's (effective, permitted, inheritable) sets.
pub fn current() -> io::Result<(CapSet, CapSet, CapSet)> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a version-3 header and the two data words it asks for.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |get: fn(&CapData) -> u32| {
        CapSet(u64::from(get(&data[0])) | u64::from(get(&data[1])) << 32)
    };
    Ok((
        join(|d| d.effective),
        join(|d| d.permitted),
        join(|d| d.inheritable),
    ))
}

fn set(effective: CapSet, permitted: CapSet, inheritable: CapSet) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |i: usize| CapData {
        effective: (effective.0 >> (32 * i)) as u32,
        permitted: (permitted.0 >> (32 * i)) as u32,
        inheritable: (inheritable.0 >> (32 * i)) as u32,
    };
    let data = [split(0), split(1)];
    // SAFETY: a version-3 header and the two data words it expects.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: u64) -> io::Result<()> {
    // SAFETY: capability prctls take integers only.
    if unsafe { libc::prctl(option, arg, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Keeps only `keep` (of what this process has) and returns it. What is
/// dropped leaves the effective, permitted, inheritable, ambient and (when
/// we may) bounding sets, so that not even an exec of a setuid-root binary,
/// our own Netdata install included, brings it back. With `inherit`, the
/// kept set is also made ambient: a worker exec'd by a non-root supervisor
/// gets it too (root's execs get the bounding set anyway).
pub fn keep_only(keep: CapSet, inherit: bool) -> io::Result<CapSet> {
    let (effective, permitted, _) = current()?;
    let kept = keep.intersect(permitted);
    if effective.contains(CAP_SETPCAP) {
        for cap in (0..=last_cap()).filter(|cap| !kept.contains(*cap)) {
            prctl(libc::PR_CAPBSET_DROP, cap.into())?;
        }
    }
    let inheritable = if inherit { kept } else { CapSet::EMPTY };
    set(kept, kept, inheritable)?;
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as u64)?;
    for cap in inheritable.caps() {
        // SAFETY: as in `prctl`.
        if unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap, 0, 0) } != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(kept)
}

/// No exec of this process or its children can ever gain privileges.
pub fn forbid_new_privileges() -> io::Result<()> {
    nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)
}

/// Runs `probe` with `cap` out of the effective set, and gives it up for
/// good when `probe` still succeeds; otherwise puts it back. Kernels before
/// 6.5 refuse even reads of a map we hold without CAP_BPF when unprivileged
/// BPF is disabled; later ones do not: we find out by doing.
pub fn drop_if_unneeded(cap: u32, probe: impl FnOnce() -> bool) -> io::Result<bool> {
    let (effective, permitted, inheritable) = current()?;
    if !permitted.contains(cap) {
        return Ok(true);
    }
    let without = CapSet(effective.0 & !(1 << cap));
    set(without, permitted, inheritable)?;
    if probe() {
        let permitted = CapSet(permitted.0 & !(1 << cap));
        set(without, permitted, inheritable.intersect(permitted))?;
        Ok(true)
    } else {
        set(effective, permitted, inheritable)?;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_names() {
        let set = CapSet::of(&[CAP_BPF, CAP_PERFMON]);
        assert!(set.contains(CAP_BPF) && !set.contains(CAP_SYS_ADMIN));
        assert_eq!(set.to_string(), "cap_perfmon,cap_bpf");
        assert_eq!(CapSet::EMPTY.to_string(), "none");
        assert_eq!(
            set.intersect(CapSet::of(&[CAP_BPF])),
            CapSet::of(&[CAP_BPF])
        );
    }

    #[test]
    fn reads_this_processs_sets() {
        let (effective, permitted, _) = current().unwrap();
        assert_eq!(effective.0 & !permitted.0, 0, "effective ⊆ permitted");
    }
}
