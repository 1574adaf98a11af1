//! What a frame carries: fixed-size records on the wire, each decoded once
//! into a [`Message`]. Records hold only indices into the thread's own
//! tables: supervisor and workers are the same binary, so names of
//! counters never travel.

use bytemuck::{Pod, Zeroable};

/// Marks the start of every frame; a frame without it means the ring is garbled.
pub const FRAME_MAGIC: u32 = 0x4652_4d31; // "FRM1"

/// Starts every frame in the ring.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct FrameHeader {
    pub magic: u32,
    pub record_count: u32,
    /// The generation the supervisor gave this worker; stale frames are refused.
    pub generation: u64,
    /// Increases by one per frame the worker tried to write, dropped ones included.
    pub sequence: u64,
    /// Thread-specific status word; today the index of the attach variant in use.
    pub status: u32,
    /// [`FRAME_CONTINUATION`] or 0.
    pub flags: u32,
}

/// A frame sent between two updates with per-process records that did not
/// fit into the update's frame: it carries on the previous update and does
/// not start a new one.
pub const FRAME_CONTINUATION: u32 = 1;
const _: () = assert!(std::mem::size_of::<FrameHeader>() == 32);

/// One value of a frame, as it travels.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Record {
    /// What the record means (see [`Message`] for the kinds).
    pub kind: u32,
    pub index: u32,
    pub key: u64,
    pub value: u64,
}
const _: () = assert!(std::mem::size_of::<Record>() == 24);

/// The kernel's largest PID (`PID_MAX_LIMIT`): TGIDs and parents above it
/// are garbage.
pub const PID_MAX_LIMIT: u32 = 4 << 20;

/// Keys of keyed counters are below this (they are a map's `u32` key plus
/// one); the reader keeps the bits above for keys of its own.
pub const KEY_LIMIT: u64 = 1 << 62;

/// Bytes of a process name (the kernel's `comm`), in two records.
pub const PROCESS_NAME_PARTS: u32 = 2;
/// Bytes of a key's name, in up to this many records of 8 bytes.
pub const KEY_NAME_PARTS: u32 = 8;

/// A record, decoded. The per-process messages carry a process (thread
/// group id); a worker sends a process's `ProcessName`, `ProcessStart` and
/// `V1Cgroup` records, then its `Born`, before its deltas, and `Exit` after its last ones; a key's
/// `KeyName` parts before or with its first counters (DESIGN.md, "Data
/// path").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// A system-wide cumulative counter of this worker's generation.
    Counter { index: u32, total: u64 },
    /// A cumulative counter of one key (a device, an IRQ number, …).
    Keyed { index: u32, key: u64, total: u64 },
    /// Bytes `8 * part ..` of the name of `key`, NUL-padded; a name of
    /// zeroes only: the key is gone.
    KeyName { key: u64, part: u32, bytes: [u8; 8] },
    /// `key` is gone for good: its name and counters are forgotten, and a
    /// key of that number later is a new one, counting from zero (the
    /// network viewer's retired names).
    KeyGone { key: u64 },
    /// The worker holds process `tgid` from now on (`renamed`: it held it
    /// already, and it has a new name since, by exec or a rename: its group
    /// may change): its parent and cgroup id in the unified hierarchy (0:
    /// unknown).
    Born {
        tgid: u32,
        parent: u32,
        cgroup: u64,
        renamed: bool,
    },
    /// Bytes `8 * part ..` of process `tgid`'s name, as the kernel had it.
    ProcessName {
        tgid: u32,
        part: u32,
        bytes: [u8; 8],
    },
    /// When process `tgid` started (its leader's start time, kernel
    /// nanoseconds): a later process with the same TGID has another.
    ProcessStart { tgid: u32, start: u64 },
    /// Process `tgid`'s cgroup id in the first v1 hierarchy Netdata
    /// reads, and that hierarchy's kernel id (hybrid hosts; sent when
    /// there is one).
    V1Cgroup { tgid: u32, hierarchy: u32, id: u64 },
    /// `events` more of per-process counter `counter` of process `tgid`
    /// since the last record of that counter: a delta, sent once.
    Delta {
        tgid: u32,
        counter: u32,
        events: u64,
    },
    /// Process `tgid` has ended: no more records of it follow.
    Exit { tgid: u32 },
    /// A cumulative statistic of the worker's per-process table.
    TableStat { stat: TableStat, total: u64 },
    /// One of the worker's programs, by the kernel's id: the supervisor
    /// reads what it costs the kernel (every update names them all).
    Program { id: u32 },
}

/// The statistics of a per-process table.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStat {
    /// Processes the kernel programs entered into the table.
    Inserted = 0,
    /// Entries of ended processes the worker removed.
    Removed = 1,
    /// Events not attributed to their process because the table was full.
    Full = 2,
}

impl TableStat {
    pub const ALL: [TableStat; 3] = [TableStat::Inserted, TableStat::Removed, TableStat::Full];
}

/// A record no worker of ours writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record kind {0}")]
    Kind(u32),
    #[error("a counter record with key {0}")]
    KeyedCounter(u64),
    #[error("a keyed record with key {0}")]
    Key(u64),
    #[error("a {kind} record of process {tgid}")]
    Process { kind: &'static str, tgid: u64 },
    #[error("process {tgid} with parent {parent}")]
    Parent { tgid: u64, parent: u32 },
    #[error("name part {0}")]
    NamePart(u32),
    #[error("a {kind} record with index {index}")]
    Index { kind: &'static str, index: u32 },
    #[error("an exit record with value {0}")]
    ExitValue(u64),
    #[error("a table statistic with key {0}")]
    KeyedStat(u64),
    #[error("table statistic {0}")]
    TableStat(u32),
    #[error("a program record of id {0}")]
    Program(u64),
    #[error("a key-gone record with index {index} and value {value}")]
    KeyGone { index: u32, value: u64 },
}

const COUNTER: u32 = 1;
const KEYED: u32 = 2;
const BORN: u32 = 3;
const RENAMED: u32 = 4;
const PROCESS_NAME: u32 = 5;
const DELTA: u32 = 6;
const EXIT: u32 = 7;
const TABLE_STAT: u32 = 8;
const KEY_NAME: u32 = 9;
const PROCESS_START: u32 = 10;
const V1_CGROUP: u32 = 11;
const PROGRAM: u32 = 12;
const KEY_GONE: u32 = 13;

fn tgid(kind: &'static str, key: u64) -> Result<u32, RecordError> {
    if key == 0 || key > u64::from(PID_MAX_LIMIT) {
        return Err(RecordError::Process { kind, tgid: key });
    }
    Ok(key as u32)
}

fn key(key: u64) -> Result<u64, RecordError> {
    if key == 0 || key >= KEY_LIMIT {
        return Err(RecordError::Key(key));
    }
    Ok(key)
}

impl TryFrom<Record> for Message {
    type Error = RecordError;

    fn try_from(r: Record) -> Result<Message, RecordError> {
        let bytes = r.value.to_ne_bytes();
        Ok(match r.kind {
            COUNTER if r.key != 0 => return Err(RecordError::KeyedCounter(r.key)),
            COUNTER => Message::Counter {
                index: r.index,
                total: r.value,
            },
            KEYED => Message::Keyed {
                index: r.index,
                key: key(r.key)?,
                total: r.value,
            },
            KEY_NAME if r.index >= KEY_NAME_PARTS => return Err(RecordError::NamePart(r.index)),
            KEY_NAME => Message::KeyName {
                key: key(r.key)?,
                part: r.index,
                bytes,
            },
            KEY_GONE if r.index != 0 || r.value != 0 => {
                return Err(RecordError::KeyGone {
                    index: r.index,
                    value: r.value,
                })
            }
            KEY_GONE => Message::KeyGone { key: key(r.key)? },
            BORN | RENAMED => {
                let tgid = tgid("born", r.key)?;
                if r.index > PID_MAX_LIMIT {
                    return Err(RecordError::Parent {
                        tgid: r.key,
                        parent: r.index,
                    });
                }
                Message::Born {
                    tgid,
                    parent: r.index,
                    cgroup: r.value,
                    renamed: r.kind == RENAMED,
                }
            }
            PROCESS_NAME if r.index >= PROCESS_NAME_PARTS => {
                return Err(RecordError::NamePart(r.index))
            }
            PROCESS_NAME => Message::ProcessName {
                tgid: tgid("name", r.key)?,
                part: r.index,
                bytes,
            },
            PROCESS_START | EXIT if r.index != 0 => {
                return Err(RecordError::Index {
                    kind: if r.kind == EXIT { "exit" } else { "start" },
                    index: r.index,
                })
            }
            V1_CGROUP => Message::V1Cgroup {
                tgid: tgid("v1 cgroup", r.key)?,
                hierarchy: r.index,
                id: r.value,
            },
            PROCESS_START => Message::ProcessStart {
                tgid: tgid("start", r.key)?,
                start: r.value,
            },
            DELTA => Message::Delta {
                tgid: tgid("delta", r.key)?,
                counter: r.index,
                events: r.value,
            },
            EXIT if r.value != 0 => return Err(RecordError::ExitValue(r.value)),
            EXIT => Message::Exit {
                tgid: tgid("exit", r.key)?,
            },
            TABLE_STAT if r.key != 0 => return Err(RecordError::KeyedStat(r.key)),
            TABLE_STAT => Message::TableStat {
                stat: *TableStat::ALL
                    .get(r.index as usize)
                    .ok_or(RecordError::TableStat(r.index))?,
                total: r.value,
            },
            PROGRAM
                if r.index != 0 || r.value != 0 || r.key == 0 || r.key > u64::from(u32::MAX) =>
            {
                return Err(RecordError::Program(r.key))
            }
            PROGRAM => Message::Program { id: r.key as u32 },
            other => return Err(RecordError::Kind(other)),
        })
    }
}

impl From<Message> for Record {
    fn from(message: Message) -> Record {
        let record = |kind, index, key, value| Record {
            kind,
            index,
            key,
            value,
        };
        match message {
            Message::Counter { index, total } => record(COUNTER, index, 0, total),
            Message::Keyed { index, key, total } => record(KEYED, index, key, total),
            Message::KeyName { key, part, bytes } => {
                record(KEY_NAME, part, key, u64::from_ne_bytes(bytes))
            }
            Message::KeyGone { key } => record(KEY_GONE, 0, key, 0),
            Message::Born {
                tgid,
                parent,
                cgroup,
                renamed,
            } => record(
                if renamed { RENAMED } else { BORN },
                parent,
                tgid.into(),
                cgroup,
            ),
            Message::ProcessName { tgid, part, bytes } => {
                record(PROCESS_NAME, part, tgid.into(), u64::from_ne_bytes(bytes))
            }
            Message::ProcessStart { tgid, start } => record(PROCESS_START, 0, tgid.into(), start),
            Message::V1Cgroup {
                tgid,
                hierarchy,
                id,
            } => record(V1_CGROUP, hierarchy, tgid.into(), id),
            Message::Delta {
                tgid,
                counter,
                events,
            } => record(DELTA, counter, tgid.into(), events),
            Message::Exit { tgid } => record(EXIT, 0, tgid.into(), 0),
            Message::TableStat { stat, total } => record(TABLE_STAT, stat as u32, 0, total),
            Message::Program { id } => record(PROGRAM, 0, id.into(), 0),
        }
    }
}

/// A name cut into the 8-byte parts of `KeyName` or `ProcessName`
/// records, at most `parts` of them (longer names are cut), NUL-padded;
/// an empty name is one part of zeroes.
pub fn name_parts(name: &[u8], parts: u32) -> impl Iterator<Item = (u32, [u8; 8])> + '_ {
    let kept = &name[..name.len().min(8 * parts as usize)];
    let count = kept.len().div_ceil(8).max(1);
    (0..count).map(move |part| {
        let mut bytes = [0u8; 8];
        let chunk = kept.get(8 * part..).unwrap_or(&[]);
        let n = chunk.len().min(8);
        bytes[..n].copy_from_slice(&chunk[..n]);
        (part as u32, bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bytes, a record decodes to a message that encodes
        /// back to the same record, or it is refused.
        #[test]
        fn decoding_is_exact_or_refuses(
            kind in 0u32..15,
            index in prop_oneof![0u32..10, any::<u32>()],
            key in prop_oneof![Just(0u64), 1u64..=u64::from(PID_MAX_LIMIT), any::<u64>()],
            value in any::<u64>(),
        ) {
            let record = Record { kind, index, key, value };
            if let Ok(message) = Message::try_from(record) {
                prop_assert_eq!(Record::from(message), record);
            }
        }
    }

    #[test]
    fn refuses_what_no_worker_writes() {
        let bad = |kind, index, key| {
            Message::try_from(Record {
                kind,
                index,
                key,
                value: 1,
            })
        };
        assert_eq!(bad(0, 0, 0), Err(RecordError::Kind(0)));
        assert_eq!(bad(COUNTER, 0, 3), Err(RecordError::KeyedCounter(3)));
        assert_eq!(bad(KEYED, 0, 0), Err(RecordError::Key(0)));
        assert_eq!(bad(KEYED, 0, KEY_LIMIT), Err(RecordError::Key(KEY_LIMIT)));
        assert_eq!(
            bad(DELTA, 0, 0),
            Err(RecordError::Process {
                kind: "delta",
                tgid: 0
            })
        );
        assert!(bad(BORN, PID_MAX_LIMIT + 1, 5).is_err());
        assert_eq!(bad(PROCESS_NAME, 2, 5), Err(RecordError::NamePart(2)));
        assert_eq!(bad(TABLE_STAT, 3, 0), Err(RecordError::TableStat(3)));
        assert_eq!(
            bad(PROCESS_START, 1, 5),
            Err(RecordError::Index {
                kind: "start",
                index: 1
            })
        );
        assert_eq!(bad(EXIT, 0, 5), Err(RecordError::ExitValue(1)));
        assert_eq!(bad(PROGRAM, 0, 5), Err(RecordError::Program(5)));
        assert_eq!(
            bad(KEY_GONE, 0, 5),
            Err(RecordError::KeyGone { index: 0, value: 1 })
        );
    }

    #[test]
    fn names_are_cut_into_padded_parts() {
        let parts: Vec<(u32, [u8; 8])> = name_parts(b"0123456789", 8).collect();
        assert_eq!(parts, [(0, *b"01234567"), (1, *b"89\0\0\0\0\0\0")]);
        assert_eq!(name_parts(b"", 8).collect::<Vec<_>>(), [(0, [0; 8])]);
        assert_eq!(name_parts(&[b'x'; 100], 2).count(), 2);
    }
}
