//! ISO 9660 writer: lays out the whole image from the tree first, then emits
//! it front to back (system area, volume descriptors, path tables,
//! directories, Rock Ridge continuation areas, file data, isohybrid GPT
//! backup). File data is streamed in chunks from the tree's [`FileData`].

use super::raw::*;
use crate::bytes::Writer;
use crate::disk::Disk;
use crate::gpt::raw as gpt;
use crate::io::{Progress, Sink};
use crate::mbr::raw as mbr;
use crate::tree::{FileData, Meta, NodeId, NodeKind, Tree, ROOT};
use crate::{BuildContext, Error, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Which Rock Ridge (RRIP) extensions to record in the primary hierarchy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RockRidge {
    /// Plain ISO 9660 names and no POSIX metadata.
    #[default]
    None,
    /// mkisofs `-R`: owners, modes and times as in the tree.
    Full,
    /// mkisofs `-r`: owners 0, everything readable, write bits cleared.
    Rationalized,
}

/// How the firmware presents an El Torito boot image (El Torito 2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emulation {
    #[default]
    /// The image is loaded as it is (isolinux, EFI images).
    NoEmulation,
    /// 1.2, 1.44 or 2.88 MB floppy, chosen by the image size.
    Floppy,
    /// A hard disk image holding an MBR with one partition.
    HardDisk,
}

/// One El Torito boot entry.
#[derive(Clone, Debug)]
pub struct BootImage {
    /// Path of the boot image file in the tree.
    pub path: String,
    /// Platform id: [`PLATFORM_X86`] (BIOS) or [`PLATFORM_EFI`].
    pub platform: u8,
    /// How the firmware presents it.
    pub emulation: Emulation,
    /// Sectors of 512 bytes the firmware loads (no emulation); `None` loads
    /// the whole image.
    pub load_size: Option<u16>,
    /// Real-mode load segment; 0 means the default 0x7C0.
    pub load_segment: u16,
    /// Patch bytes 8..64 of the image with the boot info table (isolinux).
    pub boot_info_table: bool,
}

impl BootImage {
    /// A BIOS no-emulation entry for the image at `path`.
    pub fn bios(path: &str) -> Self {
        BootImage {
            path: path.to_string(),
            platform: PLATFORM_X86,
            emulation: Emulation::NoEmulation,
            load_size: None,
            load_segment: 0,
            boot_info_table: false,
        }
    }
    /// A UEFI no-emulation entry for the image at `path`.
    pub fn efi(path: &str) -> Self {
        BootImage {
            platform: PLATFORM_EFI,
            ..BootImage::bios(path)
        }
    }
}

/// What to write: mkisofs options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IsoOptions {
    /// Volume identifier (`-V`).
    pub volume_id: String,
    /// System identifier (`-sysid`).
    pub system_id: String,
    /// Volume set identifier (`-volset`).
    pub volume_set_id: String,
    /// Publisher (`-publisher`).
    pub publisher: String,
    /// Data preparer (`-p`).
    pub preparer: String,
    /// Application identifier (`-A`).
    pub application_id: String,
    /// ISO level 1, 2 or 3 (3 allows files of 4 GiB and more).
    pub level: u8,
    /// mkisofs `-l`: ISO names of up to 31 characters even at level 1.
    pub long_names: bool,
    /// Rock Ridge: none, `-R` or `-r`.
    pub rock_ridge: RockRidge,
    /// Joliet names (`-J`).
    pub joliet: bool,
    /// mkisofs `-joliet-long`: Joliet names of up to 103 characters instead
    /// of the standard's 64 (what Windows and Linux read).
    pub joliet_long: bool,
    /// Path in the tree where the El Torito boot catalog is placed.
    pub boot_catalog: Option<String>,
    /// Boot entries; the first is the default entry.
    pub boot: Vec<BootImage>,
    /// isohybrid MBR code (isohdpfx.bin; its first 432 bytes are used).
    /// Empty: no boot code, only the partition tables (an ISO that boots
    /// from a USB stick on UEFI only).
    pub isohybrid_mbr: Option<Vec<u8>>,
    /// xorriso `--grub2-mbr`: the MBR code is GRUB's `boot_hybrid.img`,
    /// which loads the sector whose 64-bit number is at byte 0x1b0: the
    /// BIOS boot image's first 512-byte sector + 4 (past `cdboot.img`).
    pub grub2_mbr: bool,
    /// xorriso `--grub2-boot-info`: the BIOS boot image is GRUB's
    /// `eltorito.img`; its `diskboot.img` blocklist (byte 2548) gets the
    /// 512-byte sector after it (image start + 5), so it loads the rest of
    /// `core.img` when started from the hybrid MBR.
    pub grub2_boot_info: bool,
    /// Also write a GPT marking the ISO data and the EFI boot images.
    pub isohybrid_gpt_basdat: bool,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions {
            volume_id: "CDROM".into(),
            system_id: "LINUX".into(),
            volume_set_id: String::new(),
            publisher: String::new(),
            preparer: String::new(),
            application_id: String::new(),
            level: 1,
            long_names: false,
            rock_ridge: RockRidge::None,
            joliet: false,
            joliet_long: false,
            boot_catalog: None,
            boot: Vec::new(),
            isohybrid_mbr: None,
            grub2_mbr: false,
            grub2_boot_info: false,
            isohybrid_gpt_basdat: false,
        }
    }
}

/// Joliet names longer than this many UCS-2 characters are truncated.
const JOLIET_MAX: usize = 64;
/// The limit with `-joliet-long` (a 255-byte directory record holds 103).
const JOLIET_LONG_MAX: usize = 103;
/// Entries of the isohybrid GPT array, as libisofs writes (62 sectors).
const GPT_ENTRIES: u64 = 248;
const GPT_ARRAY_SECTORS: u64 = GPT_ENTRIES * 128 / 512;

/// A list of System Use entries split between the record and continuation
/// areas (SUSP 5.1).
#[derive(Default)]
struct Susp {
    inline: Vec<Vec<u8>>,
    /// Each piece: its entries, and its (block, offset) once allocated.
    pieces: Vec<(Vec<Vec<u8>>, u32, u32)>,
}

impl Susp {
    fn pack(entries: Vec<Vec<u8>>, avail: usize) -> Susp {
        let total: usize = entries.iter().map(Vec::len).sum();
        if total <= avail {
            return Susp {
                inline: entries,
                pieces: Vec::new(),
            };
        }
        let mut s = Susp::default();
        let mut it = entries.into_iter().peekable();
        let mut used = 0;
        while let Some(e) = it.peek() {
            if used + e.len() + 28 > avail {
                break;
            }
            used += e.len();
            s.inline.push(it.next().unwrap_or_default());
        }
        let mut cur: Vec<Vec<u8>> = Vec::new();
        let mut cur_len = 0;
        for e in it {
            if cur_len + e.len() + 28 > SECTOR as usize {
                s.pieces.push((std::mem::take(&mut cur), 0, 0));
                cur_len = 0;
            }
            cur_len += e.len();
            cur.push(e);
        }
        if !cur.is_empty() {
            s.pieces.push((cur, 0, 0));
        }
        s
    }

    fn piece_len(&self, i: usize) -> usize {
        let own: usize = self.pieces[i].0.iter().map(Vec::len).sum();
        own + if i + 1 < self.pieces.len() { 28 } else { 0 }
    }

    fn ce(&self, i: usize) -> Vec<u8> {
        let (_, lba, off) = self.pieces[i];
        let mut e = vec![b'C', b'E', 28, 1];
        e.extend_from_slice(&both32(lba));
        e.extend_from_slice(&both32(off));
        e.extend_from_slice(&both32(self.piece_len(i) as u32));
        e
    }

    fn inline_len(&self) -> usize {
        self.inline.iter().map(Vec::len).sum::<usize>()
            + if self.pieces.is_empty() { 0 } else { 28 }
    }

    fn inline_bytes(&self) -> Vec<u8> {
        let mut v = self.inline.concat();
        if !self.pieces.is_empty() {
            v.extend(self.ce(0));
        }
        v
    }

    fn piece_bytes(&self, i: usize) -> Vec<u8> {
        let mut v = self.pieces[i].0.concat();
        if i + 1 < self.pieces.len() {
            v.extend(self.ce(i + 1));
        }
        v
    }
}

struct Rec {
    ident: Vec<u8>,
    node: NodeId,
    /// The directory this record names, as an index into its hierarchy.
    dir: Option<usize>,
    /// RRIP CL: a placeholder for this directory, relocated to rr_moved.
    cl: Option<usize>,
    susp: Susp,
}

struct Dir {
    node: NodeId,
    parent: usize,
    ident: Vec<u8>,
    path: String,
    dot: Susp,
    dotdot: Susp,
    recs: Vec<Rec>,
    lba: u32,
    size: u32,
    /// Depth in the ISO hierarchy (root = 1; ECMA-119 6.8.2.1 allows 8).
    level: u32,
    /// RRIP PL: the original parent of a relocated directory.
    pl: Option<usize>,
}

struct Hier {
    joliet: bool,
    dirs: Vec<Dir>,
    pt_size: u32,
    pt_l: u32,
    pt_m: u32,
}

/// The whole layout of an image.
struct Plan<'a> {
    tree: Tree,
    opts: &'a IsoOptions,
    ctx: &'a BuildContext,
    warnings: Vec<String>,
    primary: Hier,
    joliet: Option<Hier>,
    /// Extent (block) and size of every file node placed.
    file_lba: BTreeMap<NodeId, u32>,
    /// Files in placement order.
    files: Vec<NodeId>,
    catalog: Option<(NodeId, u32)>,
    boot: Vec<(NodeId, u32)>,
    ce_start: u32,
    ce_sectors: u32,
    files_start: u32,
    files_end: u32,
    /// Total image size in blocks (the volume space size).
    total: u32,
}

fn sectors(len: u64) -> u64 {
    len.div_ceil(SECTOR)
}

/// Number of directory records (extents) a file of `len` bytes takes.
fn extent_count(len: u64) -> u64 {
    if len <= u32::MAX as u64 {
        1
    } else {
        len.div_ceil(MAX_EXTENT)
    }
}

fn rec_len(ident_len: usize, su_len: usize) -> usize {
    DirRecord::encoded_len(ident_len, su_len)
}

/// ECMA-119 9.3 ordering of file identifiers: name then extension, each
/// compared as if padded with spaces, then version (descending).
fn ecma_cmp(a: &[u8], b: &[u8]) -> Ordering {
    fn split(x: &[u8]) -> (&[u8], &[u8], &[u8]) {
        let (nx, ver) = match x.iter().position(|&c| c == b';') {
            Some(p) => (&x[..p], &x[p + 1..]),
            None => (x, &[][..]),
        };
        match nx.iter().position(|&c| c == b'.') {
            Some(p) => (&nx[..p], &nx[p + 1..], ver),
            None => (nx, &[][..], ver),
        }
    }
    fn padded(a: &[u8], b: &[u8]) -> Ordering {
        let n = a.len().max(b.len());
        (0..n)
            .map(|i| {
                let x = a.get(i).copied().unwrap_or(b' ');
                let y = b.get(i).copied().unwrap_or(b' ');
                x.cmp(&y)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
    let (an, ae, av) = split(a);
    let (bn, be, bv) = split(b);
    padded(an, bn)
        .then_with(|| padded(ae, be))
        .then_with(|| bv.cmp(av))
}

fn d_char(c: char) -> char {
    let c = c.to_ascii_uppercase();
    if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
        c
    } else {
        '_'
    }
}

/// The ISO 9660 identifier of `name` (without the version), level-limited.
fn iso_name(name: &str, is_dir: bool, level: u8, long: bool) -> (String, String) {
    if is_dir {
        let max = if level >= 2 || long { 31 } else { 8 };
        let s: String = name.chars().map(d_char).take(max).collect();
        return (s, String::new());
    }
    let (base, ext) = match name.rfind('.') {
        Some(p) if p > 0 => (&name[..p], &name[p + 1..]),
        _ => (name, ""),
    };
    let mut b: String = base.chars().map(d_char).collect();
    let mut e: String = ext.chars().map(d_char).collect();
    if level >= 2 || long {
        // 30 characters for name, dot and extension (ECMA-119 7.5.1 less ";1").
        e.truncate(e.len().min(29));
        let room = 30 - 1 - e.len();
        b.truncate(room);
    } else {
        b.truncate(8);
        e.truncate(3);
    }
    (b, e)
}

/// Makes `base` unique in `taken` by replacing its tail with a counter.
fn dedupe(base: &str, ext: &str, max_base: usize, taken: &mut BTreeSet<String>) -> String {
    let key = |b: &str| format!("{b}.{ext}");
    if taken.insert(key(base)) {
        return base.to_string();
    }
    for n in 0u32.. {
        let suffix = format!("{n:03}");
        let keep = max_base.saturating_sub(suffix.len()).min(base.len());
        let cand = format!("{}{suffix}", &base[..keep]);
        if taken.insert(key(&cand)) {
            return cand;
        }
    }
    unreachable!("counter exhausted")
}

fn ucs2(s: &str) -> Vec<u16> {
    s.chars()
        .map(|c| match c {
            '*' | '/' | ':' | ';' | '?' | '\\' => '_' as u16,
            c if (c as u32) < 0x10000 && (c as u32) >= 0x20 => c as u32 as u16,
            _ => '_' as u16,
        })
        .collect()
}

fn ucs2_bytes(u: &[u16]) -> Vec<u8> {
    u.iter().flat_map(|c| c.to_be_bytes()).collect()
}

fn mode_of(kind: &NodeKind, meta: &Meta, rr: RockRidge) -> u32 {
    let mut perm = meta.mode & 0o7777;
    if rr == RockRidge::Rationalized {
        let x = if perm & 0o111 != 0 || matches!(kind, NodeKind::Dir(_)) {
            0o111
        } else {
            0
        };
        perm = 0o444 | x;
    }
    kind.type_bits() | perm
}

fn su_entry(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut e = vec![sig[0], sig[1], (4 + body.len()) as u8, 1];
    e.extend_from_slice(body);
    e
}

/// RRIP entries describing `node` (PX, TF, PN, SL, NM).
fn rr_entries(
    tree: &Tree,
    node: NodeId,
    name: Option<&str>,
    nlink: u32,
    rr: RockRidge,
) -> Vec<Vec<u8>> {
    let n = tree.node(node);
    let mut out = Vec::new();
    let (uid, gid) = if rr == RockRidge::Rationalized {
        (0, 0)
    } else {
        (n.meta.uid, n.meta.gid)
    };
    let mut px = Vec::new();
    px.extend_from_slice(&both32(mode_of(&n.kind, &n.meta, rr)));
    px.extend_from_slice(&both32(nlink));
    px.extend_from_slice(&both32(uid));
    px.extend_from_slice(&both32(gid));
    px.extend_from_slice(&both32(node as u32 + 1));
    out.push(su_entry(b"PX", &px));
    let d = dir_date(n.meta.mtime);
    // TF: modify, access, attributes (RRIP 4.1.6), 7-byte dates.
    let mut tf = vec![0x0E];
    for _ in 0..3 {
        tf.extend_from_slice(&d);
    }
    out.push(su_entry(b"TF", &tf));
    if let NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } = n.kind {
        let mut pn = Vec::new();
        pn.extend_from_slice(&both32(major));
        pn.extend_from_slice(&both32(minor));
        out.push(su_entry(b"PN", &pn));
    }
    if let NodeKind::Symlink(target) = &n.kind {
        out.extend(sl_entries(target));
    }
    if let Some(name) = name {
        let b = name.as_bytes();
        let chunks: Vec<&[u8]> = b.chunks(250).collect();
        for (i, c) in chunks.iter().enumerate() {
            let flag = if i + 1 < chunks.len() { 1 } else { 0 };
            let mut body = vec![flag];
            body.extend_from_slice(c);
            out.push(su_entry(b"NM", &body));
        }
    }
    out
}

/// SL entries for a symlink target (RRIP 4.1.3), split at 255 bytes.
fn sl_entries(target: &str) -> Vec<Vec<u8>> {
    let mut comps: Vec<Vec<u8>> = Vec::new();
    if target.starts_with('/') {
        comps.push(vec![0x08, 0]);
    }
    for c in target.split('/').filter(|c| !c.is_empty()) {
        match c {
            "." => comps.push(vec![0x02, 0]),
            ".." => comps.push(vec![0x04, 0]),
            c => {
                let parts: Vec<&[u8]> = c.as_bytes().chunks(240).collect();
                for (i, p) in parts.iter().enumerate() {
                    let flag = if i + 1 < parts.len() { 1 } else { 0 };
                    let mut v = vec![flag, p.len() as u8];
                    v.extend_from_slice(p);
                    comps.push(v);
                }
            }
        }
    }
    let mut bodies: Vec<Vec<u8>> = vec![vec![0]];
    for c in comps {
        if bodies
            .last()
            .map(|b| 5 + b.len() + c.len() > 255)
            .unwrap_or(true)
        {
            if let Some(last) = bodies.last_mut() {
                last[0] = 1;
            }
            bodies.push(vec![0]);
        }
        if let Some(last) = bodies.last_mut() {
            last.extend(c);
        }
    }
    bodies.iter().map(|b| su_entry(b"SL", b)).collect()
}

fn root_extra() -> (Vec<u8>, Vec<u8>) {
    let sp = su_entry(b"SP", &[0xBE, 0xEF, 0]);
    let mut er = vec![
        RRIP_ID.len() as u8,
        RRIP_DESC.len() as u8,
        RRIP_SRC.len() as u8,
        1,
    ];
    er.extend_from_slice(RRIP_ID);
    er.extend_from_slice(RRIP_DESC);
    er.extend_from_slice(RRIP_SRC);
    (sp, su_entry(b"ER", &er))
}

impl<'a> Plan<'a> {
    fn new(tree: &Tree, opts: &'a IsoOptions, ctx: &'a BuildContext) -> Result<Plan<'a>> {
        if !(1..=3).contains(&opts.level) {
            return Err(Error::invalid(
                "iso-level",
                format!("{} is not 1, 2 or 3", opts.level),
            ));
        }
        let mut tree = tree.clone();
        let mut warnings = Vec::new();
        let mut catalog = None;
        if let Some(path) = &opts.boot_catalog {
            if tree.lookup(path).is_some() {
                return Err(Error::invalid(
                    "boot catalog",
                    format!("'{path}' already exists in the tree"),
                ));
            }
            let id = tree.add_file(path, vec![0; SECTOR as usize])?;
            catalog = Some((id, 0));
        } else if !opts.boot.is_empty() {
            return Err(Error::invalid(
                "boot catalog",
                "El Torito boot images need a boot catalog path (-c)",
            ));
        }
        let mut boot = Vec::new();
        for b in &opts.boot {
            let id = tree.lookup(&b.path).ok_or_else(|| {
                Error::invalid("boot image", format!("'{}' is not in the tree", b.path))
            })?;
            if !matches!(tree.node(id).kind, NodeKind::File(_)) {
                return Err(Error::invalid(
                    "boot image",
                    format!("'{}' is not a regular file", b.path),
                ));
            }
            boot.push((id, 0));
        }
        if opts.isohybrid_mbr.as_ref().is_some_and(|c| !c.is_empty())
            && !opts
                .boot
                .iter()
                .any(|b| b.platform == PLATFORM_X86 && b.emulation == Emulation::NoEmulation)
        {
            return Err(Error::invalid(
                "isohybrid-mbr",
                "the isohybrid MBR boots a BIOS no-emulation boot image (-b ... -no-emul-boot); none is given",
            ));
        }
        if opts.isohybrid_gpt_basdat && opts.isohybrid_mbr.is_none() {
            return Err(Error::invalid(
                "isohybrid-gpt-basdat",
                "needs an isohybrid MBR (-isohybrid-mbr)",
            ));
        }
        // mkisofs -R: directories deeper than 8 levels are relocated to
        // /rr_moved and found through RRIP CL/PL/RE entries (RRIP 4.1.5).
        let deep = tree.walk().iter().any(|(p, id)| {
            matches!(tree.node(*id).kind, NodeKind::Dir(_)) && p.split('/').count() >= 8
        });
        let moved = if deep && opts.rock_ridge != RockRidge::None {
            let name = ["rr_moved", ".rr_moved", "rr_moved.imgforge"]
                .into_iter()
                .find(|n| tree.lookup(n).is_none())
                .ok_or_else(|| {
                    Error::invalid("rr_moved", "no free name for relocated directories")
                })?;
            Some(tree.add_dir(name)?)
        } else {
            None
        };
        let primary = build_hier(&tree, opts, false, &mut warnings, moved)?;
        let joliet = if opts.joliet {
            Some(build_hier(&tree, opts, true, &mut warnings, moved)?)
        } else {
            None
        };
        let mut p = Plan {
            tree,
            opts,
            ctx,
            warnings,
            primary,
            joliet,
            file_lba: BTreeMap::new(),
            files: Vec::new(),
            catalog,
            boot,
            ce_start: 0,
            ce_sectors: 0,
            files_start: 0,
            files_end: 0,
            total: 0,
        };
        p.allocate()?;
        Ok(p)
    }

    fn allocate(&mut self) -> Result<()> {
        let mut lba: u64 = SYSTEM_AREA_SECTORS + 1; // PVD
        if self.catalog.is_some() {
            lba += 1;
        }
        if self.joliet.is_some() {
            lba += 1;
        }
        lba += 1; // terminator
        for h in std::iter::once(&mut self.primary).chain(self.joliet.as_mut()) {
            h.pt_size = path_table(h, false).len() as u32;
            h.pt_l = lba as u32;
            lba += sectors(h.pt_size as u64);
            h.pt_m = lba as u32;
            lba += sectors(h.pt_size as u64);
        }
        if let Some((_, l)) = &mut self.catalog {
            *l = lba as u32;
            lba += 1;
        }
        for h in std::iter::once(&mut self.primary).chain(self.joliet.as_mut()) {
            for i in 0..h.dirs.len() {
                let size = dir_size(h, i, &self.tree);
                h.dirs[i].size = size;
                h.dirs[i].lba = lba as u32;
                lba += sectors(size as u64);
            }
        }
        // Continuation areas: pieces never cross a block (Linux requires it).
        self.ce_start = lba as u32;
        let (mut cl, mut off) = (lba, 0usize);
        let mut any = false;
        for d in &mut self.primary.dirs {
            let mut all: Vec<&mut Susp> = vec![&mut d.dot, &mut d.dotdot];
            all.extend(d.recs.iter_mut().map(|r| &mut r.susp));
            for s in all {
                for i in 0..s.pieces.len() {
                    let len = s.piece_len(i);
                    if off + len > SECTOR as usize {
                        cl += 1;
                        off = 0;
                    }
                    s.pieces[i].1 = cl as u32;
                    s.pieces[i].2 = off as u32;
                    off += len;
                    any = true;
                }
            }
        }
        if any {
            lba = cl + 1;
        }
        self.ce_sectors = (lba - self.ce_start as u64) as u32;
        self.files_start = lba as u32;
        // File data in directory order; EFI images last so the isohybrid GPT
        // can give them partitions that overlap nothing else.
        let efi: BTreeSet<NodeId> = self
            .opts
            .boot
            .iter()
            .zip(&self.boot)
            .filter(|(b, _)| b.platform == PLATFORM_EFI)
            .map(|(_, &(id, _))| id)
            .collect();
        let mut order = Vec::new();
        for d in &self.primary.dirs {
            for r in &d.recs {
                if let NodeKind::File(_) = self.tree.node(r.node).kind {
                    if Some(r.node) != self.catalog.map(|c| c.0) {
                        order.push(r.node);
                    }
                }
            }
        }
        order.sort_by_key(|id| efi.contains(id));
        for id in order {
            if self.file_lba.contains_key(&id) {
                continue;
            }
            let NodeKind::File(data) = &self.tree.node(id).kind else {
                continue;
            };
            let len = data.len();
            if len > u32::MAX as u64 && self.opts.level < 3 {
                return Err(Error::invalid(
                    "iso-level",
                    format!(
                        "a file of {len} bytes needs ISO level 3 (files of 4 GiB or more are split into extents)"
                    ),
                ));
            }
            let l = if len == 0 { 0 } else { lba as u32 };
            self.file_lba.insert(id, l);
            self.files.push(id);
            lba += sectors(len);
            if lba > u32::MAX as u64 {
                return Err(Error::no_space("ISO image", "more than 2^32 blocks"));
            }
        }
        if let Some((id, l)) = self.catalog {
            self.file_lba.insert(id, l);
        }
        for (id, l) in self.boot.iter_mut() {
            *l = self.file_lba.get(id).copied().unwrap_or(0);
        }
        self.files_end = lba as u32;
        let mut total = lba;
        if self.opts.isohybrid_mbr.is_some() {
            // Pad to a 1 MiB "cylinder" (64 heads x 32 sectors) leaving room
            // for the backup GPT, as xorriso does.
            let mut s512 = lba * 4;
            if self.opts.isohybrid_gpt_basdat {
                s512 += GPT_ARRAY_SECTORS + 1;
            }
            total = s512.div_ceil(2048) * 2048 / 4;
        }
        self.total = total as u32;
        Ok(())
    }

    fn el_torito_checks(&self) -> Result<Vec<u8>> {
        let mut cat = vec![0u8; SECTOR as usize];
        let mut entries: Vec<[u8; 32]> = Vec::new();
        for (b, &(id, lba)) in self.opts.boot.iter().zip(&self.boot) {
            let NodeKind::File(data) = &self.tree.node(id).kind else {
                continue;
            };
            let len = data.len();
            let (media, count, sys_type) = match b.emulation {
                Emulation::NoEmulation => {
                    let count = match b.load_size {
                        Some(n) => n,
                        None => {
                            let n = len.div_ceil(512).max(1);
                            if n > 0xFFFF {
                                if b.platform == PLATFORM_EFI {
                                    0xFFFF
                                } else {
                                    return Err(Error::invalid(
                                        "boot image",
                                        format!("'{}' is {len} bytes, too large to load whole (at most 65535 sectors of 512 bytes); give a load size (-boot-load-size)", b.path),
                                    ));
                                }
                            } else {
                                n as u16
                            }
                        }
                    };
                    if count == 0 {
                        return Err(Error::invalid(
                            "boot-load-size",
                            format!("load size of '{}' is 0", b.path),
                        ));
                    }
                    (MEDIA_NO_EMUL, count, 0)
                }
                Emulation::Floppy => {
                    let media = match len {
                        1_228_800 => MEDIA_FLOPPY_1200,
                        1_474_560 => MEDIA_FLOPPY_1440,
                        2_949_120 => MEDIA_FLOPPY_2880,
                        _ => {
                            return Err(Error::invalid(
                                "boot image",
                                format!("'{}' is {len} bytes; floppy emulation needs an image of exactly 1200, 1440 or 2880 KiB (or use -no-emul-boot)", b.path),
                            ))
                        }
                    };
                    (media, 1, 0)
                }
                Emulation::HardDisk => {
                    if len < 512 {
                        return Err(Error::invalid(
                            "boot image",
                            format!("'{}' is too small to hold an MBR", b.path),
                        ));
                    }
                    let mut mbr = [0u8; 512];
                    data.read_at(0, &mut mbr)?;
                    let types: Vec<u8> = (0..4)
                        .map(|i| mbr[446 + 16 * i + 4])
                        .filter(|&t| t != 0)
                        .collect();
                    if mbr[510..512] != [0x55, 0xAA] || types.len() != 1 {
                        return Err(Error::invalid(
                            "boot image",
                            format!(
                                "'{}': hard disk emulation needs an MBR with exactly one partition",
                                b.path
                            ),
                        ));
                    }
                    (MEDIA_HARD_DISK, 1, types[0])
                }
            };
            if b.boot_info_table && len < 64 {
                return Err(Error::invalid(
                    "boot-info-table",
                    format!(
                        "'{}' is {len} bytes, too small for a boot info table",
                        b.path
                    ),
                ));
            }
            let mut e = [0u8; 32];
            e[0] = BOOTABLE;
            e[1] = media;
            e[2..4].copy_from_slice(&b.load_segment.to_le_bytes());
            e[4] = sys_type;
            e[6..8].copy_from_slice(&count.to_le_bytes());
            e[8..12].copy_from_slice(&lba.to_le_bytes());
            entries.push(e);
        }
        if entries.is_empty() {
            return Ok(cat);
        }
        // Validation entry (El Torito 2.1).
        cat[0] = 1;
        cat[1] = self.opts.boot[0].platform;
        cat[30] = 0x55;
        cat[31] = 0xAA;
        let sum = cat[..32].chunks(2).fold(0u16, |s, w| {
            s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        cat[28..30].copy_from_slice(&(0u16.wrapping_sub(sum)).to_le_bytes());
        cat[32..64].copy_from_slice(&entries[0]);
        // Further entries in sections grouped by platform (El Torito 2.3).
        let mut groups: Vec<(u8, Vec<[u8; 32]>)> = Vec::new();
        for (b, e) in self.opts.boot.iter().zip(&entries).skip(1) {
            match groups.last_mut() {
                Some((p, v)) if *p == b.platform => v.push(*e),
                _ => groups.push((b.platform, vec![*e])),
            }
        }
        let mut off = 64;
        let ng = groups.len();
        for (gi, (platform, es)) in groups.into_iter().enumerate() {
            if off + 32 * (1 + es.len()) > cat.len() {
                return Err(Error::invalid("boot", "too many El Torito boot entries"));
            }
            cat[off] = if gi + 1 == ng {
                SECTION_HEADER_LAST
            } else {
                SECTION_HEADER_MORE
            };
            cat[off + 1] = platform;
            cat[off + 2..off + 4].copy_from_slice(&(es.len() as u16).to_le_bytes());
            off += 32;
            for e in es {
                cat[off..off + 32].copy_from_slice(&e);
                off += 32;
            }
        }
        Ok(cat)
    }

    fn record_for(&self, h: &Hier, r: &Rec) -> Result<Vec<Vec<u8>>> {
        let n = self.tree.node(r.node);
        let date = dir_date(n.meta.mtime);
        let mut su = if h.joliet {
            Vec::new()
        } else {
            r.susp.inline_bytes()
        };
        if let (Some(x), true) = (r.cl, su.len() >= 12) {
            su[4..12].copy_from_slice(&both32(h.dirs[x].lba));
            return Ok(vec![dir_record(&r.ident, 0, 0, 0, date, &su)?]);
        }
        if let Some(di) = r.dir {
            let d = &h.dirs[di];
            return Ok(vec![dir_record(
                &r.ident,
                d.lba,
                d.size,
                FLAG_DIRECTORY,
                date,
                &su,
            )?]);
        }
        match &n.kind {
            NodeKind::File(data) => {
                let lba = self.file_lba.get(&r.node).copied().unwrap_or(0);
                let len = data.len();
                let k = extent_count(len);
                (0..k)
                    .map(|i| {
                        let (l, sz, fl) = if k == 1 {
                            (lba, len, 0)
                        } else {
                            let start = i * MAX_EXTENT;
                            let sz = (len - start).min(MAX_EXTENT);
                            let fl = if i + 1 < k { FLAG_MULTI_EXTENT } else { 0 };
                            (lba + (start / SECTOR) as u32, sz, fl)
                        };
                        dir_record(&r.ident, l, sz as u32, fl, date, &su)
                    })
                    .collect()
            }
            _ => Ok(vec![dir_record(&r.ident, 0, 0, 0, date, &su)?]),
        }
    }

    fn dir_bytes(&self, h: &Hier, i: usize) -> Result<Vec<u8>> {
        let d = &h.dirs[i];
        let p = &h.dirs[d.parent];
        let mut out = vec![0u8; d.size as usize];
        let mut pos = 0usize;
        let mut put = |rec: &[u8]| {
            let room = SECTOR as usize - pos % SECTOR as usize;
            if rec.len() > room {
                pos += room;
            }
            out[pos..pos + rec.len()].copy_from_slice(rec);
            pos += rec.len();
        };
        let dot_date = dir_date(self.tree.node(d.node).meta.mtime);
        let pdate = dir_date(self.tree.node(p.node).meta.mtime);
        let (dsu, psu) = if h.joliet {
            (Vec::new(), Vec::new())
        } else {
            (d.dot.inline_bytes(), d.dotdot.inline_bytes())
        };
        let mut psu = psu;
        if let (Some(x), true) = (d.pl, psu.len() >= 12) {
            psu[4..12].copy_from_slice(&both32(h.dirs[x].lba));
        }
        put(&dir_record(
            &[0],
            d.lba,
            d.size,
            FLAG_DIRECTORY,
            dot_date,
            &dsu,
        )?);
        put(&dir_record(
            &[1],
            p.lba,
            p.size,
            FLAG_DIRECTORY,
            pdate,
            &psu,
        )?);
        for r in &d.recs {
            for rec in self.record_for(h, r)? {
                put(&rec);
            }
        }
        Ok(out)
    }

    fn vd(&self, h: &Hier, kind: u8) -> Result<Vec<u8>> {
        let o = self.opts;
        let mut v = vec![0u8; SECTOR as usize];
        v[0] = kind;
        v[1..6].copy_from_slice(STANDARD_ID);
        v[6] = 1;
        let put: fn(&mut [u8], &str) = if h.joliet { put_ucs2 } else { put_str };
        let upper = |s: &str| {
            if h.joliet {
                s.to_string()
            } else {
                s.to_ascii_uppercase()
            }
        };
        put(&mut v[8..40], &upper(&o.system_id));
        put(&mut v[40..72], &upper(&o.volume_id));
        v[80..88].copy_from_slice(&both32(self.total));
        if h.joliet {
            v[88..91].copy_from_slice(JOLIET_ESCAPES[2]);
        }
        v[120..124].copy_from_slice(&both16(1));
        v[124..128].copy_from_slice(&both16(1));
        v[128..132].copy_from_slice(&both16(SECTOR as u16));
        v[132..140].copy_from_slice(&both32(h.pt_size));
        v[140..144].copy_from_slice(&h.pt_l.to_le_bytes());
        v[148..152].copy_from_slice(&h.pt_m.to_be_bytes());
        let root = &h.dirs[0];
        let su = Vec::new();
        let rr = dir_record(
            &[0],
            root.lba,
            root.size,
            FLAG_DIRECTORY,
            dir_date(self.tree.node(ROOT).meta.mtime),
            &su,
        )?;
        v[156..190].copy_from_slice(&rr);
        put(&mut v[190..318], &upper(&o.volume_set_id));
        put(&mut v[318..446], &upper(&o.publisher));
        put(&mut v[446..574], &upper(&o.preparer));
        put(&mut v[574..702], &upper(&o.application_id));
        put(&mut v[702..739], "");
        put(&mut v[739..776], "");
        put(&mut v[776..813], "");
        let d = vd_date(self.ctx.epoch);
        v[813..830].copy_from_slice(&d);
        v[830..847].copy_from_slice(&d);
        v[847..864].copy_from_slice(&vd_date_unset());
        v[864..881].copy_from_slice(&d);
        v[881] = 1;
        Ok(v)
    }

    /// Everything from block 16 to the first file block.
    /// Writes sectors 16 up to the first file: volume descriptors, path
    /// tables, directories and continuation areas, in pieces of about
    /// [`META_CHUNK`] (the whole would be tens of MiB for a big tree).
    fn emit_metadata(&self, out: &mut dyn Out) -> Result<()> {
        let mut m = MetaOut {
            out,
            buf: Vec::with_capacity(META_CHUNK),
            written: 0,
        };
        m.put(&self.vd(&self.primary, VD_PRIMARY)?)?;
        if let Some((_, lba)) = self.catalog {
            let mut br = vec![0u8; SECTOR as usize];
            br[1..6].copy_from_slice(STANDARD_ID);
            br[6] = 1;
            br[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
            br[71..75].copy_from_slice(&lba.to_le_bytes());
            m.put(&br)?;
        }
        if let Some(j) = &self.joliet {
            m.put(&self.vd(j, VD_SUPPLEMENTARY)?)?;
        }
        let mut t = vec![0u8; SECTOR as usize];
        t[0] = VD_TERMINATOR;
        t[1..6].copy_from_slice(STANDARD_ID);
        t[6] = 1;
        m.put(&t)?;
        for h in std::iter::once(&self.primary).chain(self.joliet.as_ref()) {
            m.put(&path_table(h, false))?;
            m.pad()?;
            m.put(&path_table(h, true))?;
            m.pad()?;
        }
        if self.catalog.is_some() {
            m.put(&self.el_torito_checks()?)?;
        }
        for h in std::iter::once(&self.primary).chain(self.joliet.as_ref()) {
            for i in 0..h.dirs.len() {
                m.put(&self.dir_bytes(h, i)?)?;
            }
        }
        let mut ce = vec![0u8; self.ce_sectors as usize * SECTOR as usize];
        for d in &self.primary.dirs {
            let all = [&d.dot, &d.dotdot]
                .into_iter()
                .chain(d.recs.iter().map(|r| &r.susp));
            for s in all {
                for i in 0..s.pieces.len() {
                    let b = s.piece_bytes(i);
                    let at = (s.pieces[i].1 - self.ce_start) as usize * SECTOR as usize
                        + s.pieces[i].2 as usize;
                    ce[at..at + b.len()].copy_from_slice(&b);
                }
            }
        }
        m.put(&ce)?;
        drop(ce);
        m.flush()?;
        debug_assert_eq!(m.written, (self.files_start as u64 - 16) * SECTOR);
        Ok(())
    }

    /// The patches of a boot image file: the boot info table (bytes 8..64)
    /// and GRUB's blocklist start (`--grub2-boot-info`).
    fn boot_patches(&self, id: NodeId, data: &FileData) -> Result<Vec<(usize, Vec<u8>)>> {
        let mut p = Vec::new();
        if self.opts.grub2_boot_info {
            let first_bios = self
                .opts
                .boot
                .iter()
                .zip(&self.boot)
                .find(|(b, _)| b.platform == PLATFORM_X86);
            if let Some((_, &(bid, lba))) = first_bios {
                if bid == id && data.len() >= GRUB2_BOOT_INFO_OFFSET as u64 + 8 {
                    let sector = lba as u64 * 4 + 5;
                    p.push((GRUB2_BOOT_INFO_OFFSET, sector.to_le_bytes().to_vec()));
                }
            }
        }
        // The table's checksum covers the file as written (xorriso patches
        // GRUB's blocklist first).
        if let Some(t) = self.boot_info(id, data, &p)? {
            p.push((8, t.to_vec()));
        }
        Ok(p)
    }

    /// The boot info table patch (bytes 8..64) for a file, if it needs one.
    fn boot_info(
        &self,
        id: NodeId,
        data: &FileData,
        patches: &[(usize, Vec<u8>)],
    ) -> Result<Option<[u8; 56]>> {
        let Some(idx) = self
            .opts
            .boot
            .iter()
            .zip(&self.boot)
            .position(|(b, (bid, _))| *bid == id && b.boot_info_table)
        else {
            return Ok(None);
        };
        let lba = self.boot[idx].1;
        let len = data.len();
        // Checksum: 32-bit little-endian sum of the file from byte 64.
        let mut sum = 0u32;
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 64u64;
        while off < len {
            let n = (len - off).min(buf.len() as u64) as usize;
            buf[..n].fill(0);
            data.read_at(off, &mut buf[..n])?;
            for (at, p) in patches {
                for (i, b) in p.iter().enumerate() {
                    let pos = (*at + i) as u64;
                    if pos >= off && pos < off + n as u64 {
                        buf[(pos - off) as usize] = *b;
                    }
                }
            }
            let n4 = n.div_ceil(4) * 4;
            buf[n..n4].fill(0);
            for w in buf[..n4].chunks(4) {
                sum = sum.wrapping_add(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            }
            off += n as u64;
        }
        let mut t = [0u8; 56];
        t[0..4].copy_from_slice(&16u32.to_le_bytes());
        t[4..8].copy_from_slice(&lba.to_le_bytes());
        t[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        t[12..16].copy_from_slice(&sum.to_le_bytes());
        Ok(Some(t))
    }

    fn system_area(&self) -> Result<Vec<u8>> {
        let mut sa = vec![0u8; (SYSTEM_AREA_SECTORS * SECTOR) as usize];
        let Some(code) = &self.opts.isohybrid_mbr else {
            return Ok(sa);
        };
        let n = code.len().min(432);
        let mut w = Writer::new("iso9660", "isohybrid system area", &mut sa);
        w.put(0, code.get(..n).unwrap_or_default())?;
        // isohybrid: boot image address in 512-byte sectors at 432.
        let bios = self
            .opts
            .boot
            .iter()
            .zip(&self.boot)
            .find(|(b, _)| b.platform == PLATFORM_X86)
            .map(|(_, &(_, lba))| lba)
            .unwrap_or(0);
        if self.opts.grub2_mbr {
            // xorriso --grub2-mbr: 64-bit sector of diskboot.img at 0x1b0.
            let sector = if bios == 0 { 0 } else { bios as u64 * 4 + 4 };
            w.put(432, &sector.to_le_bytes())?;
        } else {
            w.le32(432, bios * 4)?;
        }
        w.le32(
            mbr::DISK_SIGNATURE_OFFSET,
            self.ctx.u32("iso9660 mbr disk signature"),
        )?;
        w.put(510, &mbr::BOOT_SIGNATURE)?;
        let total512 = self.total as u64 * 4;
        let gpt = self.opts.isohybrid_gpt_basdat;
        let efis = self.efis();
        // Without GPT, one partition over the whole image (type 0x17 as
        // isohybrid writes). With GPT, a hybrid MBR: an active 0xEE entry up
        // to the EFI images (libisofs starts a type 0 entry at sector 0 over
        // the whole image, which sgdisk refuses as overlapping), then one
        // 0xEF entry per EFI image so firmware finds the ESP either way.
        let mut parts = vec![(mbr::ACTIVE, 0x17, 0u64, total512)];
        if gpt {
            let end = efis.iter().map(|e| e.0).min().unwrap_or(total512);
            parts = vec![(mbr::ACTIVE, gpt::PMBR_OS_TYPE, 1, end - 1)];
            for &(s, l) in efis.iter().take(3) {
                parts.push((0, 0xEF, s, l));
            }
        }
        // isohybrid's geometry: 64 heads, 32 sectors per track.
        let chs = |lba: u64| {
            mbr::Geometry::ISOHYBRID_64_32
                .chs(lba)
                .unwrap_or(mbr::CHS_MAX)
        };
        for (i, (status, ty, start, len)) in parts.into_iter().enumerate() {
            let rec = mbr::PartitionRecord {
                boot_indicator: status,
                starting_chs: chs(start),
                os_type: ty,
                ending_chs: chs((start + len).saturating_sub(1)),
                starting_lba: start as u32,
                size_in_lba: len.min(u32::MAX as u64) as u32,
            };
            mbr::put_record(&mut sa, i, &rec)?;
        }
        if gpt {
            let (hdr, array) = self.gpt(&efis, true)?;
            let mut w = Writer::new("iso9660", "isohybrid system area", &mut sa);
            w.put(512, &hdr)?;
            w.put(1024, &array)?;
        }
        Ok(sa)
    }

    /// GPT header (512 bytes) and entry array for the isohybrid layout.
    fn gpt(&self, efis: &[(u64, u64)], primary: bool) -> Result<(Vec<u8>, Vec<u8>)> {
        let total512 = self.total as u64 * 4;
        let first_usable = 2 + GPT_ARRAY_SECTORS;
        let last_usable = total512 - 2 - GPT_ARRAY_SECTORS;
        let esz = gpt::GPT_ENTRY_SIZE as usize;
        let mut array = vec![0u8; GPT_ENTRIES as usize * esz];
        const BASIC_DATA: gpt::Guid = gpt::Guid([
            0xEB, 0xD0, 0xA0, 0xA2, 0xB9, 0xE5, 0x44, 0x33, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26,
            0x99, 0xC7,
        ]);
        const EFI_SYSTEM: gpt::Guid = gpt::Guid([
            0xC1, 0x2A, 0x73, 0x28, 0xF8, 0x1F, 0x11, 0xD2, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
            0xC9, 0x3B,
        ]);
        let data_end = efis
            .iter()
            .map(|e| e.0)
            .min()
            .unwrap_or(self.files_end as u64 * 4);
        let mut parts = vec![(
            BASIC_DATA,
            first_usable,
            data_end - 1,
            "ISOHybrid".to_string(),
        )];
        for (i, &(s, l)) in efis.iter().enumerate() {
            parts.push((EFI_SYSTEM, s, s + l - 1, format!("ISOHybrid{}", i + 1)));
        }
        for (i, (ty, start, end, name)) in parts.into_iter().enumerate() {
            if end < start {
                continue;
            }
            let mut partition_name = [0u16; gpt::GPT_NAME_CHARS];
            for (d, u) in partition_name.iter_mut().zip(name.encode_utf16()) {
                *d = u;
            }
            let entry = gpt::GptEntry {
                partition_type_guid: ty,
                unique_partition_guid: gpt::Guid(
                    self.ctx.uuid(&format!("iso9660 gpt partition {i}")),
                ),
                starting_lba: start,
                ending_lba: end,
                attributes: 0,
                partition_name,
            };
            entry.write_to(crate::bytes::slice_mut(
                "iso9660",
                "isohybrid GPT entries",
                &mut array,
                i * esz,
                esz,
            )?)?;
        }
        let (my_lba, alternate_lba, partition_entry_lba) = if primary {
            (1, total512 - 1, 2)
        } else {
            (total512 - 1, 1, total512 - 1 - GPT_ARRAY_SECTORS)
        };
        let header = gpt::GptHeader {
            revision: gpt::GPT_REVISION,
            header_size: gpt::GPT_HEADER_SIZE,
            header_crc32: 0,
            my_lba,
            alternate_lba,
            first_usable_lba: first_usable,
            last_usable_lba: last_usable,
            disk_guid: gpt::Guid(self.ctx.uuid("iso9660 gpt disk")),
            partition_entry_lba,
            number_of_partition_entries: GPT_ENTRIES as u32,
            size_of_partition_entry: gpt::GPT_ENTRY_SIZE,
            partition_entry_array_crc32: crc32fast::hash(&array),
        };
        Ok((header.to_sector(512)?, array))
    }

    fn efis(&self) -> Vec<(u64, u64)> {
        self.opts
            .boot
            .iter()
            .zip(&self.boot)
            .filter(|(b, _)| b.platform == PLATFORM_EFI)
            .filter_map(|(_, &(id, lba))| match &self.tree.node(id).kind {
                NodeKind::File(d) => Some((lba as u64 * 4, d.len().div_ceil(512))),
                _ => None,
            })
            .collect()
    }

    fn emit(&self, out: &mut dyn Out, progress: &dyn Progress) -> Result<()> {
        out.bytes(&self.system_area()?)?;
        self.emit_metadata(out)?;
        let total_data: u64 = self
            .files
            .iter()
            .map(|&id| match &self.tree.node(id).kind {
                NodeKind::File(d) => d.len(),
                _ => 0,
            })
            .sum();
        let mut done = 0u64;
        for &id in &self.files {
            let NodeKind::File(data) = &self.tree.node(id).kind else {
                continue;
            };
            let patches = self.boot_patches(id, data)?;
            out.file(data, &patches)?;
            let r = data.len() % SECTOR;
            if r != 0 {
                out.zeros(SECTOR - r)?;
            }
            done += data.len();
            progress.step("iso9660: writing files", done, total_data)?;
        }
        let mut end = self.files_end as u64 * SECTOR;
        let total = self.total as u64 * SECTOR;
        if self.opts.isohybrid_gpt_basdat {
            let (hdr, array) = self.gpt(&self.efis(), false)?;
            let gpt_at = total - 512 - array.len() as u64;
            out.zeros(gpt_at - end)?;
            out.bytes(&array)?;
            out.bytes(&hdr)?;
            end = total;
        }
        out.zeros(total - end)?;
        Ok(())
    }
}

fn dir_record(
    ident: &[u8],
    lba: u32,
    size: u32,
    flags: u8,
    date: [u8; 7],
    su: &[u8],
) -> Result<Vec<u8>> {
    DirRecord {
        length: 0,
        extent: lba,
        data_length: size,
        recording_date: date,
        file_flags: flags,
        file_identifier: ident,
        system_use: su,
    }
    .encode()
}

fn path_table(h: &Hier, msb: bool) -> Vec<u8> {
    let mut v = Vec::new();
    for d in &h.dirs {
        let id: &[u8] = if d.ident.is_empty() { &[0] } else { &d.ident };
        v.push(id.len() as u8);
        v.push(0);
        let lba = if msb {
            d.lba.to_be_bytes()
        } else {
            d.lba.to_le_bytes()
        };
        v.extend_from_slice(&lba);
        let parent = (d.parent + 1) as u16;
        v.extend_from_slice(&if msb {
            parent.to_be_bytes()
        } else {
            parent.to_le_bytes()
        });
        v.extend_from_slice(id);
        if id.len() % 2 == 1 {
            v.push(0);
        }
    }
    v
}

fn dir_size(h: &Hier, i: usize, tree: &Tree) -> u32 {
    let d = &h.dirs[i];
    let mut pos = 0usize;
    let mut put = |len: usize| {
        let room = SECTOR as usize - pos % SECTOR as usize;
        if len > room {
            pos += room;
        }
        pos += len;
    };
    let su = |s: &Susp| if h.joliet { 0 } else { s.inline_len() };
    put(rec_len(1, su(&d.dot)));
    put(rec_len(1, su(&d.dotdot)));
    for r in &d.recs {
        let k = match (&tree.node(r.node).kind, r.dir) {
            (NodeKind::File(data), None) => extent_count(data.len()),
            _ => 1,
        };
        for _ in 0..k {
            put(rec_len(r.ident.len(), su(&r.susp)));
        }
    }
    (pos as u64).div_ceil(SECTOR) as u32 * SECTOR as u32
}

fn build_hier(
    tree: &Tree,
    opts: &IsoOptions,
    joliet: bool,
    warnings: &mut Vec<String>,
    moved: Option<NodeId>,
) -> Result<Hier> {
    let dir_nlink = |id: NodeId| {
        2 + tree
            .children(id)
            .filter(|(_, c)| matches!(tree.node(*c).kind, NodeKind::Dir(_)))
            .count() as u32
    };
    let mut moved_taken = BTreeSet::new();
    let mut moved_recs: Vec<Rec> = Vec::new();
    let rr = if joliet {
        RockRidge::None
    } else {
        opts.rock_ridge
    };
    let links = tree.link_counts();
    let mut dirs = vec![Dir {
        node: ROOT,
        parent: 0,
        ident: Vec::new(),
        path: String::new(),
        dot: Susp::default(),
        dotdot: Susp::default(),
        recs: Vec::new(),
        lba: 0,
        size: 0,
        level: 1,
        pl: None,
    }];
    let mut seen_dirs = BTreeSet::from([ROOT]);
    let mut queue = VecDeque::from([0usize]);
    while let Some(di) = queue.pop_front() {
        let node = dirs[di].node;
        let path = dirs[di].path.clone();
        let mut taken = BTreeSet::new();
        let mut recs = Vec::new();
        let mut subdirs = 0u32;
        for (name, id) in tree.children(node) {
            let kind = &tree.node(id).kind;
            let is_dir = matches!(kind, NodeKind::Dir(_));
            let full = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            };
            let special = !is_dir && !matches!(kind, NodeKind::File(_));
            if special && rr == RockRidge::None {
                if !joliet {
                    warnings.push(format!(
                        "'{full}' is not a regular file or directory and is left out (no Rock Ridge)"
                    ));
                }
                continue;
            }
            if joliet && Some(id) == moved {
                continue;
            }
            if is_dir && !seen_dirs.insert(id) {
                continue;
            }
            let ident = if joliet {
                let max = if opts.joliet_long {
                    JOLIET_LONG_MAX
                } else {
                    JOLIET_MAX
                };
                let mut u = ucs2(name);
                if u.len() > max {
                    u.truncate(max);
                    if (0xD800..0xDC00).contains(&u[max - 1]) {
                        u.truncate(max - 1);
                    }
                    let hint = if opts.joliet_long {
                        String::new()
                    } else {
                        format!(" (-joliet-long allows {JOLIET_LONG_MAX})")
                    };
                    warnings.push(format!(
                        "Joliet name of '{full}' truncated to {max} characters{hint}"
                    ));
                }
                let s = String::from_utf16_lossy(&u);
                let mut cand = s.clone();
                let mut n = 0;
                while !taken.insert(cand.clone()) {
                    let suffix = format!("{n:03}");
                    let keep: String = s.chars().take(max - suffix.len()).collect();
                    cand = format!("{keep}{suffix}");
                    n += 1;
                }
                let mut b = ucs2_bytes(&ucs2(&cand));
                if !is_dir {
                    b.extend_from_slice(&ucs2_bytes(&ucs2(";1")));
                    // ucs2() maps ';' to '_': write the separator directly.
                    let l = b.len();
                    b[l - 3] = b';';
                }
                b
            } else {
                let (b, e) = iso_name(name, is_dir, opts.level, opts.long_names);
                let max_base = if is_dir {
                    b.len().max(1)
                } else {
                    b.len().max(3)
                };
                let b = if b.is_empty() { "_".to_string() } else { b };
                let b = dedupe(&b, &e, max_base.max(b.len()), &mut taken);
                if is_dir {
                    b.into_bytes()
                } else {
                    format!("{b}.{e};1").into_bytes()
                }
            };
            let nlink = if is_dir {
                2 + tree
                    .children(id)
                    .filter(|(_, c)| matches!(tree.node(*c).kind, NodeKind::Dir(_)))
                    .count() as u32
            } else {
                links.get(id).copied().unwrap_or(1).max(1)
            };
            let susp = if rr == RockRidge::None {
                Susp::default()
            } else {
                let avail = 255 - rec_len(ident.len(), 0);
                Susp::pack(rr_entries(tree, id, Some(name), nlink, rr), avail)
            };
            if is_dir {
                subdirs += 1;
            }
            recs.push(Rec {
                ident,
                node: id,
                dir: if is_dir { Some(usize::MAX) } else { None },
                cl: None,
                susp,
            });
        }
        recs.sort_by(|a, b| {
            if joliet {
                a.ident.cmp(&b.ident)
            } else {
                ecma_cmp(&a.ident, &b.ident)
            }
        });
        for r in &mut recs {
            if r.dir.is_some() {
                let name = tree
                    .children(node)
                    .find(|(_, c)| *c == r.node)
                    .map(|(n, _)| n.to_string())
                    .unwrap_or_default();
                let level = dirs[di].level + 1;
                if let (Some(m), false, true) = (moved, joliet, level > 8) {
                    let mi = dirs.iter().position(|d| d.node == m).ok_or_else(|| {
                        Error::invalid("rr_moved", "relocation directory missing")
                    })?;
                    let (b, _) = iso_name(&name, true, opts.level, opts.long_names);
                    let b = if b.is_empty() { "_".to_string() } else { b };
                    let mb = b.len().max(3);
                    let ident = dedupe(&b, "", mb, &mut moved_taken).into_bytes();
                    let mut ents = vec![su_entry(b"CL", &both32(0))];
                    ents.extend(rr_entries(tree, r.node, Some(&name), dir_nlink(r.node), rr));
                    r.susp = Susp::pack(ents, 255 - rec_len(r.ident.len(), 0));
                    let mut ents = vec![su_entry(b"RE", &[])];
                    ents.extend(rr_entries(tree, r.node, Some(&name), dir_nlink(r.node), rr));
                    let susp = Susp::pack(ents, 255 - rec_len(ident.len(), 0));
                    dirs.push(Dir {
                        node: r.node,
                        parent: mi,
                        ident: ident.clone(),
                        path: if path.is_empty() {
                            name
                        } else {
                            format!("{path}/{name}")
                        },
                        dot: Susp::default(),
                        dotdot: Susp::default(),
                        recs: Vec::new(),
                        lba: 0,
                        size: 0,
                        level: dirs[mi].level + 1,
                        pl: Some(di),
                    });
                    let x = dirs.len() - 1;
                    r.dir = None;
                    r.cl = Some(x);
                    moved_recs.push(Rec {
                        ident,
                        node: r.node,
                        dir: Some(x),
                        cl: None,
                        susp,
                    });
                    queue.push_back(x);
                    continue;
                }
                dirs.push(Dir {
                    node: r.node,
                    parent: di,
                    level,
                    pl: None,
                    ident: r.ident.clone(),
                    path: if path.is_empty() {
                        name
                    } else {
                        format!("{path}/{name}")
                    },
                    dot: Susp::default(),
                    dotdot: Susp::default(),
                    recs: Vec::new(),
                    lba: 0,
                    size: 0,
                });
                r.dir = Some(dirs.len() - 1);
                queue.push_back(dirs.len() - 1);
            }
        }
        if rr != RockRidge::None {
            let parent = dirs[di].pl.unwrap_or(dirs[di].parent);
            let pnode = dirs[parent].node;
            let nl = |id: NodeId| {
                2 + tree
                    .children(id)
                    .filter(|(_, c)| matches!(tree.node(*c).kind, NodeKind::Dir(_)))
                    .count() as u32
            };
            let mut dot = rr_entries(tree, node, None, 2 + subdirs, rr);
            if di == 0 {
                let (sp, er) = root_extra();
                dot.insert(0, sp);
                dot.push(er);
            }
            dirs[di].dot = Susp::pack(dot, 255 - 34);
            let mut dd = rr_entries(tree, pnode, None, nl(pnode), rr);
            if dirs[di].pl.is_some() {
                dd.insert(0, su_entry(b"PL", &both32(0)));
            }
            dirs[di].dotdot = Susp::pack(dd, 255 - 34);
        }
        dirs[di].recs = recs;
    }
    if let Some(mi) = moved.and_then(|m| dirs.iter().position(|d| d.node == m)) {
        let recs = &mut dirs[mi].recs;
        recs.extend(moved_recs);
        recs.sort_by(|a, b| ecma_cmp(&a.ident, &b.ident));
    }
    // Number directories in path table order (ECMA-119 6.9.1): by level,
    // then parent number, then identifier; relocation broke the BFS order.
    let mut order = vec![0usize];
    let mut k = 0;
    while k < order.len() {
        let d = order[k];
        k += 1;
        order.extend(dirs[d].recs.iter().filter_map(|r| r.dir));
    }
    let mut new_index = vec![0usize; dirs.len()];
    for (n, &o) in order.iter().enumerate() {
        new_index[o] = n;
    }
    for d in &mut dirs {
        d.parent = new_index[d.parent];
        d.pl = d.pl.map(|p| new_index[p]);
        for r in &mut d.recs {
            r.dir = r.dir.map(|x| new_index[x]);
            r.cl = r.cl.map(|x| new_index[x]);
        }
    }
    let mut slots: Vec<Option<Dir>> = dirs.into_iter().map(Some).collect();
    let dirs: Vec<Dir> = order.iter().filter_map(|&o| slots[o].take()).collect();
    Ok(Hier {
        joliet,
        dirs,
        pt_size: 0,
        pt_l: 0,
        pt_m: 0,
    })
}

/// Where [`Plan::emit`] puts bytes: a [`Sink`] or a [`Disk`].
trait Out {
    fn bytes(&mut self, b: &[u8]) -> Result<()>;
    fn zeros(&mut self, n: u64) -> Result<()>;
    /// A file's data, with `patches` (offset, bytes) laid over its first
    /// chunk (boot info table, GRUB's blocklist).
    fn file(&mut self, data: &FileData, patches: &[(usize, Vec<u8>)]) -> Result<()>;
}

const CHUNK: u64 = 1 << 20;

/// `--grub2-boot-info`: where `eltorito.img` (cdboot.img, 2048 bytes, then
/// diskboot.img) holds diskboot's first blocklist start (512 - 12).
const GRUB2_BOOT_INFO_OFFSET: usize = 2048 + 500;

/// Metadata is handed to [`Out`] in pieces of about this size.
const META_CHUNK: usize = 1 << 20;

/// Collects small metadata pieces into [`META_CHUNK`]-sized writes (one
/// Disk extent or one sink write each, not one per directory).
struct MetaOut<'a> {
    out: &'a mut dyn Out,
    buf: Vec<u8>,
    written: u64,
}

impl MetaOut<'_> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.written += b.len() as u64;
        if self.buf.len() + b.len() > META_CHUNK {
            self.flush()?;
        }
        if b.len() >= META_CHUNK {
            return self.out.bytes(b);
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }
    /// Zeros up to the next sector boundary.
    fn pad(&mut self) -> Result<()> {
        let r = (self.written % SECTOR) as usize;
        if r != 0 {
            self.put(&vec![0u8; SECTOR as usize - r])?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.out.bytes(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

fn copy_chunks(
    data: &FileData,
    patches: &[(usize, Vec<u8>)],
    mut write: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let len = data.len();
    let mut buf = vec![0u8; CHUNK.min(len) as usize];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(CHUNK) as usize;
        data.read_at(off, &mut buf[..n])?;
        if off == 0 {
            for (at, p) in patches {
                let end = (at + p.len()).min(n);
                if let (Some(d), Some(s)) =
                    (buf.get_mut(*at..end), p.get(..end.saturating_sub(*at)))
                {
                    d.copy_from_slice(s);
                }
            }
        }
        write(&buf[..n])?;
        off += n as u64;
    }
    Ok(())
}

struct SinkOut<'a>(&'a mut dyn Sink);

impl Out for SinkOut<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.0.write(b)
    }
    fn zeros(&mut self, n: u64) -> Result<()> {
        self.0.hole(n)
    }
    fn file(&mut self, data: &FileData, patches: &[(usize, Vec<u8>)]) -> Result<()> {
        copy_chunks(data, patches, |b| self.0.write(b))
    }
}

struct DiskOut<'a> {
    disk: &'a mut Disk,
    pos: u64,
}

impl Out for DiskOut<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.disk.write(self.pos, b)?;
        self.pos += b.len() as u64;
        Ok(())
    }
    fn zeros(&mut self, n: u64) -> Result<()> {
        self.pos += n;
        Ok(())
    }
    fn file(&mut self, data: &FileData, patches: &[(usize, Vec<u8>)]) -> Result<()> {
        match (data, patches.is_empty()) {
            (FileData::Source { src, offset, len }, true) => {
                self.disk
                    .write_source(self.pos, src.clone(), *offset, *len)?;
                self.pos += len;
                Ok(())
            }
            (FileData::Mapped { src, map, len }, true) => {
                for &(fo, so, l) in map.iter() {
                    self.disk.write_source(self.pos + fo, src.clone(), so, l)?;
                }
                self.pos += len;
                Ok(())
            }
            _ => {
                let mut pos = self.pos;
                let disk = &mut *self.disk;
                copy_chunks(data, patches, |b| {
                    disk.write(pos, b)?;
                    pos += b.len() as u64;
                    Ok(())
                })?;
                self.pos = pos;
                Ok(())
            }
        }
    }
}

/// Writes the ISO image of `tree` to `sink`, front to back. Returns
/// warnings (names truncated for Joliet, files left out).
pub fn write(
    tree: &Tree,
    opts: &IsoOptions,
    ctx: &BuildContext,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let plan = Plan::new(tree, opts, ctx)?;
    plan.emit(&mut SinkOut(sink), progress)?;
    sink.finish()?;
    Ok(plan.warnings)
}

/// The ISO image of `tree` as a sparse [`Disk`] (file data placed lazily).
pub fn build(tree: &Tree, opts: &IsoOptions, ctx: &BuildContext) -> Result<Disk> {
    build_with_warnings(tree, opts, ctx).map(|(d, _)| d)
}

/// [`build`], also returning the warnings.
pub fn build_with_warnings(
    tree: &Tree,
    opts: &IsoOptions,
    ctx: &BuildContext,
) -> Result<(Disk, Vec<String>)> {
    let plan = Plan::new(tree, opts, ctx)?;
    let mut disk = Disk::new(plan.total as u64 * SECTOR);
    plan.emit(
        &mut DiskOut {
            disk: &mut disk,
            pos: 0,
        },
        &crate::io::NoProgress,
    )?;
    Ok((disk, plan.warnings))
}

/// Size in bytes of the image [`write()`] would produce.
pub fn image_size(tree: &Tree, opts: &IsoOptions, ctx: &BuildContext) -> Result<u64> {
    Ok(Plan::new(tree, opts, ctx)?.total as u64 * SECTOR)
}
