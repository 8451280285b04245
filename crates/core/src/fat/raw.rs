//! On-disk structures of FAT12/16/32, named as Microsoft's "FAT: General
//! Overview of On-Disk Format" (fatgen103) names them, with the section of
//! that document in comments.

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

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
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
        let mut oem_name = [0u8; 8];
        oem_name.copy_from_slice(&b[3..11]);
        let fat_sz16 = le16(b, 22);
        let ext = if fat_sz16 == 0 { 64 } else { 36 };
        let mut vol_lab = [0u8; 11];
        vol_lab.copy_from_slice(&b[ext + 7..ext + 18]);
        let mut fil_sys_type = [0u8; 8];
        fil_sys_type.copy_from_slice(&b[ext + 18..ext + 26]);
        Ok(Bpb {
            oem_name,
            bytes_per_sec: le16(b, 11),
            sec_per_clus: b[13],
            rsvd_sec_cnt: le16(b, 14),
            num_fats: b[16],
            root_ent_cnt: le16(b, 17),
            tot_sec16: le16(b, 19),
            media: b[21],
            fat_sz16,
            sec_per_trk: le16(b, 24),
            num_heads: le16(b, 26),
            hidd_sec: le32(b, 28),
            tot_sec32: le32(b, 32),
            fat_sz32: if fat_sz16 == 0 { le32(b, 36) } else { 0 },
            ext_flags: if fat_sz16 == 0 { le16(b, 40) } else { 0 },
            fs_ver: if fat_sz16 == 0 { le16(b, 42) } else { 0 },
            root_clus: if fat_sz16 == 0 { le32(b, 44) } else { 0 },
            fs_info: if fat_sz16 == 0 { le16(b, 48) } else { 0 },
            bk_boot_sec: if fat_sz16 == 0 { le16(b, 50) } else { 0 },
            drv_num: b[ext],
            boot_sig: b[ext + 2],
            vol_id: le32(b, ext + 3),
            vol_lab,
            fil_sys_type,
        })
    }

    /// Writes the BPB fields into a boot sector buffer (jump, boot code and
    /// signature are the caller's).
    pub fn write(&self, b: &mut [u8], fat32: bool) {
        b[3..11].copy_from_slice(&self.oem_name);
        b[11..13].copy_from_slice(&self.bytes_per_sec.to_le_bytes());
        b[13] = self.sec_per_clus;
        b[14..16].copy_from_slice(&self.rsvd_sec_cnt.to_le_bytes());
        b[16] = self.num_fats;
        b[17..19].copy_from_slice(&self.root_ent_cnt.to_le_bytes());
        b[19..21].copy_from_slice(&self.tot_sec16.to_le_bytes());
        b[21] = self.media;
        b[22..24].copy_from_slice(&self.fat_sz16.to_le_bytes());
        b[24..26].copy_from_slice(&self.sec_per_trk.to_le_bytes());
        b[26..28].copy_from_slice(&self.num_heads.to_le_bytes());
        b[28..32].copy_from_slice(&self.hidd_sec.to_le_bytes());
        b[32..36].copy_from_slice(&self.tot_sec32.to_le_bytes());
        let ext = if fat32 {
            b[36..40].copy_from_slice(&self.fat_sz32.to_le_bytes());
            b[40..42].copy_from_slice(&self.ext_flags.to_le_bytes());
            b[42..44].copy_from_slice(&self.fs_ver.to_le_bytes());
            b[44..48].copy_from_slice(&self.root_clus.to_le_bytes());
            b[48..50].copy_from_slice(&self.fs_info.to_le_bytes());
            b[50..52].copy_from_slice(&self.bk_boot_sec.to_le_bytes());
            64
        } else {
            36
        };
        b[ext] = self.drv_num;
        b[ext + 2] = self.boot_sig;
        b[ext + 3..ext + 7].copy_from_slice(&self.vol_id.to_le_bytes());
        b[ext + 7..ext + 18].copy_from_slice(&self.vol_lab);
        b[ext + 18..ext + 26].copy_from_slice(&self.fil_sys_type);
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
    pub fn parse(b: &[u8]) -> DirEntry {
        let mut name = [0u8; 11];
        name.copy_from_slice(&b[0..11]);
        DirEntry {
            name,
            attr: b[11],
            nt_res: b[12],
            crt_time_tenth: b[13],
            crt_time: le16(b, 14),
            crt_date: le16(b, 16),
            lst_acc_date: le16(b, 18),
            fst_clus: ((le16(b, 20) as u32) << 16) | le16(b, 26) as u32,
            wrt_time: le16(b, 22),
            wrt_date: le16(b, 24),
            file_size: le32(b, 28),
        }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..11].copy_from_slice(&self.name);
        b[11] = self.attr;
        b[12] = self.nt_res;
        b[13] = self.crt_time_tenth;
        b[14..16].copy_from_slice(&self.crt_time.to_le_bytes());
        b[16..18].copy_from_slice(&self.crt_date.to_le_bytes());
        b[18..20].copy_from_slice(&self.lst_acc_date.to_le_bytes());
        b[20..22].copy_from_slice(&((self.fst_clus >> 16) as u16).to_le_bytes());
        b[22..24].copy_from_slice(&self.wrt_time.to_le_bytes());
        b[24..26].copy_from_slice(&self.wrt_date.to_le_bytes());
        b[26..28].copy_from_slice(&(self.fst_clus as u16).to_le_bytes());
        b[28..32].copy_from_slice(&self.file_size.to_le_bytes());
        b
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
pub fn lfn_entry(ord: u8, checksum: u8, units: &[u16]) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = ord;
    b[11] = ATTR_LONG_NAME;
    b[12] = 0;
    b[13] = checksum;
    for (i, &off) in LFN_UNIT_OFFSETS.iter().enumerate() {
        let u = match i.cmp(&units.len()) {
            std::cmp::Ordering::Less => units[i],
            std::cmp::Ordering::Equal => 0x0000,
            std::cmp::Ordering::Greater => 0xFFFF,
        };
        b[off..off + 2].copy_from_slice(&u.to_le_bytes());
    }
    b
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
