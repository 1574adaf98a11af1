//! Netdata's `ebpf.d.conf` and `ebpf.d/<thread>.conf`, read unchanged into typed settings.
//!
//! Why: users migrating from Netdata's `ebpf.plugin` keep their files, so the
//! stock files must parse without an error or a warning, and every key the
//! original accepts (legacy aliases included) must keep its meaning. A configuration
//! problem must never stop collection: [`load`] never fails or panics, it
//! reports each problem as a [`Diagnostic`] naming file and line, and falls
//! back to the value the original would have used.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod apps_groups;
mod dirs;
pub mod ini;
mod load;
pub mod network;
pub mod statsd;

pub use apps_groups::AppsGroups;
pub use dirs::ConfigDirs;
pub use load::load;
pub use network::{Hostnames, Ips, NetworkSelectors, Ports, Services};
pub use statsd::{StatsdDestination, StatsdHost, StatsdSettings, StatsdTags, Transport};

/// Thread identities, in the fixed order of the original's self-monitoring
/// charts (spec §7), so iteration order matches the dimension order there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ThreadName {
    Process,
    Socket,
    Cachestat,
    Sync,
    Dcstat,
    Swap,
    Vfs,
    Filesystem,
    Disk,
    Mount,
    Fd,
    Hardirq,
    Softirq,
    Oomkill,
    Shm,
    Mdflush,
}

/// What the configuration knows of a thread: its key in `ebpf.d.conf`
/// `[ebpf programs]`, its own file in `ebpf.d/`, and the original's code
/// default when `[ebpf programs]` lacks the key (spec §4.2, not always the
/// stock file's value). In [`ThreadName::ALL`] order.
const THREADS: [(ThreadName, &str, &str, bool); 16] = [
    (ThreadName::Process, "process", "process.conf", true),
    (ThreadName::Socket, "socket", "network.conf", false),
    (ThreadName::Cachestat, "cachestat", "cachestat.conf", false),
    (ThreadName::Sync, "sync", "sync.conf", true),
    (ThreadName::Dcstat, "dcstat", "dcstat.conf", false),
    (ThreadName::Swap, "swap", "swap.conf", false),
    (ThreadName::Vfs, "vfs", "vfs.conf", false),
    (
        ThreadName::Filesystem,
        "filesystem",
        "filesystem.conf",
        false,
    ),
    (ThreadName::Disk, "disk", "disk.conf", false),
    (ThreadName::Mount, "mount", "mount.conf", true),
    (ThreadName::Fd, "fd", "fd.conf", true),
    (ThreadName::Hardirq, "hardirq", "hardirq.conf", true),
    (ThreadName::Softirq, "softirq", "softirq.conf", true),
    (ThreadName::Oomkill, "oomkill", "oomkill.conf", true),
    (ThreadName::Shm, "shm", "shm.conf", true),
    (ThreadName::Mdflush, "mdflush", "mdflush.conf", false),
];

impl ThreadName {
    pub const ALL: [ThreadName; 16] = {
        let mut all = [ThreadName::Process; 16];
        let mut i = 0;
        while i < all.len() {
            all[i] = THREADS[i].0;
            i += 1;
        }
        all
    };

    /// Its position in [`ThreadName::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The thread's key in `ebpf.d.conf` `[ebpf programs]`.
    pub const fn key(self) -> &'static str {
        THREADS[self.index()].1
    }

    /// The thread's own file inside `ebpf.d/`; only socket's name differs from its key.
    pub const fn file_name(self) -> &'static str {
        THREADS[self.index()].2
    }

    /// The original's code default when `[ebpf programs]` lacks the key
    /// (spec §4.2), which is not always the stock file's value.
    pub const fn default_enabled(self) -> bool {
        THREADS[self.index()].3
    }

    /// Accepts [`ThreadName::key`] and the legacy `network viewer` for socket.
    pub fn from_key(s: &str) -> Option<ThreadName> {
        if s == "network viewer" {
            return Some(ThreadName::Socket);
        }
        ThreadName::ALL.into_iter().find(|t| t.key() == s)
    }
}

const _: () = {
    let mut i = 0;
    while i < THREADS.len() {
        assert!(THREADS[i].0 as usize == i, "THREADS is in ThreadName order");
        i += 1;
    }
};

impl fmt::Display for ThreadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A name that is not a thread key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown eBPF thread `{0}`")]
pub struct UnknownThread(pub String);

impl FromStr for ThreadName {
    type Err = UnknownThread;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThreadName::from_key(s).ok_or_else(|| UnknownThread(s.to_owned()))
    }
}

/// `ebpf load mode`: `return` also attaches the return probes that feed the error charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadMode {
    Entry,
    Return,
}

/// `ebpf type format`: how a thread's programs are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeFormat {
    Auto,
    Legacy,
    CoRe,
}

/// `ebpf co-re tracing`: how CO-RE programs attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoreTracing {
    Trampoline,
    Probe,
    Tracepoint,
}

/// Effective settings of one thread: `ebpf.d.conf` `[global]` overridden by `ebpf.d/<file>` `[global]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadSettings {
    /// From `[ebpf programs]`.
    pub enabled: bool,
    pub mode: LoadMode,
    /// Seconds, 1..=3600.
    pub update_every: u32,
    pub apps: bool,
    pub cgroups: bool,
    /// 1..=4194304 (the kernel's `pid_max` limit).
    pub pid_table_size: u32,
    pub type_format: TypeFormat,
    pub core_tracing: CoreTracing,
    /// The thread's own keys ([`OwnKey`]) the files set, by (section, key).
    pub own: BTreeMap<(String, String), OwnValue>,
}

impl ThreadSettings {
    /// The value of the thread's own key `key`: as a file set it, else its default.
    pub fn own(&self, key: &OwnKey) -> OwnValue {
        self.own
            .get(&(key.section.to_owned(), key.key.to_owned()))
            .cloned()
            .unwrap_or_else(|| key.kind.default())
    }
}

/// `ebpf.d.conf` `[global]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalSettings {
    pub update_every: u32,
    pub mode: LoadMode,
    pub apps: bool,
    pub cgroups: bool,
    pub pid_table_size: u32,
    pub btf_path: PathBuf,
    pub type_format: TypeFormat,
    pub core_tracing: CoreTracing,
}

/// A key of a thread's own file (e.g. `sync.conf` `[syscalls] fsync`),
/// declared by the thread's module and read by [`load`] like any other:
/// unknown keys are warnings, bad values errors with the default used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnKey {
    pub section: &'static str,
    pub key: &'static str,
    pub kind: OwnKind,
    /// Also read from `ebpf.d.conf`, whose value wins (the original reads
    /// `[network connections]` and `[service name]` there too).
    pub also_in_main: bool,
}

impl OwnKey {
    /// `[section] key = yes|no`, default yes: whether the thread collects
    /// its counter `counter` (a syscall of `sync.conf` `[syscalls]`).
    pub const fn switch(section: &'static str, key: &'static str, counter: u32) -> OwnKey {
        OwnKey {
            section,
            key,
            kind: OwnKind::Switch { counter },
            also_in_main: false,
        }
    }
}

/// What values an [`OwnKey`] takes, and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnKind {
    /// A boolean, default yes, that turns the thread's counter `counter`
    /// on or off.
    Switch {
        counter: u32,
    },
    Bool {
        default: bool,
    },
    Number {
        min: u32,
        max: u32,
        default: u32,
    },
    /// The whole section: `port = name` lines (`[service name]`).
    PortNames,
    /// A list of ports (`network.conf` `ports`); unset by default: no filter.
    Ports,
    /// A list of addresses (`ips`), `default` when unset.
    Ips {
        default: &'static str,
    },
    /// A list of name patterns (`hostnames`); unset by default: no filter.
    Hostnames,
}

impl OwnKind {
    pub fn default(self) -> OwnValue {
        match self {
            OwnKind::Switch { .. } => OwnValue::Bool(true),
            OwnKind::Bool { default } => OwnValue::Bool(default),
            OwnKind::Number { default, .. } => OwnValue::Number(default),
            OwnKind::PortNames => OwnValue::PortNames(BTreeMap::new()),
            OwnKind::Ports => OwnValue::Ports(Ports::default()),
            // A default is not in a file: nothing to report about it.
            OwnKind::Ips { default } => OwnValue::Ips(Ips::parse(default).0),
            OwnKind::Hostnames => OwnValue::Hostnames(Hostnames::default()),
        }
    }
}

/// The value of an [`OwnKey`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnValue {
    Bool(bool),
    Number(u32),
    PortNames(BTreeMap<u16, String>),
    Ports(Ports),
    Ips(Ips),
    Hostnames(Hostnames),
}

/// The own keys of each thread, from the threads' modules; `None` for a
/// thread not implemented: its file's own sections are not read.
pub type OwnKeys = fn(ThreadName) -> Option<&'static [OwnKey]>;

/// `ebpf.d.conf` `[supervisor]`: our extension (a stock file lacks it), how
/// the supervisor restarts and watches its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorSettings {
    /// `restart delay ms`: the delay before the first restart; it doubles
    /// with every further crash inside the crash window.
    pub restart_delay_ms: u32,
    /// `restart delay max ms`: the doubling stops here; never below
    /// `restart_delay_ms`.
    pub restart_delay_max_ms: u32,
    /// `crash limit`: a thread whose worker dies this many times within the
    /// window is disabled; 0 never disables.
    pub crash_limit: u32,
    /// `crash window`: seconds.
    pub crash_window: u32,
    /// `heartbeat timeout ms`: an attached worker that stops beating this
    /// long is killed and restarted (workers beat a quarter of it, at most
    /// a second, apart).
    pub heartbeat_timeout_ms: u32,
    /// `kernel cost`: when the kernel counts what our programs cost it.
    pub kernel_cost: KernelCost,
}

/// `[supervisor] kernel cost`: the kernel keeps each program's run count
/// and run time only while statistics are on (`BPF_ENABLE_STATS`), which
/// costs every run of every program on the machine two clock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KernelCost {
    /// On for one second in every minute: the chart shows the last
    /// window's rate.
    Sampled,
    /// Always on: exact counts.
    Continuous,
    /// Never turned on by us.
    Off,
}

impl KernelCost {
    /// How long statistics are on in each cycle when sampled.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(1);
    /// One window per cycle: on 1/60 of the time, what statistics add to
    /// every program run is diluted 60 times (BENCHMARKS.md, "Kernel cost").
    pub const CYCLE: std::time::Duration = std::time::Duration::from_secs(60);
}

/// `ebpf.d.conf` `[cgroups]`: our extension, with the names and defaults
/// of Netdata's `[plugin:cgroups]` keys that decide which cgroups get
/// charts and how they are found (we read cgroups ourselves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupSettings {
    /// `use unified cgroups`: `None` is `auto` (unified when `/sys/fs/cgroup`
    /// is a cgroup2 mount, as Netdata decides).
    pub use_unified: Option<bool>,
    /// `check for new cgroups every`: seconds between scans of the hierarchy.
    pub check_every: u32,
    /// `max cgroups to allow`.
    pub max_cgroups: u32,
    /// `enable by default cgroups matching`: Netdata simple patterns on the
    /// cgroup's path.
    pub enabled: String,
    /// `search for cgroups in subpaths matching`.
    pub search: String,
    /// `cgroups to match as systemd services`.
    pub services: String,
}

/// The whole configuration, every value already resolved to what applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub global: GlobalSettings,
    pub supervisor: SupervisorSettings,
    /// Always holds all 16 threads.
    pub threads: BTreeMap<ThreadName, ThreadSettings>,
    /// `[ebpf programs]` `network connections` (alias `network connection monitoring`).
    pub network_connections_enabled: bool,
    /// `ebpf.d.conf` `[statsd]` (our extension).
    pub statsd: StatsdSettings,
    pub cgroups: CgroupSettings,
    /// `apps_groups.conf`; only the supervisor uses it, so workers never
    /// receive it.
    #[serde(skip)]
    pub apps_groups: AppsGroups,
    /// The files actually read, in order.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// What the worker of `t` sees: this configuration with everything that
    /// does not concern `t` at its built-in value, so that two views differ
    /// exactly when that worker would behave differently (a reload restarts
    /// only those workers).
    pub fn for_thread(&self, t: ThreadName) -> Config {
        let mut view = load::built_in(self.global.update_every);
        view.global = self.global.clone();
        *view.thread_mut(t) = self.thread(t).clone();
        if t == ThreadName::Socket {
            view.network_connections_enabled = self.network_connections_enabled;
        }
        view
    }

    pub fn thread(&self, t: ThreadName) -> &ThreadSettings {
        // `threads` is built with every thread and its entries are never removed by this crate.
        &self.threads[&t]
    }

    pub fn thread_mut(&mut self, t: ThreadName) -> &mut ThreadSettings {
        self.threads
            .get_mut(&t)
            .expect("Config::threads holds every thread")
    }
}

impl Default for Config {
    /// The original's built-in defaults, as if no file existed, with `update every` = 1.
    fn default() -> Self {
        load::built_in(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Ignored input; everything else still applies.
    Warning,
    /// A value or file could not be used; a default was used instead.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding about the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based; `None` when the finding is about the whole file.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}
