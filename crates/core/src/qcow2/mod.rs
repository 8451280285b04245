//! qcow2 container (qemu's docs/interop/qcow2.txt): a streaming version 3
//! writer (optionally compressed, in parallel with the `parallel` feature), a
//! reader for versions 2 and 3, and in-place edits ([`edit::Editor`]: grow,
//! write guest bytes) for `resize` and `part`.

pub mod edit;
pub mod raw;
pub mod read;
pub mod resize;
pub mod write;

use crate::container::{Opened, WriteOptions};
use crate::io::{Progress, Sink, Source};
use crate::{Disk, Result};

pub use edit::{edit_patch, Editor};
pub use read::{open_with_backing, Qcow2Reader};
pub use resize::grow_patch;
pub use write::{compress_cluster, PushWriter};

/// Opens a qcow2 file as its virtual disk.
pub fn open(src: Source) -> Result<Opened> {
    read::open_qcow2(src, None)
}

/// Streams `disk` as a qcow2 file into `sink`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    write::write_qcow2(disk, opts, sink, progress)
}

#[cfg(test)]
pub(crate) mod tests;
