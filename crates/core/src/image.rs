//! The types every container format shares: the [`Format`] names, the
//! writer's [`WriteOptions`], what a reader gives back ([`Opened`], [`Info`]).
//! A leaf: it imports no format, so formats and the `container` dispatcher
//! both depend on it and not on each other.

use crate::io::ReadAt;
use crate::{BuildContext, Disk, Error, Result};
use serde::Serialize;

/// The container formats, named as qemu-img names them (`vpc` is accepted
/// for VHD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A plain disk image, byte for byte (sparse where the disk has holes).
    Raw,
    /// qemu's copy-on-write format, version 2 and 3 read, 3 written.
    Qcow2,
    /// Microsoft Virtual PC / Hyper-V VHD (fixed or dynamic).
    Vhd,
    /// Hyper-V VHDX.
    Vhdx,
    /// VMware VMDK (monolithicSparse, streamOptimized, flat descriptors).
    Vmdk,
    /// OVF 1.0 package: a tar of the descriptor, a VMDK and a manifest.
    Ova,
    /// Vagrant box (libvirt or VirtualBox provider).
    Box,
}

impl Format {
    /// A format by name (`qcow2`, `vpc`, `vagrant`, ...; any case).
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

/// Options for writers, as qemu-img's `-c` and `-o key=value,...`. Start
/// from `WriteOptions::default()` (or a recipe's
/// [`OutputSection::write_options`](crate::recipe::OutputSection::write_options))
/// and set fields; [`WriteOptions::set`] takes `-o` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    pub ctx: BuildContext,
}

impl WriteOptions {
    /// Takes one `-o key=value` pair: `cluster_size` / `block_size` (a
    /// size), `subformat`; any other key goes to [`WriteOptions::extra`]
    /// for the writer to check.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "cluster_size" | "block_size" => {
                self.cluster_size = Some(crate::size::parse_size(value, &format!("-o {key}"))?)
            }
            "subformat" => self.subformat = Some(value.to_string()),
            _ => self.extra.push((key.to_string(), value.to_string())),
        }
        Ok(())
    }

    /// Takes qemu-img's `-o key=value,key=value` text.
    pub fn set_all(&mut self, text: &str) -> Result<()> {
        for kv in text.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("-o {kv}"), "expected key=value"))?;
            self.set(k, v)?;
        }
        Ok(())
    }
}

/// The virtual machine an OVF/box describes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VmSpec {
    /// The machine's name.
    pub name: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory in MiB.
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
    /// qemu-img's format name (`qcow2`, `vpc`, ...).
    pub format: String,
    /// Size of the virtual disk in bytes.
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
    /// Cluster (qcow2) or block (vhd, vhdx, vmdk grain) size.
    #[serde(rename = "cluster-size", skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u64>,
    /// The backing file a qcow2 names.
    #[serde(rename = "backing-filename", skip_serializing_if = "Option::is_none")]
    pub backing_filename: Option<String>,
    /// The backing file's format, if the qcow2 names it.
    #[serde(
        rename = "backing-filename-format",
        skip_serializing_if = "Option::is_none"
    )]
    pub backing_format: Option<String>,
    /// The image was not closed cleanly (qcow2 dirty bit, VHDX log).
    #[serde(rename = "dirty-flag")]
    pub dirty: bool,
    /// What `qemu-img info` lists under "Format specific information".
    #[serde(rename = "format-specific", skip_serializing_if = "Option::is_none")]
    pub format_specific: Option<serde_json::Value>,
}

impl Info {
    /// The facts of a plain image of `virtual_size` bytes in `format`.
    pub fn new(format: &str, virtual_size: u64) -> Info {
        Info {
            format: format.to_string(),
            virtual_size,
            cluster_size: None,
            backing_filename: None,
            backing_format: None,
            dirty: false,
            format_specific: None,
        }
    }
}

/// An opened container: its virtual disk (lazy: extents refer to a reader
/// over the container) and what `info` reports.
pub struct Opened {
    /// The virtual disk.
    pub disk: Disk,
    /// What `info` reports.
    pub info: Info,
}

impl Format {
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
