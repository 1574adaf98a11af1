//! What our programs cost the kernel, per thread (`netdata.ebpf_kernel_cost`,
//! `netdata.ebpf_kernel_runs`): the kernel's own statistics of each
//! program, run count and run time, which it keeps only while someone holds
//! `BPF_ENABLE_STATS` on. That costs every run of every BPF program on the
//! machine two clock reads (BENCHMARKS.md, "Kernel cost"), so by default
//! statistics are on for [`KernelCost::WINDOW`] in every
//! [`KernelCost::CYCLE`], and a thread's cost
//! between windows is the rate of the last one; `kernel cost = continuous`
//! keeps them on and the counts exact.
//!
//! The sampler is a thread of the supervisor that keeps CAP_SYS_ADMIN alone
//! (capabilities are per thread): turning statistics on and opening a
//! program by id need it, and it reads nothing from anyone but the kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aya::programs::loaded_programs;
use aya::sys::{enable_stats, Stats};
use conf::{KernelCost, ThreadName};
use ipc::schedule;
use tracing::{info, warn};
use workers::privileges::{self, CapSet, CAP_SYS_ADMIN};

/// The first window, once the workers have attached and named their programs.
const FIRST_WINDOW: Duration = Duration::from_secs(2);

/// A thread's cost: program runs and nanoseconds in them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub runs: u64,
    pub nanoseconds: u64,
}

/// A thread's cost as counted up to `at`, and, when sampled, the rate
/// per second of its last window, which carries it on from there.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    counted: Cost,
    at: Instant,
    per_second: Option<(f64, f64)>,
}

impl Estimate {
    fn at(&self, now: Instant) -> Cost {
        let Some((runs, nanoseconds)) = self.per_second else {
            return self.counted;
        };
        let seconds = now.saturating_duration_since(self.at).as_secs_f64();
        Cost {
            runs: self.counted.runs + (runs * seconds) as u64,
            nanoseconds: self.counted.nanoseconds + (nanoseconds * seconds) as u64,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    /// Each thread's programs, by the kernel's id, as its worker last named them.
    programs: BTreeMap<ThreadName, Vec<u32>>,
    estimates: BTreeMap<ThreadName, Estimate>,
}

/// The supervisor's end of the sampler.
#[derive(Debug, Clone, Default)]
pub struct Sampler {
    shared: Arc<Mutex<Shared>>,
}

impl Sampler {
    /// Starts the sampler thread (none when `mode` is off). Call it before
    /// the supervisor gives up its capabilities: the thread keeps its own.
    pub fn start(mode: KernelCost, period: Duration) -> Sampler {
        let sampler = Sampler::default();
        if mode != KernelCost::Off {
            let shared = Arc::clone(&sampler.shared);
            let spawned = std::thread::Builder::new()
                .name("kernel cost".into())
                .spawn(move || sample(&shared, mode, period));
            if let Err(e) = spawned {
                warn!("kernel cost: cannot start its thread: {e}");
            }
        }
        sampler
    }

    /// The programs `thread`'s worker runs now (none: it has no worker).
    pub fn programs(&self, thread: ThreadName, ids: &[u32]) {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.programs.get(&thread).map(Vec::as_slice) != Some(ids) {
            shared.programs.insert(thread, ids.to_vec());
        }
    }

    /// What `thread`'s programs have cost so far (cumulative, carried across
    /// worker restarts); `None` before anything was measured.
    pub fn cost(&self, thread: ThreadName, now: Instant) -> Option<Cost> {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.estimates.get(&thread).map(|e| e.at(now))
    }
}

/// Run count and run time of every program by id, as the kernel has them now.
fn read_programs(wanted: &BTreeSet<u32>) -> BTreeMap<u32, Cost> {
    loaded_programs()
        // A program may go between its id and its descriptor: skipped.
        .filter_map(Result::ok)
        .filter(|info| wanted.contains(&info.id()))
        .map(|info| {
            let cost = Cost {
                runs: info.run_count(),
                nanoseconds: info.run_time().as_nanos() as u64,
            };
            (info.id(), cost)
        })
        .collect()
}

/// Each thread's cost between two readings of its programs; a program
/// missing from `before` (a new worker's) counts from zero.
fn deltas(
    programs: &BTreeMap<ThreadName, Vec<u32>>,
    before: &BTreeMap<u32, Cost>,
    after: &BTreeMap<u32, Cost>,
) -> BTreeMap<ThreadName, Cost> {
    programs
        .iter()
        .map(|(&thread, ids)| {
            let mut sum = Cost::default();
            for id in ids {
                let (Some(now), was) = (after.get(id), before.get(id).copied()) else {
                    continue;
                };
                let was = was.unwrap_or_default();
                sum.runs += now.runs.saturating_sub(was.runs);
                sum.nanoseconds += now.nanoseconds.saturating_sub(was.nanoseconds);
            }
            (thread, sum)
        })
        .collect()
}

fn snapshot(shared: &Mutex<Shared>) -> BTreeMap<ThreadName, Vec<u32>> {
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .programs
        .clone()
}

fn all_ids(programs: &BTreeMap<ThreadName, Vec<u32>>) -> BTreeSet<u32> {
    programs.values().flatten().copied().collect()
}

fn sample(shared: &Mutex<Shared>, mode: KernelCost, period: Duration) {
    if let Err(e) = privileges::keep_only(CapSet::of(&[CAP_SYS_ADMIN]), false) {
        warn!("kernel cost: cannot drop the sampler's other capabilities: {e}");
        return;
    }
    let stats = match enable_stats(Stats::RunTime) {
        Ok(stats) => stats,
        Err(e) => {
            warn!(
                "kernel cost: not measured: BPF_ENABLE_STATS: {} (it needs CAP_SYS_ADMIN)",
                e.io_error
            );
            return;
        }
    };
    if mode == KernelCost::Continuous {
        info!("kernel cost: BPF statistics on for as long as we run");
        continuous(shared, period, stats);
    } else {
        drop(stats);
        info!(
            "kernel cost: BPF statistics on for {} s in every {} s",
            KernelCost::WINDOW.as_secs(),
            KernelCost::CYCLE.as_secs()
        );
        sampled(shared);
    }
}

/// Statistics held on: each thread's exact counts, read just before each
/// update (as the workers read their maps).
fn continuous(shared: &Mutex<Shared>, period: Duration, _stats: std::os::fd::OwnedFd) {
    let mut before = BTreeMap::new();
    loop {
        let next = schedule::next_update(period, SystemTime::now() + schedule::READ_LEAD);
        std::thread::sleep(
            schedule::instant_of(next - schedule::READ_LEAD)
                .saturating_duration_since(Instant::now()),
        );
        let programs = snapshot(shared);
        let after = read_programs(&all_ids(&programs));
        let now = Instant::now();
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        for (thread, delta) in deltas(&programs, &before, &after) {
            let estimate = shared.estimates.entry(thread).or_insert(Estimate {
                counted: Cost::default(),
                at: now,
                per_second: None,
            });
            estimate.counted.runs += delta.runs;
            estimate.counted.nanoseconds += delta.nanoseconds;
            estimate.at = now;
        }
        before = after;
    }
}

/// Statistics on for a window in every cycle: each thread's rate over the
/// window carries its estimate on until the next.
fn sampled(shared: &Mutex<Shared>) {
    std::thread::sleep(FIRST_WINDOW);
    loop {
        let started = Instant::now();
        let programs = snapshot(shared);
        let wanted = all_ids(&programs);
        let Ok(stats) = enable_stats(Stats::RunTime) else {
            warn!("kernel cost: BPF_ENABLE_STATS refused now; no more measurements");
            return;
        };
        let before = read_programs(&wanted);
        let opened = Instant::now();
        std::thread::sleep(KernelCost::WINDOW);
        let after = read_programs(&wanted);
        let seconds = opened.elapsed().as_secs_f64();
        drop(stats);
        let now = Instant::now();
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        for (thread, delta) in deltas(&programs, &before, &after) {
            let rate = (
                delta.runs as f64 / seconds,
                delta.nanoseconds as f64 / seconds,
            );
            let counted = shared
                .estimates
                .get(&thread)
                .map_or_else(Cost::default, |e| e.at(now));
            shared.estimates.insert(
                thread,
                Estimate {
                    counted,
                    at: now,
                    per_second: Some(rate),
                },
            );
        }
        drop(shared);
        std::thread::sleep(KernelCost::CYCLE.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(runs: u64, nanoseconds: u64) -> Cost {
        Cost { runs, nanoseconds }
    }

    #[test]
    fn a_thread_costs_what_its_programs_ran_between_readings() {
        let programs = BTreeMap::from([(ThreadName::Sync, vec![1, 2]), (ThreadName::Vfs, vec![3])]);
        let before = BTreeMap::from([(1, cost(10, 1000)), (2, cost(5, 500)), (3, cost(7, 70))]);
        // Program 2 is gone, program 3 is a new worker's (counted from zero).
        let after = BTreeMap::from([(1, cost(14, 1400)), (3, cost(2, 20))]);
        let programs_now =
            BTreeMap::from([(ThreadName::Sync, vec![1, 2]), (ThreadName::Vfs, vec![4])]);
        let got = deltas(&programs, &before, &after);
        assert_eq!(got[&ThreadName::Sync], cost(4, 400));
        assert_eq!(got[&ThreadName::Vfs], cost(0, 0));
        let new = BTreeMap::from([(4, cost(3, 30))]);
        assert_eq!(
            deltas(&programs_now, &before, &new)[&ThreadName::Vfs],
            cost(3, 30)
        );
    }

    #[test]
    fn a_sampled_estimate_carries_on_at_the_last_windows_rate() {
        let at = Instant::now();
        let estimate = Estimate {
            counted: cost(100, 1_000),
            at,
            per_second: Some((10.0, 250.0)),
        };
        assert_eq!(estimate.at(at), cost(100, 1_000));
        assert_eq!(estimate.at(at + Duration::from_secs(4)), cost(140, 2_000));
        let exact = Estimate {
            per_second: None,
            ..estimate
        };
        assert_eq!(exact.at(at + Duration::from_secs(4)), cost(100, 1_000));
    }
}
