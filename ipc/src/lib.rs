//! The supervisor ↔ worker channel: one memfd ring per worker, carrying
//! frames of fixed-size records (see DESIGN.md, "The ring").

mod record;
mod ring;
pub mod tgid;

pub use record::{FrameHeader, Record, RecordKind, TableStat, FRAME_CONTINUATION, FRAME_MAGIC};
pub use ring::{
    create, frame_bytes, max_records, Pushed, RingError, RingReader, RingWriter, LAYOUT_VERSION,
    MAX_CAPACITY, MIN_CAPACITY, RING_MAGIC,
};
