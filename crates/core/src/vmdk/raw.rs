//! VMDK on-disk structures, named as in VMware's "Virtual Disk Format 1.1"
//! (section numbers of that document). Little-endian throughout.
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::Result;

/// Hosted sparse extent header magic "KDMV" (Sparse Extent Header).
pub const SPARSE_MAGICNUMBER: &[u8; 4] = b"KDMV";
/// ESX "COWD" sparse extents are not read.
pub const COWD_MAGIC: &[u8; 4] = b"COWD";
pub const SECTOR: u64 = 512;

/// Header flags (Sparse Extent Header, `flags`).
pub const FLAG_VALID_NEWLINE_TEST: u32 = 1 << 0;
pub const FLAG_USE_REDUNDANT_GT: u32 = 1 << 1;
pub const FLAG_ZEROED_GRAIN_GTE: u32 = 1 << 2;
pub const FLAG_COMPRESSED: u32 = 1 << 16;
pub const FLAG_MARKERS: u32 = 1 << 17;

pub const COMPRESSION_NONE: u16 = 0;
pub const COMPRESSION_DEFLATE: u16 = 1;

/// gdOffset of a stream-optimized header: the grain directory is found
/// through the footer at the end of the file ("Stream-Optimized Compressed
/// Sparse Extents").
pub const GD_AT_END: u64 = u64::MAX;

/// Defaults as VMware and qemu-img write them: 64 KiB grains, 512 GTEs per
/// grain table (a GT covers 32 MiB).
pub const DEFAULT_GRAIN_SECTORS: u64 = 128;
pub const NUM_GTES_PER_GT: u32 = 512;
/// Grain size limits accepted by the reader (1 sector .. 1 MiB).
pub const MAX_GRAIN_SECTORS: u64 = 2048;
/// Capacity accepted by the reader: 64 TiB in sectors.
pub const MAX_CAPACITY_SECTORS: u64 = (64u64 << 40) / SECTOR;

/// Stream-optimized marker types (Marker `type`).
pub const MARKER_EOS: u32 = 0;
pub const MARKER_GT: u32 = 1;
pub const MARKER_GD: u32 = 2;
pub const MARKER_FOOTER: u32 = 3;
/// A grain marker is `lba: u64, size: u32` followed by the compressed data.
pub const GRAIN_MARKER_SIZE: usize = 12;

/// The 512-byte hosted sparse extent header (`SparseExtentHeader`, packed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseExtentHeader {
    pub version: u32,
    pub flags: u32,
    /// Sectors.
    pub capacity: u64,
    /// Sectors per grain.
    pub grain_size: u64,
    pub descriptor_offset: u64,
    pub descriptor_size: u64,
    pub num_gtes_per_gt: u32,
    pub rgd_offset: u64,
    pub gd_offset: u64,
    /// Sectors of metadata before the first grain.
    pub over_head: u64,
    pub unclean_shutdown: bool,
    pub compress_algorithm: u16,
}

impl SparseExtentHeader {
    pub fn to_bytes(&self) -> Result<[u8; 512]> {
        let mut b = [0u8; 512];
        let mut w = Writer::new("vmdk", "sparse extent header", &mut b);
        w.put(0, SPARSE_MAGICNUMBER)?;
        w.le32(4, self.version)?;
        w.le32(8, self.flags)?;
        w.le64(12, self.capacity)?;
        w.le64(20, self.grain_size)?;
        w.le64(28, self.descriptor_offset)?;
        w.le64(36, self.descriptor_size)?;
        w.le32(44, self.num_gtes_per_gt)?;
        w.le64(48, self.rgd_offset)?;
        w.le64(56, self.gd_offset)?;
        w.le64(64, self.over_head)?;
        w.u8(72, self.unclean_shutdown as u8)?;
        // Newline detection characters: '\n', ' ', '\r', '\n'.
        w.put(73, b"\n \r\n")?;
        w.le16(77, self.compress_algorithm)?;
        Ok(b)
    }

    /// Parses the fixed fields; `None` without the "KDMV" magic.
    pub fn parse(b: &[u8; 512]) -> Result<Option<Self>> {
        let r = Reader::new("vmdk", "sparse extent header", b);
        if r.bytes(0, 4)? != SPARSE_MAGICNUMBER {
            return Ok(None);
        }
        Ok(Some(SparseExtentHeader {
            version: r.le32(4)?,
            flags: r.le32(8)?,
            capacity: r.le64(12)?,
            grain_size: r.le64(20)?,
            descriptor_offset: r.le64(28)?,
            descriptor_size: r.le64(36)?,
            num_gtes_per_gt: r.le32(44)?,
            rgd_offset: r.le64(48)?,
            gd_offset: r.le64(56)?,
            over_head: r.le64(64)?,
            unclean_shutdown: r.u8(72)? != 0,
            compress_algorithm: r.le16(77)?,
        }))
    }
}

/// A stream-optimized marker ("Stream-Optimized Compressed Sparse
/// Extents", Marker): `val` (an LBA or a sector count), `size` (0 for a
/// metadata marker), `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub val: u64,
    pub size: u32,
    pub kind: u32,
}

impl Marker {
    pub fn parse(b: &[u8]) -> Result<Marker> {
        let r = Reader::new("vmdk", "marker", b);
        Ok(Marker {
            val: r.le64(0)?,
            size: r.le32(8)?,
            kind: r.le32(12)?,
        })
    }
}

/// A metadata marker sector: `val` (sectors of metadata that follow),
/// `size` 0, `type`.
pub fn marker(val: u64, kind: u32) -> Result<[u8; 512]> {
    let mut b = [0u8; 512];
    let mut w = Writer::new("vmdk", "marker", &mut b);
    w.le64(0, val)?;
    w.le32(12, kind)?;
    Ok(b)
}

/// Descriptor `ddb.geometry.*` as qemu-img computes it: 16 heads for IDE,
/// 255 for SCSI adapters, 63 sectors per track, cylinders capped.
pub fn geometry(capacity_sectors: u64, adapter: &str) -> (u64, u64, u64) {
    let heads = if adapter == "ide" { 16 } else { 255 };
    let max_cyl = if adapter == "ide" { 16383 } else { 65535 };
    let cyl = (capacity_sectors / (heads * 63)).min(max_cyl);
    (cyl, heads, 63)
}
