//! The contract every collector thread implements, and what a worker
//! process receives from the supervisor.

use std::path::PathBuf;

use conf::{Config, ThreadName, ThreadSettings};
use serde::{Deserialize, Serialize};

use crate::chart::ChartDef;

/// How a variant hooks the kernel, in the order `auto` prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VariantKind {
    Tracepoint,
    Trampoline,
    Probe,
}

impl VariantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VariantKind::Tracepoint => "tracepoint",
            VariantKind::Trampoline => "trampoline",
            VariantKind::Probe => "probe",
        }
    }
}

/// Where one BPF program attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// A BTF-typed raw tracepoint (`tp_btf/<name>`): needs BTF, not tracefs.
    BtfTracepoint(&'static str),
    /// A tracefs tracepoint (`tracepoint/<category>/<name>`).
    Tracepoint(&'static str, &'static str),
}

/// When a program is loaded at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    Always,
    /// Only in `return` load mode (programs that see return values).
    ReturnMode,
    /// Only with `--pid`: keeps the tracked-process set current.
    PidFilter,
    /// Only while the given counter is collected (see [`Thread::collects`]).
    Counter(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The C function name in the object.
    pub name: &'static str,
    pub hook: Hook,
    pub needed: Needed,
}

/// One way of attaching a thread: an object and the programs it needs.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub kind: VariantKind,
    pub object: &'static [u8],
    /// The per-CPU `u64` array holding the thread's counters.
    pub counter_map: &'static str,
    pub programs: &'static [ProgramSpec],
}

/// Everything a worker process needs, sent as RON on its stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerConfig {
    pub thread: ThreadName,
    /// The config as the supervisor read it; the thread picks its parts.
    pub config: Config,
    /// Count only this process and its descendants.
    pub pid_filter: Option<u32>,
    /// The worker ends when this process is no longer its parent.
    pub supervisor: u32,
}

impl WorkerConfig {
    pub fn settings(&self) -> &ThreadSettings {
        self.config.thread(self.thread)
    }

    pub fn btf_path(&self) -> PathBuf {
        self.config.global.btf_path.join("vmlinux")
    }
}

/// A collector thread. The supervisor knows threads only through this trait
/// and the registry; the worker process drives `attach` and the
/// [`Collector`] it returns.
pub trait Thread: Sync {
    fn name(&self) -> ThreadName;

    /// Names of the cumulative counters the worker reports, by index.
    fn counters(&self) -> &'static [&'static str];

    fn charts(&self) -> &'static [ChartDef];

    /// The variants, most preferred first.
    fn variants(&self) -> &'static [Variant];

    /// Whether this counter is collected under `config` (a disabled
    /// syscall's dimension is not drawn).
    fn collects(&self, _config: &Config, _counter: u32) -> bool {
        true
    }
}

/// A value reading of a kernel map failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading map `{map}`: {source:?}")]
    Map {
        map: &'static str,
        source: aya::maps::MapError,
    },
}

/// Reads the kernel maps once per tick.
pub trait Collector {
    /// Appends this tick's records.
    fn collect(&mut self, records: &mut Vec<ipc::Record>) -> Result<(), CollectError>;
}
