//! VHD on-disk structures ("Virtual Hard Disk Image Format Specification",
//! Microsoft, version 1.0): the hard disk footer (Appendix, "Hard Disk
//! Footer Format"), the dynamic disk header ("Dynamic Disk Header Format"),
//! the block allocation table and CHS geometry ("CHS Calculation"). All
//! integers are big-endian.
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::Result;

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
    pub fn parse(b: &[u8; FOOTER_LEN]) -> Result<Footer> {
        let r = Reader::new("vhd", "footer", b);
        Ok(Footer {
            features: r.be32(8)?,
            file_format_version: r.be32(12)?,
            data_offset: r.be64(16)?,
            time_stamp: r.be32(24)?,
            creator_application: r.array(28)?,
            creator_version: r.be32(32)?,
            creator_host_os: r.be32(36)?,
            original_size: r.be64(40)?,
            current_size: r.be64(48)?,
            cylinders: r.be16(56)?,
            heads: r.u8(58)?,
            sectors_per_track: r.u8(59)?,
            disk_type: r.be32(60)?,
            checksum: r.be32(64)?,
            unique_id: r.array(68)?,
            saved_state: r.u8(84)?,
        })
    }

    /// Serializes, computing the checksum.
    pub fn to_bytes(&self) -> Result<[u8; FOOTER_LEN]> {
        let mut b = [0u8; FOOTER_LEN];
        let mut w = Writer::new("vhd", "footer", &mut b);
        w.put(0, &COOKIE)?;
        w.be32(8, self.features)?;
        w.be32(12, self.file_format_version)?;
        w.be64(16, self.data_offset)?;
        w.be32(24, self.time_stamp)?;
        w.put(28, &self.creator_application)?;
        w.be32(32, self.creator_version)?;
        w.be32(36, self.creator_host_os)?;
        w.be64(40, self.original_size)?;
        w.be64(48, self.current_size)?;
        w.be16(56, self.cylinders)?;
        w.u8(58, self.heads)?;
        w.u8(59, self.sectors_per_track)?;
        w.be32(60, self.disk_type)?;
        w.put(68, &self.unique_id)?;
        w.u8(84, self.saved_state)?;
        let c = checksum(w.buf(), 64);
        w.be32(64, c)?;
        Ok(b)
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
    pub fn parse(b: &[u8; DYN_HEADER_LEN]) -> Result<DynHeader> {
        let r = Reader::new("vhd", "dynamic disk header", b);
        Ok(DynHeader {
            data_offset: r.be64(8)?,
            table_offset: r.be64(16)?,
            header_version: r.be32(24)?,
            max_table_entries: r.be32(28)?,
            block_size: r.be32(32)?,
            checksum: r.be32(36)?,
        })
    }

    pub fn to_bytes(&self) -> Result<[u8; DYN_HEADER_LEN]> {
        let mut b = [0u8; DYN_HEADER_LEN];
        let mut w = Writer::new("vhd", "dynamic disk header", &mut b);
        w.put(0, &DYN_COOKIE)?;
        w.be64(8, self.data_offset)?;
        w.be64(16, self.table_offset)?;
        w.be32(24, self.header_version)?;
        w.be32(28, self.max_table_entries)?;
        w.be32(32, self.block_size)?;
        let c = checksum(w.buf(), 36);
        w.be32(36, c)?;
        Ok(b)
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
