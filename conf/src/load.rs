//! From files to [`Config`]: which keys exist where, how values are read,
//! and which value wins.

use std::cell::LazyCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::apps_groups::AppsGroups;
use crate::ini::{self, printable, Document};
use crate::network::{Finding, Hostnames, Ips, Ports, Services};
use crate::statsd;
use crate::{
    CgroupSettings, Config, ConfigDirs, CoreTracing, Diagnostic, GlobalSettings, KernelCost,
    LoadMode, OwnKey, OwnKeys, OwnKind, OwnValue, Severity, StatsdSettings, SupervisorSettings,
    ThreadName, ThreadSettings, TypeFormat,
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
/// `heartbeat timeout ms`: workers beat four times in it
/// (`ipc::heartbeat_period`), at least every 50 ms at the bottom of the
/// range.
const HEARTBEAT_TIMEOUT_MS: (u32, u32) = (200, 600_000);
const POSITIVE_U32: (u32, u32) = (1, u32::MAX);

const GLOBAL: &str = "global";
const PROGRAMS: &str = "ebpf programs";
/// Our extensions of `ebpf.d.conf`.
const SUPERVISOR: &str = "supervisor";
const CGROUPS: &str = "cgroups";

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
const SUPERVISOR_KEYS: &[&str] = &[
    "restart delay ms",
    "restart delay max ms",
    "crash limit",
    "crash window",
    "heartbeat timeout ms",
    "kernel cost",
];
const CGROUP_KEYS: &[&str] = &[
    "use unified cgroups",
    "check for new cgroups every",
    "max cgroups to allow",
    "enable by default cgroups matching",
    "search for cgroups in subpaths matching",
    "cgroups to match as systemd services",
];
/// `check for new cgroups every`: up to an hour.
const CHECK_EVERY: (u32, u32) = (1, 3600);

/// Netdata's defaults for the `[plugin:cgroups]` patterns (v1.37–v1.42).
const CGROUPS_ENABLED: &str = "!*/init.scope !/system.slice/run-*.scope *.scope \
/machine.slice/*.service /kubepods/pod*/* /kubepods/*/pod*/* !/kubepods* !*/vcpu* !*/emulator \
!*.mount !*.partition !*.service !*.socket !*.slice !*.swap !*.user !/ !/docker !*/libvirt !/lxc \
!/lxc/*/* !/lxc.monitor* !/lxc.pivot !/lxc.payload !/machine !/qemu !/system !/systemd !/user *";
const CGROUPS_SEARCH: &str = "!*/init.scope !*-qemu !*.libvirt-qemu !/init.scope !/system \
!/systemd !/user !/user.slice !/lxc/*/* !/lxc.monitor !/lxc.payload/*/* !/lxc.payload.* *";
const CGROUPS_SERVICES: &str = "!/system.slice/*/*.service /system.slice/*.service";

/// Which keys a section may hold.
enum Keys {
    Listed(Vec<&'static str>),
    /// Any: a section of [`OwnKind::PortNames`], whose keys are port
    /// numbers, checked while reading.
    Any,
}

/// Keys read for compatibility that change nothing here: (key, its value
/// that matches what we do, why it has no effect).
const NO_EFFECT: [(&str, &str, &str); 3] = [
    (
        "collect pid",
        "real parent",
        "per-process values are kept per process (TGID) and grouped by the supervisor",
    ),
    (
        "maps per core",
        "no",
        "each per-process table is one table for all CPUs, which costs no memory per CPU",
    ),
    (
        "lifetime",
        "300",
        "threads run until the collector stops (the original's lifetime is for threads a Netdata Function starts)",
    ),
];

/// Reads `ebpf.d.conf` (or its pre-v1.31 name `ebpf.conf`) and every
/// `ebpf.d/<thread file>`, each thread's own keys as `own` declares them.
///
/// `default_update_every` is `[global]` `update every` when no file sets it
/// (the plugin's `UPDATE_EVERY` argument, or 1). Never panics, never fails:
/// every problem becomes a [`Diagnostic`] and the default is used. A file
/// that is present but unreadable is reported and the next directory is
/// tried, as the original does.
pub fn load(
    dirs: &ConfigDirs,
    default_update_every: u32,
    own: OwnKeys,
) -> (Config, Vec<Diagnostic>) {
    let mut config = built_in(default_update_every);
    let mut diags = Vec::new();
    // Read only when some file gives a `ports`.
    let services = LazyCell::new(|| Services::read(&dirs.services));

    let mut main = read_source(dirs, &["ebpf.d.conf", "ebpf.conf"], &mut config, &mut diags);
    // Its findings go here, although its network sections are read last.
    let main_slot = diags.len();
    if let Some(src) = &mut main {
        src.check(&main_schema(own));
        read_main_global(src, &mut config.global);
        read_programs(src, &mut config);
        read_supervisor(src, &mut config.supervisor);
        statsd::read(src, &mut config.statsd);
        read_cgroups(src, &mut config.cgroups);
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
        src.check(&thread_schema(own(thread)));
        let keys = own(thread).unwrap_or_default();
        let settings = config.thread_mut(thread);
        read_thread_global(&mut src, settings);
        // Read from the thread's file, where the stock files put them,
        // unlike v1.38+ which ignores network.conf's (spec B-16).
        read_own(&mut src, keys.iter(), settings, &services);
        diags.extend(src.finish());
    }

    if let Some(mut src) = main {
        // Last, so that ebpf.d.conf wins over a thread's file key by key.
        for thread in ThreadName::ALL {
            let keys = own(thread).unwrap_or_default().iter();
            read_own(
                &mut src,
                keys.filter(|k| k.also_in_main),
                config.thread_mut(thread),
                &services,
            );
        }
        diags.splice(main_slot..main_slot, src.finish());
    }

    if let Some((path, bytes)) = dirs.read_first(&["apps_groups.conf"], &mut diags) {
        let (groups, found) = AppsGroups::parse(&path, &bytes);
        config.files.push(path);
        config.apps_groups = groups;
        diags.extend(found);
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
            heartbeat_timeout_ms: 4000,
            kernel_cost: KernelCost::Sampled,
        },
        threads,
        network_connections_enabled: false,
        statsd: StatsdSettings::default(),
        cgroups: CgroupSettings {
            use_unified: None,
            check_every: 10,
            max_cgroups: 1000,
            enabled: CGROUPS_ENABLED.to_owned(),
            search: CGROUPS_SEARCH.to_owned(),
            services: CGROUPS_SERVICES.to_owned(),
        },
        apps_groups: AppsGroups::default(),
        files: Vec::new(),
    }
}

/// A thread's settings before its own file: everything from `[global]`.
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
        own: BTreeMap::new(),
    }
}

fn main_schema(own: OwnKeys) -> Vec<(&'static str, Keys)> {
    let mut schema = vec![
        (GLOBAL, Keys::Listed(MAIN_GLOBAL_KEYS.to_vec())),
        (PROGRAMS, Keys::Listed(THREAD_KEYS.to_vec())),
        (PROGRAMS, Keys::Listed(PROGRAM_EXTRA_KEYS.to_vec())),
        (SUPERVISOR, Keys::Listed(SUPERVISOR_KEYS.to_vec())),
        (statsd::SECTION, Keys::Listed(statsd::KEYS.to_vec())),
        (CGROUPS, Keys::Listed(CGROUP_KEYS.to_vec())),
    ];
    for thread in ThreadName::ALL {
        let keys = own(thread).unwrap_or_default();
        own_schema(keys.iter().filter(|k| k.also_in_main), &mut schema);
    }
    schema
}

/// The sections and keys of `keys`.
fn own_schema<'a>(keys: impl Iterator<Item = &'a OwnKey>, schema: &mut Vec<(&'static str, Keys)>) {
    for key in keys {
        match key.kind {
            OwnKind::PortNames => schema.push((key.section, Keys::Any)),
            _ => schema.push((key.section, Keys::Listed(vec![key.key]))),
        }
    }
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

/// Stands for every section the schema does not name.
const OTHER_SECTIONS: &str = "*";

/// A thread file's keys: `[global]`, and the thread's own ones. Of a
/// thread not implemented (`None`: no own keys known) only the `[global]`
/// keys every thread has are read, and nothing else is looked at: its own
/// keys may be anywhere (network.conf has some in `[global]`).
fn thread_schema(own: Option<&[OwnKey]>) -> Vec<(&'static str, Keys)> {
    let mut schema = vec![(GLOBAL, Keys::Listed(THREAD_GLOBAL_KEYS.to_vec()))];
    match own {
        Some(keys) => own_schema(keys.iter(), &mut schema),
        None => schema.extend([(GLOBAL, Keys::Any), (OTHER_SECTIONS, Keys::Any)]),
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
    src.no_effect();
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
    s.kernel_cost = src.choice(S, "kernel cost", s.kernel_cost);
}

fn read_cgroups(src: &mut Source, c: &mut CgroupSettings) {
    const S: &str = CGROUPS;
    // `auto` (the default) leaves the choice to the layout found at run time.
    c.use_unified = src.value(
        S,
        "use unified cgroups",
        c.use_unified,
        |text| parse_bool(text).map(|b| b.map(Some)),
        |_| "auto".to_owned(),
    );
    c.check_every = src.number(S, "check for new cgroups every", CHECK_EVERY, c.check_every);
    c.max_cgroups = src.number(S, "max cgroups to allow", POSITIVE_U32, c.max_cgroups);
    for (key, value) in [
        ("enable by default cgroups matching", &mut c.enabled),
        ("search for cgroups in subpaths matching", &mut c.search),
        ("cgroups to match as systemd services", &mut c.services),
    ] {
        if let Some(entry) = src.doc.get(S, key) {
            *value = entry.value.clone();
        }
    }
}

fn read_thread_global(src: &mut Source, t: &mut ThreadSettings) {
    t.mode = src.choice(GLOBAL, "ebpf load mode", t.mode);
    t.update_every = src.number(GLOBAL, "update every", UPDATE_EVERY, t.update_every);
    t.apps = src.boolean(GLOBAL, "apps", t.apps);
    t.cgroups = src.boolean(GLOBAL, "cgroups", t.cgroups);
    t.pid_table_size = src.number(GLOBAL, "pid table size", PID_TABLE_SIZE, t.pid_table_size);
    t.type_format = src.choice(GLOBAL, "ebpf type format", t.type_format);
    t.core_tracing = src.choice(GLOBAL, "ebpf co-re tracing", t.core_tracing);
    src.no_effect();
}

/// The values `keys` have in this file, into the thread's settings.
fn read_own<'a>(
    src: &mut Source,
    keys: impl Iterator<Item = &'a OwnKey>,
    t: &mut ThreadSettings,
    services: &LazyCell<Services, impl FnOnce() -> Services>,
) {
    for key in keys {
        let at = (key.section.to_owned(), key.key.to_owned());
        let default = t.own(key);
        let value = match (key.kind, default) {
            (OwnKind::PortNames, OwnValue::PortNames(mut names)) => {
                read_port_names(src, key.section, &mut names);
                Some(OwnValue::PortNames(names))
            }
            (OwnKind::Switch { .. } | OwnKind::Bool { .. }, OwnValue::Bool(default)) => src
                .doc
                .get(key.section, key.key)
                .is_some()
                .then(|| OwnValue::Bool(src.boolean(key.section, key.key, default))),
            (OwnKind::Number { min, max, .. }, OwnValue::Number(default)) => {
                src.doc.get(key.section, key.key).is_some().then(|| {
                    OwnValue::Number(src.number(key.section, key.key, (min, max), default))
                })
            }
            (OwnKind::Ports, _) => src
                .list(key, |text| Ports::parse(text, services))
                .map(OwnValue::Ports),
            (OwnKind::Ips { .. }, _) => src.list(key, Ips::parse).map(OwnValue::Ips),
            (OwnKind::Hostnames, _) => src.list(key, Hostnames::parse).map(OwnValue::Hostnames),
            (kind, value) => unreachable!("{kind:?} with a value {value:?}"),
        };
        if let Some(value) = value {
            t.own.insert(at, value);
        }
    }
}

/// `port = name` lines of `section`.
fn read_port_names(src: &mut Source, section: &str, names: &mut BTreeMap<u16, String>) {
    let entries: Vec<_> = src.doc.entries(section).cloned().collect();
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
                    "[{section}] `{}` = `{}`: the key is {reason}; entry ignored",
                    entry.key, entry.value
                ),
            ),
            (Ok(_), true) => src.error(
                entry.line,
                format!(
                    "[{section}] `{}` has an empty name; entry ignored",
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
            let rows_of = |name: &str| -> Vec<&Keys> {
                schema
                    .iter()
                    .filter(|(section, _)| *section == name)
                    .map(|(_, keys)| keys)
                    .collect()
            };
            let mut rows = rows_of(&section.name);
            if rows.is_empty() {
                rows = rows_of(OTHER_SECTIONS);
            }
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
                    Keys::Any => true,
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

    /// The list `key` holds in this file, if any, with a finding per item
    /// that was bad or changed.
    fn list<T>(
        &mut self,
        key: &OwnKey,
        parse: impl FnOnce(&str) -> (T, Vec<Finding>),
    ) -> Option<T> {
        let entry = self.doc.get(key.section, key.key)?;
        let line = entry.line;
        let (value, found) = parse(&entry.value);
        for finding in found {
            if let Some(severity) = finding.severity() {
                let message = format!("[{}] `{}`: {finding}", key.section, key.key);
                self.report(severity, line, message);
            }
        }
        Some(value)
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

    /// Warns about each key of [`NO_EFFECT`] in `[global]` whose value is
    /// not what we do anyway.
    fn no_effect(&mut self) {
        for (key, ours, why) in NO_EFFECT {
            let Some(entry) = self.doc.get(GLOBAL, key) else {
                continue;
            };
            if !entry.value.eq_ignore_ascii_case(ours) {
                let (line, value) = (entry.line, entry.value.clone());
                self.report(
                    Severity::Warning,
                    line,
                    format!("[{GLOBAL}] `{key}` = `{value}` has no effect: {why}"),
                );
            }
        }
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

impl Choice for KernelCost {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("sampled", KernelCost::Sampled),
        ("continuous", KernelCost::Continuous),
        ("no", KernelCost::Off),
        ("off", KernelCost::Off),
    ];
}

impl Choice for CoreTracing {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("trampoline", CoreTracing::Trampoline),
        ("probe", CoreTracing::Probe),
        ("tracepoint", CoreTracing::Tracepoint),
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
            parse_choice("tracepoint"),
            Ok(Some(CoreTracing::Tracepoint))
        );
        assert_eq!(
            parse_choice::<LoadMode>("exit"),
            Err("not one of entry, return, dev".to_owned())
        );
        assert_eq!(LoadMode::Return.word(), "return");
    }

    #[test]
    fn thread_keys_table_matches_thread_names() {
        let keys: Vec<&str> = ThreadName::ALL.iter().map(|t| t.key()).collect();
        assert_eq!(keys, THREAD_KEYS);
    }
}
