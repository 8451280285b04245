//! ustar archives (POSIX.1-1988 "ustar"; the format OVF 1.0 section 5.3
//! requires, and what Vagrant boxes are): headers written and parsed, the
//! members of an archive held in a random-access source listed, and members
//! streamed into a sink. Used by `ova` and `vagrant`.
//!
//! A tar header holds its member's size, so a member produced by a writer
//! (a VMDK, a qcow2) is measured before its bytes go out: [`measure`] runs
//! the writer into a sink that counts, hashes and keeps the bytes while
//! they stay under [`BUFFER_CAP`]; [`emit`] then writes a small member from
//! that buffer and produces a larger one a second time straight into the
//! output (writers are deterministic; the second pass is checked against
//! the first's size and hash). Memory stays bounded either way.
//!
//! Reading an archive for a tree of files (`tree::tar`) uses the `tar`
//! crate; this module is the byte-exact writer and the in-place lister.

use crate::io::{read_vec, ReadAt, Sink};
use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// The size of a header and the unit of member data.
pub const BLOCK: u64 = 512;
/// Members read before giving up (an OVA or a box has a handful).
pub const MAX_MEMBERS: usize = 4096;

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// A ustar header for a regular file: mode 0644, uid/gid 0, `mtime`.
/// Names over 100 bytes are split into prefix/name; sizes of 8 GiB and more
/// use the base-256 size field that GNU tar, bsdtar and VirtualBox read.
pub fn header(name: &str, size: u64, mtime: i64) -> Result<[u8; 512]> {
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

/// Lists the members of a tar held in a random-access source.
pub fn members(src: &dyn ReadAt) -> Result<Vec<Member>> {
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut long_name: Option<String> = None;
    while at + BLOCK <= src.size() {
        if out.len() >= MAX_MEMBERS {
            return Err(Error::no_space(
                "tar",
                format!("more than {MAX_MEMBERS} members"),
            ));
        }
        let mut h = [0u8; 512];
        src.read_at(at, &mut h)?;
        let Some((name, size, typeflag)) = parse_header(&h, at)? else {
            break;
        };
        let data = at + BLOCK;
        if !matches!(data.checked_add(size), Some(e) if e <= src.size()) {
            return Err(Error::corrupt(
                "tar",
                format!("member {name}"),
                format!(
                    "{size} bytes at {data} go past the end of the {}-byte file",
                    src.size()
                ),
            ));
        }
        match typeflag {
            b'x' => {
                let d = read_vec(src, data, size, 1 << 20, "pax header")?;
                long_name = pax_path(&d);
            }
            b'L' => {
                let d = read_vec(src, data, size, 1 << 20, "GNU long name")?;
                let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
                long_name = Some(String::from_utf8_lossy(&d[..end]).into_owned());
            }
            b'g' => {}
            _ => {
                let name = long_name.take().unwrap_or(name);
                out.push(Member {
                    name: clean_name(&name),
                    offset: data,
                    size,
                    typeflag,
                });
            }
        }
        at = data + size + padding(size);
    }
    Ok(out)
}

/// Largest member kept in memory between the two passes.
pub const BUFFER_CAP: u64 = 64 << 20;

/// Counts, hashes and (up to a cap) keeps what is written.
pub struct Measure {
    pub size: u64,
    hasher: Sha256,
    pub buf: Option<Vec<u8>>,
    cap: u64,
}

impl Measure {
    pub fn new(cap: u64) -> Self {
        Measure {
            size: 0,
            hasher: Sha256::new(),
            buf: Some(Vec::new()),
            cap,
        }
    }
    pub fn sha256_hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Sink for Measure {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.size += data.len() as u64;
        self.hasher.update(data);
        if self.size > self.cap {
            self.buf = None;
        } else if let Some(b) = &mut self.buf {
            b.extend_from_slice(data);
        }
        Ok(())
    }
}

/// A sink that passes bytes on and hashes them (the second pass).
struct Tee<'a> {
    inner: &'a mut dyn Sink,
    m: Measure,
}

impl Sink for Tee<'_> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.m.write(data)?;
        self.inner.write(data)
    }
}

/// Measures a member: size, SHA-256 and (if small) its bytes.
pub fn measure(produce: &dyn Fn(&mut dyn Sink) -> Result<()>) -> Result<Measure> {
    let mut m = Measure::new(BUFFER_CAP);
    produce(&mut m)?;
    Ok(m)
}

/// Writes one tar member (header, data, padding) whose data is either `m`'s
/// buffer or a second run of `produce` (checked against `m`).
pub fn emit(
    name: &str,
    m: &Measure,
    produce: &dyn Fn(&mut dyn Sink) -> Result<()>,
    mtime: i64,
    sink: &mut dyn Sink,
) -> Result<()> {
    sink.write(&header(name, m.size, mtime)?)?;
    match &m.buf {
        Some(b) => sink.write(b)?,
        None => {
            let mut tee = Tee {
                inner: sink,
                m: Measure::new(0),
            };
            produce(&mut tee)?;
            if tee.m.size != m.size || tee.m.sha256_hex() != m.sha256_hex() {
                return Err(Error::invalid(
                    name.to_string(),
                    "the second pass produced different bytes (input changed while writing?)",
                ));
            }
        }
    }
    sink.hole(padding(m.size))
}

/// Writes a member held in memory.
pub fn emit_bytes(name: &str, data: &[u8], mtime: i64, sink: &mut dyn Sink) -> Result<()> {
    sink.write(&header(name, data.len() as u64, mtime)?)?;
    sink.write(data)?;
    sink.hole(padding(data.len() as u64))
}

/// The end of a tar: two zero blocks.
pub fn end(sink: &mut dyn Sink) -> Result<()> {
    sink.hole(2 * BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_pass_matches_buffered_member() {
        let produce = |s: &mut dyn Sink| -> Result<()> {
            s.write(&[7u8; 1000])?;
            s.hole(300)
        };
        let buffered = measure(&produce).unwrap();
        assert!(buffered.buf.is_some());
        let mut unbuffered = Measure::new(0);
        produce(&mut unbuffered).unwrap();
        assert!(unbuffered.buf.is_none());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        emit("m", &buffered, &produce, 0, &mut a).unwrap();
        emit("m", &unbuffered, &produce, 0, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 512 + 1536);
        // A producer that changes between passes is caught.
        let other = |s: &mut dyn Sink| -> Result<()> { s.write(&[8u8; 1300]) };
        assert!(emit("m", &unbuffered, &other, 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn ustar_header_checksum_and_big_size() {
        let h = header("a.vmdk", 10 << 30, 0).unwrap();
        let (name, size, t) = parse_header(&h, 0).unwrap().unwrap();
        assert_eq!((name.as_str(), size, t), ("a.vmdk", 10 << 30, b'0'));
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let h = header(&long, 5, 0).unwrap();
        assert_eq!(parse_header(&h, 0).unwrap().unwrap().0, long);
    }
}
