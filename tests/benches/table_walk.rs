//! What one walk of a per-process table costs, by batch size and
//! allocation: a hash shaped like vfs's `tgid_values` (u32 keys; values
//! of its per-process counters and a `tgid_extra`, 160 bytes today; `pid
//! table size = 32768`) holding 30 000 entries, allocated as used (as on 6.1+) or
//! preallocated (older kernels), read whole by the workers' reader
//! (`BPF_MAP_LOOKUP_BATCH`) with batches of several sizes, the setups
//! interleaved round by round, each walk reading every word as the worker
//! does. The baseline is the workers' own setup: allocated as used, 4096
//! entries a call ([`BATCH`], 656 KiB).
//!
//! Run as root: `cargo bench -p tests --bench table_walk` (under the
//! test lock when tests may run). Prints a Markdown table: the median
//! and the range over rounds, per walk and per entry.

use std::os::fd::AsRawFd;
use std::time::Instant;

use aya::maps::MapData;
use tests::maps::{create_map, MapType};
use workers::maps::{HashReader, BATCH};

const ENTRIES: u32 = 30_000;
const TABLE_SIZE: u32 = 32_768;
const VALUE_BYTES: usize = bpf::vfs::OBJECT.per_process as usize * 8 + bpf::tgid_extra::SIZE;
const BPF_F_NO_PREALLOC: u32 = 1;
const ROUNDS: usize = 15;
/// Entries a call and map flags: the baseline first.
const SETUPS: [(usize, u32); 6] = [
    (BATCH, BPF_F_NO_PREALLOC),
    (1024, BPF_F_NO_PREALLOC),
    (256, BPF_F_NO_PREALLOC),
    (64, BPF_F_NO_PREALLOC),
    (BATCH, 0),
    (256, 0),
];

/// A filled hash of vfs's shape.
fn table(flags: u32) -> MapData {
    let fd = create_map(MapType::Hash, (4, VALUE_BYTES as u32), TABLE_SIZE, flags);
    let value = [7u8; VALUE_BYTES];
    for tgid in 0..ENTRIES {
        // Spread like the PIDs of a busy machine.
        let key: u32 = 1000 + tgid * 3;
        let mut attr = [0u64; 4];
        attr[0] = fd.as_raw_fd() as u64;
        attr[1] = &key as *const u32 as u64;
        attr[2] = value.as_ptr() as u64;
        // SAFETY: BPF_MAP_UPDATE_ELEM (2) reads the map, key, value and
        // flags members, all in `attr`, whose pointers point to live data.
        let result = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                2,
                attr.as_mut_ptr(),
                std::mem::size_of_val(&attr),
            )
        };
        assert_eq!(
            result,
            0,
            "BPF_MAP_UPDATE_ELEM: {}",
            std::io::Error::last_os_error()
        );
    }
    MapData::from_fd(fd).expect("the map's data")
}

fn main() {
    let mut readers: Vec<HashReader> = SETUPS
        .iter()
        .map(|&(batch, flags)| HashReader::with_batch(table(flags), VALUE_BYTES, batch))
        .collect();
    let mut times = vec![Vec::new(); SETUPS.len()];
    for _ in 0..ROUNDS {
        for (reader, times) in readers.iter_mut().zip(&mut times) {
            let mut seen = 0u32;
            let mut sum = 0u64;
            let started = Instant::now();
            reader
                .walk(|tgid, words| {
                    seen += 1;
                    sum = words
                        .iter()
                        .fold(sum ^ u64::from(tgid), |s, w| s.wrapping_add(*w));
                })
                .expect("the walk");
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(seen, ENTRIES);
            std::hint::black_box(sum);
        }
    }
    println!("| entries a call | allocated | walk of {ENTRIES} entries, median (min–max) ms | ns per entry | against the workers' setup |");
    println!("|---|---|---|---|---|");
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let baseline = median(&mut times[0].clone());
    for ((batch, flags), t) in SETUPS.iter().zip(&mut times) {
        let m = median(t);
        let allocated = if *flags == BPF_F_NO_PREALLOC {
            "as used"
        } else {
            "all at once"
        };
        println!(
            "| {batch} | {allocated} | {m:.2} ({:.2}–{:.2}) | {:.0} | {:.2}× |",
            t[0],
            t[t.len() - 1],
            m * 1e6 / f64::from(ENTRIES),
            m / baseline
        );
    }
}
