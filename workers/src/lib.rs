//! The collector threads. Each is one module here and one `.bpf.c` in
//! `bpf/`, registered in [`registry`]; [`runtime`] is the worker process
//! that runs one of them.

pub mod chart;
pub mod features;
pub mod loader;
pub mod process;
pub mod registry;
pub mod runtime;
pub mod sync;
pub mod thread;

pub use chart::{Algorithm, ChartDef, ChartKind, ChartMode, DimDef, DimValue};
pub use thread::{Thread, VariantKind, WorkerConfig};
