//! ext4 writer: lays a [`Tree`] out as an ext4 filesystem the way
//! `mke2fs -t ext4 -d DIR` would (flex_bg, metadata_csum, extents, 256-byte
//! inodes, an internal journal), in one pass and deterministically.
//!
//! Layout: after group 0's superblock and descriptor table come every
//! group's block bitmap, inode bitmap and inode table (flex_bg allows this),
//! then the journal, then file and directory data in inode order. Backup
//! superblocks and descriptor tables sit at the start of groups 1 and the
//! powers of 3, 5 and 7 (sparse_super); allocation steps around them.
//! File data is placed lazily (`Disk::write_source`), never copied.

use super::raw::*;
use crate::disk::Disk;
use crate::tree::{FileData, NodeId, NodeKind, Tree, ROOT};
use crate::{BuildContext, Error, Result};

/// Options of [`build`], named after mke2fs's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ext4Options {
    /// Filesystem size in bytes; `None` fits the content plus
    /// `extra_percent`.
    pub size: Option<u64>,
    /// Free space added when `size` is `None`, in percent of what the
    /// content needs.
    pub extra_percent: u32,
    /// 1024, 2048, 4096 (or up to 65536); `None` is 4096, or 1024 for
    /// filesystems under 512 MiB as mke2fs's "small" and "floppy" types.
    pub block_size: Option<u32>,
    /// Volume label (at most 16 bytes).
    pub label: Option<String>,
    /// An internal journal (inode 8) sized as mke2fs sizes it.
    pub journal: bool,
    /// Bytes per inode (256; 128 is refused: no room for nanoseconds).
    pub inode_size: u16,
    /// Blocks reserved for root, in percent (`mke2fs -m`).
    pub reserved_percent: u32,
    /// Bytes of filesystem per inode (`mke2fs -i`); `None` as mke2fs.conf.
    pub inode_ratio: Option<u32>,
    /// The 64bit feature (64-byte group descriptors, block numbers past
    /// 2^32), on by default as in mke2fs.conf's ext4.
    pub bit64: bool,
}

impl Default for Ext4Options {
    fn default() -> Self {
        Ext4Options {
            size: None,
            extra_percent: 20,
            block_size: None,
            label: None,
            journal: true,
            inode_size: 256,
            reserved_percent: 5,
            inode_ratio: None,
            bit64: true,
        }
    }
}

/// Builds the filesystem image for `tree`.
pub fn build(tree: &Tree, opts: &Ext4Options, ctx: &BuildContext) -> Result<Disk> {
    if opts.inode_size != 256 {
        return Err(Error::invalid(
            "inode_size",
            format!("{} is not supported (only 256)", opts.inode_size),
        ));
    }
    if let Some(l) = &opts.label {
        if l.len() > 16 {
            return Err(Error::invalid(
                "label",
                format!("'{l}' is {} bytes, more than 16", l.len()),
            ));
        }
    }
    if opts.reserved_percent > 50 {
        return Err(Error::invalid(
            "reserved_percent",
            "more than 50 percent".to_string(),
        ));
    }
    let bs = match opts.block_size {
        Some(b) if b.is_power_of_two() && (1024..=65536).contains(&b) => b as u64,
        Some(b) => {
            return Err(Error::invalid(
                "block_size",
                format!("{b} is not a power of two from 1024 to 65536"),
            ))
        }
        None => {
            // Decide on an estimate made with 4 KiB blocks.
            let est = match opts.size {
                Some(s) => s,
                None => {
                    let c = Content::new(tree, 4096, &ctx.uuid("ext4-hash-seed"))?;
                    c.estimate_blocks() * 4096 * (100 + opts.extra_percent as u64) / 100
                }
            };
            if est < 512 << 20 {
                1024
            } else {
                4096
            }
        }
    };
    let content = Content::new(tree, bs, &ctx.uuid("ext4-hash-seed"))?;
    let ctx_ = Ctx {
        uuid: ctx.uuid("ext4-uuid"),
        hash_seed: ctx.uuid("ext4-hash-seed"),
        epoch: ctx.epoch,
    };
    let plan = match opts.size {
        Some(size) => {
            let blocks = size / bs;
            match Plan::new(&content, opts, bs, blocks) {
                Ok(p) => p,
                Err(Error::NoSpace { .. }) => {
                    let need = min_fit(&content, opts, bs)?.blocks * bs;
                    return Err(Error::no_space(
                        "ext4",
                        format!(
                            "the content needs a filesystem of at least {need} bytes; {size} bytes were given"
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        None => {
            let min = min_fit(&content, opts, bs)?;
            let want = min.blocks.saturating_mul(100 + opts.extra_percent as u64) / 100;
            if want > min.blocks {
                fit_at_least(&content, opts, bs, want)?
            } else {
                min
            }
        }
    };
    // The directory blocks move into the disk rather than being copied.
    let mut disk = plan.write(tree, content, opts, &ctx_)?;
    // A given size is kept even when its tail is too small for a block or
    // group: the filesystem then ends before the disk does, as with mke2fs.
    if let Some(size) = opts.size {
        disk.set_size(size);
    }
    Ok(disk)
}

/// The smallest block count that holds the content.
fn min_fit(content: &Content, opts: &Ext4Options, bs: u64) -> Result<Plan> {
    fit_at_least(content, opts, bs, content.estimate_blocks())
}

fn fit_at_least(content: &Content, opts: &Ext4Options, bs: u64, start: u64) -> Result<Plan> {
    let mut blocks = start.max(64);
    loop {
        match Plan::new(content, opts, bs, blocks) {
            Ok(p) => return Ok(p),
            Err(Error::NoSpace { .. }) if blocks < max_blocks(opts) => {
                blocks = (blocks + blocks / 32 + 16).min(max_blocks(opts));
            }
            Err(e) => return Err(e),
        }
    }
}

struct Ctx {
    uuid: [u8; 16],
    hash_seed: [u8; 16],
    epoch: i64,
}

/// What an inode holds, decided before any block is placed.
enum Body {
    Dir { blocks: Vec<Vec<u8>>, index: bool },
    File,
    FastLink,
    SlowLink,
    Dev,
    Other,
}

struct InodeSpec {
    ino: u32,
    /// `None` for a lost+found the tree does not have.
    node: Option<NodeId>,
    body: Body,
    links: u32,
    data_blocks: u64,
    /// Runs of blocks holding data (logical block, count); the rest of a
    /// file is holes, as mke2fs -d leaves zero blocks.
    runs: Vec<(u64, u64)>,
    /// Serialised xattrs: in the inode (after i_extra_isize) or in a block.
    xattr: Xattrs,
}

enum Xattrs {
    None,
    InInode(Vec<u8>),
    Block(Vec<u8>),
}

/// The tree turned into inodes, with directory blocks packed.
struct Content {
    bs: u64,
    inodes: Vec<InodeSpec>,
}

const LOST_FOUND: &str = "lost+found";
/// Bytes of lost+found pre-allocated as mke2fs does (at least 16 KiB and
/// two blocks).
const LOST_FOUND_BYTES: u64 = 16384;

fn file_type(kind: &NodeKind) -> u8 {
    match kind {
        NodeKind::Dir(_) => EXT4_FT_DIR,
        NodeKind::File(_) => EXT4_FT_REG_FILE,
        NodeKind::Symlink(_) => EXT4_FT_SYMLINK,
        NodeKind::CharDev { .. } => EXT4_FT_CHRDEV,
        NodeKind::BlockDev { .. } => EXT4_FT_BLKDEV,
        NodeKind::Fifo => EXT4_FT_FIFO,
        NodeKind::Socket => EXT4_FT_SOCK,
    }
}

impl Content {
    fn new(tree: &Tree, bs: u64, hash_seed: &[u8; 16]) -> Result<Content> {
        let seed = seed_words(hash_seed);
        let walk = tree.walk();
        let mut ino_of = vec![0u32; tree.nodes.len()];
        ino_of[ROOT] = EXT2_ROOT_INO;
        let lf_node = tree
            .children(ROOT)
            .find(|(n, _)| *n == LOST_FOUND)
            .map(|(_, id)| id)
            .filter(|&id| matches!(tree.node(id).kind, NodeKind::Dir(_)));
        if let Some(id) = lf_node {
            ino_of[id] = EXT2_GOOD_OLD_FIRST_INO;
        }
        let mut next = EXT2_GOOD_OLD_FIRST_INO + 1;
        let mut order: Vec<(u32, Option<NodeId>, String)> = vec![
            (EXT2_ROOT_INO, Some(ROOT), String::new()),
            (EXT2_GOOD_OLD_FIRST_INO, lf_node, LOST_FOUND.to_string()),
        ];
        for (path, id) in &walk {
            if let Some(name) = path.rsplit('/').next() {
                if name.len() > 255 {
                    return Err(Error::invalid(
                        path.as_str(),
                        format!("name is {} bytes, more than ext4's 255", name.len()),
                    ));
                }
            }
            if ino_of[*id] == 0 {
                ino_of[*id] = next;
                order.push((next, Some(*id), path.clone()));
                next = next.checked_add(1).ok_or_else(|| {
                    Error::no_space("ext4", "more than 4 billion inodes".to_string())
                })?;
            }
        }
        let links = tree.link_counts();
        let root_has_lf = lf_node.is_some();
        let mut inodes = Vec::with_capacity(order.len());
        for (ino, node, path) in order {
            let Some(id) = node else {
                // lost+found made up for a tree without one.
                inodes.push(InodeSpec {
                    ino,
                    node: None,
                    body: Body::Dir {
                        blocks: pack_linear(&[], ino, EXT2_ROOT_INO, bs, true),
                        index: false,
                    },
                    links: 2,
                    data_blocks: 0,
                    runs: Vec::new(),
                    xattr: Xattrs::None,
                });
                continue;
            };
            let n = tree.node(id);
            let (body, data_blocks) = match &n.kind {
                NodeKind::Dir(_) => {
                    let mut entries: Vec<(&[u8], u32, u8)> = tree
                        .children(id)
                        .map(|(name, c)| {
                            (name.as_bytes(), ino_of[c], file_type(&tree.node(c).kind))
                        })
                        .collect();
                    if id == ROOT && !root_has_lf {
                        entries.insert(
                            0,
                            (LOST_FOUND.as_bytes(), EXT2_GOOD_OLD_FIRST_INO, EXT4_FT_DIR),
                        );
                    }
                    let parent = if id == ROOT {
                        EXT2_ROOT_INO
                    } else {
                        let p = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                        tree.lookup(p).map(|p| ino_of[p]).unwrap_or(EXT2_ROOT_INO)
                    };
                    let is_lf = ino == EXT2_GOOD_OLD_FIRST_INO;
                    let blocks = pack_linear(&entries, ino, parent, bs, is_lf);
                    // Directories over one block get a hash tree, as mke2fs
                    // -d gives them; linear if even two levels are not enough.
                    let htree = if blocks.len() > 1 && !is_lf {
                        super::htree::pack(&entries, ino, parent, bs, &seed)
                    } else {
                        None
                    };
                    match htree {
                        Some(b) => (
                            Body::Dir {
                                blocks: b,
                                index: true,
                            },
                            0,
                        ),
                        None => (
                            Body::Dir {
                                blocks,
                                index: false,
                            },
                            0,
                        ),
                    }
                }
                NodeKind::File(f) => (Body::File, f.len().div_ceil(bs)),
                NodeKind::Symlink(t) => {
                    if t.is_empty() || t.len() as u64 > bs {
                        return Err(Error::invalid(
                            path.as_str(),
                            format!("symlink target of {} bytes (must be 1 to {bs})", t.len()),
                        ));
                    }
                    if t.len() < I_BLOCK_LEN {
                        (Body::FastLink, 0)
                    } else {
                        (Body::SlowLink, 1)
                    }
                }
                NodeKind::CharDev { .. } | NodeKind::BlockDev { .. } => (Body::Dev, 0),
                NodeKind::Fifo | NodeKind::Socket => (Body::Other, 0),
            };
            let xattr = encode_xattrs(&n.meta.xattrs, bs, &path)?;
            let mut l = links[id];
            if matches!(n.kind, NodeKind::Dir(_)) {
                if id == ROOT && !root_has_lf {
                    l += 1;
                }
                if l >= 65000 {
                    // dir_nlink: a count of 1 means "too many to count".
                    l = 1;
                }
            } else if l >= 65000 {
                return Err(Error::invalid(
                    path.as_str(),
                    format!("{l} hard links, more than ext4's 65000"),
                ));
            }
            let runs = match (&body, &n.kind) {
                (Body::File, NodeKind::File(f)) => file_runs(f, bs),
                (Body::Dir { blocks, .. }, _) => vec![(0, blocks.len() as u64)],
                _ if data_blocks > 0 => vec![(0, data_blocks)],
                _ => Vec::new(),
            };
            let data_blocks = runs.iter().map(|r| r.1).sum();
            inodes.push(InodeSpec {
                ino,
                node: Some(id),
                body,
                links: l,
                data_blocks,
                runs,
                xattr,
            });
        }
        inodes.sort_by_key(|i| i.ino);
        Ok(Content { bs, inodes })
    }

    /// Blocks the content needs, before metadata.
    fn estimate_blocks(&self) -> u64 {
        let mut n = 0u64;
        for i in &self.inodes {
            n += i.data_blocks;
            if let Body::Dir { blocks, .. } = &i.body {
                n += blocks.len() as u64;
            }
            if matches!(i.xattr, Xattrs::Block(_)) {
                n += 1;
            }
        }
        n + n / 256 + self.inodes.len() as u64 * 256 / self.bs + 64
    }
}

/// Packs directory entries into linear leaf blocks, each ending in the
/// 12-byte checksum tail (filled in when written). The first block starts
/// with "." and "..". lost+found gets extra empty blocks as mke2fs gives it.
pub(crate) fn pack_linear(
    entries: &[(&[u8], u32, u8)],
    ino: u32,
    parent: u32,
    bs: u64,
    lost_found: bool,
) -> Vec<Vec<u8>> {
    let bs = bs as usize;
    let usable = bs - DIR_TAIL_SIZE;
    let mut blocks = Vec::new();
    let mut cur = vec![0u8; bs];
    let put = |b: &mut Vec<u8>, at: usize, ino: u32, name: &[u8], ft: u8| {
        put32(b, at, ino);
        put16(b, at + 4, rec_len(name.len()) as u16);
        b[at + 6] = name.len() as u8;
        b[at + 7] = ft;
        b[at + 8..at + 8 + name.len()].copy_from_slice(name);
    };
    put(&mut cur, 0, ino, b".", EXT4_FT_DIR);
    put(&mut cur, 12, parent, b"..", EXT4_FT_DIR);
    // offset of the last entry in `cur`, and of the free space.
    let mut last = 12usize;
    let mut pos = 24usize;
    let finish = |b: &mut Vec<u8>, last: usize| {
        put16(b, last + 4, (usable - last) as u16);
        // The checksum tail: an entry with inode 0 (struct ext4_dir_entry_tail).
        put16(b, usable + 4, DIR_TAIL_SIZE as u16);
        b[usable + 7] = EXT4_FT_DIR_CSUM;
    };
    for &(name, child, ft) in entries {
        let need = rec_len(name.len());
        if pos + need > usable {
            finish(&mut cur, last);
            blocks.push(std::mem::replace(&mut cur, vec![0u8; bs]));
            pos = 0;
        }
        put(&mut cur, pos, child, name, ft);
        last = pos;
        pos += need;
    }
    finish(&mut cur, last);
    blocks.push(cur);
    if lost_found {
        while (blocks.len() * bs) < LOST_FOUND_BYTES as usize || blocks.len() < 2 {
            let mut b = vec![0u8; bs];
            put16(&mut b, 4, usable as u16);
            put16(&mut b, usable + 4, DIR_TAIL_SIZE as u16);
            b[usable + 7] = EXT4_FT_DIR_CSUM;
            blocks.push(b);
        }
    }
    blocks
}

pub(crate) fn rec_len(name_len: usize) -> usize {
    (8 + name_len + 3) & !3
}

/// The e_name_index and suffix of an xattr name.
fn xattr_split(name: &str) -> (u8, &str) {
    for &(idx, prefix) in XATTR_PREFIXES {
        // Exact names (posix ACLs) have no suffix; prefixes end in '.'.
        if prefix.ends_with('.') {
            if let Some(rest) = name.strip_prefix(prefix) {
                if !rest.is_empty() {
                    return (idx, rest);
                }
            }
        } else if name == prefix {
            return (idx, "");
        }
    }
    (0, name)
}

/// ext2fs_ext_attr_hash_entry: the name (as signed chars, as x86 builds of
/// the kernel and e2fsprogs hash it) then the value in 32-bit words.
pub(crate) fn xattr_entry_hash(name: &[u8], value: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 5) ^ (h >> 27) ^ (c as i8 as i32 as u32);
    }
    if !value.is_empty() {
        for w in value.chunks(4) {
            let mut x = [0u8; 4];
            x[..w.len()].copy_from_slice(w);
            h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes(x);
        }
    }
    h
}

/// Serialises xattrs: in the inode if they fit after i_extra_isize (as the
/// kernel prefers), else in one external block.
fn encode_xattrs(
    xattrs: &std::collections::BTreeMap<String, Vec<u8>>,
    bs: u64,
    path: &str,
) -> Result<Xattrs> {
    if xattrs.is_empty() {
        return Ok(Xattrs::None);
    }
    let mut list: Vec<(u8, &str, &[u8])> = xattrs
        .iter()
        .map(|(k, v)| {
            let (i, n) = xattr_split(k);
            (i, n, v.as_slice())
        })
        .collect();
    for (_, n, _) in &list {
        if n.len() > 255 {
            return Err(Error::invalid(
                path,
                format!("xattr name '{n}' is longer than 255 bytes"),
            ));
        }
    }
    // Sorted as the kernel sorts block entries: index, name length, name.
    list.sort_by(|a, b| (a.0, a.1.len(), a.1).cmp(&(b.0, b.1.len(), b.1)));
    let pad = |n: usize| (n + 3) & !3;
    let entries_len: usize = list
        .iter()
        .map(|(_, n, _)| pad(XATTR_ENTRY_SIZE + n.len()))
        .sum::<usize>()
        + 4;
    let values_len: usize = list.iter().map(|(_, _, v)| pad(v.len())).sum();
    let in_inode_space = 256 - EXT2_GOOD_OLD_INODE_SIZE - EXTRA_ISIZE as usize - 4;
    let (space, base, in_inode) = if entries_len + values_len <= in_inode_space {
        (in_inode_space, 0, true)
    } else if XATTR_HEADER_SIZE + entries_len + values_len <= bs as usize {
        (bs as usize, XATTR_HEADER_SIZE, false)
    } else {
        return Err(Error::no_space(
            path,
            format!(
                "extended attributes take {} bytes, more than one {bs}-byte block",
                entries_len + values_len
            ),
        ));
    };
    let mut buf = vec![0u8; space];
    let mut epos = base;
    let mut vend = space;
    for (idx, name, value) in &list {
        vend -= pad(value.len());
        buf[vend..vend + value.len()].copy_from_slice(value);
        buf[epos] = name.len() as u8;
        buf[epos + 1] = *idx;
        // In-inode value offsets count from the first entry; block ones
        // from the block start.
        put16(
            &mut buf,
            epos + 2,
            if value.is_empty() { 0 } else { vend as u16 },
        );
        put32(&mut buf, epos + 4, 0);
        put32(&mut buf, epos + 8, value.len() as u32);
        put32(
            &mut buf,
            epos + 12,
            xattr_entry_hash(name.as_bytes(), value),
        );
        buf[epos + 16..epos + 16 + name.len()].copy_from_slice(name.as_bytes());
        epos += pad(XATTR_ENTRY_SIZE + name.len());
    }
    if in_inode {
        Ok(Xattrs::InInode(buf))
    } else {
        put32(&mut buf, 0, EXT4_XATTR_MAGIC);
        put32(&mut buf, 4, 1); // h_refcount
        put32(&mut buf, 8, 1); // h_blocks
                               // h_hash: ext2fs_ext_attr_block_rehash over the entry hashes.
        let mut h: u32 = 0;
        let mut p = XATTR_HEADER_SIZE;
        while p + XATTR_ENTRY_SIZE <= buf.len() && buf[p] != 0 {
            let eh = le32(&buf, p + 12);
            if eh == 0 {
                h = 0;
                break;
            }
            h = (h << 16) ^ (h >> 16) ^ eh;
            p += pad(XATTR_ENTRY_SIZE + buf[p] as usize);
        }
        put32(&mut buf, 12, h);
        Ok(Xattrs::Block(buf))
    }
}

/// Block allocator: hands out blocks front to back, stepping around the
/// superblock/descriptor backups at the start of sparse groups.
struct Alloc {
    first: u64,
    end: u64,
    bpg: u64,
    /// 1 + descriptor table blocks: the size of each backup area.
    backup_len: u64,
    cursor: u64,
    used: Vec<(u64, u64)>,
}

impl Alloc {
    fn group_start(&self, g: u64) -> u64 {
        self.first + g * self.bpg
    }
    /// First block at or after `b` that is not in a backup area.
    fn skip(&self, b: u64) -> u64 {
        let g = (b - self.first) / self.bpg;
        let gs = self.group_start(g);
        if has_super(g, true) && b < gs + self.backup_len {
            gs + self.backup_len
        } else {
            b
        }
    }
    /// Free blocks from `b` (not in a backup area) up to `max`.
    fn run_len(&self, b: u64, max: u64) -> u64 {
        let mut g = (b - self.first) / self.bpg + 1;
        loop {
            let gs = self.group_start(g);
            if gs >= self.end || gs - b >= max {
                return (self.end.min(b + max)) - b;
            }
            if has_super(g, true) {
                return gs - b;
            }
            g += 1;
        }
    }
    fn alloc(&mut self, max: u64) -> Option<(u64, u64)> {
        if self.cursor >= self.end {
            return None;
        }
        let b = self.skip(self.cursor);
        if b >= self.end {
            return None;
        }
        let len = self.run_len(b, max);
        self.cursor = b + len;
        self.used.push((b, len));
        Some((b, len))
    }
    fn alloc_contig(&mut self, n: u64) -> Result<u64> {
        loop {
            if self.cursor >= self.end {
                return Err(nospace());
            }
            let b = self.skip(self.cursor);
            if b >= self.end {
                return Err(nospace());
            }
            let len = self.run_len(b, n);
            if len >= n {
                self.cursor = b + n;
                self.used.push((b, n));
                return Ok(b);
            }
            self.cursor = b + len;
        }
    }
    /// `n` blocks as extents of at most EXT_INIT_MAX_LEN.
    fn alloc_extents(&mut self, n: u64) -> Result<Vec<(u64, u64)>> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut left = n;
        while left > 0 {
            let (b, len) = self
                .alloc(left.min(EXT_INIT_MAX_LEN as u64))
                .ok_or_else(nospace)?;
            out.push((b, len));
            left -= len;
        }
        Ok(out)
    }
}

fn nospace() -> Error {
    Error::no_space("ext4", "content does not fit".to_string())
}

/// ext2fs_default_journal_size (e2fsprogs lib/ext2fs/mkjournal.c), in blocks.
fn default_journal_blocks(blocks: u64) -> Option<u64> {
    Some(match blocks {
        b if b < 2048 => return None,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    })
}

/// Where everything goes, for one block count.
struct Plan {
    bs: u64,
    desc_size: u64,
    blocks: u64,
    first: u64,
    bpg: u64,
    groups: u64,
    ipg: u64,
    gdt_blocks: u64,
    itable_blocks: u64,
    block_bitmap: Vec<u64>,
    inode_bitmap: Vec<u64>,
    inode_table: Vec<u64>,
    journal: Option<Vec<(u64, u64, u64)>>,
    journal_leaves: Vec<u64>,
    /// Per inode (same order as Content::inodes): data extents, extent
    /// leaf blocks, xattr block.
    extents: Vec<Vec<(u64, u64, u64)>>,
    leaves: Vec<Vec<u64>>,
    xattr_block: Vec<u64>,
    used: Vec<(u64, u64)>,
}

/// Extents an inode can hold in i_block (ext4_extent_header + 4 entries).
const INODE_EXTENTS: usize = 4;

impl Plan {
    fn new(content: &Content, opts: &Ext4Options, bs: u64, blocks: u64) -> Result<Plan> {
        if blocks > max_blocks(opts) {
            return Err(Error::no_space(
                "ext4",
                format!(
                    "{blocks} blocks is more than the {} this filesystem can address{}",
                    max_blocks(opts),
                    if opts.bit64 { "" } else { " without 64bit" }
                ),
            ));
        }
        let desc_size = if opts.bit64 {
            EXT2_MIN_DESC_SIZE_64BIT
        } else {
            EXT2_MIN_DESC_SIZE
        } as u64;
        let first = if bs == 1024 { 1 } else { 0 };
        // EXT2_MAX_BLOCKS_PER_GROUP: group counts are 16-bit.
        let bpg = (bs * 8).min(65528);
        if blocks < first + 16 {
            return Err(nospace());
        }
        let mut groups = (blocks - first).div_ceil(bpg);
        let mut blocks = blocks;
        let gdt_blocks = |groups: u64| (groups * desc_size).div_ceil(bs);
        // A last group too small for its own backup area is dropped, as
        // mke2fs drops it.
        let last_len = blocks - first - (groups - 1) * bpg;
        if groups > 1 && has_super(groups - 1, true) && last_len < 1 + gdt_blocks(groups) + 16 {
            groups -= 1;
            blocks = first + groups * bpg;
        }
        let gdt = gdt_blocks(groups);
        let size = blocks * bs;
        let ratio = opts
            .inode_ratio
            .map(|r| r as u64)
            .unwrap_or(if size < 3 << 20 {
                8192
            } else if size < 512 << 20 {
                4096
            } else {
                16384
            });
        let ipb = bs / 256;
        let needed = content.inodes.last().map(|i| i.ino as u64).unwrap_or(11);
        let wanted = (size / ratio.max(1024)).max(needed + 16);
        let mut ipg = wanted.div_ceil(groups);
        ipg = ipg.div_ceil(ipb.max(8)) * ipb.max(8);
        // EXT2_MAX_INODES_PER_GROUP.
        let ipg = ipg.min(bs * 8).min(65536 - ipb);
        if ipg * groups < needed || ipg * groups > u32::MAX as u64 {
            return Err(nospace());
        }
        let itable_blocks = ipg * 256 / bs;
        let mut a = Alloc {
            first,
            end: blocks,
            bpg,
            backup_len: 1 + gdt,
            cursor: first,
            used: Vec::new(),
        };
        // Backup areas count as used.
        for g in 0..groups {
            if has_super(g, true) {
                a.used
                    .push((a.group_start(g), (1 + gdt).min(blocks - a.group_start(g))));
            }
        }
        let mut block_bitmap = Vec::with_capacity(groups as usize);
        let mut inode_bitmap = Vec::with_capacity(groups as usize);
        let mut inode_table = Vec::with_capacity(groups as usize);
        for _ in 0..groups {
            block_bitmap.push(a.alloc_contig(1)?);
        }
        for _ in 0..groups {
            inode_bitmap.push(a.alloc_contig(1)?);
        }
        for _ in 0..groups {
            inode_table.push(a.alloc_contig(itable_blocks)?);
        }
        let journal = match (opts.journal, default_journal_blocks(blocks)) {
            (true, Some(n)) => {
                let mut l = 0;
                let mut v = Vec::new();
                for (pb, len) in a.alloc_extents(n)? {
                    v.push((l, pb, len));
                    l += len;
                }
                Some(v)
            }
            _ => None,
        };
        // A journal over 4 extents (1 GiB at 4 KiB blocks) needs leaves.
        let mut journal_leaves = Vec::new();
        if let Some(j) = &journal {
            if j.len() > INODE_EXTENTS {
                for _ in 0..(j.len() as u64).div_ceil((bs - 12) / 12) {
                    journal_leaves.push(a.alloc_contig(1)?);
                }
            }
        }
        let mut extents = Vec::with_capacity(content.inodes.len());
        let mut leaves = Vec::with_capacity(content.inodes.len());
        let mut xattr_block = Vec::with_capacity(content.inodes.len());
        let per_leaf = (bs - 12) / 12;
        for i in &content.inodes {
            let mut ext = Vec::new();
            let runs = match &i.body {
                Body::Dir { blocks, .. } => vec![(0, blocks.len() as u64)],
                _ => i.runs.clone(),
            };
            for (l, n) in runs {
                let mut lblk = l;
                for (pb, len) in a.alloc_extents(n)? {
                    ext.push((lblk, pb, len));
                    lblk += len;
                }
            }
            let mut lv = Vec::new();
            if ext.len() > INODE_EXTENTS {
                // Depth 1 (root -> leaves) or depth 2 (root -> index
                // blocks -> leaves); index blocks come first in `lv`.
                let nleaves = (ext.len() as u64).div_ceil(per_leaf);
                let nindex = if nleaves > INODE_EXTENTS as u64 {
                    nleaves.div_ceil(per_leaf)
                } else {
                    0
                };
                if nindex > INODE_EXTENTS as u64 {
                    return Err(Error::unsupported(
                        "ext4",
                        format!(
                            "inode {}: more than {} extents",
                            i.ino,
                            INODE_EXTENTS as u64 * per_leaf * per_leaf
                        ),
                    ));
                }
                for _ in 0..nindex + nleaves {
                    lv.push(a.alloc_contig(1)?);
                }
            }
            let xb = if matches!(i.xattr, Xattrs::Block(_)) {
                a.alloc_contig(1)?
            } else {
                0
            };
            extents.push(ext);
            leaves.push(lv);
            xattr_block.push(xb);
        }
        let used = a.used;
        Ok(Plan {
            bs,
            desc_size,
            blocks,
            first,
            bpg,
            groups,
            ipg,
            gdt_blocks: gdt,
            itable_blocks,
            block_bitmap,
            inode_bitmap,
            inode_table,
            journal,
            journal_leaves,
            extents,
            leaves,
            xattr_block,
            used,
        })
    }

    fn write(
        &self,
        tree: &Tree,
        mut content: Content,
        opts: &Ext4Options,
        ctx: &Ctx,
    ) -> Result<Disk> {
        let bs = self.bs;
        let mut disk = Disk::new(self.blocks * bs);
        let csum_seed = crc32c_raw(!0, &ctx.uuid);
        let ipg = self.ipg;
        let isz = 256usize;

        // Inodes, grouped by block group; reserved inodes stay zero.
        let last_ino = content.inodes.last().map(|i| i.ino as u64).unwrap_or(11);
        let mut itables: Vec<Vec<u8>> = Vec::new();
        let mut used_dirs = vec![0u64; self.groups as usize];
        let put_inode = |itables: &mut Vec<Vec<u8>>, ino: u32, raw: &[u8]| {
            let g = ((ino as u64 - 1) / ipg) as usize;
            let idx = ((ino as u64 - 1) % ipg) as usize;
            while itables.len() <= g {
                itables.push(Vec::new());
            }
            let t = &mut itables[g];
            if t.len() < (idx + 1) * isz {
                t.resize((idx + 1) * isz, 0);
            }
            t[idx * isz..(idx + 1) * isz].copy_from_slice(raw);
        };

        // Journal (inode 8).
        let mut jnl_blocks = [0u32; 17];
        if let Some(j) = &self.journal {
            let n: u64 = j.iter().map(|e| e.2).sum();
            let mut ib = vec![0u8; isz];
            let (ext, _) = self.extent_root(
                j,
                &self.journal_leaves,
                EXT4_JOURNAL_INO,
                0,
                csum_seed,
                &mut disk,
            )?;
            let (t, te) = encode_time(ctx.epoch, 0);
            Inode {
                i_mode: 0o100600,
                i_size: n * bs,
                i_links_count: 1,
                i_blocks: (n + self.journal_leaves.len() as u64) * bs / 512,
                i_flags: EXT4_EXTENTS_FL,
                i_block: ext,
                ..new_inode(t, te)
            }
            .encode(&mut ib)?;
            inode_checksum(&mut ib, EXT4_JOURNAL_INO, csum_seed)?;
            put_inode(&mut itables, EXT4_JOURNAL_INO, &ib);
            for (k, v) in jnl_blocks.iter_mut().enumerate().take(15) {
                *v = le32(&ext, k * 4);
            }
            jnl_blocks[15] = ((n * bs) >> 32) as u32;
            jnl_blocks[16] = (n * bs) as u32;
            // JBD2 superblock ("Journal (jbd2)", journal_superblock_t).
            let bit64 = if self.desc_size >= 64 {
                JBD2_FEATURE_INCOMPAT_64BIT
            } else {
                0
            };
            let js = JournalSuperblock {
                s_blocksize: bs as u32,
                s_maxlen: n as u32,
                s_first: 1,
                s_sequence: 1,
                s_feature_incompat: JBD2_FEATURE_INCOMPAT_CSUM_V3 | bit64,
                s_uuid: ctx.uuid,
                s_nr_users: 1,
                s_checksum_type: JBD2_CRC32C_CHKSUM,
            };
            disk.write_vec(j[0].1 * bs, js.encode()?)?;
        }

        for (k, spec) in content.inodes.iter_mut().enumerate() {
            let ino = spec.ino;
            let node = spec.node.map(|id| tree.node(id));
            let (mode_bits, uid, gid, mtime, nsec) = match node {
                Some(n) => (
                    n.kind.type_bits() | (n.meta.mode & 0o7777),
                    n.meta.uid,
                    n.meta.gid,
                    n.meta.mtime,
                    n.meta.mtime_nsec,
                ),
                None => (0o040700, 0, 0, ctx.epoch, 0),
            };
            let mut ib = vec![0u8; isz];
            let (t, te) = encode_time(mtime, nsec);
            let mut inode = Inode {
                i_mode: mode_bits as u16,
                i_uid: uid,
                i_gid: gid,
                i_links_count: spec.links as u16,
                ..new_inode(t, te)
            };
            let ext = &self.extents[k];
            let leaves = &self.leaves[k];
            let mut nblocks: u64 = ext.iter().map(|e| e.2).sum::<u64>() + leaves.len() as u64;
            let mut size: u64 = 0;
            let mut flags = 0u32;
            match &mut spec.body {
                Body::Dir { blocks, index } => {
                    size = blocks.len() as u64 * bs;
                    flags |= EXT4_EXTENTS_FL;
                    if *index {
                        flags |= EXT4_INDEX_FL;
                    }
                    let iseed = inode_seed(csum_seed, ino);
                    for &(lblk, pb, len) in ext {
                        for j in 0..len {
                            let bi = (lblk + j) as usize;
                            let mut b = std::mem::take(&mut blocks[bi]);
                            if *index && bi == 0 {
                                super::htree::dx_csum(&mut b, 32, iseed);
                            } else if *index && super::htree::is_dx_node(&b) {
                                super::htree::dx_csum(&mut b, 8, iseed);
                            } else {
                                dir_block_csum(&mut b, iseed);
                            }
                            disk.write_vec((pb + j) * bs, b)?;
                        }
                    }
                    if let Some(g) = used_dirs.get_mut(((ino as u64 - 1) / ipg) as usize) {
                        *g += 1;
                    }
                }
                Body::File => {
                    let Some(NodeKind::File(f)) = node.map(|n| &n.kind) else {
                        unreachable!("File body without a file node")
                    };
                    size = f.len();
                    flags |= EXT4_EXTENTS_FL;
                    for &(lblk, pb, len) in ext {
                        let fo = lblk * bs;
                        let fl = (len * bs).min(size - fo);
                        place_file(&mut disk, f, fo, fl, pb * bs)?;
                    }
                }
                Body::FastLink | Body::SlowLink => {
                    let Some(NodeKind::Symlink(t)) = node.map(|n| &n.kind) else {
                        unreachable!("symlink body without a symlink node")
                    };
                    size = t.len() as u64;
                    if matches!(spec.body, Body::FastLink) {
                        crate::bytes::Writer::new("ext4", "inode i_block", &mut inode.i_block)
                            .put(0, t.as_bytes())?;
                    } else {
                        flags |= EXT4_EXTENTS_FL;
                        disk.write(ext[0].1 * bs, t.as_bytes())?;
                    }
                }
                Body::Dev => {
                    let (major, minor) = match node.map(|n| &n.kind) {
                        Some(NodeKind::CharDev { major, minor })
                        | Some(NodeKind::BlockDev { major, minor }) => (*major, *minor),
                        _ => (0, 0),
                    };
                    // old_encode_dev / new_encode_dev (fs/ext4/inode.c).
                    let mut w =
                        crate::bytes::Writer::new("ext4", "inode i_block", &mut inode.i_block);
                    if major < 256 && minor < 256 {
                        w.le32(0, (major << 8) | minor)?;
                    } else {
                        w.le32(4, (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))?;
                    }
                }
                Body::Other => {}
            }
            if flags & EXT4_EXTENTS_FL != 0 {
                let (root, _) = self.extent_root(ext, leaves, ino, 0, csum_seed, &mut disk)?;
                inode.i_block = root;
            }
            match &spec.xattr {
                Xattrs::None => {}
                Xattrs::InInode(x) => {
                    // The in-inode xattr area: its magic, then the entries
                    // and values, after i_extra_isize bytes of fields.
                    let o = EXT2_GOOD_OLD_INODE_SIZE + EXTRA_ISIZE as usize;
                    let mut w = crate::bytes::Writer::new("ext4", "inode xattr area", &mut ib);
                    w.le32(o, EXT4_XATTR_MAGIC)?;
                    w.put(o + 4, x)?;
                }
                Xattrs::Block(x) => {
                    let xb = self.xattr_block[k];
                    let mut b = x.clone();
                    b.resize(bs as usize, 0);
                    let mut c = crc32c_raw(csum_seed, &xb.to_le_bytes());
                    c = crc32c_raw(c, &b);
                    put32(&mut b, 0x10, c);
                    disk.write_vec(xb * bs, b)?;
                    inode.i_file_acl = xb;
                    nblocks += 1;
                }
            }
            inode.i_size = size;
            inode.i_blocks = nblocks * bs / 512;
            inode.i_flags = flags;
            inode.encode(&mut ib)?;
            inode_checksum(&mut ib, ino, csum_seed)?;
            put_inode(&mut itables, ino, &ib);
        }

        // Inode tables.
        for (g, t) in itables.into_iter().enumerate() {
            if !t.is_empty() {
                disk.write_vec(self.inode_table[g] * bs, t)?;
            }
        }

        // Bitmaps and group descriptors.
        let mut used = self.used.clone();
        used.sort_unstable();
        let mut ui = 0usize;
        let mut gdt = vec![0u8; (self.gdt_blocks * bs) as usize];
        let mut free_blocks_total = 0u64;
        let mut free_inodes_total = 0u64;
        for g in 0..self.groups {
            let gs = self.first + g * self.bpg;
            let ge = (gs + self.bpg).min(self.blocks);
            let mut bb = vec![0u8; bs as usize];
            // Runs are sorted and disjoint; a run may span groups.
            while ui > 0 && used[ui - 1].0 + used[ui - 1].1 > gs {
                ui -= 1;
            }
            let mut count = 0u64;
            let mut i = ui;
            while i < used.len() && used[i].0 < ge {
                let (s, l) = used[i];
                let a = s.max(gs);
                let e = (s + l).min(ge);
                for b in a..e {
                    let bit = (b - gs) as usize;
                    bb[bit / 8] |= 1 << (bit % 8);
                }
                if e > a {
                    count += e - a;
                }
                if s + l <= ge {
                    i += 1;
                } else {
                    break;
                }
            }
            ui = i;
            // Bits past the end of a short last group are set (padding).
            for bit in (ge - gs) as usize..(bs * 8) as usize {
                bb[bit / 8] |= 1 << (bit % 8);
            }
            let free_b = (ge - gs) - count;
            free_blocks_total += free_b;
            let mut flags = EXT4_BG_INODE_ZEROED;
            // A group holding nothing but its backup area is left
            // uninitialised, as mke2fs leaves it: e2fsck and the kernel
            // compute its bitmap, and nothing is written for it. The last
            // group is always initialised (e2fsck insists).
            let backup = if has_super(g, true) {
                (1 + self.gdt_blocks).min(ge - gs)
            } else {
                0
            };
            let bcsum = if g > 0 && g + 1 < self.groups && count == backup {
                flags |= EXT4_BG_BLOCK_UNINIT;
                0
            } else {
                let c = crc32c_raw(csum_seed, &bb[..(self.bpg / 8) as usize]);
                disk.write_vec(self.block_bitmap[g as usize] * bs, bb)?;
                c
            };

            let mut ibm = vec![0u8; bs as usize];
            let first_ino = g * ipg + 1;
            let used_inodes = last_ino.saturating_sub(first_ino - 1).min(ipg);
            for bit in 0..used_inodes as usize {
                ibm[bit / 8] |= 1 << (bit % 8);
            }
            for bit in ipg as usize..(bs * 8) as usize {
                ibm[bit / 8] |= 1 << (bit % 8);
            }
            let icsum = if used_inodes == 0 {
                flags |= EXT4_BG_INODE_UNINIT;
                0
            } else {
                let c = crc32c_raw(csum_seed, &ibm[..(ipg / 8) as usize]);
                disk.write_vec(self.inode_bitmap[g as usize] * bs, ibm)?;
                c
            };
            let free_i = ipg - used_inodes;
            free_inodes_total += free_i;

            let ds = self.desc_size as usize;
            let d = &mut gdt[(g as usize) * ds..(g as usize + 1) * ds];
            let (bbm, ibm_b, it) = (
                self.block_bitmap[g as usize],
                self.inode_bitmap[g as usize],
                self.inode_table[g as usize],
            );
            let mut desc = GroupDesc {
                bg_block_bitmap: bbm,
                bg_inode_bitmap: ibm_b,
                bg_inode_table: it,
                bg_free_blocks_count_lo: free_b as u16,
                bg_free_inodes_count_lo: free_i as u16,
                bg_used_dirs_count_lo: used_dirs[g as usize] as u16,
                bg_flags: flags,
                bg_block_bitmap_csum: bcsum,
                bg_inode_bitmap_csum: icsum,
                bg_itable_unused_lo: free_i as u16,
                bg_checksum: 0,
            };
            desc.encode(d)?;
            // The checksum covers the group number and the descriptor with
            // bg_checksum zero.
            let mut c = crc32c_raw(csum_seed, &(g as u32).to_le_bytes());
            c = crc32c_raw(c, d);
            desc.bg_checksum = c as u16;
            desc.encode(d)?;
        }
        let _ = self.itable_blocks;

        // Superblock and its backups.
        let inodes_count = ipg * self.groups;
        let r_blocks = self.blocks * opts.reserved_percent as u64 / 100;
        let is64 = self.desc_size >= EXT2_MIN_DESC_SIZE_64BIT as u64;
        let log = bs.trailing_zeros() - 10;
        // 40-bit times: s_*time and their s_*time_hi bytes.
        let time = (ctx.epoch as u64) & 0xFF_FFFF_FFFF;
        let mut compat = COMPAT_EXT_ATTR | COMPAT_DIR_INDEX;
        if self.journal.is_some() {
            compat |= COMPAT_HAS_JOURNAL;
        }
        let mut s_volume_name = [0u8; 16];
        if let Some(l) = &opts.label {
            crate::bytes::Writer::new("ext4", "s_volume_name", &mut s_volume_name)
                .put(0, l.as_bytes())?;
        }
        let journal = self.journal.is_some();
        let mut sb = Superblock {
            s_inodes_count: inodes_count as u32,
            s_blocks_count: self.blocks,
            s_r_blocks_count: r_blocks,
            s_free_blocks_count: free_blocks_total,
            s_free_inodes_count: free_inodes_total as u32,
            s_first_data_block: self.first as u32,
            s_log_block_size: log,
            s_log_cluster_size: log,
            s_blocks_per_group: self.bpg as u32,
            s_clusters_per_group: self.bpg as u32,
            s_inodes_per_group: ipg as u32,
            s_wtime: time,
            s_max_mnt_count: 0xFFFF,
            s_magic: EXT4_SUPER_MAGIC,
            s_state: 1,
            s_errors: 1,
            s_lastcheck: time,
            s_rev_level: 1,
            s_first_ino: EXT2_GOOD_OLD_FIRST_INO,
            s_inode_size: isz as u16,
            s_block_group_nr: 0,
            s_feature_compat: compat,
            s_feature_incompat: INCOMPAT_FILETYPE
                | INCOMPAT_EXTENTS
                | INCOMPAT_FLEX_BG
                | if is64 { INCOMPAT_64BIT } else { 0 },
            s_feature_ro_compat: RO_COMPAT_SPARSE_SUPER
                | RO_COMPAT_LARGE_FILE
                | RO_COMPAT_HUGE_FILE
                | RO_COMPAT_DIR_NLINK
                | RO_COMPAT_EXTRA_ISIZE
                | RO_COMPAT_METADATA_CSUM,
            s_uuid: ctx.uuid,
            s_volume_name,
            s_journal_inum: if journal { EXT4_JOURNAL_INO } else { 0 },
            s_hash_seed: ctx.hash_seed,
            s_def_hash_version: DX_HASH_HALF_MD4,
            s_jnl_backup_type: if journal { EXT3_JNL_BACKUP_BLOCKS } else { 0 },
            s_desc_size: if is64 { self.desc_size as u16 } else { 0 },
            // user_xattr and acl, as mke2fs.conf's default_mntopts.
            s_default_mount_opts: 0x0004 | 0x0008,
            s_mkfs_time: time,
            s_jnl_blocks: if journal { jnl_blocks } else { [0; 17] },
            s_min_extra_isize: EXTRA_ISIZE,
            s_want_extra_isize: EXTRA_ISIZE,
            s_flags: EXT2_FLAGS_SIGNED_HASH,
            s_log_groups_per_flex: 4,
            s_checksum_type: 1,
        };
        for g in 0..self.groups {
            if !has_super(g, true) {
                continue;
            }
            let gs = self.first + g * self.bpg;
            sb.s_block_group_nr = g as u16;
            let off = if g == 0 { SUPERBLOCK_OFFSET } else { gs * bs };
            disk.write_vec(off, sb.encode()?)?;
            disk.write((gs + 1) * bs, &gdt)?;
        }
        Ok(disk)
    }

    /// Builds the 60-byte extent root for `ext` (depth 0, 1 or 2 over the
    /// index blocks and leaves in `leaves`), writing those blocks.
    fn extent_root(
        &self,
        ext: &[(u64, u64, u64)],
        leaves: &[u64],
        ino: u32,
        gen: u32,
        csum_seed: u32,
        disk: &mut Disk,
    ) -> Result<([u8; I_BLOCK_LEN], ())> {
        let bs = self.bs;
        let mut root = [0u8; I_BLOCK_LEN];
        let hdr = |b: &mut [u8], entries: usize, max: usize, depth: u16| {
            ExtentHeader {
                eh_magic: EXT4_EXT_MAGIC,
                eh_entries: entries as u16,
                eh_max: max as u16,
                eh_depth: depth,
                eh_generation: 0,
            }
            .encode(b)
        };
        let put_ext = |b: &mut [u8], k: usize, lblk: u64, pb: u64, len: u64| {
            Extent {
                ee_block: lblk as u32,
                ee_len: len as u16,
                ee_start: pb,
            }
            .encode(extent_entry(b, k)?)
        };
        let lblks: Vec<u64> = ext.iter().map(|e| e.0).collect();
        if leaves.is_empty() {
            if ext.len() > INODE_EXTENTS {
                return Err(Error::unsupported(
                    "ext4",
                    format!("inode {ino}: {} extents without index blocks", ext.len()),
                ));
            }
            hdr(&mut root, ext.len(), INODE_EXTENTS, 0)?;
            for (k, &(lblk, pb, len)) in ext.iter().enumerate() {
                put_ext(&mut root, k, lblk, pb, len)?;
            }
            return Ok((root, ()));
        }
        let per_leaf = ((bs - 12) / 12) as usize;
        let nleaves = ext.len().div_ceil(per_leaf);
        let (index, leaves) = leaves.split_at(leaves.len().saturating_sub(nleaves));
        let iseed = inode_seed(csum_seed, ino);
        let _ = gen;
        // Writes an extent block with its ext4_extent_tail after eh_max
        // entries.
        let mut write_block = |b: &mut Vec<u8>, at: u64| -> Result<()> {
            let t = 12 + 12 * per_leaf;
            let c = crc32c_raw(iseed, &b[..t]);
            put32(b, t, c);
            disk.write_vec(at * bs, std::mem::take(b))
        };
        let put_idx = |b: &mut [u8], k: usize, lblk: u64, blk: u64| {
            ExtentIdx {
                ei_block: lblk as u32,
                ei_leaf: blk,
            }
            .encode(extent_entry(b, k)?)
        };
        // (first logical block, block) of each leaf.
        let mut firsts = Vec::with_capacity(leaves.len());
        for (li, &leaf) in leaves.iter().enumerate() {
            let chunk = &ext[li * per_leaf..((li + 1) * per_leaf).min(ext.len())];
            let mut b = vec![0u8; bs as usize];
            hdr(&mut b, chunk.len(), per_leaf, 0)?;
            for (k, &(lblk, pb, len)) in chunk.iter().enumerate() {
                put_ext(&mut b, k, lblk, pb, len)?;
            }
            write_block(&mut b, leaf)?;
            firsts.push((lblks[li * per_leaf], leaf));
        }
        if index.is_empty() {
            hdr(&mut root, firsts.len(), INODE_EXTENTS, 1)?;
            for (k, &(l, blk)) in firsts.iter().enumerate() {
                put_idx(&mut root, k, l, blk)?;
            }
        } else {
            hdr(&mut root, index.len(), INODE_EXTENTS, 2)?;
            for (ii, &ib) in index.iter().enumerate() {
                let chunk = &firsts[ii * per_leaf..((ii + 1) * per_leaf).min(firsts.len())];
                let mut b = vec![0u8; bs as usize];
                hdr(&mut b, chunk.len(), per_leaf, 1)?;
                for (k, &(l, blk)) in chunk.iter().enumerate() {
                    put_idx(&mut b, k, l, blk)?;
                }
                write_block(&mut b, ib)?;
                put_idx(&mut root, ii, chunk[0].0, ib)?;
            }
        }
        Ok((root, ()))
    }
}

/// Stores a little-endian u16 in a buffer this writer sized itself.
// The offsets are the format's constants inside buffers allocated at their
// full size above; the inode, superblock and directory code still pokes
// them directly (the extent tree, group descriptors and JBD2 superblock go
// through `raw` structs).
#[allow(clippy::indexing_slicing)]
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Stores a little-endian u32 in a buffer this writer sized itself.
#[allow(clippy::indexing_slicing)]
pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// An inode with all four times set to `(t, extra)` and i_extra_isize
/// set, every other field 0.
fn new_inode(t: u32, extra: u32) -> Inode {
    Inode {
        i_mode: 0,
        i_uid: 0,
        i_size: 0,
        i_atime: t,
        i_ctime: t,
        i_mtime: t,
        i_gid: 0,
        i_links_count: 0,
        i_blocks: 0,
        i_flags: 0,
        i_block: [0; I_BLOCK_LEN],
        i_generation: 0,
        i_file_acl: 0,
        i_extra_isize: EXTRA_ISIZE,
        i_ctime_extra: extra,
        i_mtime_extra: extra,
        i_atime_extra: extra,
        i_crtime: t,
        i_crtime_extra: extra,
    }
}

/// Per-inode checksum seed: crc32c over the inode number and generation
/// (0) from the filesystem seed.
pub(crate) fn inode_seed(csum_seed: u32, ino: u32) -> u32 {
    let c = crc32c_raw(csum_seed, &ino.to_le_bytes());
    crc32c_raw(c, &0u32.to_le_bytes())
}

/// ext4_dirblock_csum_set: over the block up to the tail.
fn dir_block_csum(b: &mut [u8], iseed: u32) {
    let t = b.len() - DIR_TAIL_SIZE;
    let c = crc32c_raw(iseed, &b[..t]);
    put32(b, b.len() - 4, c);
}

/// Places `len` bytes of `f` from file offset `fo` at disk byte `at`
/// without copying source-backed data.
fn place_file(disk: &mut Disk, f: &FileData, fo: u64, len: u64, at: u64) -> Result<()> {
    match f {
        FileData::Bytes(b) => disk.write(at, &b[fo as usize..(fo + len) as usize]),
        FileData::Source { src, offset, .. } => {
            disk.write_source(at, src.clone(), offset + fo, len)
        }
        FileData::Mapped { src, map, .. } => {
            let end = fo + len;
            for &(rfo, rso, rl) in map.iter() {
                let s = rfo.max(fo);
                let e = (rfo + rl).min(end);
                if s < e {
                    disk.write_source(at + (s - fo), src.clone(), rso + (s - rfo), e - s)?;
                }
            }
            Ok(())
        }
    }
}

/// s_hash_seed as the four little-endian words the hash functions take.
fn seed_words(s: &[u8; 16]) -> [u32; 4] {
    [le32(s, 0), le32(s, 4), le32(s, 8), le32(s, 12)]
}

/// More runs than this and a file is stored without holes (keeps the
/// extent tree within one index level).
const MAX_RUNS: usize = 64;

/// The blocks of a file that hold data: all of a source-backed file;
/// the mapped runs of a mapped one; the non-zero blocks of one in memory
/// (as mke2fs -d skips zero blocks).
fn file_runs(f: &FileData, bs: u64) -> Vec<(u64, u64)> {
    let n = f.len().div_ceil(bs);
    if n == 0 {
        return Vec::new();
    }
    let mut spans: Vec<(u64, u64)> = Vec::new(); // [start, end) in blocks
    match f {
        FileData::Source { .. } => spans.push((0, n)),
        FileData::Bytes(b) => {
            for (i, c) in b.chunks(bs as usize).enumerate() {
                if c.iter().any(|&x| x != 0) {
                    spans.push((i as u64, i as u64 + 1));
                }
            }
        }
        FileData::Mapped { map, .. } => {
            for &(fo, _, l) in map.iter() {
                if l > 0 && fo < f.len() {
                    spans.push((fo / bs, (fo + l).div_ceil(bs).min(n)));
                }
            }
            spans.sort_unstable();
        }
    }
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (s, e) in spans {
        if let Some(last) = runs.last_mut() {
            if last.0 + last.1 >= s {
                let end = (last.0 + last.1).max(e);
                last.1 = end - last.0;
                continue;
            }
        }
        runs.push((s, e - s));
    }
    if runs.len() > MAX_RUNS {
        return vec![(0, n)];
    }
    runs
}

/// Largest block count: 2^32 - 1 without 64bit; 2^48 with it (the extent
/// format's limit).
fn max_blocks(opts: &Ext4Options) -> u64 {
    if opts.bit64 {
        1 << 48
    } else {
        u32::MAX as u64
    }
}
