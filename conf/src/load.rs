//! From files to [`Config`]: which keys exist where, how values are read,
//! and which value wins.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::ini::{self, printable, Document};
use crate::statsd;
use crate::{
    CollectPid, Config, ConfigDirs, CoreTracing, Diagnostic, FilesystemSelection, GlobalSettings,
    LoadMode, NetworkConnections, NetworkTables, Severity, ShmSyscalls, StatsdSettings,
    SupervisorSettings, SyncSyscalls, ThreadName, ThreadSettings, TypeFormat,
};

/// `update every`: at most an hour, as a longer period makes the charts useless.
const UPDATE_EVERY: (u32, u32) = (1, 3600);
/// `pid table size`: the kernel's largest `pid_max`.
const PID_TABLE_SIZE: (u32, u32) = (1, 4_194_304);
const ANY_U32: (u32, u32) = (0, u32::MAX);
/// Restart delays: up to an hour.
const RESTART_DELAY_MS: (u32, u32) = (1, 3_600_000);
/// `crash window`: up to a day.
const CRASH_WINDOW: (u32, u32) = (1, 86_400);
/// `heartbeat timeout ms`: workers beat every 100 ms; less than two beats
/// would kill healthy workers.
const HEARTBEAT_TIMEOUT_MS: (u32, u32) = (200, 600_000);
const POSITIVE_U32: (u32, u32) = (1, u32::MAX);

const GLOBAL: &str = "global";
const PROGRAMS: &str = "ebpf programs";
const NETWORK_CONNECTIONS: &str = "network connections";
const SERVICE_NAME: &str = "service name";
const SYSCALLS: &str = "syscalls";
const FILESYSTEM: &str = "filesystem";
/// Our extension of `ebpf.d.conf`.
const SUPERVISOR: &str = "supervisor";

/// `ebpf.d.conf` `[global]`. `load` and `disable apps` are the original's
/// legacy aliases; `ebpf co-re tracing` is accepted here too so one line can
/// set it for every thread.
const MAIN_GLOBAL_KEYS: &[&str] = &[
    "ebpf load mode",
    "load",
    "apps",
    "disable apps",
    "cgroups",
    "update every",
    "pid table size",
    "btf path",
    "ebpf type format",
    "ebpf co-re tracing",
    "maps per core",
    "lifetime",
];
/// `[ebpf programs]` keys besides the thread keys.
const PROGRAM_EXTRA_KEYS: &[&str] = &[
    "network viewer",
    "network connections",
    "network connection monitoring",
];
const THREAD_GLOBAL_KEYS: &[&str] = &[
    "ebpf load mode",
    "update every",
    "apps",
    "cgroups",
    "pid table size",
    "ebpf type format",
    "ebpf co-re tracing",
    "collect pid",
    "maps per core",
    "lifetime",
];
const NETWORK_TABLE_KEYS: &[&str] = &[
    "bandwidth table size",
    "ipv4 connection table size",
    "ipv6 connection table size",
    "udp connection table size",
];
const NETWORK_CONNECTION_KEYS: &[&str] = &[
    "maximum dimensions",
    "resolve hostnames",
    "resolve service names",
    "ports",
    "ips",
    "hostnames",
];
const SYNC_KEYS: &[&str] = &[
    "sync",
    "msync",
    "fsync",
    "fdatasync",
    "syncfs",
    "sync_file_range",
];
const SHM_KEYS: &[&str] = &["shmget", "shmat", "shmdt", "shmctl"];
const SUPERVISOR_KEYS: &[&str] = &[
    "restart delay ms",
    "restart delay max ms",
    "crash limit",
    "crash window",
    "heartbeat timeout ms",
];
const FILESYSTEM_KEYS: &[&str] = &["ext4dist", "xfsdist", "nfsdist", "zfsdist", "btrfsdist"];

/// The original's `ips` default: private ranges in, loopback out.
const DEFAULT_IPS: &str = "!127.0.0.1/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7 !::1/128";

/// Which keys a section may hold.
enum Keys {
    Listed(&'static [&'static str]),
    /// `[service name]`: the keys are port numbers, checked while reading.
    Ports,
}

/// Reads `ebpf.d.conf` (or its pre-v1.31 name `ebpf.conf`) and every
/// `ebpf.d/<thread file>`.
///
/// `default_update_every` is `[global]` `update every` when no file sets it
/// (the plugin's `UPDATE_EVERY` argument, or 1). Never panics, never fails:
/// every problem becomes a [`Diagnostic`] and the default is used. A file
/// that is present but unreadable is reported and the next directory is
/// tried, as the original does.
pub fn load(dirs: &ConfigDirs, default_update_every: u32) -> (Config, Vec<Diagnostic>) {
    let mut config = built_in(default_update_every);
    let mut diags = Vec::new();

    let mut main = read_source(dirs, &["ebpf.d.conf", "ebpf.conf"], &mut config, &mut diags);
    // Its findings go here, although its network sections are read last.
    let main_slot = diags.len();
    if let Some(src) = &mut main {
        src.check(&main_schema());
        read_main_global(src, &mut config.global);
        read_programs(src, &mut config);
        read_supervisor(src, &mut config.supervisor);
        statsd::read(src, &mut config.statsd);
    }
    let global = config.global.clone();
    for settings in config.threads.values_mut() {
        *settings = inherit(&global, settings.enabled);
    }

    for thread in ThreadName::ALL {
        let relative = format!("ebpf.d/{}", thread.file_name());
        let Some(mut src) = read_source(dirs, &[&relative], &mut config, &mut diags) else {
            continue;
        };
        src.check(&thread_schema(thread));
        read_thread_global(&mut src, config.thread_mut(thread));
        match thread {
            ThreadName::Sync => read_sync(&mut src, &mut config.sync_syscalls),
            ThreadName::Shm => read_shm(&mut src, &mut config.shm_syscalls),
            ThreadName::Filesystem => read_filesystems(&mut src, &mut config.filesystems),
            ThreadName::Socket => {
                read_network_tables(&mut src, &mut config.network_tables);
                // Read from network.conf, where the stock files put them,
                // unlike v1.38+ which ignores them there (spec B-16).
                read_network_connections(&mut src, &mut config.network_connections);
                read_service_names(&mut src, &mut config.service_names);
            }
            _ => {}
        }
        diags.extend(src.finish());
    }

    if let Some(mut src) = main {
        // Last, so that ebpf.d.conf wins over network.conf key by key.
        read_network_connections(&mut src, &mut config.network_connections);
        read_service_names(&mut src, &mut config.service_names);
        diags.splice(main_slot..main_slot, src.finish());
    }
    (config, diags)
}

/// The configuration with no file at all.
pub(crate) fn built_in(update_every: u32) -> Config {
    let global = GlobalSettings {
        update_every: update_every.clamp(UPDATE_EVERY.0, UPDATE_EVERY.1),
        mode: LoadMode::Entry,
        apps: true,
        cgroups: false,
        pid_table_size: 32768,
        btf_path: PathBuf::from("/sys/kernel/btf"),
        type_format: TypeFormat::Auto,
        core_tracing: CoreTracing::Trampoline,
        maps_per_core: true,
        lifetime: 300,
    };
    let threads = ThreadName::ALL
        .into_iter()
        .map(|t| (t, inherit(&global, t.default_enabled())))
        .collect();
    Config {
        global,
        supervisor: SupervisorSettings {
            restart_delay_ms: 200,
            restart_delay_max_ms: 30_000,
            crash_limit: 5,
            crash_window: 60,
            heartbeat_timeout_ms: 2000,
        },
        threads,
        network_connections_enabled: false,
        sync_syscalls: SyncSyscalls {
            sync: true,
            msync: true,
            fsync: true,
            fdatasync: true,
            syncfs: true,
            sync_file_range: true,
        },
        shm_syscalls: ShmSyscalls {
            shmget: true,
            shmat: true,
            shmdt: true,
            shmctl: true,
        },
        filesystems: FilesystemSelection {
            ext4dist: true,
            xfsdist: true,
            nfsdist: true,
            zfsdist: true,
            btrfsdist: true,
        },
        network_tables: NetworkTables {
            bandwidth_table_size: 16384,
            ipv4_connection_table_size: 16384,
            ipv6_connection_table_size: 16384,
            udp_connection_table_size: 4096,
        },
        network_connections: NetworkConnections {
            maximum_dimensions: 50,
            resolve_hostnames: false,
            resolve_service_names: false,
            ports: None,
            ips: DEFAULT_IPS.to_owned(),
            hostnames: None,
        },
        service_names: BTreeMap::new(),
        statsd: StatsdSettings::default(),
        files: Vec::new(),
    }
}

/// A thread's settings before its own file: everything from `[global]`.
/// `lifetime` inherits too, although the original resets it to 300 per
/// thread; a global value that does nothing would only surprise.
fn inherit(global: &GlobalSettings, enabled: bool) -> ThreadSettings {
    ThreadSettings {
        enabled,
        mode: global.mode,
        update_every: global.update_every,
        apps: global.apps,
        cgroups: global.cgroups,
        pid_table_size: global.pid_table_size,
        type_format: global.type_format,
        core_tracing: global.core_tracing,
        collect_pid: CollectPid::RealParent,
        maps_per_core: global.maps_per_core,
        lifetime: global.lifetime,
    }
}

fn main_schema() -> Vec<(&'static str, Keys)> {
    vec![
        (GLOBAL, Keys::Listed(MAIN_GLOBAL_KEYS)),
        (PROGRAMS, Keys::Listed(&THREAD_KEYS)),
        (PROGRAMS, Keys::Listed(PROGRAM_EXTRA_KEYS)),
        (NETWORK_CONNECTIONS, Keys::Listed(NETWORK_CONNECTION_KEYS)),
        (SERVICE_NAME, Keys::Ports),
        (SUPERVISOR, Keys::Listed(SUPERVISOR_KEYS)),
        (statsd::SECTION, Keys::Listed(statsd::KEYS)),
    ]
}

const THREAD_KEYS: [&str; 16] = {
    let mut keys = [""; 16];
    let mut i = 0;
    while i < keys.len() {
        keys[i] = ThreadName::ALL[i].key();
        i += 1;
    }
    keys
};

fn thread_schema(thread: ThreadName) -> Vec<(&'static str, Keys)> {
    let mut schema = vec![(GLOBAL, Keys::Listed(THREAD_GLOBAL_KEYS))];
    match thread {
        ThreadName::Socket => schema.extend([
            (GLOBAL, Keys::Listed(NETWORK_TABLE_KEYS)),
            (NETWORK_CONNECTIONS, Keys::Listed(NETWORK_CONNECTION_KEYS)),
            (SERVICE_NAME, Keys::Ports),
        ]),
        ThreadName::Sync => schema.push((SYSCALLS, Keys::Listed(SYNC_KEYS))),
        ThreadName::Shm => schema.push((SYSCALLS, Keys::Listed(SHM_KEYS))),
        ThreadName::Filesystem => schema.push((FILESYSTEM, Keys::Listed(FILESYSTEM_KEYS))),
        _ => {}
    }
    schema
}

fn read_main_global(src: &mut Source, g: &mut GlobalSettings) {
    let mode = src.choice(GLOBAL, "ebpf load mode", g.mode);
    // The legacy `load` takes precedence when present.
    g.mode = src.choice(GLOBAL, "load", mode);
    let apps = src.boolean(GLOBAL, "apps", g.apps);
    // The legacy inverted key wins when it says yes.
    g.apps = apps && !src.boolean(GLOBAL, "disable apps", false);
    g.cgroups = src.boolean(GLOBAL, "cgroups", g.cgroups);
    g.update_every = src.number(GLOBAL, "update every", UPDATE_EVERY, g.update_every);
    g.pid_table_size = src.number(GLOBAL, "pid table size", PID_TABLE_SIZE, g.pid_table_size);
    if let Some(entry) = src.doc.get(GLOBAL, "btf path") {
        if entry.value.is_empty() {
            let (line, default) = (entry.line, g.btf_path.display().to_string());
            src.error(
                line,
                format!("[{GLOBAL}] `btf path` is empty; using the default {default}"),
            );
        } else {
            g.btf_path = PathBuf::from(&entry.value);
        }
    }
    g.type_format = src.choice(GLOBAL, "ebpf type format", g.type_format);
    g.core_tracing = src.choice(GLOBAL, "ebpf co-re tracing", g.core_tracing);
    g.maps_per_core = src.boolean(GLOBAL, "maps per core", g.maps_per_core);
    g.lifetime = src.number(GLOBAL, "lifetime", ANY_U32, g.lifetime);
}

fn read_programs(src: &mut Source, config: &mut Config) {
    for thread in ThreadName::ALL {
        // The original reads the legacy alias first and the key only when the alias is not yes.
        let alias = thread == ThreadName::Socket && src.boolean(PROGRAMS, "network viewer", false);
        let enabled = src.boolean(PROGRAMS, thread.key(), thread.default_enabled());
        config.thread_mut(thread).enabled = alias || enabled;
    }
    let legacy = src.boolean(PROGRAMS, "network connection monitoring", false);
    config.network_connections_enabled =
        legacy || src.boolean(PROGRAMS, "network connections", false);
    // As in the original: the connection charts live in the socket thread.
    if config.network_connections_enabled {
        config.thread_mut(ThreadName::Socket).enabled = true;
    }
}

fn read_supervisor(src: &mut Source, s: &mut SupervisorSettings) {
    const S: &str = SUPERVISOR;
    s.restart_delay_ms = src.number(S, "restart delay ms", RESTART_DELAY_MS, s.restart_delay_ms);
    let max = src.number(
        S,
        "restart delay max ms",
        RESTART_DELAY_MS,
        s.restart_delay_max_ms,
    );
    // A lone `restart delay ms` above the default cap raises the cap with it.
    if let Some(line) = src.doc.get(S, "restart delay max ms").map(|e| e.line) {
        if max < s.restart_delay_ms {
            src.error(
                line,
                format!(
                    "[{S}] `restart delay max ms` = `{max}` is below `restart delay ms` = `{}`; using {}",
                    s.restart_delay_ms, s.restart_delay_ms
                ),
            );
        }
    }
    s.restart_delay_max_ms = max.max(s.restart_delay_ms);
    s.crash_limit = src.number(S, "crash limit", ANY_U32, s.crash_limit);
    s.crash_window = src.number(S, "crash window", CRASH_WINDOW, s.crash_window);
    s.heartbeat_timeout_ms = src.number(
        S,
        "heartbeat timeout ms",
        HEARTBEAT_TIMEOUT_MS,
        s.heartbeat_timeout_ms,
    );
}

fn read_thread_global(src: &mut Source, t: &mut ThreadSettings) {
    t.mode = src.choice(GLOBAL, "ebpf load mode", t.mode);
    t.update_every = src.number(GLOBAL, "update every", UPDATE_EVERY, t.update_every);
    t.apps = src.boolean(GLOBAL, "apps", t.apps);
    t.cgroups = src.boolean(GLOBAL, "cgroups", t.cgroups);
    t.pid_table_size = src.number(GLOBAL, "pid table size", PID_TABLE_SIZE, t.pid_table_size);
    t.type_format = src.choice(GLOBAL, "ebpf type format", t.type_format);
    t.core_tracing = src.choice(GLOBAL, "ebpf co-re tracing", t.core_tracing);
    t.collect_pid = src.choice(GLOBAL, "collect pid", t.collect_pid);
    t.maps_per_core = src.boolean(GLOBAL, "maps per core", t.maps_per_core);
    t.lifetime = src.number(GLOBAL, "lifetime", ANY_U32, t.lifetime);
}

fn read_sync(src: &mut Source, s: &mut SyncSyscalls) {
    s.sync = src.boolean(SYSCALLS, "sync", s.sync);
    s.msync = src.boolean(SYSCALLS, "msync", s.msync);
    s.fsync = src.boolean(SYSCALLS, "fsync", s.fsync);
    s.fdatasync = src.boolean(SYSCALLS, "fdatasync", s.fdatasync);
    s.syncfs = src.boolean(SYSCALLS, "syncfs", s.syncfs);
    s.sync_file_range = src.boolean(SYSCALLS, "sync_file_range", s.sync_file_range);
}

fn read_shm(src: &mut Source, s: &mut ShmSyscalls) {
    s.shmget = src.boolean(SYSCALLS, "shmget", s.shmget);
    s.shmat = src.boolean(SYSCALLS, "shmat", s.shmat);
    s.shmdt = src.boolean(SYSCALLS, "shmdt", s.shmdt);
    s.shmctl = src.boolean(SYSCALLS, "shmctl", s.shmctl);
}

fn read_filesystems(src: &mut Source, f: &mut FilesystemSelection) {
    f.ext4dist = src.boolean(FILESYSTEM, "ext4dist", f.ext4dist);
    f.xfsdist = src.boolean(FILESYSTEM, "xfsdist", f.xfsdist);
    f.nfsdist = src.boolean(FILESYSTEM, "nfsdist", f.nfsdist);
    f.zfsdist = src.boolean(FILESYSTEM, "zfsdist", f.zfsdist);
    f.btrfsdist = src.boolean(FILESYSTEM, "btrfsdist", f.btrfsdist);
}

fn read_network_tables(src: &mut Source, n: &mut NetworkTables) {
    let mut size = |key: &str, default: u32| src.number(GLOBAL, key, POSITIVE_U32, default);
    n.bandwidth_table_size = size("bandwidth table size", n.bandwidth_table_size);
    n.ipv4_connection_table_size = size("ipv4 connection table size", n.ipv4_connection_table_size);
    n.ipv6_connection_table_size = size("ipv6 connection table size", n.ipv6_connection_table_size);
    n.udp_connection_table_size = size("udp connection table size", n.udp_connection_table_size);
}

fn read_network_connections(src: &mut Source, n: &mut NetworkConnections) {
    const S: &str = NETWORK_CONNECTIONS;
    n.maximum_dimensions = src.number(S, "maximum dimensions", POSITIVE_U32, n.maximum_dimensions);
    n.resolve_hostnames = src.boolean(S, "resolve hostnames", n.resolve_hostnames);
    n.resolve_service_names = src.boolean(S, "resolve service names", n.resolve_service_names);
    let text = |key| src.doc.get(S, key).map(|e| e.value.clone());
    if let Some(ports) = text("ports") {
        n.ports = Some(ports);
    }
    if let Some(ips) = text("ips") {
        n.ips = ips;
    }
    if let Some(hostnames) = text("hostnames") {
        n.hostnames = Some(hostnames);
    }
}

fn read_service_names(src: &mut Source, names: &mut BTreeMap<u16, String>) {
    let entries: Vec<_> = src.doc.entries(SERVICE_NAME).cloned().collect();
    for entry in entries {
        // The range check makes the narrowing lossless.
        let port = parse_number(&entry.key, (1, u32::from(u16::MAX))).map(|p| p as u16);
        match (port, entry.value.is_empty()) {
            (Ok(port), false) => {
                names.insert(port, entry.value);
            }
            (Err(reason), _) => src.error(
                entry.line,
                format!(
                    "[{SERVICE_NAME}] `{}` = `{}`: the key is {reason}; entry ignored",
                    entry.key, entry.value
                ),
            ),
            (Ok(_), true) => src.error(
                entry.line,
                format!(
                    "[{SERVICE_NAME}] `{}` has an empty name; entry ignored",
                    entry.key
                ),
            ),
        }
    }
}

/// One parsed file and the findings about it.
pub(crate) struct Source {
    path: PathBuf,
    doc: Document,
    diags: Vec<Diagnostic>,
}

fn read_source(
    dirs: &ConfigDirs,
    names: &[&str],
    config: &mut Config,
    diags: &mut Vec<Diagnostic>,
) -> Option<Source> {
    let (path, bytes) = dirs.read_first(names, diags)?;
    let (doc, found) = ini::parse(&path, &bytes);
    config.files.push(path.clone());
    Some(Source {
        path,
        doc,
        diags: found,
    })
}

impl Source {
    fn report(&mut self, severity: Severity, line: usize, message: String) {
        self.diags.push(Diagnostic {
            severity,
            file: self.path.clone(),
            line: Some(line),
            message: printable(message),
        });
    }

    fn error(&mut self, line: usize, message: String) {
        self.report(Severity::Error, line, message);
    }

    /// Warns about every section and key outside `schema`.
    fn check(&mut self, schema: &[(&str, Keys)]) {
        let mut found = Vec::new();
        for section in &self.doc.sections {
            let rows: Vec<&Keys> = schema
                .iter()
                .filter(|(name, _)| *name == section.name)
                .map(|(_, keys)| keys)
                .collect();
            if rows.is_empty() {
                found.push((
                    section.line,
                    format!("unknown section `[{}]` (ignored)", section.name),
                ));
                continue;
            }
            for entry in &section.entries {
                let known = rows.iter().any(|keys| match keys {
                    Keys::Listed(keys) => keys.contains(&entry.key.as_str()),
                    Keys::Ports => true,
                });
                if !known {
                    found.push((
                        entry.line,
                        format!("[{}] unknown key `{}` (ignored)", section.name, entry.key),
                    ));
                }
            }
        }
        for (line, message) in found {
            self.report(Severity::Warning, line, message);
        }
    }

    /// The value of `key`, or `default` when it is absent, `auto`, or bad (reported).
    pub(crate) fn value<T>(
        &mut self,
        section: &str,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<Option<T>, String>,
        show: impl Fn(&T) -> String,
    ) -> T {
        let Some(entry) = self.doc.get(section, key) else {
            return default;
        };
        match parse(&entry.value) {
            Ok(value) => value.unwrap_or(default),
            Err(reason) => {
                let message = format!(
                    "[{section}] `{key}` = `{}`: {reason}; using the default {}",
                    entry.value,
                    show(&default)
                );
                let line = entry.line;
                self.error(line, message);
                default
            }
        }
    }

    fn boolean(&mut self, section: &str, key: &str, default: bool) -> bool {
        self.value(section, key, default, parse_bool, |b| {
            if *b { "yes" } else { "no" }.to_owned()
        })
    }

    fn number(&mut self, section: &str, key: &str, range: (u32, u32), default: u32) -> u32 {
        self.value(
            section,
            key,
            default,
            |text| parse_number(text, range).map(Some),
            u32::to_string,
        )
    }

    fn choice<T: Choice>(&mut self, section: &str, key: &str, default: T) -> T {
        self.value(section, key, default, parse_choice, |v| v.word().to_owned())
    }

    /// The findings in line order, file-wide ones first.
    fn finish(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by_key(|d| d.line);
        self.diags
    }
}

/// `Ok(None)` is `auto`: the default applies.
fn parse_bool(text: &str) -> Result<Option<bool>, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(Some(true)),
        "no" | "false" | "off" | "0" => Ok(Some(false)),
        "auto" => Ok(None),
        _ => Err("not a boolean (yes/no/true/false/on/off/1/0/auto)".to_owned()),
    }
}

fn parse_number(text: &str, (min, max): (u32, u32)) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if min > 0 {
            "not a positive integer"
        } else {
            "not a non-negative integer"
        }
        .to_owned());
    }
    // Only digits: parsing fails only on overflow, which is out of range too.
    match text.parse::<u64>() {
        Ok(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(format!("out of range {min}..={max}")),
    }
}

/// A setting with a fixed set of words, matched case-insensitively.
trait Choice: Copy + PartialEq + 'static {
    /// The first word for each value is the one shown in messages.
    const WORDS: &'static [(&'static str, Self)];

    fn word(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(word, _)| word)
    }
}

fn parse_choice<T: Choice>(text: &str) -> Result<Option<T>, String> {
    T::WORDS
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(text))
        .map(|(_, v)| Some(*v))
        .ok_or_else(|| {
            let words: Vec<&str> = T::WORDS.iter().map(|(word, _)| *word).collect();
            format!("not one of {}", words.join(", "))
        })
}

impl Choice for LoadMode {
    // `dev` is the original's developer mode; for charts it behaves as `return`.
    const WORDS: &'static [(&'static str, Self)] = &[
        ("entry", LoadMode::Entry),
        ("return", LoadMode::Return),
        ("dev", LoadMode::Return),
    ];
}

impl Choice for TypeFormat {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("auto", TypeFormat::Auto),
        ("legacy", TypeFormat::Legacy),
        ("co-re", TypeFormat::CoRe),
    ];
}

impl Choice for CoreTracing {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("trampoline", CoreTracing::Trampoline),
        ("probe", CoreTracing::Probe),
        ("tracepoint", CoreTracing::Tracepoint),
    ];
}

impl Choice for CollectPid {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("real parent", CollectPid::RealParent),
        ("parent", CollectPid::Parent),
        ("all", CollectPid::All),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for yes in ["yes", "YES", "true", "On", "1"] {
            assert_eq!(parse_bool(yes), Ok(Some(true)), "{yes}");
        }
        for no in ["no", "False", "off", "0"] {
            assert_eq!(parse_bool(no), Ok(Some(false)), "{no}");
        }
        assert_eq!(parse_bool("Auto"), Ok(None));
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("05", UPDATE_EVERY), Ok(5));
        assert_eq!(parse_number("3600", UPDATE_EVERY), Ok(3600));
        assert_eq!(
            parse_number("3601", UPDATE_EVERY),
            Err("out of range 1..=3600".to_owned())
        );
        assert_eq!(
            parse_number("0", UPDATE_EVERY),
            Err("out of range 1..=3600".to_owned())
        );
        assert_eq!(parse_number("0", ANY_U32), Ok(0));
        assert!(parse_number("99999999999999999999999", ANY_U32).is_err());
        for bad in ["", "-1", "+1", "1.5", "5s", "0x10"] {
            assert_eq!(
                parse_number(bad, UPDATE_EVERY),
                Err("not a positive integer".to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn choices_are_case_insensitive() {
        assert_eq!(parse_choice("CO-RE"), Ok(Some(TypeFormat::CoRe)));
        assert_eq!(parse_choice("Return"), Ok(Some(LoadMode::Return)));
        assert_eq!(parse_choice("dev"), Ok(Some(LoadMode::Return)));
        assert_eq!(
            parse_choice("Real Parent"),
            Ok(Some(CollectPid::RealParent))
        );
        assert_eq!(
            parse_choice("tracepoint"),
            Ok(Some(CoreTracing::Tracepoint))
        );
        assert_eq!(
            parse_choice::<LoadMode>("exit"),
            Err("not one of entry, return, dev".to_owned())
        );
        assert_eq!(LoadMode::Return.word(), "return");
        assert_eq!(CollectPid::RealParent.word(), "real parent");
    }

    #[test]
    fn thread_keys_table_matches_thread_names() {
        let keys: Vec<&str> = ThreadName::ALL.iter().map(|t| t.key()).collect();
        assert_eq!(keys, THREAD_KEYS);
    }
}
