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

/// A `Vec` seen as a pure stream: it cannot patch, so writers that have a
/// one-pass path for patchable sinks take their two-pass path.
pub struct StreamSink(pub Vec<u8>);

impl crate::io::Sink for StreamSink {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }
}

/// An input that counts the bytes read from it.
pub struct CountingReads(pub Vec<u8>, pub std::sync::atomic::AtomicU64);

impl CountingReads {
    pub fn read(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn reset(&self) {
        self.1.store(0, std::sync::atomic::Ordering::Relaxed)
    }
}

impl ReadAt for CountingReads {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.1
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.0.read_at(offset, buf)
    }
}

/// Disks that a one-pass writer with `unit`-byte blocks (or grains) must
/// write as its two-pass path does: empty, all data, data and holes
/// (allocated zeros, data in the second half of a block only, several
/// extents in one block), zeros only, a last partial block, sizes not a
/// multiple of the block size.
pub fn one_pass_disks(unit: u64) -> Vec<(&'static str, Disk)> {
    let pattern = |len: u64, seed: u64| -> Vec<u8> {
        (0..len)
            .map(|i| ((i.wrapping_mul(seed) >> 5) as u8) | 1)
            .collect()
    };
    let mut out = vec![("empty", Disk::new(3 * unit + 512))];

    let size = 3 * unit + 1000;
    let mut full = Disk::new(size);
    full.write_vec(0, pattern(size, 0x9e37_79b9)).unwrap();
    out.push(("all data", full));

    let mut mixed = crate::qcow2::tests::sample_disk((4 * unit).max(256 << 10) + 1234);
    // A whole block of allocated zeros, a block with data in its second
    // half only (after allocated zeros), a block with three extents.
    mixed.write_vec(unit, vec![0; unit as usize]).unwrap();
    mixed.write_vec(2 * unit, vec![0; unit as usize]).unwrap();
    mixed
        .write_vec(2 * unit + unit / 2 + 3, pattern(unit / 4, 77))
        .unwrap();
    mixed.write(3 * unit + 10, b"one").unwrap();
    mixed.write(3 * unit + unit / 2, b"two").unwrap();
    mixed.write(4 * unit - 3, b"3").unwrap();
    out.push(("data and holes", mixed));

    let mut zeros = Disk::new(2 * unit + 4096);
    zeros.write_vec(0, vec![0; (2 * unit) as usize]).unwrap();
    out.push(("zeros only", zeros));

    let mut tail = Disk::new(2 * unit + 700);
    tail.write(2 * unit, &[5u8; 700]).unwrap();
    out.push(("last partial block", tail));

    let mut odd = Disk::new(5 * unit / 2 + 512 * 3);
    odd.write(unit / 3, b"first").unwrap();
    odd.write(5 * unit / 2 + 100, b"last").unwrap();
    out.push(("size not a multiple of the block", odd));
    out
}

/// Writes `disk` with `write` into a `Vec` (one pass) and a [`StreamSink`]
/// (two passes): the same bytes, or both fail. Returns the image.
pub fn same_one_and_two_passes(
    what: &str,
    disk: &Disk,
    write: &dyn Fn(&Disk, &mut dyn crate::io::Sink) -> Result<()>,
) -> Option<Vec<u8>> {
    let mut patched = Vec::new();
    let one = write(disk, &mut patched);
    let mut streamed = StreamSink(Vec::new());
    let two = write(disk, &mut streamed);
    match (one, two) {
        (Ok(()), Ok(())) => {
            assert!(patched == streamed.0, "{what}: one pass differs");
            Some(patched)
        }
        (Err(_), Err(_)) => None,
        (a, b) => panic!("{what}: one pass {a:?}, two passes {b:?}"),
    }
}

/// The bytes a writer reads from a disk over a counting input, into a
/// `Vec` (one pass) and into a [`StreamSink`] (two passes); also the
/// disk's allocated bytes.
pub fn bytes_read(
    disk: &Disk,
    write: &dyn Fn(&Disk, &mut dyn crate::io::Sink) -> Result<()>,
) -> (u64, u64, u64) {
    let mut v = vec![0u8; disk.size() as usize];
    disk.read_at(0, &mut v).unwrap();
    let src = Arc::new(CountingReads(v, Default::default()));
    let counted = Disk::from_source(src.clone(), &disk.allocated_ranges()).unwrap();
    write(&counted, &mut Vec::new()).unwrap();
    let one = src.read();
    src.reset();
    write(&counted, &mut StreamSink(Vec::new())).unwrap();
    (one, src.read(), counted.allocated_bytes())
}
