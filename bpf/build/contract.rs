//! An object's contract with the Rust side, read from the compiled object
//! itself (as libbpf's skeletons are): its programs and their kinds of
//! section from the ELF symbols, its maps from the BTF of their
//! definitions, and the enums that name map slots (`__type(counters, enum
//! …)`, `__type(index, enum …)` in a definition, common.bpf.h). From it
//! build.rs writes the `bpf::<object>` modules, so a name or an index is
//! declared once, in C.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

use crate::btf::{Btf, Type};

pub struct Program {
    pub name: String,
    pub section: &'static str,
}

pub struct Map {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// `enum bpf_map_type`'s BPF_MAP_TYPE_TASK_STORAGE (kernel 5.11+).
const TASK_STORAGE: u32 = 29;

/// An enum naming the slots of a map: its name, and each slot's name
/// without the enumerators' common prefix, in order. The last enumerator
/// (the count) is left out.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SlotEnum {
    pub name: String,
    pub slots: Vec<String>,
}

pub struct Contract {
    pub programs: Vec<Program>,
    pub maps: Vec<Map>,
    /// The thread's counter array (`__type(counters, …)`) and its enum.
    pub counters: Option<(String, SlotEnum)>,
    /// Other slot enums (`__type(index, …)`).
    pub indices: Vec<SlotEnum>,
    /// Counters kept per process in `tgid_values`, and its extra words.
    pub per_process: Option<(u32, Extra)>,
    /// The key and value structs of maps whose values hold counters named
    /// by an enum (`__type(slots, enum …)`: socket's connections): read by
    /// the worker, which checks its own copy of each against this layout.
    pub records: Vec<Record>,
}

/// A second build of an object, which the loader takes instead of the
/// first on some kernels: its file, and the define it is compiled with.
pub struct SecondForm {
    pub file: String,
    pub define: &'static str,
}

impl Contract {
    /// Its possible second builds, by `bpf::Object` field: with its
    /// per-process table allocated on demand (common.bpf.h
    /// `TGID_VALUES_MAP_FLAGS`), if it has one; without task-local storage
    /// (`NO_TASK_STORAGE`), which kernels before 5.11 cannot create, if it
    /// uses it.
    pub fn second_forms(&self, stem: &str) -> [(&'static str, Option<SecondForm>); 2] {
        let form = |suffix, define| SecondForm {
            file: format!("{stem}.{suffix}.bpf.o"),
            define,
        };
        let task_storage = self.maps.iter().any(|map| map.map_type == TASK_STORAGE);
        [
            (
                "on_demand",
                self.per_process
                    .is_some()
                    .then(|| form("on-demand", "-DTGID_VALUES_MAP_FLAGS=BPF_F_NO_PREALLOC")),
            ),
            (
                "without_task_storage",
                task_storage.then(|| form("no-task-storage", "-DNO_TASK_STORAGE")),
            ),
        ]
    }
}

/// A struct's name, its members' byte offsets and its size.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    pub name: String,
    pub offsets: Vec<(String, u32)>,
    pub size: u32,
}

/// `struct tgid_extra`: each member's byte offset, the struct's size, and
/// the values of the enums its members are typed with (flags).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Extra {
    pub offsets: Vec<(String, u32)>,
    pub size: u32,
    pub flags: Vec<(String, i64)>,
}

/// The `Section` variant of a program's ELF section.
fn section_kind(section: &str) -> Option<&'static str> {
    let kind = section.split('/').next()?;
    Some(match kind {
        "tracepoint" | "tp" => "Tracepoint",
        "tp_btf" => "BtfTracepoint",
        "fentry" => "FEntry",
        "fexit" => "FExit",
        "kprobe" => "KProbe",
        "kretprobe" => "KRetProbe",
        "classifier" => "SchedClassifier",
        _ => return None,
    })
}

impl Contract {
    pub fn read(object_bytes: &[u8]) -> Result<Contract, String> {
        let file =
            object::File::parse(object_bytes).map_err(|e| format!("not an ELF object: {e}"))?;
        let mut programs = Vec::new();
        for symbol in file.symbols() {
            if symbol.kind() != SymbolKind::Text || !symbol.is_global() {
                continue;
            }
            let Some(index) = symbol.section_index() else {
                continue;
            };
            let section = file.section_by_index(index).map_err(|e| e.to_string())?;
            let section_name = section.name().map_err(|e| e.to_string())?;
            if section_name == ".text" {
                continue;
            }
            let name = symbol.name().map_err(|e| e.to_string())?.to_owned();
            let kind = section_kind(section_name).ok_or_else(|| {
                format!("program `{name}`: section `{section_name}` of no known kind")
            })?;
            programs.push(Program {
                name,
                section: kind,
            });
        }
        programs.sort_by(|a, b| a.name.cmp(&b.name));
        let btf_section = file
            .section_by_name(".BTF")
            .ok_or("no .BTF section (compile with -g)")?;
        let btf = Btf::parse(btf_section.data().map_err(|e| e.to_string())?)?;
        let mut contract = Contract {
            programs,
            maps: Vec::new(),
            counters: None,
            indices: Vec::new(),
            records: Vec::new(),
            per_process: None,
        };
        for (name, def) in btf.section_vars(".maps")? {
            contract.read_map(&btf, name, def)?;
        }
        contract.maps.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(contract)
    }

    fn read_map(&mut self, btf: &Btf, name: String, def: u32) -> Result<(), String> {
        let Type::Struct { members, .. } = btf.resolve(def)?.1 else {
            return Err(format!("map `{name}`: its definition is not a struct"));
        };
        let mut map = Map {
            name: name.clone(),
            map_type: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
        };
        let (mut key_type, mut value_type) = (None, None);
        for member in members {
            // Every member is a pointer: to an array whose length is the
            // number (__uint), or to the type (__type).
            let Type::Ptr { to } = btf.resolve(member.type_id)?.1 else {
                return Err(format!(
                    "map `{name}`: member `{}` is not a pointer",
                    member.name
                ));
            };
            let number = || match btf.resolve(*to)?.1 {
                Type::Array { count, .. } => Ok(*count),
                _ => Err(format!("map `{name}`: `{}` is not a number", member.name)),
            };
            match member.name.as_str() {
                "type" => map.map_type = number()?,
                "max_entries" => map.max_entries = number()?,
                "map_flags" => {}
                "key" => {
                    map.key_size = btf.size(*to)?;
                    key_type = Some(*to);
                }
                "value" => {
                    map.value_size = btf.size(*to)?;
                    value_type = Some(*to);
                }
                "counters" | "index" => {
                    let slots = slot_enum(btf, *to, &name)?;
                    if slots.slots.len() as u32 != map.max_entries {
                        return Err(format!(
                            "map `{name}`: {} slots in `enum {}` but max_entries {} (declare it after max_entries, with the enum's count)",
                            slots.slots.len(),
                            slots.name,
                            map.max_entries
                        ));
                    }
                    if member.name == "counters" {
                        if let Some((other, _)) = &self.counters {
                            return Err(format!("two counter arrays: `{other}` and `{name}`"));
                        }
                        self.counters = Some((name.clone(), slots));
                    } else if !self.indices.contains(&slots) {
                        self.indices.push(slots);
                    }
                }
                "slots" => {
                    let slots = slot_enum(btf, *to, &name)?;
                    if !self.indices.contains(&slots) {
                        self.indices.push(slots);
                    }
                    let types = key_type
                        .zip(value_type)
                        .ok_or_else(|| format!("map `{name}`: `slots` before `key` and `value`"))?;
                    for id in [types.0, types.1] {
                        let record = record(btf, id, &name)?;
                        if !self.records.contains(&record) {
                            self.records.push(record);
                        }
                    }
                }
                other => return Err(format!("map `{name}`: member `{other}` unknown")),
            }
        }
        if name == "tgid_values" {
            let value = value_type.ok_or("tgid_values without a value")?;
            self.per_process = Some(per_process(btf, value)?);
        }
        self.maps.push(map);
        Ok(())
    }
}

/// `tgid_values`' value: `{ __u64 counters[N]; struct tgid_extra extra; }`.
fn per_process(btf: &Btf, value: u32) -> Result<(u32, Extra), String> {
    let Type::Struct { members, .. } = btf.resolve(value)?.1 else {
        return Err("tgid_values: the value is not a struct".into());
    };
    let member = |name: &str| {
        members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| format!("tgid_values: no member `{name}`"))
    };
    let counters = member("counters")?;
    let Type::Array { count, .. } = btf.resolve(counters.type_id)?.1 else {
        return Err("tgid_values: `counters` is not an array".into());
    };
    let extra = member("extra")?;
    let extra_size = btf.size(extra.type_id)?;
    let Type::Struct { members, .. } = btf.resolve(extra.type_id)?.1 else {
        return Err("tgid_values: `extra` is not a struct".into());
    };
    let mut flags = Vec::new();
    for member in members {
        if let Type::Enum { values, .. } = btf.resolve(member.type_id)?.1 {
            let prefix = common_prefix(values.iter().map(|(n, _)| n.as_str()));
            flags.extend(values.iter().map(|(n, v)| (n[prefix..].to_owned(), *v)));
        }
    }
    let offsets = members
        .iter()
        .map(|m| (m.name.clone(), m.offset / 8))
        .collect();
    Ok((
        *count,
        Extra {
            offsets,
            size: extra_size,
            flags,
        },
    ))
}

/// The layout of struct `id`, the key or value of map `map`.
fn record(btf: &Btf, id: u32, map: &str) -> Result<Record, String> {
    let (id, ty) = btf.resolve(id)?;
    let Type::Struct { size, members } = ty else {
        return Err(format!(
            "map `{map}`: a key or value with slots is not a struct"
        ));
    };
    Ok(Record {
        name: btf.get(id)?.0.clone(),
        offsets: members
            .iter()
            .map(|m| (m.name.clone(), m.offset / 8))
            .collect(),
        size: *size,
    })
}

/// An enum whose enumerators are 0, 1, … in order, the last one the count.
fn slot_enum(btf: &Btf, id: u32, map: &str) -> Result<SlotEnum, String> {
    let (id, ty) = btf.resolve(id)?;
    let Type::Enum { values, .. } = ty else {
        return Err(format!("map `{map}`: its slots are not named by an enum"));
    };
    let name = btf.get(id)?.0.clone();
    let Some(((_, count), slots)) = values.split_last() else {
        return Err(format!("`enum {name}` is empty"));
    };
    for (i, (slot, value)) in slots.iter().enumerate() {
        if *value != i as i64 {
            return Err(format!(
                "`enum {name}`: {slot} = {value}, expected {i} (slots in order, no aliases)"
            ));
        }
    }
    if *count != slots.len() as i64 {
        return Err(format!(
            "`enum {name}`: its last enumerator must be the count, {}",
            slots.len()
        ));
    }
    let prefix = common_prefix(values.iter().map(|(n, _)| n.as_str()));
    Ok(SlotEnum {
        name,
        slots: slots.iter().map(|(n, _)| n[prefix..].to_owned()).collect(),
    })
}

/// The length of the longest prefix up to a `_` that all names share.
fn common_prefix<'a>(mut names: impl Iterator<Item = &'a str>) -> usize {
    let Some(first) = names.next() else { return 0 };
    let mut len = first.len();
    for name in names {
        len = first
            .bytes()
            .zip(name.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    first[..len].rfind('_').map_or(0, |at| at + 1)
}

/// Rust for one object: `pub mod <stem> { OBJECT, counter }`.
pub fn module(stem: &str, contract: &Contract, out: &mut String) {
    let ident = stem.replace('-', "_");
    let _ = writeln!(out, "/// `src/{stem}.bpf.c`, compiled.");
    let _ = writeln!(out, "pub mod {ident} {{");
    let _ = writeln!(out, "    /// The object and what it declares.");
    let _ = writeln!(
        out,
        "    pub const OBJECT: crate::Object = crate::Object {{"
    );
    let _ = writeln!(out, "        name: {stem:?},");
    let _ = writeln!(
        out,
        "        bytes: crate::object!({:?}),",
        format!("{stem}.bpf.o")
    );
    for (field, form) in contract.second_forms(stem) {
        match form {
            Some(form) => {
                let _ = writeln!(
                    out,
                    "        {field}: Some(crate::object!({:?})),",
                    form.file
                );
            }
            None => {
                let _ = writeln!(out, "        {field}: None,");
            }
        }
    }
    match &contract.counters {
        Some((map, slots)) => {
            let _ = writeln!(out, "        counter_map: Some({map:?}),");
            let names: Vec<String> = slots
                .slots
                .iter()
                .map(|s| format!("{:?}", s.to_lowercase()))
                .collect();
            let _ = writeln!(out, "        counters: &[{}],", names.join(", "));
        }
        None => {
            let _ = writeln!(out, "        counter_map: None,");
            let _ = writeln!(out, "        counters: &[],");
        }
    }
    let per_process = contract.per_process.as_ref().map_or(0, |(n, _)| *n);
    let _ = writeln!(out, "        per_process: {per_process},");
    let _ = writeln!(out, "        programs: &[");
    for program in &contract.programs {
        let _ = writeln!(
            out,
            "            crate::Program {{ name: {:?}, section: crate::Section::{} }},",
            program.name, program.section
        );
    }
    let _ = writeln!(out, "        ],");
    let _ = writeln!(out, "        maps: &[");
    for map in &contract.maps {
        let _ = writeln!(
            out,
            "            crate::MapDef {{ name: {:?}, map_type: {}, key_size: {}, value_size: {}, max_entries: {} }},",
            map.name, map.map_type, map.key_size, map.value_size, map.max_entries
        );
    }
    let _ = writeln!(out, "        ],");
    let _ = writeln!(out, "    }};");
    if let Some((map, slots)) = &contract.counters {
        let _ = writeln!(
            out,
            "    /// `enum {}`: the indices of `{map}`.",
            slots.name
        );
        slot_module("counter", slots, "    ", out);
    }
    for record in &contract.records {
        let _ = writeln!(
            out,
            "    /// `struct {}`: its members' byte offsets and its size.",
            record.name
        );
        let _ = writeln!(out, "    pub mod {} {{", record.name);
        layout_consts(&record.offsets, record.size, "        ", out);
        let _ = writeln!(out, "    }}");
    }
    let _ = writeln!(out, "}}");
}

/// A struct's `pub const MEMBER: usize = offset;` lines and its `SIZE`.
fn layout_consts(offsets: &[(String, u32)], size: u32, indent: &str, out: &mut String) {
    for (member, offset) in offsets {
        let _ = writeln!(
            out,
            "{indent}pub const {}: usize = {offset};",
            member.to_uppercase()
        );
    }
    let _ = writeln!(out, "{indent}pub const SIZE: usize = {size};");
}

/// `pub mod <name> { pub const SLOT: u32 = i; … pub const COUNT: u32 }`.
pub fn slot_module(name: &str, slots: &SlotEnum, indent: &str, out: &mut String) {
    let _ = writeln!(out, "{indent}pub mod {name} {{");
    for (i, slot) in slots.slots.iter().enumerate() {
        let _ = writeln!(out, "{indent}    pub const {slot}: u32 = {i};");
    }
    let _ = writeln!(
        out,
        "{indent}    pub const COUNT: u32 = {};",
        slots.slots.len()
    );
    let _ = writeln!(out, "{indent}}}");
}

/// What every object must agree on: the slot enums of shared maps and the
/// per-process entry's extra words. Returns the Rust for them.
pub fn shared(contracts: &[(String, Contract)]) -> Result<String, String> {
    let mut indices: BTreeMap<String, (&str, &SlotEnum)> = BTreeMap::new();
    let mut extra: Option<(&str, &Extra)> = None;
    for (stem, contract) in contracts {
        for slots in &contract.indices {
            match indices.get(&slots.name) {
                Some((other, known)) if *known != slots => {
                    return Err(format!(
                        "`enum {}` differs between {other} and {stem}",
                        slots.name
                    ))
                }
                _ => {
                    indices.insert(slots.name.clone(), (stem, slots));
                }
            }
        }
        if let Some((_, layout)) = &contract.per_process {
            match extra {
                Some((other, known)) if known != layout => {
                    return Err(format!(
                        "`struct tgid_extra` differs between {other} and {stem}"
                    ))
                }
                _ => extra = Some((stem, layout)),
            }
        }
    }
    let mut out = String::new();
    for (name, (_, slots)) in &indices {
        let _ = writeln!(out, "/// `enum {name}` (common.bpf.h).");
        slot_module(name, slots, "", &mut out);
    }
    if let Some((_, layout)) = extra {
        let _ = writeln!(
            out,
            "/// `struct tgid_extra` (common.bpf.h), after a process's counters: byte offsets, size, flags."
        );
        let _ = writeln!(out, "pub mod tgid_extra {{");
        layout_consts(&layout.offsets, layout.size, "    ", &mut out);
        for (flag, value) in &layout.flags {
            let _ = writeln!(out, "    pub const {flag}: u32 = {value};");
        }
        let _ = writeln!(out, "}}");
    }
    Ok(out)
}
