//! Kernel memory of every map of every thread that runs on this kernel,
//! at default settings with apps and cgroups on, against the original's
//! maps for the same threads (spec §3) at the sizes it gives them with
//! apps on, created here so that the kernel reports their size. Run on
//! machines (or VMs) with different possible CPUs, it shows what grows
//! with CPUs: the original's per-CPU hashes and arrays (its `maps per
//! core = yes` default), and ours, which keeps per-CPU counters only.
//!
//! `cargo build --release --workspace && flock /tmp/ebpf-collector-tests.lock
//! cargo bench -p tests --bench kernel_memory` (as root); in a VM with N
//! CPUs: `scripts/bench-kernel-memory`. Not a test: it asserts nothing;
//! BENCHMARKS.md records its numbers. Its last line, `RESULT
//! kernel-memory ...`, is the totals for the plot.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::maps::{kib, map_memlock, map_memory, possible_cpus, MapType};
use tests::{bench_collector, children, runnable_threads, TempDir};

/// The original's per-PID tables with apps on and its default `collect
/// pid = real parent`: resized to 32768 / 3 (spec §3.1).
const PID: u32 = 10_922;

/// One of the original's maps: name, type, key and value sizes, entries.
type Map = (&'static str, MapType, u32, u32, u32);

/// A controller map (`<x>_ctrl`, spec §3.1): 6 entries of u64.
const fn ctrl(name: &'static str) -> Map {
    (name, MapType::Array, 4, 8, 6)
}

/// The original's maps of each thread (spec §3.2–3.17), per-CPU where its
/// `maps per core = yes` default makes them so. Filesystem: one
/// filesystem's maps (ext4), as the original loads per mounted type.
const ORIGINAL: &[(&str, &[Map])] = &[
    (
        "process",
        &[
            ("tbl_total_stats", MapType::PerCpuArray, 4, 8, 6),
            ("tbl_pid_stats", MapType::PerCpuHash, 4, 40, PID),
            ctrl("process_ctrl"),
        ],
    ),
    (
        "fd",
        &[
            ("tbl_fd_global", MapType::PerCpuArray, 4, 8, 4),
            ("tbl_fd_pid", MapType::PerCpuHash, 4, 16, PID),
            ctrl("fd_ctrl"),
        ],
    ),
    (
        "vfs",
        &[
            ("tbl_vfs_stats", MapType::PerCpuArray, 4, 8, 20),
            ("tbl_vfs_pid", MapType::PerCpuHash, 4, 112, PID),
            ctrl("vfs_ctrl"),
        ],
    ),
    // One array per syscall.
    ("sync", &[("tbl_sync", MapType::PerCpuArray, 4, 8, 1); 6]),
    ("mount", &[("tbl_mount", MapType::PerCpuArray, 4, 8, 4)]),
    (
        "shm",
        &[
            ("tbl_shm", MapType::PerCpuArray, 4, 8, 4),
            ("tbl_pid_shm", MapType::PerCpuHash, 4, 32, PID),
            ctrl("shm_ctrl"),
        ],
    ),
    (
        "socket",
        &[
            ("tbl_global_sock", MapType::PerCpuArray, 4, 8, 18),
            // B-33: at its compiled size whatever the configuration says.
            ("tbl_bandwidth", MapType::PerCpuHash, 4, 104, 65_535),
            ("tbl_conn_ipv4", MapType::PerCpuHash, 36, 56, 65_536),
            ("tbl_conn_ipv6", MapType::PerCpuHash, 36, 56, 65_536),
            ("tbl_lports", MapType::Hash, 4, 16, 1024),
            ("tbl_nv_udp", MapType::Hash, 8, 8, 8192),
            ctrl("socket_ctrl"),
        ],
    ),
    (
        "hardirq",
        &[
            ("tbl_hardirq", MapType::PerCpuHash, 4, 16, 1024),
            ("tbl_hardirq_static", MapType::PerCpuArray, 4, 16, 11),
        ],
    ),
    (
        "softirq",
        &[("tbl_softirq", MapType::PerCpuArray, 4, 16, 10)],
    ),
    (
        "cachestat",
        &[
            ("cstat_global", MapType::PerCpuArray, 4, 8, 4),
            ("cstat_pid", MapType::PerCpuHash, 4, 32, PID),
            ctrl("cstat_ctrl"),
        ],
    ),
    (
        "dcstat",
        &[
            ("dcstat_global", MapType::PerCpuArray, 4, 8, 3),
            ("dcstat_pid", MapType::PerCpuHash, 4, 24, PID),
            ("dcstat_ctrl", MapType::PerCpuArray, 4, 8, 6),
        ],
    ),
    (
        "disk",
        &[
            // Key {dev_t; sector_t}: 16 bytes with its padding.
            ("tmp_disk_tp_stat", MapType::PerCpuHash, 16, 8, 8192),
            ("tbl_disk_iocall", MapType::PerCpuHash, 8, 8, 6144),
        ],
    ),
    (
        "filesystem",
        &[
            ("tbl_ext4", MapType::PerCpuArray, 4, 8, 96),
            ("tmp_ext4", MapType::PerCpuHash, 4, 8, 4192),
            ctrl("ext4_ctrl"),
        ],
    ),
    (
        "swap",
        &[
            ("tbl_swap", MapType::PerCpuArray, 4, 8, 2),
            ("tbl_pid_swap", MapType::PerCpuHash, 4, 16, PID),
            ctrl("swap_ctrl"),
        ],
    ),
    ("oomkill", &[("tbl_oomkill", MapType::PerCpuHash, 4, 1, 64)]),
    (
        "mdflush",
        &[("tbl_mdflush", MapType::PerCpuHash, 4, 8, 1024)],
    ),
];

/// How long the threads may take to load and attach (slow VMs included).
const ATTACH: Duration = Duration::from_secs(120);

/// The thread a worker runs: `ebpf-collector worker <thread>`.
fn thread_of(worker: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{worker}/cmdline")).ok()?;
    let mut args = cmdline.split(|&b| b == 0).skip(1);
    (args.next()? == b"worker").then_some(())?;
    Some(String::from_utf8_lossy(args.next()?).into_owned())
}

/// Our maps' memory by thread, once every thread's worker holds its maps
/// and the totals stopped changing.
fn ours(threads: &[String]) -> BTreeMap<String, u64> {
    let config = TempDir::new("kernel-memory");
    config.write(
        "ebpf.d.conf",
        "[global]\n    apps = yes\n    cgroups = yes\n",
    );
    let mut child = bench_collector(&config, threads, Stdio::null());
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    let started = Instant::now();
    let mut last = BTreeMap::new();
    let measured = loop {
        std::thread::sleep(Duration::from_secs(2));
        let now: BTreeMap<String, u64> = children(child.id())
            .into_iter()
            .filter_map(|worker| {
                let total = map_memory(&[worker]).values().sum::<u64>();
                Some((thread_of(worker)?, total))
            })
            .filter(|(_, total)| *total > 0)
            .collect();
        if now.len() == threads.len() && now == last {
            break now;
        }
        assert!(
            started.elapsed() < ATTACH,
            "not every thread loaded its maps: {now:?}"
        );
        last = now;
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    child.wait().unwrap();
    drain.join().unwrap();
    measured
}

fn original(thread: &str) -> u64 {
    ORIGINAL
        .iter()
        .find(|(name, _)| *name == thread)
        .map(|(_, maps)| {
            maps.iter()
                .map(|&(_, kind, key, value, entries)| map_memlock(kind, key, value, entries))
                .sum()
        })
        .unwrap_or_else(|| panic!("no original layout for thread {thread}"))
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("kernel_memory: needs root to load BPF programs");
        std::process::exit(1);
    }
    let threads: Vec<String> = runnable_threads()
        .iter()
        .map(|t| t.name.key().to_string())
        .collect();
    let flags: Vec<String> = threads.iter().map(|t| format!("--{t}")).collect();
    let measured = ours(&flags);
    let kernel = nix::sys::utsname::uname().unwrap();
    println!(
        "kernel {}, {} possible CPUs, {} threads, apps and cgroups on, defaults; KiB (memlock)\n",
        kernel.release().to_string_lossy(),
        possible_cpus(),
        threads.len()
    );
    println!("| thread | ours | original's | ours / original's |");
    println!("|---|---:|---:|---:|");
    let (mut all_ours, mut all_original) = (0, 0);
    for thread in &threads {
        let (mine, theirs) = (measured[thread], original(thread));
        all_ours += mine;
        all_original += theirs;
        println!(
            "| {thread} | {} | {} | {:.3} |",
            kib(mine),
            kib(theirs),
            mine as f64 / theirs as f64
        );
    }
    println!(
        "| **all** | {} | {} | {:.3} |",
        kib(all_ours),
        kib(all_original),
        all_ours as f64 / all_original as f64
    );
    // For scripts/bench-kernel-memory, which collects these from every
    // run and plots them (tests/src/bin/plot.rs).
    println!(
        "RESULT kernel-memory kernel={} cpus={} threads={} ours_bytes={all_ours} original_bytes={all_original}",
        kernel.release().to_string_lossy(),
        possible_cpus(),
        threads.len()
    );
}
