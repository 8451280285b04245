//! Loading a local directory into a core [`Tree`] (mkisofs sources): modes,
//! owners, times, symlinks, devices, hard links by (dev, inode); file data
//! stays on disk as lazy [`FileData::Source`] ranges.

use crate::files::FileSource;
use anyhow::{bail, Context, Result};
use imgforge_core::tree::{FileData, Meta, Node, NodeKind, Tree};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

/// The tree of the directory at `path`.
#[allow(dead_code)]
pub fn load_dir(path: &Path) -> Result<Tree> {
    let mut t = Tree::new(0);
    load_into(&mut t, "", path)?;
    Ok(t)
}

/// Loads `path` into `tree` at `prefix` ("" = root): a directory's entries
/// go under `prefix`, a single file becomes `prefix`.
pub fn load_into(tree: &mut Tree, prefix: &str, path: &Path) -> Result<()> {
    let mut links = HashMap::new();
    load(tree, prefix, path, &mut links)
}

fn meta_of(md: &std::fs::Metadata) -> Meta {
    let mut m = Meta::new(md.mode(), md.mtime());
    m.uid = md.uid();
    m.gid = md.gid();
    m.mtime_nsec = md.mtime_nsec().clamp(0, 999_999_999) as u32;
    m
}

fn load(
    tree: &mut Tree,
    at: &str,
    path: &Path,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    let md = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot stat {}", path.display()))?;
    let ft = md.file_type();
    let meta = meta_of(&md);
    if ft.is_dir() {
        let node = Node {
            kind: NodeKind::Dir(BTreeMap::new()),
            meta,
        };
        // A directory at the root or a graft point gives it its metadata.
        tree.insert(at, node)?;
        let mut names: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read directory {}", path.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot read directory {}", path.display()))?;
        names.sort();
        for n in names {
            let Some(s) = n.to_str() else {
                bail!("{}: file name is not UTF-8", path.join(&n).display());
            };
            let child = if at.is_empty() {
                s.to_string()
            } else {
                format!("{at}/{s}")
            };
            load(tree, &child, &path.join(&n), links)?;
        }
        return Ok(());
    }
    if at.is_empty() {
        bail!("{}: a file cannot be the root of the image", path.display());
    }
    if md.nlink() > 1 {
        let key = (md.dev(), md.ino());
        if let Some(first) = links.get(&key) {
            tree.link(at, first)?;
            return Ok(());
        }
        links.insert(key, at.to_string());
    }
    let kind = if ft.is_file() {
        let src = FileSource::open(path)?;
        let len = md.len();
        NodeKind::File(FileData::Source {
            src: Arc::new(src),
            offset: 0,
            len,
        })
    } else if ft.is_symlink() {
        let t = std::fs::read_link(path)
            .with_context(|| format!("cannot read link {}", path.display()))?;
        NodeKind::Symlink(t.to_string_lossy().into_owned())
    } else if ft.is_char_device() || ft.is_block_device() {
        let r = md.rdev();
        let major = (((r >> 32) & 0xffff_f000) | ((r >> 8) & 0xfff)) as u32;
        let minor = (((r >> 12) & 0xffff_ff00) | (r & 0xff)) as u32;
        if ft.is_char_device() {
            NodeKind::CharDev { major, minor }
        } else {
            NodeKind::BlockDev { major, minor }
        }
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else {
        NodeKind::Socket
    };
    tree.insert(at, Node { kind, meta })?;
    Ok(())
}
