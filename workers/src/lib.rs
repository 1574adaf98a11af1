//! The collector threads. Each is one module here and one `.bpf.c` in
//! `bpf/`, registered in [`registry`]; [`runtime`] is the worker process
//! that runs one of them.

pub mod chart;
pub mod disk;
pub mod fd;
pub mod features;
pub mod hardirq;
pub mod loader;
pub mod mount;
pub mod oomkill;
pub mod per_process;
pub mod privileges;
pub mod process;
pub mod registry;
pub mod runtime;
pub mod shm;
pub mod softirq;
pub mod sync;
pub mod thread;
pub mod vfs;

pub use chart::{
    cgroup_key, group_key, Algorithm, Chart, ChartDef, ChartKind, ChartMode, Dim, DimDef, DimValue,
    PerProcessTotals, Snapshot, TARGET_KEY,
};
pub use thread::{Thread, VariantKind, WorkerConfig};
