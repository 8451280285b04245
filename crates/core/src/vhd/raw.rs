//! VHD on-disk structures ("Virtual Hard Disk Image Format Specification",
//! Microsoft, version 1.0): the hard disk footer (Appendix, "Hard Disk
//! Footer Format"), the dynamic disk header ("Dynamic Disk Header Format"),
//! the block allocation table and CHS geometry ("CHS Calculation"). All
//! integers are big-endian.

/// Footer cookie.
pub const COOKIE: [u8; 8] = *b"conectix";
/// Dynamic disk header cookie.
pub const DYN_COOKIE: [u8; 8] = *b"cxsparse";
/// "Features": bit 1 is reserved and must be set.
pub const FEATURES_RESERVED: u32 = 2;
pub const FILE_FORMAT_VERSION: u32 = 0x0001_0000;
pub const DYN_HEADER_VERSION: u32 = 0x0001_0000;
/// Disk types.
pub const DISK_FIXED: u32 = 2;
pub const DISK_DYNAMIC: u32 = 3;
pub const DISK_DIFFERENCING: u32 = 4;
/// Data offset of a fixed disk's footer: none.
pub const NO_OFFSET: u64 = u64::MAX;
/// An unused BAT entry.
pub const BAT_UNUSED: u32 = u32::MAX;
pub const FOOTER_LEN: usize = 512;
pub const DYN_HEADER_LEN: usize = 1024;
/// Default block size of a dynamic disk (2 MiB), as qemu-img and Hyper-V.
pub const DEFAULT_BLOCK_SIZE: u64 = 2 << 20;
/// VHD timestamps count seconds from 2000-01-01T00:00:00Z.
pub const VHD_EPOCH: i64 = 946_684_800;
/// Host OS "Wi2k", as qemu writes.
pub const CREATOR_HOST_OS: u32 = 0x5769_326b;
/// Largest CHS geometry, 65535 x 16 x 255 sectors.
pub const MAX_GEOMETRY: u64 = 65535 * 16 * 255;
/// qemu's size limit for VHD (2040 GiB).
pub const MAX_SECTORS: u64 = 0xff00_0000;

/// The 512-byte hard disk footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    pub features: u32,
    pub file_format_version: u32,
    pub data_offset: u64,
    pub time_stamp: u32,
    pub creator_application: [u8; 4],
    pub creator_version: u32,
    pub creator_host_os: u32,
    pub original_size: u64,
    pub current_size: u64,
    pub cylinders: u16,
    pub heads: u8,
    pub sectors_per_track: u8,
    pub disk_type: u32,
    pub checksum: u32,
    pub unique_id: [u8; 16],
    pub saved_state: u8,
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// One's complement of the byte sum, with the checksum field counted as
/// zero (spec: "Checksum").
pub fn checksum(b: &[u8], checksum_at: usize) -> u32 {
    let mut sum = 0u32;
    for (i, &x) in b.iter().enumerate() {
        if !(checksum_at..checksum_at + 4).contains(&i) {
            sum = sum.wrapping_add(x as u32);
        }
    }
    !sum
}

impl Footer {
    pub fn parse(b: &[u8; FOOTER_LEN]) -> Footer {
        let mut app = [0u8; 4];
        app.copy_from_slice(&b[28..32]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[68..84]);
        Footer {
            features: be32(b, 8),
            file_format_version: be32(b, 12),
            data_offset: be64(b, 16),
            time_stamp: be32(b, 24),
            creator_application: app,
            creator_version: be32(b, 32),
            creator_host_os: be32(b, 36),
            original_size: be64(b, 40),
            current_size: be64(b, 48),
            cylinders: u16::from_be_bytes([b[56], b[57]]),
            heads: b[58],
            sectors_per_track: b[59],
            disk_type: be32(b, 60),
            checksum: be32(b, 64),
            unique_id: id,
            saved_state: b[84],
        }
    }

    /// Serializes, computing the checksum.
    pub fn to_bytes(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[0..8].copy_from_slice(&COOKIE);
        b[8..12].copy_from_slice(&self.features.to_be_bytes());
        b[12..16].copy_from_slice(&self.file_format_version.to_be_bytes());
        b[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.time_stamp.to_be_bytes());
        b[28..32].copy_from_slice(&self.creator_application);
        b[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        b[36..40].copy_from_slice(&self.creator_host_os.to_be_bytes());
        b[40..48].copy_from_slice(&self.original_size.to_be_bytes());
        b[48..56].copy_from_slice(&self.current_size.to_be_bytes());
        b[56..58].copy_from_slice(&self.cylinders.to_be_bytes());
        b[58] = self.heads;
        b[59] = self.sectors_per_track;
        b[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        b[68..84].copy_from_slice(&self.unique_id);
        b[84] = self.saved_state;
        let c = checksum(&b, 64);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// Sectors as CHS geometry counts them.
    pub fn chs_sectors(&self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors_per_track as u64
    }
}

/// The 1024-byte dynamic disk header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynHeader {
    pub data_offset: u64,
    pub table_offset: u64,
    pub header_version: u32,
    pub max_table_entries: u32,
    pub block_size: u32,
    pub checksum: u32,
}

impl DynHeader {
    pub fn parse(b: &[u8; DYN_HEADER_LEN]) -> DynHeader {
        DynHeader {
            data_offset: be64(b, 8),
            table_offset: be64(b, 16),
            header_version: be32(b, 24),
            max_table_entries: be32(b, 28),
            block_size: be32(b, 32),
            checksum: be32(b, 36),
        }
    }

    pub fn to_bytes(&self) -> [u8; DYN_HEADER_LEN] {
        let mut b = [0u8; DYN_HEADER_LEN];
        b[0..8].copy_from_slice(&DYN_COOKIE);
        b[8..16].copy_from_slice(&self.data_offset.to_be_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.header_version.to_be_bytes());
        b[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        b[32..36].copy_from_slice(&self.block_size.to_be_bytes());
        let c = checksum(&b, 36);
        b[36..40].copy_from_slice(&c.to_be_bytes());
        b
    }
}

/// CHS geometry for `total_sectors` (spec "CHS Calculation"; the same
/// arithmetic as qemu's block/vpc.c calculate_geometry).
pub fn geometry(total_sectors: u64) -> (u16, u8, u8) {
    let total = total_sectors.min(MAX_GEOMETRY);
    let (spt, heads, cth);
    if total >= 65535 * 16 * 63 {
        spt = 255u64;
        heads = 16u64;
        cth = total / spt;
    } else {
        let mut s = 17u64;
        let mut c = total / s;
        let mut h = c.div_ceil(1024).max(4);
        if c >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            c = total / s;
        }
        if c >= h * 1024 {
            s = 63;
            h = 16;
            c = total / s;
        }
        spt = s;
        heads = h;
        cth = c;
    }
    ((cth / heads) as u16, heads as u8, spt as u8)
}

/// The geometry and size (in sectors) a new image of `bytes` gets, as
/// qemu-img's vpc_create computes them: the smallest CHS geometry holding at
/// least the requested sectors (so a conversion never truncates), and the
/// size rounded up to it; when only the maximum geometry holds it, the size
/// is kept (rounded up to a sector) and readers take it from current_size.
pub fn size_for(bytes: u64) -> (u64, (u16, u8, u8)) {
    let want = bytes.div_ceil(512);
    let target = want.min(MAX_GEOMETRY);
    let mut g = (0u16, 0u8, 0u8);
    let chs = |g: (u16, u8, u8)| g.0 as u64 * g.1 as u64 * g.2 as u64;
    let mut i = 0;
    while target > chs(g) {
        g = geometry(target + i);
        i += 1;
    }
    if chs(g) == MAX_GEOMETRY {
        (want, g)
    } else {
        (chs(g), g)
    }
}

/// Bytes of a block's sector bitmap, padded to a sector.
pub fn bitmap_len(block_size: u64) -> u64 {
    (block_size / 512).div_ceil(8).next_multiple_of(512)
}
