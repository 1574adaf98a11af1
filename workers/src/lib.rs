//! The collector threads. Each is one module here and one `.bpf.c` in
//! `bpf/`, listed once in the registry below; [`runtime`] is the worker
//! process that runs one of them.

pub mod chart;
pub mod features;
pub mod keyed;
pub mod loader;
pub mod maps;
pub mod per_process;
pub mod pid_table;
pub mod privileges;
pub mod runtime;
pub mod thread;

pub use chart::{Algorithm, ChartDef, ChartKind, ChartMode, Defaults, DimDef, DimValue, Look};
pub use thread::{Thread, VariantKind, WorkerConfig};

/// Declares each thread's module and lists its `THREAD` in [`registry`].
macro_rules! threads {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every implemented thread.
        pub mod registry {
            use conf::{OwnKey, ThreadName};

            use crate::thread::Thread;

            static THREADS: &[&Thread] = &[$(&crate::$module::THREAD),*];

            pub fn all() -> &'static [&'static Thread] {
                THREADS
            }

            pub fn find(name: ThreadName) -> Option<&'static Thread> {
                THREADS.iter().copied().find(|t| t.name == name)
            }

            /// Each thread's own configuration keys, for `conf::load`;
            /// `None` for a thread not implemented.
            pub fn own_keys(name: ThreadName) -> Option<&'static [OwnKey]> {
                find(name).map(|thread| thread.keys)
            }
        }
    };
}

// Adding a thread adds its name here.
threads! {
    process,
    sync,
    disk,
    hardirq,
    softirq,
    vfs,
    mount,
    fd,
    shm,
    oomkill,
    socket,
    cachestat,
    dcstat,
    swap,
    mdflush,
    filesystem,
}
