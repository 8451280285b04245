//! ISO 9660 on-disk structures and constants: ECMA-119 (4th edition),
//! El Torito 1.0, SUSP 1.12 / RRIP 1.12 (Rock Ridge) and Joliet.

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
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

/// Both-byte-order 16-bit field (ECMA-119 7.2.3).
pub fn both16(v: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..].copy_from_slice(&v.to_be_bytes());
    b
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
    if b.len() < 7 || b[1] == 0 || b[1] > 12 || b[2] == 0 || b[2] > 31 {
        return 0;
    }
    let t = unix_time(
        1900 + b[0] as i64,
        b[1] as u32,
        b[2] as u32,
        b[3].min(23) as u32,
        b[4].min(59) as u32,
        b[5].min(59) as u32,
    );
    t - (b[6] as i8) as i64 * 15 * 60
}

/// 17-byte volume descriptor date (ECMA-119 8.4.26.1), UTC.
pub fn vd_date(t: i64) -> [u8; 17] {
    let t = t.clamp(0, unix_time(9999, 12, 31, 23, 59, 59));
    let (y, m, d, hh, mm, ss) = civil(t);
    let s = format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}00");
    let mut b = [0u8; 17];
    b[..16].copy_from_slice(s.as_bytes());
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
    if b.len() < 16 || !b[..16].iter().all(u8::is_ascii_digit) || b[..4] == *b"0000" {
        return String::new();
    }
    let s = String::from_utf8_lossy(&b[..16]);
    format!(
        "{}-{}-{} {}:{}:{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
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
        pair.copy_from_slice(&[0, b' '][..pair.len()]);
    }
    for (i, u) in s.encode_utf16().enumerate() {
        if 2 * i + 1 >= dst.len() {
            break;
        }
        dst[2 * i..2 * i + 2].copy_from_slice(&u.to_be_bytes());
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
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&u)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

pub fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

pub fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

#[cfg(test)]
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
