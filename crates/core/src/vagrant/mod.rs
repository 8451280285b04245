//! Vagrant .box: tar.gz of metadata.json, a Vagrantfile and the provider's
//! disk — `libvirt` (default; box.img as qcow2) or `virtualbox` (box.ovf +
//! box-disk001.vmdk, streamOptimized).

pub mod raw;
pub mod read;
pub mod write;

use crate::container::{Opened, WriteOptions};
use crate::io::{Progress, Sink, Source};
use crate::{Disk, Result};

/// Opens a box as its disk; `info.format_specific` reports the provider.
pub fn open(src: Source) -> Result<Opened> {
    read::open(src)
}

/// Streams `disk` as a box (`opts.subformat`: libvirt | virtualbox).
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    write::write(disk, opts, sink, progress)
}
