//! Container formats as one family: [`detect`] sniffs the format, [`open`]
//! and [`write()`] dispatch to the format's module. Each container module
//! (`qcow2`, `vhd`, `vhdx`, `vmdk`, `ova`, `vagrant`, `raw_image`) has
//! `read::open(src: Source) -> Result<Opened>` and
//! `write::write(disk: &Disk, opts: &WriteOptions, sink: &mut dyn Sink, progress: &dyn Progress) -> Result<()>`;
//! the types they share ([`Format`], [`WriteOptions`], [`Opened`], [`Info`])
//! live in the private `image` module, which imports no format.

use crate::io::{Progress, ReadAt, Sink, Source};
use crate::{Disk, Result};

pub use crate::image::{Format, Info, Opened, VmSpec, WriteOptions};

/// Sniffs the container format from magic bytes; `Raw` if none matches
/// (see [`Format::detect`]).
pub fn detect(src: &dyn ReadAt) -> Result<Format> {
    Format::detect(src)
}

/// Opens `src` as `format` (or the detected format).
pub fn open(src: Source, format: Option<Format>) -> Result<Opened> {
    let format = match format {
        Some(f) => f,
        None => detect(&*src)?,
    };
    match format {
        Format::Raw => crate::raw_image::read::open(src),
        Format::Qcow2 => crate::qcow2::read::open(src),
        Format::Vhd => crate::vhd::read::open(src),
        Format::Vhdx => crate::vhdx::read::open(src),
        Format::Vmdk => crate::vmdk::read::open(src),
        Format::Ova => crate::ova::read::open(src),
        Format::Box => crate::vagrant::read::open(src),
    }
}

/// Writes `disk` as `format` into `sink`, front to back.
pub fn write(
    format: Format,
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    match format {
        Format::Raw => crate::raw_image::write::write(disk, opts, sink, progress),
        Format::Qcow2 => crate::qcow2::write::write(disk, opts, sink, progress),
        Format::Vhd => crate::vhd::write::write(disk, opts, sink, progress),
        Format::Vhdx => crate::vhdx::write::write(disk, opts, sink, progress),
        Format::Vmdk => crate::vmdk::write::write(disk, opts, sink, progress),
        Format::Ova => crate::ova::write::write(disk, opts, sink, progress),
        Format::Box => crate::vagrant::write::write(disk, opts, sink, progress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Regression: every gzip file was taken for a Vagrant box, so
    /// `imgforge ls initrd.gz` of a `find | cpio | gzip` initramfs failed
    /// with a tar checksum error.
    #[test]
    fn gzip_cpio_is_not_a_box() {
        let mut cpio = b"070701".to_vec();
        cpio.resize(4096, b'0');
        assert_eq!(detect(&gzip(&cpio)).unwrap(), Format::Raw);
        let mut tar = vec![0u8; 1024];
        tar[..13].copy_from_slice(b"metadata.json");
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(detect(&gzip(&tar)).unwrap(), Format::Box);
        // Truncated gzip: not a box, no error.
        assert_eq!(detect(&gzip(&tar)[..12].to_vec()).unwrap(), Format::Raw);
    }
}
