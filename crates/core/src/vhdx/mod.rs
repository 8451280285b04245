//! VHDX container ([MS-VHDX]): dynamic and fixed disks, read and written.
//! Differencing disks are recognised and refused; a log left by an
//! unclean shutdown is replayed into an in-memory overlay (log.rs).

pub mod log;
pub mod raw;
pub mod read;
pub mod write;

use crate::container::{Opened, WriteOptions};
use crate::io::{Progress, Sink, Source};
use crate::{Disk, Result};

/// Opens a vhdx file as its virtual disk.
pub fn open(src: Source) -> Result<Opened> {
    read::open(src)
}

/// Streams `disk` as a vhdx file into `sink`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    write::write(disk, opts, sink, progress)
}
