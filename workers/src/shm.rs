//! `shm`: calls of shmget(2), shmat(2), shmdt(2) and shmctl(2) (spec §2.6,
//! §3.7), each only when enabled in `shm.conf` `[syscalls]`, which the
//! original ignored (B-24).

use bpf::layout::shm::*;
use conf::{Config, ThreadName};

use crate::chart::{ChartDef, ChartKind, ChartMode, DimDef, DimValue};
use crate::thread::{
    syscall_program, Hook, Needed, ProgramSpec, StaticThread, Variant, VariantKind,
    PID_FILTER_PROGRAMS, TGID_VALUES_FREE,
};

const COUNTERS: &[&str] = &[
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "tgid_added",
    "tgid_removed",
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
            TGID_VALUES_FREE,
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
            TGID_VALUES_FREE,
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
            TGID_VALUES_FREE,
            entry_point!("shmget_kprobe", KProbe, "shmget", GET),
            entry_point!("shmat_kprobe", KProbe, "shmat", AT),
            entry_point!("shmdt_kprobe", KProbe, "shmdt", DT),
            entry_point!("shmctl_kprobe", KProbe, "shmctl", CTL),
        ],
    },
];

pub static THREAD: StaticThread = StaticThread {
    name: ThreadName::Shm,
    counters: COUNTERS,
    charts: CHARTS,
    variants: VARIANTS,
    collects: enabled_in_shm_conf,
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
