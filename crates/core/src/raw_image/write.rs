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
    let mut pos = 0u64;
    let mut buf = vec![0u8; BLOCK as usize];
    let total = disk.size();
    let mut pending_hole = 0u64;
    for (off, len) in disk.allocated_ranges() {
        pending_hole += off - pos;
        pos = off;
        let end = off + len;
        while pos < end {
            let n = (BLOCK - pos % BLOCK).min(end - pos);
            let b = &mut buf[..n as usize];
            disk.read_at(pos, b)?;
            if crate::io::is_zero(b) {
                pending_hole += n;
            } else {
                if pending_hole > 0 {
                    sink.hole(pending_hole)?;
                    pending_hole = 0;
                }
                sink.write(b)?;
            }
            pos += n;
            progress.step("writing raw", pos, total)?;
        }
    }
    pending_hole += total - pos;
    if pending_hole > 0 {
        sink.hole(pending_hole)?;
    }
    sink.finish()
}
