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
    /// FAT12, FAT16 or FAT32.
    Fat,
    /// ext2, ext3 or ext4.
    Ext4,
    /// ISO 9660 (with Joliet and Rock Ridge).
    Iso9660,
    /// A cpio archive (an initramfs), possibly compressed.
    Cpio,
}

impl FsKind {
    /// The name `inspect` reports (`fat`, `ext4`, `iso9660`, `cpio`).
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

/// The tree of the filesystem in `src` (any container), in partition `part`
/// if given.
pub fn open_tree(src: Source, part: Option<u32>) -> Result<Tree> {
    let disk = open_disk(src)?;
    let fs: Source = match part {
        None => disk,
        Some(n) => {
            let (off, len) = crate::partitions::range(&*disk, n)?;
            Arc::new(SubRange::new(disk, off, len)?)
        }
    };
    Ok(read_tree(fs)?.1)
}

/// A short description of the filesystem in `src` for `inspect`: type,
/// label, UUID, size, used and free bytes; `None` if none is recognised.
pub fn describe(src: Source) -> Option<serde_json::Value> {
    use serde_json::json;
    let kind = probe(&*src)?;
    let v = match kind {
        FsKind::Fat => match crate::fat::read::info(&*src) {
            Ok(i) => json!({
                "type": format!("fat{}", i.fat_type.bits()),
                "label": i.label,
                "uuid": format!("{:04X}-{:04X}", i.volume_id >> 16, i.volume_id & 0xffff),
                "size": i.total_bytes,
                "used": i.total_bytes.saturating_sub(i.free_bytes),
                "free": i.free_bytes,
                "cluster_size": i.cluster_size,
            }),
            Err(e) => json!({"type": "fat", "error": e.to_string()}),
        },
        FsKind::Ext4 => match crate::ext4::read::info(&*src) {
            Ok(i) => {
                let bs = i.block_size as u64;
                json!({
                    "type": if i.features.iter().any(|f| f == "extent") { "ext4" } else if i.features.iter().any(|f| f == "has_journal") { "ext3" } else { "ext2" },
                    "label": i.label,
                    "uuid": crate::seed::format_uuid(&i.uuid),
                    "size": i.blocks * bs,
                    "used": (i.blocks - i.free_blocks.min(i.blocks)) * bs,
                    "free": i.free_blocks * bs,
                    "block_size": bs,
                    "inodes": i.inodes,
                    "free_inodes": i.free_inodes,
                    "features": i.features,
                })
            }
            Err(e) => json!({"type": "ext4", "error": e.to_string()}),
        },
        FsKind::Iso9660 => match crate::iso9660::read::report(src.clone()) {
            Ok(r) => {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), json!("iso9660"));
                    let label = r.volume_descriptors.iter().find_map(|d| {
                        serde_json::to_value(d)
                            .ok()?
                            .get("volume_id")?
                            .as_str()
                            .map(str::to_string)
                    });
                    o.insert("label".into(), json!(label));
                    o.insert("report".into(), json!(crate::iso9660::render_report(&r)));
                }
                v
            }
            Err(e) => json!({"type": "iso9660", "error": e.to_string()}),
        },
        FsKind::Cpio => json!({"type": "cpio", "size": src.size()}),
    };
    Some(v)
}
