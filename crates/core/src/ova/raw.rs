//! The pieces of an OVA: ustar headers (POSIX.1-1988 "ustar" format, which
//! OVF 1.0 section 5.3 requires) and the OVF 1.0 names (DSP0243).

use crate::{Error, Result};

pub const BLOCK: u64 = 512;

/// OVF 1.0 envelope namespaces (DSP0243 1.0, DSP8023 schema).
pub const NS_OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1";
pub const NS_RASD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
pub const NS_VSSD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// DiskSection `ovf:format` of a stream-optimized VMDK.
pub const FORMAT_STREAM_OPTIMIZED: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/// CIM ResourceType values (CIM_ResourceAllocationSettingData).
pub const RT_PROCESSOR: u32 = 3;
pub const RT_MEMORY: u32 = 4;
pub const RT_IDE_CONTROLLER: u32 = 5;
pub const RT_ETHERNET_ADAPTER: u32 = 10;
pub const RT_DISK_DRIVE: u32 = 17;
pub const RT_SATA_CONTROLLER: u32 = 20;

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// A ustar header for a regular file: mode 0644, uid/gid 0, `mtime`.
/// Names over 100 bytes are split into prefix/name; sizes of 8 GiB and more
/// use the base-256 size field that GNU tar, bsdtar and VirtualBox read.
pub fn ustar_header(name: &str, size: u64, mtime: i64) -> Result<[u8; 512]> {
    let mut h = [0u8; 512];
    let nb = name.as_bytes();
    if nb.len() <= 100 {
        h[..nb.len()].copy_from_slice(nb);
    } else {
        let split = name[..name.len().min(156)]
            .rfind('/')
            .filter(|&p| p <= 155 && nb.len() - p - 1 <= 100)
            .ok_or_else(|| {
                Error::invalid("tar member", format!("name too long for ustar: {name}"))
            })?;
        h[345..345 + split].copy_from_slice(&nb[..split]);
        let rest = &nb[split + 1..];
        h[..rest.len()].copy_from_slice(rest);
    }
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < 0o77777777777 {
        octal(&mut h[124..136], size);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], mtime.max(0) as u64);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| b as u64).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

/// Zero bytes after a member of `size` bytes to the next 512-byte block.
pub fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// One member found in a tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
    pub typeflag: u8,
}

fn parse_octal(f: &[u8]) -> Option<u64> {
    if f.first().is_some_and(|&b| b & 0x80 != 0) {
        // base-256: big-endian, first byte's high bit is the marker.
        let mut v: u64 = (f[0] & 0x7f) as u64;
        for &b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s: String = f
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(f: &[u8]) -> String {
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    String::from_utf8_lossy(&f[..end]).into_owned()
}

/// What a header block holds: `None` for an all-zero (end) block.
pub fn parse_header(h: &[u8; 512], at: u64) -> Result<Option<(String, u64, u8)>> {
    if h.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let bad = |msg: &str| Error::corrupt("tar", format!("header at byte {at}"), msg);
    let stored = parse_octal(&h[148..156]).ok_or_else(|| bad("checksum is not octal"))?;
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    if stored != sum {
        return Err(bad("checksum does not match"));
    }
    let size = parse_octal(&h[124..136]).ok_or_else(|| bad("size is not a number"))?;
    let mut name = cstr(&h[..100]);
    if &h[257..262] == b"ustar" {
        let prefix = cstr(&h[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok(Some((name, size, h[156])))
}

/// `./box.img` and `box.img` are the same member.
pub fn clean_name(n: &str) -> String {
    n.trim_start_matches("./").to_string()
}

/// pax extended header records: the `path` value, if any.
pub fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    for rec in text.split('\n') {
        if let Some((_, kv)) = rec.split_once(' ') {
            if let Some(p) = kv.strip_prefix("path=") {
                return Some(p.to_string());
            }
        }
    }
    None
}
