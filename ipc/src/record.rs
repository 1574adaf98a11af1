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
    pub reserved: u32,
}
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

#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A system-wide cumulative counter of this worker's generation.
    Counter = 1,
    /// A cumulative counter of one key (a device, an IRQ number, …).
    Keyed = 2,
}

impl TryFrom<u32> for RecordKind {
    type Error = u32;
    fn try_from(raw: u32) -> Result<Self, u32> {
        match raw {
            1 => Ok(RecordKind::Counter),
            2 => Ok(RecordKind::Keyed),
            other => Err(other),
        }
    }
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
        Record {
            kind: RecordKind::Keyed as u32,
            index,
            key,
            value,
        }
    }
}
