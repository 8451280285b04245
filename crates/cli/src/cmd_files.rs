//! `imgforge ls`, `cat` and `extract`: files inside filesystem images,
//! initramfs archives and ISOs, bare or inside a partition of a disk, seen
//! through any container. The image spec is `IMAGE[:PARTNUM][:/path]`.

use crate::files::open_source;
use anyhow::{bail, Context, Result};
use imgforge_core::tree::{mode_string, NodeId, NodeKind, Tree};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `IMAGE[:PARTNUM][:/path]` split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageSpec {
    pub image: PathBuf,
    pub part: Option<u32>,
    pub path: String,
}

/// Splits a spec. The image path is taken as the longest prefix that exists
/// on disk, so image names containing ':' work when they exist.
pub fn parse_spec(spec: &str) -> Result<ImageSpec> {
    if Path::new(spec).exists() {
        return Ok(ImageSpec {
            image: spec.into(),
            part: None,
            path: "/".into(),
        });
    }
    let mut parts: Vec<&str> = spec.split(':').collect();
    let mut image = String::new();
    // Grow the image prefix until it names an existing file.
    while !parts.is_empty() {
        if !image.is_empty() {
            image.push(':');
        }
        image.push_str(parts.remove(0));
        if Path::new(&image).exists() {
            break;
        }
    }
    if !Path::new(&image).exists() {
        bail!("{}: no such file", spec.split(':').next().unwrap_or(spec));
    }
    let mut part = None;
    let mut path = "/".to_string();
    match parts.as_slice() {
        [] => {}
        [p] if p.starts_with('/') => path = p.to_string(),
        [n] => {
            part = Some(
                n.parse()
                    .with_context(|| format!("'{n}' is not a partition number"))?,
            )
        }
        [n, p] => {
            part = Some(
                n.parse()
                    .with_context(|| format!("'{n}' is not a partition number"))?,
            );
            path = if p.is_empty() {
                "/".into()
            } else {
                p.to_string()
            };
        }
        _ => bail!("'{spec}' is not IMAGE[:PARTNUM][:/path]"),
    }
    Ok(ImageSpec {
        image: image.into(),
        part,
        path,
    })
}

/// Opens the filesystem the spec names, as a tree.
pub fn open_tree(spec: &ImageSpec) -> Result<Tree> {
    let src = open_source(&spec.image)?;
    let tree = imgforge_core::fs::open_tree(src, spec.part)
        .with_context(|| spec.image.display().to_string())?;
    Ok(tree)
}

fn lookup(tree: &Tree, spec: &ImageSpec) -> Result<NodeId> {
    tree.lookup(&spec.path)
        .with_context(|| format!("{}: no such file or directory in the image", spec.path))
}

/// `YYYY-MM-DD HH:MM` (UTC) for a Unix time.
pub fn format_time(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

fn size_of(kind: &NodeKind) -> String {
    match kind {
        NodeKind::File(f) => f.len().to_string(),
        NodeKind::Symlink(t) => t.len().to_string(),
        NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
            format!("{major}, {minor}")
        }
        _ => "0".to_string(),
    }
}

pub fn ls(spec_s: &str, long: bool, recursive: bool) -> Result<()> {
    let spec = parse_spec(spec_s)?;
    let tree = open_tree(&spec)?;
    let id = lookup(&tree, &spec)?;
    let links = tree.link_counts();
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut entries: Vec<(String, NodeId)> = Vec::new();
    match &tree.node(id).kind {
        NodeKind::Dir(_) if recursive => {
            let base = spec.path.trim_matches('/');
            for (p, n) in tree.walk() {
                if p.is_empty() {
                    continue;
                }
                if base.is_empty() || p == base || p.starts_with(&format!("{base}/")) {
                    entries.push((p, n));
                }
            }
        }
        NodeKind::Dir(_) => entries.extend(tree.children(id).map(|(n, c)| (n.to_string(), c))),
        _ => entries.push((spec.path.trim_start_matches('/').to_string(), id)),
    }
    for (name, n) in entries {
        let node = tree.node(n);
        if long {
            let target = match &node.kind {
                NodeKind::Symlink(t) => format!(" -> {t}"),
                _ => String::new(),
            };
            writeln!(
                out,
                "{} {:>3} {:>5} {:>5} {:>10} {} {}{}",
                mode_string(node.kind.type_bits() | node.meta.mode),
                links[n],
                node.meta.uid,
                node.meta.gid,
                size_of(&node.kind),
                format_time(node.meta.mtime),
                name,
                target
            )?;
        } else {
            writeln!(out, "{name}")?;
        }
    }
    Ok(())
}

pub fn cat(spec_s: &str) -> Result<()> {
    let spec = parse_spec(spec_s)?;
    let tree = open_tree(&spec)?;
    let id = lookup(&tree, &spec)?;
    let NodeKind::File(data) = &tree.node(id).kind else {
        bail!("{}: not a regular file", spec.path)
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < data.len() {
        let n = (data.len() - off).min(buf.len() as u64) as usize;
        data.read_at(off, &mut buf[..n])?;
        out.write_all(&buf[..n])?;
        off += n as u64;
    }
    Ok(())
}

/// Extracts the subtree at the spec's path into `dir`. Never writes outside
/// `dir` (tree paths are normalised and no symlink is followed), keeps modes
/// including setuid/setgid, symlinks and hard links; owners and device nodes
/// only when run as root.
pub fn extract(spec_s: &str, dir: &Path) -> Result<()> {
    let spec = parse_spec(spec_s)?;
    let tree = open_tree(&spec)?;
    let id = lookup(&tree, &spec)?;
    extract_tree(&tree, id, &spec.path, dir)
}

pub fn extract_tree(tree: &Tree, id: NodeId, base_path: &str, dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let is_root = is_root();
    let mut first_path: HashMap<NodeId, PathBuf> = HashMap::new();
    let mut dirs: Vec<(PathBuf, NodeId)> = Vec::new();
    let mut warned_dev = false;
    // A directory extracts its contents into `dir`; a single file keeps its name.
    let entries: Vec<(String, NodeId)> = if matches!(tree.node(id).kind, NodeKind::Dir(_)) {
        tree.walk_from(id)
    } else {
        let name = base_path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("file")
            .to_string();
        vec![(name, id)]
    };
    for (rel, n) in entries {
        let target = if rel.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(&rel)
        };
        // The extraction root itself has no parent to check (and `out/`'s
        // parent is the empty path).
        if let Some(parent) = target.parent().filter(|_| !rel.is_empty()) {
            if parent != dir {
                let md = std::fs::symlink_metadata(parent)
                    .with_context(|| format!("cannot stat {}", parent.display()))?;
                if !md.is_dir() {
                    bail!(
                        "{}: parent is not a directory (refusing to follow a link out of {})",
                        target.display(),
                        dir.display()
                    );
                }
            }
        }
        let node = tree.node(n);
        if !matches!(node.kind, NodeKind::Dir(_)) {
            if let Some(first) = first_path.get(&n) {
                let _ = std::fs::remove_file(&target);
                std::fs::hard_link(first, &target)
                    .with_context(|| format!("cannot link {}", target.display()))?;
                continue;
            }
            first_path.insert(n, target.clone());
        }
        match &node.kind {
            NodeKind::Dir(_) => {
                if !rel.is_empty() {
                    match std::fs::create_dir(&target) {
                        Ok(()) => {}
                        Err(e)
                            if e.kind() == std::io::ErrorKind::AlreadyExists && target.is_dir() => {
                        }
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("cannot create {}", target.display()))
                        }
                    }
                }
                dirs.push((target, n));
                continue;
            }
            NodeKind::File(data) => {
                let _ = std::fs::remove_file(&target);
                let mut f = std::fs::File::create(&target)
                    .with_context(|| format!("cannot create {}", target.display()))?;
                let mut buf = vec![0u8; (1 << 20).min(data.len() as usize).max(1)];
                let mut off = 0u64;
                while off < data.len() {
                    let k = (data.len() - off).min(buf.len() as u64) as usize;
                    data.read_at(off, &mut buf[..k])?;
                    f.write_all(&buf[..k])?;
                    off += k as u64;
                }
                let mtime = std::time::UNIX_EPOCH
                    .checked_add(std::time::Duration::from_secs(node.meta.mtime.max(0) as u64));
                if let Some(t) = mtime {
                    let _ = f.set_modified(t);
                }
            }
            NodeKind::Symlink(t) => {
                let _ = std::fs::remove_file(&target);
                std::os::unix::fs::symlink(t, &target)
                    .with_context(|| format!("cannot create symlink {}", target.display()))?;
                if is_root {
                    let _ = std::os::unix::fs::lchown(
                        &target,
                        Some(node.meta.uid),
                        Some(node.meta.gid),
                    );
                }
                continue;
            }
            NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                if !is_root {
                    if !warned_dev {
                        eprintln!("warning: not root: device nodes are not created");
                        warned_dev = true;
                    }
                    continue;
                }
                let t = if matches!(node.kind, NodeKind::CharDev { .. }) {
                    "c"
                } else {
                    "b"
                };
                let st = std::process::Command::new("mknod")
                    .arg(&target)
                    .arg(t)
                    .arg(major.to_string())
                    .arg(minor.to_string())
                    .status()
                    .context("running mknod")?;
                if !st.success() {
                    bail!("mknod {} failed", target.display());
                }
            }
            NodeKind::Fifo => {
                let st = std::process::Command::new("mkfifo")
                    .arg(&target)
                    .status()
                    .context("running mkfifo")?;
                if !st.success() {
                    bail!("mkfifo {} failed", target.display());
                }
            }
            NodeKind::Socket => continue,
        }
        if is_root {
            std::os::unix::fs::chown(&target, Some(node.meta.uid), Some(node.meta.gid))
                .with_context(|| format!("cannot chown {}", target.display()))?;
        }
        // After chown, which clears setuid/setgid.
        std::fs::set_permissions(
            &target,
            std::fs::Permissions::from_mode(node.meta.mode & 0o7777),
        )?;
    }
    // Directories last and deepest first, so read-only directories can be filled.
    for (target, n) in dirs.into_iter().rev() {
        let node = tree.node(n);
        if is_root {
            let _ = std::os::unix::fs::chown(&target, Some(node.meta.uid), Some(node.meta.gid));
        }
        std::fs::set_permissions(
            &target,
            std::fs::Permissions::from_mode(node.meta.mode & 0o7777),
        )?;
    }
    Ok(())
}

fn is_root() -> bool {
    // The effective uid of this process owns the files it creates.
    let probe = std::env::temp_dir();
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or_else(|_| probe.metadata().map(|m| m.uid() == 0).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(format_time(4_102_444_800), "2100-01-01 00:00");
    }
}
