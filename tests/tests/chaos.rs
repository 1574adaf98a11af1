//! Chaos on the real kernel: every implemented thread runs for 60 s while
//! a worker is SIGKILLed every 300 ms and now and then one is SIGSTOPped
//! (only the watchdog can end those). The supervisor must stay up, the
//! stream must stay valid with every incremental dimension monotonic, every
//! thread must be producing data at the end, and nothing of ours may stay
//! in the kernel after SIGTERM.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tests::kernel::{assert_back_to, snapshot};
use tests::protocol::Stream;
use tests::{assert_netdata_keeps_everything, children, gone, require_root, Collector};

const CHAOS: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_millis(300);
/// Every this many actions one is a SIGSTOP.
const STOP_EVERY: u64 = 20;
/// Only a worker this old is stopped: it has attached, so the heartbeat
/// watchdog (not the much longer attach timeout) must deal with it. Until
/// one is that old, nothing is killed.
const ATTACHED_AFTER: Duration = Duration::from_millis(1500);

/// Every thread on, `return` mode (the most programs); the threads that are
/// not implemented are skipped. Restarts are quick and never give up: at
/// this rate the default crash limit would rightly disable threads, which
/// is not what this test is about (tests/reliability.rs covers it).
const CONFIG: &str = "[global]\nupdate every = 1\nebpf load mode = return\n\
    [ebpf programs]\nprocess = yes\nsocket = yes\ncachestat = yes\nsync = yes\n\
    dcstat = yes\nswap = yes\nvfs = yes\nfilesystem = yes\ndisk = yes\nmount = yes\n\
    fd = yes\nhardirq = yes\nsoftirq = yes\noomkill = yes\nshm = yes\nmdflush = yes\n\
    [supervisor]\nrestart delay ms = 100\nrestart delay max ms = 1000\ncrash limit = 0\n\
    heartbeat timeout ms = 1000\n";

/// Enough randomness to pick victims; the seed is printed to replay a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Threads shown running on the plugin's own chart.
fn running(stream: &Stream) -> BTreeSet<String> {
    stream
        .chart("netdata.ebpf_threads")
        .map(|chart| {
            chart
                .dims
                .iter()
                .filter(|(_, d)| d.values.last() == Some(&1))
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Updates of every thread chart (the plugin's own excluded).
fn thread_updates(stream: &Stream) -> BTreeMap<String, usize> {
    stream
        .charts
        .iter()
        .filter(|(id, _)| !id.starts_with("netdata."))
        .map(|(id, chart)| (id.clone(), chart.updates))
        .collect()
}

fn total(stream: &Stream, chart: &str) -> i64 {
    stream
        .chart(chart)
        .map_or(0, |c| c.dims.values().filter_map(|d| d.values.last()).sum())
}

#[test]
fn sixty_seconds_of_kill_and_stop_lose_and_corrupt_nothing() {
    if !require_root("chaos") {
        return;
    }
    let before = snapshot();
    let mut collector = Collector::start(&[], &[("ebpf.d.conf", CONFIG)]);
    collector.wait_attached("system.exit");
    assert!(
        collector.wait_until(Duration::from_secs(30), |s| !running(s).is_empty()),
        "no thread shown running; stderr:\n{}",
        collector.stderr()
    );
    // Let every worker that can attach do so.
    std::thread::sleep(Duration::from_secs(3));
    let threads = running(&collector.stream());
    let charts = thread_updates(&collector.stream());
    eprintln!("chaos over threads {threads:?}, charts {:?}", charts.keys());

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("chaos seed {seed}");
    let mut rng = Rng(seed);
    let mut first_seen: HashMap<u32, Instant> = HashMap::new();
    // Stopped or killed: a killed worker can take half a second to exit
    // (its links wait for RCU), and must not be counted twice.
    let mut signalled: BTreeSet<u32> = BTreeSet::new();
    let (mut kills, mut stops) = (0u64, 0u64);
    let (mut tick, mut stop_due) = (0u64, false);
    let supervisor = collector.pid();
    let start = Instant::now();
    while start.elapsed() < CHAOS {
        assert!(
            collector.child().try_wait().unwrap().is_none(),
            "the supervisor died; stderr:\n{}",
            collector.stderr()
        );
        let now = Instant::now();
        let live: Vec<u32> = children(supervisor)
            .into_iter()
            .filter(|pid| !gone(*pid) && !signalled.contains(pid))
            .collect();
        for pid in &live {
            first_seen.entry(*pid).or_insert(now);
        }
        tick += 1;
        stop_due |= tick.is_multiple_of(STOP_EVERY);
        if stop_due {
            let oldest = live
                .iter()
                .copied()
                .filter(|pid| now - first_seen[pid] >= ATTACHED_AFTER)
                .min_by_key(|pid| first_seen[pid]);
            if let Some(victim) = oldest {
                kill(Pid::from_raw(victim as i32), Signal::SIGSTOP).unwrap();
                signalled.insert(victim);
                stops += 1;
                stop_due = false;
            }
        } else if !live.is_empty() {
            let victim = live[(rng.next() % live.len() as u64) as usize];
            kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
            signalled.insert(victim);
            kills += 1;
        }
        std::thread::sleep(EVERY.saturating_sub(now.elapsed()));
    }
    eprintln!("chaos: {kills} SIGKILLs, {stops} SIGSTOPs");
    assert!(stops > 0, "no SIGSTOP sent (seed {seed})");

    // At the end every thread is back and every chart receives data.
    let seen = thread_updates(&collector.stream());
    let recovered = collector.wait_until(Duration::from_secs(20), |s| {
        let now = thread_updates(s);
        running(s) == threads
            && charts.keys().all(|id| {
                now.get(id).copied().unwrap_or(0) >= seen.get(id).copied().unwrap_or(0) + 2
            })
    });
    let stream = collector.stream();
    assert!(
        recovered,
        "not all threads recovered (seed {seed}): running {:?} of {threads:?}, updates {:?} after {seen:?}",
        running(&stream),
        thread_updates(&stream)
    );
    // Every death was seen and counted; the stopped ones by the watchdog.
    let restarts = total(&stream, "netdata.ebpf_restarts");
    assert!(
        restarts >= (kills + stops) as i64,
        "{restarts} restarts counted for {kills} kills and {stops} stops"
    );
    let watchdog = collector.stderr().matches("stopped responding").count() as u64;
    assert!(
        watchdog >= stops,
        "watchdog fired {watchdog} times for {stops} stops"
    );

    let (status, stream) = collector.terminate();
    assert!(status.success(), "{status}");
    assert!(stream.exited, "no EXIT line");
    assert_eq!(stream.errors, Vec::<String>::new(), "seed {seed}");
    assert_netdata_keeps_everything(&stream);
    assert_back_to(&before);
}
