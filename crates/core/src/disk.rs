//! The sparse virtual disk being built (or read through a container).
//!
//! Memory use is the written bytes plus one small map entry per extent: a
//! 100 GiB disk with 1 MiB written holds about 1 MiB. Holes read as zeros.
//! An extent can refer to a range of an input [`Source`] instead of bytes, so
//! a large input is placed on a disk without being copied into memory.

use crate::io::{ReadAt, Source};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where an extent's bytes come from.
#[derive(Clone)]
pub enum Data {
    /// Bytes held in memory; `start` is where this extent begins in `buf`
    /// (extents split by later writes share one buffer).
    /// Bytes held in memory: `buf[start..]`.
    Bytes {
        /// The bytes.
        buf: Arc<[u8]>,
        /// Where this extent's bytes start in `buf`.
        start: usize,
    },
    /// A range of an input, starting at `offset` in it.
    /// Bytes of a source, from `offset`.
    Source {
        /// The source.
        src: Source,
        /// Where this extent's bytes start in it.
        offset: u64,
    },
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Data::Bytes { buf, start } => write!(f, "Bytes({} bytes @{start})", buf.len()),
            Data::Source { src, offset } => write!(f, "Source({} @{offset})", src.name()),
        }
    }
}

impl Data {
    fn advanced(&self, by: u64) -> Data {
        match self {
            Data::Bytes { buf, start } => Data::Bytes {
                buf: buf.clone(),
                start: start + by as usize,
            },
            Data::Source { src, offset } => Data::Source {
                src: src.clone(),
                offset: offset + by,
            },
        }
    }

    /// Reads `buf.len()` bytes starting `at` bytes into this extent.
    pub fn read(&self, at: u64, out: &mut [u8]) -> Result<()> {
        match self {
            Data::Bytes { buf, start } => {
                let s = start + at as usize;
                out.copy_from_slice(&buf[s..s + out.len()]);
                Ok(())
            }
            Data::Source { src, offset } => src.read_at(offset + at, out),
        }
    }
}

/// One allocated run of the disk.
#[derive(Clone, Debug)]
pub struct Extent {
    /// Where the extent starts on the disk.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Where its bytes come from.
    pub data: Data,
}

/// A sparse virtual disk of a fixed size.
#[derive(Clone, Default)]
pub struct Disk {
    size: u64,
    /// start offset -> (len, data); extents never overlap and never have len 0.
    extents: BTreeMap<u64, (u64, Data)>,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk")
            .field("size", &self.size)
            .field("extents", &self.extents.len())
            .finish()
    }
}

impl Disk {
    /// An all-zero disk of `size` bytes; nothing is allocated.
    pub fn new(size: u64) -> Self {
        Disk {
            size,
            extents: BTreeMap::new(),
        }
    }

    /// A disk whose `ranges` (offset, len) read from `src` at the same offsets
    /// and whose other bytes are zero. Used to see an input image (or a
    /// container's virtual disk) as a [`Disk`] without reading it.
    pub fn from_source(src: Source, ranges: &[(u64, u64)]) -> Result<Self> {
        let mut d = Disk::new(src.size());
        for &(off, len) in ranges {
            d.write_source(off, src.clone(), off, len)?;
        }
        Ok(d)
    }

    /// The whole of `src` as a fully allocated disk.
    pub fn from_whole(src: Source) -> Result<Self> {
        let size = src.size();
        Disk::from_source(src, &[(0, size)])
    }

    /// The disk's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Changes the virtual size. Shrinking drops what lies past the new end;
    /// callers that must refuse a shrink (like `qemu-img resize`) check first.
    pub fn set_size(&mut self, size: u64) {
        if size < self.size {
            self.punch(size, self.size - size);
        }
        self.size = size;
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::no_space(
                "disk",
                format!(
                    "write of {len} bytes at byte {offset} goes past the end of the {}-byte disk",
                    self.size
                ),
            )),
        }
    }

    /// Copies `data` to `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.write_vec(offset, data.to_vec())
    }

    /// Stores `data` at `offset` without copying it.
    pub fn write_vec(&mut self, offset: u64, data: Vec<u8>) -> Result<()> {
        let len = data.len() as u64;
        self.check_range(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        self.punch(offset, len);
        self.extents.insert(
            offset,
            (
                len,
                Data::Bytes {
                    buf: Arc::from(data),
                    start: 0,
                },
            ),
        );
        Ok(())
    }

    /// Places `len` bytes of `src` starting at `src_offset` at `offset`,
    /// without reading them.
    pub fn write_source(
        &mut self,
        offset: u64,
        src: Source,
        src_offset: u64,
        len: u64,
    ) -> Result<()> {
        self.check_range(offset, len)?;
        match src_offset.checked_add(len) {
            Some(end) if end <= src.size() => {}
            _ => {
                return Err(Error::Truncated {
                    what: src.name(),
                    offset: src_offset.saturating_add(len),
                    size: src.size(),
                })
            }
        }
        if len == 0 {
            return Ok(());
        }
        self.punch(offset, len);
        self.extents.insert(
            offset,
            (
                len,
                Data::Source {
                    src,
                    offset: src_offset,
                },
            ),
        );
        Ok(())
    }

    /// Makes `[offset, offset+len)` a hole (reads as zeros, not allocated).
    pub fn discard(&mut self, offset: u64, len: u64) -> Result<()> {
        self.check_range(offset, len)?;
        self.punch(offset, len);
        Ok(())
    }

    /// Copies every extent of `other` into this disk at `offset`, by
    /// reference (a filesystem image placed into a partition).
    pub fn embed(&mut self, offset: u64, other: &Disk) -> Result<()> {
        self.check_range(offset, other.size)?;
        self.punch(offset, other.size);
        for (&o, (len, data)) in &other.extents {
            self.extents.insert(offset + o, (*len, data.clone()));
        }
        Ok(())
    }

    /// Removes allocation in `[offset, offset+len)`, trimming or splitting
    /// extents that straddle its ends.
    fn punch(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = offset.saturating_add(len);
        // An extent starting before `offset` may reach into the range.
        if let Some((&s, (l, d))) = self.extents.range(..offset).next_back() {
            let e = s + *l;
            if e > offset {
                let d = d.clone();
                self.extents.insert(s, (offset - s, d.clone()));
                if e > end {
                    self.extents.insert(end, (e - end, d.advanced(end - s)));
                }
            }
        }
        let inside: Vec<u64> = self.extents.range(offset..end).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some((l, d)) = self.extents.remove(&s) {
                let e = s + l;
                if e > end {
                    self.extents.insert(end, (e - end, d.advanced(end - s)));
                }
            }
        }
    }

    /// Allocated extents in offset order.
    pub fn extents(&self) -> impl Iterator<Item = Extent> + '_ {
        self.extents.iter().map(|(&offset, (len, data))| Extent {
            offset,
            len: *len,
            data: data.clone(),
        })
    }

    /// Allocated extents overlapping `[offset, offset+len)`, clipped to it.
    pub fn extents_in(&self, offset: u64, len: u64) -> Vec<Extent> {
        let end = offset.saturating_add(len);
        let mut out = Vec::new();
        let first = self
            .extents
            .range(..=offset)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(offset);
        for (&s, (l, d)) in self.extents.range(first..end) {
            let e = s + l;
            if e <= offset {
                continue;
            }
            let cs = s.max(offset);
            let ce = e.min(end);
            out.push(Extent {
                offset: cs,
                len: ce - cs,
                data: d.advanced(cs - s),
            });
        }
        out
    }

    /// Allocated ranges `(offset, len)` in order, adjacent extents merged.
    pub fn allocated_ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (&s, (l, _)) in &self.extents {
            match out.last_mut() {
                Some((ps, pl)) if *ps + *pl == s => *pl += l,
                _ => out.push((s, *l)),
            }
        }
        out
    }

    /// Total allocated bytes.
    pub fn allocated_bytes(&self) -> u64 {
        self.extents.values().map(|(l, _)| l).sum()
    }

    /// True if any byte of `[offset, offset+len)` is allocated.
    pub fn is_allocated(&self, offset: u64, len: u64) -> bool {
        !self.extents_in(offset, len).is_empty()
    }
}

impl ReadAt for Disk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        match offset.checked_add(len) {
            Some(end) if end <= self.size => {}
            _ => {
                return Err(Error::Truncated {
                    what: "disk".into(),
                    offset: offset.saturating_add(len),
                    size: self.size,
                })
            }
        }
        // Zero only the gaps between extents, not the whole buffer first.
        let mut filled = 0usize;
        for e in self.extents_in(offset, len) {
            let at = (e.offset - offset) as usize;
            buf[filled..at].fill(0);
            e.data.read(0, &mut buf[at..at + e.len as usize])?;
            filled = at + e.len as usize;
        }
        buf[filled..].fill(0);
        Ok(())
    }

    fn name(&self) -> String {
        "disk".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(d: &Disk, off: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        d.read_at(off, &mut b).unwrap();
        b
    }

    #[test]
    fn holes_read_as_zero_and_writes_overlay() {
        let mut d = Disk::new(100);
        d.write(10, &[1; 20]).unwrap();
        d.write(15, &[2; 5]).unwrap();
        d.write(28, &[3; 4]).unwrap();
        let b = bytes(&d, 0, 40);
        assert_eq!(&b[..10], &[0; 10]);
        assert_eq!(&b[10..15], &[1; 5]);
        assert_eq!(&b[15..20], &[2; 5]);
        assert_eq!(&b[20..28], &[1; 8]);
        assert_eq!(&b[28..32], &[3; 4]);
        assert_eq!(&b[32..], &[0; 8]);
        assert_eq!(d.allocated_ranges(), vec![(10, 22)]);
        assert_eq!(d.allocated_bytes(), 22);
    }

    #[test]
    fn writes_past_end_fail() {
        let mut d = Disk::new(10);
        assert!(d.write(8, &[0; 3]).is_err());
        assert!(d.write(u64::MAX, &[0; 3]).is_err());
        assert!(d.read_at(9, &mut [0u8; 2]).is_err());
    }

    #[test]
    fn source_extents_are_not_copied() {
        let src: Source = Arc::new((0..=255u8).collect::<Vec<_>>());
        let mut d = Disk::new(1 << 40);
        d.write_source(1 << 30, src.clone(), 100, 50).unwrap();
        d.discard((1 << 30) + 10, 10).unwrap();
        let b = bytes(&d, 1 << 30, 50);
        assert_eq!(b[0], 100);
        assert_eq!(&b[10..20], &[0; 10]);
        assert_eq!(b[20], 120);
        assert_eq!(d.allocated_bytes(), 40);
        assert!(d.write_source(0, src, 200, 100).is_err());
    }

    #[test]
    fn big_sparse_disk_uses_little_memory() {
        let mut d = Disk::new(100 << 30);
        d.write_vec(50 << 30, vec![7; 1 << 20]).unwrap();
        assert_eq!(d.allocated_ranges(), vec![(50 << 30, 1 << 20)]);
        let mut part = Disk::new(1 << 20);
        part.write(0, b"hello").unwrap();
        d.embed(1 << 20, &part).unwrap();
        assert_eq!(bytes(&d, 1 << 20, 5), b"hello");
    }

    #[test]
    fn shrinking_drops_tail() {
        let mut d = Disk::new(100);
        d.write(90, &[1; 10]).unwrap();
        d.set_size(95);
        assert_eq!(d.allocated_ranges(), vec![(90, 5)]);
    }
}
