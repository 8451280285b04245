//! Opening a raw image: the source is the virtual disk.

use crate::image::{Info, Opened};
use crate::io::Source;
use crate::{Disk, Result};

/// Opens `src` as a raw disk image.
pub fn open(src: Source) -> Result<Opened> {
    let size = src.size();
    // A sparse input's holes stay holes (qemu-img uses SEEK_DATA the same
    // way); the bytes read are the same either way.
    let disk = match src.data_ranges() {
        Some(ranges) => Disk::from_source(src, &ranges)?,
        None => Disk::from_whole(src)?,
    };
    Ok(Opened {
        disk,
        info: Info::new("raw", size),
    })
}
