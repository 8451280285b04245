//! Block helpers shared by the container writers (VHDX, VMDK): which blocks
//! of a [`Disk`] hold data, and copying a block to a sink with holes kept.

use crate::io::{ReadAt, Sink};
use crate::{Disk, Result};

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
