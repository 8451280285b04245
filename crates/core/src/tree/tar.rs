//! Tar archives as tree sources, read without extracting anything.
//!
//! ustar, GNU (long names and link names) and PAX (long names, owners,
//! fractional mtimes, `SCHILY.xattr.*` extended attributes such as
//! `security.capability`) headers are understood (the `tar` crate parses the
//! headers). Plain, gzip, zstd and xz archives are recognised by their magic.
//!
//! An uncompressed tar is the lean path: file data stays in the archive and
//! the tree holds lazy [`FileData::Source`] ranges of it. A compressed tar has
//! to be decompressed into memory first (there is no random access into a
//! compressed stream); that is refused beyond [`TAR_MEMORY_CAP`] bytes.

use super::{FileData, Meta, Node, NodeKind, Tree};
use crate::decompress::{self, NamedBytes};
use crate::io::{ReadAt, Source};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// The most a compressed tar may decompress to (2 GiB). Decompress such an
/// archive first to read it lazily.
pub const TAR_MEMORY_CAP: u64 = 2 << 30;

/// Adds every entry of the tar archive `src` to `tree` under `prefix`
/// (`""` for the root). Entries whose path or hard-link target would leave
/// the root are refused with their name; a truncated or corrupt archive is an
/// error naming it.
pub fn from_tar(src: Source, tree: &mut Tree, prefix: &str) -> Result<()> {
    from_tar_capped(src, tree, prefix, TAR_MEMORY_CAP)
}

/// [`from_tar`] with a different limit for decompressed data.
pub fn from_tar_capped(src: Source, tree: &mut Tree, prefix: &str, cap: u64) -> Result<()> {
    let name = src.name();
    let head = decompress::head(&*src, 0)?;
    let data: Source = match decompress::sniff(&head) {
        Some(kind) => {
            let (v, _) = decompress::decompress(&*src, 0, kind, cap, &name)?;
            Arc::new(NamedBytes::new(v, format!("{name} (decompressed)")))
        }
        None => src,
    };
    read_entries(data, tree, prefix, &name)
}

/// `Read + Seek` over a `ReadAt`, so the tar crate seeks over file data
/// instead of reading it.
struct SeekReader {
    src: Source,
    pos: u64,
}

impl Read for SeekReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.src.size().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.src
            .read_at(self.pos, &mut buf[..n])
            .map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SeekReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.src.size().checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| std::io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

fn join(prefix: &str, path: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        path.to_string()
    } else {
        format!("{p}/{path}")
    }
}

/// Parses a PAX time (`1700000000.25`, maybe negative) into seconds and
/// nanoseconds.
fn pax_time(v: &str) -> Option<(i64, u32)> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    let secs: i64 = int.parse().ok()?;
    let mut nsec: u32 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10)?;
        nsec += d * 10u32.pow(8 - i as u32);
    }
    if int.starts_with('-') && nsec > 0 {
        // -1.25 is 1.25 s before the epoch: -2 s + 0.75 s.
        Some((secs - 1, 1_000_000_000 - nsec))
    } else {
        Some((secs, nsec))
    }
}

fn read_entries(data: Source, tree: &mut Tree, prefix: &str, name: &str) -> Result<()> {
    let corrupt = |e: std::io::Error| Error::corrupt("tar", name.to_string(), e);
    let mut archive = ::tar::Archive::new(SeekReader {
        src: data.clone(),
        pos: 0,
    });
    let entries = archive.entries_with_seek().map_err(corrupt)?;
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        let hdr = entry.header().clone();
        let etype = hdr.entry_type();
        if etype.is_pax_global_extensions() {
            continue;
        }
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = join(prefix, &raw_path);
        let field = |what: &str| format!("{name}: {raw_path}: {what}");

        let mode = hdr
            .mode()
            .map_err(|e| Error::corrupt("tar", field("mode"), e))?
            & 0o7777;
        let uid = hdr
            .uid()
            .map_err(|e| Error::corrupt("tar", field("uid"), e))?;
        let gid = hdr
            .gid()
            .map_err(|e| Error::corrupt("tar", field("gid"), e))?;
        let mtime = hdr
            .mtime()
            .map_err(|e| Error::corrupt("tar", field("mtime"), e))?;
        let mut meta = Meta {
            mode,
            uid: u32::try_from(uid)
                .map_err(|_| Error::corrupt("tar", field("uid"), "too large"))?,
            gid: u32::try_from(gid)
                .map_err(|_| Error::corrupt("tar", field("gid"), "too large"))?,
            mtime: i64::try_from(mtime).unwrap_or(i64::MAX),
            mtime_nsec: 0,
            xattrs: BTreeMap::new(),
        };
        if let Some(pax) = entry.pax_extensions().map_err(corrupt)? {
            for ext in pax {
                let ext = ext.map_err(corrupt)?;
                let Ok(key) = ext.key() else { continue };
                if key == "mtime" {
                    let v = String::from_utf8_lossy(ext.value_bytes());
                    let (s, ns) = pax_time(&v).ok_or_else(|| {
                        Error::corrupt("tar", field("PAX mtime"), format!("'{v}' is not a time"))
                    })?;
                    meta.mtime = s;
                    meta.mtime_nsec = ns;
                } else if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    meta.xattrs
                        .insert(x.to_string(), ext.value_bytes().to_vec());
                }
            }
        }

        let link_name = || -> Result<String> {
            let l = entry
                .link_name_bytes()
                .ok_or_else(|| Error::corrupt("tar", field("link name"), "missing"))?;
            Ok(String::from_utf8_lossy(&l).into_owned())
        };
        let dev = || -> Result<(u32, u32)> {
            let maj = hdr
                .device_major()
                .map_err(|e| Error::corrupt("tar", field("device major"), e))?
                .unwrap_or(0);
            let min = hdr
                .device_minor()
                .map_err(|e| Error::corrupt("tar", field("device minor"), e))?
                .unwrap_or(0);
            Ok((maj, min))
        };
        let kind = if etype.is_file() || etype.is_contiguous() {
            let offset = entry.raw_file_position();
            let len = entry.size();
            match offset.checked_add(len) {
                Some(end) if end <= data.size() => {}
                _ => {
                    return Err(Error::Truncated {
                        what: format!("{name}: {raw_path}"),
                        offset: offset.saturating_add(len),
                        size: data.size(),
                    })
                }
            }
            NodeKind::File(FileData::Source {
                src: data.clone(),
                offset,
                len,
            })
        } else if etype.is_dir() {
            NodeKind::Dir(BTreeMap::new())
        } else if etype.is_symlink() {
            NodeKind::Symlink(link_name()?)
        } else if etype.is_hard_link() {
            let target = join(prefix, &link_name()?);
            tree.link(&path, &target)?;
            continue;
        } else if etype.is_character_special() {
            let (major, minor) = dev()?;
            NodeKind::CharDev { major, minor }
        } else if etype.is_block_special() {
            let (major, minor) = dev()?;
            NodeKind::BlockDev { major, minor }
        } else if etype.is_fifo() {
            NodeKind::Fifo
        } else if etype.is_gnu_sparse() {
            return Err(Error::unsupported(
                "tar",
                format!("{name}: {raw_path}: GNU sparse files"),
            ));
        } else {
            return Err(Error::unsupported(
                "tar",
                format!(
                    "{name}: {raw_path}: entry type {:?}",
                    etype.as_byte() as char
                ),
            ));
        };
        tree.insert(&path, Node { kind, meta })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::ROOT;

    fn zeroed(mut h: ::tar::Header) -> ::tar::Header {
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(0o644);
        h
    }

    fn build_tar() -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o4755);
        h.set_uid(1000);
        h.set_gid(100);
        h.set_mtime(1234);
        h.set_entry_type(::tar::EntryType::Regular);
        let long = format!("usr/{}/tool", "d".repeat(150));
        b.append_data(&mut h, &long, &b"hello"[..]).unwrap();
        let mut h = zeroed(::tar::Header::new_gnu());
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(::tar::EntryType::Symlink);
        b.append_link(&mut h, "bin/sh", "busybox").unwrap();
        let mut h = zeroed(::tar::Header::new_gnu());
        h.set_size(0);
        h.set_entry_type(::tar::EntryType::Link);
        b.append_link(&mut h, "bin/tool2", &long).unwrap();
        let mut h = zeroed(::tar::Header::new_ustar());
        h.set_size(0);
        h.set_mode(0o600);
        h.set_entry_type(::tar::EntryType::Char);
        h.set_device_major(5).unwrap();
        h.set_device_minor(1).unwrap();
        b.append_data(&mut h, "dev/console", &[][..]).unwrap();
        // PAX: fractional mtime and a capability xattr.
        b.append_pax_extensions([
            ("mtime", &b"1700000000.5"[..]),
            ("SCHILY.xattr.security.capability", &[1u8, 0, 0, 2][..]),
        ])
        .unwrap();
        let mut h = zeroed(::tar::Header::new_ustar());
        h.set_size(2);
        h.set_mode(0o755);
        h.set_entry_type(::tar::EntryType::Regular);
        b.append_data(&mut h, "bin/ping", &b"pi"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_entries_lazily() {
        let v = build_tar();
        let src: Source = Arc::new(v);
        let mut t = Tree::new(7);
        from_tar(src, &mut t, "").unwrap();
        let long = format!("usr/{}/tool", "d".repeat(150));
        let id = t.lookup(&long).unwrap();
        let n = t.node(id);
        assert_eq!(n.meta.mode, 0o4755);
        assert_eq!((n.meta.uid, n.meta.gid, n.meta.mtime), (1000, 100, 1234));
        match &n.kind {
            NodeKind::File(f @ FileData::Source { .. }) => {
                assert_eq!(f.to_vec(10).unwrap(), b"hello")
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(t.lookup("bin/tool2"), Some(id));
        assert!(
            matches!(&t.node(t.lookup("bin/sh").unwrap()).kind, NodeKind::Symlink(s) if s == "busybox")
        );
        assert!(matches!(
            t.node(t.lookup("dev/console").unwrap()).kind,
            NodeKind::CharDev { major: 5, minor: 1 }
        ));
        let p = t.node(t.lookup("bin/ping").unwrap());
        assert_eq!(
            (p.meta.mtime, p.meta.mtime_nsec),
            (1_700_000_000, 500_000_000)
        );
        assert_eq!(p.meta.xattrs["security.capability"], vec![1, 0, 0, 2]);
        assert_eq!(t.node(ROOT).meta.mtime, 7);
    }

    #[test]
    fn compressed_and_prefixed() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        e.write_all(&build_tar()).unwrap();
        let src: Source = Arc::new(e.finish().unwrap());
        let mut t = Tree::new(0);
        from_tar(src, &mut t, "/opt/x").unwrap();
        assert!(t.lookup("opt/x/bin/ping").is_some());
        assert_eq!(
            t.lookup("opt/x/bin/tool2"),
            t.lookup(&format!("opt/x/usr/{}/tool", "d".repeat(150)))
        );
    }

    #[test]
    fn escaping_and_truncated_are_refused() {
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_gnu();
        h.set_size(1);
        h.set_entry_type(::tar::EntryType::Regular);
        // set_path refuses "..", so write the name bytes directly.
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../evil\0\0");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let v = b.into_inner().unwrap();
        let e = from_tar(Arc::new(v), &mut Tree::new(0), "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("../evil"), "{e}");

        let v = build_tar();
        let cut = v[..512 + 3].to_vec();
        let e = from_tar(Arc::new(cut), &mut Tree::new(0), "").unwrap_err();
        assert!(e.to_string().contains("memory"), "{e}");
    }

    #[test]
    fn hard_link_outside_is_refused() {
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = zeroed(::tar::Header::new_gnu());
        h.set_size(0);
        h.set_entry_type(::tar::EntryType::Link);
        h.set_path("etc/passwd-link").unwrap();
        // set_link_name refuses "..": write the bytes directly.
        h.as_gnu_mut().unwrap().linkname[..14].copy_from_slice(b"../etc/shadow\0");
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let e = from_tar(Arc::new(b.into_inner().unwrap()), &mut Tree::new(0), "")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("etc/passwd-link") && e.contains("../etc/shadow"),
            "{e}"
        );
    }
}
