//! VHDX on-disk structures and constants, named as in [MS-VHDX] v20160714.
//! All integers are little-endian; GUIDs are stored in the Microsoft
//! mixed-endian layout (first three fields little-endian).
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::Result;

/// 2.2.1 File Type Identifier: "vhdxfile" then a UTF-16LE creator (512 bytes).
pub const FILE_SIGNATURE: &[u8; 8] = b"vhdxfile";
pub const CREATOR_LEN: usize = 512;

/// 2.2.2 Headers: two copies at 64 KiB and 128 KiB; each 4 KiB is checksummed.
pub const HEADER1_OFFSET: u64 = 64 * 1024;
pub const HEADER2_OFFSET: u64 = 128 * 1024;
pub const HEADER_SIZE: usize = 4096;
pub const HEADER_SIGNATURE: &[u8; 4] = b"head";
pub const HEADER_VERSION: u16 = 1;
pub const LOG_VERSION: u16 = 0;

/// 2.2.3 Region table: two copies at 192 KiB and 256 KiB, 64 KiB each.
pub const REGION_TABLE1_OFFSET: u64 = 192 * 1024;
pub const REGION_TABLE2_OFFSET: u64 = 256 * 1024;
pub const REGION_TABLE_SIZE: usize = 64 * 1024;
pub const REGION_SIGNATURE: &[u8; 4] = b"regi";
/// 2.2.3.1: at most 2047 entries.
pub const REGION_MAX_ENTRIES: u32 = 2047;

/// The header section ends at 1 MiB; every region is 1 MiB aligned (2.2).
pub const MIB: u64 = 1024 * 1024;

/// 2.2.3.2 Region table entry GUIDs.
pub const BAT_GUID: [u8; 16] = ms_guid(
    0x2DC2_7766,
    0xF623,
    0x4200,
    [0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08],
);
pub const METADATA_GUID: [u8; 16] = ms_guid(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);

/// 2.6.1 Metadata table header.
pub const METADATA_SIGNATURE: &[u8; 8] = b"metadata";
/// 2.6.1: the table is 64 KiB; items start at or after it.
pub const METADATA_TABLE_SIZE: u64 = 64 * 1024;
pub const METADATA_MAX_ENTRIES: u16 = 2047;
/// 2.6.1.2 entry flags.
pub const META_IS_USER: u32 = 1;
pub const META_IS_VIRTUAL_DISK: u32 = 2;
pub const META_IS_REQUIRED: u32 = 4;

/// 2.6.2 Known metadata items.
pub const FILE_PARAMETERS_GUID: [u8; 16] = ms_guid(
    0xCAA1_6737,
    0xFA36,
    0x4D43,
    [0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B],
);
pub const VIRTUAL_DISK_SIZE_GUID: [u8; 16] = ms_guid(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);
/// 2.6.2.3 Page 83 Data: holds the VirtualDiskId GUID.
pub const PAGE83_DATA_GUID: [u8; 16] = ms_guid(
    0xBECA_12AB,
    0xB2E6,
    0x4523,
    [0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46],
);
pub const LOGICAL_SECTOR_SIZE_GUID: [u8; 16] = ms_guid(
    0x8141_BF1D,
    0xA96F,
    0x4709,
    [0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F],
);
pub const PHYSICAL_SECTOR_SIZE_GUID: [u8; 16] = ms_guid(
    0xCDA3_48C7,
    0x445D,
    0x4471,
    [0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56],
);
pub const PARENT_LOCATOR_GUID: [u8; 16] = ms_guid(
    0xA8D3_5F2D,
    0xB30B,
    0x454D,
    [0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C],
);

/// 2.6.2.1 File Parameters flags.
pub const LEAVE_BLOCKS_ALLOCATED: u32 = 1;
pub const HAS_PARENT: u32 = 2;

/// 2.5.1 BAT entry states (low 3 bits); FileOffsetMB is bits 20..63.
pub const PAYLOAD_BLOCK_NOT_PRESENT: u64 = 0;
pub const PAYLOAD_BLOCK_UNDEFINED: u64 = 1;
pub const PAYLOAD_BLOCK_ZERO: u64 = 2;
pub const PAYLOAD_BLOCK_UNMAPPED: u64 = 3;
pub const PAYLOAD_BLOCK_FULLY_PRESENT: u64 = 6;
pub const PAYLOAD_BLOCK_PARTIALLY_PRESENT: u64 = 7;
pub const SB_BLOCK_NOT_PRESENT: u64 = 0;
pub const BAT_STATE_MASK: u64 = 7;
pub const BAT_OFFSET_MASK: u64 = !(MIB - 1);

/// 2.2.2 / 2.6.2.1 limits.
pub const MIN_BLOCK_SIZE: u64 = MIB;
pub const MAX_BLOCK_SIZE: u64 = 256 * MIB;
/// 2.6.2.2: at most 64 TiB.
pub const MAX_VIRTUAL_DISK_SIZE: u64 = 64 << 40;
/// 2.5: ChunkRatio = (2^23 * LogicalSectorSize) / BlockSize.
pub const SECTORS_PER_BITMAP: u64 = 1 << 23;

/// A GUID in its on-disk (Microsoft, mixed-endian) byte order.
pub const fn ms_guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> [u8; 16] {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

/// 2.2.2 Header. GUIDs are in their on-disk byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdxHeader {
    pub checksum: u32,
    pub sequence_number: u64,
    pub file_write_guid: [u8; 16],
    pub data_write_guid: [u8; 16],
    pub log_guid: [u8; 16],
    pub log_version: u16,
    pub version: u16,
    pub log_length: u32,
    pub log_offset: u64,
}

impl VhdxHeader {
    /// Parses a header (the 4 KiB the checksum covers); `None` when the
    /// signature or CRC-32C is wrong.
    pub fn parse(b: &[u8]) -> Result<Option<VhdxHeader>> {
        let r = Reader::new("vhdx", "header", b);
        let checksum = r.le32(4)?;
        if r.bytes(0, 4)? != HEADER_SIGNATURE || checksum != checksum_with_zero_field(b, 4) {
            return Ok(None);
        }
        Ok(Some(VhdxHeader {
            checksum,
            sequence_number: r.le64(8)?,
            file_write_guid: r.array(16)?,
            data_write_guid: r.array(32)?,
            log_guid: r.array(48)?,
            log_version: r.le16(64)?,
            version: r.le16(66)?,
            log_length: r.le32(68)?,
            log_offset: r.le64(72)?,
        }))
    }

    /// The 4 KiB header with its CRC-32C (`checksum` is computed).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut b = vec![0u8; HEADER_SIZE];
        let mut w = Writer::new("vhdx", "header", &mut b);
        w.put(0, HEADER_SIGNATURE)?;
        w.le64(8, self.sequence_number)?;
        w.put(16, &self.file_write_guid)?;
        w.put(32, &self.data_write_guid)?;
        w.put(48, &self.log_guid)?;
        w.le16(64, self.log_version)?;
        w.le16(66, self.version)?;
        w.le32(68, self.log_length)?;
        w.le64(72, self.log_offset)?;
        let crc = checksum_with_zero_field(w.buf(), 4);
        w.le32(4, crc)?;
        Ok(b)
    }
}

/// 2.2.3 Region table: its header (signature, CRC-32C, entry count) and
/// `entries`, in a 64 KiB table.
pub fn encode_region_table(entries: &[RegionTableEntry]) -> Result<Vec<u8>> {
    let mut b = vec![0u8; REGION_TABLE_SIZE];
    {
        let mut w = Writer::new("vhdx", "region table", &mut b);
        w.put(0, REGION_SIGNATURE)?;
        w.le32(8, entries.len() as u32)?;
    }
    for (i, e) in entries.iter().enumerate() {
        e.encode(&mut b, i)?;
    }
    let crc = checksum_with_zero_field(&b, 4);
    Writer::new("vhdx", "region table", &mut b).le32(4, crc)?;
    Ok(b)
}

/// 2.2.3.2 Region table entry (32 bytes, after the 16-byte table header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionTableEntry {
    pub guid: [u8; 16],
    pub file_offset: u64,
    pub length: u32,
    pub required: bool,
}

impl RegionTableEntry {
    /// Entry `i` of a region table.
    pub fn parse(table: &[u8], i: usize) -> Result<RegionTableEntry> {
        let e = Reader::new("vhdx", "region table", table).sub(
            16usize.saturating_add(i.saturating_mul(32)),
            32,
            "region table entry",
        )?;
        Ok(RegionTableEntry {
            guid: e.array(0)?,
            file_offset: e.le64(16)?,
            length: e.le32(24)?,
            required: e.le32(28)? & 1 != 0,
        })
    }

    /// Writes entry `i` of a region table.
    pub fn encode(&self, table: &mut [u8], i: usize) -> Result<()> {
        let mut w = Writer::new("vhdx", "region table", table);
        let e = 16usize.saturating_add(i.saturating_mul(32));
        w.put(e, &self.guid)?;
        w.le64(e + 16, self.file_offset)?;
        w.le32(e + 24, self.length)?;
        w.le32(e + 28, self.required as u32)?;
        Ok(())
    }
}

/// 2.6.1.2 Metadata table entry (32 bytes, after the 32-byte table header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTableEntry {
    pub item_id: [u8; 16],
    pub offset: u32,
    pub length: u32,
    pub flags: u32,
}

impl MetadataTableEntry {
    /// Entry `i` of a metadata table.
    pub fn parse(table: &[u8], i: usize) -> Result<MetadataTableEntry> {
        let e = Reader::new("vhdx", "metadata table", table).sub(
            32usize.saturating_add(i.saturating_mul(32)),
            32,
            "metadata table entry",
        )?;
        Ok(MetadataTableEntry {
            item_id: e.array(0)?,
            offset: e.le32(16)?,
            length: e.le32(20)?,
            flags: e.le32(24)?,
        })
    }

    /// Writes entry `i` of a metadata table.
    pub fn encode(&self, table: &mut [u8], i: usize) -> Result<()> {
        let mut w = Writer::new("vhdx", "metadata table", table);
        let e = 32usize.saturating_add(i.saturating_mul(32));
        w.put(e, &self.item_id)?;
        w.le32(e + 16, self.offset)?;
        w.le32(e + 20, self.length)?;
        w.le32(e + 24, self.flags)?;
        Ok(())
    }
}

/// Converts an RFC 4122 (big-endian) UUID to the on-disk GUID layout and back
/// (the swap is its own inverse).
pub fn swap_guid(u: [u8; 16]) -> [u8; 16] {
    let mut g = u;
    g[0..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    g
}

/// 2.5: ChunkRatio for a block size (logical sector size 512 or 4096).
pub fn chunk_ratio(block_size: u64, logical_sector_size: u64) -> u64 {
    SECTORS_PER_BITMAP * logical_sector_size / block_size
}

/// 2.5.1: TotalBATEntries for a dynamic or fixed disk: each run of
/// ChunkRatio payload entries is followed by one sector bitmap entry.
pub fn total_bat_entries(payload_blocks: u64, chunk_ratio: u64) -> u64 {
    if payload_blocks == 0 {
        0
    } else {
        payload_blocks + (payload_blocks - 1) / chunk_ratio
    }
}

/// Index in the BAT of payload block `i`.
pub fn bat_index(i: u64, chunk_ratio: u64) -> u64 {
    i + i / chunk_ratio
}

/// CRC-32C of `buf` with the 4-byte checksum field at `at` taken as zero
/// (2.2.2, 2.2.3: Checksum covers the structure with the field zeroed).
pub fn checksum_with_zero_field(buf: &[u8], at: usize) -> u32 {
    let crc = crc32c::crc32c(buf.get(..at).unwrap_or_default());
    let crc = crc32c::crc32c_append(crc, &[0; 4]);
    crc32c::crc32c_append(crc, buf.get(at.saturating_add(4)..).unwrap_or_default())
}

/// 2.3.1.1 Log entry header ("loge", 64 bytes); entries are 4 KiB multiples.
pub const LOG_ENTRY_SIGNATURE: &[u8; 4] = b"loge";
/// 2.3.1.2 Zero descriptor and 2.3.1.3 data descriptor (32 bytes each).
pub const ZERO_DESCRIPTOR_SIGNATURE: &[u8; 4] = b"zero";
pub const DATA_DESCRIPTOR_SIGNATURE: &[u8; 4] = b"desc";
/// 2.3.1.4 Data sector (4 KiB).
pub const DATA_SECTOR_SIGNATURE: &[u8; 4] = b"data";
pub const LOG_SECTOR: u64 = 4096;
pub const LOG_ENTRY_HEADER_SIZE: u64 = 64;
pub const LOG_DESCRIPTOR_SIZE: u64 = 32;
