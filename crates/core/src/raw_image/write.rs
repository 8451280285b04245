//! Writing a raw image into a sink, front to back.

use crate::image::WriteOptions;
use crate::io::{Progress, ReadAt, Sink};
use crate::{Disk, Result};

/// Zero detection works in blocks of this size, aligned to the disk, so
/// that holes match filesystem blocks.
const BLOCK: u64 = 64 * 1024;

/// Writes allocated extents as bytes and everything else (and all-zero
/// blocks inside extents) as holes. A raw image has no options: `opts` is
/// taken for the same signature as every container writer.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = opts;
    let mut buf = vec![0u8; BLOCK as usize];
    let hole = write_range(
        disk,
        0,
        disk.size(),
        sink,
        &mut buf,
        progress,
        "writing raw",
    )?;
    if hole > 0 {
        sink.hole(hole)?;
    }
    sink.finish()
}

/// Writes the bytes `[start, end)` of `disk` as [`write`] does, except for
/// the trailing hole, whose length it returns (the caller writes it or
/// joins it with what follows). `buf` holds one block; `phase` names the
/// work in progress reports.
pub(crate) fn write_range(
    disk: &Disk,
    start: u64,
    end: u64,
    sink: &mut dyn Sink,
    buf: &mut [u8],
    progress: &dyn Progress,
    phase: &str,
) -> Result<u64> {
    let mut hole = 0u64;
    let mut pos = start;
    for (off, len) in disk
        .allocated_ranges()
        .into_iter()
        .filter(|&(o, l)| o + l > start && o < end)
    {
        let (s, e) = (off.max(start), (off + len).min(end));
        hole += s - pos;
        pos = s;
        while pos < e {
            let n = (BLOCK - pos % BLOCK).min(e - pos);
            let b = &mut buf[..n as usize];
            disk.read_at(pos, b)?;
            if crate::io::is_zero(b) {
                hole += n;
            } else {
                if hole > 0 {
                    sink.hole(hole)?;
                    hole = 0;
                }
                sink.write(b)?;
            }
            pos += n;
            progress.step(phase, pos, disk.size())?;
        }
    }
    Ok(hole + (end - pos))
}
