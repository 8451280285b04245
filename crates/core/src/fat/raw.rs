//! On-disk structures of FAT12/16/32, named as Microsoft's "FAT: General
//! Overview of On-Disk Format" (fatgen103) names them, with the section of
//! that document in comments.
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::{Error, Result};

/// Which FAT entry width a volume uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

impl FatType {
    /// Bits per FAT entry (12, 16, 32).
    pub fn bits(self) -> u32 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }

    pub fn from_bits(bits: u32) -> Option<FatType> {
        match bits {
            12 => Some(FatType::Fat12),
            16 => Some(FatType::Fat16),
            32 => Some(FatType::Fat32),
            _ => None,
        }
    }

    /// fatgen103 "FAT Type Determination": the type follows from the
    /// cluster count alone.
    pub fn from_cluster_count(count: u32) -> FatType {
        if count < 4085 {
            FatType::Fat12
        } else if count < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        }
    }

    /// Entries at or above this value end a chain (fatgen103 "FAT Data
    /// Structure": EOC marks are 0xFF8..0xFFF and their wider forms).
    pub fn eoc_min(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFF8,
            FatType::Fat16 => 0xFFF8,
            FatType::Fat32 => 0x0FFF_FFF8,
        }
    }

    /// The bad-cluster mark.
    pub fn bad(self) -> u32 {
        self.eoc_min() - 1
    }

    /// The end-of-chain value mkfs.fat writes (FAT_EOF).
    pub fn eoc(self) -> u32 {
        self.eoc_min()
    }

    /// The type string in BS_FilSysType.
    pub fn fs_type_label(self) -> &'static [u8; 8] {
        match self {
            FatType::Fat12 => b"FAT12   ",
            FatType::Fat16 => b"FAT16   ",
            FatType::Fat32 => b"FAT32   ",
        }
    }
}

impl std::fmt::Display for FatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FAT{}", self.bits())
    }
}

/// Attribute bits of a directory entry (fatgen103 "FAT Directory Structure").
pub const ATTR_READ_ONLY: u8 = 0x01;
pub const ATTR_HIDDEN: u8 = 0x02;
pub const ATTR_SYSTEM: u8 = 0x04;
pub const ATTR_VOLUME_ID: u8 = 0x08;
pub const ATTR_DIRECTORY: u8 = 0x10;
pub const ATTR_ARCHIVE: u8 = 0x20;
/// ATTR_READ_ONLY | ATTR_HIDDEN | ATTR_SYSTEM | ATTR_VOLUME_ID marks a long
/// name entry ("FAT Long Directory Entries").
pub const ATTR_LONG_NAME: u8 = 0x0F;

/// DIR_NTRes bits Windows NT and Linux use for an all-lowercase base name
/// and extension stored as a short name without a long one.
pub const NTRES_LOWER_BASE: u8 = 0x08;
pub const NTRES_LOWER_EXT: u8 = 0x10;

/// LDIR_Ord bit marking the last (first stored) long name entry.
pub const LAST_LONG_ENTRY: u8 = 0x40;
/// DIR_Name[0] of a deleted entry, and the escape for a name starting 0xE5.
pub const DIR_DELETED: u8 = 0xE5;
pub const DIR_KANJI_E5: u8 = 0x05;

pub const DIR_ENTRY_SIZE: usize = 32;
/// UTF-16 units per long name entry.
pub const LFN_CHARS: usize = 13;

/// The BIOS Parameter Block plus the extended boot record fields
/// (fatgen103 "Boot Sector and BPB Structure").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bpb {
    pub oem_name: [u8; 8],
    pub bytes_per_sec: u16,
    pub sec_per_clus: u8,
    pub rsvd_sec_cnt: u16,
    pub num_fats: u8,
    pub root_ent_cnt: u16,
    pub tot_sec16: u16,
    pub media: u8,
    pub fat_sz16: u16,
    pub sec_per_trk: u16,
    pub num_heads: u16,
    pub hidd_sec: u32,
    pub tot_sec32: u32,
    // FAT32 only.
    pub fat_sz32: u32,
    pub ext_flags: u16,
    pub fs_ver: u16,
    pub root_clus: u32,
    pub fs_info: u16,
    pub bk_boot_sec: u16,
    // Extended boot record (offset 36 on FAT12/16, 64 on FAT32).
    pub drv_num: u8,
    pub boot_sig: u8,
    pub vol_id: u32,
    pub vol_lab: [u8; 11],
    pub fil_sys_type: [u8; 8],
}

impl Bpb {
    /// True if this BPB describes a FAT32 volume (BPB_FATSz16 is 0 and the
    /// root has no fixed entries; fatgen103 notes drivers test FATSz16).
    pub fn is_fat32_layout(&self) -> bool {
        self.fat_sz16 == 0
    }

    pub fn total_sectors(&self) -> u32 {
        if self.tot_sec16 != 0 {
            self.tot_sec16 as u32
        } else {
            self.tot_sec32
        }
    }

    pub fn fat_size(&self) -> u32 {
        if self.fat_sz16 != 0 {
            self.fat_sz16 as u32
        } else {
            self.fat_sz32
        }
    }

    /// Parses sector 0 (at least 512 bytes). Field validation is the
    /// reader's job; this only decodes.
    pub fn parse(b: &[u8]) -> Result<Bpb> {
        if b.len() < 512 {
            return Err(Error::corrupt(
                "fat",
                "boot sector",
                "shorter than 512 bytes",
            ));
        }
        let r = Reader::new("fat", "boot sector", b);
        let fat_sz16 = r.le16(22)?;
        let fat32 = fat_sz16 == 0;
        let ext = if fat32 { 64 } else { 36 };
        let if32_16 = |o: usize| if fat32 { r.le16(o) } else { Ok(0) };
        let if32_32 = |o: usize| if fat32 { r.le32(o) } else { Ok(0) };
        Ok(Bpb {
            oem_name: r.array(3)?,
            bytes_per_sec: r.le16(11)?,
            sec_per_clus: r.u8(13)?,
            rsvd_sec_cnt: r.le16(14)?,
            num_fats: r.u8(16)?,
            root_ent_cnt: r.le16(17)?,
            tot_sec16: r.le16(19)?,
            media: r.u8(21)?,
            fat_sz16,
            sec_per_trk: r.le16(24)?,
            num_heads: r.le16(26)?,
            hidd_sec: r.le32(28)?,
            tot_sec32: r.le32(32)?,
            fat_sz32: if32_32(36)?,
            ext_flags: if32_16(40)?,
            fs_ver: if32_16(42)?,
            root_clus: if32_32(44)?,
            fs_info: if32_16(48)?,
            bk_boot_sec: if32_16(50)?,
            drv_num: r.u8(ext)?,
            boot_sig: r.u8(ext + 2)?,
            vol_id: r.le32(ext + 3)?,
            vol_lab: r.array(ext + 7)?,
            fil_sys_type: r.array(ext + 18)?,
        })
    }

    /// Writes the BPB fields into a boot sector buffer (jump, boot code and
    /// signature are the caller's).
    pub fn write(&self, b: &mut [u8], fat32: bool) -> Result<()> {
        let mut w = Writer::new("fat", "boot sector", b);
        w.put(3, &self.oem_name)?;
        w.le16(11, self.bytes_per_sec)?;
        w.u8(13, self.sec_per_clus)?;
        w.le16(14, self.rsvd_sec_cnt)?;
        w.u8(16, self.num_fats)?;
        w.le16(17, self.root_ent_cnt)?;
        w.le16(19, self.tot_sec16)?;
        w.u8(21, self.media)?;
        w.le16(22, self.fat_sz16)?;
        w.le16(24, self.sec_per_trk)?;
        w.le16(26, self.num_heads)?;
        w.le32(28, self.hidd_sec)?;
        w.le32(32, self.tot_sec32)?;
        let ext = if fat32 {
            w.le32(36, self.fat_sz32)?;
            w.le16(40, self.ext_flags)?;
            w.le16(42, self.fs_ver)?;
            w.le32(44, self.root_clus)?;
            w.le16(48, self.fs_info)?;
            w.le16(50, self.bk_boot_sec)?;
            64
        } else {
            36
        };
        w.u8(ext, self.drv_num)?;
        w.u8(ext + 2, self.boot_sig)?;
        w.le32(ext + 3, self.vol_id)?;
        w.put(ext + 7, &self.vol_lab)?;
        w.put(ext + 18, &self.fil_sys_type)?;
        Ok(())
    }
}

/// Offset of the boot code after the FAT12/16 and FAT32 extended boot records.
pub const BOOT_CODE_OFFSET_FAT16: usize = 62;
pub const BOOT_CODE_OFFSET_FAT32: usize = 90;

/// The boot code mkfs.fat puts in every volume: print a message, wait for a
/// key, int 19h. `MSG_OFFSET_AT` is where the message address (0x7c00 based)
/// is patched in; the message follows the 29 code bytes.
pub const BOOT_STUB: &[u8] = b"\x0e\x1f\xbe\x5b\x7c\xac\x22\xc0\x74\x0b\x56\xb4\x0e\xbb\x07\x00\xcd\x10\x5e\xeb\xf0\x32\xe4\xcd\x16\xcd\x19\xeb\xfe\
This is not a bootable disk.  Please insert a bootable floppy and\r\n\
press any key to try again ... \r\n";
pub const BOOT_STUB_MSG_OFFSET_AT: usize = 3;
pub const BOOT_STUB_CODE_LEN: usize = 29;

/// FSInfo sector signatures (fatgen103 "FAT32 FSInfo Sector Structure").
pub const FSI_LEAD_SIG: u32 = 0x4161_5252;
pub const FSI_STRUC_SIG: u32 = 0x6141_7272;
pub const FSI_TRAIL_SIG: u32 = 0xAA55_0000;

/// One 32-byte short directory entry (fatgen103 "FAT Directory Structure").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirEntry {
    pub name: [u8; 11],
    pub attr: u8,
    pub nt_res: u8,
    pub crt_time_tenth: u8,
    pub crt_time: u16,
    pub crt_date: u16,
    pub lst_acc_date: u16,
    pub fst_clus: u32,
    pub wrt_time: u16,
    pub wrt_date: u16,
    pub file_size: u32,
}

impl DirEntry {
    pub fn parse(b: &[u8]) -> Result<DirEntry> {
        let r = Reader::new("fat", "directory entry", b);
        Ok(DirEntry {
            name: r.array(0)?,
            attr: r.u8(11)?,
            nt_res: r.u8(12)?,
            crt_time_tenth: r.u8(13)?,
            crt_time: r.le16(14)?,
            crt_date: r.le16(16)?,
            lst_acc_date: r.le16(18)?,
            fst_clus: ((r.le16(20)? as u32) << 16) | r.le16(26)? as u32,
            wrt_time: r.le16(22)?,
            wrt_date: r.le16(24)?,
            file_size: r.le32(28)?,
        })
    }

    pub fn to_bytes(&self) -> Result<[u8; DIR_ENTRY_SIZE]> {
        let mut b = [0u8; DIR_ENTRY_SIZE];
        let mut w = Writer::new("fat", "directory entry", &mut b);
        w.put(0, &self.name)?;
        w.u8(11, self.attr)?;
        w.u8(12, self.nt_res)?;
        w.u8(13, self.crt_time_tenth)?;
        w.le16(14, self.crt_time)?;
        w.le16(16, self.crt_date)?;
        w.le16(18, self.lst_acc_date)?;
        w.le16(20, (self.fst_clus >> 16) as u16)?;
        w.le16(22, self.wrt_time)?;
        w.le16(24, self.wrt_date)?;
        w.le16(26, self.fst_clus as u16)?;
        w.le32(28, self.file_size)?;
        Ok(b)
    }
}

/// The checksum of an 11-byte short name kept in every long name entry
/// (fatgen103 "FAT Long Directory Entries", ChkSum()).
pub fn lfn_checksum(name: &[u8; 11]) -> u8 {
    name.iter().fold(0u8, |sum, &c| {
        ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(c)
    })
}

/// Byte offsets of the 13 UTF-16 units inside a long name entry
/// (LDIR_Name1, LDIR_Name2, LDIR_Name3).
pub const LFN_UNIT_OFFSETS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// A long name entry with ordinal `ord` (1-based, LAST_LONG_ENTRY added by
/// the caller) holding `units` (up to 13; shorter parts are terminated by
/// 0x0000 then padded with 0xFFFF).
pub fn lfn_entry(ord: u8, checksum: u8, units: &[u16]) -> Result<[u8; DIR_ENTRY_SIZE]> {
    let mut b = [0u8; DIR_ENTRY_SIZE];
    let mut w = Writer::new("fat", "long name entry", &mut b);
    w.u8(0, ord)?;
    w.u8(11, ATTR_LONG_NAME)?;
    w.u8(12, 0)?;
    w.u8(13, checksum)?;
    for (i, &off) in LFN_UNIT_OFFSETS.iter().enumerate() {
        let u = match units.get(i) {
            Some(&u) => u,
            None if i == units.len() => 0x0000,
            None => 0xFFFF,
        };
        w.le16(off, u)?;
    }
    Ok(b)
}

/// The UTF-16 units of a long name entry (LDIR_Name1..3).
pub fn lfn_units(b: &[u8]) -> Result<[u16; LFN_CHARS]> {
    let r = Reader::new("fat", "long name entry", b);
    let mut units = [0u16; LFN_CHARS];
    for (u, &off) in units.iter_mut().zip(LFN_UNIT_OFFSETS.iter()) {
        *u = r.le16(off)?;
    }
    Ok(units)
}

/// Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
fn days_to_civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn civil_to_days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// 1980-01-01T00:00:00Z, the FAT epoch.
pub const FAT_EPOCH_MIN: i64 = 315_532_800;
/// 2107-12-31T23:59:58Z, the last FAT time.
pub const FAT_EPOCH_MAX: i64 = 4_354_819_198;

/// (date, time, tenths of... 10 ms units) of a Unix time, read as UTC,
/// clamped to the FAT range (fatgen103 "Date and Time Formats").
pub fn encode_time(t: i64) -> (u16, u16, u8) {
    let t = t.clamp(FAT_EPOCH_MIN, FAT_EPOCH_MAX);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = days_to_civil(days);
    let date = (((y - 1980) as u16) << 9) | ((m as u16) << 5) | d as u16;
    let time = (((secs / 3600) as u16) << 11)
        | ((((secs / 60) % 60) as u16) << 5)
        | ((secs % 60) / 2) as u16;
    // DIR_CrtTimeTenth counts 10 ms units, 0..199: the odd second.
    let tenth = ((secs % 2) * 100) as u8;
    (date, time, tenth)
}

/// The Unix time (UTC) of a FAT date and time; invalid fields are clamped.
pub fn decode_time(date: u16, time: u16) -> i64 {
    let y = 1980 + (date >> 9) as i64;
    let m = ((date >> 5) & 0xF).clamp(1, 12) as u32;
    let d = (date & 0x1F).max(1) as u32;
    let hh = (time >> 11) as i64;
    let mm = ((time >> 5) & 0x3F) as i64;
    let ss = ((time & 0x1F) * 2) as i64;
    civil_to_days(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_mtools() {
        // LDIR_Chksum bytes mcopy (mtools 4.0) wrote for these short names.
        assert_eq!(lfn_checksum(b"MAKEFILE   "), 0xc1);
        assert_eq!(lfn_checksum(b"MIXED      "), 0xa9);
        assert_eq!(lfn_checksum(b"ABC~1   D  "), 0x7e);
        assert_eq!(lfn_checksum(b"FOOBAR~1TXT"), 0x07);
        assert_eq!(lfn_checksum(b"VERYLO~1HTM"), 0x37);
        assert_eq!(lfn_checksum(b"BASHRC~1   "), 0x76);
    }

    #[test]
    fn time_round_trip_and_clamp() {
        // 2024-01-01T00:00:00Z
        let (d, t, c) = encode_time(1_704_067_200);
        assert_eq!(d, ((2024 - 1980) << 9) | (1 << 5) | 1);
        assert_eq!((t, c), (0, 0));
        assert_eq!(decode_time(d, t), 1_704_067_200);
        let (d, t, c) = encode_time(1_704_067_200 + 3661);
        assert_eq!(decode_time(d, t), 1_704_067_200 + 3660);
        assert_eq!(c, 100);
        assert_eq!(encode_time(0), encode_time(FAT_EPOCH_MIN));
        assert_eq!(decode_time(encode_time(-5).0, 0), FAT_EPOCH_MIN);
    }
}
