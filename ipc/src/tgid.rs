//! Maps keyed by TGID, which both sides keep for every live process: a
//! per-tick cost with tens of thousands of processes, where SipHash's
//! resistance to chosen keys buys nothing (the kernel chooses PIDs).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// One multiplication by 2^64 / φ: consecutive PIDs spread over the
/// table's buckets (the low bits) and its control bytes (the high bits).
#[derive(Debug, Default, Clone, Copy)]
pub struct TgidHasher(u64);

impl Hasher for TgidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u32(&mut self, tgid: u32) {
        self.write_u64(u64::from(tgid));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub type TgidMap<V> = HashMap<u32, V, BuildHasherDefault<TgidHasher>>;
pub type TgidSet = HashSet<u32, BuildHasherDefault<TgidHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn consecutive_tgids_hash_apart() {
        let build = BuildHasherDefault::<TgidHasher>::default();
        let hashes: HashSet<u64> = (1..=32_768u32).map(|t| build.hash_one(t)).collect();
        assert_eq!(hashes.len(), 32_768);
        // The control bytes (top 7 bits) take many values.
        let tops: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tops.len(), 128);
    }
}
