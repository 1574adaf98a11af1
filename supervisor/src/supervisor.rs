//! The supervisor: one worker per enabled thread, their rings drained every
//! tick, running totals kept across worker restarts, configuration reloads,
//! one output stream. Each thread's slot holds its worker's life
//! (`worker::Life`: restarts, watchdog), its totals and its charts.
//!
//! The loop never waits on a worker: spawning, draining, signalling and
//! reaping are all non-blocking, so one failing thread never pauses another.

use std::io;
use std::time::{Duration, Instant, SystemTime};

use conf::{Config, SupervisorSettings, ThreadName};
use crossbeam_channel::{select, Receiver};
use ipc::{schedule, Message};
use tracing::{debug, error, info, warn};
use workers::{Thread, WorkerConfig};

use crate::charts::{self, ChartSet};
use crate::cost::Sampler;
use crate::function::{self, Line, Reply};
use crate::grouping::Grouping;
use crate::output::{Output, Status, ThreadState, ThreadStatus};
use crate::totals::{self, Totals};
use crate::worker::{self, Life, Phase, Stopping, RING_CAPACITY, RING_CAPACITY_PER_PROCESS};

/// How soon the loop runs again while something is under way: a worker
/// starting or being killed, a Function waiting for its answer, a worker
/// stopping for a reload.
const BUSY_TICK: Duration = Duration::from_millis(100);
/// How long the loop sleeps at most otherwise: every wake-up costs an idle
/// machine (BENCHMARKS.md, "Userspace CPU at idle").
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Why the supervisor's loop wakes up besides its tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM, SIGINT, or Netdata closed our stdin.
    Stop,
    /// SIGHUP.
    Reload,
    /// SIGCHLD: a worker may have died, to be reaped and restarted now.
    ChildExited,
    /// A line Netdata wrote on our stdin.
    Netdata(function::Line),
}

/// A Function's request waiting for its worker's answer.
struct Pending {
    request: function::Request,
    thread: ThreadName,
    /// The ring asked, by its worker's generation, and the request's number in it.
    generation: u64,
    asked: u64,
    /// When it is answered with an error, a little before Netdata gives up.
    deadline: Instant,
}

/// Netdata's timeout of a request, less this, is how long a worker has
/// to answer it: Netdata then still gets our error, not its own.
const FUNCTION_MARGIN: Duration = Duration::from_millis(500);

/// One thread: its worker's life, its totals, its charts.
struct Slot {
    thread: &'static Thread,
    config: WorkerConfig,
    life: Life,
    totals: Totals,
    charts: ChartSet,
    /// The grouping's version the per-process charts were built with.
    grouping_version: Option<u64>,
    /// When its next update is due (`ipc::schedule`).
    next_update: Instant,
    messages: Vec<Message>,
}

/// The next update of a period of `seconds` (`ipc::schedule`), as an instant.
fn next_update(seconds: u32) -> Instant {
    let period = Duration::from_secs(seconds.into());
    schedule::instant_of(schedule::next_update(period, SystemTime::now()))
}

impl Slot {
    fn new(thread: &'static Thread, config: WorkerConfig, now: Instant) -> Slot {
        let period = config.settings().update_every;
        Slot {
            thread,
            config,
            life: Life::new(thread.name.key(), now),
            totals: Totals::new(thread),
            charts: ChartSet::default(),
            grouping_version: None,
            next_update: next_update(period),
            messages: Vec::new(),
        }
    }

    /// The thread's table size when it counts per process.
    fn table_size(&self) -> Option<u32> {
        let settings = self.config.settings();
        self.thread
            .per_process_on(settings)
            .map(|per| per.slots(settings))
    }

    /// The rows of its live table (the network viewer's connections,
    /// for the `network-connections` Function): its map's size; 0 without.
    fn answer_rows(&self) -> usize {
        self.thread
            .keyed_entries(&self.config)
            .map_or(0, |(_, entries)| entries as usize)
    }

    /// Starts its worker when due, drains its ring, watches it.
    fn poll(
        &mut self,
        now: Instant,
        policy: &SupervisorSettings,
        grouping: Option<&mut Grouping>,
        sampler: &Sampler,
    ) {
        let limit = self.table_size();
        let capacity = match limit {
            Some(_) => RING_CAPACITY_PER_PROCESS,
            None => RING_CAPACITY,
        };
        let answers = self.answer_rows();
        self.life
            .start_if_due(now, policy, &self.config, (capacity, answers));
        let mut grouping = grouping;
        if let Some(ring) = self.life.ring() {
            let per_process = match (limit, grouping.as_deref_mut()) {
                (Some(limit), Some(grouping)) => Some(totals::PerProcess {
                    grouping,
                    limit,
                    now,
                }),
                _ => None,
            };
            match self
                .totals
                .drain(self.thread, ring, &mut self.messages, per_process)
            {
                Ok(drained) if drained.frames > 0 => {
                    self.life.attached(drained.variant, now);
                    sampler.programs(self.thread.name, self.totals.programs());
                }
                Ok(_) => {}
                Err(why) => self.life.garbage(&why),
            }
        }
        if self.life.watch(now, policy) {
            self.end_generation(now, grouping);
        }
        let (thread, config) = (self.thread, &self.config);
        self.totals
            .retire_unclaimed(now, || thread.key_retirement(config));
    }

    /// The next worker counts from zero again, and holds no process.
    fn end_generation(&mut self, now: Instant, grouping: Option<&mut Grouping>) {
        self.totals.next_generation();
        if let Some(grouping) = grouping {
            grouping.thread_gone(self.thread.name, now);
        }
    }

    /// Stops the worker for a reload: the thread's data stop until the next
    /// worker attaches.
    fn stop_for_reload(
        &mut self,
        now: Instant,
        off: bool,
        grouping: Option<&mut Grouping>,
    ) -> Option<Stopping> {
        let worker = self.life.stop_for_reload(now, off)?;
        self.end_generation(now, grouping);
        Some(Stopping::new(worker, now))
    }

    /// The thread's charts as they stand; cgroups gone are forgotten.
    fn layout(&mut self, grouping: Option<&Grouping>) -> Vec<charts::Chart> {
        if let Some(grouping) = grouping {
            let live: Vec<u32> = grouping.cgroups().iter().map(|c| c.serial).collect();
            self.totals.retain_cgroups(&live);
            self.charts
                .forget_retired(|key| totals::cgroup_of(key).is_none_or(|c| live.contains(&c)));
        }
        self.grouping_version = grouping.map(|g| g.version);
        charts::layout(self.thread, &self.config, &self.totals, grouping)
    }

    /// When due, one update (`true`: something was written): once the
    /// thread has sent data, every period while its worker runs or is
    /// being restarted, so that Netdata gets exactly one collection per
    /// period (a worker's reading that came late counts in the next). The
    /// charts change first when a key appeared or was renamed (a disk, an
    /// IRQ) or the grouping changed (an apps group shown, a cgroup come or
    /// gone).
    fn emit(
        &mut self,
        now: Instant,
        output: &mut dyn Output,
        grouping: Option<&Grouping>,
    ) -> io::Result<bool> {
        if now < self.next_update {
            return Ok(false);
        }
        self.next_update = next_update(self.config.settings().update_every);
        let has_data = self.charts.defined() || self.totals.fresh;
        if !has_data || matches!(self.life.phase(), Phase::Disabled | Phase::Off) {
            return Ok(false);
        }
        self.totals.fresh = false;
        let regroup = grouping.map(|g| g.version) != self.grouping_version;
        if !self.charts.defined() || self.totals.new_keys || regroup {
            self.totals.new_keys = false;
            let charts = self.layout(grouping);
            self.charts.relayout(charts, output)?;
            let gone = self.totals.take_gone_keys();
            if !gone.is_empty() {
                self.charts.forget_retired(|key| !gone.contains(&key));
            }
        }
        self.charts.update(&self.totals, output)?;
        Ok(true)
    }

    fn status(&self, now: Instant, sampler: &Sampler) -> ThreadStatus {
        ThreadStatus {
            thread: self.thread.name,
            state: match self.life.phase() {
                Phase::Running => ThreadState::Running,
                Phase::Starting => ThreadState::Starting,
                Phase::Disabled => ThreadState::Disabled,
                Phase::Off => ThreadState::Off,
            },
            variant: self
                .life
                .variant()
                .and_then(|i| self.thread.variants.get(i as usize))
                .map(|v| v.kind),
            restarts: self.life.restarts(),
            dropped_frames: self.life.dropped_frames(),
            gap_ms: self.life.gap(now).as_millis() as u64,
            pid_table: self.table_size().map(|_| self.totals.table_stats()),
            kernel_cost: sampler.cost(self.thread.name, now),
        }
    }
}

pub struct Supervisor {
    config: Config,
    pid_filter: Option<u32>,
    slots: Vec<Slot>,
    /// Workers told to stop (their thread was reconfigured or disabled).
    stopping: Vec<Stopping>,
    /// Process → apps group and cgroup, for every thread that counts per
    /// process; `None` when none does.
    grouping: Option<Grouping>,
    output: Box<dyn Output>,
    next_status: Instant,
    sampler: Sampler,
    /// `network-connections` was offered to Netdata.
    function_registered: bool,
    pending: Vec<Pending>,
    rows: Vec<ipc::ConnectionRow>,
}

/// Whether some enabled thread counts per process under `config`, and
/// whether some draws cgroup charts.
fn per_process_wanted(config: &Config) -> (bool, bool) {
    let threads = ThreadName::ALL
        .into_iter()
        .filter(|name| config.thread(*name).enabled)
        .filter_map(workers::registry::find)
        .filter(|thread| thread.per_process_on(config.thread(thread.name)).is_some());
    threads.fold((false, false), |(_, cgroups), thread| {
        (true, cgroups || config.thread(thread.name).cgroups)
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
    pub fn new(
        config: &Config,
        pid_filter: Option<u32>,
        output: Box<dyn Output>,
        sampler: Sampler,
    ) -> Supervisor {
        let now = Instant::now();
        let mut supervisor = Supervisor {
            config: config.clone(),
            pid_filter,
            slots: Vec::new(),
            stopping: Vec::new(),
            grouping: new_grouping(config),
            output,
            next_status: next_update(config.global.update_every),
            sampler,
            function_registered: false,
            pending: Vec::new(),
            rows: Vec::new(),
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
        loop {
            let now = Instant::now();
            let policy = self.config.supervisor;
            for slot in &mut self.slots {
                let started = Instant::now();
                slot.poll(now, &policy, self.grouping.as_mut(), &self.sampler);
                if let Some(grouping) = &mut self.grouping {
                    if slot.thread.per_process.is_some() {
                        grouping.add_work(started.elapsed());
                    }
                }
            }
            if let Some(grouping) = &mut self.grouping {
                let started = Instant::now();
                grouping.tick(now);
                grouping.add_work(started.elapsed());
            }
            self.stopping.retain_mut(|worker| !worker.gone(now));
            if self.nothing_can_run() {
                error!("no enabled thread can run on this system; asking not to be restarted");
                return self.output.disable();
            }
            let mut wrote = self.answer_functions(now)?;
            if !self.function_registered && self.slots.iter().any(|s| s.answer_rows() > 0) {
                self.output.register_function(
                    function::NETWORK_CONNECTIONS,
                    function::TIMEOUT,
                    function::HELP,
                )?;
                self.function_registered = true;
                wrote = true;
            }
            for slot in &mut self.slots {
                wrote |= slot.emit(now, self.output.as_mut(), self.grouping.as_ref())?;
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
                self.next_status = next_update(status.update_every);
                wrote = true;
            }
            if wrote {
                self.output.flush()?;
            }
            let wake = self.wake(now);
            select! {
                recv(crossbeam_channel::at(wake)) -> _ => {}
                recv(events) -> event => match event {
                    Ok(Event::Reload) => {
                        info!("SIGHUP: reloading the configuration");
                        if let Some(config) = reload() {
                            self.reload(config, Instant::now())?;
                        }
                    }
                    Ok(Event::ChildExited) => {}
                    Ok(Event::Netdata(line)) => {
                        self.netdata_line(line, Instant::now())?;
                        self.output.flush()?;
                    }
                    Ok(Event::Stop) | Err(_) => return self.output.exit(),
                },
            }
        }
    }

    /// When the loop must run again: the next update or status line, a
    /// worker's restart or heartbeat deadline, soon while something is
    /// under way (a ring behind among it), and at least every
    /// [`IDLE_TICK`] (the grouping's periodic work).
    /// Signals, a worker's death and Netdata's lines wake it sooner.
    fn wake(&self, now: Instant) -> Instant {
        let soon = now + BUSY_TICK;
        let busy = !self.pending.is_empty() || !self.stopping.is_empty();
        let policy = &self.config.supervisor;
        self.slots
            .iter()
            .flat_map(|slot| [Some(slot.next_update), slot.life.wake(policy, soon)])
            .flatten()
            .chain([self.next_status, now + IDLE_TICK])
            .chain(busy.then_some(soon))
            .min()
            .unwrap_or(soon)
    }

    /// A line from Netdata: a Function's request is answered at once when
    /// it can be, else asked of its worker; anything else is logged.
    fn netdata_line(&mut self, line: Line, now: Instant) -> io::Result<()> {
        let request = match line {
            Line::Empty => return Ok(()),
            Line::Unknown(keyword) => {
                warn!("Netdata sent `{keyword}`, which we do not know; ignored");
                return Ok(());
            }
            Line::Incomplete { transaction } => {
                warn!("Netdata sent an incomplete FUNCTION request; ignored");
                return match transaction {
                    Some(t) => self.output.function_result(&Reply::error(
                        &t,
                        function::BAD_REQUEST,
                        "Incomplete FUNCTION request.",
                    )),
                    None => Ok(()),
                };
            }
            Line::Function(request) => request,
        };
        let transaction = request.transaction.as_str();
        let error = |status, message: &str| Reply::error(transaction, status, message);
        let reply = match request.words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            [function::NETWORK_CONNECTIONS] => match self.ask(&request, now) {
                Ok(()) => return Ok(()),
                Err(reply) => reply,
            },
            [function::NETWORK_CONNECTIONS, "help"] => Reply::help(transaction),
            [function::NETWORK_CONNECTIONS, ref rest @ ..] => error(
                function::BAD_REQUEST,
                &format!("Invalid parameter '{}'; try 'help'.", rest.join(" ")),
            ),
            ref other => error(
                function::NOT_FOUND,
                &format!(
                    "No function '{}' in ebpf-collector.",
                    other.first().copied().unwrap_or_default()
                ),
            ),
        };
        self.output.function_result(&reply)
    }

    /// Asks the socket thread's worker for its connections, or says why
    /// it cannot be asked.
    fn ask(&mut self, request: &function::Request, now: Instant) -> Result<(), Reply> {
        let unavailable =
            |message: &str| Reply::error(&request.transaction, function::UNAVAILABLE, message);
        let Some(slot) = self.slots.iter_mut().find(|s| s.answer_rows() > 0) else {
            return Err(unavailable(
                "The network viewer is off: `[ebpf programs] network connections = yes` in \
                 ebpf.d.conf turns it on.",
            ));
        };
        let thread = slot.thread.name;
        let Some((generation, asked)) = ask_worker(slot, &mut self.pending) else {
            return Err(unavailable(&format!(
                "The {thread} thread is not running ({:?}).",
                slot.life.phase()
            )));
        };
        let wait = Duration::from_secs(request.timeout.into()).saturating_sub(FUNCTION_MARGIN);
        self.pending.push(Pending {
            request: request.clone(),
            thread,
            generation,
            asked,
            deadline: now + wait.max(function::MIN_WAIT),
        });
        Ok(())
    }

    /// Answers the requests whose worker answered, and those it did not
    /// answer in time (`true`: something was written).
    fn answer_functions(&mut self, now: Instant) -> io::Result<bool> {
        // A new worker is asked again, once for all its thread's requests.
        for slot in &mut self.slots {
            let Some(generation) = slot.life.ring().map(|ring| ring.generation()) else {
                continue;
            };
            let thread = slot.thread.name;
            if self
                .pending
                .iter()
                .any(|p| p.thread == thread && p.generation != generation)
            {
                ask_worker(slot, &mut self.pending);
            }
        }
        let mut wrote = false;
        let mut index = 0;
        while index < self.pending.len() {
            let pending = &mut self.pending[index];
            let transaction = pending.request.transaction.clone();
            let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.thread.name == pending.thread)
            else {
                index += 1;
                continue;
            };
            let update_every = slot.config.settings().update_every;
            let answer = match slot.life.ring() {
                Some(ring) if ring.generation() == pending.generation => ring
                    .answer(pending.asked, &mut self.rows)
                    .map_err(|e| e.to_string()),
                _ => Ok(false),
            };
            let reply = match answer {
                Ok(true) => {
                    let grouping = self.grouping.as_ref();
                    function::table(
                        &transaction,
                        &self.rows,
                        |tgid| owner(grouping, tgid),
                        update_every,
                    )
                }
                Ok(false) if now < pending.deadline => {
                    index += 1;
                    continue;
                }
                Ok(false) => Reply::error(
                    &transaction,
                    function::TIMED_OUT,
                    &format!("The {} thread did not answer in time.", pending.thread),
                ),
                Err(why) => {
                    error!("{}: its answer to a Function: {why}", pending.thread);
                    Reply::error(
                        &transaction,
                        function::UNAVAILABLE,
                        "The worker's answer was garbled.",
                    )
                }
            };
            self.pending.remove(index);
            self.output.function_result(&reply)?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Applies a new configuration: workers whose configuration changed
    /// restart, threads no longer enabled stop and their charts become
    /// obsolete, newly enabled ones start, disabled ones get a new chance.
    fn reload(&mut self, config: Config, now: Instant) -> io::Result<()> {
        self.config = config;
        self.reload_grouping();
        for name in ThreadName::ALL {
            let enabled = self.config.thread(name).enabled;
            let Some(index) = self.slots.iter().position(|s| s.thread.name == name) else {
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
            let off = slot.life.phase() == Phase::Off;
            let stopped = if !enabled {
                if off {
                    continue;
                }
                info!("{name}: disabled by the new configuration; stopping it");
                slot.charts.obsolete(self.output.as_mut())?;
                slot.stop_for_reload(now, true, self.grouping.as_mut())
            } else if off || slot.config != config {
                if off {
                    info!("{name}: enabled by the new configuration; starting it");
                } else {
                    info!("{name}: its configuration changed; restarting its worker");
                }
                slot.config = config;
                // Defined again with the next data: dimensions or the update
                // interval may have changed.
                let charts = slot.layout(self.grouping.as_ref());
                slot.charts.redefine(charts, self.output.as_mut())?;
                slot.stop_for_reload(now, false, self.grouping.as_mut())
            } else {
                slot.life.retry_if_disabled(now);
                None
            };
            self.stopping.extend(stopped);
        }
        self.slots.sort_by_key(|slot| slot.thread.name);
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
                slot.totals.regroup(&old, &new);
            }
        }
    }

    fn nothing_can_run(&self) -> bool {
        self.slots.iter().all(|slot| {
            matches!(slot.life.phase(), Phase::Disabled | Phase::Off) && !slot.charts.defined()
        })
    }

    /// Every thread, as the plugin's own charts show it.
    fn status(&self, now: Instant) -> Status {
        let threads = ThreadName::ALL
            .into_iter()
            .map(
                |name| match self.slots.iter().find(|s| s.thread.name == name) {
                    Some(slot) => slot.status(now, &self.sampler),
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
                        kernel_cost: None,
                    },
                },
            )
            .collect();
        Status {
            update_every: self.config.global.update_every,
            threads,
            rejected_reloads: crate::rejected_reloads(),
            statsd: self.output.delivery(),
        }
    }

    /// SIGTERM to every worker, SIGKILL to those still there after a grace.
    pub fn shutdown(&mut self) {
        let now = Instant::now();
        let mut stopping: Vec<Stopping> = std::mem::take(&mut self.stopping);
        stopping.extend(
            self.slots
                .iter_mut()
                .filter_map(|slot| slot.life.take_worker())
                .map(|worker| Stopping::new(worker, now)),
        );
        worker::stop_all(stopping);
    }
}

/// Asks `slot`'s worker for its live table: its generation and the
/// request's number, which every request of its thread still waiting
/// takes too (a worker answers only its last request).
fn ask_worker(slot: &mut Slot, pending: &mut [Pending]) -> Option<(u64, u64)> {
    let (generation, asked) = slot.life.ask()?;
    for pending in pending.iter_mut().filter(|p| p.thread == slot.thread.name) {
        (pending.generation, pending.asked) = (generation, asked);
    }
    Some((generation, asked))
}

/// A connection's process as the `network-connections` Function shows it:
/// its name now, its apps group and cgroup when a thread grouped it.
fn owner(grouping: Option<&Grouping>, tgid: u32) -> function::Owner {
    let name = std::fs::read_to_string(format!("/proc/{tgid}/comm"))
        .map(|comm| comm.trim_end().to_owned())
        .unwrap_or_default();
    let (group, cgroup) = grouping
        .and_then(|g| g.describe(tgid))
        .map_or((String::new(), String::new()), |(group, cgroup)| {
            (group.to_owned(), cgroup.unwrap_or_default().to_owned())
        });
    function::Owner {
        name,
        group,
        cgroup,
    }
}
