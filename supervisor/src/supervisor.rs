//! The supervisor: one worker per enabled thread, their rings drained every
//! tick, running totals kept across worker restarts, one output stream.

use std::io;
use std::time::{Duration, Instant};

use conf::Config;
use crossbeam_channel::{select, Receiver};
use ipc::{Record, RecordKind};
use nix::sys::signal::Signal;
use tracing::{error, info, warn};
use workers::runtime::exit;
use workers::{ChartMode, Thread, WorkerConfig};

use crate::output::{Chart, Output};
use crate::spawn::Worker;

/// How often rings are drained and workers checked.
const TICK: Duration = Duration::from_millis(100);
/// A worker that attached but stops beating this long is killed.
const WATCHDOG: Duration = Duration::from_secs(1);
/// A worker that has not attached after this long is killed.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(120);
/// Restart delays double from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_LAST: Duration = Duration::from_secs(30);
/// A worker that ran this long before dying starts the backoff afresh.
const STABLE_RUN: Duration = Duration::from_secs(60);
/// Workers get this long to stop on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(700);

/// Why the supervisor's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM, SIGINT, or Netdata closed our stdin.
    Stop,
    /// SIGHUP.
    Reload,
}

enum State {
    Running {
        worker: Worker,
        started: Instant,
        attached: bool,
        beat: u64,
        beat_seen: Instant,
    },
    Waiting {
        until: Instant,
    },
    /// Will not be restarted: this thread cannot run here.
    Stopped,
}

/// One thread's worker and everything the supervisor keeps for it.
struct Slot {
    thread: &'static dyn Thread,
    config: WorkerConfig,
    charts: Vec<Chart>,
    state: State,
    generation: u64,
    failures: u32,
    /// Totals of dead generations: added so that counters never go back.
    base: Vec<u64>,
    /// The current generation's latest totals.
    current: Vec<u64>,
    /// Totals at the previous update, for per-interval values.
    previous: Vec<u64>,
    fresh: bool,
    defined: bool,
}

impl Slot {
    fn new(thread: &'static dyn Thread, config: WorkerConfig) -> Slot {
        let settings = config.settings();
        let counters = thread.counters().len();
        let charts = thread
            .charts()
            .iter()
            .filter(|def| def.mode == ChartMode::Both || settings.mode == conf::LoadMode::Return)
            .map(|def| Chart {
                def,
                dims: def
                    .dims
                    .iter()
                    .filter(|dim| {
                        dim.value
                            .counters()
                            .all(|c| thread.collects(&config.config, c))
                    })
                    .collect(),
                update_every: settings.update_every,
            })
            .filter(|chart| !chart.dims.is_empty())
            .collect();
        Slot {
            thread,
            config,
            charts,
            state: State::Waiting {
                until: Instant::now(),
            },
            generation: 0,
            failures: 0,
            base: vec![0; counters],
            current: vec![0; counters],
            previous: vec![0; counters],
            fresh: false,
            defined: false,
        }
    }

    fn name(&self) -> &'static str {
        self.thread.name().key()
    }

    fn totals(&self) -> Vec<u64> {
        self.base
            .iter()
            .zip(&self.current)
            .map(|(b, c)| b.wrapping_add(*c))
            .collect()
    }

    fn start(&mut self, now: Instant) {
        self.generation += 1;
        match Worker::spawn(&self.config, self.generation) {
            Ok(worker) => {
                self.state = State::Running {
                    worker,
                    started: now,
                    attached: false,
                    beat: 0,
                    beat_seen: now,
                }
            }
            Err(e) => {
                error!("{}: {e}", self.name());
                self.retry_later(now);
            }
        }
    }

    fn retry_later(&mut self, now: Instant) {
        let delay = BACKOFF_FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(BACKOFF_LAST);
        self.failures += 1;
        info!("{}: restarting in {delay:?}", self.name());
        self.state = State::Waiting { until: now + delay };
    }

    /// Drains the ring, watches the process; returns after at most one
    /// state change.
    fn poll(&mut self, now: Instant) {
        match &mut self.state {
            State::Waiting { until } if now >= *until => self.start(now),
            State::Waiting { .. } | State::Stopped => {}
            State::Running { .. } => self.poll_running(now),
        }
    }

    fn poll_running(&mut self, now: Instant) {
        let State::Running {
            worker,
            started,
            attached,
            beat,
            beat_seen,
        } = &mut self.state
        else {
            return;
        };
        let thread = self.thread;
        let mut records = Vec::new();
        let mut garbage = None;
        loop {
            match worker.ring.next_frame(&mut records) {
                Ok(Some(_)) => match apply(thread, &records, &mut self.current) {
                    Ok(()) => {
                        *attached = true;
                        self.fresh = true;
                    }
                    Err(e) => {
                        garbage = Some(e);
                        break;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    garbage = Some(e.to_string());
                    break;
                }
            }
        }
        let name = thread.name().key();
        if let Some(why) = garbage {
            error!("{name}: worker wrote garbage ({why}); killing it");
            worker.signal(Signal::SIGKILL);
        }
        let heartbeat = worker.ring.heartbeat();
        if heartbeat != *beat {
            *beat = heartbeat;
            *beat_seen = now;
        }
        let stuck = if *attached {
            now - *beat_seen > WATCHDOG
        } else {
            now - *started > ATTACH_TIMEOUT
        };
        if stuck {
            warn!("{name}: worker stopped responding; killing it");
            worker.signal(Signal::SIGKILL);
        }
        let status = match worker.child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(e) => {
                error!("{name}: cannot wait for the worker: {e}");
                return;
            }
        };
        let ran = now - *started;
        // Continuity: the next generation's counters start at zero.
        for (base, current) in self.base.iter_mut().zip(self.current.iter_mut()) {
            *base = base.wrapping_add(*current);
            *current = 0;
        }
        match status.code() {
            Some(exit::UNSUPPORTED) => {
                error!("{name}: cannot run on this system (see above); thread disabled");
                self.state = State::Stopped;
            }
            Some(exit::BAD_INVOCATION) => {
                error!("{name}: the worker refused its start-up input; thread disabled");
                self.state = State::Stopped;
            }
            _ => {
                warn!("{name}: worker ended ({status}) after {ran:?}");
                if ran >= STABLE_RUN {
                    self.failures = 0;
                }
                self.retry_later(now);
            }
        }
    }

    /// Defines the charts on the first data, then sends one update.
    fn emit(&mut self, output: &mut dyn Output) -> io::Result<()> {
        if !self.fresh {
            return Ok(());
        }
        self.fresh = false;
        if !self.defined {
            output.define(&self.charts)?;
            self.defined = true;
        }
        let totals = self.totals();
        for chart in &self.charts {
            let values: Vec<i64> = chart
                .dims
                .iter()
                .map(|dim| dim.value.compute(&totals, &self.previous))
                .collect();
            output.update(chart, &values)?;
        }
        self.previous = totals;
        Ok(())
    }

    fn stop(&mut self) -> Option<Worker> {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Running { worker, .. } => Some(worker),
            _ => None,
        }
    }
}

/// Checks a frame and takes its counters. A worker is never trusted: any
/// index out of range or a counter going backwards is garbage.
fn apply(thread: &dyn Thread, records: &[Record], current: &mut [u64]) -> Result<(), String> {
    let mut next = current.to_vec();
    for record in records {
        match RecordKind::try_from(record.kind) {
            Ok(RecordKind::Counter) => {}
            Err(kind) => return Err(format!("record kind {kind}")),
        }
        let Some(slot) = next.get_mut(record.index as usize) else {
            return Err(format!(
                "counter index {} (the thread has {})",
                record.index,
                thread.counters().len()
            ));
        };
        if record.value < current[record.index as usize] || record.key != 0 {
            return Err(format!(
                "counter `{}` went from {} to {}",
                thread.counters()[record.index as usize],
                current[record.index as usize],
                record.value
            ));
        }
        *slot = record.value;
    }
    current.copy_from_slice(&next);
    Ok(())
}

pub struct Supervisor {
    slots: Vec<Slot>,
    output: Box<dyn Output>,
}

impl Supervisor {
    /// One slot per enabled, implemented thread.
    pub fn new(config: &Config, pid_filter: Option<u32>, output: Box<dyn Output>) -> Supervisor {
        let mut slots = Vec::new();
        for (name, settings) in &config.threads {
            if !settings.enabled {
                continue;
            }
            match workers::registry::find(*name) {
                Some(thread) => slots.push(Slot::new(
                    thread,
                    WorkerConfig {
                        thread: *name,
                        config: config.clone(),
                        pid_filter,
                        supervisor: std::process::id(),
                    },
                )),
                None => {
                    warn!("{name}: enabled in the configuration but not implemented yet; skipped")
                }
            }
        }
        Supervisor { slots, output }
    }

    /// Runs until told to stop or the output is gone.
    pub fn run(&mut self, events: &Receiver<Event>) -> io::Result<()> {
        let ticker = crossbeam_channel::tick(TICK);
        loop {
            let now = Instant::now();
            for slot in &mut self.slots {
                slot.poll(now);
            }
            if self.nothing_can_run() {
                error!("no enabled thread can run on this system; asking not to be restarted");
                return self.output.disable();
            }
            let mut wrote = false;
            for slot in &mut self.slots {
                wrote |= slot.fresh;
                slot.emit(self.output.as_mut())?;
            }
            if wrote {
                self.output.flush()?;
            }
            select! {
                recv(ticker) -> _ => {}
                recv(events) -> event => match event {
                    Ok(Event::Reload) => {
                        warn!("SIGHUP: configuration reload is not implemented yet; ignored")
                    }
                    Ok(Event::Stop) | Err(_) => return self.output.exit(),
                },
            }
        }
    }

    fn nothing_can_run(&self) -> bool {
        self.slots
            .iter()
            .all(|slot| matches!(slot.state, State::Stopped) && !slot.defined)
    }

    /// SIGTERM to every worker, SIGKILL to those still there after a grace.
    pub fn shutdown(&mut self) {
        let mut workers: Vec<Worker> = self.slots.iter_mut().filter_map(Slot::stop).collect();
        for worker in &workers {
            worker.signal(Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            workers.retain_mut(|w| !matches!(w.child.try_wait(), Ok(Some(_))));
            if workers.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for mut worker in workers {
            warn!("worker {} ignored SIGTERM; killing it", worker.pid());
            worker.signal(Signal::SIGKILL);
            let _ = worker.child.wait();
        }
    }
}
