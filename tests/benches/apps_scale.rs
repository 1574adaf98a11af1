//! Apps at scale: what the per-process path (the workers' table walks and
//! the supervisor's grouping) costs per tick with 1k, 10k and 30k live
//! processes, against the same collector with apps off on the same
//! processes, in one run; the kernel memory of the per-process tables
//! against the original's layout (per-CPU hashes of its per-PID structs,
//! created here so the kernel reports their size); the whole collector's
//! PSS.
//!
//! Every live process of the crowd writes a byte to /dev/null once a
//! second, so each tick has one vfs delta per process to group; the apps
//! runs check that the crowd's group counted those writes.
//!
//! Run as root with `scripts/bench-apps [--plot PATH] [--ticks N]
//! [LIVE_PROCESSES...]` (it takes the shared test lock). Prints Markdown
//! tables, then a `RESULT apps-scale ...` line per run for the plot.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use tests::maps::{map_memlock, map_memory, possible_cpus, MapType};
use tests::{cpu_ns, Collector};

/// Live processes measured in turn, unless given as arguments.
const CROWDS: [usize; 3] = [1_000, 10_000, 30_000];
/// The threads with per-process tables and charts (oomkill's table is
/// capped at a few victims).
const THREADS: [&str; 4] = ["--process", "--fd", "--vfs", "--shm"];
const DEFAULT_TABLE: u32 = 32_768;
/// The kernel's largest `pid_max`, and `pid table size`'s.
const LARGE_TABLE: u32 = 4_194_304;
/// Ticks measured per run (update every = 1 s), unless `--ticks N`.
const TICKS: u32 = 10;
const CROWD_COMM: &[u8] = b"ebpf-crowd\0";

/// Processes that each write a byte to /dev/null every second until
/// killed.
struct Crowd {
    pids: Vec<libc::pid_t>,
    devnull: File,
}

impl Crowd {
    fn new() -> Crowd {
        Crowd {
            pids: Vec::new(),
            devnull: File::options().write(true).open("/dev/null").unwrap(),
        }
    }

    fn grow(&mut self, to: usize) {
        let fd = self.devnull.as_raw_fd();
        while self.pids.len() < to {
            // SAFETY: the child only makes async-signal-safe calls and
            // never returns.
            match unsafe { libc::fork() } {
                -1 => panic!("fork: {}", std::io::Error::last_os_error()),
                0 => unsafe { member(fd) },
                pid => self.pids.push(pid),
            }
        }
    }
}

/// A crowd member's life: named for its apps group, gone with the bench.
unsafe fn member(devnull: RawFd) -> ! {
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    libc::prctl(libc::PR_SET_NAME, CROWD_COMM.as_ptr());
    let second = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        libc::write(devnull, b"x".as_ptr().cast(), 1);
        libc::nanosleep(&second, std::ptr::null_mut());
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: plain syscalls on our own children.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for &pid in &self.pids {
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
    }
}

/// The supervisor's children: its workers.
fn workers(supervisor: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{supervisor}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn pss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The original's per-PID values (spec §3: `tbl_pid_stats`, `tbl_fd_pid`,
/// `tbl_vfs_pid`, `tbl_pid_shm`), with their C padding.
const ORIGINAL_VALUES: [(&str, u32); 4] = [("process", 40), ("fd", 16), ("vfs", 112), ("shm", 32)];

/// What the kernel reports for the original's tables: per-CPU hashes (its
/// `maps per core = yes` default), u32 keys, `entries` each.
fn original_memory(entries: u32) -> u64 {
    ORIGINAL_VALUES
        .iter()
        .map(|(_, value_size)| map_memlock(MapType::PerCpuHash, 4, *value_size, entries))
        .sum()
}

struct Run {
    supervisor_ms: f64,
    workers_ms: f64,
    /// The crowd's writes counted per tick (apps on).
    counted: Option<f64>,
    pss_kib: u64,
    tables: u64,
    maps: u64,
}

/// The crowd's writes so far, and the chart's updates.
fn crowd_writes(collector: &Collector) -> Option<(i64, usize)> {
    let stream = collector.stream();
    let chart = stream.chart("apps.vfs_write_call")?;
    Some((chart.total("crowd")?, chart.updates))
}

fn measure(crowd: usize, apps: bool, table: u32, ticks: u32) -> Run {
    let config = format!(
        "[global]\napps = {}\npid table size = {table}\n",
        if apps { "yes" } else { "no" }
    );
    let mut args = vec!["--update-every", "1"];
    args.extend_from_slice(&THREADS);
    let collector = Collector::start(
        &args,
        &[
            ("ebpf.d.conf", &config),
            ("apps_groups.conf", "crowd: ebpf-crowd\n"),
        ],
    );
    collector.wait_for_data("filesystem.vfs_io");
    // Warm: every process of the crowd grouped and counted each tick.
    let warm = Instant::now() + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_secs(3));
        if !apps {
            break;
        }
        let before = crowd_writes(&collector).unwrap_or_default();
        std::thread::sleep(Duration::from_secs(2));
        let after = crowd_writes(&collector).unwrap_or_default();
        let per_tick = (after.0 - before.0) / (after.1 - before.1).max(1) as i64;
        if per_tick as f64 >= 0.9 * crowd as f64 {
            break;
        }
        assert!(
            Instant::now() < warm,
            "the crowd of {crowd} never counted: {per_tick} writes per tick"
        );
    }
    let supervisor = collector.pid();
    let pids = || {
        let mut all = vec![supervisor];
        all.extend(workers(supervisor));
        all
    };
    let cpu = |pids: &[u32]| {
        (
            cpu_ns(pids[0]),
            pids[1..].iter().map(|&p| cpu_ns(p)).sum::<u64>(),
        )
    };
    let before_pids = pids();
    let (sup0, work0, writes0) = (
        cpu(&before_pids).0,
        cpu(&before_pids).1,
        crowd_writes(&collector),
    );
    std::thread::sleep(Duration::from_secs(ticks.into()));
    let after_pids = pids();
    assert_eq!(before_pids, after_pids, "a worker restarted while measured");
    let (sup1, work1) = cpu(&after_pids);
    let writes1 = crowd_writes(&collector);
    let per_tick = |ns: u64| ns as f64 / 1e6 / f64::from(ticks);
    let maps = map_memory(&after_pids[1..]);
    let run = Run {
        supervisor_ms: per_tick(sup1 - sup0),
        workers_ms: per_tick(work1 - work0),
        counted: writes0
            .zip(writes1)
            .map(|(a, b)| (b.0 - a.0) as f64 / (b.1 - a.1).max(1) as f64),
        pss_kib: after_pids.iter().map(|&p| pss_kib(p)).sum(),
        tables: maps.get("tgid_values").copied().unwrap_or(0),
        maps: maps.values().sum(),
    };
    let (_, stream) = collector.terminate();
    assert!(
        stream.errors.is_empty(),
        "protocol errors: {:?}",
        stream.errors
    );
    run
}

/// A run's figures on one line, for scripts/bench-apps, which collects
/// them and plots them (tests/src/bin/plot.rs); `original` is the
/// original's per-process tables at `table` entries.
fn result(processes: usize, apps: bool, table: u32, run: &Run, original: u64) -> String {
    format!(
        "RESULT apps-scale processes={processes} apps={} table={table} supervisor_ms={:.3} workers_ms={:.3} pss_bytes={} tables_bytes={} maps_bytes={} original_tables_bytes={original} cpus={}",
        if apps { "on" } else { "off" },
        run.supervisor_ms,
        run.workers_ms,
        run.pss_kib * 1024,
        run.tables,
        run.maps,
        possible_cpus(),
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    if !tests::require_root("apps_scale") {
        return;
    }
    let (mut crowds, mut ticks) = (Vec::new(), TICKS);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ticks" => {
                ticks = args.next().and_then(|n| n.parse().ok()).expect("--ticks N");
            }
            // cargo bench's own flag.
            "--bench" => {}
            live => crowds.push(live.parse().expect("arguments: numbers of live processes")),
        }
    }
    if crowds.is_empty() {
        crowds = CROWDS.to_vec();
    }
    crowds.sort();
    let most = *crowds.last().unwrap();
    let mut crowd = Crowd::new();
    println!("| live processes | apps | supervisor ms/tick | workers ms/tick | crowd writes counted/tick | PSS (all processes) MiB | per-process tables MiB | all maps MiB |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut largest, mut results) = (None, Vec::new());
    for &size in &crowds {
        crowd.grow(size);
        for apps in [false, true] {
            let run = measure(size, apps, DEFAULT_TABLE, ticks);
            println!(
                "| {size} | {} | {:.2} | {:.2} | {} | {:.1} | {:.2} | {:.2} |",
                if apps { "on" } else { "off" },
                run.supervisor_ms,
                run.workers_ms,
                run.counted.map_or("-".into(), |c| format!("{c:.0}")),
                run.pss_kib as f64 / 1024.0,
                mib(run.tables),
                mib(run.maps),
            );
            results.push(result(
                size,
                apps,
                DEFAULT_TABLE,
                &run,
                original_memory(DEFAULT_TABLE),
            ));
            if apps {
                largest = Some(run);
            }
        }
    }
    let large = measure(most, true, LARGE_TABLE, ticks);
    let default = largest.expect("measured");
    println!();
    println!("Kernel memory of the per-process tables with apps on and {} live processes, against the original's layout (per-CPU hashes, {} possible CPUs):", most, possible_cpus());
    println!();
    println!("| pid table size | ours MiB | original's layout MiB | ours / original |");
    println!("|---|---|---|---|");
    // The original's at the large size would take gigabytes: its per-entry
    // size from the kernel's reports at two sizes, extrapolated.
    let (small, double) = (
        original_memory(DEFAULT_TABLE),
        original_memory(2 * DEFAULT_TABLE),
    );
    let per_entry = (double - small) / u64::from(DEFAULT_TABLE);
    let original_at = |table: u32| small + per_entry * u64::from(table - DEFAULT_TABLE);
    results.push(result(
        most,
        true,
        LARGE_TABLE,
        &large,
        original_at(LARGE_TABLE),
    ));
    for (table, run) in [(DEFAULT_TABLE, &default), (LARGE_TABLE, &large)] {
        let original = original_at(table);
        println!(
            "| {table} | {:.2} | {:.2} | {:.3} |",
            mib(run.tables),
            mib(original),
            run.tables as f64 / original as f64
        );
    }
    // After the tables, which they would cut.
    println!();
    for line in results {
        println!("{line}");
    }
}
