//! Kernel features, detected by doing: each kind of hook is tried with an
//! empty program of `bpf/src/check.bpf.c`, attached and detached at once.
//! For `ebpf-collector check`, which says what a failing variant misses;
//! workers need none of it, they simply try their variants.

use aya::{Btf, EbpfLoader};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

use crate::loader::{self, AttachError};
use crate::thread::{syscall_functions, Hook, Needed, ProgramSpec};

use bpf::check::OBJECT;

/// A kind of hook some variant needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `tracepoint/`: tracefs tracepoints.
    Tracepoint,
    /// `tp_btf/`: BTF-typed raw tracepoints.
    BtfTracepoint,
    /// `fentry/` (and `fexit/`): trampolines.
    Trampoline,
    /// `kprobe/` (and `kretprobe/`).
    KProbe,
}

impl Feature {
    pub const ALL: [Feature; 4] = [
        Feature::Tracepoint,
        Feature::BtfTracepoint,
        Feature::Trampoline,
        Feature::KProbe,
    ];

    /// What `check` calls it.
    pub fn label(self) -> &'static str {
        match self {
            Feature::Tracepoint => "tracepoints",
            Feature::BtfTracepoint => "BTF tracepoints",
            Feature::Trampoline => "fentry/fexit",
            Feature::KProbe => "kprobes",
        }
    }

    fn program(self) -> ProgramSpec {
        let (name, hook) = match self {
            Feature::Tracepoint => (
                "check_tracepoint",
                Hook::Tracepoint("syscalls", "sys_enter_getpid"),
            ),
            Feature::BtfTracepoint => (
                "check_btf_tracepoint",
                Hook::BtfTracepoint("sched_process_fork"),
            ),
            Feature::Trampoline => ("check_fentry", Hook::FEntry(syscall_functions!("getpid"))),
            Feature::KProbe => ("check_kprobe", Hook::KProbe(syscall_functions!("getpid"))),
        };
        ProgramSpec::new(OBJECT.program(name).name, hook, Needed::Always)
    }

    /// Where the probe program attaches, for the report.
    pub fn target(self) -> String {
        match self.program().hook {
            Hook::Tracepoint(category, name) => format!("{category}/{name}"),
            Hook::BtfTracepoint(name) => name.to_string(),
            Hook::Syscalls { names, .. }
            | Hook::FEntry(names)
            | Hook::FExit(names)
            | Hook::KProbe(names) => names.join(" or "),
        }
    }

    /// Loads and attaches the empty program, then detaches it.
    pub fn try_attach(self, btf: &Btf) -> Result<(), AttachError> {
        let mut ebpf = load(btf)?;
        loader::attach_program(&mut ebpf, &self.program(), btf)
    }
}

fn load(btf: &Btf) -> Result<aya::Ebpf, AttachError> {
    EbpfLoader::new()
        .btf(Some(btf))
        .load(OBJECT.bytes)
        .map_err(AttachError::Object)
}

/// Where the kernel charges BPF map memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryCharge {
    /// The memory cgroup (5.11 and later): RLIMIT_MEMLOCK does not matter.
    Cgroup,
    /// RLIMIT_MEMLOCK (before 5.11): workers raise it to unlimited.
    Memlock,
}

/// Creates the check object's map under a soft RLIMIT_MEMLOCK of 0, then
/// puts the limit back: only a kernel that charges RLIMIT_MEMLOCK refuses.
pub fn memory_charge(btf: &Btf) -> Result<MemoryCharge, String> {
    load(btf).map_err(|e| format!("cannot create a map at all: {e}"))?;
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_MEMLOCK).map_err(|e| format!("RLIMIT_MEMLOCK: {e}"))?;
    setrlimit(Resource::RLIMIT_MEMLOCK, 0, hard).map_err(|e| format!("RLIMIT_MEMLOCK: {e}"))?;
    let under_zero = load(btf);
    setrlimit(Resource::RLIMIT_MEMLOCK, soft, hard)
        .map_err(|e| format!("restoring RLIMIT_MEMLOCK: {e}"))?;
    Ok(match under_zero {
        Ok(_) => MemoryCharge::Cgroup,
        Err(_) => MemoryCharge::Memlock,
    })
}
