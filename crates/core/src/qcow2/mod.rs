//! qcow2 container.

pub mod raw;
pub mod read;
pub mod write;

use crate::container::{Opened, WriteOptions};
use crate::io::{Progress, Sink, Source};
use crate::{Disk, Error, Result};

/// Opens a qcow2 file as its virtual disk.
pub fn open(src: Source) -> Result<Opened> {
    let _ = src;
    Err(Error::unsupported("qcow2", "reader not written yet"))
}

/// Streams `disk` as a qcow2 file into `sink`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = (disk, opts, sink, progress);
    Err(Error::unsupported("qcow2", "writer not written yet"))
}
