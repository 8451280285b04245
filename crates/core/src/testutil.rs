//! Test helpers: deterministic mutation of images without copying them.

use crate::io::ReadAt;
use crate::{Disk, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// xorshift64*: deterministic, no dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// One round of the readers' mutation loops on a copy of an image: 1 to 6
/// bytes changed, half of them in the first 2048 bytes (headers), the rest
/// anywhere, and one time in 16 the image cut short.
pub fn mutate_bytes(v: &mut Vec<u8>, rng: &mut XorShift) {
    if v.is_empty() {
        return;
    }
    let hot = (v.len() as u64).min(2048);
    for _ in 0..1 + rng.below(6) {
        let r = rng.next();
        let at = if r & 1 == 0 {
            (r >> 8) % hot
        } else {
            (r >> 8) % v.len() as u64
        };
        v[at as usize] = (r >> 40) as u8;
    }
    if rng.below(16) == 0 {
        let l = rng.below(v.len() as u64) as usize;
        v.truncate(l);
    }
}

/// An image with some bytes replaced and maybe cut short.
pub struct Mutated {
    pub base: Arc<Vec<u8>>,
    pub patches: BTreeMap<u64, u8>,
    pub len: u64,
}

impl Mutated {
    pub fn new(base: Arc<Vec<u8>>) -> Self {
        let len = base.len() as u64;
        Mutated {
            base,
            patches: BTreeMap::new(),
            len,
        }
    }
    pub fn set(&mut self, at: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            self.patches.insert(at + i as u64, b);
        }
    }
    pub fn get(&self, at: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        let _ = self.read_at(at, &mut v);
        v
    }
    /// Flips `n` bytes, each at an offset drawn from `areas` (start, len).
    pub fn mutate(&mut self, rng: &mut XorShift, areas: &[(u64, u64)], n: usize) {
        for _ in 0..n {
            let (s, l) = areas[rng.below(areas.len() as u64) as usize];
            let at = s + rng.below(l);
            if at >= self.len {
                continue;
            }
            let v = match rng.below(4) {
                0 => 0,
                1 => 0xff,
                2 => rng.next() as u8,
                _ => self.get(at, 1)[0] ^ (1 << rng.below(8)),
            };
            self.patches.insert(at, v);
        }
        if rng.below(16) == 0 {
            self.len = rng.below(self.len + 1);
        }
    }
}

impl ReadAt for Mutated {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.base.as_slice()[..self.len as usize].read_at(offset, buf)?;
        for (&at, &b) in self.patches.range(offset..offset + buf.len() as u64) {
            buf[(at - offset) as usize] = b;
        }
        Ok(())
    }
}

/// Reads what an opened disk says is allocated (up to a budget) and a few
/// random places; errors are fine, panics are not.
pub fn exercise(disk: &Disk, rng: &mut XorShift) {
    let mut budget: u64 = 8 << 20;
    let mut buf = vec![0u8; 64 * 1024];
    for e in disk.extents() {
        let n = e.len.min(buf.len() as u64).min(budget);
        if n == 0 {
            break;
        }
        let _ = disk.read_at(e.offset, &mut buf[..n as usize]);
        budget -= n;
    }
    for _ in 0..4 {
        let at = rng.below(disk.size());
        let n = (disk.size() - at).min(4096) as usize;
        let _ = disk.read_at(at, &mut buf[..n]);
    }
}
