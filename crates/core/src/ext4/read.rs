//! ext2/ext3/ext4 reader: gives the file tree of an image made by mke2fs
//! (or by us), with file data as lazy [`FileData::Mapped`] runs of the
//! image. Every size and block number read from the image is checked
//! against the image before use; extent trees and indirect blocks are
//! walked with depth limits and loop detection.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::io::{read_vec, ReadAt, Source};
use crate::tree::{FileData, Meta, Node, NodeId, NodeKind, Tree};
use crate::tree::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

const FMT: &str = "ext4";
/// Largest descriptor table we read (covers 16 TiB+ at 64-byte descriptors).
const GDT_CAP: u64 = 64 << 20;
/// Largest directory we read.
const DIR_CAP: u64 = 1 << 30;
/// Deepest extent tree the kernel builds is 5 levels.
const EXT_MAX_DEPTH: u16 = 5;

/// What `dumpe2fs -h` would summarise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Info {
    /// Volume label.
    pub label: String,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Inodes in the filesystem.
    pub inodes: u32,
    /// Free inodes.
    pub free_inodes: u32,
    /// Feature names as dumpe2fs prints them, in its order.
    pub features: Vec<String>,
}

/// True if `src` has the ext2/3/4 superblock magic.
pub fn probe(src: &dyn ReadAt) -> bool {
    let mut m = [0u8; 2];
    src.read_at(SUPERBLOCK_OFFSET + S_MAGIC as u64, &mut m)
        .is_ok()
        && u16::from_le_bytes(m) == EXT4_SUPER_MAGIC
}

/// The superblock summary of the filesystem in `src`.
pub fn info(src: &dyn ReadAt) -> Result<Ext4Info> {
    let sb = read_vec(
        src,
        SUPERBLOCK_OFFSET,
        SUPERBLOCK_SIZE as u64,
        4096,
        "ext4 superblock",
    )?;
    let g = Geometry::parse(&sb, src.size())?;
    let s = Superblock::parse(&sb)?;
    let label_raw = &s.s_volume_name;
    let end = label_raw.iter().position(|&b| b == 0).unwrap_or(16);
    let flags = [g.compat, g.incompat, g.ro_compat];
    let features = FEATURE_NAMES
        .iter()
        .filter(|(w, bit, _)| flags.get(*w as usize).is_some_and(|f| f & bit != 0))
        .map(|(_, _, n)| n.to_string())
        .collect();
    Ok(Ext4Info {
        label: String::from_utf8_lossy(label_raw.get(..end).unwrap_or_default()).into_owned(),
        uuid: s.s_uuid,
        block_size: g.bs as u32,
        blocks: g.blocks,
        free_blocks: s.s_free_blocks_count,
        inodes: s.s_inodes_count,
        free_inodes: s.s_free_inodes_count,
        features,
    })
}

/// Checked superblock geometry.
struct Geometry {
    bs: u64,
    blocks: u64,
    first: u64,
    ipg: u64,
    groups: u64,
    inodes: u64,
    inode_size: u64,
    desc_size: u64,
    compat: u32,
    incompat: u32,
    ro_compat: u32,
}

impl Geometry {
    fn parse(sb: &[u8], image: u64) -> Result<Geometry> {
        let s = Superblock::parse(sb)?;
        if s.s_magic != EXT4_SUPER_MAGIC {
            return Err(Error::corrupt(
                FMT,
                "s_magic",
                "no ext2/3/4 superblock (magic is not 0xEF53)",
            ));
        }
        let log = s.s_log_block_size;
        if log > 6 {
            return Err(Error::corrupt(
                FMT,
                "s_log_block_size",
                format!(
                    "block size 2^{} is outside 1 KiB to 64 KiB",
                    log as u64 + 10
                ),
            ));
        }
        let bs = 1024u64 << log;
        let compat = s.s_feature_compat;
        let incompat = s.s_feature_incompat;
        let ro_compat = s.s_feature_ro_compat;
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let blocks = s.s_blocks_count;
        if blocks == 0 || blocks.checked_mul(bs).is_none_or(|b| b > image) {
            return Err(Error::corrupt(
                FMT,
                "s_blocks_count",
                format!("{blocks} blocks of {bs} bytes do not fit in the {image}-byte image"),
            ));
        }
        let first = s.s_first_data_block as u64;
        if first != (bs == 1024) as u64 {
            return Err(Error::corrupt(
                FMT,
                "s_first_data_block",
                format!("{first} for {bs}-byte blocks"),
            ));
        }
        let bpg = s.s_blocks_per_group as u64;
        if bpg == 0 || bpg > bs * 8 {
            return Err(Error::corrupt(
                FMT,
                "s_blocks_per_group",
                format!("{bpg} (must be 1 to {})", bs * 8),
            ));
        }
        let ipg = s.s_inodes_per_group as u64;
        if ipg == 0 || ipg > bs * 8 {
            return Err(Error::corrupt(
                FMT,
                "s_inodes_per_group",
                format!("{ipg} (must be 1 to {})", bs * 8),
            ));
        }
        let groups = (blocks - first).div_ceil(bpg);
        let inodes = s.s_inodes_count as u64;
        if inodes == 0 || inodes > ipg * groups {
            return Err(Error::corrupt(
                FMT,
                "s_inodes_count",
                format!("{inodes} inodes but {groups} groups of {ipg}"),
            ));
        }
        let inode_size = if s.s_rev_level == 0 {
            128
        } else {
            s.s_inode_size as u64
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size > bs {
            return Err(Error::corrupt(FMT, "s_inode_size", format!("{inode_size}")));
        }
        let desc_size = if is64 {
            s.s_desc_size as u64
        } else {
            EXT2_MIN_DESC_SIZE as u64
        };
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(Error::corrupt(FMT, "s_desc_size", format!("{desc_size}")));
        }
        Ok(Geometry {
            bs,
            blocks,
            first,
            ipg,
            groups,
            inodes,
            inode_size,
            desc_size,
            compat,
            incompat,
            ro_compat,
        })
    }
}

struct Fs {
    src: Source,
    g: Geometry,
    gdt: Vec<u8>,
}

/// A run of an inode's data: logical block, physical block, length; a
/// physical block of 0 is a hole (unwritten extents read as zeros).
type Run = (u64, u64, u64);

impl Fs {
    fn block_off(&self, b: u64, what: &str) -> Result<u64> {
        if b >= self.g.blocks {
            return Err(Error::corrupt(
                FMT,
                what,
                format!(
                    "block {b} is past the end of the filesystem ({} blocks)",
                    self.g.blocks
                ),
            ));
        }
        Ok(b * self.g.bs)
    }

    fn read_block(&self, b: u64, what: &str) -> Result<Vec<u8>> {
        let off = self.block_off(b, what)?;
        read_vec(&*self.src, off, self.g.bs, 1 << 16, what)
    }

    fn inode(&self, ino: u32) -> Result<Vec<u8>> {
        let g = &self.g;
        if ino == 0 || ino as u64 > g.inodes {
            return Err(Error::corrupt(
                FMT,
                format!("inode {ino}"),
                format!("outside 1..{}", g.inodes),
            ));
        }
        let grp = (ino as u64 - 1) / g.ipg;
        let idx = (ino as u64 - 1) % g.ipg;
        let d = (grp * g.desc_size) as usize;
        let desc = GroupDesc::parse(crate::bytes::slice(
            FMT,
            "group descriptor table",
            &self.gdt,
            d,
            g.desc_size as usize,
        )?)?;
        let table = desc.bg_inode_table;
        let span = (idx + 1) * g.inode_size;
        let end_block = table + span.div_ceil(g.bs);
        if table == 0 || end_block > g.blocks {
            return Err(Error::corrupt(
                FMT,
                format!("group {grp} bg_inode_table"),
                format!("inode table at block {table} lies outside the filesystem"),
            ));
        }
        read_vec(
            &*self.src,
            table * g.bs + idx * g.inode_size,
            g.inode_size,
            1 << 16,
            "ext4 inode",
        )
    }

    /// The data runs of an inode, sorted by logical block.
    fn runs(&self, ino: u32, ib: &[u8], nblocks: u64) -> Result<Vec<Run>> {
        let flags = le32(ib, I_FLAGS);
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        if flags & EXT4_EXTENTS_FL != 0 {
            self.extent_node(
                ino,
                crate::bytes::slice(FMT, "inode", ib, I_BLOCK, I_BLOCK_LEN)?,
                EXT_MAX_DEPTH + 1,
                &mut out,
                &mut seen,
            )?;
            out.sort_unstable();
            // Overlapping extents would alias data: refuse them.
            for w in out.windows(2) {
                if let [a, b] = w {
                    if a.0 + a.2 <= b.0 {
                        continue;
                    }
                    return Err(Error::corrupt(
                        FMT,
                        format!("inode {ino} extents"),
                        "extents overlap",
                    ));
                }
            }
        } else {
            let ptr = |k: usize| le32(ib, I_BLOCK + 4 * k) as u64;
            for k in 0..12u64 {
                if k < nblocks && ptr(k as usize) != 0 {
                    self.check_run(ino, ptr(k as usize), 1)?;
                    out.push((k, ptr(k as usize), 1));
                }
            }
            let per = self.g.bs / 4;
            let mut base = 12u64;
            for (level, k) in [(1u32, 12usize), (2, 13), (3, 14)] {
                if ptr(k) != 0 && base < nblocks {
                    self.indirect(ino, ptr(k), level, base, nblocks, &mut out, &mut seen)?;
                }
                base = base.saturating_add(per.saturating_pow(level));
            }
        }
        // Merge neighbours.
        let mut merged: Vec<Run> = Vec::with_capacity(out.len());
        for r in out {
            if let Some(l) = merged.last_mut() {
                if l.0 + l.2 == r.0 && l.1 != 0 && r.1 != 0 && l.1 + l.2 == r.1 {
                    l.2 += r.2;
                    continue;
                }
            }
            merged.push(r);
        }
        Ok(merged)
    }

    fn check_run(&self, ino: u32, start: u64, len: u64) -> Result<()> {
        if start < self.g.first || start.checked_add(len).is_none_or(|e| e > self.g.blocks) {
            return Err(Error::corrupt(
                FMT,
                format!("inode {ino} block map"),
                format!(
                    "blocks {start}+{len} lie outside the filesystem ({} blocks)",
                    self.g.blocks
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn indirect(
        &self,
        ino: u32,
        blk: u64,
        level: u32,
        base: u64,
        nblocks: u64,
        out: &mut Vec<Run>,
        seen: &mut BTreeSet<u64>,
    ) -> Result<()> {
        self.check_run(ino, blk, 1)?;
        if !seen.insert(blk) {
            return Err(Error::corrupt(
                FMT,
                format!("inode {ino} indirect block {blk}"),
                "block map loop",
            ));
        }
        let b = self.read_block(blk, "indirect block")?;
        let per = self.g.bs / 4;
        let span = per.pow(level - 1);
        for k in 0..per {
            let l = base + k * span;
            if l >= nblocks {
                break;
            }
            let p = le32(&b, (k * 4) as usize) as u64;
            if p == 0 {
                continue;
            }
            if out.len() as u64 >= self.g.blocks {
                return Err(Error::corrupt(
                    FMT,
                    format!("inode {ino} block map"),
                    "more blocks than the filesystem",
                ));
            }
            if level == 1 {
                self.check_run(ino, p, 1)?;
                out.push((l, p, 1));
            } else {
                self.indirect(ino, p, level - 1, l, nblocks, out, seen)?;
            }
        }
        Ok(())
    }

    fn extent_node(
        &self,
        ino: u32,
        node: &[u8],
        depth_left: u16,
        out: &mut Vec<Run>,
        seen: &mut BTreeSet<u64>,
    ) -> Result<()> {
        let field = || format!("inode {ino} extent tree");
        let h = ExtentHeader::parse(node)?;
        if h.eh_magic != EXT4_EXT_MAGIC {
            return Err(Error::corrupt(FMT, field(), "bad extent header magic"));
        }
        let entries = h.eh_entries as usize;
        let max = h.eh_max as usize;
        let depth = h.eh_depth;
        if entries > max || 12 + 12 * max > node.len() {
            return Err(Error::corrupt(
                FMT,
                field(),
                format!("{entries} entries, {max} max in {} bytes", node.len()),
            ));
        }
        if depth >= depth_left {
            return Err(Error::corrupt(
                FMT,
                field(),
                format!("depth {depth} is too deep"),
            ));
        }
        for k in 0..entries {
            let e = crate::bytes::slice(
                FMT,
                "extent node",
                node,
                EXTENT_ENTRY_SIZE * (k + 1),
                EXTENT_ENTRY_SIZE,
            )?;
            if depth == 0 {
                let x = Extent::parse(e)?;
                let lblk = x.ee_block as u64;
                let raw_len = x.ee_len as u64;
                let start = x.ee_start;
                let (len, unwritten) = if raw_len > EXT_INIT_MAX_LEN as u64 {
                    (raw_len - EXT_INIT_MAX_LEN as u64, true)
                } else {
                    (raw_len, false)
                };
                if len == 0 {
                    continue;
                }
                self.check_run(ino, start, len)?;
                if out.len() > (self.g.blocks as usize) {
                    return Err(Error::corrupt(FMT, field(), "more extents than blocks"));
                }
                out.push((lblk, if unwritten { 0 } else { start }, len));
            } else {
                let leaf = ExtentIdx::parse(e)?.ei_leaf;
                self.check_run(ino, leaf, 1)?;
                if !seen.insert(leaf) {
                    return Err(Error::corrupt(
                        FMT,
                        field(),
                        format!("extent tree loop at block {leaf}"),
                    ));
                }
                let b = self.read_block(leaf, "extent block")?;
                self.extent_node(ino, &b, depth, out, seen)?;
            }
        }
        Ok(())
    }

    fn size(ib: &[u8]) -> u64 {
        le32(ib, I_SIZE_LO) as u64 | (le32(ib, I_SIZE_HIGH) as u64) << 32
    }

    /// Reads the whole of a (small) inode's data: directories, slow symlinks.
    fn read_small(&self, ino: u32, ib: &[u8], cap: u64, what: &str) -> Result<Vec<u8>> {
        let size = Self::size(ib);
        if size > cap {
            return Err(Error::corrupt(
                FMT,
                format!("inode {ino} i_size"),
                format!("{size}-byte {what}"),
            ));
        }
        if le32(ib, I_FLAGS) & EXT4_INLINE_DATA_FL != 0 {
            let mut v = crate::bytes::slice(FMT, "inode", ib, I_BLOCK, I_BLOCK_LEN)?.to_vec();
            if let Some(extra) = self.xattrs(ino, ib)?.remove("system.data") {
                v.extend_from_slice(&extra);
            }
            v.truncate(size as usize);
            return Ok(v);
        }
        let nblocks = size.div_ceil(self.g.bs);
        let runs = self.runs(ino, ib, nblocks)?;
        // Allocate no more than the blocks really mapped (inside the image).
        let mapped: u64 = runs.iter().filter(|r| r.1 != 0).map(|r| r.2).sum();
        if size > mapped.saturating_mul(self.g.bs) {
            return Err(Error::corrupt(
                FMT,
                format!("inode {ino} i_size"),
                format!("{size}-byte {what} has only {mapped} blocks"),
            ));
        }
        let mut v = vec![0u8; size as usize];
        for (l, p, n) in runs {
            if p == 0 {
                continue;
            }
            for i in 0..n {
                let fo = (l + i) * self.g.bs;
                if fo >= size {
                    break;
                }
                let len = (size - fo).min(self.g.bs) as usize;
                let off = self.block_off(p + i, what)?;
                self.src.read_at(
                    off,
                    crate::bytes::slice_mut(FMT, what, &mut v, fo as usize, len)?,
                )?;
            }
        }
        Ok(v)
    }

    fn xattrs(&self, ino: u32, ib: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        let isz = ib.len();
        if isz > EXT2_GOOD_OLD_INODE_SIZE {
            let extra = le16(ib, I_EXTRA_ISIZE) as usize;
            let h = EXT2_GOOD_OLD_INODE_SIZE + extra;
            if h + 4 <= isz && le32(ib, h) == EXT4_XATTR_MAGIC {
                let area = ib.get(h + 4..).unwrap_or_default();
                parse_xattr_entries(area, 0, area, &mut out, ino)?;
            }
        }
        let mut acl = le32(ib, I_FILE_ACL_LO) as u64;
        acl |= (le16(ib, L_I_FILE_ACL_HIGH) as u64) << 32;
        if acl != 0 {
            self.check_run(ino, acl, 1)?;
            let b = self.read_block(acl, "xattr block")?;
            if le32(&b, 0) != EXT4_XATTR_MAGIC {
                return Err(Error::corrupt(
                    FMT,
                    format!("inode {ino} xattr block {acl}"),
                    "bad magic",
                ));
            }
            let entries = b.get(XATTR_HEADER_SIZE..).unwrap_or_default();
            parse_xattr_entries(entries, 0, &b, &mut out, ino)?;
        }
        Ok(out)
    }
}

fn parse_xattr_entries(
    entries: &[u8],
    _base: usize,
    values: &[u8],
    out: &mut BTreeMap<String, Vec<u8>>,
    ino: u32,
) -> Result<()> {
    let mut p = 0usize;
    let bad = |m: &str| Error::corrupt(FMT, format!("inode {ino} xattrs"), m);
    while p + 4 <= entries.len() && le32(entries, p) != 0 {
        if p + XATTR_ENTRY_SIZE > entries.len() {
            return Err(bad("entry runs past the end"));
        }
        let r = crate::bytes::Reader::new(FMT, "xattr entry", entries);
        let name_len = r.u8(p)? as usize;
        let idx = r.u8(p + 1)?;
        let voff = le16(entries, p + 2) as usize;
        let vinum = le32(entries, p + 4);
        let vsize = le32(entries, p + 8) as usize;
        let name = entries
            .get(p + XATTR_ENTRY_SIZE..p + XATTR_ENTRY_SIZE + name_len)
            .ok_or_else(|| bad("name runs past the end"))?;
        if vinum == 0 {
            let value = values
                .get(voff..voff.saturating_add(vsize))
                .ok_or_else(|| bad("value runs past the end"))?;
            let prefix = XATTR_PREFIXES
                .iter()
                .find(|(i, _)| *i == idx)
                .map(|(_, p)| *p)
                .unwrap_or("");
            let full = format!("{prefix}{}", String::from_utf8_lossy(name));
            out.insert(full, value.to_vec());
        }
        p += (XATTR_ENTRY_SIZE + name_len + 3) & !3;
    }
    Ok(())
}

/// Reads the file tree of the ext2/3/4 filesystem in `src`.
pub fn read_tree(src: Source) -> Result<Tree> {
    let sb = read_vec(
        &*src,
        SUPERBLOCK_OFFSET,
        SUPERBLOCK_SIZE as u64,
        4096,
        "ext4 superblock",
    )?;
    let g = Geometry::parse(&sb, src.size())?;
    let unsupported = g.incompat
        & (0x1 | INCOMPAT_JOURNAL_DEV | INCOMPAT_META_BG | INCOMPAT_DIRDATA | INCOMPAT_ENCRYPT);
    if unsupported != 0 {
        let names: Vec<&str> = FEATURE_NAMES
            .iter()
            .filter(|(w, b, _)| *w == 1 && unsupported & b != 0)
            .map(|(_, _, n)| *n)
            .collect();
        return Err(Error::unsupported(
            FMT,
            format!("feature {}", names.join(", ")),
        ));
    }
    if g.ro_compat & 0x200 != 0 {
        return Err(Error::unsupported(FMT, "feature bigalloc"));
    }
    let gdt_block = g.first + 1;
    let gdt_len = g.groups * g.desc_size;
    if gdt_block + gdt_len.div_ceil(g.bs) > g.blocks {
        return Err(Error::corrupt(
            FMT,
            "group descriptors",
            "run past the end of the filesystem",
        ));
    }
    let gdt = read_vec(
        &*src,
        gdt_block * g.bs,
        gdt_len,
        GDT_CAP,
        "ext4 group descriptors",
    )?;
    let filetype = g.incompat & INCOMPAT_FILETYPE != 0;
    let fs = Fs {
        src: src.clone(),
        g,
        gdt,
    };

    let root_ib = fs.inode(EXT2_ROOT_INO)?;
    let (rmeta, _) = meta_of(&fs, EXT2_ROOT_INO, &root_ib)?;
    let mut tree = Tree::new(rmeta.mtime);
    if let Some(root) = tree.nodes.first_mut() {
        root.meta = rmeta;
    }
    let mut node_of: HashMap<u32, NodeId> = HashMap::new();
    node_of.insert(EXT2_ROOT_INO, 0);
    let mut stack: Vec<(u32, NodeId, Vec<u8>)> = vec![(EXT2_ROOT_INO, 0, root_ib)];
    while let Some((dino, did, dib)) = stack.pop() {
        let mode = le16(&dib, I_MODE) as u32;
        if mode & S_IFMT != S_IFDIR {
            return Err(Error::corrupt(
                FMT,
                format!("inode {dino}"),
                "is not a directory",
            ));
        }
        let data = fs.read_small(dino, &dib, DIR_CAP, "directory")?;
        let mut entries: Vec<(String, u32)> = Vec::new();
        let mut p = 0usize;
        let inline = le32(&dib, I_FLAGS) & EXT4_INLINE_DATA_FL != 0;
        if inline {
            // Inline directories start with the parent's inode number.
            p = 4;
        }
        while p + 8 <= data.len() {
            let ino = le32(&data, p);
            let rec = le16(&data, p + 4) as usize;
            let (nlen, _ft) = if filetype {
                let r = crate::bytes::Reader::new(FMT, "directory entry", &data);
                (r.u8(p + 6)? as usize, r.u8(p + 7)?)
            } else {
                (le16(&data, p + 6) as usize, 0)
            };
            if rec < 8 || !rec.is_multiple_of(4) || p + rec > data.len() || nlen + 8 > rec {
                return Err(Error::corrupt(
                    FMT,
                    format!("directory inode {dino}"),
                    format!("bad entry at byte {p} (rec_len {rec}, name_len {nlen})"),
                ));
            }
            if ino != 0 {
                let name = crate::bytes::slice(FMT, "directory entry", &data, p + 8, nlen)?;
                if name != b"." && name != b".." {
                    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
                        return Err(Error::corrupt(
                            FMT,
                            format!("directory inode {dino}"),
                            format!("invalid name {:?}", String::from_utf8_lossy(name)),
                        ));
                    }
                    entries.push((String::from_utf8_lossy(name).into_owned(), ino));
                }
            }
            p += rec;
        }
        for (name, ino) in entries {
            if let Some(&existing) = node_of.get(&ino) {
                if tree
                    .nodes
                    .get(existing)
                    .is_some_and(|n| matches!(n.kind, NodeKind::Dir(_)))
                {
                    return Err(Error::corrupt(
                        FMT,
                        format!("directory inode {dino} entry '{name}'"),
                        format!("directory inode {ino} is linked twice (loop)"),
                    ));
                }
                if let Some(Node {
                    kind: NodeKind::Dir(m),
                    ..
                }) = tree.nodes.get_mut(did)
                {
                    m.insert(name, existing);
                }
                continue;
            }
            let ib = fs.inode(ino)?;
            let (meta, kind) = meta_of(&fs, ino, &ib)?;
            let is_dir = matches!(kind, NodeKind::Dir(_));
            tree.nodes.push(Node { kind, meta });
            let id = tree.nodes.len() - 1;
            node_of.insert(ino, id);
            if let Some(Node {
                kind: NodeKind::Dir(m),
                ..
            }) = tree.nodes.get_mut(did)
            {
                m.insert(name, id);
            }
            if is_dir {
                stack.push((ino, id, ib));
            }
        }
    }
    Ok(tree)
}

/// Metadata and (for non-directories, complete) kind of an inode.
fn meta_of(fs: &Fs, ino: u32, ib: &[u8]) -> Result<(Meta, NodeKind)> {
    let inode = Inode::parse(ib)?;
    let mode = inode.i_mode as u32;
    let (uid, gid) = (inode.i_uid, inode.i_gid);
    let (mtime, mtime_nsec) = decode_time(inode.i_mtime, inode.i_mtime_extra);
    let mut xattrs = fs.xattrs(ino, ib)?;
    xattrs.remove("system.data");
    let meta = Meta {
        mode: mode & 0o7777,
        uid,
        gid,
        mtime,
        mtime_nsec: mtime_nsec.min(999_999_999),
        xattrs,
    };
    let size = inode.i_size;
    let bs = fs.g.bs;
    let kind = match mode & S_IFMT {
        S_IFDIR => NodeKind::Dir(BTreeMap::new()),
        S_IFREG => {
            if inode.i_flags & EXT4_INLINE_DATA_FL != 0 {
                let v = fs.read_small(ino, ib, 1 << 16, "inline file")?;
                NodeKind::File(FileData::from_vec(v))
            } else {
                let nblocks = size.div_ceil(bs);
                let runs = fs.runs(ino, ib, nblocks)?;
                let mut map = Vec::with_capacity(runs.len());
                for (l, p, n) in runs {
                    let fo = l * bs;
                    if p == 0 || fo >= size {
                        continue;
                    }
                    map.push((fo, p * bs, (n * bs).min(size - fo)));
                }
                NodeKind::File(FileData::Mapped {
                    src: fs.src.clone(),
                    map: Arc::from(map),
                    len: size,
                })
            }
        }
        S_IFLNK => {
            let acl = inode.i_file_acl;
            // i_blocks_lo only, as before the high half was parsed.
            let sectors = inode.i_blocks & 0xFFFF_FFFF;
            let acl_sectors = if acl != 0 { bs / 512 } else { 0 };
            let flags = inode.i_flags;
            let target = if size < I_BLOCK_LEN as u64
                && flags & (EXT4_EXTENTS_FL | EXT4_INLINE_DATA_FL) == 0
                && sectors <= acl_sectors
            {
                crate::bytes::slice(FMT, "inode", ib, I_BLOCK, size as usize)?.to_vec()
            } else {
                fs.read_small(ino, ib, bs, "symlink")?
            };
            NodeKind::Symlink(String::from_utf8_lossy(&target).into_owned())
        }
        S_IFCHR | S_IFBLK => {
            let dev = crate::bytes::Reader::new(FMT, "inode i_block", &inode.i_block);
            let b0 = dev.le32(0)?;
            let (major, minor) = if b0 != 0 {
                ((b0 >> 8) & 0xff, b0 & 0xff)
            } else {
                let b1 = dev.le32(4)?;
                ((b1 & 0xfff00) >> 8, (b1 & 0xff) | ((b1 >> 12) & 0xfff00))
            };
            if mode & S_IFMT == S_IFCHR {
                NodeKind::CharDev { major, minor }
            } else {
                NodeKind::BlockDev { major, minor }
            }
        }
        S_IFIFO => NodeKind::Fifo,
        S_IFSOCK => NodeKind::Socket,
        t => {
            return Err(Error::corrupt(
                FMT,
                format!("inode {ino} i_mode"),
                format!("unknown file type {t:o}"),
            ));
        }
    };
    Ok((meta, kind))
}
