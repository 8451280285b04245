//! The Master Boot Record and Extended Boot Records (UEFI Specification
//! 2.10, section 5.2.1 "Legacy MBR", table 5-1 and 5-2; the EBR chain as
//! DOS, fdisk and sfdisk write it).
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::Result;

/// Offset of UniqueMBRDiskSignature (UEFI table 5-1).
pub const DISK_SIGNATURE_OFFSET: usize = 440;
/// Offset of the four 16-byte partition records (UEFI table 5-1).
pub const PARTITION_RECORD_OFFSET: usize = 446;
/// 0xAA55 at bytes 510-511 (UEFI table 5-1 Signature).
pub const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// BootIndicator of an active partition (UEFI table 5-2).
pub const ACTIVE: u8 = 0x80;

/// Extended partition types: CHS (0x05), LBA (0x0F), Linux (0x85).
pub fn is_extended(os_type: u8) -> bool {
    matches!(os_type, 0x05 | 0x0F | 0x85)
}

/// One partition record (UEFI table 5-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionRecord {
    pub boot_indicator: u8,
    pub starting_chs: [u8; 3],
    pub os_type: u8,
    pub ending_chs: [u8; 3],
    pub starting_lba: u32,
    pub size_in_lba: u32,
}

/// Size of one partition record.
pub const PARTITION_RECORD_SIZE: usize = 16;

impl PartitionRecord {
    /// Parses the 16 bytes of a record.
    pub fn parse(b: &[u8]) -> Result<PartitionRecord> {
        let r = Reader::new("mbr", "partition record", b);
        Ok(PartitionRecord {
            boot_indicator: r.u8(0)?,
            starting_chs: r.array(1)?,
            os_type: r.u8(4)?,
            ending_chs: r.array(5)?,
            starting_lba: r.le32(8)?,
            size_in_lba: r.le32(12)?,
        })
    }

    /// The record's 16 bytes.
    pub fn to_bytes(&self) -> Result<[u8; PARTITION_RECORD_SIZE]> {
        let mut b = [0u8; PARTITION_RECORD_SIZE];
        let mut w = Writer::new("mbr", "partition record", &mut b);
        w.u8(0, self.boot_indicator)?;
        w.put(1, &self.starting_chs)?;
        w.u8(4, self.os_type)?;
        w.put(5, &self.ending_chs)?;
        w.le32(8, self.starting_lba)?;
        w.le32(12, self.size_in_lba)?;
        Ok(b)
    }

    /// A record for absolute sectors `first..=last` (CHS from absolute LBAs,
    /// `starting_lba` relative to `base` as EBRs need).
    pub fn new(os_type: u8, bootable: bool, first: u64, last: u64, base: u64) -> PartitionRecord {
        PartitionRecord {
            boot_indicator: if bootable { ACTIVE } else { 0 },
            starting_chs: chs_bytes(first),
            os_type,
            ending_chs: chs_bytes(last),
            starting_lba: first.wrapping_sub(base) as u32,
            size_in_lba: last.wrapping_sub(first).wrapping_add(1) as u32,
        }
    }
}

/// The four partition records of an MBR or EBR sector.
pub fn records(sector: &[u8]) -> Result<[PartitionRecord; 4]> {
    let r = Reader::new("mbr", "partition table", sector);
    let rec = |i: usize| {
        PartitionRecord::parse(r.bytes(
            PARTITION_RECORD_OFFSET + PARTITION_RECORD_SIZE * i,
            PARTITION_RECORD_SIZE,
        )?)
    };
    Ok([rec(0)?, rec(1)?, rec(2)?, rec(3)?])
}

/// Stores record `index` (0-3) of an MBR or EBR sector.
pub fn put_record(sector: &mut [u8], index: usize, rec: &PartitionRecord) -> Result<()> {
    let at = index
        .checked_mul(PARTITION_RECORD_SIZE)
        .and_then(|o| o.checked_add(PARTITION_RECORD_OFFSET))
        .unwrap_or(usize::MAX);
    Writer::new("mbr", "partition table", sector).put(at, &rec.to_bytes()?)
}

/// UniqueMBRDiskSignature of a sector 0.
pub fn disk_signature(sector: &[u8]) -> Result<u32> {
    Reader::new("mbr", "sector 0", sector).le32(DISK_SIGNATURE_OFFSET)
}

/// True if bytes 510-511 of `sector` are 0x55 0xAA.
pub fn has_boot_signature(sector: &[u8]) -> bool {
    sector.get(510..512) == Some(&BOOT_SIGNATURE[..])
}

/// A disk geometry for CHS addresses: heads per cylinder and sectors per
/// track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub heads: u64,
    pub sectors_per_track: u64,
}

impl Geometry {
    /// 255 heads, 63 sectors per track: what sfdisk (libfdisk) and gptfdisk
    /// use for images.
    pub const LBA_255_63: Geometry = Geometry {
        heads: 255,
        sectors_per_track: 63,
    };
    /// 64 heads, 32 sectors per track: what isohybrid and libisofs use.
    pub const ISOHYBRID_64_32: Geometry = Geometry {
        heads: 64,
        sectors_per_track: 32,
    };

    /// The 3 CHS bytes for `lba` (head, sector with cylinder bits 8-9 in
    /// its top bits, cylinder bits 0-7), or `None` past cylinder 1023, where
    /// each tool writes its own "too far" value.
    pub fn chs(&self, lba: u64) -> Option<[u8; 3]> {
        let per_cyl = self.heads.checked_mul(self.sectors_per_track)?;
        let spt = self.sectors_per_track;
        let c = lba.checked_div(per_cyl)?;
        if c > 1023 {
            return None;
        }
        let r = lba.checked_rem(per_cyl)?;
        let h = r.checked_div(spt)?;
        let s = r.checked_rem(spt)? + 1;
        Some([h as u8, (s as u8) | (((c >> 8) as u8 & 3) << 6), c as u8])
    }
}

/// Heads and sectors per track sfdisk (libfdisk) uses for images.
pub const HEADS: u64 = Geometry::LBA_255_63.heads;
pub const SECTORS_PER_TRACK: u64 = Geometry::LBA_255_63.sectors_per_track;

/// CHS of the largest address (cylinder 1023, head 254, sector 63), which
/// sfdisk and isohybrid write past cylinder 1023.
pub const CHS_MAX: [u8; 3] = [0xFE, 0xFF, 0xFF];

/// The 3 CHS bytes for `lba` with 255 heads and 63 sectors per track, as
/// sfdisk fills them: past cylinder 1023 the address is the maximum
/// (cylinder 1023, head 254, sector 63).
pub fn chs_bytes(lba: u64) -> [u8; 3] {
    Geometry::LBA_255_63.chs(lba).unwrap_or(CHS_MAX)
}

/// Names of common MBR type bytes (as `sfdisk -T` prints them).
pub fn type_name(os_type: u8) -> &'static str {
    match os_type {
        0x00 => "Empty",
        0x01 => "FAT12",
        0x04 => "FAT16 <32M",
        0x05 => "Extended",
        0x06 => "FAT16",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b => "W95 FAT32",
        0x0c => "W95 FAT32 (LBA)",
        0x0e => "W95 FAT16 (LBA)",
        0x0f => "W95 Ext'd (LBA)",
        0x82 => "Linux swap / Solaris",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xda => "Non-FS data",
        0xee => "GPT",
        0xef => "EFI (FAT-12/16/32)",
        0xfd => "Linux raid autodetect",
        _ => "unknown",
    }
}
