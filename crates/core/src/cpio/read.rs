//! The cpio reader: newc (`070701`), crc (`070702`, data sums checked) and
//! odc (`070707`) archives, concatenated as the kernel accepts them (an
//! uncompressed early-microcode archive, zero padding, then a gzip, zstd or
//! xz compressed one).
//!
//! Uncompressed parts are read lazily: file data is a range of the input.
//! Compressed parts are decompressed into memory, all of them together at
//! most [`READ_MEMORY_CAP`] bytes (or the cap given to [`read_tree_capped`]),
//! so a decompression bomb stops with an error that says so.

#![deny(clippy::indexing_slicing)]

use super::raw::{
    pad4, NewcHeader, OdcHeader, MAGIC_CRC, MAGIC_NEWC, MAGIC_ODC, MAX_NAME, NEWC_HEADER_LEN,
    ODC_HEADER_LEN, TRAILER,
};
use crate::bytes;
use crate::decompress::{self, NamedBytes};
use crate::io::{read_vec, ReadAt, Source};
use crate::tree::{
    FileData, Meta, Node, NodeId, NodeKind, Tree, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK,
    S_IFMT, S_IFREG, S_IFSOCK,
};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

/// Default limit on the total decompressed size of compressed parts (4 GiB).
pub const READ_MEMORY_CAP: u64 = 4 << 30;

/// True if `src` starts with a cpio header, or with a gzip or zstd stream
/// whose first bytes are a cpio header.
pub fn probe(src: &dyn ReadAt) -> bool {
    let Ok(head) = decompress::head(src, 0) else {
        return false;
    };
    if is_magic(&head) {
        return true;
    }
    let mut first = [0u8; 6];
    let rd = crate::io::ReadAtReader::new(src);
    let ok = match decompress::sniff(&head) {
        Some(decompress::Compression::Gzip) => flate2::read::GzDecoder::new(rd)
            .read_exact(&mut first)
            .is_ok(),
        Some(decompress::Compression::Zstd) => ruzstd::decoding::StreamingDecoder::new(rd)
            .map(|mut d| d.read_exact(&mut first).is_ok())
            .unwrap_or(false),
        _ => false,
    };
    ok && is_magic(&first)
}

fn is_magic(b: &[u8]) -> bool {
    b.starts_with(MAGIC_NEWC) || b.starts_with(MAGIC_CRC) || b.starts_with(MAGIC_ODC)
}

/// Reads every archive in `src` into one tree (later entries replace
/// earlier ones of the same name, as when the kernel unpacks them).
pub fn read_tree(src: Source) -> Result<Tree> {
    read_tree_capped(src, READ_MEMORY_CAP)
}

/// [`read_tree`] with `cap` bytes as the limit on decompressed data.
pub fn read_tree_capped(src: Source, cap: u64) -> Result<Tree> {
    let mut tree = Tree::new(0);
    let mut budget = cap;
    let mut archives = 0;
    read_parts(&src, &mut tree, true, cap, &mut budget, &mut archives)?;
    if archives == 0 {
        return Err(Error::corrupt(
            "cpio",
            src.name(),
            "no cpio archive found (empty or all zeros)",
        ));
    }
    Ok(tree)
}

/// Skips zero bytes from `off`; returns the first non-zero offset (or the end).
fn skip_zeros(src: &dyn ReadAt, mut off: u64) -> Result<u64> {
    let mut buf = vec![0u8; 4096];
    while off < src.size() {
        let n = (src.size() - off).min(buf.len() as u64) as usize;
        let chunk = bytes::slice_mut("cpio", "read buffer", &mut buf, 0, n)?;
        src.read_at(off, chunk)?;
        match chunk.iter().position(|&b| b != 0) {
            Some(p) => return Ok(off + p as u64),
            None => off += n as u64,
        }
    }
    Ok(off)
}

fn read_parts(
    src: &Source,
    tree: &mut Tree,
    allow_compressed: bool,
    cap: u64,
    budget: &mut u64,
    archives: &mut u32,
) -> Result<()> {
    let name = src.name();
    let mut off = 0u64;
    loop {
        off = skip_zeros(&**src, off)?;
        if off >= src.size() {
            return Ok(());
        }
        let head = decompress::head(&**src, off)?;
        if head.len() < 6
            && MAGIC_NEWC.starts_with(head.get(..head.len().min(3)).unwrap_or_default())
        {
            return Err(Error::Truncated {
                what: format!("{name}: cpio header"),
                offset: off,
                size: src.size(),
            });
        }
        if is_magic(&head) {
            off = read_archive(src, off, tree)?;
            *archives += 1;
        } else if let Some(kind) = decompress::sniff(&head).filter(|_| allow_compressed) {
            let what = format!("{name}: {} part at byte {off}", kind.name());
            let (data, end) =
                decompress::decompress(&**src, off, kind, *budget, &what).map_err(|e| match e {
                    Error::NoSpace { what, .. } => Error::no_space(
                        what,
                        format!(
                            "compressed parts decompress to more than the limit of {cap} \
                             bytes in total (a decompression bomb?)"
                        ),
                    ),
                    e => e,
                })?;
            *budget -= data.len() as u64;
            let inner: Source = Arc::new(NamedBytes::new(data, format!("{name} ({what})")));
            read_parts(&inner, tree, false, cap, budget, archives)?;
            off = end;
        } else {
            return Err(Error::corrupt(
                "cpio",
                format!("{name} at byte {off}"),
                format!(
                    "expected a cpio header{}, found {:02x?}",
                    if allow_compressed {
                        " or a compressed part"
                    } else {
                        ""
                    },
                    head
                ),
            ));
        }
    }
}

/// One parsed header, whichever format it came in.
struct Entry {
    /// Hard-link identity: (device major, device minor, inode).
    key: (u32, u32, u32),
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: i64,
    rdev: (u32, u32),
    name_off: u64,
    namesize: u64,
    data_off: u64,
    size: u64,
    /// Sum of data bytes to check (crc format).
    check: Option<u32>,
    /// Offset of the next header.
    next: u64,
}

fn read_header(src: &dyn ReadAt, off: u64, magic: &[u8]) -> Result<Entry> {
    let what = format!("{}: cpio header at byte {off}", src.name());
    if magic.starts_with(MAGIC_ODC) {
        let b = read_vec(src, off, ODC_HEADER_LEN as u64, 4096, &what)?;
        let mut a = [0u8; ODC_HEADER_LEN];
        a.copy_from_slice(&b);
        let h = OdcHeader::decode(&a, off)?;
        let name_off = off + ODC_HEADER_LEN as u64;
        let data_off = name_off + h.namesize as u64;
        Ok(Entry {
            key: (h.dev, 0, h.ino),
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            nlink: h.nlink,
            mtime: h.mtime as i64,
            rdev: (h.rdev >> 8, h.rdev & 0xff),
            name_off,
            namesize: h.namesize as u64,
            data_off,
            size: h.filesize,
            check: None,
            next: data_off.saturating_add(h.filesize),
        })
    } else {
        let b = read_vec(src, off, NEWC_HEADER_LEN as u64, 4096, &what)?;
        let mut a = [0u8; NEWC_HEADER_LEN];
        a.copy_from_slice(&b);
        let h = NewcHeader::decode(&a, off)?;
        let name_off = off + NEWC_HEADER_LEN as u64;
        let hn = NEWC_HEADER_LEN as u64 + h.namesize as u64;
        let data_off = off + hn + pad4(hn);
        let size = h.filesize as u64;
        Ok(Entry {
            key: (h.devmajor, h.devminor, h.ino),
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            nlink: h.nlink,
            mtime: h.mtime as i64,
            rdev: (h.rdevmajor, h.rdevminor),
            name_off,
            namesize: h.namesize as u64,
            data_off,
            size,
            check: magic.starts_with(MAGIC_CRC).then_some(h.check),
            next: data_off + size + pad4(size),
        })
    }
}

/// Reads one archive starting at `off` up to its trailer; returns the offset
/// after the trailer.
fn read_archive(src: &Source, mut off: u64, tree: &mut Tree) -> Result<u64> {
    let srcname = src.name();
    // Hard links are matched within one archive (the kernel forgets them at
    // each trailer).
    let mut links: HashMap<(u32, u32, u32), (NodeId, String)> = HashMap::new();
    loop {
        let head = decompress::head(&**src, off)?;
        if !is_magic(&head) {
            if head.len() < 6 {
                return Err(Error::Truncated {
                    what: format!("{srcname}: cpio archive (no {TRAILER} entry)"),
                    offset: off,
                    size: src.size(),
                });
            }
            return Err(Error::corrupt(
                "cpio",
                format!("{srcname} at byte {off}"),
                format!("expected a cpio header, found {head:02x?}"),
            ));
        }
        let e = read_header(&**src, off, &head)?;
        if e.namesize == 0 {
            return Err(Error::corrupt(
                "cpio",
                format!("{srcname}: header at byte {off}: c_namesize"),
                "is 0",
            ));
        }
        let raw = read_vec(
            &**src,
            e.name_off,
            e.namesize,
            MAX_NAME,
            &format!("{srcname}: name at byte {}", e.name_off),
        )?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
        let name = String::from_utf8_lossy(raw).into_owned();
        if name == TRAILER {
            return Ok(e.next);
        }
        match e.data_off.checked_add(e.size) {
            Some(end) if end <= src.size() => {}
            _ => {
                return Err(Error::Truncated {
                    what: format!("{srcname}: {name}"),
                    offset: e.data_off.saturating_add(e.size),
                    size: src.size(),
                })
            }
        }
        // GNU cpio sums regular files only (a symlink's check is 0).
        if let Some(check) = e.check.filter(|_| e.mode & S_IFMT == S_IFREG) {
            let sum = sum_bytes(&**src, e.data_off, e.size)?;
            if sum != check {
                return Err(Error::corrupt(
                    "cpio",
                    format!("{srcname}: {name}: c_check"),
                    format!("data sums to {sum:#x}, header says {check:#x}"),
                ));
            }
        }
        let meta = Meta {
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
            mtime_nsec: 0,
            xattrs: BTreeMap::new(),
        };
        let data = || FileData::Source {
            src: src.clone(),
            offset: e.data_off,
            len: e.size,
        };
        let kind = match e.mode & S_IFMT {
            S_IFREG => {
                if e.nlink > 1 {
                    if let Some((id, first)) = links.get(&e.key).cloned() {
                        tree.link(&name, &first)?;
                        if e.size > 0 {
                            let n = tree.node_mut(id);
                            n.kind = NodeKind::File(data());
                            n.meta = meta;
                        }
                        off = e.next;
                        continue;
                    }
                }
                NodeKind::File(data())
            }
            S_IFDIR => NodeKind::Dir(BTreeMap::new()),
            S_IFLNK => {
                let t = read_vec(
                    &**src,
                    e.data_off,
                    e.size,
                    MAX_NAME,
                    &format!("{srcname}: {name}: symlink target"),
                )?;
                NodeKind::Symlink(String::from_utf8_lossy(&t).into_owned())
            }
            S_IFCHR => NodeKind::CharDev {
                major: e.rdev.0,
                minor: e.rdev.1,
            },
            S_IFBLK => NodeKind::BlockDev {
                major: e.rdev.0,
                minor: e.rdev.1,
            },
            S_IFIFO => NodeKind::Fifo,
            S_IFSOCK => NodeKind::Socket,
            t => {
                return Err(Error::corrupt(
                    "cpio",
                    format!("{srcname}: {name}: c_mode"),
                    format!("unknown file type {t:#o}"),
                ))
            }
        };
        let is_file = matches!(kind, NodeKind::File(_));
        let id = tree.insert(&name, Node { kind, meta })?;
        if is_file && e.nlink > 1 {
            links.insert(e.key, (id, name));
        }
        off = e.next;
    }
}

fn sum_bytes(src: &dyn ReadAt, off: u64, len: u64) -> Result<u32> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sum = 0u32;
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        let chunk = bytes::slice_mut("cpio", "read buffer", &mut buf, 0, n)?;
        src.read_at(off + done, chunk)?;
        for &b in chunk.iter() {
            sum = sum.wrapping_add(b as u32);
        }
        done += n as u64;
    }
    Ok(sum)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::cpio::write::{write, CpioCompression, CpioOptions};
    use crate::io::NoProgress;
    use crate::BuildContext;

    fn sample() -> Tree {
        let mut t = Tree::new(100);
        t.add_file("bin/busybox", b"ELF....".to_vec()).unwrap();
        t.node_mut(t.lookup("bin/busybox").unwrap()).meta.mode = 0o4755;
        t.add_symlink("bin/sh", "busybox").unwrap();
        t.link("bin/ash", "bin/busybox").unwrap();
        t.insert(
            "dev/console",
            Node {
                kind: NodeKind::CharDev { major: 5, minor: 1 },
                meta: Meta::new(0o600, 100),
            },
        )
        .unwrap();
        t.add_file("init", b"#!/bin/sh\n".to_vec()).unwrap();
        t.add_file("empty", vec![]).unwrap();
        t
    }

    fn build(t: &Tree, opts: &CpioOptions) -> Vec<u8> {
        let mut out = Vec::new();
        write(t, opts, &BuildContext::default(), &mut out, &NoProgress).unwrap();
        out
    }

    fn content(t: &Tree, p: &str) -> Vec<u8> {
        match &t.node(t.lookup(p).unwrap()).kind {
            NodeKind::File(f) => f.to_vec(1 << 20).unwrap(),
            k => panic!("{p}: {k:?}"),
        }
    }

    #[test]
    fn writer_and_reader_agree() {
        let t = sample();
        for compression in [CpioCompression::None, CpioCompression::Gzip { level: 9 }] {
            let opts = CpioOptions {
                compression,
                ..Default::default()
            };
            let v = build(&t, &opts);
            assert!(probe(&v));
            let r = read_tree(Arc::new(v)).unwrap();
            assert_eq!(content(&r, "bin/busybox"), b"ELF....");
            assert_eq!(r.lookup("bin/ash"), r.lookup("bin/busybox"));
            let bb = r.node(r.lookup("bin/busybox").unwrap());
            assert_eq!((bb.meta.mode, bb.meta.mtime), (0o4755, 100));
            assert!(
                matches!(&r.node(r.lookup("bin/sh").unwrap()).kind, NodeKind::Symlink(s) if s == "busybox")
            );
            assert!(matches!(
                r.node(r.lookup("dev/console").unwrap()).kind,
                NodeKind::CharDev { major: 5, minor: 1 }
            ));
            assert_eq!(content(&r, "init"), b"#!/bin/sh\n");
            assert_eq!(content(&r, "empty"), b"");
        }
    }

    #[test]
    fn exact_bytes_of_a_tiny_archive() {
        let mut t = Tree::new(0);
        t.add_file("a", b"xy".to_vec()).unwrap();
        let v = build(
            &t,
            &CpioOptions {
                compression: CpioCompression::None,
                ..Default::default()
            },
        );
        let expect = concat!(
            "070701",
            "00000001",
            "000041ED",
            "00000000",
            "00000000",
            "00000002",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000002",
            "00000000",
            ".\0",
            "070701",
            "00000002",
            "000081A4",
            "00000000",
            "00000000",
            "00000001",
            "00000000",
            "00000002",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000002",
            "00000000",
            "a\0",
            "xy\0\0",
            "070701",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000001",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "00000000",
            "0000000B",
            "00000000",
            "TRAILER!!!\0\0\0\0",
        );
        assert_eq!(String::from_utf8_lossy(&v), expect);
    }

    #[test]
    fn hard_link_data_is_on_the_last_link() {
        let t = sample();
        let v = build(
            &t,
            &CpioOptions {
                compression: CpioCompression::None,
                ..Default::default()
            },
        );
        let s = String::from_utf8_lossy(&v);
        // bin/ash comes first in walk order: size 0; bin/busybox carries 7 bytes.
        let ash = s.find("bin/ash\0").unwrap();
        let bb = s.find("bin/busybox\0").unwrap();
        assert!(ash < bb);
        assert_eq!(&s[ash - 110 + 54..ash - 110 + 62], "00000000");
        assert_eq!(&s[bb - 110 + 54..bb - 110 + 62], "00000007");
        assert_eq!(&s[bb - 110 + 38..bb - 110 + 46], "00000002");
    }

    #[test]
    fn prepend_is_uncompressed_then_gzip() {
        let mut early = Tree::new(0);
        early
            .add_file("kernel/x86/microcode/GenuineIntel.bin", vec![1, 2, 3])
            .unwrap();
        let v = build(
            &sample(),
            &CpioOptions {
                prepend: Some(early),
                ..Default::default()
            },
        );
        assert!(v.starts_with(b"070701"));
        let r = read_tree(Arc::new(v)).unwrap();
        assert_eq!(
            content(&r, "kernel/x86/microcode/GenuineIntel.bin"),
            vec![1, 2, 3]
        );
        assert_eq!(content(&r, "init"), b"#!/bin/sh\n");
    }

    #[test]
    fn clamp_and_determinism() {
        let mut t = sample();
        t.node_mut(t.lookup("init").unwrap()).meta.mtime = 5000;
        let opts = CpioOptions {
            clamp_mtime: true,
            ..Default::default()
        };
        let a = build(&t, &opts);
        assert_eq!(a, build(&t, &opts));
        let mut out = Vec::new();
        write(
            &t,
            &opts,
            &BuildContext::new(50, "imgforge"),
            &mut out,
            &NoProgress,
        )
        .unwrap();
        assert_ne!(a, out);
        let r = read_tree(Arc::new(out)).unwrap();
        assert_eq!(r.node(r.lookup("init").unwrap()).meta.mtime, 50);
        // gzip header: no name, mtime 0, OS Unix.
        assert_eq!(&a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn bad_archives_are_refused() {
        let t = sample();
        let plain = CpioOptions {
            compression: CpioCompression::None,
            ..Default::default()
        };
        let v = build(&t, &plain);
        for cut in [3, 50, 200, v.len() - 20] {
            let e = read_tree(Arc::new(v[..cut].to_vec())).unwrap_err();
            assert!(matches!(e, Error::Truncated { .. }), "cut at {cut}: {e}");
        }
        // A name that leaves the root.
        let mut evil = NewcHeader {
            ino: 1,
            mode: 0o100644,
            nlink: 1,
            namesize: 12,
            ..Default::default()
        }
        .encode(MAGIC_NEWC)
        .unwrap()
        .to_vec();
        evil.extend_from_slice(b"../../etc/x\0");
        evil.extend_from_slice(&v[v.len() - 124..]);
        let e = read_tree(Arc::new(evil)).unwrap_err().to_string();
        assert!(e.contains("../../etc/x"), "{e}");
        // A gzip bomb stops at the cap.
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
        std::io::Write::write_all(&mut z, &v).unwrap();
        std::io::Write::write_all(&mut z, &vec![0u8; 1 << 20]).unwrap();
        let bomb = z.finish().unwrap();
        let e = read_tree_capped(Arc::new(bomb), 100_000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("limit of 100000") && e.contains("bomb"), "{e}");
    }
}
