//! How long a SIGTERM takes to end the collector and every worker of it,
//! with every implemented thread that can run here enabled, against one thread (sync) in the
//! same run; and how many workers had to be SIGKILLed for it. Then the
//! floor the kernel sets: what closing one bare perf event (no program) on
//! a syscall tracepoint takes, which every syscall tracepoint a worker
//! attached costs its release once, one after the other.
//!
//! `cargo build --release --workspace && flock /tmp/ebpf-collector-tests.lock
//! cargo bench -p tests --bench shutdown` (as root). Not a test: it asserts
//! nothing; the README records its numbers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::protocol::Stream;
use tests::{bench_collector, children, runnable_threads, TempDir};

const TRIALS: usize = 20;

/// One shutdown: SIGTERM to the supervisor until it exited, until its last
/// worker was gone, and the workers it had to kill.
struct Shutdown {
    supervisor: Duration,
    workers: Duration,
    killed: usize,
}

fn start(threads: &[String], config: &TempDir) -> (Child, Arc<Mutex<Stream>>, Arc<Mutex<String>>) {
    let mut child = bench_collector(config, threads, Stdio::piped());
    let stream: Arc<Mutex<Stream>> = Arc::default();
    let stderr: Arc<Mutex<String>> = Arc::default();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    {
        let stream = Arc::clone(&stream);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                stream.lock().unwrap().feed(&line);
            }
        });
    }
    {
        let stderr = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut stderr = stderr.lock().unwrap();
                stderr.push_str(&line);
                stderr.push('\n');
            }
        });
    }
    (child, stream, stderr)
}

/// Every thread's worker attached and sending (its thread shown running).
fn all_running(stream: &Stream, threads: &[String]) -> bool {
    threads.iter().all(|flag| {
        let thread = flag.trim_start_matches("--");
        stream
            .chart("netdata.ebpf_threads")
            .and_then(|c| c.dims.get(thread))
            .and_then(|d| d.values.last())
            == Some(&1)
    })
}

fn one_shutdown(threads: &[String]) -> Shutdown {
    let config = TempDir::new("bench-shutdown");
    let (mut child, stream, stderr) = start(threads, &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !all_running(&stream.lock().unwrap(), threads) {
        assert!(Instant::now() < deadline, "threads never all running");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A few updates in, as a running collector is.
    std::thread::sleep(Duration::from_millis(2300));
    let workers = children(child.id());
    let term = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let mut supervisor = None;
    let mut last_worker = None;
    while supervisor.is_none() || last_worker.is_none() {
        if supervisor.is_none() && child.try_wait().unwrap().is_some() {
            supervisor = Some(term.elapsed());
        }
        // A worker is reaped by the supervisor, or by init once it exited.
        let left = workers
            .iter()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .count();
        if last_worker.is_none() && left == 0 {
            last_worker = Some(term.elapsed());
        }
        assert!(term.elapsed() < Duration::from_secs(30), "no end");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Its stderr is complete once it exited and the pipe drained.
    std::thread::sleep(Duration::from_millis(50));
    let killed = stderr
        .lock()
        .unwrap()
        .matches("after SIGTERM; killing it")
        .count();
    Shutdown {
        supervisor: supervisor.unwrap(),
        workers: last_worker.unwrap(),
        killed,
    }
}

fn summary(name: &str, trials: &[Shutdown]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        (ms(v[v.len() / 2]), ms(v[v.len() - 1]))
    };
    let (sup_median, sup_worst) = stats(trials.iter().map(|t| t.supervisor).collect());
    let (all_median, all_worst) = stats(trials.iter().map(|t| t.workers).collect());
    let killed: usize = trials.iter().map(|t| t.killed).sum();
    println!(
        "| {name} | {} | {sup_median:.0} | {sup_worst:.0} | {all_median:.0} | {all_worst:.0} | {killed} |",
        trials.len()
    );
}

/// Milliseconds to close a perf event opened on `event` (a tracefs
/// `events/` path) with nothing attached to it.
fn bare_perf_event_close(event: &str) -> f64 {
    let id: u64 = std::fs::read_to_string(format!("/sys/kernel/tracing/events/{event}/id"))
        .expect("tracefs mounted (the collector mounts it)")
        .trim()
        .parse()
        .unwrap();
    // struct perf_event_attr as of its first version (64 bytes): type
    // (PERF_TYPE_TRACEPOINT, 2), size, config, sample_period; the rest 0.
    let mut attr = [0u64; 8];
    attr[0] = 2 | (64 << 32);
    attr[1] = id;
    attr[2] = 1;
    // SAFETY: perf_event_open with a valid attribute block; the fd is ours.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), -1, 0, -1, 0) };
    assert!(
        fd >= 0,
        "perf_event_open {event}: {}",
        std::io::Error::last_os_error()
    );
    let start = Instant::now();
    // SAFETY: closing the fd we just opened.
    unsafe { libc::close(fd as i32) };
    start.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    // Those that can run here: a thread that cannot is no worker to stop.
    let all: Vec<String> = runnable_threads()
        .iter()
        .map(|t| format!("--{}", t.name.key()))
        .collect();
    let one = vec!["--sync".to_string()];
    let (mut many, mut single) = (Vec::new(), Vec::new());
    // Interleaved, so that both see the same machine.
    for _ in 0..TRIALS {
        many.push(one_shutdown(&all));
        single.push(one_shutdown(&one));
    }
    println!("SIGTERM to the supervisor, update every = 1, {TRIALS} trials each, interleaved");
    println!("| threads | trials | supervisor exited, median ms | worst | every worker gone, median ms | worst | workers SIGKILLed |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    summary(&format!("all {} that run here", all.len()), &many);
    summary("sync only", &single);
    let mut closes: Vec<f64> = (0..TRIALS)
        .map(|trial| {
            let side = ["sys_enter", "sys_exit"][trial % 2];
            bare_perf_event_close(&format!("syscalls/{side}_getppid"))
        })
        .collect();
    closes.sort_by(f64::total_cmp);
    println!(
        "a bare perf event on a syscall tracepoint, closed: median {:.1} ms, min {:.1}, max {:.1} ({TRIALS} closes)",
        closes[closes.len() / 2],
        closes[0],
        closes[closes.len() - 1]
    );
}
