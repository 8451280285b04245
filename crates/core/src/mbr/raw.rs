//! The Master Boot Record and Extended Boot Records (UEFI Specification
//! 2.10, section 5.2.1 "Legacy MBR", table 5-1 and 5-2; the EBR chain as
//! DOS, fdisk and sfdisk write it).

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

impl PartitionRecord {
    pub fn parse(b: &[u8]) -> PartitionRecord {
        PartitionRecord {
            boot_indicator: b[0],
            starting_chs: [b[1], b[2], b[3]],
            os_type: b[4],
            ending_chs: [b[5], b[6], b[7]],
            starting_lba: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            size_in_lba: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.boot_indicator;
        b[1..4].copy_from_slice(&self.starting_chs);
        b[4] = self.os_type;
        b[5..8].copy_from_slice(&self.ending_chs);
        b[8..12].copy_from_slice(&self.starting_lba.to_le_bytes());
        b[12..16].copy_from_slice(&self.size_in_lba.to_le_bytes());
        b
    }

    /// A record for absolute sectors `first..=last` (CHS from absolute LBAs,
    /// `starting_lba` relative to `base` as EBRs need).
    pub fn new(os_type: u8, bootable: bool, first: u64, last: u64, base: u64) -> PartitionRecord {
        PartitionRecord {
            boot_indicator: if bootable { ACTIVE } else { 0 },
            starting_chs: chs_bytes(first),
            os_type,
            ending_chs: chs_bytes(last),
            starting_lba: (first - base) as u32,
            size_in_lba: (last - first + 1) as u32,
        }
    }
}

/// Heads and sectors per track sfdisk (libfdisk) uses for images.
pub const HEADS: u64 = 255;
pub const SECTORS_PER_TRACK: u64 = 63;

/// The 3 CHS bytes for `lba` with 255 heads and 63 sectors per track, as
/// sfdisk fills them: past cylinder 1023 the address is the maximum
/// (cylinder 1023, head 254, sector 63).
pub fn chs_bytes(lba: u64) -> [u8; 3] {
    let per_cyl = HEADS * SECTORS_PER_TRACK;
    let (c, h, s) = if lba / per_cyl > 1023 {
        (1023, HEADS - 1, SECTORS_PER_TRACK)
    } else {
        let c = lba / per_cyl;
        let r = lba % per_cyl;
        (c, r / SECTORS_PER_TRACK, r % SECTORS_PER_TRACK + 1)
    };
    [h as u8, (s as u8) | (((c >> 8) as u8 & 3) << 6), c as u8]
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
