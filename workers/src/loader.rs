//! Loads a variant's object, attaches the programs it needs, and reads its
//! counters. A variant that fails half-way is dropped whole: every program,
//! link and map of the attempt goes with its `Ebpf`.

use std::collections::HashMap;
use std::path::PathBuf;

use aya::maps::{HashMap as BpfHashMap, Map, MapData, MapError, PerCpuArray};
use aya::programs::trace_point::TracePointError;
use aya::programs::{BtfTracePoint, FEntry, FExit, KProbe, ProgramError, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};
use aya_obj::btf::BtfKind;
use bpf::layout;
use conf::LoadMode;
use tracing::debug;

use crate::per_process;
use crate::thread::{
    CollectError, Collector, Hook, Needed, ProgramSpec, Thread, Variant, WorkerConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot read the kernel's BTF at {path}: {detail}")]
    Btf { path: PathBuf, detail: String },
    #[error("cannot load the object: {0:?}")]
    Object(aya::EbpfError),
    #[error("program `{0}` is missing from the object")]
    MissingProgram(&'static str),
    #[error("the kernel refused program `{program}`: {source:?}")]
    Load {
        program: &'static str,
        source: ProgramError,
    },
    #[error("no kernel function for `{program}`: none of {names} is in the kernel's BTF")]
    NoFunction {
        program: &'static str,
        names: String,
    },
    #[error("cannot attach `{program}` to {hook}: {source:?}")]
    Attach {
        program: &'static str,
        hook: String,
        source: ProgramError,
    },
    #[error("cannot probe `{program}` on any of its kernel functions: {reasons}")]
    Probe {
        program: &'static str,
        reasons: String,
    },
    #[error("map `{map}`: {detail}")]
    Map { map: &'static str, detail: String },
}

impl AttachError {
    /// The kernel has no such tracepoint: no `btf_trace_<name>` type in its
    /// BTF, or no tracefs event.
    fn hook_missing(&self) -> bool {
        matches!(
            self,
            AttachError::Load {
                source: ProgramError::Btf(_),
                ..
            } | AttachError::Attach {
                source: ProgramError::TracePointError(TracePointError::FileError { .. }),
                ..
            }
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

/// Loads `variant` and attaches every program this configuration needs.
pub fn attach(
    thread: &dyn Thread,
    variant: &Variant,
    cfg: &WorkerConfig,
    btf: &Btf,
) -> Result<Box<dyn Collector>, AttachError> {
    let filter_tgid = cfg.pid_filter.unwrap_or(0);
    let settings = cfg.settings();
    let table_size = per_process::enabled(thread, &cfg.config).map(|per| per.slots(settings));
    let per_process = table_size.is_some();
    let tgid_values_on = u32::from(per_process);
    let mut loader = EbpfLoader::new();
    loader
        .btf(Some(btf))
        .override_global("filter_tgid", &filter_tgid, true)
        .override_global(layout::TGID_VALUES_ON, &tgid_values_on, false);
    if cfg.pid_filter.is_none() {
        // Unused without --pid; their default sizes would cost 640 KB of
        // kernel memory each. (A name the object lacks is ignored.)
        for map in ["tracked_tgids", "exiting_tasks"] {
            loader.map_max_entries(map, 1);
        }
    }
    if let Some(size) = table_size {
        // Compiled with one entry: unused (and free) with apps and cgroups off.
        loader.map_max_entries(layout::TGID_VALUES_MAP, size);
    }
    let object = match table_size {
        Some(_) if allocates_in_tracing(btf) => {
            bpf::on_demand(thread.name().key()).unwrap_or(variant.object)
        }
        _ => variant.object,
    };
    let mut ebpf = loader.load(object).map_err(AttachError::Object)?;
    if let Some(pid) = cfg.pid_filter {
        track(&mut ebpf, &[pid])?;
    }
    let needed = |spec: &&ProgramSpec| match spec.needed {
        Needed::Always | Needed::WhereHookExists => true,
        Needed::EntryMode => settings.mode == LoadMode::Entry,
        Needed::ReturnMode => settings.mode == LoadMode::Return,
        Needed::PidFilter => cfg.pid_filter.is_some(),
        Needed::PerProcess => per_process,
        Needed::Counter(counter) => thread.collects(&cfg.config, counter),
    };
    for spec in variant.programs.iter().filter(needed) {
        match attach_program(&mut ebpf, spec, btf) {
            Err(e) if spec.needed == Needed::WhereHookExists && e.hook_missing() => {
                debug!("{}: the kernel has no {:?}; skipped", spec.name, spec.hook)
            }
            result => result?,
        }
    }
    if let Some(pid) = cfg.pid_filter {
        // Descendants forked before the fork hook was attached.
        track(&mut ebpf, &descendants(pid))?;
    }
    thread.collector(ebpf, variant, cfg)
}

/// Attaches one program of a loaded object where its hook says; the link
/// lives as long as `ebpf`.
pub fn attach_program(ebpf: &mut Ebpf, spec: &ProgramSpec, btf: &Btf) -> Result<(), AttachError> {
    let program = ebpf
        .program_mut(spec.name)
        .ok_or(AttachError::MissingProgram(spec.name))?;
    let load = |source| AttachError::Load {
        program: spec.name,
        source,
    };
    let attach = |source| AttachError::Attach {
        program: spec.name,
        hook: format!("{:?}", spec.hook),
        source,
    };
    match spec.hook {
        Hook::BtfTracepoint(name) => {
            let program: &mut BtfTracePoint = program.try_into().map_err(load)?;
            program.load(name, btf).map_err(load)?;
            program.attach().map_err(attach)?;
        }
        Hook::Tracepoint(category, name) => {
            let program: &mut TracePoint = program.try_into().map_err(load)?;
            program.load().map_err(load)?;
            program.attach(category, name).map_err(attach)?;
        }
        Hook::FEntry(names) => {
            let program: &mut FEntry = program.try_into().map_err(load)?;
            first_function(spec, names, |name| program.load(name, btf))?;
            program.attach().map_err(attach)?;
        }
        Hook::FExit(names) => {
            let program: &mut FExit = program.try_into().map_err(load)?;
            first_function(spec, names, |name| program.load(name, btf))?;
            program.attach().map_err(attach)?;
        }
        Hook::KProbe(names) => {
            let program: &mut KProbe = program.try_into().map_err(load)?;
            program.load().map_err(load)?;
            let mut failures: Vec<(String, Vec<&str>)> = Vec::new();
            for name in names {
                let reason = match program.attach(name, 0) {
                    Ok(_) => return Ok(()),
                    Err(e) => format!("{e:?}"),
                };
                // The same reason for every name (no kprobes at all) is said once.
                match failures.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, failed)) => failed.push(name),
                    None => failures.push((reason, vec![name])),
                }
            }
            return Err(AttachError::Probe {
                program: spec.name,
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

/// Loads a trampoline for the first of `names` the kernel's BTF knows; a
/// name missing from BTF is the only failure that moves on to the next.
fn first_function(
    spec: &ProgramSpec,
    names: &[&str],
    mut load: impl FnMut(&str) -> Result<(), ProgramError>,
) -> Result<(), AttachError> {
    for name in names {
        match load(name) {
            Ok(()) => return Ok(()),
            Err(ProgramError::Btf(_)) => continue,
            Err(source) => {
                return Err(AttachError::Load {
                    program: spec.name,
                    source,
                })
            }
        }
    }
    Err(AttachError::NoFunction {
        program: spec.name,
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

/// Sums a per-CPU counter array every tick.
pub struct CounterCollector {
    map_name: &'static str,
    counters: PerCpuArray<MapData, u64>,
    count: u32,
}

/// Takes `name` out of `ebpf` as the map type `T` (for a collector to keep).
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

impl CounterCollector {
    pub fn new(ebpf: &mut Ebpf, map_name: &'static str, count: u32) -> Result<Self, AttachError> {
        let counters = take_map(ebpf, map_name)?;
        Ok(CounterCollector {
            map_name,
            counters,
            count,
        })
    }
}

impl Collector for CounterCollector {
    fn collect(&mut self, records: &mut Vec<ipc::Record>) -> Result<(), CollectError> {
        for index in 0..self.count {
            let per_cpu = self
                .counters
                .get(&index, 0)
                .map_err(|source| CollectError::Map {
                    map: self.map_name,
                    source,
                })?;
            records.push(ipc::Record::counter(index, per_cpu.iter().sum()));
        }
        Ok(())
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
    fn every_thread_with_a_per_process_table_has_its_on_demand_object() {
        for thread in crate::registry::all() {
            assert_eq!(
                bpf::on_demand(thread.name().key()).is_some(),
                thread.per_process().is_some(),
                "{}",
                thread.name()
            );
        }
    }

    #[test]
    fn parses_stat_lines_with_parentheses_in_the_command() {
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }
}
