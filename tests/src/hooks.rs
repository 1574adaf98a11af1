//! Which kinds of hook a process holds in the kernel, read from its BPF
//! link and program fds in `/proc/<pid>/fdinfo`: the proof of which attach
//! variant a worker really uses, whatever it logs.

use std::collections::HashMap;

/// A BPF link's kind of hook, as the kernel describes the link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookKind {
    /// `tracepoint/`: a perf link to a tracepoint program.
    Tracepoint,
    /// `tp_btf/`: a raw tracepoint link.
    BtfTracepoint,
    FEntry,
    FExit,
    /// kprobe or kretprobe: a perf link to a kprobe program.
    KProbe,
    /// Anything else, as the kernel names it.
    Other(String),
}

/// `enum bpf_prog_type` and `enum bpf_attach_type` values (uapi/linux/bpf.h).
const PROG_TYPE_KPROBE: u32 = 2;
const PROG_TYPE_TRACEPOINT: u32 = 5;
const TRACE_FENTRY: u32 = 24;
const TRACE_FEXIT: u32 = 25;

impl HookKind {
    /// The attach variant (as `--variant` names it) this hook belongs to.
    pub fn variant(&self) -> Option<&'static str> {
        match self {
            HookKind::Tracepoint | HookKind::BtfTracepoint => Some("tracepoint"),
            HookKind::FEntry | HookKind::FExit => Some("trampoline"),
            HookKind::KProbe => Some("probe"),
            HookKind::Other(_) => None,
        }
    }
}

/// `key:\tvalue` lines of one fdinfo file.
fn fdinfo(pid: u32, fd: &str) -> HashMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            Some((key.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The hooks of every BPF link process `pid` holds.
pub fn links(pid: u32) -> Vec<HookKind> {
    let mut prog_types = HashMap::new();
    let mut links = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let fd = entry.file_name().to_string_lossy().into_owned();
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let info = fdinfo(pid, &fd);
        let number = |key: &str| info.get(key).and_then(|v| v.parse::<u32>().ok());
        match target.to_string_lossy().as_ref() {
            "anon_inode:bpf-prog" => {
                if let (Some(id), Some(kind)) = (number("prog_id"), number("prog_type")) {
                    prog_types.insert(id, kind);
                }
            }
            "anon_inode:bpf_link" => links.push((
                info.get("link_type").cloned().unwrap_or_default(),
                number("attach_type"),
                number("prog_id"),
            )),
            _ => {}
        }
    }
    links
        .into_iter()
        .map(|(link_type, attach_type, prog_id)| {
            let prog_type = prog_id.and_then(|id| prog_types.get(&id).copied());
            match (link_type.as_str(), attach_type, prog_type) {
                ("raw_tracepoint", _, _) => HookKind::BtfTracepoint,
                ("tracing", Some(TRACE_FENTRY), _) => HookKind::FEntry,
                ("tracing", Some(TRACE_FEXIT), _) => HookKind::FExit,
                ("perf" | "perf_event", _, Some(PROG_TYPE_TRACEPOINT)) => HookKind::Tracepoint,
                ("perf" | "perf_event", _, Some(PROG_TYPE_KPROBE)) => HookKind::KProbe,
                _ => HookKind::Other(format!(
                    "{link_type} attach_type {attach_type:?} prog_type {prog_type:?}"
                )),
            }
        })
        .collect()
}

impl HookKind {
    /// How the kernel shows a link of a program declared on `hook`.
    pub fn of(hook: workers::thread::Hook) -> HookKind {
        use workers::thread::Hook;
        match hook {
            Hook::BtfTracepoint(_) => HookKind::BtfTracepoint,
            Hook::Tracepoint(..) | Hook::Syscalls { .. } => HookKind::Tracepoint,
            Hook::FEntry(_) => HookKind::FEntry,
            Hook::FExit(_) => HookKind::FExit,
            Hook::KProbe(_) => HookKind::KProbe,
        }
    }
}

/// The thread a worker process runs (`ebpf-collector worker THREAD`).
pub fn worker_thread(pid: u32) -> Option<String> {
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = cmdline.split('\0').skip(1);
    (args.next()? == "worker").then(|| args.next().map(str::to_owned))?
}

/// The kinds of hook `thread`'s `variant` (as `--variant` names it)
/// declares: its own, and the shared bookkeeping hooks some threads attach
/// as BTF tracepoints in every variant.
pub fn declared(thread: &str, variant: &str) -> Vec<HookKind> {
    let name: conf::ThreadName = thread.parse().expect("a thread name");
    let thread = workers::registry::find(name).expect("an implemented thread");
    let variant = thread
        .variants
        .iter()
        .find(|v| v.kind.as_str() == variant)
        .unwrap_or_else(|| panic!("{name} has no {variant} variant"));
    let mut kinds: Vec<HookKind> = thread
        .programs(variant)
        .iter()
        .map(|p| HookKind::of(p.hook))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}
