//! `ebpf-collector check`: the original's troubleshooting section as one
//! command. It reports what the collector depends on (kernel, BTF, tracefs,
//! lockdown, SELinux, memory accounting, privileges), tries each kind of
//! hook with an empty program, then attaches every variant of every enabled
//! thread exactly as a worker would (`loader::attach`) and detaches it at
//! once. Like `nginx -t`, it also validates the configuration: every error
//! and warning in the files with its file and line, and every apps group
//! whose name Netdata gets changed. Exit status 0 when every enabled
//! thread can run and no file has an error; otherwise the report ends with
//! what to do.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aya::sys::{enable_stats, Stats};
use aya::Btf;
use conf::{Config, Diagnostic, Severity, ThreadName};
use workers::features::{self, Feature, MemoryCharge};
use workers::loader::{self, Collector};
use workers::privileges::{self, CapSet};
use workers::thread::{candidates, Thread, Variant, VariantKind, WorkerConfig};

use crate::output::names;
use crate::system;

const LOCKDOWN: &str = "/sys/kernel/security/lockdown";
const SELINUX_ENFORCE: &str = "/sys/fs/selinux/enforce";
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// One line of the report. A closed stdout (`check | head`) ends the
/// check: nobody reads the rest.
fn say(text: impl Display) {
    if let Err(e) = writeln!(std::io::stdout(), "{text}") {
        eprintln!("ebpf-collector check: writing the report: {e}");
        std::process::exit(1);
    }
}

/// One `label  value` line of the report.
fn line(label: &str, value: impl Display) {
    say(format_args!("{label:<16} {value}"));
}

/// What the report found that stops a thread, and what to do about it.
#[derive(Default)]
struct Findings {
    todo: Vec<String>,
    /// Likely causes, said when a thread cannot run with a variant of one
    /// of these kinds (any kind when empty).
    causes: Vec<(&'static [VariantKind], String)>,
}

impl Findings {
    fn cause(&mut self, kinds: &'static [VariantKind], text: impl Into<String>) {
        self.causes.push((kinds, text.into()));
    }
}

pub fn run(config: &Config, diagnostics: &[Diagnostic], pid_filter: Option<u32>) -> ExitCode {
    let mut findings = Findings::default();
    kernel();
    let config_errors = configuration(config, diagnostics);
    privileges(&mut findings);
    let btf = btf(config, &mut findings);
    filesystems(&mut findings);
    // Turning BPF statistics on needs CAP_SYS_ADMIN, which goes next.
    let stats = enable_stats(Stats::RunTime);
    // From here on, what `run` keeps for its workers: no more.
    if let Err(e) = privileges::keep_only(privileges::attach_set(), false) {
        line(
            "",
            format!("cannot drop to the capabilities workers get: {e}"),
        );
    }
    lockdown(&mut findings);
    selinux(&mut findings);
    if let Some(btf) = &btf {
        memory(btf, &mut findings);
        for feature in Feature::ALL {
            hook_kind(feature, btf, &mut findings);
        }
    }
    say("");
    let (mut can_run, mut cannot_run, mut blocked) = (Vec::new(), Vec::new(), Vec::new());
    let mut attached = Vec::new();
    for (&name, settings) in &config.threads {
        if !settings.enabled {
            continue;
        }
        let Some(thread) = workers::registry::find(name) else {
            say(format_args!(
                "thread {name}: enabled, but not implemented yet (`run` skips it)"
            ));
            continue;
        };
        let cfg = WorkerConfig {
            thread: name,
            config: config.clone(),
            pid_filter,
            supervisor: std::process::id(),
        };
        match check_thread(thread, &cfg, btf.as_ref(), &mut findings) {
            Ok(collector) => {
                can_run.push(name);
                attached.push((name, collector));
            }
            Err(allowed) => {
                cannot_run.push(name);
                blocked.extend(allowed);
            }
        }
    }
    say("");
    kernel_cost(stats, &attached);
    summary(&can_run, &cannot_run, &blocked, config_errors, findings)
}

/// What each runnable thread's programs cost the kernel over one second
/// with statistics on, as `run` charts it (`netdata.ebpf_kernel_cost`).
fn kernel_cost(
    stats: Result<std::os::fd::OwnedFd, aya::sys::SyscallError>,
    attached: &[(ThreadName, Collector)],
) {
    let _stats = match stats {
        Ok(stats) => stats,
        Err(e) => {
            line(
                "kernel cost",
                format!(
                    "not measurable: BPF_ENABLE_STATS: {} (needs CAP_SYS_ADMIN)",
                    e.io_error
                ),
            );
            return;
        }
    };
    if attached.is_empty() {
        return;
    }
    let read = || -> Vec<Option<(u64, u64)>> {
        attached
            .iter()
            .map(|(_, collector)| collector.kernel_cost().ok())
            .collect()
    };
    let before = read();
    std::thread::sleep(Duration::from_secs(1));
    let after = read();
    line(
        "kernel cost",
        "over one second, every runnable thread attached at once:",
    );
    for ((name, _), (before, after)) in attached.iter().zip(before.into_iter().zip(after)) {
        let text = match (before, after) {
            (Some((runs0, ns0)), Some((runs1, ns1))) => {
                let (runs, ns) = (runs1.saturating_sub(runs0), ns1.saturating_sub(ns0));
                let per_run = ns.checked_div(runs).unwrap_or(0);
                format!("{runs} runs, {ns} ns ({per_run} ns per run)")
            }
            _ => "cannot read its programs' statistics".to_string(),
        };
        say(format_args!("    {:<12} {text}", name.to_string()));
    }
    say("");
}

fn kernel() {
    match nix::sys::utsname::uname() {
        Ok(uts) => line(
            "kernel",
            format!(
                "{} {} ({})",
                uts.release().to_string_lossy(),
                uts.machine().to_string_lossy(),
                uts.version().to_string_lossy()
            ),
        ),
        Err(e) => line("kernel", format!("unknown: uname: {e}")),
    }
}

/// The files read, every finding in them, and the apps groups whose name
/// Netdata gets changed; returns how many errors.
fn configuration(config: &Config, diagnostics: &[Diagnostic]) -> usize {
    let count = |severity| {
        diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let found = match (errors, warnings) {
        (0, 0) => String::new(),
        _ => format!(
            " ({} error{}, {} warning{})",
            errors,
            if errors == 1 { "" } else { "s" },
            warnings,
            if warnings == 1 { "" } else { "s" }
        ),
    };
    if config.files.is_empty() {
        line(
            "configuration",
            format!("no file found: the original's defaults{found}"),
        );
    } else {
        let files: Vec<String> = config
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        line("configuration", format!("{}{found}", files.join(", ")));
    }
    for diagnostic in diagnostics {
        line("", diagnostic);
    }
    // In file order, as the apps charts list them when every group has
    // processes from the start.
    let groups = &config.apps_groups.groups;
    let ids = names::ids_in_order(groups.iter().map(|g| g.name.as_str()));
    for (group, id) in groups.iter().zip(&ids) {
        if *id == group.name {
            continue;
        }
        let why = if *id == names::id(&group.name) {
            String::new()
        } else {
            format!(" (`{}` is another group's)", names::id(&group.name))
        };
        line(
            "",
            format!(
                "apps group `{}` is sent to Netdata as `{id}`{why}",
                printable(&group.name)
            ),
        );
    }
    errors
}

/// `text` with control characters escaped, for a terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn privileges(findings: &mut Findings) {
    // What attaching uses, and CAP_SYS_ADMIN, which stands in for most of it.
    let relevant = CapSet(privileges::attach_set().0 | CapSet::of(&[privileges::CAP_SYS_ADMIN]).0);
    let held = match privileges::current() {
        Ok((effective, _, _)) => effective.intersect(relevant).to_string(),
        Err(e) => format!("capabilities unknown ({e})"),
    };
    let uid = nix::unistd::geteuid();
    match system::missing_privileges() {
        None => line("privileges", format!("ok: uid {uid}, {held}")),
        Some(missing) => {
            line("privileges", format!("missing: uid {uid}, {held}"));
            findings.todo.push(format!(
                "{missing}: run as root (as Netdata does with a setuid-root plugin, see the README)"
            ));
        }
    }
}

/// The BTF every variant needs for CO-RE, from `btf path`.
fn btf(config: &Config, findings: &mut Findings) -> Option<Btf> {
    let cfg = WorkerConfig {
        thread: ThreadName::Process,
        config: config.clone(),
        pid_filter: None,
        supervisor: 0,
    };
    let path = cfg.btf_path();
    let setting = format!("`btf path` = {}", config.global.btf_path.display());
    match loader::kernel_btf(&cfg) {
        Ok(btf) => {
            line("btf", format!("ok: {} ({setting})", path.display()));
            if !Path::new(KERNEL_BTF).exists() {
                line(
                    "",
                    format!("the kernel has no {KERNEL_BTF}: BTF tracepoints and trampolines cannot attach"),
                );
            }
            Some(btf)
        }
        Err(e) => {
            line("btf", format!("no: {e} ({setting})"));
            findings.todo.push(format!(
                "the programs need the kernel's BTF: a kernel built with CONFIG_DEBUG_INFO_BTF=y \
                 (it provides {KERNEL_BTF}), or `btf path` in ebpf.d.conf [global] set to a \
                 directory holding a `vmlinux` BTF file made for this kernel (e.g. from BTFHub)"
            ));
            None
        }
    }
}

/// Mount points of a filesystem type, from `/proc/self/mountinfo`.
fn mounts_of(fstype: &str) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (fields, rest) = l.split_once(" - ")?;
            let point = fields.split_whitespace().nth(4)?;
            (rest.split_whitespace().next()? == fstype)
                .then(|| PathBuf::from(point.replace("\\040", " ")))
        })
        .collect()
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tracepoint programs need tracefs; `run` mounts it when missing, and so
/// does `check`, to test what `run` would.
fn filesystems(findings: &mut Findings) {
    let before = mounts_of("tracefs");
    match system::ensure_tracefs() {
        Ok(false) if before.is_empty() => line("tracefs", "ok: through debugfs"),
        Ok(false) => line("tracefs", format!("ok: {}", list(&before))),
        Ok(true) => line(
            "tracefs",
            "was not mounted: mounted it at /sys/kernel/tracing, as `run` does",
        ),
        Err(e) => {
            line("tracefs", format!("no: {e}"));
            findings.cause(
                &[VariantKind::Tracepoint],
                "tracepoints need tracefs: mount -t tracefs tracefs /sys/kernel/tracing",
            );
        }
    }
    let debugfs = mounts_of("debugfs");
    if debugfs.is_empty() {
        line("debugfs", "not mounted (not needed)");
    } else {
        line("debugfs", format!("mounted: {}", list(&debugfs)));
    }
}

fn lockdown(findings: &mut Findings) {
    let Ok(modes) = std::fs::read_to_string(LOCKDOWN) else {
        let hint = std::fs::read_to_string("/proc/cmdline")
            .ok()
            .and_then(|cmdline| {
                cmdline
                    .split_whitespace()
                    .find(|arg| arg.starts_with("lockdown="))
                    .map(|arg| format!("; the kernel command line says {arg}"))
            })
            .unwrap_or_default();
        let why = if mounts_of("securityfs").is_empty() {
            format!(
                "securityfs is not mounted (mount -t securityfs securityfs /sys/kernel/security){hint}"
            )
        } else {
            format!("no {LOCKDOWN}: the kernel has no lockdown support{hint}")
        };
        line("lockdown", format!("unknown: {why}"));
        return;
    };
    let current = modes
        .split_whitespace()
        .find_map(|m| m.strip_prefix('[')?.strip_suffix(']'))
        .unwrap_or("unknown");
    line("lockdown", current);
    match current {
        "none" => {}
        "confidentiality" => findings.cause(
            &[],
            "kernel lockdown `confidentiality` forbids BPF programs to read kernel memory: \
             boot with lockdown=integrity or lockdown=none",
        ),
        other => findings.cause(
            &[VariantKind::Trampoline, VariantKind::Probe],
            format!("kernel lockdown `{other}` can make the kernel refuse trampolines and kprobes"),
        ),
    }
}

fn selinux(findings: &mut Findings) {
    match std::fs::read_to_string(SELINUX_ENFORCE).map(|s| s.trim().to_string()) {
        Err(_) => line("selinux", "not enabled"),
        Ok(mode) if mode == "1" => {
            line("selinux", "enforcing");
            findings.cause(
                &[],
                "SELinux is enforcing: a policy must allow `bpf { map_create map_read map_write \
                 prog_load prog_run }` (README, SELinux)",
            );
        }
        Ok(_) => line("selinux", "permissive"),
    }
}

/// Where map memory is charged, then RLIMIT_MEMLOCK raised as a worker
/// raises it before attaching.
fn memory(btf: &Btf, findings: &mut Findings) {
    let charge = features::memory_charge(btf);
    let raised = workers::runtime::raise_memlock();
    match (charge, raised) {
        (Ok(MemoryCharge::Cgroup), _) => line(
            "memory",
            "ok: BPF memory is charged to the memory cgroup (a map loaded under RLIMIT_MEMLOCK = 0)",
        ),
        (Ok(MemoryCharge::Memlock), Ok(())) => line(
            "memory",
            "ok: BPF memory is charged to RLIMIT_MEMLOCK (kernel before 5.11); raised it to \
             unlimited, as workers do",
        ),
        (Ok(MemoryCharge::Memlock), Err(e)) => {
            line(
                "memory",
                format!("BPF memory is charged to RLIMIT_MEMLOCK (kernel before 5.11), which cannot be raised: {e}"),
            );
            findings.cause(
                &[],
                "RLIMIT_MEMLOCK is too low for the maps: give the collector CAP_SYS_RESOURCE, \
                 or raise the limit (LimitMEMLOCK=infinity in a systemd unit)",
            );
        }
        (Err(e), _) => line("memory", format!("unknown: {e}")),
    }
}

/// Attaches an empty program of one kind of hook and detaches it.
fn hook_kind(feature: Feature, btf: &Btf, findings: &mut Findings) {
    let label = feature.label();
    match feature.try_attach(btf) {
        Ok(()) => line(label, format!("ok: attached to {}", feature.target())),
        Err(e) => {
            line(label, format!("no: {e}"));
            let (kinds, cause): (&'static [VariantKind], String) = match feature {
                Feature::KProbe if !Path::new(KPROBE_PMU).exists() => (
                    &[VariantKind::Probe],
                    "the kernel has no kprobes (CONFIG_KPROBES): the probe variants cannot run"
                        .into(),
                ),
                Feature::KProbe => (&[VariantKind::Probe], format!("{label}: {e}")),
                Feature::BtfTracepoint | Feature::Trampoline if !Path::new(KERNEL_BTF).exists() => (
                    &[VariantKind::Tracepoint, VariantKind::Trampoline],
                    format!("{label} need the kernel's own BTF ({KERNEL_BTF})"),
                ),
                Feature::Trampoline => (
                    &[VariantKind::Trampoline],
                    "the kernel refuses fentry/fexit trampolines (lockdown, a security module, or \
                     no CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS): the trampoline variants cannot run"
                        .into(),
                ),
                Feature::Tracepoint | Feature::BtfTracepoint => {
                    (&[VariantKind::Tracepoint], format!("{label}: {e}"))
                }
            };
            findings.cause(kinds, cause);
        }
    }
}

/// Tries every variant of `thread`: the allowed one it would use, still
/// attached, else the kinds of the allowed ones.
fn check_thread(
    thread: &Thread,
    cfg: &WorkerConfig,
    btf: Option<&Btf>,
    findings: &mut Findings,
) -> Result<Collector, Vec<VariantKind>> {
    let name = thread.name;
    let (allowed, note) = candidates(thread, cfg.settings());
    let is_allowed = |index: usize| allowed.iter().any(|(i, _)| *i as usize == index);
    // Only the variant used stays attached.
    let mut kept: Option<Collector> = None;
    let results: Vec<(usize, &Variant, Result<(), String>)> = thread
        .variants
        .iter()
        .enumerate()
        .map(|(index, variant)| {
            let result = match btf {
                Some(btf) => loader::attach(thread, variant, cfg, btf)
                    .map(|collector| {
                        if kept.is_none() && is_allowed(index) {
                            kept = Some(collector);
                        }
                    })
                    .map_err(|e| e.to_string()),
                None => Err("not tried: no BTF".to_string()),
            };
            (index, variant, result)
        })
        .collect();
    let used = results
        .iter()
        .find(|(index, _, result)| is_allowed(*index) && result.is_ok());
    match used {
        Some((_, variant, _)) => say(format_args!(
            "thread {name}: uses {}",
            variant.kind.as_str()
        )),
        None => say(format_args!("thread {name}: cannot run")),
    }
    if let Some(note) = note {
        say(format_args!("    note: {note}"));
    }
    for (index, variant, result) in &results {
        let verdict = match result {
            Err(e) => format!("no: {e}"),
            Ok(()) if !is_allowed(*index) => {
                "ok, but the configuration does not allow it".to_string()
            }
            Ok(()) if used.is_some_and(|(used, _, _)| used == index) => "ok (used)".to_string(),
            Ok(()) => "ok".to_string(),
        };
        say(format_args!("    {:<12} {verdict}", variant.kind.as_str()));
    }
    for kind in thread.missing_kinds() {
        say(format_args!(
            "    {:<12} none: {name} has no {} variant",
            kind.as_str(),
            kind.as_str()
        ));
    }
    if let Some(collector) = kept {
        return Ok(collector);
    }
    let working: Vec<&str> = results
        .iter()
        .filter(|(_, _, result)| result.is_ok())
        .map(|(_, variant, _)| variant.kind.as_str())
        .collect();
    let file = format!("ebpf.d/{}", name.file_name());
    findings.todo.push(if working.is_empty() {
        format!("{name}: no variant can run on this kernel; the reasons are above")
    } else {
        format!(
            "{name}: the configuration allows only variants that cannot run here, but {} can: \
             set `ebpf type format = auto` in ebpf.d.conf and {file} (or `ebpf co-re tracing` \
             to one of those), or pass --variant auto",
            working.join(", ")
        )
    });
    Err(allowed.iter().map(|(_, v)| v.kind).collect())
}

/// `blocked`: the variant kinds the threads that cannot run were allowed;
/// `config_errors`: errors in the configuration files.
fn summary(
    can_run: &[ThreadName],
    cannot_run: &[ThreadName],
    blocked: &[VariantKind],
    config_errors: usize,
    mut findings: Findings,
) -> ExitCode {
    let errors = match config_errors {
        0 => String::new(),
        1 => "the configuration has 1 error; ".to_owned(),
        n => format!("the configuration has {n} errors; "),
    };
    if config_errors > 0 {
        findings.todo.insert(
            0,
            "fix the configuration errors listed under `configuration`: `run` uses the \
             defaults in their place, and a SIGHUP keeps the running configuration while \
             any remains"
                .to_owned(),
        );
    }
    let enabled = can_run.len() + cannot_run.len();
    if enabled == 0 {
        line(
            "result",
            "no enabled thread is implemented: `run` would have nothing to do",
        );
        line(
            "what to do",
            "enable a thread in ebpf.d.conf [ebpf programs] (process, sync) or pass --process, --sync",
        );
        return ExitCode::FAILURE;
    }
    if cannot_run.is_empty() && findings.todo.is_empty() {
        line(
            "result",
            format!("ok: every enabled thread can run ({enabled})"),
        );
        return ExitCode::SUCCESS;
    }
    let names: Vec<&str> = cannot_run.iter().map(|t| t.key()).collect();
    if cannot_run.is_empty() {
        line(
            "result",
            format!("{errors}every enabled thread can run ({enabled})"),
        );
    } else {
        line(
            "result",
            format!(
                "{errors}{} of {enabled} enabled threads cannot run: {}",
                cannot_run.len(),
                names.join(", ")
            ),
        );
    }
    let mut todo = findings.todo;
    todo.extend(
        findings
            .causes
            .into_iter()
            .filter(|(kinds, _)| kinds.is_empty() || kinds.iter().any(|k| blocked.contains(k)))
            .map(|(_, cause)| cause),
    );
    for (i, item) in todo.iter().enumerate() {
        line(if i == 0 { "what to do" } else { "" }, format!("- {item}"));
    }
    ExitCode::FAILURE
}
