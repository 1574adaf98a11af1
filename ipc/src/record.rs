//! What a frame carries. Records hold only indices into the thread's own
//! tables: supervisor and workers are the same binary, so names never travel.

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

/// One value of a frame.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Record {
    /// A [`RecordKind`] as `u32`; the reader rejects unknown kinds.
    pub kind: u32,
    /// Index into the thread's counter table.
    pub index: u32,
    /// Zero for [`RecordKind::Counter`]; the device, IRQ or TGID otherwise.
    pub key: u64,
    pub value: u64,
}
const _: () = assert!(std::mem::size_of::<Record>() == 24);

/// What a record means. The per-process kinds (`Tgid*`) carry a process
/// (thread group id) in `key`; a worker sends a process's `TgidName`
/// records, then its `TgidBorn` (or `TgidExec`), before its deltas, and
/// `TgidExit` after its last ones (DESIGN.md, "Data path").
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A system-wide cumulative counter of this worker's generation.
    Counter = 1,
    /// A cumulative counter of one key (a device, an IRQ number, …).
    Keyed = 2,
    /// The worker holds process `key` from now on: `index` is its parent's
    /// TGID, `value` its cgroup id in the unified hierarchy (0: unknown).
    TgidBorn = 3,
    /// Process `key` called exec: as `TgidBorn`, and its group may change.
    TgidExec = 4,
    /// Bytes `8 * index .. 8 * index + 8` of process `key`'s name, as the
    /// kernel had it (`index` 0 or 1; NUL-padded).
    TgidName = 5,
    /// `value` more events of per-process counter `index` of process `key`
    /// since the last record of that counter: a delta, sent once.
    TgidDelta = 6,
    /// Process `key` has ended: no more records of it follow.
    TgidExit = 7,
    /// A cumulative statistic of the worker's per-process table, by
    /// [`TableStat`] index.
    TableStat = 8,
}

impl TryFrom<u32> for RecordKind {
    type Error = u32;
    fn try_from(raw: u32) -> Result<Self, u32> {
        Ok(match raw {
            1 => RecordKind::Counter,
            2 => RecordKind::Keyed,
            3 => RecordKind::TgidBorn,
            4 => RecordKind::TgidExec,
            5 => RecordKind::TgidName,
            6 => RecordKind::TgidDelta,
            7 => RecordKind::TgidExit,
            8 => RecordKind::TableStat,
            other => return Err(other),
        })
    }
}

/// The statistics of a per-process table, as `TableStat` indices.
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

impl Record {
    pub fn counter(index: u32, value: u64) -> Record {
        Record {
            kind: RecordKind::Counter as u32,
            index,
            key: 0,
            value,
        }
    }

    /// Key 0 is reserved for plain counters.
    pub fn keyed(index: u32, key: u64, value: u64) -> Record {
        Record::new(RecordKind::Keyed, index, key, value)
    }

    pub fn new(kind: RecordKind, index: u32, key: u64, value: u64) -> Record {
        Record {
            kind: kind as u32,
            index,
            key,
            value,
        }
    }
}
