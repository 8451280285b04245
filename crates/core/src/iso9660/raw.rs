//! ISO 9660 on-disk structures and constants: ECMA-119 (4th edition),
//! El Torito 1.0, SUSP 1.12 / RRIP 1.12 (Rock Ridge) and Joliet.
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::Result;

/// Logical sector and block size (ECMA-119 6.1.2; we use 2048 throughout).
pub const SECTOR: u64 = 2048;
/// The system area: sectors 0..16 (ECMA-119 6.2.1).
pub const SYSTEM_AREA_SECTORS: u64 = 16;
/// "CD001" standard identifier (ECMA-119 8.1.2).
pub const STANDARD_ID: &[u8; 5] = b"CD001";

/// Volume descriptor types (ECMA-119 8.1.1).
pub const VD_BOOT_RECORD: u8 = 0;
pub const VD_PRIMARY: u8 = 1;
pub const VD_SUPPLEMENTARY: u8 = 2;
pub const VD_TERMINATOR: u8 = 255;

/// Boot system identifier of an El Torito boot record (El Torito 2.0).
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";
/// Joliet escape sequences for UCS-2 levels 1, 2, 3.
pub const JOLIET_ESCAPES: [&[u8; 3]; 3] = [b"%/@", b"%/C", b"%/E"];

/// File flags of a directory record (ECMA-119 9.1.6).
pub const FLAG_HIDDEN: u8 = 0x01;
pub const FLAG_DIRECTORY: u8 = 0x02;
pub const FLAG_MULTI_EXTENT: u8 = 0x80;

/// Largest extent of one directory record of a multi-extent file: 4 GiB
/// less one block, as libisofs writes.
pub const MAX_EXTENT: u64 = 0xFFFF_F800;

/// El Torito platform ids (El Torito 2.1, UEFI 2.x 12.3.2.1).
pub const PLATFORM_X86: u8 = 0x00;
pub const PLATFORM_PPC: u8 = 0x01;
pub const PLATFORM_MAC: u8 = 0x02;
pub const PLATFORM_EFI: u8 = 0xEF;
/// Boot indicators and section header ids (El Torito 2.2–2.4).
pub const BOOTABLE: u8 = 0x88;
pub const NOT_BOOTABLE: u8 = 0x00;
pub const SECTION_HEADER_MORE: u8 = 0x90;
pub const SECTION_HEADER_LAST: u8 = 0x91;
/// Boot media types (El Torito 2.2, offset 1).
pub const MEDIA_NO_EMUL: u8 = 0;
pub const MEDIA_FLOPPY_1200: u8 = 1;
pub const MEDIA_FLOPPY_1440: u8 = 2;
pub const MEDIA_FLOPPY_2880: u8 = 3;
pub const MEDIA_HARD_DISK: u8 = 4;

/// Rock Ridge ER identifier/description/source as RRIP 1.10 / mkisofs write them.
pub const RRIP_ID: &[u8] = b"RRIP_1991A";
pub const RRIP_DESC: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
pub const RRIP_SRC: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

/// Both-byte-order 32-bit field (ECMA-119 7.3.3).
pub fn both32(v: u32) -> [u8; 8] {
    let [a, b, c, d] = v.to_le_bytes();
    [a, b, c, d, d, c, b, a]
}

/// Both-byte-order 16-bit field (ECMA-119 7.2.3).
pub fn both16(v: u16) -> [u8; 4] {
    let [a, b] = v.to_le_bytes();
    [a, b, b, a]
}

/// A directory record (ECMA-119 9.1), borrowing its identifier and
/// system use area. Both-byte-order fields are read from their
/// little-endian half, as every reader does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirRecord<'a> {
    pub length: u8,
    pub extent: u32,
    pub data_length: u32,
    pub recording_date: [u8; 7],
    pub file_flags: u8,
    pub file_identifier: &'a [u8],
    /// Bytes after the identifier and its padding byte.
    pub system_use: &'a [u8],
}

impl<'a> DirRecord<'a> {
    /// Parses one record; `b` is exactly the record's bytes.
    pub fn parse(b: &'a [u8]) -> Result<DirRecord<'a>> {
        let r = Reader::new("iso9660", "directory record", b);
        let id_len = r.u8(32)? as usize;
        let su_at = 33 + id_len + (1 - id_len % 2);
        Ok(DirRecord {
            length: r.u8(0)?,
            extent: r.le32(2)?,
            data_length: r.le32(10)?,
            recording_date: r.array(18)?,
            file_flags: r.u8(25)?,
            file_identifier: r.bytes(33, id_len)?,
            system_use: b.get(su_at..).unwrap_or_default(),
        })
    }

    /// Bytes of a record with this identifier and system use area.
    pub fn encoded_len(ident_len: usize, su_len: usize) -> usize {
        33 + ident_len + (1 - ident_len % 2) + su_len
    }

    /// The record's bytes. `length` is computed from the identifier and
    /// system use area; the volume sequence number is 1 (one volume).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let id_len = self.file_identifier.len();
        let len = Self::encoded_len(id_len, self.system_use.len());
        let mut b = vec![0u8; len];
        let mut w = Writer::new("iso9660", "directory record", &mut b);
        w.u8(0, len as u8)?;
        w.put(2, &both32(self.extent))?;
        w.put(10, &both32(self.data_length))?;
        w.put(18, &self.recording_date)?;
        w.u8(25, self.file_flags)?;
        w.put(28, &both16(1))?;
        w.u8(32, id_len as u8)?;
        w.put(33, self.file_identifier)?;
        w.put(33 + id_len + (1 - id_len % 2), self.system_use)?;
        Ok(b)
    }
}

/// The 4-byte head of a SUSP entry (SUSP 1.12, 4.1): signature, length
/// (including the head), version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspEntry {
    pub signature: [u8; 2],
    pub length: u8,
    pub version: u8,
}

impl SuspEntry {
    pub fn parse(b: &[u8]) -> Result<SuspEntry> {
        let r = Reader::new("iso9660", "SUSP entry", b);
        Ok(SuspEntry {
            signature: r.array(0)?,
            length: r.u8(2)?,
            version: r.u8(3)?,
        })
    }
}

/// An initial/default or section entry of the El Torito boot catalog
/// (El Torito 2.2, 2.4), 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootCatalogEntry {
    pub boot_indicator: u8,
    pub boot_media_type: u8,
    pub load_segment: u16,
    pub system_type: u8,
    pub sector_count: u16,
    pub load_rba: u32,
}

impl BootCatalogEntry {
    pub fn parse(b: &[u8]) -> Result<BootCatalogEntry> {
        let r = Reader::new("iso9660", "boot catalog entry", b);
        Ok(BootCatalogEntry {
            boot_indicator: r.u8(0)?,
            boot_media_type: r.u8(1)?,
            load_segment: r.le16(2)?,
            system_type: r.u8(4)?,
            sector_count: r.le16(6)?,
            load_rba: r.le32(8)?,
        })
    }
}

/// Civil date (year, month, day, hour, minute, second) of a Unix time.
pub fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
    )
}

/// Unix time of a civil date (UTC).
pub fn unix_time(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86400 + hh as i64 * 3600 + mm as i64 * 60 + ss as i64
}

/// 7-byte recording date of a directory record (ECMA-119 9.1.5), UTC,
/// clamped to the representable years 1900..=2155.
pub fn dir_date(t: i64) -> [u8; 7] {
    let t = t.clamp(
        unix_time(1900, 1, 1, 0, 0, 0),
        unix_time(2155, 12, 31, 23, 59, 59),
    );
    let (y, m, d, hh, mm, ss) = civil(t);
    [
        (y - 1900) as u8,
        m as u8,
        d as u8,
        hh as u8,
        mm as u8,
        ss as u8,
        0,
    ]
}

/// Unix time of a 7-byte recording date (offset in 15-minute units).
pub fn parse_dir_date(b: &[u8]) -> i64 {
    let Some(&[y, m, d, hh, mm, ss, off]) = b.first_chunk::<7>() else {
        return 0;
    };
    if m == 0 || m > 12 || d == 0 || d > 31 {
        return 0;
    }
    let t = unix_time(
        1900 + y as i64,
        m as u32,
        d as u32,
        hh.min(23) as u32,
        mm.min(59) as u32,
        ss.min(59) as u32,
    );
    t - (off as i8) as i64 * 15 * 60
}

/// 17-byte volume descriptor date (ECMA-119 8.4.26.1), UTC.
pub fn vd_date(t: i64) -> [u8; 17] {
    let t = t.clamp(0, unix_time(9999, 12, 31, 23, 59, 59));
    let (y, m, d, hh, mm, ss) = civil(t);
    let s = format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}00");
    let mut b = [0u8; 17];
    for (d, c) in b.iter_mut().zip(s.bytes().take(16)) {
        *d = c;
    }
    b
}

/// An unset volume descriptor date: sixteen '0' digits and a zero offset.
pub fn vd_date_unset() -> [u8; 17] {
    let mut b = [b'0'; 17];
    b[16] = 0;
    b
}

/// Renders a 17-byte date as "YYYY-MM-DD HH:MM:SS" (empty if unset).
pub fn show_vd_date(b: &[u8]) -> String {
    let Some(digits) = b.first_chunk::<16>() else {
        return String::new();
    };
    if !digits.iter().all(u8::is_ascii_digit) || digits.starts_with(b"0000") {
        return String::new();
    }
    // All ASCII digits, so every byte range is a char boundary.
    let s = String::from_utf8_lossy(digits);
    let f = |a: usize, z: usize| s.get(a..z).unwrap_or_default();
    format!(
        "{}-{}-{} {}:{}:{}",
        f(0, 4),
        f(4, 6),
        f(6, 8),
        f(8, 10),
        f(10, 12),
        f(12, 14)
    )
}

/// A fixed-size text field padded with spaces (a- and d-characters).
pub fn put_str(dst: &mut [u8], s: &str) {
    dst.fill(b' ');
    for (d, c) in dst.iter_mut().zip(s.bytes()) {
        *d = c;
    }
}

/// A fixed-size UCS-2 big-endian field padded with spaces (Joliet).
pub fn put_ucs2(dst: &mut [u8], s: &str) {
    for pair in dst.chunks_mut(2) {
        for (d, c) in pair.iter_mut().zip([0, b' ']) {
            *d = c;
        }
    }
    for (pair, u) in dst.chunks_exact_mut(2).zip(s.encode_utf16()) {
        pair.copy_from_slice(&u.to_be_bytes());
    }
}

/// Reads a space-padded text field.
pub fn get_str(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

/// Reads a space-padded UCS-2 big-endian field.
pub fn get_ucs2(b: &[u8]) -> String {
    let u: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| c.try_into().map(u16::from_be_bytes).unwrap_or(0))
        .collect();
    String::from_utf16_lossy(&u)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

/// The little-endian u32 at `off`, 0 past the end (for SUSP entries whose
/// length the caller checked).
pub fn le32(b: &[u8], off: usize) -> u32 {
    Reader::new("iso9660", "field", b).le32(off).unwrap_or(0)
}

/// The little-endian u16 at `off`, 0 past the end.
pub fn le16(b: &[u8], off: usize) -> u16 {
    Reader::new("iso9660", "field", b).le16(off).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for t in [0i64, 951_782_400, 1_700_000_000, -86_400 * 365 * 50] {
            let (y, m, d, hh, mm, ss) = civil(t);
            assert_eq!(unix_time(y, m, d, hh, mm, ss), t);
            assert_eq!(parse_dir_date(&dir_date(t)), t);
        }
        assert_eq!(&vd_date(0)[..16], b"1970010100000000");
    }
}
