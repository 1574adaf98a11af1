//! The contract between each thread's module and its compiled object,
//! checked without root: every compiled object is parsed again here with
//! aya's own ELF reader (not build.rs's), and every program each variant of
//! each thread may attach must be in its object, in a section of a kind
//! its hook takes and that belongs to its variant; every program of the
//! object is some variant's; the maps each thread reads are there with the
//! layout it reads; every counter a chart, a per-process chart or a switch
//! names exists. A program or counter renamed or reordered in a `.bpf.c`
//! fails to compile (the generated constants) or fails here.

use std::collections::{BTreeSet, HashMap};

use aya_obj::{Object, ProgramSection};
use conf::{OwnKind, ThreadName};
use workers::chart::DimValue;
use workers::keyed::{KeySource, KeyedCharts};
use workers::registry;
use workers::thread::{Hook, Thread, VariantKind};

/// `enum bpf_map_type`.
const HASH: u32 = 1;
const PERCPU_HASH: u32 = 5;
const PERCPU_ARRAY: u32 = 6;
const TASK_STORAGE: u32 = 29;

fn parsed(thread: &Thread) -> Object {
    Object::parse(thread.object.bytes).unwrap_or_else(|e| panic!("{}: {e}", thread.object.name))
}

fn belongs(section: &ProgramSection, kind: VariantKind) -> bool {
    match kind {
        VariantKind::Tracepoint => matches!(
            section,
            ProgramSection::TracePoint | ProgramSection::BtfTracePoint
        ),
        VariantKind::Trampoline => matches!(
            section,
            ProgramSection::FEntry { .. } | ProgramSection::FExit { .. }
        ),
        VariantKind::Probe => matches!(section, ProgramSection::KProbe | ProgramSection::KRetProbe),
    }
}

fn takes(hook: Hook, section: &ProgramSection) -> bool {
    matches!(
        (hook, section),
        (Hook::BtfTracepoint(_), ProgramSection::BtfTracePoint)
            | (
                Hook::Tracepoint(..) | Hook::Syscalls { .. },
                ProgramSection::TracePoint
            )
            | (Hook::FEntry(_), ProgramSection::FEntry { .. })
            | (Hook::FExit(_), ProgramSection::FExit { .. })
            | (
                Hook::KProbe(_),
                ProgramSection::KProbe | ProgramSection::KRetProbe
            )
    )
}

#[test]
fn every_program_a_variant_attaches_is_in_its_object_as_a_program_of_its_kind() {
    for thread in registry::all() {
        let object = parsed(thread);
        let mut used = BTreeSet::new();
        for variant in thread.variants {
            for spec in thread.programs(variant) {
                let what = format!("{} {:?} `{}`", thread.name, variant.kind, spec.name);
                let program = object
                    .programs
                    .get(&spec.name)
                    .unwrap_or_else(|| panic!("{what}: not in {}.bpf.o", thread.object.name));
                assert!(
                    takes(spec.hook, &program.section),
                    "{what}: a {:?} program cannot attach to {:?}",
                    program.section,
                    spec.hook
                );
                assert!(
                    belongs(&program.section, variant.kind),
                    "{what}: a {:?} program in a {:?} variant",
                    program.section,
                    variant.kind
                );
                // The generated table agrees with the object.
                assert!(thread.object.has_program(&spec.name), "{what}");
                used.insert(spec.name.clone());
            }
        }
        let unused: Vec<&String> = object
            .programs
            .keys()
            .filter(|name| !used.contains(*name))
            .collect();
        assert!(
            unused.is_empty(),
            "{}: programs no variant attaches: {unused:?}",
            thread.name
        );
        assert_eq!(
            object.programs.len(),
            thread.object.programs.len(),
            "{}: the generated table lists every program",
            thread.name
        );
    }
}

#[test]
fn the_maps_a_thread_reads_are_there_as_it_reads_them() {
    for thread in registry::all() {
        let object = parsed(thread);
        let map = |name: &str| {
            let map = object
                .maps
                .get(name)
                .unwrap_or_else(|| panic!("{}: no map `{name}`", thread.name));
            (map.map_type(), map.key_size(), map.value_size())
        };
        let counters = thread.counters().len() as u32;
        match thread.object.counter_map {
            Some(name) => {
                assert_eq!(map(name), (PERCPU_ARRAY, 4, 8), "{}: {name}", thread.name);
                assert_eq!(
                    object.maps[name].max_entries(),
                    counters,
                    "{}: {name}",
                    thread.name
                );
            }
            None => assert_eq!(counters, 0, "{}", thread.name),
        }
        if let Some(keyed) = thread.keyed {
            let (kind, key, value) = map(keyed.map);
            // A thread's own reader checks its key's layout at build time;
            // keyed.rs's reads u32 keys of a hash or a per-CPU array.
            let u32_keys = matches!(keyed.source, KeySource::Counters { .. });
            let array = u32_keys && kind == PERCPU_ARRAY;
            assert!(
                (kind == HASH || kind == PERCPU_HASH || array) && (key == 4 || !u32_keys),
                "{}: {}",
                thread.name,
                keyed.map
            );
            assert!(
                value > 0 && value % 8 == 0,
                "{}: {}",
                thread.name,
                keyed.map
            );
        }
        let table = object.maps.contains_key(bpf::TGID_VALUES_MAP);
        assert_eq!(
            table,
            thread.per_process.is_some(),
            "{}: a per-process table iff per-process charts",
            thread.name
        );
        if table {
            let (kind, key, value) = map(bpf::TGID_VALUES_MAP);
            assert_eq!((kind, key), (HASH, 4), "{}", thread.name);
            let per_process = thread.object.per_process;
            assert!(
                per_process > 0 && per_process <= counters,
                "{}",
                thread.name
            );
            assert_eq!(
                value as usize,
                8 * per_process as usize + bpf::tgid_extra::SIZE,
                "{}",
                thread.name
            );
            assert_eq!(
                map(bpf::TGID_REPLACED_MAP),
                (kind, key, value),
                "{}: replaced entries as the table's",
                thread.name
            );
            assert_eq!(
                map(bpf::TGID_STATS_MAP),
                (PERCPU_ARRAY, 4, 8),
                "{}",
                thread.name
            );
            assert!(thread.object.on_demand.is_some(), "{}", thread.name);
        }
    }
}

/// An object's second form (its per-process table on demand, or no task
/// storage for kernels before 5.11) is the loader's drop-in: the same
/// programs in the same sections and the same maps, of the same value
/// sizes; a map's type, flags and key may differ (task storage is keyed by
/// the task, the older kernels' hash by thread id).
#[test]
fn an_objects_second_form_has_its_programs_and_maps() {
    let programs = |object: &Object| -> BTreeSet<(String, String)> {
        object
            .programs
            .iter()
            .map(|(name, p)| (name.clone(), format!("{:?}", p.section)))
            .collect()
    };
    let maps = |object: &Object| -> BTreeSet<(String, u32)> {
        object
            .maps
            .iter()
            .map(|(name, m)| (name.clone(), m.value_size()))
            .collect()
    };
    let uses_task_storage = |object: &Object| {
        object
            .maps
            .values()
            .any(|map| map.map_type() == TASK_STORAGE)
    };
    for thread in registry::all() {
        let object = parsed(thread);
        assert_eq!(
            uses_task_storage(&object),
            thread.object.without_task_storage.is_some(),
            "{}: a form without task storage iff it uses it",
            thread.name
        );
        for (second, task_storage) in [
            (thread.object.on_demand, uses_task_storage(&object)),
            (thread.object.without_task_storage, false),
        ] {
            let Some(second) = second else { continue };
            let second = Object::parse(second).unwrap_or_else(|e| panic!("{}: {e}", thread.name));
            assert_eq!(programs(&second), programs(&object), "{}", thread.name);
            assert_eq!(maps(&second), maps(&object), "{}", thread.name);
            assert_eq!(uses_task_storage(&second), task_storage, "{}", thread.name);
        }
    }
}

/// The highest counter index a dimension reads, plain or keyed.
fn counters_of(value: DimValue) -> Vec<u32> {
    value.counters().collect()
}

#[test]
fn every_counter_a_chart_or_a_switch_names_exists() {
    for thread in registry::all() {
        let counters = thread.counters().len() as u32;
        for def in thread.charts {
            for dim in def.dims {
                for counter in counters_of(dim.value) {
                    assert!(counter < counters, "{}: {} {}", thread.name, def.id, dim.id);
                }
            }
        }
        if let Some(keyed) = thread.keyed {
            let slots = thread.object.map(keyed.map).value_size / 8;
            let values: Vec<DimValue> = match keyed.charts {
                KeyedCharts::PerKey { dims, .. } => dims.iter().map(|d| d.value).collect(),
                KeyedCharts::Named { charts, .. } => charts
                    .iter()
                    .flat_map(|c| c.dims)
                    .map(|d| d.value)
                    .collect(),
                KeyedCharts::Dims(each) => each
                    .iter()
                    .map(|dim| {
                        assert!(
                            thread.charts.iter().any(|def| def.id == dim.chart),
                            "{}: keyed dimensions on a chart it lacks: {}",
                            thread.name,
                            dim.chart
                        );
                        dim.value
                    })
                    .collect(),
            };
            for value in values {
                for slot in counters_of(value) {
                    assert!(slot < slots, "{}: slot {slot} of {slots}", thread.name);
                }
            }
        }
        if let Some(per) = thread.per_process {
            for def in per.charts {
                for counter in [Some(def.counter), def.plus].into_iter().flatten() {
                    assert!(
                        counter < thread.object.per_process,
                        "{}: {} reads counter {counter}, not kept per process",
                        thread.name,
                        def.apps.id
                    );
                }
            }
        }
        for key in thread.keys {
            if let OwnKind::Switch { counter } = key.kind {
                assert!(
                    counter < counters,
                    "{}: [{}] {}",
                    thread.name,
                    key.section,
                    key.key
                );
            }
        }
        for call in thread.calls {
            if let Some(counter) = call.counter {
                assert!(counter < counters, "{}: {}", thread.name, call.stem);
            }
        }
    }
}

#[test]
fn each_thread_is_listed_once_under_its_own_name() {
    let mut seen: HashMap<ThreadName, &str> = HashMap::new();
    for thread in registry::all() {
        assert!(
            seen.insert(thread.name, thread.object.name).is_none(),
            "{} twice",
            thread.name
        );
        // One module, one object, one name.
        assert_eq!(thread.object.name, thread.name.key());
        assert_eq!(
            registry::find(thread.name).map(|t| t.name),
            Some(thread.name)
        );
    }
}
