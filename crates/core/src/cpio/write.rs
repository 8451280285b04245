//! The newc (`070701`) writer: an initramfs the Linux kernel unpacks, made
//! deterministically from a [`Tree`] and streamed to a [`Sink`].
//!
//! Entries come in tree walk order (parents first, names sorted); inode
//! numbers are given in that order. Hard links share an inode and, as GNU
//! cpio and the kernel's reader expect for newc, only the last link carries
//! the data. Extended attributes are not stored (newc has no place for them).

use super::raw::{pad4, NewcHeader, MAGIC_NEWC, NEWC_HEADER_LEN, TRAILER};
use crate::io::{Progress, Sink, SinkWriter};
use crate::tree::{NodeKind, Tree};
use crate::{BuildContext, Error, Result};
use std::io::Write;

/// How the main archive is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioCompression {
    /// Plain cpio.
    None,
    /// gzip at `level` 0-9, header without name and with mtime 0.
    Gzip {
        /// gzip level, 0-9.
        level: u32,
    },
}

#[derive(Clone, Debug)]
/// How to write a cpio archive.
#[non_exhaustive]
pub struct CpioOptions {
    /// Compression of the whole archive.
    pub compression: CpioCompression,
    /// Clamp every mtime later than `ctx.epoch` to it (SOURCE_DATE_EPOCH).
    pub clamp_mtime: bool,
    /// A tree written first as an uncompressed archive (early microcode:
    /// `kernel/x86/microcode/GenuineIntel.bin`), before the main archive.
    pub prepend: Option<Tree>,
}

impl Default for CpioOptions {
    fn default() -> Self {
        CpioOptions {
            compression: CpioCompression::Gzip { level: 6 },
            clamp_mtime: false,
            prepend: None,
        }
    }
}

const CHUNK: usize = 64 * 1024;

/// Where archive bytes go: the sink itself or a compressor in front of it.
trait Out {
    fn put(&mut self, b: &[u8]) -> Result<()>;
}

struct Plain<'a>(&'a mut dyn Sink);

impl Out for Plain<'_> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.0.write(b)
    }
}

struct Compressed<W: Write>(W);

impl<W: Write> Out for Compressed<W> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.0.write_all(b).map_err(from_io)
    }
}

/// Recovers the core error a sink returned through an `io::Write` adaptor.
fn from_io(e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|r| r.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(err) = inner.downcast::<Error>() {
                return *err;
            }
        }
        return Error::invalid("cpio", "unreadable error from the output");
    }
    Error::io("writing initramfs", e)
}

/// Writes `tree` as a newc archive (compressed as `opts` says, after the
/// optional uncompressed `opts.prepend` archive) to `sink`, and finishes it.
pub fn write(
    tree: &Tree,
    opts: &CpioOptions,
    ctx: &BuildContext,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let total = tree.data_bytes() + opts.prepend.as_ref().map_or(0, |p| p.data_bytes());
    let mut done = 0u64;
    if let Some(p) = &opts.prepend {
        write_archive(p, opts, ctx, &mut Plain(sink), progress, &mut done, total)?;
    }
    match opts.compression {
        CpioCompression::None => {
            write_archive(
                tree,
                opts,
                ctx,
                &mut Plain(sink),
                progress,
                &mut done,
                total,
            )?;
        }
        CpioCompression::Gzip { level } => {
            if level > 9 {
                return Err(Error::invalid(
                    "level",
                    format!("gzip level {level} is not in 0-9"),
                ));
            }
            // mtime 0, no file name, OS 3 (Unix) as `gzip -n` writes: the
            // header does not depend on the machine or the time.
            let enc = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(3)
                .write(SinkWriter(sink), flate2::Compression::new(level));
            let mut out = Compressed(enc);
            write_archive(tree, opts, ctx, &mut out, progress, &mut done, total)?;
            out.0.finish().map_err(from_io)?;
        }
    }
    sink.finish()
}

fn write_archive(
    tree: &Tree,
    opts: &CpioOptions,
    ctx: &BuildContext,
    out: &mut dyn Out,
    progress: &dyn Progress,
    done: &mut u64,
    total: u64,
) -> Result<()> {
    let walk = tree.walk();
    let nlinks = tree.link_counts();
    // Inode numbers in walk order; the walk index of each node's last entry.
    let mut ino = vec![0u32; tree.nodes.len()];
    let mut last = vec![0usize; tree.nodes.len()];
    let mut next_ino = 1u32;
    for (i, (_, id)) in walk.iter().enumerate() {
        if ino[*id] == 0 {
            ino[*id] = next_ino;
            next_ino += 1;
        }
        last[*id] = i;
    }
    let mut buf = vec![0u8; CHUNK];
    for (i, (path, id)) in walk.iter().enumerate() {
        let node = tree.node(*id);
        let name = if path.is_empty() { "." } else { path.as_str() };
        let mut mtime = node.meta.mtime;
        if opts.clamp_mtime && mtime > ctx.epoch {
            mtime = ctx.epoch;
        }
        let (rdevmajor, rdevminor) = match node.kind {
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                (major, minor)
            }
            _ => (0, 0),
        };
        let size: u64 = match &node.kind {
            NodeKind::File(f) if i == last[*id] => f.len(),
            NodeKind::Symlink(t) => t.len() as u64,
            _ => 0,
        };
        let filesize = u32::try_from(size).map_err(|_| {
            Error::invalid(
                name,
                format!("{size} bytes is more than a newc cpio entry holds (4 GiB - 1)"),
            )
        })?;
        let hdr = NewcHeader {
            ino: ino[*id],
            mode: node.kind.type_bits() | (node.meta.mode & 0o7777),
            uid: node.meta.uid,
            gid: node.meta.gid,
            nlink: nlinks[*id],
            mtime: mtime.clamp(0, u32::MAX as i64) as u32,
            filesize,
            devmajor: 0,
            devminor: 0,
            rdevmajor,
            rdevminor,
            namesize: name.len() as u32 + 1,
            check: 0,
        };
        put_header(out, &hdr, name)?;
        match &node.kind {
            NodeKind::File(f) if size > 0 => {
                let mut off = 0u64;
                while off < size {
                    let n = (size - off).min(CHUNK as u64) as usize;
                    f.read_at(off, &mut buf[..n])?;
                    out.put(&buf[..n])?;
                    off += n as u64;
                    *done += n as u64;
                    progress.step("initramfs", *done, total)?;
                }
            }
            NodeKind::Symlink(t) => out.put(t.as_bytes())?,
            _ => {}
        }
        out.put(&[0u8; 3][..pad4(size) as usize])?;
    }
    let trailer = NewcHeader {
        nlink: 1,
        namesize: TRAILER.len() as u32 + 1,
        ..Default::default()
    };
    put_header(out, &trailer, TRAILER)
}

fn put_header(out: &mut dyn Out, hdr: &NewcHeader, name: &str) -> Result<()> {
    out.put(&hdr.encode(MAGIC_NEWC)?)?;
    out.put(name.as_bytes())?;
    let len = NEWC_HEADER_LEN as u64 + name.len() as u64 + 1;
    out.put(&[0u8; 4][..1 + pad4(len) as usize])
}
