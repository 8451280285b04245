//! Container formats as one family: detect, open (a container's virtual disk
//! as a lazy [`Disk`]) and write (a [`Disk`] streamed front to back into a
//! [`Sink`]). Each format module provides
//! `pub fn write(disk: &Disk, opts: &WriteOptions, sink: &mut dyn Sink, progress: &dyn Progress) -> Result<()>`
//! and `pub fn open(src: Source) -> Result<Opened>`.

use crate::io::{Progress, ReadAt, Sink, Source};
use crate::{Disk, Error, Result};
use serde::Serialize;

/// The container formats, named as qemu-img names them (`vpc` is accepted
/// for VHD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Raw,
    Qcow2,
    Vhd,
    Vhdx,
    Vmdk,
    Ova,
    Box,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "raw" | "img" => Format::Raw,
            "qcow2" => Format::Qcow2,
            "vhd" | "vpc" => Format::Vhd,
            "vhdx" => Format::Vhdx,
            "vmdk" => Format::Vmdk,
            "ova" => Format::Ova,
            "box" | "vagrant" => Format::Box,
            other => {
                return Err(Error::invalid(
                    "format",
                    format!("unknown format '{other}' (raw, qcow2, vhd/vpc, vhdx, vmdk, ova, box)"),
                ))
            }
        })
    }

    /// qemu-img's name for the format (`vpc` for VHD).
    pub fn qemu_name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vhd => "vpc",
            Format::Vhdx => "vhdx",
            Format::Vmdk => "vmdk",
            Format::Ova => "ova",
            Format::Box => "box",
        }
    }
}

/// Options for writers, as qemu-img's `-c` and `-o key=value,...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `-c`: compress (qcow2 deflate clusters; streamOptimized is always
    /// compressed).
    pub compress: bool,
    /// `-o cluster_size=` (qcow2), `block_size=` (vhd, vhdx).
    pub cluster_size: Option<u64>,
    /// `-o subformat=`: `fixed`/`dynamic` (vhd, vhdx), `monolithicSparse`/
    /// `streamOptimized` (vmdk); for `box`: `libvirt`/`virtualbox`.
    pub subformat: Option<String>,
    /// Other `-o key=value` pairs, checked by the writer (unknown keys are
    /// an error naming the key).
    pub extra: Vec<(String, String)>,
    /// Machine description for OVA/box: CPUs, memory MiB, name.
    pub vm: VmSpec,
    /// Seed-derived identity (UUIDs, page-83 id, CIDs) and timestamps.
    pub ctx: crate::BuildContext,
}

/// The virtual machine an OVF/box describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    pub name: String,
    pub cpus: u32,
    pub memory_mib: u64,
}

impl Default for VmSpec {
    fn default() -> Self {
        VmSpec {
            name: "imgforge".into(),
            cpus: 1,
            memory_mib: 1024,
        }
    }
}

/// What `qemu-img info` reports, with its field names.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Info {
    pub format: String,
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
    #[serde(rename = "cluster-size", skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u64>,
    #[serde(rename = "backing-filename", skip_serializing_if = "Option::is_none")]
    pub backing_filename: Option<String>,
    #[serde(
        rename = "backing-filename-format",
        skip_serializing_if = "Option::is_none"
    )]
    pub backing_format: Option<String>,
    #[serde(rename = "dirty-flag")]
    pub dirty: bool,
    #[serde(rename = "format-specific", skip_serializing_if = "Option::is_none")]
    pub format_specific: Option<serde_json::Value>,
}

/// An opened container: its virtual disk (lazy: extents refer to a reader
/// over the container) and what `info` reports.
pub struct Opened {
    pub disk: Disk,
    pub info: Info,
}

/// Sniffs the container format from magic bytes; `Raw` if none matches.
pub fn detect(src: &dyn ReadAt) -> Result<Format> {
    let mut head = [0u8; 512];
    let n = (src.size().min(512)) as usize;
    src.read_at(0, &mut head[..n])?;
    let head = &head[..n];
    if head.starts_with(b"QFI\xfb") {
        return Ok(Format::Qcow2);
    }
    if head.starts_with(b"vhdxfile") {
        return Ok(Format::Vhdx);
    }
    if head.starts_with(b"KDMV") || head.starts_with(b"# Disk DescriptorFile") {
        return Ok(Format::Vmdk);
    }
    if head.starts_with(b"conectix") {
        return Ok(Format::Vhd);
    }
    // A fixed VHD has only a footer, in the last 512 bytes.
    if src.size() >= 512 {
        let mut foot = [0u8; 8];
        src.read_at(src.size() - 512, &mut foot)?;
        if &foot == b"conectix" {
            return Ok(Format::Vhd);
        }
    }
    // OVA: a tar whose first member is an .ovf (ustar magic at 257).
    if n >= 265 && &head[257..262] == b"ustar" {
        let name_end = head[..100].iter().position(|&b| b == 0).unwrap_or(100);
        if head[..name_end].ends_with(b".ovf") {
            return Ok(Format::Ova);
        }
    }
    // Vagrant boxes are gzip'd tars; a gzip'd cpio (an initramfs) is not one.
    if head.starts_with(&[0x1f, 0x8b]) && gzip_holds_tar(src)? {
        return Ok(Format::Box);
    }
    Ok(Format::Raw)
}

/// True if the gzip stream at the start of `src` begins with a tar header
/// (ustar magic at 257, POSIX.1-1988). 4 KiB of deflate input is far more
/// than one 512-byte header needs.
fn gzip_holds_tar(src: &dyn ReadAt) -> Result<bool> {
    use std::io::Read;
    let n = src.size().min(4096) as usize;
    let mut comp = vec![0u8; n];
    src.read_at(0, &mut comp)?;
    let mut hdr = [0u8; 512];
    let mut got = 0;
    let mut gz = flate2::read::GzDecoder::new(&comp[..]);
    while got < hdr.len() {
        match gz.read(&mut hdr[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    Ok(got >= 262 && &hdr[257..262] == b"ustar")
}

/// Opens `src` as `format` (or the detected format).
pub fn open(src: Source, format: Option<Format>) -> Result<Opened> {
    let format = match format {
        Some(f) => f,
        None => detect(&*src)?,
    };
    match format {
        Format::Raw => {
            let size = src.size();
            // A sparse input's holes stay holes (qemu-img uses SEEK_DATA
            // the same way); the bytes read are the same either way.
            let disk = match src.data_ranges() {
                Some(ranges) => Disk::from_source(src, &ranges)?,
                None => Disk::from_whole(src)?,
            };
            Ok(Opened {
                disk,
                info: Info {
                    format: "raw".into(),
                    virtual_size: size,
                    cluster_size: None,
                    backing_filename: None,
                    backing_format: None,
                    dirty: false,
                    format_specific: None,
                },
            })
        }
        Format::Qcow2 => crate::qcow2::open(src),
        Format::Vhd => crate::vhd::open(src),
        Format::Vhdx => crate::vhdx::open(src),
        Format::Vmdk => crate::vmdk::open(src),
        Format::Ova => crate::ova::open(src),
        Format::Box => crate::vagrant::open(src),
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
        Format::Raw => write_raw(disk, sink, progress),
        Format::Qcow2 => crate::qcow2::write(disk, opts, sink, progress),
        Format::Vhd => crate::vhd::write(disk, opts, sink, progress),
        Format::Vhdx => crate::vhdx::write(disk, opts, sink, progress),
        Format::Vmdk => crate::vmdk::write(disk, opts, sink, progress),
        Format::Ova => crate::ova::write(disk, opts, sink, progress),
        Format::Box => crate::vagrant::write(disk, opts, sink, progress),
    }
}

/// Raw: allocated extents as bytes, everything else (and all-zero blocks
/// inside extents) as holes, so a file sink writes a sparse file.
pub fn write_raw(disk: &Disk, sink: &mut dyn Sink, progress: &dyn Progress) -> Result<()> {
    const BLOCK: u64 = 64 * 1024;
    let mut pos = 0u64;
    let mut buf = vec![0u8; BLOCK as usize];
    let total = disk.size();
    let mut pending_hole = 0u64;
    for (off, len) in disk.allocated_ranges() {
        pending_hole += off - pos;
        pos = off;
        let end = off + len;
        while pos < end {
            // Align chunks to BLOCK so zero detection matches filesystem blocks.
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
