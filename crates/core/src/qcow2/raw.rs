//! qcow2 on-disk structures and constants, as qemu's docs/interop/qcow2.txt
//! names them. All integers are big-endian.

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

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl Header {
    /// Parses the first 112 bytes of a file (callers pad shorter inputs with
    /// zeros and check `header_length` against the real size).
    pub fn parse(b: &[u8; 112]) -> Header {
        let version = be32(b, 4);
        let mut h = Header {
            version,
            backing_file_offset: be64(b, 8),
            backing_file_size: be32(b, 16),
            cluster_bits: be32(b, 20),
            size: be64(b, 24),
            crypt_method: be32(b, 32),
            l1_size: be32(b, 36),
            l1_table_offset: be64(b, 40),
            refcount_table_offset: be64(b, 48),
            refcount_table_clusters: be32(b, 56),
            nb_snapshots: be32(b, 60),
            snapshots_offset: be64(b, 64),
            refcount_order: 4,
            header_length: HEADER_V2_LEN,
            ..Header::default()
        };
        if version >= 3 {
            h.incompatible_features = be64(b, 72);
            h.compatible_features = be64(b, 80);
            h.autoclear_features = be64(b, 88);
            h.refcount_order = be32(b, 96);
            h.header_length = be32(b, 100);
            if h.header_length >= 112 {
                h.compression_type = b[104];
            }
        }
        h
    }

    /// Serializes a version 3 header of `header_length` 104 bytes.
    pub fn to_bytes_v3(&self) -> [u8; HEADER_V3_LEN as usize] {
        let mut b = [0u8; HEADER_V3_LEN as usize];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[8..16].copy_from_slice(&self.backing_file_offset.to_be_bytes());
        b[16..20].copy_from_slice(&self.backing_file_size.to_be_bytes());
        b[20..24].copy_from_slice(&self.cluster_bits.to_be_bytes());
        b[24..32].copy_from_slice(&self.size.to_be_bytes());
        b[32..36].copy_from_slice(&self.crypt_method.to_be_bytes());
        b[36..40].copy_from_slice(&self.l1_size.to_be_bytes());
        b[40..48].copy_from_slice(&self.l1_table_offset.to_be_bytes());
        b[48..56].copy_from_slice(&self.refcount_table_offset.to_be_bytes());
        b[56..60].copy_from_slice(&self.refcount_table_clusters.to_be_bytes());
        b[60..64].copy_from_slice(&self.nb_snapshots.to_be_bytes());
        b[64..72].copy_from_slice(&self.snapshots_offset.to_be_bytes());
        b[72..80].copy_from_slice(&self.incompatible_features.to_be_bytes());
        b[80..88].copy_from_slice(&self.compatible_features.to_be_bytes());
        b[88..96].copy_from_slice(&self.autoclear_features.to_be_bytes());
        b[96..100].copy_from_slice(&self.refcount_order.to_be_bytes());
        b[100..104].copy_from_slice(&HEADER_V3_LEN.to_be_bytes());
        b
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
