//! The supervisor: one worker per enabled thread, their rings drained every
//! tick, running totals kept across worker restarts, the restart policy and
//! the watchdog, configuration reloads, one output stream.
//!
//! The loop never waits on a worker: spawning, draining, signalling and
//! reaping are all non-blocking, so one failing thread never pauses another.

use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::time::{Duration, Instant};

use conf::{Config, SupervisorSettings, ThreadName};
use crossbeam_channel::{select, Receiver};
use ipc::Record;
use nix::sys::signal::Signal;
use tracing::{debug, error, info, warn};
use workers::runtime::exit;
use workers::{Thread, WorkerConfig};

use workers::per_process;

use crate::counters::{self, Counters};
use crate::grouping::{self, Grouping};
use crate::output::{Chart, Output, Status, ThreadState, ThreadStatus};
use crate::spawn::{StderrTail, Worker, RING_CAPACITY, RING_CAPACITY_PER_PROCESS};

/// How often rings are drained and workers checked.
const TICK: Duration = Duration::from_millis(100);
/// A worker that has not attached after this long is killed.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
/// Workers get this long to stop on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(700);
/// A thread's layout is computed again after this many updates even when
/// no key appeared: what it reads besides the counters (device names in
/// `/proc/partitions`, IRQ names in `/proc/interrupts`) may have changed.
/// The original drops a vanished disk's chart after 10 update intervals.
const RELAYOUT_UPDATES: u32 = 10;

/// Why the supervisor's loop wakes up besides its tick.
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
        /// We sent SIGKILL (garbage, watchdog) and wait for the death.
        killed: bool,
    },
    Waiting {
        until: Instant,
    },
    /// Will not be restarted until a reload: this thread cannot run here,
    /// or it crashed too often.
    Disabled,
    /// Disabled by a reloaded configuration; its totals are kept, so that
    /// they carry on if it is enabled again.
    Off,
}

/// One thread's worker and everything the supervisor keeps for it.
struct Slot {
    thread: &'static dyn Thread,
    config: WorkerConfig,
    charts: Vec<Chart>,
    /// The grouping's version the per-process charts were built with.
    grouping_version: Option<u64>,
    state: State,
    generation: u64,
    counters: Counters,
    records: Vec<Record>,
    defined: bool,
    /// Updates sent since the layout was last computed.
    updates_since_layout: u32,
    /// Deaths inside the crash window, oldest first.
    deaths: VecDeque<Instant>,
    restarts: u64,
    /// Since when no worker has been attached, after a death or a
    /// configuration restart.
    gap_since: Option<Instant>,
    gap: Duration,
    /// Frames dropped by dead generations, and by the current one.
    dropped_base: u64,
    dropped: u64,
    variant: Option<u32>,
    tail: StderrTail,
}

/// The charts of `old` that `new` no longer has.
fn gone(old: &[Chart], new: &[Chart]) -> Vec<Chart> {
    old.iter()
        .filter(|o| !new.iter().any(|n| n.id == o.id))
        .cloned()
        .collect()
}

impl Slot {
    fn new(thread: &'static dyn Thread, config: WorkerConfig, now: Instant) -> Slot {
        Slot {
            thread,
            charts: thread.layout(&config.config, &BTreeSet::new()),
            grouping_version: None,
            config,
            state: State::Waiting { until: now },
            generation: 0,
            counters: Counters::new(
                thread.counters().len(),
                thread.per_process().map_or(0, |per| per.counters.len()),
            ),
            records: Vec::new(),
            defined: false,
            updates_since_layout: 0,
            deaths: VecDeque::new(),
            restarts: 0,
            gap_since: None,
            gap: Duration::ZERO,
            dropped_base: 0,
            dropped: 0,
            variant: None,
            tail: StderrTail::default(),
        }
    }

    fn name(&self) -> &'static str {
        self.thread.name().key()
    }

    fn start(&mut self, now: Instant, policy: &SupervisorSettings) {
        self.generation += 1;
        let capacity = if per_process::enabled(self.thread, &self.config.config).is_some() {
            RING_CAPACITY_PER_PROCESS
        } else {
            RING_CAPACITY
        };
        match Worker::spawn(&self.config, self.generation, capacity, &self.tail) {
            Ok(worker) => {
                self.state = State::Running {
                    worker,
                    started: now,
                    attached: false,
                    beat: 0,
                    beat_seen: now,
                    killed: false,
                }
            }
            Err(e) => {
                error!("{}: {e}", self.name());
                self.died(now, policy);
            }
        }
    }

    /// Drains the ring, watches the process; at most one state change.
    fn poll(&mut self, now: Instant, policy: &SupervisorSettings, grouping: Option<&mut Grouping>) {
        match &self.state {
            State::Waiting { until } if now >= *until => self.start(now, policy),
            State::Waiting { .. } | State::Disabled | State::Off => {}
            State::Running { .. } => self.poll_running(now, policy, grouping),
        }
    }

    fn poll_running(
        &mut self,
        now: Instant,
        policy: &SupervisorSettings,
        mut grouping: Option<&mut Grouping>,
    ) {
        let name = self.name();
        let limit = per_process::enabled(self.thread, &self.config.config)
            .map(|per| per.slots(self.config.settings()));
        let State::Running {
            worker,
            started,
            attached,
            beat,
            beat_seen,
            killed,
        } = &mut self.state
        else {
            return;
        };
        if !*killed {
            let per_process = match (limit, grouping.as_deref_mut()) {
                (Some(limit), Some(grouping)) => Some(counters::PerProcess {
                    grouping,
                    limit,
                    now,
                }),
                _ => None,
            };
            match self.counters.drain(
                self.thread,
                &mut worker.ring,
                &mut self.records,
                per_process,
            ) {
                Ok(drained) if drained.frames > 0 => {
                    *attached = true;
                    self.variant = drained.variant;
                    if let Some(since) = self.gap_since.take() {
                        self.gap += now - since;
                    }
                }
                Ok(_) => {}
                Err(why) => {
                    error!("{name}: worker wrote garbage ({why}); killing it");
                    worker.signal(Signal::SIGKILL);
                    *killed = true;
                }
            }
            // Shared memory: a worker could write anything there.
            self.dropped = self.dropped.max(worker.ring.dropped());
            let heartbeat = worker.ring.heartbeat();
            if heartbeat != *beat {
                *beat = heartbeat;
                *beat_seen = now;
            }
            let timeout = Duration::from_millis(policy.heartbeat_timeout_ms.into());
            let stuck = if *attached {
                now - *beat_seen > timeout
            } else {
                now - *started > ATTACH_TIMEOUT
            };
            if stuck && !*killed {
                warn!(
                    "{name}: worker stopped responding (no heartbeat for {:?}); killing it",
                    now - *beat_seen
                );
                worker.signal(Signal::SIGKILL);
                *killed = true;
            }
        }
        let status = match worker.child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(e) => {
                error!("{name}: cannot wait for the worker: {e}");
                return;
            }
        };
        worker.finish_stderr();
        let ran = now - *started;
        self.end_generation(now, grouping);
        match status.code() {
            Some(exit::UNSUPPORTED) => {
                error!("{name}: cannot run on this system (see above); thread disabled");
                self.disable(now);
            }
            Some(exit::BAD_INVOCATION) => {
                error!("{name}: the worker refused its start-up input; thread disabled");
                self.disable(now);
            }
            _ => {
                warn!("{name}: worker ended ({status}) after {ran:?}");
                self.died(now, policy);
            }
        }
    }

    /// A worker died unasked: restart it after a delay that doubles with
    /// each death inside the crash window, or give up on the thread when
    /// there were too many.
    fn died(&mut self, now: Instant, policy: &SupervisorSettings) {
        self.gap_since.get_or_insert(now);
        self.restarts += 1;
        let window = Duration::from_secs(policy.crash_window.into());
        self.deaths.push_back(now);
        while self.deaths.front().is_some_and(|t| now - *t > window) {
            self.deaths.pop_front();
        }
        let deaths = self.deaths.len() as u32;
        if policy.crash_limit > 0 && deaths >= policy.crash_limit {
            let lines = self.tail.lines();
            error!(
                "{}: its worker died {deaths} times within {window:?}; thread disabled \
                 until a reload (SIGHUP). The worker's last stderr lines:{}",
                self.name(),
                lines
                    .iter()
                    .map(|line| format!("\n  | {line}"))
                    .collect::<String>()
            );
            self.disable(now);
            return;
        }
        let delay = Duration::from_millis(policy.restart_delay_ms.into())
            .saturating_mul(1 << (deaths - 1).min(20))
            .min(Duration::from_millis(policy.restart_delay_max_ms.into()));
        info!("{}: restarting in {delay:?}", self.name());
        self.state = State::Waiting { until: now + delay };
    }

    /// The next worker counts from zero again, and holds no process.
    fn end_generation(&mut self, now: Instant, grouping: Option<&mut Grouping>) {
        self.counters.next_generation();
        self.dropped_base += std::mem::take(&mut self.dropped);
        self.variant = None;
        if let Some(grouping) = grouping {
            grouping.thread_gone(self.thread.name(), now);
        }
    }

    /// Stops the worker for a reload (retired by the caller): the thread's
    /// data stop until the next worker attaches.
    fn stop_for_reload(
        &mut self,
        now: Instant,
        next: State,
        grouping: Option<&mut Grouping>,
    ) -> Option<Worker> {
        let worker = match std::mem::replace(&mut self.state, next) {
            State::Running { worker, .. } => Some(worker),
            _ => None,
        };
        if worker.is_some() {
            self.end_generation(now, grouping);
            self.gap_since.get_or_insert(now);
        }
        self.deaths.clear();
        worker
    }

    fn disable(&mut self, now: Instant) {
        self.close_gap(now);
        self.state = State::Disabled;
    }

    /// No worker is coming: the time without one stops counting.
    fn close_gap(&mut self, now: Instant) {
        if let Some(since) = self.gap_since.take() {
            self.gap += now - since;
        }
    }

    /// The thread's charts: its table (with keyed charts), then its
    /// per-process charts as the grouping stands.
    fn layout(&mut self, grouping: Option<&Grouping>) -> Vec<Chart> {
        let mut charts = self
            .thread
            .layout(&self.config.config, &self.counters.keys());
        if let Some(grouping) = grouping {
            charts.extend(grouping::charts::charts(
                self.thread,
                &self.config.config,
                grouping,
            ));
            let live: Vec<u32> = grouping.cgroups().iter().map(|c| c.serial).collect();
            self.counters.retain_cgroups(&live);
        }
        self.grouping_version = grouping.map(|g| g.version);
        charts
    }

    /// Defines the charts on the first data, then sends one update. A new
    /// key (a disk, an IRQ), a periodic look, a new apps group or a cgroup
    /// coming or going changes the charts: new or changed ones are defined
    /// (again), charts that went away become obsolete.
    fn emit(&mut self, output: &mut dyn Output, grouping: Option<&Grouping>) -> io::Result<()> {
        if !self.counters.fresh {
            return Ok(());
        }
        self.updates_since_layout += 1;
        let regroup = grouping.map(|g| g.version) != self.grouping_version;
        if self.counters.new_keys || regroup || self.updates_since_layout >= RELAYOUT_UPDATES {
            self.updates_since_layout = 0;
            let charts = self.layout(grouping);
            if self.defined {
                let gone = gone(&self.charts, &charts);
                if !gone.is_empty() {
                    output.obsolete(&gone)?;
                }
                let changed: Vec<Chart> = charts
                    .iter()
                    .filter(|new| !self.charts.contains(new))
                    .cloned()
                    .collect();
                if !changed.is_empty() {
                    output.define(&changed)?;
                }
            }
            self.charts = charts;
        }
        if !self.defined {
            output.define(&self.charts)?;
            self.defined = true;
        }
        let values = self.counters.take_update(&self.charts);
        for (chart, values) in self.charts.iter().zip(values) {
            output.update(chart, &values)?;
        }
        Ok(())
    }

    /// Takes the worker out of the slot, if there is one.
    fn stop(&mut self) -> Option<Worker> {
        match std::mem::replace(&mut self.state, State::Disabled) {
            State::Running { worker, .. } => Some(worker),
            _ => None,
        }
    }

    fn status(&self, now: Instant) -> ThreadStatus {
        let table = self.counters.table_stats();
        let state = match self.state {
            State::Running { attached: true, .. } => ThreadState::Running,
            State::Running { .. } | State::Waiting { .. } => ThreadState::Starting,
            State::Disabled => ThreadState::Disabled,
            State::Off => ThreadState::Off,
        };
        let ongoing = self.gap_since.map_or(Duration::ZERO, |since| now - since);
        ThreadStatus {
            thread: self.thread.name(),
            state,
            variant: self
                .variant
                .and_then(|i| self.thread.variants().get(i as usize))
                .map(|v| v.kind),
            restarts: self.restarts,
            dropped_frames: self.dropped_base + self.dropped,
            gap_ms: (self.gap + ongoing).as_millis() as u64,
            pid_table: per_process::enabled(self.thread, &self.config.config).map(|_| table),
        }
    }
}

pub struct Supervisor {
    config: Config,
    pid_filter: Option<u32>,
    slots: Vec<Slot>,
    /// Workers told to stop (their thread was reconfigured or disabled),
    /// SIGKILLed at the deadline if still there.
    retiring: Vec<(Worker, Instant)>,
    /// Process → apps group and cgroup, for every thread that counts per
    /// process; `None` when none does.
    grouping: Option<Grouping>,
    output: Box<dyn Output>,
    next_status: Instant,
}

/// Whether some enabled thread counts per process under `config`, and
/// whether some draws cgroup charts.
fn per_process_wanted(config: &Config) -> (bool, bool) {
    let threads = ThreadName::ALL
        .into_iter()
        .filter(|name| config.thread(*name).enabled)
        .filter_map(workers::registry::find)
        .filter(|thread| per_process::enabled(*thread, config).is_some());
    threads.fold((false, false), |(_, cgroups), thread| {
        (true, cgroups || config.thread(thread.name()).cgroups)
    })
}

fn new_grouping(config: &Config) -> Option<Grouping> {
    let (wanted, cgroups) = per_process_wanted(config);
    if !wanted {
        return None;
    }
    if config.apps_groups.file.is_none() {
        warn!("no apps_groups.conf found: every process is in the apps group `other`");
    }
    Some(Grouping::new(
        config.apps_groups.clone(),
        cgroups.then_some(&config.cgroups),
    ))
}

impl Supervisor {
    /// One slot per enabled, implemented thread.
    pub fn new(config: &Config, pid_filter: Option<u32>, output: Box<dyn Output>) -> Supervisor {
        let now = Instant::now();
        let mut supervisor = Supervisor {
            config: config.clone(),
            pid_filter,
            slots: Vec::new(),
            retiring: Vec::new(),
            grouping: new_grouping(config),
            output,
            next_status: now + Duration::from_secs(config.global.update_every.into()),
        };
        for name in ThreadName::ALL {
            if config.thread(name).enabled {
                if let Some(slot) = supervisor.new_slot(name, now) {
                    supervisor.slots.push(slot);
                }
            }
        }
        supervisor
    }

    fn worker_config(&self, thread: ThreadName) -> WorkerConfig {
        WorkerConfig {
            thread,
            config: self.config.for_thread(thread),
            pid_filter: self.pid_filter,
            supervisor: std::process::id(),
        }
    }

    fn new_slot(&self, name: ThreadName, now: Instant) -> Option<Slot> {
        match workers::registry::find(name) {
            Some(thread) => Some(Slot::new(thread, self.worker_config(name), now)),
            None => {
                warn!("{name}: enabled in the configuration but not implemented yet; skipped");
                None
            }
        }
    }

    /// Runs until told to stop or the output is gone; `reload` reads the
    /// configuration again on SIGHUP (`None`: keep the running one).
    pub fn run(
        &mut self,
        events: &Receiver<Event>,
        mut reload: impl FnMut() -> Option<Config>,
    ) -> io::Result<()> {
        let ticker = crossbeam_channel::tick(TICK);
        loop {
            let now = Instant::now();
            let policy = self.config.supervisor;
            for slot in &mut self.slots {
                let started = Instant::now();
                slot.poll(now, &policy, self.grouping.as_mut());
                if let Some(grouping) = &mut self.grouping {
                    if slot.thread.per_process().is_some() {
                        grouping.add_work(started.elapsed());
                    }
                }
            }
            if let Some(grouping) = &mut self.grouping {
                let started = Instant::now();
                grouping.tick(now);
                grouping.add_work(started.elapsed());
            }
            self.reap_retiring(now);
            if self.nothing_can_run() {
                error!("no enabled thread can run on this system; asking not to be restarted");
                return self.output.disable();
            }
            let mut wrote = false;
            for slot in &mut self.slots {
                wrote |= slot.counters.fresh;
                slot.emit(self.output.as_mut(), self.grouping.as_ref())?;
            }
            if now >= self.next_status {
                if let Some(grouping) = &mut self.grouping {
                    let (spent, records, known) = grouping.take_work();
                    debug!(
                        "grouping: {records} per-process records, {known} processes known, {} us",
                        spent.as_micros()
                    );
                }
                let status = self.status(now);
                self.output.status(&status)?;
                self.next_status = now + Duration::from_secs(status.update_every.into());
                wrote = true;
            }
            if wrote {
                self.output.flush()?;
            }
            select! {
                recv(ticker) -> _ => {}
                recv(events) -> event => match event {
                    Ok(Event::Reload) => {
                        info!("SIGHUP: reloading the configuration");
                        if let Some(config) = reload() {
                            self.reload(config, Instant::now())?;
                        }
                    }
                    Ok(Event::Stop) | Err(_) => return self.output.exit(),
                },
            }
        }
    }

    /// Applies a new configuration: workers whose configuration changed
    /// restart, threads no longer enabled stop and their charts become
    /// obsolete, newly enabled ones start, disabled ones get a new chance.
    fn reload(&mut self, config: Config, now: Instant) -> io::Result<()> {
        self.config = config;
        self.reload_grouping();
        for name in ThreadName::ALL {
            let enabled = self.config.thread(name).enabled;
            let Some(index) = self.slots.iter().position(|s| s.thread.name() == name) else {
                if enabled {
                    if let Some(slot) = self.new_slot(name, now) {
                        info!("{name}: enabled by the new configuration; starting it");
                        self.slots.push(slot);
                    }
                }
                continue;
            };
            let config = self.worker_config(name);
            let slot = &mut self.slots[index];
            let off = matches!(slot.state, State::Off);
            if !enabled {
                if off {
                    continue;
                }
                info!("{name}: disabled by the new configuration; stopping it");
                if slot.defined {
                    self.output.obsolete(&slot.charts)?;
                    slot.defined = false;
                }
                let worker = slot.stop_for_reload(now, State::Off, self.grouping.as_mut());
                slot.close_gap(now);
                self.retire(worker, now);
            } else if off || slot.config != config {
                if off {
                    info!("{name}: enabled by the new configuration; starting it");
                } else {
                    info!("{name}: its configuration changed; restarting its worker");
                }
                slot.config = config;
                let charts = slot.layout(self.grouping.as_ref());
                let gone = gone(&slot.charts, &charts);
                if slot.defined && !gone.is_empty() {
                    self.output.obsolete(&gone)?;
                }
                // Defined again with the next data: dimensions or the update
                // interval may have changed.
                slot.defined = false;
                slot.charts = charts;
                let worker = slot.stop_for_reload(
                    now,
                    State::Waiting { until: now },
                    self.grouping.as_mut(),
                );
                self.retire(worker, now);
            } else if matches!(slot.state, State::Disabled) {
                info!("{name}: disabled before; trying again");
                slot.deaths.clear();
                slot.state = State::Waiting { until: now };
            }
        }
        self.slots.sort_by_key(|slot| slot.thread.name());
        self.next_status = self.next_status.min(now);
        self.output.flush()
    }

    /// The grouping under the new configuration: created, dropped, or
    /// given the new apps groups (totals follow their group by name).
    fn reload_grouping(&mut self) {
        let (wanted, cgroups) = per_process_wanted(&self.config);
        let Some(grouping) = self.grouping.as_mut().filter(|_| wanted) else {
            self.grouping = new_grouping(&self.config);
            return;
        };
        let names = |groups: &conf::AppsGroups| -> Vec<String> {
            groups.groups.iter().map(|g| g.name.clone()).collect()
        };
        let old = names(grouping.apps());
        grouping.reconfigure(
            self.config.apps_groups.clone(),
            cgroups.then_some(&self.config.cgroups),
        );
        let new = names(grouping.apps());
        if old != new {
            for slot in &mut self.slots {
                slot.counters.regroup(&old, &new);
            }
        }
    }

    fn retire(&mut self, worker: Option<Worker>, now: Instant) {
        if let Some(worker) = worker {
            worker.signal(Signal::SIGTERM);
            self.retiring.push((worker, now + STOP_GRACE));
        }
    }

    fn reap_retiring(&mut self, now: Instant) {
        self.retiring.retain_mut(|(worker, deadline)| {
            if matches!(worker.child.try_wait(), Ok(Some(_))) {
                worker.finish_stderr();
                return false;
            }
            if now >= *deadline {
                warn!("worker {} ignored SIGTERM; killing it", worker.pid());
                worker.signal(Signal::SIGKILL);
            }
            true
        });
    }

    fn nothing_can_run(&self) -> bool {
        self.slots
            .iter()
            .all(|slot| matches!(slot.state, State::Disabled | State::Off) && !slot.defined)
    }

    /// Every thread, as the plugin's own charts show it.
    fn status(&self, now: Instant) -> Status {
        let threads = ThreadName::ALL
            .into_iter()
            .map(
                |name| match self.slots.iter().find(|s| s.thread.name() == name) {
                    Some(slot) => slot.status(now),
                    None => ThreadStatus {
                        thread: name,
                        // Enabled without a slot: not implemented.
                        state: if self.config.thread(name).enabled {
                            ThreadState::Disabled
                        } else {
                            ThreadState::Off
                        },
                        variant: None,
                        restarts: 0,
                        dropped_frames: 0,
                        gap_ms: 0,
                        pid_table: None,
                    },
                },
            )
            .collect();
        Status {
            update_every: self.config.global.update_every,
            threads,
            rejected_reloads: crate::rejected_reloads(),
        }
    }

    /// SIGTERM to every worker, SIGKILL to those still there after a grace.
    pub fn shutdown(&mut self) {
        let mut workers: Vec<Worker> = self.slots.iter_mut().filter_map(Slot::stop).collect();
        workers.extend(self.retiring.drain(..).map(|(worker, _)| worker));
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
