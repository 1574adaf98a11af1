//! What each thread's programs add to a syscall: every case's syscalls are
//! timed with no program attached, with an empty program on each of their
//! enter and exit tracepoints (the floor any tracepoint-based collector
//! pays), and with the thread's real programs (tracepoint variant, as the
//! collector loads them, no `--pid`) in entry and return mode, with apps
//! off and on, all in one run, in rounds so that drift hits every setup;
//! and in entry mode with the kernel's BPF statistics on
//! (`BPF_ENABLE_STATS`, what `netdata.ebpf_kernel_cost` needs): what they
//! add to the programs' cost decides how often the collector samples them.
//!
//! Run as root with `scripts/bench` (it takes the shared test lock). Prints
//! a Markdown table: median ns per iteration, the time added over no
//! program, and that added time as a multiple of the empty pair's.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use aya::sys::{enable_stats, Stats};

use aya::programs::TracePoint;
use aya::{Btf, Ebpf};
use conf::{Config, KernelCost, LoadMode, ThreadName};
use tests::median;
use workers::loader::Collector;
use workers::{VariantKind, WorkerConfig};

/// Iterations per timed run, runs per setup and round, rounds.
const ITERATIONS: u64 = 200_000;
const RUNS: usize = 5;
const ROUNDS: usize = 3;

struct Case {
    name: &'static str,
    /// The syscalls one iteration makes.
    syscalls: &'static [&'static str],
    threads: &'static [ThreadName],
    /// Times `iterations` iterations.
    run: fn(u64) -> Duration,
}

const CASES: &[Case] = &[
    Case {
        name: "read(2) of 1 byte",
        syscalls: &["read"],
        threads: &[ThreadName::Vfs],
        run: read_one_byte,
    },
    Case {
        name: "write(2) of 1 byte",
        syscalls: &["write"],
        threads: &[ThreadName::Vfs],
        run: write_one_byte,
    },
    Case {
        name: "openat(2) + close(2)",
        syscalls: &["openat", "close"],
        threads: &[ThreadName::Fd, ThreadName::Vfs],
        run: open_and_close,
    },
    Case {
        name: "shmdt(2), failing",
        syscalls: &["shmdt"],
        threads: &[ThreadName::Shm],
        run: failing_shmdt,
    },
    Case {
        name: "umount2(2), failing",
        syscalls: &["umount"],
        threads: &[ThreadName::Mount],
        run: failing_umount,
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Setup {
    Nothing,
    EmptyPair,
    Thread {
        thread: ThreadName,
        mode: LoadMode,
        per_process: bool,
        /// BPF statistics on while timed.
        stats: bool,
    },
}

impl Setup {
    fn label(self) -> String {
        match self {
            Setup::Nothing => "no program".into(),
            Setup::EmptyPair => "empty enter+exit pair".into(),
            Setup::Thread {
                thread,
                mode,
                per_process,
                stats,
            } => format!(
                "{thread}, {} mode, apps {}{}",
                match mode {
                    LoadMode::Entry => "entry",
                    LoadMode::Return => "return",
                },
                if per_process { "on" } else { "off" },
                if stats { ", BPF statistics on" } else { "" }
            ),
        }
    }
}

/// Keeps a setup's programs attached until dropped.
struct Attached {
    _empty: Option<Ebpf>,
    thread: Option<Collector>,
    _stats: Option<OwnedFd>,
}

fn attach(setup: Setup, case: &Case, btf: &Btf) -> Attached {
    match setup {
        Setup::Nothing => Attached {
            _empty: None,
            thread: None,
            _stats: None,
        },
        Setup::EmptyPair => {
            let mut ebpf = Ebpf::load(bpf::empty::OBJECT.bytes).expect("load the empty program");
            let program: &mut TracePoint = ebpf.program_mut("empty").unwrap().try_into().unwrap();
            program.load().expect("load the empty program");
            for syscall in case.syscalls {
                for side in ["enter", "exit"] {
                    program
                        .attach("syscalls", &format!("sys_{side}_{syscall}"))
                        .expect("attach the empty program");
                }
            }
            Attached {
                _empty: Some(ebpf),
                thread: None,
                _stats: None,
            }
        }
        Setup::Thread {
            thread,
            mode,
            per_process,
            stats,
        } => {
            let mut config = Config::default();
            let settings = config.thread_mut(thread);
            settings.mode = mode;
            settings.apps = per_process;
            settings.cgroups = false;
            let cfg = WorkerConfig {
                thread,
                config,
                pid_filter: None,
                supervisor: std::process::id(),
            };
            let implementation = workers::registry::find(thread).unwrap();
            let variant = &implementation.variants[0];
            assert_eq!(variant.kind, VariantKind::Tracepoint);
            let collector = workers::loader::attach(implementation, variant, &cfg, btf)
                .unwrap_or_else(|e| panic!("attach {thread}: {e}"));
            Attached {
                _empty: None,
                thread: Some(collector),
                _stats: stats.then(|| enable_stats(Stats::RunTime).expect("BPF_ENABLE_STATS")),
            }
        }
    }
}

fn setups(case: &Case) -> Vec<Setup> {
    let mut all = vec![Setup::Nothing, Setup::EmptyPair];
    for &thread in case.threads {
        let tables = if thread == ThreadName::Mount {
            &[false][..]
        } else {
            &[false, true]
        };
        for &per_process in tables {
            for (mode, stats) in [
                (LoadMode::Entry, false),
                (LoadMode::Entry, true),
                (LoadMode::Return, false),
            ] {
                all.push(Setup::Thread {
                    thread,
                    mode,
                    per_process,
                    stats,
                });
            }
        }
    }
    all
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("syscall_cost: needs root to load BPF programs (run scripts/bench)");
        std::process::exit(1);
    }
    if !std::path::Path::new("/sys/kernel/tracing/events/syscalls").exists() {
        eprintln!(
            "syscall_cost: tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing"
        );
        std::process::exit(1);
    }
    // One CPU, so that migrations do not add noise.
    let mut cpus = nix::sched::CpuSet::new();
    cpus.set(0).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpus).unwrap();
    let btf = Btf::from_sys_fs().expect("kernel BTF");
    let kernel = nix::sys::utsname::uname().unwrap();
    println!(
        "kernel {}, {ITERATIONS} iterations x {RUNS} runs x {ROUNDS} rounds per setup, median\n",
        kernel.release().to_string_lossy()
    );
    let mut worst = [0f64; 2];
    // What statistics add, as a share of what the programs add.
    let mut stats_share = 0f64;
    for case in CASES {
        let setups = setups(case);
        let mut samples = vec![Vec::new(); setups.len()];
        for _ in 0..ROUNDS {
            for (setup, samples) in setups.iter().zip(&mut samples) {
                let attached = attach(*setup, case, &btf);
                (case.run)(ITERATIONS / 10);
                for _ in 0..RUNS {
                    let elapsed = (case.run)(ITERATIONS);
                    samples.push(elapsed.as_nanos() as f64 / ITERATIONS as f64);
                }
                if let Some(mut collector) = attached.thread {
                    assert_counted(&mut collector, *setup);
                }
            }
        }
        let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
        let (none, empty) = (medians[0], medians[1] - medians[0]);
        println!("| {} | ns/iteration | added | × empty pair |", case.name);
        println!("|---|---:|---:|---:|");
        for (setup, ns) in setups.iter().zip(&medians) {
            let added = ns - none;
            let ratio = added / empty;
            println!(
                "| {} | {ns:.0} | {added:.0} | {} |",
                setup.label(),
                if *setup == Setup::Nothing {
                    "".into()
                } else {
                    format!("{ratio:.2}")
                }
            );
            match *setup {
                Setup::Thread {
                    thread,
                    mode,
                    per_process,
                    stats: true,
                } => {
                    let same = Setup::Thread {
                        thread,
                        mode,
                        per_process,
                        stats: false,
                    };
                    let without = setups.iter().position(|s| *s == same).unwrap();
                    let programs = medians[without] - none;
                    stats_share = stats_share.max((ns - medians[without]) / programs);
                }
                Setup::Thread { per_process, .. } => {
                    let slot = &mut worst[usize::from(per_process)];
                    *slot = slot.max(ratio);
                }
                _ => {}
            }
        }
        println!();
    }
    println!(
        "worst added cost as a multiple of the empty pair's: apps off {:.2} (target <= 1.2), apps on {:.2} (target < 2)",
        worst[0], worst[1]
    );
    println!(
        "BPF statistics on add at most {:.0} % to what the programs cost; on {} s in every {} s \
         (the default sampling) {:.2} % (target <= 2 %)",
        100.0 * stats_share,
        KernelCost::WINDOW.as_secs(),
        KernelCost::CYCLE.as_secs(),
        100.0 * stats_share * KernelCost::WINDOW.as_secs_f64() / KernelCost::CYCLE.as_secs_f64()
    );
}

/// The programs ran: a counter holds at least one run's iterations.
fn assert_counted(collector: &mut Collector, setup: Setup) {
    let mut messages = Vec::new();
    collector.collect(&mut messages).unwrap();
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, ipc::Message::Counter { total, .. } if *total >= ITERATIONS)),
        "{}: the programs counted nothing: {messages:?}",
        setup.label()
    );
}

fn timed(iterations: u64, mut call: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        call();
    }
    start.elapsed()
}

fn read_one_byte(iterations: u64) -> Duration {
    let file = std::fs::File::open("/dev/zero").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut byte = 0u8;
    // SAFETY: a 1-byte read into a local.
    timed(iterations, || unsafe {
        libc::read(fd, (&raw mut byte).cast(), 1);
    })
}

fn write_one_byte(iterations: u64) -> Duration {
    let file = std::fs::File::options()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let byte = 0u8;
    // SAFETY: a 1-byte write from a local.
    timed(iterations, || unsafe {
        libc::write(fd, (&raw const byte).cast(), 1);
    })
}

fn open_and_close(iterations: u64) -> Duration {
    // SAFETY: opens and closes its own descriptor.
    timed(iterations, || unsafe {
        let fd = libc::openat(libc::AT_FDCWD, c"/dev/null".as_ptr(), libc::O_RDONLY);
        libc::close(fd);
    })
}

fn failing_shmdt(iterations: u64) -> Duration {
    // SAFETY: address 1, unaligned, is refused (EINVAL) before anything happens.
    timed(iterations, || unsafe {
        libc::shmdt(std::ptr::dangling::<libc::c_void>());
    })
}

fn failing_umount(iterations: u64) -> Duration {
    // SAFETY: a path that does not exist is refused (ENOENT).
    timed(iterations, || unsafe {
        libc::umount2(c"/nonexistent/ebpf-collector-bench".as_ptr(), 0);
    })
}
