//! The collector's own CPU time on an idle machine: supervisor and
//! workers together, every implemented thread that runs here at `update
//! every = 1`, with the apps and cgroup charts on, against the same
//! threads with both off, in interleaved rounds. Measured from each
//! task's schedstat (time on a CPU, user and system), over a window that
//! starts once every thread has sent data. Issue 19's target: 0.2 % of one
//! core with apps and cgroups on.
//!
//! `cargo build --release --workspace && flock /tmp/ebpf-collector-tests.lock
//! cargo bench -p tests --bench idle_cpu` (as root). Not a test: it asserts
//! nothing; BENCHMARKS.md records its numbers.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::{bench_collector, cpu_ns, runnable_threads, TempDir};

const ROUNDS: usize = 3;
/// Long enough for the threads to have attached and sent data.
const WARM_UP: Duration = Duration::from_secs(8);
const WINDOW: Duration = Duration::from_secs(30);

/// `pid` and its children (the workers).
fn tree(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // The parent is the second field after the name's closing `)`.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            pids.push(child);
        }
    }
    pids
}

/// Nanoseconds on a CPU of every task of `pids`.
fn tree_cpu_ns(pids: &[u32]) -> u64 {
    pids.iter().map(|&pid| cpu_ns(pid)).sum()
}

/// Percent of one core the collector used over [`WINDOW`], and how many
/// processes it ran as.
fn measure(threads: &[String], per_process: bool) -> (f64, usize) {
    let config = TempDir::new("idle-cpu");
    let on = if per_process { "yes" } else { "no" };
    config.write(
        "ebpf.d.conf",
        &format!("[global]\n    apps = {on}\n    cgroups = {on}\n"),
    );
    let mut child = bench_collector(&config, threads, Stdio::null());
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    std::thread::sleep(WARM_UP);
    let pids = tree(child.id());
    let (before, started) = (tree_cpu_ns(&pids), Instant::now());
    std::thread::sleep(WINDOW);
    let spent = tree_cpu_ns(&pids) - before;
    let share = 100.0 * spent as f64 / started.elapsed().as_nanos() as f64;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    child.wait().unwrap();
    drain.join().unwrap();
    (share, pids.len())
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("idle_cpu: needs root to load BPF programs");
        std::process::exit(1);
    }
    let threads: Vec<String> = runnable_threads()
        .iter()
        .map(|t| format!("--{}", t.name.key()))
        .collect();
    let mut shares = [Vec::new(), Vec::new()];
    let mut processes = 0;
    for _ in 0..ROUNDS {
        for (per_process, samples) in [false, true].into_iter().zip(&mut shares) {
            let (share, count) = measure(&threads, per_process);
            samples.push(share);
            processes = count;
        }
    }
    println!(
        "{} threads ({processes} processes), update every = 1, {} s windows, {ROUNDS} rounds",
        threads.len(),
        WINDOW.as_secs()
    );
    println!("| apps and cgroups | % of one core, median | min | max |");
    println!("|---|---:|---:|---:|");
    for (label, samples) in ["off", "on"].iter().zip(&mut shares) {
        samples.sort_by(f64::total_cmp);
        println!(
            "| {label} | {:.3} | {:.3} | {:.3} |",
            samples[ROUNDS / 2],
            samples[0],
            samples[ROUNDS - 1]
        );
    }
}
