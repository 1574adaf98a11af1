//! Reading a whole BPF hash map at once, with
//! `BPF_MAP_LOOKUP_BATCH` (kernel 5.6+; aya 0.14 has no batch call): one
//! syscall per [`BATCH`] entries instead of two per entry, which cost 89 ms
//! a tick with 30k processes (`scripts/bench-apps`). Older kernels are read
//! entry by entry.

use std::os::fd::{AsFd, AsRawFd};

use aya::maps::MapData;
use aya_obj::generated::{bpf_attr, bpf_cmd};
use bytemuck::Pod;
use tracing::debug;

/// Entries read per `BPF_MAP_LOOKUP_BATCH` call. Smaller batches, which
/// stay in the cache between the kernel's copy and our read, walk no
/// faster (`cargo bench -p tests --bench table_walk`, BENCHMARKS.md).
pub const BATCH: usize = 4096;
/// The kernel's ENOTSUPP, which it may return to user space.
const ENOTSUPP: i32 = 524;

fn bpf(command: bpf_cmd, attr: &mut bpf_attr) -> std::io::Result<()> {
    // SAFETY: `attr` is a whole `union bpf_attr`; the member `command`
    // reads was filled in by the caller, its pointers point into live
    // buffers of the caller.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command as libc::c_long,
            attr as *mut bpf_attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn zeroed() -> bpf_attr {
    // SAFETY: bpf_attr is plain data; all zeroes is its documented initial state.
    unsafe { std::mem::zeroed() }
}

/// A hash map from keys `K` (a process's `u32`, a socket's `u64`) to
/// values of a fixed number of `u64` words (a
/// per-CPU map's value is one copy per possible CPU, each rounded up to 8
/// bytes, as the kernel copies them out).
pub struct HashReader<K: Pod = u32> {
    map: MapData,
    /// Words per entry.
    words: usize,
    keys: Vec<K>,
    values: Vec<u64>,
    batch: bool,
}

impl<K: Pod> HashReader<K> {
    /// `value_bytes`: the size of one entry's value as the kernel hands it
    /// out (a multiple of 8).
    pub fn new(map: MapData, value_bytes: usize) -> HashReader<K> {
        Self::with_batch(map, value_bytes, BATCH)
    }

    /// [`HashReader::new`] reading `batch` entries a call (at least one
    /// bucket's, or the kernel refuses the call).
    pub fn with_batch(map: MapData, value_bytes: usize, batch: usize) -> HashReader<K> {
        let words = value_bytes.div_ceil(8);
        HashReader {
            map,
            words,
            keys: vec![K::zeroed(); batch],
            values: vec![0; batch * words],
            batch: true,
        }
    }

    fn fd(&self) -> u32 {
        self.map.fd().as_fd().as_raw_fd() as u32
    }

    /// Calls `each` with every entry (key, words). An entry deleted or
    /// added meanwhile may be missed: it comes on the next walk.
    pub fn walk(&mut self, mut each: impl FnMut(K, &[u64])) -> std::io::Result<()> {
        if self.batch {
            match self.walk_batched(&mut each) {
                Ok(()) => return Ok(()),
                Err((0, e))
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)
                    ) =>
                {
                    debug!("no batch lookup ({e}): the map is read entry by entry");
                    self.batch = false;
                }
                Err((_, e)) => return Err(e),
            }
        }
        self.walk_by_entry(&mut each);
        Ok(())
    }

    /// On error, the entries handed over before it, and the error.
    fn walk_batched(
        &mut self,
        each: &mut impl FnMut(K, &[u64]),
    ) -> Result<(), (usize, std::io::Error)> {
        // A hash's batch token is a bucket index (u32), whatever its keys.
        let (mut token_in, mut token_out) = (0u32, 0u32);
        let mut first = true;
        let mut seen = 0;
        loop {
            let mut attr = zeroed();
            attr.batch.in_batch = if first {
                0
            } else {
                &token_in as *const u32 as u64
            };
            attr.batch.out_batch = &mut token_out as *mut u32 as u64;
            attr.batch.keys = self.keys.as_mut_ptr() as u64;
            attr.batch.values = self.values.as_mut_ptr() as u64;
            attr.batch.count = self.keys.len() as u32;
            attr.batch.map_fd = self.fd();
            let result = bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr);
            // SAFETY: the kernel writes back how many it copied, also with
            // ENOENT, in the member it read.
            let got = (unsafe { attr.batch.count } as usize).min(self.keys.len());
            for (key, values) in self.keys[..got]
                .iter()
                .zip(self.values.chunks_exact(self.words))
            {
                each(*key, values);
            }
            seen += got;
            match result {
                Ok(()) => {}
                // The end of the map.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) => return Err((seen, e)),
            }
            token_in = token_out;
            first = false;
        }
    }

    fn walk_by_entry(&mut self, each: &mut impl FnMut(K, &[u64])) {
        let mut key: Option<K> = None;
        let mut next = K::zeroed();
        let mut values = vec![0u64; self.words];
        loop {
            let mut attr = zeroed();
            attr.__bindgen_anon_2.map_fd = self.fd();
            attr.__bindgen_anon_2.key = key.as_ref().map_or(0, |k| k as *const K as u64);
            attr.__bindgen_anon_2.__bindgen_anon_1.next_key = &mut next as *mut K as u64;
            if bpf(bpf_cmd::BPF_MAP_GET_NEXT_KEY, &mut attr).is_err() {
                return;
            }
            let mut attr = zeroed();
            attr.__bindgen_anon_2.map_fd = self.fd();
            attr.__bindgen_anon_2.key = &next as *const K as u64;
            attr.__bindgen_anon_2.__bindgen_anon_1.value = values.as_mut_ptr() as u64;
            // Deleted meanwhile: skipped.
            if bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr).is_ok() {
                each(next, &values);
            }
            key = Some(next);
        }
    }

    pub fn remove(&mut self, key: K) {
        let mut attr = zeroed();
        attr.__bindgen_anon_2.map_fd = self.fd();
        attr.__bindgen_anon_2.key = &key as *const K as u64;
        // Gone already is fine: the entry is what is to go.
        let _ = bpf(bpf_cmd::BPF_MAP_DELETE_ELEM, &mut attr);
    }
}
