//! OVA (OVF 1.0 package): a ustar archive of the OVF descriptor, a
//! streamOptimized VMDK and a SHA-256 manifest. The writer streams (see
//! write.rs for how the VMDK's size is known before its tar header); the
//! reader opens the VMDK inside the archive without copying it.

pub mod raw;
pub mod read;
pub mod write;

use crate::container::{Opened, WriteOptions};
use crate::io::{Progress, Sink, Source};
use crate::{Disk, Result};

pub use read::{parse_ovf, OvfFacts};

/// Opens an ova file as its virtual disk.
pub fn open(src: Source) -> Result<Opened> {
    read::open(src)
}

/// Streams `disk` as an ova file into `sink`. `opts.vm` names the VM and
/// its CPUs and memory; `-o hardware=vmware|virtualbox`,
/// `controller=ide|sata`, `network=nat|bridged`; other `-o` keys go to the
/// VMDK (`adapter_type=`, `hwversion=`).
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    write::write(disk, opts, sink, progress)
}
