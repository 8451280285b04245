//! The one byte layer: bounds-checked reads ([`Reader`]) and writes
//! ([`Writer`]) of fixed-layout on-disk structures.
//!
//! Every `raw.rs` declares a structure as a struct with `parse` (through a
//! [`Reader`]) and `encode` (through a [`Writer`]). A field that lies past
//! the end of the bytes at hand is an error that names the format, the
//! structure, the offset and the structure's size, never a panic and never
//! a silent zero:
//!
//! ```text
//! gpt: primary header: 8 bytes at offset 88 run past the end of the 60-byte primary header
//! ```
#![deny(clippy::indexing_slicing)]

use crate::{Error, Result};

/// A bounds-checked view of one on-disk structure. `format` and `what` name
/// it in errors ("gpt", "primary header").
#[derive(Clone, Copy)]
pub struct Reader<'a, 'w> {
    format: &'static str,
    what: &'w str,
    buf: &'a [u8],
}

impl<'a, 'w> Reader<'a, 'w> {
    /// A reader over `buf`, the bytes of `what` in `format`.
    pub fn new(format: &'static str, what: &'w str, buf: &'a [u8]) -> Self {
        Reader { format, what, buf }
    }

    /// The bytes read from.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// Size of the structure's bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The error for `len` bytes at `off` past the end.
    pub fn out_of_range(&self, off: usize, len: usize) -> Error {
        past_end(self.format, self.what, off, len, self.buf.len())
    }

    /// `len` bytes at `off`.
    pub fn bytes(&self, off: usize, len: usize) -> Result<&'a [u8]> {
        off.checked_add(len)
            .and_then(|end| self.buf.get(off..end))
            .ok_or_else(|| self.out_of_range(off, len))
    }

    /// Every byte from `off` to the end.
    pub fn rest(&self, off: usize) -> Result<&'a [u8]> {
        self.buf.get(off..).ok_or_else(|| self.out_of_range(off, 0))
    }

    /// A reader over `len` bytes at `off`, naming itself `what`.
    pub fn sub<'v>(&self, off: usize, len: usize, what: &'v str) -> Result<Reader<'a, 'v>> {
        Ok(Reader::new(self.format, what, self.bytes(off, len)?))
    }

    /// `N` bytes at `off`, as an array.
    pub fn array<const N: usize>(&self, off: usize) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(off, N)?);
        Ok(a)
    }

    /// Reads a byte at `off`.
    pub fn u8(&self, off: usize) -> Result<u8> {
        self.buf
            .get(off)
            .copied()
            .ok_or_else(|| self.out_of_range(off, 1))
    }
    /// Reads a little-endian u16 at `off`.
    pub fn le16(&self, off: usize) -> Result<u16> {
        self.array(off).map(u16::from_le_bytes)
    }
    /// Reads a little-endian u32 at `off`.
    pub fn le32(&self, off: usize) -> Result<u32> {
        self.array(off).map(u32::from_le_bytes)
    }
    /// Reads a little-endian u64 at `off`.
    pub fn le64(&self, off: usize) -> Result<u64> {
        self.array(off).map(u64::from_le_bytes)
    }
    /// Reads a big-endian u16 at `off`.
    pub fn be16(&self, off: usize) -> Result<u16> {
        self.array(off).map(u16::from_be_bytes)
    }
    /// Reads a big-endian u32 at `off`.
    pub fn be32(&self, off: usize) -> Result<u32> {
        self.array(off).map(u32::from_be_bytes)
    }
    /// Reads a big-endian u64 at `off`.
    pub fn be64(&self, off: usize) -> Result<u64> {
        self.array(off).map(u64::from_be_bytes)
    }
}

/// The writing twin of [`Reader`]: bounds-checked stores into the bytes of
/// one structure. A store past the end is an error naming the structure
/// (a bug in an encoder, reported rather than panicking).
pub struct Writer<'a, 'w> {
    format: &'static str,
    what: &'w str,
    buf: &'a mut [u8],
}

impl<'a, 'w> Writer<'a, 'w> {
    /// A writer over `buf`, the bytes of `what` in `format`.
    pub fn new(format: &'static str, what: &'w str, buf: &'a mut [u8]) -> Self {
        Writer { format, what, buf }
    }

    /// Size of the structure's bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written so far (for checksums over the structure).
    pub fn buf(&self) -> &[u8] {
        self.buf
    }

    /// The error for `len` bytes at `off` past the end.
    pub fn out_of_range(&self, off: usize, len: usize) -> Error {
        past_end(self.format, self.what, off, len, self.buf.len())
    }

    /// `len` bytes at `off`, to fill in place.
    pub fn bytes_mut(&mut self, off: usize, len: usize) -> Result<&mut [u8]> {
        let size = self.buf.len();
        match off.checked_add(len) {
            Some(end) if end <= size => self
                .buf
                .get_mut(off..end)
                .ok_or_else(|| past_end(self.format, self.what, off, len, size)),
            _ => Err(past_end(self.format, self.what, off, len, size)),
        }
    }

    /// `len` bytes at `off`, for checksums over part of the structure.
    pub fn bytes(&self, off: usize, len: usize) -> Result<&[u8]> {
        off.checked_add(len)
            .and_then(|end| self.buf.get(off..end))
            .ok_or_else(|| self.out_of_range(off, len))
    }

    /// Copies `b` to `off`.
    pub fn put(&mut self, off: usize, b: &[u8]) -> Result<()> {
        self.bytes_mut(off, b.len())?.copy_from_slice(b);
        Ok(())
    }

    /// Sets `len` bytes at `off` to `v`.
    pub fn fill(&mut self, off: usize, len: usize, v: u8) -> Result<()> {
        self.bytes_mut(off, len)?.fill(v);
        Ok(())
    }

    /// Writes a byte at `off`.
    pub fn u8(&mut self, off: usize, v: u8) -> Result<()> {
        self.put(off, &[v])
    }
    /// Writes a little-endian u16 at `off`.
    pub fn le16(&mut self, off: usize, v: u16) -> Result<()> {
        self.put(off, &v.to_le_bytes())
    }
    /// Writes a little-endian u32 at `off`.
    pub fn le32(&mut self, off: usize, v: u32) -> Result<()> {
        self.put(off, &v.to_le_bytes())
    }
    /// Writes a little-endian u64 at `off`.
    pub fn le64(&mut self, off: usize, v: u64) -> Result<()> {
        self.put(off, &v.to_le_bytes())
    }
    /// Writes a big-endian u16 at `off`.
    pub fn be16(&mut self, off: usize, v: u16) -> Result<()> {
        self.put(off, &v.to_be_bytes())
    }
    /// Writes a big-endian u32 at `off`.
    pub fn be32(&mut self, off: usize, v: u32) -> Result<()> {
        self.put(off, &v.to_be_bytes())
    }
    /// Writes a big-endian u64 at `off`.
    pub fn be64(&mut self, off: usize, v: u64) -> Result<()> {
        self.put(off, &v.to_be_bytes())
    }
}

fn past_end(format: &'static str, what: &str, off: usize, len: usize, size: usize) -> Error {
    Error::corrupt(
        format,
        what,
        format!("{len} bytes at offset {off} run past the end of the {size}-byte {what}"),
    )
}

/// `len` bytes at `off` of `b`, or the error naming `format` and `what`
/// (for one-off reads where a [`Reader`] would be ceremony).
pub fn slice<'a>(
    format: &'static str,
    what: &str,
    b: &'a [u8],
    off: usize,
    len: usize,
) -> Result<&'a [u8]> {
    Reader::new(format, what, b).bytes(off, len)
}

/// The mutable twin of [`slice`].
pub fn slice_mut<'a>(
    format: &'static str,
    what: &str,
    b: &'a mut [u8],
    off: usize,
    len: usize,
) -> Result<&'a mut [u8]> {
    let size = b.len();
    off.checked_add(len)
        .and_then(|end| b.get_mut(off..end))
        .ok_or_else(|| past_end(format, what, off, len, size))
}

/// The big-endian `u64`s of a table (an L1 or L2 table, a BAT); trailing
/// bytes short of a whole entry are ignored.
pub fn be64s(b: &[u8]) -> impl Iterator<Item = u64> + '_ {
    b.chunks_exact(8)
        .map(|c| c.try_into().map(u64::from_be_bytes).unwrap_or(0))
}

/// The big-endian `u32`s of a table.
pub fn be32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4)
        .map(|c| c.try_into().map(u32::from_be_bytes).unwrap_or(0))
}

/// The little-endian `u64`s of a table.
pub fn le64s(b: &[u8]) -> impl Iterator<Item = u64> + '_ {
    b.chunks_exact(8)
        .map(|c| c.try_into().map(u64::from_le_bytes).unwrap_or(0))
}

/// The little-endian `u32`s of a table.
pub fn le32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4)
        .map(|c| c.try_into().map(u32::from_le_bytes).unwrap_or(0))
}

/// The little-endian `u16`s of a table.
pub fn le16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2)
        .map(|c| c.try_into().map(u16::from_le_bytes).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_range_and_names_the_structure_past_it() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let r = Reader::new("gpt", "primary header", &b);
        assert_eq!(r.le16(0).unwrap(), 0x0201);
        assert_eq!(r.be32(1).unwrap(), 0x0203_0405);
        assert_eq!(r.le64(1).unwrap(), 0x0908_0706_0504_0302);
        assert_eq!(r.u8(8).unwrap(), 9);
        assert_eq!(r.rest(9).unwrap(), &[] as &[u8]);
        let e = r.le64(2).unwrap_err().to_string();
        assert_eq!(
            e,
            "gpt: primary header: 8 bytes at offset 2 run past the end of the 9-byte primary header"
        );
        assert!(r.bytes(usize::MAX, 2).is_err());
        assert!(r.u8(9).is_err());
        assert!(r.rest(10).is_err());
        let s = r.sub(4, 4, "entry").unwrap();
        assert_eq!(s.le32(0).unwrap(), 0x0807_0605);
        assert!(s.le32(1).unwrap_err().to_string().contains("4-byte entry"));
    }

    /// Every structure of the byte layer refuses short input with an error
    /// naming the format and the structure (never a panic, never zeros).
    #[test]
    fn every_structure_refuses_short_input_by_name() {
        fn check<T: std::fmt::Debug>(r: Result<T>, want: &str) {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("past the end"), "{e}");
        }
        let short = [0u8; 10];
        check(
            crate::gpt::raw::GptEntry::parse(&short),
            "gpt: partition entry",
        );
        check(
            crate::mbr::raw::PartitionRecord::parse(&short),
            "mbr: partition record",
        );
        check(crate::mbr::raw::records(&short), "mbr: partition table");
        check(crate::vhdx::raw::RegionTableEntry::parse(&short, 0), "vhdx");
        check(
            crate::vhdx::raw::MetadataTableEntry::parse(&short, 0),
            "vhdx",
        );
        check(crate::vmdk::raw::Marker::parse(&short), "vmdk: marker");
        check(
            crate::fat::raw::DirEntry::parse(&short),
            "fat: directory entry",
        );
        check(crate::fat::raw::lfn_units(&short), "fat: long name entry");
        check(
            crate::ext4::raw::Superblock::parse(&short),
            "ext4: superblock",
        );
        check(
            crate::ext4::raw::GroupDesc::parse(&short),
            "ext4: group descriptor",
        );
        check(crate::ext4::raw::Inode::parse(&short), "ext4: inode");
        check(crate::ext4::raw::Extent::parse(&short), "ext4: extent");
        check(
            crate::ext4::raw::ExtentIdx::parse(&short[..8]),
            "ext4: extent index",
        );
        check(
            crate::ext4::raw::JournalSuperblock::parse(&[0xC0, 0x3B, 0x39, 0x98, 0, 0]),
            "ext4: journal superblock",
        );
        check(
            crate::iso9660::raw::DirRecord::parse(&short),
            "iso9660: directory record",
        );
        check(
            crate::iso9660::raw::BootCatalogEntry::parse(&short[..4]),
            "iso9660: boot catalog entry",
        );
        check(
            crate::iso9660::raw::SuspEntry::parse(&short[..2]),
            "iso9660: SUSP entry",
        );

        check(
            crate::qcow2::raw::ExtensionHeader::parse(&short[..6]),
            "qcow2",
        );
        let mut small = [0u8; 8];
        check(
            crate::ext4::raw::ExtentHeader {
                eh_magic: 0xF30A,
                eh_entries: 0,
                eh_max: 0,
                eh_depth: 0,
                eh_generation: 0,
            }
            .encode(&mut small),
            "ext4: extent header",
        );
        check(
            crate::gpt::raw::GptEntry::parse(&[0u8; 128])
                .unwrap()
                .write_to(&mut small),
            "gpt: partition entry",
        );
    }

    #[test]
    fn writes_in_range_and_refuses_past_it() {
        let mut b = [0u8; 8];
        let mut w = Writer::new("qcow2", "header", &mut b);
        w.be32(0, 0x5146_49fb).unwrap();
        w.le16(4, 0x0102).unwrap();
        w.fill(6, 2, 0xff).unwrap();
        assert!(w.le32(6, 1).is_err());
        assert!(w.put(usize::MAX, &[1, 2]).is_err());
        assert_eq!(b, [0x51, 0x46, 0x49, 0xfb, 0x02, 0x01, 0xff, 0xff]);
        assert!(slice_mut("x", "y", &mut b, 7, 2).is_err());
        let t = [0u8, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3];
        assert_eq!(be64s(&t).collect::<Vec<_>>(), vec![7]);
        assert_eq!(le32s(&t).count(), 2);
        assert_eq!(le16s(&t).last(), Some(0x0201));
    }
}
