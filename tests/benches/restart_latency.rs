//! How soon a SIGKILLed worker's charts carry data again, at
//! `update every = 1`, against a baseline from the same run: how soon the
//! next update comes from a random moment when nothing is killed (half an
//! interval on average, the inherent latency of per-second data).
//!
//! `cargo build --release --workspace && flock /tmp/ebpf-collector-tests.lock
//! cargo bench -p tests --bench restart_latency` (as root). Not a test: it
//! asserts nothing; DESIGN.md records its numbers.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::{bench_collector, gone, workers_of, TempDir};

const TRIALS: usize = 20;

type Begins = Arc<Mutex<Vec<(Instant, String)>>>;

/// When `chart` next gets an update after `after`.
fn next_update(begins: &Begins, chart: &str, after: Instant) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = begins
            .lock()
            .unwrap()
            .iter()
            .find(|(at, id)| *at > after && id == chart)
            .map(|(at, _)| *at);
        if let Some(at) = found {
            return at;
        }
        assert!(Instant::now() < deadline, "{chart} got no update");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn worker_of(supervisor: u32, thread: &str) -> Option<u32> {
    workers_of(supervisor, thread).find(|pid| !gone(*pid))
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<34} n={:<3} mean {:>6.0} ms  p50 {:>6.0} ms  p90 {:>6.0} ms  max {:>6.0} ms",
        samples.len(),
        ms(mean),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1])
    );
}

fn main() {
    // Default restart delays; a crash window shorter than the time between
    // trials makes each kill a first death, as a lone crash would be.
    let config = TempDir::new("bench");
    config.write("ebpf.d.conf", "[supervisor]\ncrash window = 1\n");
    let threads = ["--process".to_owned(), "--sync".to_owned()];
    let mut child = bench_collector(&config, &threads, Stdio::null());
    let begins: Begins = Arc::default();
    let stdout = child.stdout.take().unwrap();
    {
        let begins = Arc::clone(&begins);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(chart) = line.strip_prefix("BEGIN ") {
                    begins
                        .lock()
                        .unwrap()
                        .push((Instant::now(), chart.to_string()));
                }
            }
        });
    }
    let supervisor = child.id();
    for chart in ["system.exit", "mem.file_sync"] {
        next_update(&begins, chart, Instant::now());
    }
    let (mut baseline, mut restart) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let (thread, chart) = [("process", "system.exit"), ("sync", "mem.file_sync")][trial % 2];
        // Off the update grid by a different amount each time.
        std::thread::sleep(Duration::from_millis(1100 + 37 * trial as u64));
        let from = Instant::now();
        baseline.push(next_update(&begins, chart, from) - from);

        std::thread::sleep(Duration::from_millis(300));
        let old = worker_of(supervisor, thread).expect("a worker");
        let killed = Instant::now();
        kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
        let respawned = loop {
            if worker_of(supervisor, thread).is_some_and(|pid| pid != old) {
                break Instant::now();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "no new {thread} worker"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        // The old worker's last frames were drained before the restart:
        // the first update after the new process exists is its data.
        restart.push(next_update(&begins, chart, respawned) - killed);
    }
    println!("update every = 1, {TRIALS} trials, process and sync alternately");
    summary("baseline: random moment → update", baseline);
    summary("SIGKILL → data from the new worker", restart);
    kill(Pid::from_raw(supervisor as i32), Signal::SIGTERM).unwrap();
    child.wait().unwrap();
}
