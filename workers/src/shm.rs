//! `shm`: calls of shmget(2), shmat(2), shmdt(2) and shmctl(2) (spec §2.6,
//! §3.7), each only when enabled in `shm.conf` `[syscalls]`, which the
//! original ignored (B-24).

use bpf::layout::shm::*;
use conf::{Config, ThreadName};

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::per_process::{incremental_chart, Families, PerProcess};
use crate::thread::{
    syscall_program, Hook, Needed, ProgramSpec, StaticThread, Variant, VariantKind,
    PID_FILTER_PROGRAMS,
};

const COUNTERS: &[&str] = &[
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "tgid_added",
    "tgid_ended",
    "tgid_full",
];
const _: () = assert!(COUNTERS.len() == bpf::layout::shm::COUNTERS as usize);

const CHARTS: &[ChartDef] = &[ChartDef {
    id: "system.shared_memory_calls",
    title: "Calls to shared memory system calls",
    units: "calls/s",
    family: "ipc shared memory",
    context: "",
    kind: ChartKind::Line,
    priority: 1207,
    module: "shm",
    mode: ChartMode::Both,
    dims: &[
        DimDef::new("get", "get", DimValue::Total(GET)),
        DimDef::new("at", "at", DimValue::Total(AT)),
        DimDef::new("dt", "dt", DimValue::Total(DT)),
        DimDef::new("ctl", "ctl", DimValue::Total(CTL)),
    ],
}];

/// A program on a syscall's x86-64 entry point, as the original hooks it.
macro_rules! entry_point {
    ($program:literal, $hook:ident, $syscall:literal, $counter:expr) => {
        ProgramSpec::new(
            $program,
            Hook::$hook(&[concat!("__x64_sys_", $syscall)]),
            Needed::Counter($counter),
        )
    };
}

const VARIANTS: &[Variant] = &[
    Variant {
        kind: VariantKind::Tracepoint,
        object: bpf::SHM,
        counter_map: "shm_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[0],
            ProgramSpec::tgid_values(VariantKind::Tracepoint)[1],
            syscall_program!("shm", enter, "shmget", Needed::Counter(GET)),
            syscall_program!("shm", enter, "shmat", Needed::Counter(AT)),
            syscall_program!("shm", enter, "shmdt", Needed::Counter(DT)),
            syscall_program!("shm", enter, "shmctl", Needed::Counter(CTL)),
        ],
    },
    Variant {
        kind: VariantKind::Trampoline,
        object: bpf::SHM,
        counter_map: "shm_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Trampoline)[0],
            ProgramSpec::tgid_values(VariantKind::Trampoline)[1],
            entry_point!("shmget_fentry", FEntry, "shmget", GET),
            entry_point!("shmat_fentry", FEntry, "shmat", AT),
            entry_point!("shmdt_fentry", FEntry, "shmdt", DT),
            entry_point!("shmctl_fentry", FEntry, "shmctl", CTL),
        ],
    },
    Variant {
        kind: VariantKind::Probe,
        object: bpf::SHM,
        counter_map: "shm_counters",
        programs: &[
            PID_FILTER_PROGRAMS[0],
            PID_FILTER_PROGRAMS[1],
            ProgramSpec::tgid_values(VariantKind::Probe)[0],
            ProgramSpec::tgid_values(VariantKind::Probe)[1],
            entry_point!("shmget_kprobe", KProbe, "shmget", GET),
            entry_point!("shmat_kprobe", KProbe, "shmat", AT),
            entry_point!("shmdt_kprobe", KProbe, "shmdt", DT),
            entry_point!("shmctl_kprobe", KProbe, "shmctl", CTL),
        ],
    },
];

const FAMILIES: Families = Families {
    apps: "ipc shm (eBPF)",
    cgroup: "ipc shm (eBPF)",
    units: "calls/s",
};

/// The apps, cgroup and services charts (spec §2.6).
static PER_PROCESS_CHARTS: PerProcess = PerProcess {
    counters: COUNTERS.split_at(PER_PROCESS as usize).0,
    charts: &[
        incremental_chart!(
            GET,
            ChartMode::Both,
            FAMILIES,
            "shmget_call",
            "Calls to syscall <code>shmget(2)</code>.",
            "shmget",
            ("get", "get"),
            20191,
            45800
        ),
        incremental_chart!(
            AT,
            ChartMode::Both,
            FAMILIES,
            "shmat_call",
            "Calls to syscall <code>shmat(2)</code>.",
            "shmat",
            ("at", "at"),
            20192,
            45801
        ),
        incremental_chart!(
            DT,
            ChartMode::Both,
            FAMILIES,
            "shmdt_call",
            "Calls to syscall <code>shmdt(2)</code>.",
            "shmdt",
            ("dt", "dt"),
            20193,
            45802
        ),
        incremental_chart!(
            CTL,
            ChartMode::Both,
            FAMILIES,
            "shmctl_call",
            "Calls to syscall <code>shmctl(2)</code>.",
            "shmctl",
            ("ctl", "ctl"),
            20194,
            45803
        ),
    ],
    module: "shm",
    max_slots: None,
    apps_always: false,
    releases_follow_exits: None,
};

pub static THREAD: StaticThread = StaticThread {
    name: ThreadName::Shm,
    counters: COUNTERS,
    charts: CHARTS,
    variants: VARIANTS,
    collects: enabled_in_shm_conf,
    per_process: Some(&PER_PROCESS_CHARTS),
};

/// `shm.conf` `[syscalls]`.
fn enabled_in_shm_conf(config: &Config, counter: u32) -> bool {
    let enabled = &config.shm_syscalls;
    match counter {
        GET => enabled.shmget,
        AT => enabled.shmat,
        DT => enabled.shmdt,
        CTL => enabled.shmctl,
        _ => true,
    }
}
