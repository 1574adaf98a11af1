//! `shm`: calls of shmget(2), shmat(2), shmdt(2) and shmctl(2) (spec §2.6,
//! §3.7), each only when enabled in `shm.conf` `[syscalls]`, which the
//! original ignored (B-24).

use bpf::shm::counter::*;
use bpf::shm::OBJECT;
use conf::{OwnKey, ThreadName};

use crate::chart::{ChartDef, ChartMode, Defaults, DimDef};
use crate::contexts;
use crate::per_process::{Families, PerProcess};
use crate::thread::{syscall_functions, Call, Side, Thread, Variant, VariantKind};

const DEFAULTS: Defaults = Defaults {
    units: "calls/s",
    family: "ipc shared memory",
    module: "shm",
};

const CHARTS: &[ChartDef] = &[DEFAULTS.chart(
    "system.shared_memory_calls",
    "Calls to shared memory system calls",
    1207,
    &[
        DimDef::total("get", "get", GET),
        DimDef::total("at", "at", AT),
        DimDef::total("dt", "dt", DT),
        DimDef::total("ctl", "ctl", CTL),
    ],
)];

/// A syscall counted on entry while `shm.conf` enables it: its tracepoint,
/// or its entry point, as the original hooks it.
macro_rules! syscall {
    ($name:literal, $counter:expr) => {
        Call::new($name, Side::Entry, &[$name], syscall_functions!($name)).switched($counter)
    };
}

const CALLS: &[Call] = &[
    syscall!("shmget", GET),
    syscall!("shmat", AT),
    syscall!("shmdt", DT),
    syscall!("shmctl", CTL),
];

/// `shm.conf` `[syscalls]`.
const KEYS: &[OwnKey] = &[
    OwnKey::switch("syscalls", "shmget", GET),
    OwnKey::switch("syscalls", "shmat", AT),
    OwnKey::switch("syscalls", "shmdt", DT),
    OwnKey::switch("syscalls", "shmctl", CTL),
];

const FAMILIES: Families = Families {
    apps: "ipc shm (eBPF)",
    cgroup: "ipc shm (eBPF)",
    units: "calls/s",
    module: "shm",
};

/// The apps, cgroup and services charts (spec §2.6).
const PER_PROCESS: PerProcess = PerProcess {
    charts: &[
        FAMILIES.totals(
            GET,
            ChartMode::Both,
            "shmget_call",
            "Calls to syscall <code>shmget(2)</code>.",
            contexts!("shmget"),
            ("get", "get"),
            20191,
            45800,
        ),
        FAMILIES.totals(
            AT,
            ChartMode::Both,
            "shmat_call",
            "Calls to syscall <code>shmat(2)</code>.",
            contexts!("shmat"),
            ("at", "at"),
            20192,
            45801,
        ),
        FAMILIES.totals(
            DT,
            ChartMode::Both,
            "shmdt_call",
            "Calls to syscall <code>shmdt(2)</code>.",
            contexts!("shmdt"),
            ("dt", "dt"),
            20193,
            45802,
        ),
        FAMILIES.totals(
            CTL,
            ChartMode::Both,
            "shmctl_call",
            "Calls to syscall <code>shmctl(2)</code>.",
            contexts!("shmctl"),
            ("ctl", "ctl"),
            20194,
            45803,
        ),
    ],
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

pub static THREAD: Thread = Thread {
    name: ThreadName::Shm,
    object: OBJECT,
    charts: CHARTS,
    keyed: None,
    per_process: Some(PER_PROCESS),
    calls: CALLS,
    variants: &[
        Variant::new(VariantKind::Tracepoint),
        Variant::new(VariantKind::Trampoline),
        Variant::new(VariantKind::Probe),
    ],
    keys: KEYS,
};
