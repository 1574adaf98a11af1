//! Loads a variant's object, attaches the programs it needs, and reads its
//! maps. A variant that fails half-way is dropped whole: every program,
//! link and map of the attempt goes with its `Ebpf`.

use std::collections::HashMap;
use std::path::PathBuf;

use aya::maps::{HashMap as BpfHashMap, Map, MapData, MapError, PerCpuArray};
use aya::programs::trace_point::TracePointError;
use aya::programs::{BtfTracePoint, FEntry, FExit, KProbe, ProgramError, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};
use aya_obj::btf::BtfKind;
use ipc::Message;
use tracing::debug;

use crate::keyed::{KeyReader, KeySource, Keyed, KeyedReader};
use crate::pid_table::PidTable;
use crate::thread::{Hook, ProgramSpec, Thread, Variant, WorkerConfig};

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot read the kernel's BTF at {path}: {detail}")]
    Btf { path: PathBuf, detail: String },
    #[error("cannot load the object: {0:?}")]
    Object(aya::EbpfError),
    #[error("program `{0}` is missing from the object")]
    MissingProgram(String),
    #[error("the kernel refused program `{program}`: {source:?}")]
    Load {
        program: String,
        source: ProgramError,
    },
    #[error("no kernel function for `{program}`: none of {names} is in {looked_in}")]
    NoFunction {
        program: String,
        names: String,
        looked_in: &'static str,
    },
    #[error("cannot attach `{program}` to {hook:?}: {source:?}")]
    Attach {
        program: String,
        hook: Hook,
        source: Box<ProgramError>,
    },
    #[error("cannot probe `{program}` on any of its kernel functions: {reasons}")]
    Probe { program: String, reasons: String },
    #[error("map `{map}`: {detail}")]
    Map { map: &'static str, detail: String },
    #[error("cannot read the id of program `{program}`: {source:?}")]
    ProgramInfo {
        program: String,
        source: ProgramError,
    },
}

impl AttachError {
    /// The kernel has no such tracepoint (no `btf_trace_<name>` type in
    /// its BTF, or no tracefs event) or, for a trampoline, no such function
    /// in its BTF.
    fn hook_missing(&self) -> bool {
        matches!(self, AttachError::NoFunction { .. })
            || matches!(
                self,
                AttachError::Load {
                    source: ProgramError::Btf(_),
                    ..
                }
            )
            || matches!(
                self,
                AttachError::Attach { source, .. }
                    if matches!(**source, ProgramError::TracePointError(TracePointError::FileError { .. }))
            )
    }
}

/// Parses the kernel's BTF once per worker; every variant attempt reuses it.
pub fn kernel_btf(cfg: &WorkerConfig) -> Result<Btf, AttachError> {
    let path = cfg.btf_path();
    Btf::parse_file(&path, aya::Endianness::default()).map_err(|e| AttachError::Btf {
        path,
        detail: format!("{e:?}"),
    })
}

/// Whether tracing programs may use hashes allocated at run time without
/// a kernel warning: the kernel has bpf_mem_alloc (6.1+, or backported).
fn allocates_in_tracing(btf: &Btf) -> bool {
    btf.id_by_type_name_kind("bpf_mem_alloc", BtfKind::Struct)
        .is_ok()
}

/// Whether the kernel has task-local storage (5.11+).
fn has_task_storage(btf: &Btf) -> bool {
    btf.id_by_type_name_kind("bpf_task_storage_get", BtfKind::Func)
        .is_ok()
}

/// Loads `variant` and attaches every program this configuration needs.
pub fn attach(
    thread: &Thread,
    variant: &Variant,
    cfg: &WorkerConfig,
    btf: &Btf,
) -> Result<Collector, AttachError> {
    let _forget = ForgetSymbols;
    let filter_tgid = cfg.pid_filter.unwrap_or(0);
    let settings = cfg.settings();
    let per_process = thread.per_process_on(settings);
    let tgid_values_on = u32::from(per_process.is_some());
    let keyed_entries = thread.keyed_entries(cfg);
    let keyed_on = u32::from(keyed_entries.is_some());
    let mut loader = EbpfLoader::new();
    loader
        // aya 0.14 has no type for task storage; the kernel does.
        .allow_unsupported_maps()
        .btf(Some(btf))
        .override_global("filter_tgid", &filter_tgid, true)
        .override_global(bpf::TGID_VALUES_ON, &tgid_values_on, false)
        .override_global(bpf::KEYED_ON, &keyed_on, false);
    if cfg.pid_filter.is_none() {
        // Unused without --pid; their default sizes would cost 640 KB of
        // kernel memory each. (A name the object lacks is ignored.)
        for map in ["tracked_tgids", "exiting_tasks"] {
            loader.map_max_entries(map, 1);
        }
    }
    let mut object = thread.object.bytes;
    if let Some(per) = per_process {
        // Compiled with one entry: unused (and free) with apps and cgroups off.
        loader.map_max_entries(bpf::TGID_VALUES_MAP, per.slots(settings));
        loader.map_max_entries(bpf::TGID_REPLACED_MAP, bpf::TGID_REPLACED_ENTRIES);
    }
    if let Some((map, entries)) = keyed_entries {
        loader.map_max_entries(map, entries);
    }
    // The object compiled with its hashes allocated as used, where they
    // are: their memory is what their live entries need.
    if (per_process.is_some() || keyed_entries.is_some()) && allocates_in_tracing(btf) {
        object = thread.object.on_demand.unwrap_or(object);
    }
    if let Some(without) = thread.object.without_task_storage {
        if !has_task_storage(btf) {
            debug!(
                "{}: the kernel has no task-local storage: its object built without it",
                thread.name
            );
            object = without;
        }
    }
    for &(map, entries, needed) in variant.maps {
        if cfg.needs(thread, needed) {
            loader.map_max_entries(map, entries);
        }
    }
    let mut ebpf = loader.load(object).map_err(AttachError::Object)?;
    if let Some(pid) = cfg.pid_filter {
        track(&mut ebpf, &[pid])?;
    }
    for spec in thread.programs(variant) {
        if !cfg.needs(thread, spec.needed) {
            continue;
        }
        match attach_program(&mut ebpf, &spec, btf) {
            Err(e) if spec.needed.where_hook_exists() && e.hook_missing() => {
                debug!("{}: the kernel has no {:?}; skipped", spec.name, spec.hook)
            }
            result => result?,
        }
    }
    if let Some(pid) = cfg.pid_filter {
        // Descendants forked before the fork hook was attached.
        track(&mut ebpf, &descendants(pid))?;
    }
    Collector::new(thread, ebpf, cfg)
}

/// Attaches one program of a loaded object where its hook says; the links
/// live as long as `ebpf`.
pub fn attach_program(ebpf: &mut Ebpf, spec: &ProgramSpec, btf: &Btf) -> Result<(), AttachError> {
    let name = spec.name.as_str();
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| AttachError::MissingProgram(name.to_owned()))?;
    let load = |source| AttachError::Load {
        program: name.to_owned(),
        source,
    };
    let attach = |source| AttachError::Attach {
        program: name.to_owned(),
        hook: spec.hook,
        source: Box::new(source),
    };
    match spec.hook {
        Hook::BtfTracepoint(event) => {
            let program: &mut BtfTracePoint = program.try_into().map_err(load)?;
            program.load(event, btf).map_err(load)?;
            program.attach().map_err(attach)?;
        }
        Hook::Tracepoint(category, event) => {
            let program: &mut TracePoint = program.try_into().map_err(load)?;
            program.load().map_err(load)?;
            program.attach(category, event).map_err(attach)?;
        }
        Hook::Syscalls { exit, names } => {
            let program: &mut TracePoint = program.try_into().map_err(load)?;
            program.load().map_err(load)?;
            let side = if exit { "sys_exit_" } else { "sys_enter_" };
            for syscall in names {
                program
                    .attach("syscalls", &format!("{side}{syscall}"))
                    .map_err(attach)?;
            }
        }
        Hook::FEntry(names) => {
            let program: &mut FEntry = program.try_into().map_err(load)?;
            first_function(name, names, |function| program.load(function, btf))?;
            program.attach().map_err(attach)?;
        }
        Hook::FExit(names) => {
            let program: &mut FExit = program.try_into().map_err(load)?;
            first_function(name, names, |function| program.load(function, btf))?;
            program.attach().map_err(attach)?;
        }
        Hook::KProbe(names) => {
            let program: &mut KProbe = program.try_into().map_err(load)?;
            program.load().map_err(load)?;
            let mut failures: Vec<(String, Vec<String>)> = Vec::new();
            for function in names {
                let mut reason = match program.attach(function, 0) {
                    Ok(_) => return Ok(()),
                    Err(e) => format!("{e:?}"),
                };
                let mut failed = vec![function.to_string()];
                // A static function the compiler cloned is only in kallsyms
                // under its clone's name.
                let symbols = kallsyms();
                for clone in clones(&symbols, function) {
                    match program.attach(clone, 0) {
                        Ok(_) => return Ok(()),
                        Err(e) => {
                            reason = format!("{e:?}");
                            failed.push(clone.to_owned());
                        }
                    }
                }
                // The same reason for every name (no kprobes at all) is said once.
                match failures.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, names)) => names.extend(failed),
                    None => failures.push((reason, failed)),
                }
            }
            // None of the names, nor a clone of one, is a symbol: the
            // kernel lacks the function (a module not loaded). Said only
            // where kprobes exist at all: elsewhere that is the reason.
            let symbols = kallsyms();
            if std::path::Path::new(KPROBE_PMU).exists()
                && !symbols.is_empty()
                && !names.iter().any(|n| has_symbol(&symbols, n))
            {
                return Err(AttachError::NoFunction {
                    program: name.to_owned(),
                    names: names.join(", "),
                    looked_in: KALLSYMS,
                });
            }
            return Err(AttachError::Probe {
                program: name.to_owned(),
                reasons: failures
                    .iter()
                    .map(|(reason, failed)| format!("{}: {reason}", failed.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
    }
    Ok(())
}

const KALLSYMS: &str = "/proc/kallsyms";
/// The kprobe PMU, through which aya attaches kprobes: absent where the
/// kernel has none (`CONFIG_KPROBES` off).
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe/type";

thread_local! {
    /// `/proc/kallsyms` (5 MB), read at most once per [`attach`] and
    /// dropped at its end.
    static SYMBOLS: std::cell::RefCell<Option<std::rc::Rc<str>>> = const { std::cell::RefCell::new(None) };
}

/// Drops [`SYMBOLS`] at the end of an attach, whatever its outcome.
struct ForgetSymbols;

impl Drop for ForgetSymbols {
    fn drop(&mut self) {
        SYMBOLS.with(|symbols| symbols.take());
    }
}

/// `/proc/kallsyms`' text (empty where it cannot be read), for kprobes
/// that did not attach.
fn kallsyms() -> std::rc::Rc<str> {
    SYMBOLS.with(|symbols| {
        symbols
            .borrow_mut()
            .get_or_insert_with(|| std::fs::read_to_string(KALLSYMS).unwrap_or_default().into())
            .clone()
    })
}

/// Whether a `/proc/kallsyms` text has function `name` or a clone of it.
fn has_symbol(kallsyms: &str, name: &str) -> bool {
    symbols(kallsyms).any(|symbol| symbol == name || is_clone(symbol, name))
}

/// The symbol names of a `/proc/kallsyms` text.
fn symbols(kallsyms: &str) -> impl Iterator<Item = &str> {
    kallsyms
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
}

/// Whether `symbol` is a clone of `name` (`name.constprop.0`), not a
/// `.cold` part.
fn is_clone(symbol: &str, name: &str) -> bool {
    symbol
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|suffix| !suffix.split('.').any(|part| part == "cold"))
}

/// The clones of kernel function `name` in a `/proc/kallsyms` text
/// (`lookup_fast.constprop.0`, `.isra.0`, `.part.0`): where the compiler
/// specialised a static function, the plain name is not a symbol and a
/// kprobe must name the clone. Not the `.cold` parts, which are not
/// entries.
fn clones<'a>(kallsyms: &'a str, name: &str) -> Vec<&'a str> {
    symbols(kallsyms)
        .filter(|symbol| is_clone(symbol, name))
        .collect()
}

/// Loads a trampoline for the first of `names` the kernel's BTF knows; a
/// name missing from BTF is the only failure that moves on to the next.
fn first_function(
    program: &str,
    names: &[&str],
    mut load: impl FnMut(&str) -> Result<(), ProgramError>,
) -> Result<(), AttachError> {
    for name in names {
        match load(name) {
            Ok(()) => return Ok(()),
            Err(ProgramError::Btf(_)) => continue,
            Err(source) => {
                return Err(AttachError::Load {
                    program: program.to_owned(),
                    source,
                })
            }
        }
    }
    Err(AttachError::NoFunction {
        looked_in: "the kernel's BTF",
        program: program.to_owned(),
        names: names.join(", "),
    })
}

fn track(ebpf: &mut Ebpf, tgids: &[u32]) -> Result<(), AttachError> {
    let map_error = |detail: String| AttachError::Map {
        map: "tracked_tgids",
        detail,
    };
    let map = ebpf
        .map_mut("tracked_tgids")
        .ok_or_else(|| map_error("missing from the object".into()))?;
    let mut set: BpfHashMap<&mut MapData, u32, u8> =
        BpfHashMap::try_from(map).map_err(|e| map_error(format!("{e:?}")))?;
    for tgid in tgids {
        set.insert(tgid, 1, 0)
            .map_err(|e| map_error(format!("{e:?}")))?;
    }
    Ok(())
}

/// Every live process below `pid` in the process tree, from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(parent) = parent_of(child) {
            children.entry(parent).or_default().push(child);
        }
    }
    let mut found = Vec::new();
    let mut pending = vec![pid];
    while let Some(next) = pending.pop() {
        for &child in children.get(&next).into_iter().flatten() {
            found.push(child);
            pending.push(child);
        }
    }
    found
}

/// The PPID field of `/proc/<pid>/stat` (after the parenthesised command,
/// which may itself contain spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Takes `name` out of `ebpf` as the map type `T` (for a reader to keep).
pub fn take_map<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, AttachError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf.take_map(name).ok_or(AttachError::Map {
        map: name,
        detail: "missing from the object".into(),
    })?;
    T::try_from(map).map_err(|e| AttachError::Map {
        map: name,
        detail: format!("{e:?}"),
    })
}

/// Takes the hash map (or per-CPU array) `name` out of `ebpf`, for a raw
/// reader.
pub fn take_map_data(ebpf: &mut Ebpf, name: &'static str) -> Result<MapData, AttachError> {
    match ebpf.take_map(name) {
        Some(Map::HashMap(map) | Map::PerCpuHashMap(map) | Map::PerCpuArray(map)) => Ok(map),
        Some(_) => Err(AttachError::Map {
            map: name,
            detail: "not a hash map or a per-CPU array".into(),
        }),
        None => Err(AttachError::Map {
            map: name,
            detail: "missing from the object".into(),
        }),
    }
}

/// A value reading of a kernel map failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading map `{map}`: {source:?}")]
    Map {
        map: &'static str,
        source: aya::maps::MapError,
    },
    #[error("walking map `{map}`: {source}")]
    Walk {
        map: &'static str,
        source: std::io::Error,
    },
}

/// An attached variant and the reader of its maps: the thread's counters
/// (a per-CPU array), its keyed counters, its per-process table. Dropping
/// it detaches everything.
pub struct Collector {
    counters: Option<(&'static str, PerCpuArray<MapData, u64>, u32)>,
    keyed: Option<Box<dyn KeyReader>>,
    table: Option<PidTable>,
    /// The kernel's ids of the attached programs.
    programs: Vec<u32>,
    /// Owns the programs and links.
    ebpf: Ebpf,
}

impl Collector {
    fn new(thread: &Thread, mut ebpf: Ebpf, cfg: &WorkerConfig) -> Result<Collector, AttachError> {
        let object = &thread.object;
        let counters = object
            .counter_map
            .map(|map| {
                Ok::<_, AttachError>((map, take_map(&mut ebpf, map)?, object.counters.len() as u32))
            })
            .transpose()?;
        let keyed: Option<Box<dyn KeyReader>> = match thread.keyed {
            Some(Keyed {
                map,
                source: KeySource::Counters { names },
                ..
            }) => Some(Box::new(KeyedReader::new(&mut ebpf, map, names, object)?)),
            Some(Keyed {
                map,
                source: KeySource::Reader { open, .. },
                ..
            }) if thread.keyed_entries(cfg).is_some() => {
                Some(open(take_map_data(&mut ebpf, map)?, cfg))
            }
            _ => None,
        };
        let table = thread
            .per_process_on(cfg.settings())
            .map(|per| PidTable::new(&mut ebpf, per, object.per_process))
            .transpose()?;
        // Programs of the object's other variants are not loaded.
        let programs =
            ebpf.programs()
                .filter(|(_, program)| program.fd().is_ok())
                .map(|(name, program)| {
                    program.info().map(|info| info.id()).map_err(|source| {
                        AttachError::ProgramInfo {
                            program: name.to_owned(),
                            source,
                        }
                    })
                })
                .collect::<Result<_, _>>()?;
        Ok(Collector {
            counters,
            keyed,
            table,
            programs,
            ebpf,
        })
    }

    /// Appends this update's counters and keyed counters.
    pub fn collect(&mut self, out: &mut Vec<Message>) -> Result<(), CollectError> {
        if let Some((map, counters, count)) = &self.counters {
            for index in 0..*count {
                let per_cpu = counters
                    .get(&index, 0)
                    .map_err(|source| CollectError::Map { map, source })?;
                out.push(Message::Counter {
                    index,
                    total: per_cpu.iter().sum(),
                });
            }
        }
        if let Some(keyed) = &mut self.keyed {
            keyed.collect(out)?;
        }
        out.extend(self.programs.iter().map(|&id| Message::Program { id }));
        Ok(())
    }

    /// The live table the supervisor asked for (`KeyReader::rows`).
    pub fn rows(&mut self, out: &mut Vec<ipc::ConnectionRow>) -> Result<(), CollectError> {
        out.clear();
        match &mut self.keyed {
            Some(keyed) => keyed.rows(out),
            None => Ok(()),
        }
    }

    /// Runs of the attached programs and nanoseconds in them, as the kernel
    /// counts them (only while `BPF_ENABLE_STATS` is on).
    pub fn kernel_cost(&self) -> Result<(u64, u64), ProgramError> {
        let (mut runs, mut nanoseconds) = (0, 0);
        for (_, program) in self.ebpf.programs().filter(|(_, p)| p.fd().is_ok()) {
            let info = program.info()?;
            runs += info.run_count();
            nanoseconds += info.run_time().as_nanos() as u64;
        }
        Ok((runs, nanoseconds))
    }

    /// The per-process table, when the thread counts per process.
    pub fn pid_table(&mut self) -> Option<&mut PidTable> {
        self.table.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_children_and_grandchildren_of_this_process() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        // Give sh time to fork its sleep.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let grandchild =
            |found: &[u32]| found.iter().any(|&pid| parent_of(pid) == Some(child.id()));
        let found = loop {
            let found = descendants(std::process::id());
            if grandchild(&found) || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let (has_child, has_grandchild) = (found.contains(&child.id()), grandchild(&found));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(has_child && has_grandchild, "sh and its sleep in {found:?}");
    }

    #[test]
    fn finds_a_functions_clones_in_kallsyms_but_not_its_cold_parts() {
        let kallsyms = "\
ffffffff816f0a40 t __pfx_lookup_fast
ffffffff816f0a50 t lookup_fast.constprop.0
ffffffff816f0b50 t lookup_fast.constprop.0.cold
ffffffff816f0c50 t lookup_fast_rcu
ffffffff816f0d50 t lookup_fast.isra.3\t[some_module]
ffffffff81705de0 T d_lookup
";
        assert_eq!(
            clones(kallsyms, "lookup_fast"),
            ["lookup_fast.constprop.0", "lookup_fast.isra.3"]
        );
        assert!(clones(kallsyms, "d_lookup").is_empty());
        assert!(clones("", "d_lookup").is_empty());
    }

    #[test]
    fn parses_stat_lines_with_parentheses_in_the_command() {
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }
}
