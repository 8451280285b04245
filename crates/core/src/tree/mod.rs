//! The format-neutral file tree: every filesystem writer takes a [`Tree`],
//! every filesystem reader gives one back.
//!
//! Nodes live in an arena; a directory maps names to node ids, so a hard link
//! is simply a second directory entry naming the same id. File data is bytes
//! in memory or a lazy range of an input, so a 2 GiB file is never copied to
//! be placed on a disk.

pub mod tar;

use crate::io::{ReadAt, Source};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Index of a node in [`Tree::nodes`]. The root directory is [`ROOT`].
pub type NodeId = usize;
/// The root directory's id.
pub const ROOT: NodeId = 0;

/// File type permission-less mode bits (`S_IF*`), as stat(2) spells them.
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO (named pipe).
pub const S_IFIFO: u32 = 0o010000;

/// The bytes of a regular file.
#[derive(Clone)]
pub enum FileData {
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
    /// `len` bytes of `src` from `offset` (a file inside a tar, a file on
    /// the local disk, a `Blob`).
    Source {
        /// The source holding the bytes.
        src: Source,
        /// Where the file starts in it.
        offset: u64,
        /// The file's length.
        len: u64,
    },
    /// A file in pieces (a fragmented FAT file, an ext4 file with holes):
    /// `map` holds `(file_offset, src_offset, len)` runs in file order; bytes
    /// of the file not covered by a run read as zeros.
    Mapped {
        /// The source holding the bytes.
        src: Source,
        /// `(file offset, source offset, length)` runs, in file order.
        map: Arc<[(u64, u64, u64)]>,
        /// The file's length.
        len: u64,
    },
}

impl std::fmt::Debug for FileData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileData({} bytes)", self.len())
    }
}

impl FileData {
    /// Bytes in memory, from a vector.
    pub fn from_vec(v: Vec<u8>) -> Self {
        FileData::Bytes(Arc::from(v))
    }
    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            FileData::Bytes(b) => b.len() as u64,
            FileData::Source { len, .. } => *len,
            FileData::Mapped { len, .. } => *len,
        }
    }
    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads `buf.len()` bytes at `offset` within the file.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len() => {}
            _ => {
                return Err(Error::Truncated {
                    what: "file".into(),
                    offset,
                    size: self.len(),
                })
            }
        }
        match self {
            FileData::Bytes(b) => {
                buf.copy_from_slice(&b[offset as usize..offset as usize + buf.len()]);
                Ok(())
            }
            FileData::Source { src, offset: o, .. } => src.read_at(o + offset, buf),
            FileData::Mapped { src, map, .. } => {
                buf.fill(0);
                let end = offset + buf.len() as u64;
                // Runs are sorted by file offset: find the first that ends after `offset`.
                let first = map.partition_point(|&(fo, _, l)| fo + l <= offset);
                for &(fo, so, l) in &map[first..] {
                    if fo >= end {
                        break;
                    }
                    let s = fo.max(offset);
                    let e = (fo + l).min(end);
                    if s < e {
                        src.read_at(
                            so + (s - fo),
                            &mut buf[(s - offset) as usize..(e - offset) as usize],
                        )?;
                    }
                }
                Ok(())
            }
        }
    }
    /// The whole file in memory, refusing files over `cap` bytes.
    pub fn to_vec(&self, cap: u64) -> Result<Vec<u8>> {
        if self.len() > cap {
            return Err(Error::no_space(
                "file",
                format!("{} bytes is more than the limit of {cap}", self.len()),
            ));
        }
        let mut v = vec![0u8; self.len() as usize];
        self.read_at(0, &mut v)?;
        Ok(v)
    }
}

/// `ls -l`'s mode column for a full mode (type bits and permissions):
/// `-rwxr-xr-x`, `drwxrwxrwt`, `lrwxrwxrwx`, `-rwsr-xr-x`.
pub fn mode_string(mode: u32) -> String {
    let t = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFLNK => 'l',
        S_IFCHR => 'c',
        S_IFBLK => 'b',
        S_IFIFO => 'p',
        S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    // Owner, group, other; each with its set-id / sticky bit, which shows
    // in the `x` place (lower case when `x` is set too).
    for (shift, special, set_x, set_nox) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (mode & special != 0, bits & 1 != 0) {
            (true, true) => set_x,
            (true, false) => set_nox,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// What a node is.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// Entries by name (sorted: byte order of the UTF-8 name).
    Dir(BTreeMap<String, NodeId>),
    /// A regular file and its data.
    File(FileData),
    /// A symbolic link and its target.
    Symlink(String),
    /// A character device.
    CharDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDev {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A FIFO.
    Fifo,
    /// A socket.
    Socket,
}

impl NodeKind {
    /// The `S_IF*` bits of this kind.
    pub fn type_bits(&self) -> u32 {
        match self {
            NodeKind::Dir(_) => S_IFDIR,
            NodeKind::File(_) => S_IFREG,
            NodeKind::Symlink(_) => S_IFLNK,
            NodeKind::CharDev { .. } => S_IFCHR,
            NodeKind::BlockDev { .. } => S_IFBLK,
            NodeKind::Fifo => S_IFIFO,
            NodeKind::Socket => S_IFSOCK,
        }
    }
}

/// Ownership, permissions, times and extended attributes of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid/setgid/sticky (`0o7777`); the type
    /// comes from [`NodeKind`].
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the Unix epoch (may be negative or
    /// past 2038).
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: u32,
    /// Extended attributes by full name (`security.capability`,
    /// `user.foo`), values as bytes.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Meta {
    /// Root-owned, with `mode` and time `epoch`.
    pub fn new(mode: u32, epoch: i64) -> Self {
        Meta {
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime: epoch,
            mtime_nsec: 0,
            xattrs: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug)]
/// One file, directory, link or device and its metadata.
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Mode, owner, times, extended attributes.
    pub meta: Meta,
}

/// A file tree rooted at node [`ROOT`].
#[derive(Clone, Debug)]
pub struct Tree {
    /// Every node, by id ([`ROOT`] first).
    pub nodes: Vec<Node>,
    /// The time given to directories created implicitly.
    pub epoch: i64,
}

/// Splits and normalises a path inside the tree: leading `/` and `./` are
/// dropped, `.` components skipped; `..` and empty names after normalising
/// are refused with the path in the error.
pub fn split_path(path: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Error::invalid(path, "path escapes the root ('..')")),
            c if c.contains('\0') => return Err(Error::invalid(path, "path contains a NUL byte")),
            c => out.push(c),
        }
    }
    Ok(out)
}

impl Tree {
    /// An empty tree: a root directory (0755, root-owned, time `epoch`).
    pub fn new(epoch: i64) -> Self {
        Tree {
            nodes: vec![Node {
                kind: NodeKind::Dir(BTreeMap::new()),
                meta: Meta::new(0o755, epoch),
            }],
            epoch,
        }
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The node `id`, to change.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    /// Entries of directory `id` (empty for non-directories).
    pub fn children(&self, id: NodeId) -> impl Iterator<Item = (&str, NodeId)> {
        let m = match &self.nodes[id].kind {
            NodeKind::Dir(m) => Some(m),
            _ => None,
        };
        m.into_iter()
            .flat_map(|m| m.iter().map(|(k, &v)| (k.as_str(), v)))
    }

    /// Looks a path up; `None` if any component is missing or not a directory.
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let mut cur = ROOT;
        for c in split_path(path).ok()? {
            match &self.nodes[cur].kind {
                NodeKind::Dir(m) => cur = *m.get(c)?,
                _ => return None,
            }
        }
        Some(cur)
    }

    /// Finds or creates the directory at `parts`, creating missing parents
    /// (0755, root-owned, time `epoch`).
    fn ensure_dir(&mut self, parts: &[&str], path: &str) -> Result<NodeId> {
        let mut cur = ROOT;
        for &c in parts {
            let next = match &self.nodes[cur].kind {
                NodeKind::Dir(m) => m.get(c).copied(),
                _ => {
                    return Err(Error::invalid(
                        path,
                        "a parent of this path is not a directory",
                    ))
                }
            };
            cur = match next {
                Some(n) => {
                    if !matches!(self.nodes[n].kind, NodeKind::Dir(_)) {
                        return Err(Error::invalid(path, format!("'{c}' is not a directory")));
                    }
                    n
                }
                None => {
                    let id = self.push(Node {
                        kind: NodeKind::Dir(BTreeMap::new()),
                        meta: Meta::new(0o755, self.epoch),
                    });
                    if let NodeKind::Dir(m) = &mut self.nodes[cur].kind {
                        m.insert(c.to_string(), id);
                    }
                    id
                }
            };
        }
        Ok(cur)
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Inserts `node` at `path`, creating parent directories. An existing
    /// directory at `path` given a directory node keeps its entries and takes
    /// the new metadata (tar archives list a directory after its contents at
    /// times); any other existing entry is replaced.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<NodeId> {
        let parts = split_path(path)?;
        let Some((name, parents)) = parts.split_last() else {
            // The root itself: only metadata can change.
            if matches!(node.kind, NodeKind::Dir(_)) {
                self.nodes[ROOT].meta = node.meta;
                return Ok(ROOT);
            }
            return Err(Error::invalid(path, "the root must be a directory"));
        };
        if name.len() > 255 {
            return Err(Error::invalid(
                path,
                format!("name is {} bytes, more than 255", name.len()),
            ));
        }
        let parent = self.ensure_dir(parents, path)?;
        let existing = match &self.nodes[parent].kind {
            NodeKind::Dir(m) => m.get(*name).copied(),
            _ => None,
        };
        if let Some(e) = existing {
            if matches!(self.nodes[e].kind, NodeKind::Dir(_))
                && matches!(node.kind, NodeKind::Dir(_))
            {
                self.nodes[e].meta = node.meta;
                return Ok(e);
            }
        }
        let id = self.push(node);
        if let NodeKind::Dir(m) = &mut self.nodes[parent].kind {
            m.insert(name.to_string(), id);
        }
        Ok(id)
    }

    /// Adds a hard link: a second entry at `path` for the node at `target`.
    pub fn link(&mut self, path: &str, target: &str) -> Result<NodeId> {
        let t = self.lookup(target).ok_or_else(|| {
            Error::invalid(path, format!("hard link target '{target}' does not exist"))
        })?;
        if matches!(self.nodes[t].kind, NodeKind::Dir(_)) {
            return Err(Error::invalid(path, "hard link to a directory"));
        }
        let parts = split_path(path)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(Error::invalid(path, "hard link cannot be the root"));
        };
        let parent = self.ensure_dir(parents, path)?;
        if let NodeKind::Dir(m) = &mut self.nodes[parent].kind {
            m.insert(name.to_string(), t);
        }
        Ok(t)
    }

    /// Convenience: a regular file with `data`, mode 0644 at the epoch.
    pub fn add_file(&mut self, path: &str, data: Vec<u8>) -> Result<NodeId> {
        let epoch = self.epoch;
        self.insert(
            path,
            Node {
                kind: NodeKind::File(FileData::from_vec(data)),
                meta: Meta::new(0o644, epoch),
            },
        )
    }

    /// Convenience: a directory, mode 0755 at the epoch.
    pub fn add_dir(&mut self, path: &str) -> Result<NodeId> {
        let epoch = self.epoch;
        self.insert(
            path,
            Node {
                kind: NodeKind::Dir(BTreeMap::new()),
                meta: Meta::new(0o755, epoch),
            },
        )
    }

    /// Convenience: a symlink (mode 0777) at the epoch.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<NodeId> {
        let epoch = self.epoch;
        self.insert(
            path,
            Node {
                kind: NodeKind::Symlink(target.to_string()),
                meta: Meta::new(0o777, epoch),
            },
        )
    }

    /// What the symlink at `link_path` points to, resolved inside the tree
    /// as if it were the root directory (an absolute target starts at the
    /// tree's root; `..` at the root stays there, as in a chroot), following
    /// further symlinks on the way, at most 40 in all (Linux's limit). A
    /// dangling link, a loop or a path through a non-directory is an error
    /// naming `link_path`. Returns the node and its path without symlinks
    /// (no leading `/`; empty for the root).
    pub fn resolve_link(&self, link_path: &str) -> Result<(NodeId, String)> {
        let parts = split_path(link_path)?;
        let Some((_, parents)) = parts.split_last() else {
            return Err(Error::invalid(link_path, "is the root, not a symlink"));
        };
        let fail = |msg: String| Error::invalid(link_path, msg);
        // The directories from the root to where we are, and their names.
        let mut at: Vec<NodeId> = vec![ROOT];
        let mut names: Vec<String> = Vec::new();
        for p in parents {
            let cur = *at.last().unwrap_or(&ROOT);
            match &self.nodes[cur].kind {
                NodeKind::Dir(m) => match m.get(*p) {
                    Some(&n) if matches!(self.nodes[n].kind, NodeKind::Dir(_)) => {
                        at.push(n);
                        names.push(p.to_string());
                    }
                    _ => return Err(fail("its parent directory is not in the tree".into())),
                },
                _ => return Err(fail("its parent directory is not in the tree".into())),
            }
        }
        let link = self
            .lookup(link_path)
            .ok_or_else(|| fail("is not in the tree".into()))?;
        let NodeKind::Symlink(first) = &self.nodes[link].kind else {
            return Err(fail("is not a symlink".into()));
        };
        // Components still to walk, next one last.
        let mut todo: Vec<String> = Vec::new();
        let push_target =
            |t: &str, todo: &mut Vec<String>, at: &mut Vec<NodeId>, names: &mut Vec<String>| {
                if t.starts_with('/') {
                    at.truncate(1);
                    names.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .rev()
                        .map(str::to_string),
                );
            };
        push_target(first, &mut todo, &mut at, &mut names);
        let mut hops = 1;
        let mut result = *at.last().unwrap_or(&ROOT);
        let mut leaf: Option<String> = None;
        while let Some(c) = todo.pop() {
            let cur = *at.last().unwrap_or(&ROOT);
            if c == ".." {
                if at.len() > 1 {
                    at.pop();
                    names.pop();
                }
                result = *at.last().unwrap_or(&ROOT);
                continue;
            }
            let NodeKind::Dir(m) = &self.nodes[cur].kind else {
                return Err(fail(format!(
                    "points through '{c}', which is not in a directory"
                )));
            };
            let Some(&n) = m.get(c.as_str()) else {
                return Err(fail(format!(
                    "is a dangling symlink ('{first}': no '{c}' in the tree)"
                )));
            };
            match &self.nodes[n].kind {
                NodeKind::Symlink(t) => {
                    hops += 1;
                    if hops > 40 {
                        return Err(fail(format!(
                            "symlink '{first}' does not resolve (more than 40 links: a loop?)"
                        )));
                    }
                    push_target(t, &mut todo, &mut at, &mut names);
                    result = *at.last().unwrap_or(&ROOT);
                }
                NodeKind::Dir(_) => {
                    at.push(n);
                    names.push(c);
                    result = n;
                }
                _ => {
                    if !todo.is_empty() {
                        return Err(fail(format!(
                            "points through '{c}', which is not a directory"
                        )));
                    }
                    result = n;
                    leaf = Some(c);
                }
            }
        }
        names.extend(leaf);
        Ok((result, names.join("/")))
    }

    /// Every reachable entry, depth first, parents before children, names in
    /// sorted order: `(path without leading '/', id)`; the root is `("", ROOT)`.
    /// A hard-linked node appears once per entry.
    pub fn walk(&self) -> Vec<(String, NodeId)> {
        self.walk_from(ROOT)
    }

    /// Like [`Tree::walk`] for the subtree at `start`, paths relative to it
    /// (`start` itself is `""`).
    pub fn walk_from(&self, start: NodeId) -> Vec<(String, NodeId)> {
        let mut out = Vec::new();
        // Iterative pre-order so deep trees do not overflow the stack.
        let mut stack: Vec<(String, NodeId)> = vec![(String::new(), start)];
        while let Some((p, id)) = stack.pop() {
            let kids: Vec<(String, NodeId)> = self
                .children(id)
                .map(|(n, c)| {
                    (
                        if p.is_empty() {
                            n.to_string()
                        } else {
                            format!("{p}/{n}")
                        },
                        c,
                    )
                })
                .collect();
            out.push((p, id));
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// Number of directory entries naming each node (the link count of
    /// non-directories; directories get 2 + subdirectories, as on Unix).
    pub fn link_counts(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.nodes.len()];
        n[ROOT] = 2;
        for (id, node) in self.nodes.iter().enumerate() {
            if let NodeKind::Dir(m) = &node.kind {
                for &c in m.values() {
                    if matches!(self.nodes[c].kind, NodeKind::Dir(_)) {
                        n[c] += 2;
                        n[id] += 1;
                    } else {
                        n[c] += 1;
                    }
                }
            }
        }
        n
    }

    /// Total bytes of file data (each hard-linked file counted once).
    pub fn data_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::File(f) => f.len(),
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_like_ls() {
        assert_eq!(mode_string(S_IFIFO | 0o644), "prw-r--r--");
        assert_eq!(mode_string(S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(S_IFLNK | 0o4755), "lrwsr-xr-x");
        assert_eq!(mode_string(S_IFREG | 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(S_IFCHR | 0o600), "crw-------");
        assert_eq!(mode_string(S_IFREG | 0o2640), "-rw-r-S---");
        assert_eq!(
            mode_string(NodeKind::Socket.type_bits() | 0o1776),
            "srwxrwxrwT"
        );
    }

    #[test]
    fn resolve_link_follows_inside_the_tree() {
        let mut t = Tree::new(0);
        t.add_file("boot/vmlinuz-6.1", b"k".to_vec()).unwrap();
        t.add_symlink("vmlinuz", "boot/vmlinuz-6.1").unwrap();
        t.add_symlink("boot/abs", "/boot/vmlinuz-6.1").unwrap();
        t.add_symlink("boot/up", "../../../vmlinuz").unwrap(); // chain, .. clamps at /
        t.add_symlink("d", "boot").unwrap();
        t.add_symlink("via", "d/./vmlinuz-6.1").unwrap();
        t.add_symlink("dangling", "nope/x").unwrap();
        t.add_symlink("loop1", "loop2").unwrap();
        t.add_symlink("loop2", "loop1").unwrap();
        t.add_symlink("through", "vmlinuz/x").unwrap();
        let k = t.lookup("boot/vmlinuz-6.1").unwrap();
        for l in ["vmlinuz", "boot/abs", "boot/up", "via"] {
            assert_eq!(
                t.resolve_link(l).unwrap(),
                (k, "boot/vmlinuz-6.1".to_string()),
                "{l}"
            );
        }
        assert_eq!(
            t.resolve_link("d").unwrap(),
            (t.lookup("boot").unwrap(), "boot".to_string())
        );
        for (l, want) in [
            ("dangling", "dangling"),
            ("loop1", "40"),
            ("through", "not a directory"),
            ("boot/vmlinuz-6.1", "not a symlink"),
        ] {
            let e = t.resolve_link(l).unwrap_err().to_string();
            assert!(e.contains(l) && e.contains(want), "{l}: {e}");
        }
    }

    #[test]
    fn insert_lookup_walk() {
        let mut t = Tree::new(0);
        t.add_file("/etc/hostname", b"box\n".to_vec()).unwrap();
        t.add_file("bin/sh", b"#!".to_vec()).unwrap();
        t.add_symlink("./bin/ash", "sh").unwrap();
        t.link("bin/busybox", "bin/sh").unwrap();
        let w: Vec<String> = t.walk().into_iter().map(|(p, _)| p).collect();
        assert_eq!(w[0], "");
        assert!(w.contains(&"etc/hostname".to_string()));
        assert!(
            w.iter().position(|p| p == "bin").unwrap()
                < w.iter().position(|p| p == "bin/sh").unwrap()
        );
        assert_eq!(t.lookup("bin/sh"), t.lookup("/bin/busybox"));
        let lc = t.link_counts();
        assert_eq!(lc[t.lookup("bin/sh").unwrap()], 2);
        assert_eq!(lc[ROOT], 4);
        assert_eq!(lc[t.lookup("bin").unwrap()], 2);
    }

    #[test]
    fn escaping_paths_are_refused() {
        let mut t = Tree::new(0);
        let e = t
            .add_file("a/../../etc/passwd", vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("a/../../etc/passwd"), "{e}");
        assert!(t.add_file("x/y", vec![]).is_ok());
        assert!(t.add_file("x/y/z", vec![]).is_err());
        assert!(t.add_file(&"n".repeat(256), vec![]).is_err());
    }
}
