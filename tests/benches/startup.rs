//! How long the collector takes from exec to data, with every implemented
//! thread that can run here enabled at `update every = 1`, 20 trials: until the first system
//! chart of every thread that has one got its first update (its baseline:
//! charts are born at zero, and Netdata stores no chart's first
//! collection) and its second (the first value Netdata stores), and until
//! every thread's dimension of `netdata.ebpf_attach_variant` shows its
//! variant (a chart born at zero too: one update after the attach).
//! Against a baseline from the same run: one thread (sync) alone.
//!
//! `cargo build --release --workspace && flock /tmp/ebpf-collector-tests.lock
//! cargo bench -p tests --bench startup` (as root). Not a test: it asserts
//! nothing; README.md records its numbers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tests::protocol::words;
use tests::{bench_collector, runnable_threads, TempDir};
use workers::registry;

const TRIALS: usize = 20;

/// Exec to every watched chart's first and second update, and to every
/// thread's variant shown.
struct Start {
    baseline: Duration,
    stored: Duration,
    attached: Duration,
}

/// `thread` names as `netdata.ebpf_attach_variant`'s dimensions, and the
/// chart whose first update counts for each (threads without system
/// charts have none: oomkill draws per process only, disk per disk).
fn watched(threads: &[&str]) -> Vec<(String, Option<&'static str>)> {
    registry::all()
        .iter()
        .filter(|t| threads.contains(&t.name.key()))
        .map(|t| (t.name.to_string(), t.charts.first().map(|chart| chart.id)))
        .collect()
}

fn start(threads: &[&str]) -> Start {
    let config = TempDir::new("startup");
    let begin = Instant::now();
    let args: Vec<String> = threads.iter().map(|t| format!("--{t}")).collect();
    let mut child = bench_collector(&config, &args, Stdio::null());
    let watched = watched(threads);
    let mut attached: BTreeMap<String, Instant> = BTreeMap::new();
    let mut updates: BTreeMap<&str, Vec<Instant>> = BTreeMap::new();
    let charts: Vec<&str> = watched.iter().filter_map(|(_, chart)| *chart).collect();
    let mut chart = String::new();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.map_while(Result::ok) {
        let now = Instant::now();
        let words = words(&line);
        match words.first().map(String::as_str) {
            Some("BEGIN") => {
                chart = words[1].clone();
                if let Some(id) = charts.iter().find(|c| **c == chart) {
                    updates.entry(id).or_default().push(now);
                }
            }
            Some("SET")
                if chart == "netdata.ebpf_attach_variant"
                    && words[2].parse::<i64>().is_ok_and(|v| v > 0) =>
            {
                attached.entry(words[1].clone()).or_insert(now);
            }
            _ => {}
        }
        let stored = updates.len() == charts.len() && updates.values().all(|u| u.len() >= 2);
        if attached.len() == watched.len() && stored {
            break;
        }
        assert!(
            begin.elapsed() < Duration::from_secs(60),
            "no data in a minute"
        );
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    child.wait().unwrap();
    let last = |times: Vec<Instant>| times.into_iter().max().unwrap() - begin;
    let nth = |n: usize| last(updates.values().map(|u| u[n]).collect());
    Start {
        baseline: nth(0),
        stored: nth(1),
        attached: last(attached.into_values().collect()),
    }
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("startup: needs root to load BPF programs");
        std::process::exit(1);
    }
    // Those that can run here (dcstat, for one, cannot on a kernel without
    // kprobes that refuses trampolines).
    let all: Vec<&str> = runnable_threads().iter().map(|t| t.name.key()).collect();
    let setups: [(String, Vec<&str>); 2] = [
        (format!("all {} that run here", all.len()), all.clone()),
        ("sync only".to_owned(), vec!["sync"]),
    ];
    let mut results: Vec<Vec<Start>> = setups.iter().map(|_| Vec::new()).collect();
    for _ in 0..TRIALS {
        for (i, (_, threads)) in setups.iter().enumerate() {
            results[i].push(start(threads));
        }
    }
    println!("exec to data, update every = 1, {TRIALS} trials each, interleaved");
    println!("| threads | first update (baseline), median ms | worst | first stored value, median ms | worst | variant shown, median ms | worst |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for ((name, _), starts) in setups.iter().zip(results) {
        let columns: Vec<String> = [
            |s: &Start| s.baseline,
            |s: &Start| s.stored,
            |s: &Start| s.attached,
        ]
        .iter()
        .map(|of| {
            let mut times: Vec<Duration> = starts.iter().map(of).collect();
            times.sort();
            format!(
                "{:.0} | {:.0}",
                ms(times[TRIALS / 2]),
                ms(times[TRIALS - 1])
            )
        })
        .collect();
        println!("| {name} | {} |", columns.join(" | "));
    }
}
