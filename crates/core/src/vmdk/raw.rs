//! VMDK on-disk structures, named as in VMware's "Virtual Disk Format 1.1"
//! (section numbers of that document). Little-endian throughout.

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
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..4].copy_from_slice(SPARSE_MAGICNUMBER);
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..20].copy_from_slice(&self.capacity.to_le_bytes());
        b[20..28].copy_from_slice(&self.grain_size.to_le_bytes());
        b[28..36].copy_from_slice(&self.descriptor_offset.to_le_bytes());
        b[36..44].copy_from_slice(&self.descriptor_size.to_le_bytes());
        b[44..48].copy_from_slice(&self.num_gtes_per_gt.to_le_bytes());
        b[48..56].copy_from_slice(&self.rgd_offset.to_le_bytes());
        b[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.over_head.to_le_bytes());
        b[72] = self.unclean_shutdown as u8;
        // Newline detection characters: '\n', ' ', '\r', '\n'.
        b[73..77].copy_from_slice(b"\n \r\n");
        b[77..79].copy_from_slice(&self.compress_algorithm.to_le_bytes());
        b
    }

    /// Parses the fixed fields; `None` without the "KDMV" magic.
    pub fn parse(b: &[u8; 512]) -> Option<Self> {
        if &b[0..4] != SPARSE_MAGICNUMBER {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        Some(SparseExtentHeader {
            version: u32_at(4),
            flags: u32_at(8),
            capacity: u64_at(12),
            grain_size: u64_at(20),
            descriptor_offset: u64_at(28),
            descriptor_size: u64_at(36),
            num_gtes_per_gt: u32_at(44),
            rgd_offset: u64_at(48),
            gd_offset: u64_at(56),
            over_head: u64_at(64),
            unclean_shutdown: b[72] != 0,
            compress_algorithm: u16::from_le_bytes([b[77], b[78]]),
        })
    }
}

/// A metadata marker sector: `val` (sectors of metadata that follow),
/// `size` 0, `type`.
pub fn marker(val: u64, kind: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[0..8].copy_from_slice(&val.to_le_bytes());
    b[12..16].copy_from_slice(&kind.to_le_bytes());
    b
}

/// Descriptor `ddb.geometry.*` as qemu-img computes it: 16 heads for IDE,
/// 255 for SCSI adapters, 63 sectors per track, cylinders capped.
pub fn geometry(capacity_sectors: u64, adapter: &str) -> (u64, u64, u64) {
    let heads = if adapter == "ide" { 16 } else { 255 };
    let max_cyl = if adapter == "ide" { 16383 } else { 65535 };
    let cyl = (capacity_sectors / (heads * 63)).min(max_cyl);
    (cyl, heads, 63)
}
