//! Grouping, done once for all threads: process (TGID) → apps group and
//! cgroup. Workers send per-process deltas; each delta is added to the
//! totals of the process's group and cgroup *when it arrives*, so a group's
//! total never goes back: not when a process ends (its counts are already
//! in), not when it changes group after an exec or a rename (only later
//! counts move), not when a worker restarts (deltas start from nothing
//! again).
//!
//! A process is grouped when a worker first reports it, from what the
//! kernel passed on (name, parent, cgroup id) and what `/proc` still shows
//! (command line, current name), by the original's rules: the first
//! `apps_groups.conf` pattern that matches, else its parent's group, else
//! `other` (PIDs 0 and 1 always); again when the kernel reports a new name
//! (an exec, or a rename as `prctl(PR_SET_NAME)`). There is no periodic
//! `/proc` scan.

pub mod cgroups;
pub mod charts;
mod pattern;
mod procfs;

use std::time::{Duration, Instant};

use conf::{AppsGroups, CgroupSettings, ThreadName};
use ipc::alive;
use ipc::tgid::TgidMap;
use tracing::debug;

use cgroups::Cgroups;
pub use cgroups::V1Cgroup;

/// How often processes nobody holds any more are forgotten.
const SWEEP_PERIOD: Duration = Duration::from_secs(10);
/// A process every worker has ended stays known this long, for records
/// still in flight from another of its table slots.
const ENDED_GRACE: Duration = Duration::from_secs(5);
/// Parents are followed this far up for inheritance.
const MAX_DEPTH: usize = 64;

/// Where a process's counts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Index into the apps groups.
    pub group: u32,
    /// Serial of its monitored cgroup.
    pub cgroup: Option<u32>,
}

#[derive(Debug, Clone)]
struct Process {
    /// Its leader's start time as the kernel passed it on (0: unknown): a
    /// later process with the same TGID has another.
    start: u64,
    ppid: u32,
    /// The name the kernel passed on (empty when it could not).
    name: String,
    /// Its cgroup id in the unified hierarchy, as the kernel passed it on
    /// (0: unknown).
    cgroup: u64,
    /// Its cgroup in the first v1 hierarchy, as the kernel passed it on.
    v1_cgroup: Option<V1Cgroup>,
    /// The threads whose workers hold the process (bit = position in
    /// [`ThreadName::ALL`]).
    holders: u16,
    /// When the last holder ended it.
    ended: Option<Instant>,
}

impl Process {
    fn new() -> Process {
        Process {
            start: 0,
            ppid: 0,
            name: String::new(),
            cgroup: 0,
            v1_cgroup: None,
            holders: 0,
            ended: None,
        }
    }
}

/// What a worker passed on about a process entering its table or getting
/// a new name (an exec or a rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birth {
    pub tgid: u32,
    pub ppid: u32,
    /// Its cgroup id in the unified hierarchy (0: unknown).
    pub cgroup: u64,
    /// Its cgroup in the first v1 hierarchy Netdata reads (hybrid hosts).
    pub v1_cgroup: Option<V1Cgroup>,
    pub name: Option<[u8; 16]>,
    /// Its leader's start time (0: unknown).
    pub start: u64,
    pub renamed: bool,
}

/// A process whose TGID a later process took while some workers still
/// held the first one: their records of it go where they went.
#[derive(Debug, Clone, Copy)]
struct Reused {
    /// The threads whose workers still hold the first process.
    holders: u16,
    target: Target,
}

pub struct Grouping {
    apps: AppsGroups,
    cmdline: bool,
    processes: TgidMap<Process>,
    /// Where each grouped process's counts go (none until grouped, again
    /// after a new name): apart from `processes`, as every delta looks here
    /// and a small entry misses the cache less often.
    targets: TgidMap<Target>,
    /// One bit per TGID in `processes`: every delta checks that its
    /// process is known, and a bit costs no cache miss where a map
    /// look-up with 30k processes did (half the supervisor's time).
    known: Vec<u64>,
    /// Earlier processes of a reused TGID, until their holders end them.
    reused: TgidMap<Reused>,
    /// Groups that have had a process: the apps charts' dimensions. As in
    /// the original, a group once shown stays.
    exposed: Vec<bool>,
    cgroups: Option<Cgroups>,
    /// The cgroups' version the charts follow so far.
    cgroups_version: u64,
    /// Bumped whenever the per-process charts change (a group shown, the
    /// cgroups changed, the configuration reloaded).
    pub version: u64,
    /// Processes each thread holds.
    held: [usize; 16],
    next_sweep: Instant,
    /// Work done since the last [`Grouping::take_work`].
    work: Duration,
    records: u64,
}

fn bit(thread: ThreadName) -> u16 {
    1 << thread.index()
}

impl Grouping {
    pub fn new(apps: AppsGroups, cgroups: Option<&CgroupSettings>) -> Grouping {
        Grouping {
            cmdline: apps.needs_cmdline(),
            exposed: vec![false; apps.groups.len()],
            apps,
            processes: TgidMap::default(),
            targets: TgidMap::default(),
            reused: TgidMap::default(),
            known: Vec::new(),
            cgroups: cgroups.and_then(Cgroups::new),
            cgroups_version: 0,
            version: 0,
            held: [0; 16],
            next_sweep: Instant::now() + SWEEP_PERIOD,
            work: Duration::ZERO,
            records: 0,
        }
    }

    pub fn apps(&self) -> &AppsGroups {
        &self.apps
    }

    /// Groups shown so far, in `apps_groups.conf` order.
    pub fn exposed(&self) -> impl Iterator<Item = (u32, &conf::apps_groups::Group)> {
        self.apps
            .groups
            .iter()
            .enumerate()
            .filter(|(i, _)| self.exposed[*i])
            .map(|(i, g)| (i as u32, g))
    }

    pub fn cgroups(&self) -> &[cgroups::Cgroup] {
        self.cgroups.as_ref().map_or(&[], |c| c.all())
    }

    /// New rules and cgroup settings (a reload): every process is grouped
    /// again from its next record on; groups keep being shown by name.
    pub fn reconfigure(&mut self, apps: AppsGroups, cgroups: Option<&CgroupSettings>) {
        if apps != self.apps {
            let exposed: Vec<bool> = apps
                .groups
                .iter()
                .map(|g| self.exposed().any(|(_, old)| old.name == g.name))
                .collect();
            self.exposed = exposed;
            self.cmdline = apps.needs_cmdline();
            self.apps = apps;
            self.targets.clear();
            self.version += 1;
        }
        let want = cgroups.is_some();
        if want != self.cgroups.is_some() {
            self.cgroups = cgroups.and_then(Cgroups::new);
            self.cgroups_version = self.cgroups.as_ref().map_or(0, |c| c.version);
            self.targets.clear();
            self.version += 1;
        }
    }

    /// Whether a worker of `thread` holds `tgid`.
    pub fn holds(&self, thread: ThreadName, tgid: u32) -> bool {
        let bit = bit(thread);
        self.processes
            .get(&tgid)
            .is_some_and(|p| p.holders & bit != 0)
            || self.reused.get(&tgid).is_some_and(|r| r.holders & bit != 0)
    }

    /// How many processes a worker of `thread` holds.
    pub fn held(&self, thread: ThreadName) -> usize {
        self.held[bit(thread).trailing_zeros() as usize]
    }

    /// Whether some worker reported `tgid` (and it is not forgotten yet).
    pub fn knows(&self, tgid: u32) -> bool {
        self.known
            .get(tgid as usize / 64)
            .is_some_and(|word| word & (1 << (tgid % 64)) != 0)
    }

    /// A worker of `thread` holds `birth.tgid` from now on (or it has a new name).
    /// `limit` is the thread's table size: a worker holding more processes
    /// is writing garbage (the error: how many it would hold).
    pub fn born(&mut self, thread: ThreadName, limit: u32, birth: Birth) -> Result<(), usize> {
        let bit = bit(thread);
        let index = bit.trailing_zeros() as usize;
        mark_known(&mut self.known, birth.tgid, true);
        let process = self
            .processes
            .entry(birth.tgid)
            .or_insert_with(Process::new);
        if birth.start != 0 && process.start != 0 && birth.start != process.start {
            // Another process with the TGID (reused): the first one's
            // holders keep their target until they end it; this one is
            // grouped afresh.
            let first = std::mem::replace(process, Process::new());
            if first.holders & bit != 0 {
                self.held[index] -= 1;
            }
            let others = first.holders & !bit;
            let target = self.targets.remove(&birth.tgid);
            if let (Some(target), true) = (target, others != 0) {
                self.reused.insert(
                    birth.tgid,
                    Reused {
                        holders: others,
                        target,
                    },
                );
            }
        }
        let process = self.processes.get_mut(&birth.tgid).expect("entered above");
        if birth.start != 0 {
            process.start = birth.start;
        }
        if process.holders & bit == 0 {
            if self.held[index] >= limit as usize {
                return Err(self.held[index] + 1);
            }
            process.holders |= bit;
            self.held[index] += 1;
        }
        process.ended = None;
        if birth.ppid != 0 {
            process.ppid = birth.ppid;
        }
        if birth.cgroup != 0 {
            process.cgroup = birth.cgroup;
        }
        if birth.v1_cgroup.is_some() {
            process.v1_cgroup = birth.v1_cgroup;
        }
        let mut renamed = false;
        if let Some(name) = birth.name {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = String::from_utf8_lossy(&name[..end]);
            if process.name != name {
                process.name = name.into_owned();
                renamed = true;
            }
        }
        // A process grouped before it had a name here (as a gone child's
        // parent) or under another name is grouped again, as apps.plugin
        // does when a name changes: only its later counts move.
        if birth.renamed || renamed {
            self.targets.remove(&birth.tgid);
        }
        self.records += 1;
        Ok(())
    }

    /// Where the counts of `tgid` that a worker of `thread` sent go,
    /// grouping it first if needed; `None` when no worker ever reported the
    /// process.
    pub fn target(&mut self, thread: ThreadName, tgid: u32) -> Option<Target> {
        if !self.reused.is_empty() {
            let earlier = self.reused.get(&tgid);
            if let Some(reused) = earlier.filter(|r| r.holders & bit(thread) != 0) {
                return Some(reused.target);
            }
        }
        let target = match self.targets.get(&tgid) {
            Some(target) => *target,
            None if !self.knows(tgid) => return None,
            None => self.group(tgid, 0),
        };
        let exposed = &mut self.exposed[target.group as usize];
        if !*exposed {
            *exposed = true;
            self.version += 1;
        }
        self.records += 1;
        Some(target)
    }

    /// The apps group and the cgroup's path of a grouped process, without
    /// grouping it (the `network-connections` Function).
    pub fn describe(&self, tgid: u32) -> Option<(&str, Option<&str>)> {
        let target = self.targets.get(&tgid)?;
        let group = self.apps.groups.get(target.group as usize)?;
        let cgroup = target.cgroup.and_then(|serial| {
            self.cgroups()
                .iter()
                .find(|c| c.serial == serial)
                .map(|c| c.id.as_str())
        });
        Some((group.name.as_str(), cgroup))
    }

    /// The worker of `thread` has ended `tgid`.
    pub fn ended(&mut self, thread: ThreadName, tgid: u32, now: Instant) {
        let bit = bit(thread);
        self.records += 1;
        if let Some(reused) = self.reused.get_mut(&tgid) {
            if reused.holders & bit != 0 {
                reused.holders &= !bit;
                self.held[bit.trailing_zeros() as usize] -= 1;
                if reused.holders == 0 {
                    self.reused.remove(&tgid);
                }
                return;
            }
        }
        if let Some(process) = self.processes.get_mut(&tgid) {
            if process.holders & bit != 0 {
                process.holders &= !bit;
                self.held[bit.trailing_zeros() as usize] -= 1;
                if process.holders == 0 {
                    process.ended = Some(now);
                }
            }
        }
    }

    /// A worker of `thread` is gone: it holds nothing any more.
    pub fn thread_gone(&mut self, thread: ThreadName, now: Instant) {
        let bit = bit(thread);
        for process in self.processes.values_mut() {
            if process.holders & bit != 0 {
                process.holders &= !bit;
                if process.holders == 0 {
                    process.ended = Some(now);
                }
            }
        }
        self.reused.retain(|_, reused| {
            reused.holders &= !bit;
            reused.holders != 0
        });
        self.held[bit.trailing_zeros() as usize] = 0;
    }

    /// Periodic work: cgroup scans (and moving processes whose cgroup
    /// changed), and forgetting processes nobody holds.
    pub fn tick(&mut self, now: Instant) {
        if let Some(cgroups) = &mut self.cgroups {
            if cgroups.refresh(now) {
                let live: Vec<u32> = cgroups.all().iter().map(|c| c.serial).collect();
                for (pid, target) in &mut self.targets {
                    let member = cgroups.member(*pid);
                    let vanished = target.cgroup.is_some_and(|s| !live.contains(&s));
                    if member.is_some() || vanished {
                        target.cgroup = member;
                    }
                }
            }
            // A scan, or a cgroup found between scans when a process named
            // it: the charts follow either, or a new cgroup's charts would
            // wait for the next scan.
            if cgroups.version != self.cgroups_version {
                self.cgroups_version = cgroups.version;
                self.version += 1;
            }
        }
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now + SWEEP_PERIOD;
        }
    }

    /// Forgets processes no worker holds that ended a while ago, or that
    /// no longer exist (parents looked up for inheritance).
    fn sweep(&mut self, now: Instant) {
        let (known, targets) = (&mut self.known, &mut self.targets);
        self.processes.retain(|pid, process| {
            let keep = process.holders != 0
                || match process.ended {
                    Some(at) => now.duration_since(at) < ENDED_GRACE,
                    None => alive(*pid),
                };
            if !keep {
                mark_known(known, *pid, false);
                targets.remove(pid);
            }
            keep
        });
    }

    /// Time the supervisor spent on per-process records and grouping.
    pub fn add_work(&mut self, spent: Duration) {
        self.work += spent;
    }

    /// The work done and records handled since the last call, and the
    /// processes known.
    pub fn take_work(&mut self) -> (Duration, u64, usize) {
        let taken = (self.work, self.records, self.processes.len());
        self.work = Duration::ZERO;
        self.records = 0;
        taken
    }

    /// Groups `tgid` (its entry exists) and remembers it.
    fn group(&mut self, tgid: u32, depth: usize) -> Target {
        let known = self
            .processes
            .get(&tgid)
            .cloned()
            .unwrap_or_else(Process::new);
        let live = procfs::stat(tgid);
        let (name, ppid) = match &live {
            Some((comm, ppid)) => (comm.clone(), *ppid),
            None => (known.name.clone(), known.ppid),
        };
        let matched = if tgid <= 1 {
            None
        } else if name.is_empty() && live.is_none() {
            // Nothing to match: the parent's group.
            None
        } else {
            let cmdline = match (self.cmdline, &live) {
                (true, Some(_)) => procfs::cmdline(tgid),
                _ => None,
            };
            self.apps
                .classify(&name, cmdline.as_deref().unwrap_or(&name))
        };
        let inherit = tgid > 1 && ppid > 1 && depth < MAX_DEPTH && ppid != tgid;
        let mut parent = None;
        let group = match matched {
            Some(group) => group as u32,
            None if inherit => {
                let target = self.parent_target(ppid, depth);
                parent = Some(target);
                target.group
            }
            None => self.apps.other as u32,
        };
        let found = self
            .cgroups
            .as_mut()
            .map(|cgroups| cgroups.of_process(tgid, known.cgroup, known.v1_cgroup));
        let cgroup = match found {
            None => None,
            Some(Some(found)) => found,
            // Unknown (the process is gone): where its parent is.
            Some(None) if inherit => match parent {
                Some(target) => target.cgroup,
                None => self.parent_target(ppid, depth).cgroup,
            },
            Some(None) => None,
        };
        let target = Target { group, cgroup };
        debug!(
            "grouping: {tgid} `{name}` (parent {ppid}, cgroup ids {} and {:?}, found {found:?}): group {group}, cgroup {cgroup:?}",
            known.cgroup, known.v1_cgroup
        );
        mark_known(&mut self.known, tgid, true);
        let process = self.processes.entry(tgid).or_insert_with(Process::new);
        self.targets.insert(tgid, target);
        if process.ppid == 0 {
            process.ppid = ppid;
        }
        target
    }

    /// A parent's target, grouping it (from `/proc`) if needed.
    fn parent_target(&mut self, ppid: u32, depth: usize) -> Target {
        match self.targets.get(&ppid) {
            Some(target) => *target,
            None => self.group(ppid, depth + 1),
        }
    }
}

fn mark_known(known: &mut Vec<u64>, tgid: u32, on: bool) {
    let (word, bit) = (tgid as usize / 64, 1u64 << (tgid % 64));
    if known.len() <= word {
        known.resize(word + 1, 0);
    }
    if on {
        known[word] |= bit;
    } else {
        known[word] &= !bit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn birth(tgid: u32) -> Birth {
        Birth {
            tgid,
            ppid: 1,
            cgroup: 0,
            v1_cgroup: None,
            name: None,
            start: 0,
            renamed: false,
        }
    }

    /// A process named `name` that started at `start`.
    fn started(tgid: u32, name: &str, start: u64) -> Birth {
        let mut bytes = [0; 16];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Birth {
            name: Some(bytes),
            start,
            ..birth(tgid)
        }
    }

    /// A TGID taken by a later process while one worker still holds the
    /// first: that worker's records of it keep going to the first one's
    /// group until it ends it; the other worker's go to the new one's.
    #[test]
    fn a_reused_tgid_never_merges_two_processes() {
        let (apps, _) = AppsGroups::parse(
            std::path::Path::new("apps_groups.conf"),
            b"first: first-app\nsecond: second-app\n",
        );
        let mut grouping = Grouping::new(apps, None);
        let tgid = 4_000_002;
        let (vfs, shm) = (ThreadName::Vfs, ThreadName::Shm);
        let group = |g: &mut Grouping, thread| g.target(thread, tgid).unwrap().group;
        for thread in [vfs, shm] {
            grouping
                .born(thread, 8, started(tgid, "first-app", 100))
                .unwrap();
        }
        assert_eq!(group(&mut grouping, vfs), 0);
        // vfs ends the first and sees the second; shm has not yet.
        grouping.ended(vfs, tgid, Instant::now());
        grouping
            .born(vfs, 8, started(tgid, "second-app", 200))
            .unwrap();
        assert_eq!(group(&mut grouping, vfs), 1);
        assert_eq!(group(&mut grouping, shm), 0, "shm still reads the first");
        assert_eq!((grouping.held(vfs), grouping.held(shm)), (1, 1));
        // shm ends the first, then holds the second.
        grouping.ended(shm, tgid, Instant::now());
        grouping
            .born(shm, 8, started(tgid, "second-app", 200))
            .unwrap();
        assert_eq!(group(&mut grouping, shm), 1);
        assert!(grouping.reused.is_empty());
        assert_eq!((grouping.held(vfs), grouping.held(shm)), (1, 1));
    }

    #[test]
    fn a_process_is_known_from_its_birth_until_it_is_forgotten() {
        let mut grouping = Grouping::new(AppsGroups::default(), None);
        // Far apart, and beyond pid_max's default.
        let (low, high) = (7, 4_000_001);
        let start = Instant::now();
        for tgid in [low, high] {
            assert!(!grouping.knows(tgid));
            grouping.born(ThreadName::Vfs, 8, birth(tgid)).unwrap();
            assert!(grouping.knows(tgid));
        }
        grouping.ended(ThreadName::Vfs, high, start);
        grouping.sweep(start + ENDED_GRACE / 2);
        assert!(grouping.knows(high), "forgotten within its grace");
        grouping.sweep(start + ENDED_GRACE);
        assert!(!grouping.knows(high));
        assert!(grouping.knows(low), "still held");
        assert_eq!(grouping.held(ThreadName::Vfs), 1);
    }
}
