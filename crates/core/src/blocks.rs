//! Block helpers shared by the container writers (VHD, VHDX, VMDK): which
//! blocks of a [`Disk`] hold data, copying a block to a sink with holes kept,
//! and the one-pass pair: [`copy_nonzero_units`] writes the blocks that hold
//! data as it finds them, [`patch_table`] fills in the table reserved before
//! them once their places are known.

use crate::io::{Progress, ReadAt, Sink};
use crate::{Disk, Error, Result};

/// Chunk size for scanning and copying.
pub(crate) const CHUNK: usize = 64 * 1024;

/// True if `[off, off+len)` of `disk` holds a non-zero byte. Only allocated
/// extents are read. `buf` is scratch space of at least [`CHUNK`] bytes.
pub(crate) fn has_data(disk: &Disk, off: u64, len: u64, buf: &mut [u8]) -> Result<bool> {
    for e in disk.extents_in(off, len) {
        let mut pos = 0u64;
        while pos < e.len {
            let n = (e.len - pos).min(buf.len() as u64) as usize;
            let b = &mut buf[..n];
            e.data.read(pos, b)?;
            if !crate::io::is_zero(b) {
                return Ok(true);
            }
            pos += n as u64;
        }
    }
    Ok(false)
}

/// Writes `[off, off+len)` of `disk` to `sink`; the part past the end of the
/// disk and unallocated runs go out as holes.
pub(crate) fn copy(
    disk: &Disk,
    off: u64,
    len: u64,
    sink: &mut dyn Sink,
    buf: &mut [u8],
) -> Result<()> {
    let end = off + len;
    let in_disk = disk.size().min(end).saturating_sub(off);
    let mut pos = off;
    for e in disk.extents_in(off, in_disk) {
        if e.offset > pos {
            sink.hole(e.offset - pos)?;
        }
        let mut done = 0u64;
        while done < e.len {
            let n = (e.len - done).min(buf.len() as u64) as usize;
            let b = &mut buf[..n];
            e.data.read(done, b)?;
            sink.write(b)?;
            done += n as u64;
        }
        pos = e.offset + e.len;
    }
    if end > pos {
        sink.hole(end - pos)?;
    }
    Ok(())
}

/// Reads `[off, off+out.len())` of `disk`, zero past its end.
pub(crate) fn read_padded(disk: &Disk, off: u64, out: &mut [u8]) -> Result<()> {
    out.fill(0);
    let n = disk.size().saturating_sub(off).min(out.len() as u64) as usize;
    if n > 0 {
        disk.read_at(off, &mut out[..n])?;
    }
    Ok(())
}

/// Rounds `v` up to a multiple of `to` (a power of two or any non-zero).
pub(crate) fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// Bytes read per call by [`copy_nonzero_units`]: 256 KiB, as the qcow2
/// writer reads (the buffer stays in a 1 MiB L2 cache; docs/benchmarks.md).
pub(crate) const PIECE: usize = 256 << 10;

/// One pass over the `unit`-byte units (VHD/VHDX blocks, VMDK grains) of
/// `disk` that an allocated extent touches, in order. Each allocated byte is
/// read once, in pieces of at most `buf.len()` bytes. For each unit that holds
/// a non-zero byte, `start(index, sink)` is called when its first non-zero
/// byte is found (before anything of the unit is passed to `sink`), then the
/// whole unit goes to `sink`: `unit` bytes, its zero runs of [`CHUNK`]
/// granularity and what lies past the disk's end as holes. Units of zeros
/// pass nothing. Progress is reported as `phase` over the disk's size.
pub(crate) fn copy_nonzero_units(
    disk: &Disk,
    unit: u64,
    sink: &mut dyn Sink,
    buf: &mut [u8],
    progress: &dyn Progress,
    phase: &str,
    mut start: impl FnMut(u64, &mut dyn Sink) -> Result<()>,
) -> Result<()> {
    /// The unit being read: its index, whether it is being written, how far
    /// it is accounted for (a disk offset) and how many zeros since the last
    /// bytes passed to the sink.
    struct Cur {
        idx: u64,
        stored: bool,
        pos: u64,
        zeros: u64,
    }
    fn close(c: &Cur, unit: u64, sink: &mut dyn Sink) -> Result<()> {
        if c.stored {
            sink.hole(c.zeros + (c.idx + 1) * unit - c.pos)?;
        }
        Ok(())
    }
    let mut cur = Cur {
        idx: u64::MAX,
        stored: false,
        pos: 0,
        zeros: 0,
    };
    let size = disk.size();
    for (off, len) in disk.allocated_ranges() {
        let end = off + len;
        let mut p = off;
        while p < end {
            let n = (end - p).min(buf.len() as u64);
            let piece = &mut buf[..n as usize];
            disk.read_at(p, piece)?;
            let mut q = p;
            while q < p + n {
                let u = q / unit;
                let sub_end = (p + n)
                    .min((u + 1) * unit)
                    .min((q / CHUNK as u64 + 1) * CHUNK as u64);
                if cur.idx != u {
                    close(&cur, unit, sink)?;
                    cur = Cur {
                        idx: u,
                        stored: false,
                        pos: u * unit,
                        zeros: 0,
                    };
                }
                cur.zeros += q - cur.pos;
                let s = &piece[(q - p) as usize..(sub_end - p) as usize];
                if crate::io::is_zero(s) {
                    cur.zeros += s.len() as u64;
                } else {
                    if !cur.stored {
                        start(u, sink)?;
                        cur.stored = true;
                    }
                    if cur.zeros > 0 {
                        sink.hole(cur.zeros)?;
                        cur.zeros = 0;
                    }
                    sink.write(s)?;
                }
                cur.pos = sub_end;
                q = sub_end;
            }
            p += n;
            progress.step(phase, p, size)?;
        }
    }
    close(&cur, unit, sink)
}

/// Patches a table of `len` bytes at file offset `at`, already written as
/// `fill` bytes (or a hole, `fill` 0), with `entries`: (byte offset in the
/// table, entry bytes), ascending, each aligned to its size. Only the
/// [`CHUNK`]-byte pieces of the table that hold an entry are patched, each
/// once; memory does not grow with the table.
pub(crate) fn patch_table<const N: usize>(
    sink: &mut dyn Sink,
    at: u64,
    len: u64,
    fill: u8,
    entries: impl Iterator<Item = (u64, [u8; N])>,
) -> Result<()> {
    let chunk = CHUNK as u64;
    let mut piece = vec![fill; CHUNK];
    let mut cur: Option<u64> = None;
    let flush = |sink: &mut dyn Sink, p: u64, piece: &[u8]| -> Result<()> {
        let n = chunk.min(len - p * chunk) as usize;
        sink.patch(at + p * chunk, &piece[..n])
    };
    for (off, bytes) in entries {
        if off % N as u64 != 0 || off + N as u64 > len || cur.is_some_and(|c| off / chunk < c) {
            return Err(Error::corrupt(
                "writer",
                "table",
                format!("internal error: entry at {off} of a {len}-byte table"),
            ));
        }
        let p = off / chunk;
        if cur != Some(p) {
            if let Some(c) = cur {
                flush(sink, c, &piece)?;
            }
            piece.fill(fill);
            cur = Some(p);
        }
        let o = (off % chunk) as usize;
        piece[o..o + N].copy_from_slice(&bytes);
    }
    if let Some(c) = cur {
        flush(sink, c, &piece)?;
    }
    Ok(())
}
