//! cpio on-disk structures, as the Linux kernel's
//! Documentation/driver-api/early-userspace/buffer-format.rst and GNU cpio's
//! manual ("Options", the `-H` formats) describe them.

#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::{Error, Result};

/// "new ASCII" (SVR4) format: `070701`.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// "new ASCII" with a checksum of the file data: `070702`.
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// "old ASCII" (POSIX.1 octal) format: `070707`.
pub const MAGIC_ODC: &[u8; 6] = b"070707";

/// The name of the last entry of every archive.
pub const TRAILER: &str = "TRAILER!!!";

/// newc/crc header: magic + 13 fields of 8 hex digits (buffer-format.rst).
pub const NEWC_HEADER_LEN: usize = 110;
/// odc header: magic + dev(6) ino(6) mode(6) uid(6) gid(6) nlink(6) rdev(6)
/// mtime(11) namesize(6) filesize(11), all octal.
pub const ODC_HEADER_LEN: usize = 76;

/// Longest name accepted when reading (PATH_MAX).
pub const MAX_NAME: u64 = 4096;

/// The fields of a newc/crc header, in on-disk order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewcHeader {
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub filesize: u32,
    pub devmajor: u32,
    pub devminor: u32,
    pub rdevmajor: u32,
    pub rdevminor: u32,
    /// Length of the name including its NUL.
    pub namesize: u32,
    /// crc format: sum of all data bytes; newc: 0.
    pub check: u32,
}

impl NewcHeader {
    pub fn encode(&self, magic: &[u8; 6]) -> Result<[u8; NEWC_HEADER_LEN]> {
        let mut out = [0u8; NEWC_HEADER_LEN];
        let mut w = Writer::new("cpio", "newc header", &mut out);
        w.put(0, magic)?;
        let fields = [
            self.ino,
            self.mode,
            self.uid,
            self.gid,
            self.nlink,
            self.mtime,
            self.filesize,
            self.devmajor,
            self.devminor,
            self.rdevmajor,
            self.rdevminor,
            self.namesize,
            self.check,
        ];
        for (i, f) in fields.iter().enumerate() {
            w.put(6 + 8 * i, format!("{f:08X}").as_bytes())?;
        }
        Ok(out)
    }

    /// Parses the 110 header bytes (magic already checked).
    pub fn decode(b: &[u8; NEWC_HEADER_LEN], at: u64) -> Result<Self> {
        let r = Reader::new("cpio", "newc header", b);
        let mut f = [0u32; 13];
        for ((i, v), name) in f.iter_mut().enumerate().zip(NEWC_FIELDS) {
            *v = parse_num(r.bytes(6 + 8 * i, 8)?, 16, at, name)? as u32;
        }
        let [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check] =
            f;
        Ok(NewcHeader {
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            filesize,
            devmajor,
            devminor,
            rdevmajor,
            rdevminor,
            namesize,
            check,
        })
    }
}

const NEWC_FIELDS: [&str; 13] = [
    "c_ino",
    "c_mode",
    "c_uid",
    "c_gid",
    "c_nlink",
    "c_mtime",
    "c_filesize",
    "c_devmajor",
    "c_devminor",
    "c_rdevmajor",
    "c_rdevminor",
    "c_namesize",
    "c_check",
];

/// The fields of an odc header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OdcHeader {
    pub dev: u32,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// Device number of a device node: `major << 8 | minor` as GNU cpio
    /// writes it.
    pub rdev: u32,
    pub mtime: u64,
    pub namesize: u32,
    pub filesize: u64,
}

impl OdcHeader {
    pub fn decode(b: &[u8; ODC_HEADER_LEN], at: u64) -> Result<Self> {
        // (offset, width) of each field after the magic.
        let r = Reader::new("cpio", "odc header", b);
        let p = |o: usize, w: usize, name: &'static str| parse_num(r.bytes(o, w)?, 8, at, name);
        Ok(OdcHeader {
            dev: p(6, 6, "c_dev")? as u32,
            ino: p(12, 6, "c_ino")? as u32,
            mode: p(18, 6, "c_mode")? as u32,
            uid: p(24, 6, "c_uid")? as u32,
            gid: p(30, 6, "c_gid")? as u32,
            nlink: p(36, 6, "c_nlink")? as u32,
            rdev: p(42, 6, "c_rdev")? as u32,
            mtime: p(48, 11, "c_mtime")?,
            namesize: p(59, 6, "c_namesize")? as u32,
            filesize: p(65, 11, "c_filesize")?,
        })
    }
}

fn parse_num(digits: &[u8], radix: u32, at: u64, field: &'static str) -> Result<u64> {
    let mut v: u64 = 0;
    for &d in digits {
        let x = (d as char).to_digit(radix).ok_or_else(|| {
            Error::corrupt(
                "cpio",
                format!("header at byte {at}: {field}"),
                format!("'{}' is not a number", String::from_utf8_lossy(digits)),
            )
        })?;
        v = v * radix as u64 + x as u64;
    }
    Ok(v)
}

/// Bytes of padding after `len` bytes to reach a multiple of 4.
pub fn pad4(len: u64) -> u64 {
    (4 - (len % 4)) % 4
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn newc_header_round_trips() {
        let h = NewcHeader {
            ino: 3,
            mode: 0o100644,
            nlink: 1,
            mtime: 0x5f5e1000,
            filesize: 10,
            namesize: 6,
            ..Default::default()
        };
        let b = h.encode(MAGIC_NEWC).unwrap();
        assert_eq!(&b[..22], b"07070100000003000081A4");
        assert_eq!(NewcHeader::decode(&b, 0).unwrap(), h);
        let mut bad = b;
        bad[10] = b'x';
        assert!(NewcHeader::decode(&bad, 0)
            .unwrap_err()
            .to_string()
            .contains("c_ino"));
    }
}
