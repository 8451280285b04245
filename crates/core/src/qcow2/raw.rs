//! qcow2 on-disk structures and constants, as qemu's docs/interop/qcow2.txt
//! names them. All integers are big-endian.
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::Result;

/// "QFI\xfb" (qcow2.txt, "Header", bytes 0-3).
pub const MAGIC: [u8; 4] = *b"QFI\xfb";

/// Size of the version 2 header (bytes 0-71).
pub const HEADER_V2_LEN: u32 = 72;
/// Size of the version 3 header without the compression type (bytes 0-103).
pub const HEADER_V3_LEN: u32 = 104;

/// Incompatible feature bits (header bytes 72-79).
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
/// The incompatible bits this reader understands.
pub const INCOMPAT_KNOWN: u64 = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION;

/// Header extension types ("Header extensions").
pub const EXT_END: u32 = 0;
pub const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
pub const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
pub const EXT_DATA_FILE: u32 = 0x4441_5441;

/// L1/L2 entry bits ("Cluster mapping").
pub const OFLAG_COPIED: u64 = 1 << 63;
pub const OFLAG_COMPRESSED: u64 = 1 << 62;
pub const OFLAG_ZERO: u64 = 1;
/// Bits 9-55: offset of an L2 table or a standard cluster.
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;

/// Smallest and largest cluster_bits qemu accepts (512 B .. 2 MiB).
pub const MIN_CLUSTER_BITS: u32 = 9;
pub const MAX_CLUSTER_BITS: u32 = 21;

/// qemu's limit on the L1 table (QCOW_MAX_L1_SIZE, 32 MiB).
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// qemu's limit on the refcount table (QCOW_MAX_REFTABLE_SIZE, 8 MiB).
pub const MAX_REFTABLE_BYTES: u64 = 8 << 20;

/// The fields of the qcow2 header ("Header").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub backing_file_offset: u64,
    pub backing_file_size: u32,
    pub cluster_bits: u32,
    pub size: u64,
    pub crypt_method: u32,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u32,
    pub nb_snapshots: u32,
    pub snapshots_offset: u64,
    // Version 3 only (version 2 implies zeros and refcount_order 4).
    pub incompatible_features: u64,
    pub compatible_features: u64,
    pub autoclear_features: u64,
    pub refcount_order: u32,
    pub header_length: u32,
    /// Byte 104 when header_length >= 112 (0 = deflate, 1 = zstd).
    pub compression_type: u8,
}

/// Test helper: the big-endian u64 at `at` of a whole image.
#[cfg(test)]
#[allow(clippy::indexing_slicing)]
pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

impl Header {
    /// Parses the first 112 bytes of a file (callers pad shorter inputs with
    /// zeros and check `header_length` against the real size).
    pub fn parse(b: &[u8; 112]) -> Result<Header> {
        let r = Reader::new("qcow2", "header", b);
        let version = r.be32(4)?;
        let mut h = Header {
            version,
            backing_file_offset: r.be64(8)?,
            backing_file_size: r.be32(16)?,
            cluster_bits: r.be32(20)?,
            size: r.be64(24)?,
            crypt_method: r.be32(32)?,
            l1_size: r.be32(36)?,
            l1_table_offset: r.be64(40)?,
            refcount_table_offset: r.be64(48)?,
            refcount_table_clusters: r.be32(56)?,
            nb_snapshots: r.be32(60)?,
            snapshots_offset: r.be64(64)?,
            refcount_order: 4,
            header_length: HEADER_V2_LEN,
            ..Header::default()
        };
        if version >= 3 {
            h.incompatible_features = r.be64(72)?;
            h.compatible_features = r.be64(80)?;
            h.autoclear_features = r.be64(88)?;
            h.refcount_order = r.be32(96)?;
            h.header_length = r.be32(100)?;
            if h.header_length >= 112 {
                h.compression_type = r.u8(104)?;
            }
        }
        Ok(h)
    }

    /// Serializes a version 3 header of `header_length` 104 bytes.
    pub fn to_bytes_v3(&self) -> Result<[u8; HEADER_V3_LEN as usize]> {
        let mut b = [0u8; HEADER_V3_LEN as usize];
        let mut w = Writer::new("qcow2", "header", &mut b);
        w.put(0, &MAGIC)?;
        w.be32(4, 3)?;
        w.be64(8, self.backing_file_offset)?;
        w.be32(16, self.backing_file_size)?;
        w.be32(20, self.cluster_bits)?;
        w.be64(24, self.size)?;
        w.be32(32, self.crypt_method)?;
        w.be32(36, self.l1_size)?;
        w.be64(40, self.l1_table_offset)?;
        w.be64(48, self.refcount_table_offset)?;
        w.be32(56, self.refcount_table_clusters)?;
        w.be32(60, self.nb_snapshots)?;
        w.be64(64, self.snapshots_offset)?;
        w.be64(72, self.incompatible_features)?;
        w.be64(80, self.compatible_features)?;
        w.be64(88, self.autoclear_features)?;
        w.be32(96, self.refcount_order)?;
        w.be32(100, HEADER_V3_LEN)?;
        Ok(b)
    }
}

/// A header extension's type and length ("Header extensions"): the 8
/// bytes before its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionHeader {
    pub ext_type: u32,
    pub length: u32,
}

impl ExtensionHeader {
    pub fn parse(b: &[u8]) -> Result<ExtensionHeader> {
        let r = Reader::new("qcow2", "header extension", b);
        Ok(ExtensionHeader {
            ext_type: r.be32(0)?,
            length: r.be32(4)?,
        })
    }
}

/// A compressed cluster descriptor ("Compressed Clusters Descriptor"): with
/// x = 62 - (cluster_bits - 8), bits 0..x-1 hold the host offset and bits
/// x..61 the number of 512-byte sectors after the first one.
pub fn compressed_shift(cluster_bits: u32) -> u32 {
    62 - (cluster_bits - 8)
}

/// Encodes a compressed L2 entry for `len` bytes stored at `host_offset`.
pub fn compressed_entry(cluster_bits: u32, host_offset: u64, len: u64) -> u64 {
    let x = compressed_shift(cluster_bits);
    let end = host_offset + len;
    let first_sector = host_offset / 512;
    let last_sector = (end - 1) / 512;
    let extra = last_sector - first_sector;
    OFLAG_COMPRESSED | (extra << x) | host_offset
}

/// Decodes a compressed L2 entry into (host offset, bytes to read).
pub fn compressed_span(cluster_bits: u32, entry: u64) -> (u64, u64) {
    let x = compressed_shift(cluster_bits);
    let offset = entry & ((1u64 << x) - 1);
    let nb_mask = (1u64 << (cluster_bits - 8)) - 1;
    let sectors = ((entry >> x) & nb_mask) + 1;
    (offset, sectors * 512 - (offset & 511))
}
