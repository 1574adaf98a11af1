//! A single-producer single-consumer byte ring in a memfd shared by one
//! worker (writer) and the supervisor (reader).
//!
//! The writer is never trusted: the reader keeps its own copy of the capacity
//! and of the tail, reads only `head`, `heartbeat`, `dropped` and the
//! worker's flags from shared memory, and validates every frame before
//! handing it out. Frames are written whole or not at all: when the ring is
//! full the frame is dropped and counted, never half-written.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::Zeroable;
use memmap2::MmapMut;
use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::answer::ConnectionRow;
use crate::record::{FrameHeader, Message, Record, RecordError, FRAME_MAGIC};

/// Identifies our rings ("EBPFRING").
pub const RING_MAGIC: u64 = 0x4542_5046_5249_4e47;
/// Bumped whenever the header, frame or record layout changes.
pub const LAYOUT_VERSION: u32 = 6;

const HEADER_BYTES: usize = 128;
const FRAME_HEADER_BYTES: usize = std::mem::size_of::<FrameHeader>();
const RECORD_BYTES: usize = std::mem::size_of::<Record>();
const ROW_BYTES: usize = std::mem::size_of::<ConnectionRow>();
/// Smallest useful ring: one frame of a handful of records.
pub const MIN_CAPACITY: usize = 1024;
/// Keeps a garbled `record_count` from asking for absurd allocations.
pub const MAX_CAPACITY: usize = 256 << 20;

#[repr(C)]
struct SharedHeader {
    magic: u64,
    version: u32,
    capacity: u32,
    generation: u64,
    heartbeat: AtomicU64,
    /// Bytes ever written (producer-owned).
    head: AtomicU64,
    /// Bytes ever consumed (consumer-owned).
    tail: AtomicU64,
    dropped: AtomicU64,
    /// Not 0 once the worker is stopping (releasing its links).
    stopping: AtomicU64,
    /// Not 0 while the worker holds messages that did not fit (written
    /// after the frame that left them out).
    backlog: AtomicU64,
    /// Rows the answer area after the ring holds (0: none).
    answer_slots: u64,
    /// The last request the supervisor made (supervisor-owned).
    request: AtomicU64,
    /// The request the answer area answers (worker-owned, published after
    /// the rows and their count).
    answered: AtomicU64,
    /// Rows of that answer.
    answer_rows: AtomicU64,
}
const _: () = assert!(std::mem::size_of::<SharedHeader>() <= HEADER_BYTES);

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("ring I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("ring system call: {0}")]
    Sys(#[from] nix::Error),
    #[error("ring capacity {0} is outside {MIN_CAPACITY}..={MAX_CAPACITY} or not a multiple of 8")]
    BadCapacity(usize),
    #[error("not a ring of this version (magic {magic:#x}, version {version})")]
    NotARing { magic: u64, version: u32 },
    #[error("garbled ring: {0}")]
    Garbled(#[from] Garbled),
    #[error("an answer of {rows} rows; the answer area holds {slots}")]
    AnswerTooLarge { rows: u64, slots: u64 },
    #[error("frame of {records} records needs {bytes} bytes; the ring holds {capacity}")]
    FrameTooLarge {
        records: usize,
        bytes: usize,
        capacity: usize,
    },
}

/// What a ring held that no worker of ours writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Garbled {
    #[error("head {head} is more than the capacity ahead of tail {tail}")]
    HeadAhead { head: u64, tail: u64 },
    #[error("tail {tail} is behind head {head} by more than the capacity")]
    TailBehind { head: u64, tail: u64 },
    #[error("{0} bytes pending, less than a frame header")]
    Short(u64),
    #[error("frame magic {magic:#x} at offset {offset}")]
    Magic { magic: u32, offset: u64 },
    #[error("frame of generation {frame} in a ring of generation {ring}")]
    Generation { frame: u64, ring: u64 },
    #[error("frame claims {records} records but only {pending} bytes are pending")]
    Count { records: u32, pending: u64 },
    #[error("frame sequence {sequence} after {last}")]
    Sequence { sequence: u64, last: u64 },
    #[error("{0}")]
    Record(#[from] RecordError),
}

/// How many bytes a frame with `records` records takes in the ring.
pub fn frame_bytes(records: usize) -> usize {
    FRAME_HEADER_BYTES + records * RECORD_BYTES
}

/// The largest frame (in records) a ring of `capacity` bytes accepts.
pub fn max_records(capacity: usize) -> usize {
    capacity.saturating_sub(FRAME_HEADER_BYTES) / RECORD_BYTES
}

/// The mapping plus typed access to its header.
struct Mapping {
    map: MmapMut,
    capacity: usize,
    answer_slots: usize,
}

impl Mapping {
    fn header(&self) -> &SharedHeader {
        // SAFETY: the mapping is page-aligned and at least HEADER_BYTES long;
        // the atomics are the only fields mutated after creation.
        unsafe { &*(self.map.as_ptr() as *const SharedHeader) }
    }

    fn data(&self) -> *const u8 {
        // SAFETY: HEADER_BYTES + capacity <= mapping length.
        unsafe { self.map.as_ptr().add(HEADER_BYTES) }
    }

    /// The answer area, after the ring's bytes.
    fn answers(&self) -> &[u8] {
        let start = HEADER_BYTES + self.capacity;
        &self.map[start..start + self.answer_slots * ROW_BYTES]
    }

    fn answers_mut(&mut self) -> &mut [u8] {
        let start = HEADER_BYTES + self.capacity;
        &mut self.map[start..start + self.answer_slots * ROW_BYTES]
    }

    fn data_mut(&mut self) -> *mut u8 {
        // SAFETY: as in `data`.
        unsafe { self.map.as_mut_ptr().add(HEADER_BYTES) }
    }

    /// Copies `dst.len()` bytes starting at ring position `pos`, wrapping.
    fn read_at(&self, pos: u64, dst: &mut [u8]) {
        let start = (pos % self.capacity as u64) as usize;
        let first = dst.len().min(self.capacity - start);
        // SAFETY: both ranges lie inside the data area; the other process may
        // write concurrently only to bytes outside [tail, head), which we do
        // not read.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(start), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data(),
                dst.as_mut_ptr().add(first),
                dst.len() - first,
            );
        }
    }

    fn write_at(&mut self, pos: u64, src: &[u8]) {
        let start = (pos % self.capacity as u64) as usize;
        let first = src.len().min(self.capacity - start);
        // SAFETY: as in `read_at`, for the free part of the ring.
        unsafe {
            let data = self.data_mut();
            std::ptr::copy_nonoverlapping(src.as_ptr(), data.add(start), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), data, src.len() - first);
        }
    }
}

/// Creates a ring in a new memfd. The supervisor keeps the reader and hands
/// the fd to the worker, which opens it with [`RingWriter::open`].
pub fn create(capacity: usize, generation: u64) -> Result<(RingReader, OwnedFd), RingError> {
    create_answering(capacity, 0, generation)
}

/// [`create`], with an answer area of `answer_slots` rows after the ring
/// (only the pages a worker writes are resident).
pub fn create_answering(
    capacity: usize,
    answer_slots: usize,
    generation: u64,
) -> Result<(RingReader, OwnedFd), RingError> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) || !capacity.is_multiple_of(8) {
        return Err(RingError::BadCapacity(capacity));
    }
    let fd = memfd_create(c"ebpf-collector-ring", MFdFlags::MFD_CLOEXEC)?;
    nix::unistd::ftruncate(
        fd.as_fd(),
        (HEADER_BYTES + capacity + answer_slots * ROW_BYTES) as i64,
    )?;
    let file = File::from(fd.try_clone()?);
    // SAFETY: a fresh memfd that only we and our worker map.
    let mut map = unsafe { MmapMut::map_mut(&file)? };
    // SAFETY: the fresh mapping is zeroed, page-aligned and large enough.
    let header = unsafe { &mut *(map.as_mut_ptr() as *mut SharedHeader) };
    header.magic = RING_MAGIC;
    header.version = LAYOUT_VERSION;
    header.capacity = capacity as u32;
    header.generation = generation;
    header.answer_slots = answer_slots as u64;
    let reader = RingReader {
        ring: Mapping {
            map,
            capacity,
            answer_slots,
        },
        tail: 0,
        generation,
        last_sequence: None,
        scratch: Vec::new(),
    };
    Ok((reader, fd))
}

/// The supervisor's end.
pub struct RingReader {
    ring: Mapping,
    tail: u64,
    generation: u64,
    last_sequence: Option<u64>,
    scratch: Vec<u8>,
}

impl RingReader {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A counter the worker bumps while it is alive and not stuck.
    pub fn heartbeat(&self) -> u64 {
        self.ring.header().heartbeat.load(Ordering::Relaxed)
    }

    /// Whether the worker said it is stopping.
    pub fn stopping(&self) -> bool {
        self.ring.header().stopping.load(Ordering::Relaxed) != 0
    }

    /// Frames the worker could not write because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.ring.header().dropped.load(Ordering::Relaxed)
    }

    /// Whether the ring must be read again soon, not at the next update:
    /// frames wait in it, or the worker holds messages that did not fit
    /// and writes them once there is room.
    pub fn behind(&self) -> bool {
        let header = self.ring.header();
        // The flag first: a frame written before the flag was cleared is
        // then seen in `head`.
        header.backlog.load(Ordering::Acquire) != 0
            || header.head.load(Ordering::Acquire) != self.tail
    }

    /// Whether the ring has an answer area.
    pub fn answers(&self) -> bool {
        self.ring.answer_slots > 0
    }

    /// Asks the worker for its live table; it answers when it next wakes
    /// ([`crate::REQUEST_SIGNAL`] wakes it). The request's number, for
    /// [`RingReader::answer`].
    pub fn ask(&self) -> u64 {
        self.ring.header().request.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The worker's answer to `request` into `rows`: `Ok(false)` while it
    /// has not answered it. The worker is not trusted: a row count beyond
    /// the answer area is an error.
    pub fn answer(&self, request: u64, rows: &mut Vec<ConnectionRow>) -> Result<bool, RingError> {
        let header = self.ring.header();
        if header.answered.load(Ordering::Acquire) != request {
            return Ok(false);
        }
        let count = header.answer_rows.load(Ordering::Relaxed);
        if count > self.ring.answer_slots as u64 {
            return Err(RingError::AnswerTooLarge {
                rows: count,
                slots: self.ring.answer_slots as u64,
            });
        }
        rows.clear();
        let bytes = &self.ring.answers()[..count as usize * ROW_BYTES];
        rows.extend(
            bytes
                .chunks_exact(ROW_BYTES)
                .map(bytemuck::pod_read_unaligned::<ConnectionRow>),
        );
        Ok(true)
    }

    /// Takes the next whole frame, validated and decoded into `messages`,
    /// or `None` when the ring is empty. Any error means the worker wrote
    /// garbage: the ring must not be read again.
    pub fn next_frame(
        &mut self,
        messages: &mut Vec<Message>,
    ) -> Result<Option<FrameHeader>, Garbled> {
        let head = self.ring.header().head.load(Ordering::Acquire);
        let available = head.wrapping_sub(self.tail);
        if available == 0 {
            return Ok(None);
        }
        if available > self.ring.capacity as u64 {
            return Err(Garbled::HeadAhead {
                head,
                tail: self.tail,
            });
        }
        if available < FRAME_HEADER_BYTES as u64 {
            return Err(Garbled::Short(available));
        }
        let mut header = FrameHeader::zeroed();
        self.ring
            .read_at(self.tail, bytemuck::bytes_of_mut(&mut header));
        self.validate(&header, available)?;
        let count = header.record_count as usize;
        self.scratch.resize(count * RECORD_BYTES, 0);
        self.ring
            .read_at(self.tail + FRAME_HEADER_BYTES as u64, &mut self.scratch);
        messages.clear();
        for bytes in self.scratch.chunks_exact(RECORD_BYTES) {
            messages.push(Message::try_from(bytemuck::pod_read_unaligned::<Record>(
                bytes,
            ))?);
        }
        self.tail += frame_bytes(count) as u64;
        self.last_sequence = Some(header.sequence);
        self.ring.header().tail.store(self.tail, Ordering::Release);
        Ok(Some(header))
    }

    fn validate(&self, header: &FrameHeader, available: u64) -> Result<(), Garbled> {
        if header.magic != FRAME_MAGIC {
            return Err(Garbled::Magic {
                magic: header.magic,
                offset: self.tail,
            });
        }
        if header.generation != self.generation {
            return Err(Garbled::Generation {
                frame: header.generation,
                ring: self.generation,
            });
        }
        if header.record_count as usize > max_records(self.ring.capacity)
            || frame_bytes(header.record_count as usize) as u64 > available
        {
            return Err(Garbled::Count {
                records: header.record_count,
                pending: available,
            });
        }
        if let Some(last) = self.last_sequence {
            if header.sequence <= last {
                return Err(Garbled::Sequence {
                    sequence: header.sequence,
                    last,
                });
            }
        }
        Ok(())
    }
}

/// The worker's end.
pub struct RingWriter {
    ring: Mapping,
    head: u64,
    generation: u64,
    sequence: u64,
    scratch: Vec<u8>,
}

/// What became of a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Written,
    /// The ring was full; the frame was counted in the ring's dropped total.
    Dropped,
}

impl RingWriter {
    /// Maps the ring the supervisor created and passed to us.
    pub fn open(fd: OwnedFd) -> Result<RingWriter, RingError> {
        let file = File::from(fd);
        let len = file.metadata()?.len() as usize;
        if len < HEADER_BYTES + MIN_CAPACITY {
            return Err(RingError::BadCapacity(len.saturating_sub(HEADER_BYTES)));
        }
        // SAFETY: a memfd shared only with the supervisor.
        let map = unsafe { MmapMut::map_mut(&file)? };
        // SAFETY: length checked above; the mapping is page-aligned.
        let header = unsafe { &*(map.as_ptr() as *const SharedHeader) };
        if header.magic != RING_MAGIC || header.version != LAYOUT_VERSION {
            return Err(RingError::NotARing {
                magic: header.magic,
                version: header.version,
            });
        }
        let capacity = header.capacity as usize;
        let answer_slots = header.answer_slots as usize;
        let answer_bytes = answer_slots.checked_mul(ROW_BYTES);
        if answer_bytes.and_then(|a| a.checked_add(HEADER_BYTES + capacity)) != Some(len)
            || !capacity.is_multiple_of(8)
        {
            return Err(RingError::BadCapacity(capacity));
        }
        let generation = header.generation;
        let head = header.head.load(Ordering::Acquire);
        Ok(RingWriter {
            ring: Mapping {
                map,
                capacity,
                answer_slots,
            },
            head,
            generation,
            sequence: 0,
            scratch: Vec::new(),
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Tells the supervisor's watchdog that this worker is alive.
    pub fn beat(&self) {
        self.ring.header().heartbeat.fetch_add(1, Ordering::Relaxed);
    }

    /// Tells the supervisor that this worker is stopping: while it beats,
    /// it is releasing what it attached, not ignoring SIGTERM.
    pub fn stopping(&self) {
        self.ring.header().stopping.store(1, Ordering::Relaxed);
    }

    /// Tells the supervisor whether messages wait for room in the ring
    /// (see [`RingReader::behind`]).
    pub fn backlog(&self, waiting: bool) {
        self.ring
            .header()
            .backlog
            .store(u64::from(waiting), Ordering::Release);
    }

    /// The supervisor's last request for the live table (0: none yet).
    pub fn request(&self) -> u64 {
        self.ring.header().request.load(Ordering::Acquire)
    }

    /// Answers `request` with `rows`, as many as the answer area holds
    /// (the table it answers from is no larger): how many were written.
    pub fn answer(&mut self, request: u64, rows: &[ConnectionRow]) -> usize {
        let count = rows.len().min(self.ring.answer_slots);
        self.ring.answers_mut()[..count * ROW_BYTES]
            .copy_from_slice(bytemuck::cast_slice(&rows[..count]));
        let header = self.ring.header();
        header.answer_rows.store(count as u64, Ordering::Relaxed);
        header.answered.store(request, Ordering::Release);
        count
    }

    /// How many records a frame written now could carry without being
    /// dropped: the supervisor may not have read everything yet.
    pub fn free_records(&self) -> usize {
        let tail = self.ring.header().tail.load(Ordering::Acquire);
        let used = self.head.wrapping_sub(tail).min(self.ring.capacity as u64);
        max_records(self.ring.capacity - used as usize)
    }

    /// Writes one frame whole, or drops and counts it when the ring is full.
    pub fn push<R: Copy + Into<Record>>(
        &mut self,
        status: u32,
        messages: &[R],
    ) -> Result<Pushed, RingError> {
        self.push_flagged(status, 0, messages)
    }

    /// [`RingWriter::push`] with frame flags ([`crate::FRAME_CONTINUATION`]).
    /// Workers write [`Message`]s; anything else can write raw records.
    pub fn push_flagged<R: Copy + Into<Record>>(
        &mut self,
        status: u32,
        flags: u32,
        messages: &[R],
    ) -> Result<Pushed, RingError> {
        let bytes = frame_bytes(messages.len());
        if bytes > self.ring.capacity {
            return Err(RingError::FrameTooLarge {
                records: messages.len(),
                bytes,
                capacity: self.ring.capacity,
            });
        }
        self.sequence += 1;
        let tail = self.ring.header().tail.load(Ordering::Acquire);
        let used = self.head.wrapping_sub(tail);
        if used > self.ring.capacity as u64 {
            return Err(Garbled::TailBehind {
                head: self.head,
                tail,
            }
            .into());
        }
        if self.ring.capacity as u64 - used < bytes as u64 {
            self.ring.header().dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(Pushed::Dropped);
        }
        let header = FrameHeader {
            magic: FRAME_MAGIC,
            record_count: messages.len() as u32,
            generation: self.generation,
            sequence: self.sequence,
            status,
            flags,
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(bytemuck::bytes_of(&header));
        for message in messages {
            let record: Record = (*message).into();
            self.scratch.extend_from_slice(bytemuck::bytes_of(&record));
        }
        let frame = std::mem::take(&mut self.scratch);
        self.ring.write_at(self.head, &frame);
        self.scratch = frame;
        self.head += bytes as u64;
        self.ring.header().head.store(self.head, Ordering::Release);
        Ok(Pushed::Written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scribble(fd: &OwnedFd) -> MmapMut {
        let file = File::from(fd.try_clone().unwrap());
        // SAFETY: test-only second mapping of the same memfd.
        unsafe { MmapMut::map_mut(&file).unwrap() }
    }

    fn drain(reader: &mut RingReader) -> Result<Vec<(FrameHeader, Vec<Message>)>, Garbled> {
        let mut frames = Vec::new();
        let mut messages = Vec::new();
        while let Some(header) = reader.next_frame(&mut messages)? {
            frames.push((header, messages.clone()));
        }
        Ok(frames)
    }

    fn counter(index: u32, total: u64) -> Message {
        Message::Counter { index, total }
    }

    fn row(tgid: u32) -> ConnectionRow {
        ConnectionRow {
            tgid,
            sent_bytes: u64::from(tgid) * 10,
            ..bytemuck::Zeroable::zeroed()
        }
    }

    #[test]
    fn answers_go_through_the_answer_area() {
        let (reader, fd) = create_answering(MIN_CAPACITY, 3, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        let mut rows = Vec::new();
        assert!(reader.answers());
        assert_eq!(writer.request(), 0);
        let request = reader.ask();
        assert_eq!(writer.request(), request);
        assert!(!reader.answer(request, &mut rows).unwrap());
        // More rows than the area holds: as many as fit.
        assert_eq!(writer.answer(request, &[row(1), row(2), row(3), row(4)]), 3);
        assert!(reader.answer(request, &mut rows).unwrap());
        assert_eq!(rows, vec![row(1), row(2), row(3)]);
        let next = reader.ask();
        assert!(!reader.answer(next, &mut rows).unwrap());
        assert_eq!(writer.answer(next, &[]), 0);
        assert!(reader.answer(next, &mut rows).unwrap());
        assert!(rows.is_empty());
    }

    #[test]
    fn a_row_count_beyond_the_answer_area_is_refused() {
        let (reader, fd) = create_answering(MIN_CAPACITY, 2, 1).unwrap();
        let request = reader.ask();
        let raw = scribble(&fd);
        // SAFETY: the header of a ring's mapping, as in `Mapping::header`.
        let header = unsafe { &*(raw.as_ptr() as *const SharedHeader) };
        header.answer_rows.store(3, Ordering::Relaxed);
        header.answered.store(request, Ordering::Release);
        assert!(matches!(
            reader.answer(request, &mut Vec::new()),
            Err(RingError::AnswerTooLarge { rows: 3, slots: 2 })
        ));
    }

    #[test]
    fn a_plain_ring_has_no_answer_area() {
        let (reader, fd) = create(MIN_CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        assert!(!reader.answers());
        let request = reader.ask();
        assert_eq!(writer.answer(request, &[row(1)]), 0);
        assert!(reader.answer(request, &mut Vec::new()).unwrap());
    }

    #[test]
    fn a_ring_is_behind_while_frames_or_the_workers_backlog_wait() {
        let (mut reader, fd) = create(MIN_CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        assert!(!reader.behind());
        writer.push(0, &[counter(0, 1)]).unwrap();
        assert!(reader.behind());
        assert_eq!(drain(&mut reader).unwrap().len(), 1);
        assert!(!reader.behind());
        // A frame that left messages out: behind until they went too.
        writer.push(0, &[counter(0, 2)]).unwrap();
        writer.backlog(true);
        drain(&mut reader).unwrap();
        assert!(reader.behind());
        writer.push(0, &[counter(0, 3)]).unwrap();
        writer.backlog(false);
        assert!(reader.behind());
        drain(&mut reader).unwrap();
        assert!(!reader.behind());
    }

    proptest! {
        /// Whatever a worker scribbles into the data area and the head
        /// index, the reader answers with frames or an error, never a panic,
        /// and every frame it accepts is internally consistent.
        #[test]
        fn garbage_is_rejected_without_panic(
            data in proptest::collection::vec(any::<u8>(), MIN_CAPACITY),
            head in any::<u64>(),
            valid_prefix in 0usize..3,
        ) {
            let (mut reader, fd) = create(MIN_CAPACITY, 7).unwrap();
            let mut writer = RingWriter::open(fd.try_clone().unwrap()).unwrap();
            for i in 0..valid_prefix {
                writer.push(0, &[counter(i as u32, 1)]).unwrap();
            }
            let mut raw = scribble(&fd);
            let start = HEADER_BYTES + frame_bytes(1) * valid_prefix;
            raw[start..HEADER_BYTES + MIN_CAPACITY].copy_from_slice(&data[..MIN_CAPACITY - (start - HEADER_BYTES)]);
            raw[32..40].copy_from_slice(&head.to_ne_bytes());
            if let Ok(frames) = drain(&mut reader) {
                for (header, records) in frames {
                    prop_assert_eq!(header.magic, FRAME_MAGIC);
                    prop_assert_eq!(header.generation, 7);
                    prop_assert_eq!(header.record_count as usize, records.len());
                }
            }
        }

        /// Frames of any size go through a small ring in order, wrapping
        /// around its end many times, none torn.
        #[test]
        fn frames_round_trip_across_wraparound(sizes in proptest::collection::vec(0usize..30, 1..200)) {
            let (mut reader, fd) = create(MIN_CAPACITY, 1).unwrap();
            let mut writer = RingWriter::open(fd).unwrap();
            for (n, &size) in sizes.iter().enumerate() {
                let records: Vec<Message> = (0..size).map(|i| counter(i as u32, n as u64)).collect();
                prop_assert_eq!(writer.push(3, &records).unwrap(), Pushed::Written);
                let frames = drain(&mut reader).unwrap();
                prop_assert_eq!(frames.len(), 1);
                prop_assert_eq!(&frames[0].1, &records);
                prop_assert_eq!(frames[0].0.sequence, n as u64 + 1);
                prop_assert_eq!(frames[0].0.status, 3);
            }
        }
    }

    #[test]
    fn a_full_ring_drops_whole_frames_and_counts_them() {
        let (mut reader, fd) = create(MIN_CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        let frame = vec![counter(0, 9); max_records(MIN_CAPACITY) / 2 + 1];
        assert_eq!(writer.push(0, &frame).unwrap(), Pushed::Written);
        assert_eq!(writer.push(0, &frame).unwrap(), Pushed::Dropped);
        assert_eq!(reader.dropped(), 1);
        let frames = drain(&mut reader).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].1, frame);
        // Space is free again once read; the sequence shows the gap.
        assert_eq!(writer.push(0, &frame).unwrap(), Pushed::Written);
        assert_eq!(drain(&mut reader).unwrap()[0].0.sequence, 3);
    }

    #[test]
    fn free_records_says_what_fits_and_flags_travel() {
        let (mut reader, fd) = create(MIN_CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        assert_eq!(writer.free_records(), max_records(MIN_CAPACITY));
        let frame = vec![counter(0, 1); 10];
        writer
            .push_flagged(0, crate::FRAME_CONTINUATION, &frame)
            .unwrap();
        let free = writer.free_records();
        assert_eq!(free, max_records(MIN_CAPACITY - frame_bytes(10)));
        let fill = vec![counter(0, 1); free];
        assert_eq!(writer.push(0, &fill).unwrap(), Pushed::Written);
        assert_eq!(writer.free_records(), 0);
        let frames = drain(&mut reader).unwrap();
        assert_eq!(frames[0].0.flags, crate::FRAME_CONTINUATION);
        assert_eq!(frames[1].0.flags, 0);
        assert_eq!(writer.free_records(), max_records(MIN_CAPACITY));
    }

    #[test]
    fn an_oversized_frame_is_an_error_not_a_drop() {
        let (_reader, fd) = create(MIN_CAPACITY, 1).unwrap();
        let mut writer = RingWriter::open(fd).unwrap();
        let frame = vec![counter(0, 0); max_records(MIN_CAPACITY) + 1];
        assert!(matches!(
            writer.push(0, &frame),
            Err(RingError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn frames_of_another_generation_are_refused() {
        let (mut reader, fd) = create(MIN_CAPACITY, 2).unwrap();
        let mut raw = scribble(&fd);
        raw[16..24].copy_from_slice(&5u64.to_ne_bytes());
        let mut writer = RingWriter::open(fd).unwrap();
        writer.push(0, &[counter(0, 1)]).unwrap();
        assert_eq!(
            drain(&mut reader).unwrap_err(),
            Garbled::Generation { frame: 5, ring: 2 }
        );
    }

    #[test]
    fn capacity_must_be_sane() {
        assert!(matches!(create(100, 0), Err(RingError::BadCapacity(100))));
        assert!(matches!(
            create(MIN_CAPACITY + 4, 0),
            Err(RingError::BadCapacity(_))
        ));
    }

    #[test]
    fn heartbeat_is_visible_to_the_reader() {
        let (reader, fd) = create(MIN_CAPACITY, 1).unwrap();
        let writer = RingWriter::open(fd).unwrap();
        assert_eq!(reader.heartbeat(), 0);
        writer.beat();
        writer.beat();
        assert_eq!(reader.heartbeat(), 2);
    }
}
