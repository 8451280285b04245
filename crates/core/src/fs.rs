//! Seeing files inside any image: through a container (qcow2, vhd, ...),
//! into a partition (GPT or MBR), to a filesystem or archive (FAT, ext4,
//! ISO 9660, cpio/initramfs) read as a [`Tree`].

use crate::io::{ReadAt, Source, SubRange};
use crate::tree::Tree;
use crate::{Error, Result};
use std::sync::Arc;

/// The filesystems and archives imgforge reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Fat,
    Ext4,
    Iso9660,
    Cpio,
}

impl FsKind {
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Fat => "fat",
            FsKind::Ext4 => "ext4",
            FsKind::Iso9660 => "iso9660",
            FsKind::Cpio => "cpio",
        }
    }
}

/// Which filesystem or archive `src` holds, if any.
pub fn probe(src: &dyn ReadAt) -> Option<FsKind> {
    if crate::iso9660::read::probe(src) {
        Some(FsKind::Iso9660)
    } else if crate::ext4::read::probe(src) {
        Some(FsKind::Ext4)
    } else if crate::fat::read::probe(src) {
        Some(FsKind::Fat)
    } else if crate::cpio::read::probe(src) {
        Some(FsKind::Cpio)
    } else {
        None
    }
}

/// Reads the filesystem or archive in `src` as a tree.
pub fn read_tree(src: Source) -> Result<(FsKind, Tree)> {
    let kind = probe(&*src).ok_or_else(|| {
        Error::unsupported(
            "image",
            format!(
                "{}: no FAT, ext4, ISO 9660 or cpio filesystem found",
                src.name()
            ),
        )
    })?;
    let tree = match kind {
        FsKind::Fat => crate::fat::read::read_tree(src)?,
        FsKind::Ext4 => crate::ext4::read::read_tree(src)?,
        FsKind::Iso9660 => crate::iso9660::read::read_tree(src)?,
        FsKind::Cpio => crate::cpio::read::read_tree(src)?,
    };
    Ok((kind, tree))
}

/// The virtual disk of any image (through its container), as a source.
pub fn open_disk(src: Source) -> Result<Source> {
    match crate::container::detect(&*src)? {
        crate::container::Format::Raw => Ok(src),
        f => {
            let opened = crate::container::open(src, Some(f))?;
            Ok(Arc::new(opened.disk))
        }
    }
}

/// Byte range `(offset, len)` of partition `number` on a disk with a GPT or
/// MBR table.
pub fn partition_range(disk: &dyn ReadAt, number: u32) -> Result<(u64, u64)> {
    let (table, _) = crate::inspect::partition_table(disk);
    let table = table.ok_or_else(|| {
        Error::invalid(
            format!("partition {number}"),
            "this disk has no GPT or MBR partition table",
        )
    })?;
    let p = table
        .partitions
        .iter()
        .find(|p| p.number == number)
        .ok_or_else(|| {
            Error::invalid(
                format!("partition {number}"),
                "no such partition on this disk",
            )
        })?;
    let ss = table.sector_size;
    Ok((p.start * ss, (p.end + 1 - p.start) * ss))
}

/// The tree of the filesystem in `src` (any container), in partition `part`
/// if given.
pub fn open_tree(src: Source, part: Option<u32>) -> Result<Tree> {
    let disk = open_disk(src)?;
    let fs: Source = match part {
        None => disk,
        Some(n) => {
            let (off, len) = partition_range(&*disk, n)?;
            Arc::new(SubRange::new(disk, off, len)?)
        }
    };
    Ok(read_tree(fs)?.1)
}
