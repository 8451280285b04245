//! Vagrant box writer: a gzip'd ustar (gzip header mtime 0, so the bytes
//! depend only on the inputs). Disk members are produced twice when they
//! are too big to buffer (see ova/write.rs), because a tar header holds its
//! member's size.

use super::raw::*;
use crate::image::WriteOptions;
use crate::io::{Progress, Sink, SinkWriter, WriteSink};
use crate::ova::write::{ovf_xml, split_options, vmdk_member, DiskRef};
use crate::ustar::{emit, emit_bytes, end, measure};
use crate::{Disk, Error, Result};

/// `libvirt` (default) or `virtualbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// qcow2 disk (vagrant-libvirt).
    Libvirt,
    /// OVF and streamOptimized VMDK (VirtualBox).
    Virtualbox,
}

/// The provider `opts.subformat` names (default libvirt).
pub fn provider(opts: &WriteOptions) -> Result<Provider> {
    match opts.subformat.as_deref() {
        None | Some("libvirt") => Ok(Provider::Libvirt),
        Some("virtualbox") => Ok(Provider::Virtualbox),
        Some(o) => Err(Error::invalid(
            "subformat",
            format!("box provider '{o}' is not one of libvirt, virtualbox"),
        )),
    }
}

/// Streams `disk` as a Vagrant box.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let p = provider(opts)?;
    let mtime = opts.ctx.epoch;
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(SinkWriter(sink), flate2::Compression::default());
    let mut out = WriteSink::new(gz);
    match p {
        Provider::Libvirt => {
            let mut qopts = opts.clone();
            qopts.subformat = None;
            let produce = |s: &mut dyn Sink| crate::qcow2::write(disk, &qopts, s, progress);
            let m = measure(&produce)?;
            emit_bytes(
                METADATA_JSON,
                libvirt_metadata(disk.size()).as_bytes(),
                mtime,
                &mut out,
            )?;
            emit_bytes(
                VAGRANTFILE,
                libvirt_vagrantfile(&opts.vm).as_bytes(),
                mtime,
                &mut out,
            )?;
            emit(LIBVIRT_DISK, &m, &produce, mtime, &mut out)?;
        }
        Provider::Virtualbox => {
            let mut o = opts.clone();
            o.subformat = None;
            let (mut ovf_opts, vmdk_opts) = split_options(&o)?;
            if !o.extra.iter().any(|(k, _)| k == "hardware") {
                ovf_opts.system_type = "virtualbox-2.2".into();
            }
            let (m, populated, produce) = vmdk_member(disk, &vmdk_opts, VIRTUALBOX_DISK, progress)?;
            let ovf = ovf_xml(
                opts,
                &ovf_opts,
                &DiskRef {
                    file: VIRTUALBOX_DISK.into(),
                    file_size: m.size,
                    capacity: disk.size().div_ceil(512) * 512,
                    populated_size: populated,
                },
            )?;
            emit_bytes(
                METADATA_JSON,
                virtualbox_metadata().as_bytes(),
                mtime,
                &mut out,
            )?;
            emit_bytes(
                VAGRANTFILE,
                virtualbox_vagrantfile(&opts.vm).as_bytes(),
                mtime,
                &mut out,
            )?;
            emit_bytes(VIRTUALBOX_OVF, ovf.as_bytes(), mtime, &mut out)?;
            emit(VIRTUALBOX_DISK, &m, &produce, mtime, &mut out)?;
        }
    }
    end(&mut out)?;
    let w = out
        .inner
        .finish()
        .map_err(|e| Error::io("writing gzip", e))?;
    w.0.finish()
}
