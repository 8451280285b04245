//! Local directories and tar files as trees: the CLI side of tree sources.
//!
//! File data is never read here: each regular file becomes a lazy range of
//! a [`PathSource`], opened when the writer reads it (so a tree of 100 000
//! files does not hold 100 000 open files).

use anyhow::{bail, Context, Result};
use imgforge_core::io::{ReadAt, Source};
use imgforge_core::tree::{FileData, Meta, Node, NodeKind, Tree};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A local file read on demand; its size is the one seen when the tree was
/// loaded (a file that shrinks since is an error, not a short read).
pub struct PathSource {
    path: PathBuf,
    size: u64,
}

impl ReadAt for PathSource {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        use std::os::unix::fs::FileExt;
        let name = self.path.display().to_string();
        imgforge_core::io::check_read(offset, buf.len() as u64, self.size, || name.clone())?;
        let f = std::fs::File::open(&self.path)
            .map_err(|e| imgforge_core::Error::io(format!("opening {name}"), e))?;
        f.read_exact_at(buf, offset)
            .map_err(|e| imgforge_core::Error::io(format!("reading {name}"), e))
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// The SOURCE_DATE_EPOCH environment variable's text, if set (the core
/// parses it: [`imgforge_core::BuildContext::resolve`]).
pub fn source_date_epoch() -> Option<String> {
    std::env::var("SOURCE_DATE_EPOCH").ok()
}

fn meta_of(md: &std::fs::Metadata) -> Meta {
    Meta {
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        mtime_nsec: md.mtime_nsec().clamp(0, 999_999_999) as u32,
        xattrs: BTreeMap::new(),
    }
}

/// glibc's `major()`/`minor()` of a `dev_t`.
fn dev_split(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Adds the contents of directory `path` to `tree` under `prefix` (`""` for
/// the root; the directory's own mode, owner and time go to `prefix`).
/// Keeps modes (setuid too), owners, mtimes, symlinks, hard links (by device
/// and inode) and device nodes, fifos and sockets. Extended attributes are
/// not read.
pub fn load_dir(path: &Path, tree: &mut Tree, prefix: &str) -> Result<()> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if !md.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let prefix = prefix.trim_matches('/').to_string();
    tree.insert(
        &prefix,
        Node {
            kind: NodeKind::Dir(BTreeMap::new()),
            meta: meta_of(&md),
        },
    )?;
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    // Explicit stack: deep trees do not overflow the call stack.
    let mut stack = vec![(path.to_path_buf(), prefix)];
    while let Some((dir, tpath)) = stack.pop() {
        let mut names: Vec<(String, PathBuf, std::fs::Metadata)> = Vec::new();
        for ent in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let ent = ent.with_context(|| format!("cannot read {}", dir.display()))?;
            let p = ent.path();
            let Some(name) = ent.file_name().to_str().map(str::to_string) else {
                bail!("{}: file name is not UTF-8", p.display());
            };
            // DirEntry::metadata stats relative to the open directory
            // (fstatat, not following symlinks): no path walk per file.
            let md = ent
                .metadata()
                .with_context(|| format!("cannot stat {}", p.display()))?;
            names.push((name, p, md));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, p, md) in names {
            let ft = md.file_type();
            let t = join(&tpath, &name);
            let meta = meta_of(&md);
            let kind = if ft.is_dir() {
                stack.push((p.clone(), t.clone()));
                NodeKind::Dir(BTreeMap::new())
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = links.get(&(md.dev(), md.ino())) {
                        tree.link(&t, first)?;
                        continue;
                    }
                    links.insert((md.dev(), md.ino()), t.clone());
                }
                let src: Source = Arc::new(PathSource {
                    path: p.clone(),
                    size: md.len(),
                });
                NodeKind::File(FileData::Source {
                    src,
                    offset: 0,
                    len: md.len(),
                })
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&p)
                    .with_context(|| format!("cannot read link {}", p.display()))?;
                let Some(target) = target.to_str() else {
                    bail!("{}: link target is not UTF-8", p.display());
                };
                NodeKind::Symlink(target.to_string())
            } else if ft.is_char_device() {
                let (major, minor) = dev_split(md.rdev());
                NodeKind::CharDev { major, minor }
            } else if ft.is_block_device() {
                let (major, minor) = dev_split(md.rdev());
                NodeKind::BlockDev { major, minor }
            } else if ft.is_fifo() {
                NodeKind::Fifo
            } else if ft.is_socket() {
                NodeKind::Socket
            } else {
                bail!("{}: unknown file type", p.display());
            };
            tree.insert(&t, Node { kind, meta })?;
        }
    }
    Ok(())
}

/// A tree from a directory or a tar file (plain, .gz, .zst or .xz: the
/// compression is found from the content). Implicit directories get the
/// time SOURCE_DATE_EPOCH or imgforge's default epoch.
pub fn load_source(path: &Path) -> Result<Tree> {
    let ctx =
        imgforge_core::BuildContext::resolve(None, None, source_date_epoch().as_deref(), None)?;
    let mut tree = Tree::new(ctx.epoch);
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if md.is_dir() {
        load_dir(path, &mut tree, "")?;
    } else {
        let src = crate::files::open_source(path)?;
        imgforge_core::tree::tar::from_tar(src, &mut tree, "")
            .with_context(|| format!("reading {} as a tar archive", path.display()))?;
    }
    Ok(tree)
}

/// Adds a directory's entries or a tar archive's to `tree` at its root
/// (later sources replace earlier ones' files of the same path).
pub fn load_source_into(tree: &mut Tree, path: &Path) -> Result<()> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if md.is_dir() {
        return load_dir(path, tree, "");
    }
    let src = crate::files::open_source(path)?;
    imgforge_core::tree::tar::from_tar(src, tree, "")
        .with_context(|| format!("reading {} as a tar archive", path.display()))?;
    Ok(())
}

/// Loads `path` into `tree` at `prefix`: a directory's entries go under
/// `prefix`, a single file becomes `prefix` (mkisofs graft points).
pub fn load_into(tree: &mut Tree, prefix: &str, path: &Path) -> Result<()> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if md.is_dir() {
        return load_dir(path, tree, prefix);
    }
    let src = crate::files::open_source(path)?;
    let len = imgforge_core::io::ReadAt::size(&*src);
    tree.insert(
        prefix,
        Node {
            kind: NodeKind::File(imgforge_core::tree::FileData::Source {
                src,
                offset: 0,
                len,
            }),
            meta: meta_of(&md),
        },
    )?;
    Ok(())
}
