//! VMDK container (VMware Virtual Disk Format 1.1): monolithicSparse and
//! streamOptimized written; those plus flat/sparse descriptors read.

pub mod raw;
pub mod read;
pub mod write;

use crate::container::{Opened, WriteOptions};
use crate::io::{Progress, Sink, Source};
use crate::{Disk, Result};

pub use read::{open_descriptor, parse_descriptor, Descriptor, ExtentLine};

/// Opens a vmdk file (a hosted sparse extent) as its virtual disk.
pub fn open(src: Source) -> Result<Opened> {
    read::open(src)
}

/// Streams `disk` as a vmdk file into `sink` (`opts.subformat`:
/// monolithicSparse (default) or streamOptimized; `-o adapter_type=`,
/// `hwversion=`). The descriptor names the extent `<vm name>.vmdk`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let name = format!("{}.vmdk", opts.vm.name);
    write::write_named(disk, opts, &name, sink, progress).map(|_| ())
}
