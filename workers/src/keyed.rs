//! Counters per key (a disk, an IRQ): a thread's declaration of them, and
//! the worker's reader of the kernel map that holds them. The worker also
//! names the keys (from `/proc`, as the original does) and sends the names
//! with the counters, so the supervisor draws the charts from the thread's
//! table and what the worker sent, and reads nothing of the system itself.

use std::collections::BTreeMap;
use std::time::Duration;

use aya::maps::MapData;
use aya::Ebpf;
use aya_obj::generated::bpf_map_type;
use ipc::{name_parts, Message, KEY_NAME_PARTS};

use crate::chart::{DimDef, DimValue, Look};
use crate::loader::{take_map_data, AttachError, CollectError};
use crate::maps::HashReader;
use crate::thread::WorkerConfig;

/// A thread's keyed counters, from a map of the thread's object.
#[derive(Debug, Clone, Copy)]
pub struct Keyed {
    pub map: &'static str,
    pub source: KeySource,
    pub charts: KeyedCharts,
}

/// How the worker reads keyed counters.
#[derive(Debug, Clone, Copy)]
pub enum KeySource {
    /// The map is a hash or an array from a `u32` key to `u64` slots, read by
    /// [`KeyedReader`]; `names` names its keys as charts show them, in the
    /// worker (`None`: the key is gone, its chart becomes obsolete).
    Counters {
        names: fn(&[u32]) -> Vec<Option<String>>,
    },
    /// The thread reads the map itself (socket's connections, summed into
    /// keys it names). `entries`: the map's size under this configuration,
    /// 0 when off; the loader sizes the map and sets the object's
    /// `const volatile __u32 keyed_on` (bpf::KEYED_ON) from it.
    /// `retire`: when the thread's worker retires keys, the supervisor
    /// retires those of a dead worker that its successor never names.
    Reader {
        entries: fn(&WorkerConfig) -> u32,
        open: fn(MapData, &WorkerConfig) -> Box<dyn KeyReader>,
        retire: fn(&WorkerConfig) -> Option<Retire>,
    },
}

/// Keys a worker retires after `after` without use, but for the `kept`
/// ones: the supervisor retires the keys an earlier worker named that the
/// current one has not named within `after` of its predecessor's end, as
/// that worker would have (it knows only the keys it met itself).
#[derive(Debug, Clone, Copy)]
pub struct Retire {
    pub after: Duration,
    pub kept: fn(u64) -> bool,
}

/// A thread's own reader of its keyed map (see [`KeySource::Reader`]).
pub trait KeyReader: Send {
    /// Appends this update's keyed counters and key names, as
    /// [`KeyedReader::collect`] does.
    fn collect(&mut self, out: &mut Vec<Message>) -> Result<(), CollectError>;

    /// The live table the supervisor asked for (a Netdata Function), when
    /// the reader has one: the network viewer's connections.
    fn rows(&mut self, _out: &mut Vec<ipc::ConnectionRow>) -> Result<(), CollectError> {
        Ok(())
    }
}

/// How keyed counters are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedCharts {
    /// One chart per key, `<prefix>.<name>`, in the family of that name:
    /// its dimensions read the key's slots.
    PerKey {
        prefix: &'static str,
        look: Look,
        dims: &'static [DimDef],
    },
    /// Several charts per key, one per entry of `charts`, the key's name
    /// before each one's id, title and family (`ext4` + `_read_latency`);
    /// the `n`th chart of key `k` at its look's priority plus
    /// `k * charts.len() + n`. With `switched`, key `k` is drawn
    /// only while the thread collects its counter `k` (a `filesystem.conf`
    /// switch).
    Named {
        prefix: &'static str,
        charts: &'static [KeyChart],
        switched: bool,
    },
    /// Dimensions per key on charts of the thread's table, after their
    /// own: one per entry of the list for each key it takes.
    Dims(&'static [KeyDim]),
}

/// A dimension of each key in `keys` on chart `chart`: id and name the
/// key's name and `suffix`, its value `value` of the key's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDim {
    pub chart: &'static str,
    /// The first and last key it takes.
    pub keys: (u64, u64),
    pub suffix: &'static str,
    pub value: DimValue,
    pub multiplier: i64,
}

impl KeyDim {
    /// Every key's dimension `name` on `chart`, reading `value`.
    pub const fn each(chart: &'static str, value: DimValue) -> KeyDim {
        KeyDim {
            chart,
            keys: (0, u64::MAX),
            suffix: "",
            value,
            multiplier: 1,
        }
    }

    pub fn takes(&self, key: u64) -> bool {
        (self.keys.0..=self.keys.1).contains(&key)
    }
}

/// One of the charts each key has under [`KeyedCharts::Named`]: `look`'s
/// title and family follow the key's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChart {
    pub id: &'static str,
    pub look: Look,
    pub dims: &'static [DimDef],
}

/// Names are read again this often (in updates) even without a new key:
/// a disk may have gone (the original drops its chart after 10 updates).
const RENAME_UPDATES: u32 = 10;

/// The worker's reader of a [`KeySource::Counters`] map: a hash or an
/// array from a `u32` key to `u64` slots; slot `i` of key `k` is its keyed counter `i`
/// of key `k + 1` (key 0 is the plain counters'). One copy for all CPUs
/// (atomic adds) where events are rare enough (a disk's completions, an
/// IRQ, an md flush): per-CPU copies would grow the kernel's memory with
/// every possible CPU. Per CPU where every CPU may count into the same slot
/// at syscall rates (a filesystem's reads), which one shared cache line
/// would serialize.
pub struct KeyedReader {
    map_name: &'static str,
    names: fn(&[u32]) -> Vec<Option<String>>,
    map: HashReader,
    /// Per-CPU copies per value (1: a shared hash).
    cpus: usize,
    slots: usize,
    totals: Vec<u64>,
    /// The name sent for each key.
    named: BTreeMap<u32, Option<String>>,
    updates: u32,
}

impl KeyedReader {
    pub fn new(
        ebpf: &mut Ebpf,
        map_name: &'static str,
        names: fn(&[u32]) -> Vec<Option<String>>,
        object: &bpf::Object,
    ) -> Result<KeyedReader, AttachError> {
        let def = object.find_map(map_name).ok_or(AttachError::Map {
            map: map_name,
            detail: "missing from the object".into(),
        })?;
        let per_cpu = [
            bpf_map_type::BPF_MAP_TYPE_PERCPU_HASH,
            bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY,
        ];
        let cpus = if per_cpu.iter().any(|&kind| kind as u32 == def.map_type) {
            aya::util::nr_cpus().map_err(|(path, e)| AttachError::Map {
                map: map_name,
                detail: format!("reading {path}: {e}"),
            })?
        } else {
            1
        };
        let slot_bytes = (def.value_size as usize).div_ceil(8) * 8;
        let map: MapData = take_map_data(ebpf, map_name)?;
        Ok(KeyedReader {
            map_name,
            names,
            map: HashReader::new(map, slot_bytes * cpus),
            cpus,
            slots: def.value_size as usize / 8,
            totals: Vec::new(),
            named: BTreeMap::new(),
            updates: 0,
        })
    }

    /// The keys' cumulative counters (those not 0: a counter never sent
    /// reads 0), after the names of keys that are new or renamed.
    pub fn collect(&mut self, out: &mut Vec<Message>) -> Result<(), CollectError> {
        let (slots, cpus) = (self.slots, self.cpus);
        let mut counters = Vec::new();
        let mut keys = Vec::new();
        let totals = &mut self.totals;
        self.map
            .walk(|key, words| {
                totals.clear();
                totals.resize(slots, 0);
                for copy in words.chunks_exact(words.len() / cpus) {
                    for (total, value) in totals.iter_mut().zip(copy) {
                        *total += value;
                    }
                }
                // A key is there from its first event on, as a hash's
                // entry is: an array has every key from the start.
                if totals.iter().all(|&total| total == 0) {
                    return;
                }
                keys.push(key);
                for (index, &total) in totals.iter().enumerate().filter(|(_, t)| **t > 0) {
                    counters.push(Message::Keyed {
                        index: index as u32,
                        key: u64::from(key) + 1,
                        total,
                    });
                }
            })
            .map_err(|source| CollectError::Walk {
                map: self.map_name,
                source,
            })?;
        self.updates += 1;
        let new = keys.iter().any(|key| !self.named.contains_key(key));
        if new || self.updates >= RENAME_UPDATES {
            self.updates = 0;
            self.rename(&keys, out);
        }
        out.extend(counters);
        Ok(())
    }

    /// Sends the names that changed.
    fn rename(&mut self, keys: &[u32], out: &mut Vec<Message>) {
        let names = (self.names)(keys);
        for (&key, name) in keys.iter().zip(names) {
            if self.named.get(&key) == Some(&name) {
                continue;
            }
            send_name(u64::from(key) + 1, name.as_deref().unwrap_or(""), out);
            self.named.insert(key, name);
        }
    }
}

impl KeyReader for KeyedReader {
    fn collect(&mut self, out: &mut Vec<Message>) -> Result<(), CollectError> {
        KeyedReader::collect(self, out)
    }
}

/// The messages that name `key` (`""`: the key is gone).
pub fn send_name(key: u64, name: &str, out: &mut Vec<Message>) {
    for (part, bytes) in name_parts(name.as_bytes(), KEY_NAME_PARTS) {
        out.push(Message::KeyName { key, part, bytes });
    }
}
