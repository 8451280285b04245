//! ISO 9660 reader: volume descriptors, the directory hierarchy (Rock Ridge
//! names and metadata preferred, then Joliet, then plain ISO names),
//! multi-extent files, and a report of descriptors, El Torito catalog and
//! system area.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::bytes::Reader as Bytes;
use crate::gpt::raw as gpt;
use crate::io::{read_vec, ReadAt, Source};
use crate::mbr::raw as mbr;
use crate::tree::{FileData, Meta, Node, NodeId, NodeKind, Tree, ROOT, S_IFMT};
use crate::tree::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFSOCK};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const FMT: &str = "iso9660";
/// At most this many volume descriptors are read (a terminator must come).
const MAX_VDS: u64 = 64;
/// Largest directory extent read (a 16 MiB directory has ~200k entries).
const MAX_DIR: u64 = 16 << 20;
/// Largest number of entries in the whole tree.
const MAX_ENTRIES: usize = 2_000_000;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 1000;
/// Continuation areas followed per directory record.
const MAX_CE: usize = 32;

/// True if `src` holds an ISO 9660 volume descriptor at block 16.
pub fn probe(src: &dyn ReadAt) -> bool {
    let mut b = [0u8; 6];
    src.read_at(16 * SECTOR, &mut b).is_ok() && &b[1..6] == STANDARD_ID
}

#[derive(Clone, Debug, Serialize)]
/// One volume descriptor (ECMA-119 8).
pub struct VolumeDescriptor {
    /// Block of the descriptor.
    pub lba: u32,
    /// ECMA-119 8.1.1 type number.
    #[serde(rename = "type")]
    pub kind: u8,
    /// "primary", "boot record", "supplementary (Joliet)", ...
    pub name: String,
    /// Standard identifier (`CD001`).
    pub id: String,
    /// System identifier.
    pub system_id: String,
    /// Volume identifier.
    pub volume_id: String,
    /// Volume space size in blocks.
    pub volume_space_size: u32,
    /// Bytes per logical block (2048).
    pub logical_block_size: u16,
    /// Path table size in bytes.
    pub path_table_size: u32,
    /// Block of the root directory.
    pub root_lba: u32,
    /// Publisher identifier.
    pub publisher: String,
    /// Data preparer identifier.
    pub preparer: String,
    /// Application identifier.
    pub application_id: String,
    /// Volume creation date and time.
    pub creation_date: String,
    /// Volume modification date and time.
    pub modification_date: String,
}

#[derive(Clone, Debug, Serialize)]
/// One El Torito boot catalog entry.
pub struct BootEntry {
    /// Platform id (0 BIOS, 0xEF UEFI).
    pub platform: u8,
    /// `BIOS`, `UEFI`, ...
    pub platform_name: String,
    /// Boot indicator 0x88.
    pub bootable: bool,
    /// "none", "fd1.2", "fd1.44", "fd2.88", "hd".
    pub emulation: String,
    /// Real-mode load segment (0: 0x7C0).
    pub load_segment: u16,
    /// System type (the partition type of a hard disk image).
    pub system_type: u8,
    /// Sectors of 512 bytes loaded.
    pub sectors: u16,
    /// Block of the boot image.
    pub lba: u32,
    /// Path of the file at that block, if one is found.
    pub path: Option<String>,
    /// The image carries a boot info table naming itself.
    pub boot_info_table: bool,
}

#[derive(Clone, Debug, Serialize)]
/// A partition of an isohybrid MBR.
pub struct MbrPartition {
    /// Record number, 1-4.
    pub number: u8,
    /// Boot indicator (0x80: active).
    pub status: u8,
    #[serde(rename = "type")]
    /// Partition type byte.
    pub kind: u8,
    /// First sector.
    pub start: u32,
    /// Length in sectors.
    pub blocks: u32,
}

#[derive(Clone, Debug, Default, Serialize)]
/// What the first 32 KiB (the system area) hold.
pub struct SystemArea {
    /// An MBR (isohybrid).
    pub mbr: bool,
    /// Its partitions.
    pub mbr_partitions: Vec<MbrPartition>,
    /// A GPT (isohybrid GPT).
    pub gpt: bool,
    /// GPT partitions: (number, first LBA, last LBA, name), 512-byte sectors.
    pub gpt_partitions: Vec<(u32, u64, u64, String)>,
}

#[derive(Clone, Debug, Serialize)]
/// What `inspect` reports about an ISO, like `xorriso -report_el_torito` and `isoinfo -d`.
pub struct IsoReport {
    /// The image's size in bytes.
    pub size: u64,
    /// The volume descriptors, in order.
    pub volume_descriptors: Vec<VolumeDescriptor>,
    /// Block of the El Torito boot catalog.
    pub boot_catalog_lba: Option<u32>,
    /// Path of the boot catalog file, if one is found.
    pub boot_catalog_path: Option<String>,
    /// The boot catalog's entries.
    pub el_torito: Vec<BootEntry>,
    /// MBR and GPT in the system area.
    pub system_area: SystemArea,
    /// Rock Ridge (SUSP) entries present.
    pub rock_ridge: bool,
    /// A Joliet supplementary volume descriptor present.
    pub joliet: bool,
}

struct Vds {
    primary: Option<Vec<u8>>,
    joliet: Option<Vec<u8>>,
    boot: Option<Vec<u8>>,
    all: Vec<(u32, Vec<u8>)>,
}

fn read_vds(src: &dyn ReadAt) -> Result<Vds> {
    if !probe(src) {
        return Err(Error::corrupt(
            FMT,
            "volume descriptor",
            "no 'CD001' at block 16: not an ISO 9660 image",
        ));
    }
    let mut v = Vds {
        primary: None,
        joliet: None,
        boot: None,
        all: Vec::new(),
    };
    for i in 0..MAX_VDS {
        let lba = 16 + i;
        let b = read_vec(
            src,
            lba * SECTOR,
            SECTOR,
            SECTOR,
            "iso9660 volume descriptor",
        )?;
        let r = Bytes::new(FMT, "volume descriptor", &b);
        if r.bytes(1, 5)? != STANDARD_ID {
            return Err(Error::corrupt(
                FMT,
                format!("volume descriptor at block {lba}"),
                "missing 'CD001' (no terminator)",
            ));
        }
        v.all.push((lba as u32, b.clone()));
        let escapes = r.bytes(88, 3)?;
        let boot_id = r.bytes(7, EL_TORITO_ID.len())?;
        match r.u8(0)? {
            VD_TERMINATOR => return Ok(v),
            VD_PRIMARY if v.primary.is_none() => v.primary = Some(b),
            VD_SUPPLEMENTARY
                if JOLIET_ESCAPES.iter().any(|e| escapes == *e) && v.joliet.is_none() =>
            {
                v.joliet = Some(b)
            }
            VD_BOOT_RECORD if boot_id == EL_TORITO_ID => v.boot = Some(b),
            _ => {}
        }
    }
    Err(Error::corrupt(
        FMT,
        "volume descriptors",
        format!("no terminator in the first {MAX_VDS}"),
    ))
}

/// One parsed directory record.
struct Rec {
    ident: Vec<u8>,
    lba: u32,
    size: u32,
    flags: u8,
    date: [u8; 7],
    su: Vec<u8>,
}

fn parse_dir(src: &dyn ReadAt, lba: u32, size: u32, what: &str) -> Result<Vec<Rec>> {
    let data = read_vec(src, lba as u64 * SECTOR, size as u64, MAX_DIR, what)?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    let dr = Bytes::new(FMT, what, &data);
    while pos < data.len() {
        let len = dr.u8(pos)? as usize;
        if len == 0 {
            pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
            continue;
        }
        let sector_end = ((pos / SECTOR as usize + 1) * SECTOR as usize).min(data.len());
        if len < 34 || pos + len > sector_end {
            return Err(Error::corrupt(
                FMT,
                what.to_string(),
                format!("directory record at byte {pos} has a bad length {len}"),
            ));
        }
        let r = dr.bytes(pos, len)?;
        let id_len = Bytes::new(FMT, what, r).u8(32)? as usize;
        if 33 + id_len > len {
            return Err(Error::corrupt(
                FMT,
                what.to_string(),
                format!("record at byte {pos}: identifier runs past the record"),
            ));
        }
        let d = DirRecord::parse(r)?;
        out.push(Rec {
            ident: d.file_identifier.to_vec(),
            lba: d.extent,
            size: d.data_length,
            flags: d.file_flags,
            date: d.recording_date,
            su: d.system_use.to_vec(),
        });
        pos += len;
    }
    Ok(out)
}

/// Rock Ridge attributes of one record.
#[derive(Default)]
struct Rr {
    mode: Option<u32>,
    nlink: u32,
    uid: u32,
    gid: u32,
    ino: u32,
    name: Option<Vec<u8>>,
    symlink: Option<String>,
    dev: Option<(u32, u32)>,
    mtime: Option<i64>,
    /// CL: the directory really lives at this block.
    child_link: Option<u32>,
    /// RE: this record is a relocated directory (listed via CL elsewhere).
    relocated: bool,
    sp: bool,
}

fn parse_tf_date(b: &[u8], long: bool) -> Option<i64> {
    if long {
        if b.len() < 17 {
            return None;
        }
        let s = std::str::from_utf8(b.get(..14)?).ok()?;
        let n = |a: usize, l: usize| s.get(a..a + l)?.parse::<u32>().ok();
        let t = unix_time(
            n(0, 4)? as i64,
            n(4, 2)?,
            n(6, 2)?,
            n(8, 2)?,
            n(10, 2)?,
            n(12, 2)?,
        );
        Some(t - (*b.get(16)? as i8) as i64 * 900)
    } else {
        Some(parse_dir_date(b))
    }
}

fn parse_susp(src: &dyn ReadAt, su: &[u8], skip: usize, rr: &mut Rr) -> Result<()> {
    let mut area = su.get(skip..).unwrap_or(&[]).to_vec();
    let mut hops = 0;
    let mut sl_comps: Vec<u8> = Vec::new();
    let mut sl_seen = false;
    let mut name: Vec<u8> = Vec::new();
    let mut name_seen = false;
    loop {
        let mut next_ce = None;
        let mut p = 0;
        while p + 4 <= area.len() {
            let Ok(head) = SuspEntry::parse(area.get(p..).unwrap_or_default()) else {
                break;
            };
            let (sig, len) = (head.signature, head.length as usize);
            if len < 4 || p + len > area.len() {
                break;
            }
            let e = area.get(p + 4..p + len).unwrap_or_default();
            match &sig {
                b"SP" => rr.sp = true,
                b"ST" => break,
                b"CE" if e.len() >= 24 => next_ce = Some((le32(e, 0), le32(e, 8), le32(e, 16))),
                b"PX" if e.len() >= 32 => {
                    rr.mode = Some(le32(e, 0));
                    rr.nlink = le32(e, 8);
                    rr.uid = le32(e, 16);
                    rr.gid = le32(e, 24);
                    if e.len() >= 40 {
                        rr.ino = le32(e, 32);
                    }
                }
                b"PN" if e.len() >= 16 => {
                    let (hi, lo) = (le32(e, 0), le32(e, 8));
                    rr.dev = Some(if hi == 0 && lo & !0xff != 0 {
                        (lo >> 8, lo & 0xff)
                    } else {
                        (hi, lo)
                    });
                }
                b"NM" if !e.is_empty() => {
                    name_seen = true;
                    if e.first().is_some_and(|f| f & 0x06 == 0) {
                        name.extend_from_slice(e.get(1..).unwrap_or_default());
                    }
                }
                b"SL" if !e.is_empty() => {
                    sl_seen = true;
                    let mut q = 1;
                    while q + 2 <= e.len() {
                        let (Some(&f), Some(&l)) = (e.get(q), e.get(q + 1)) else {
                            break;
                        };
                        let l = l as usize;
                        let c = e.get(q + 2..q + 2 + l).unwrap_or(&[]);
                        let prev_continued = sl_comps.last() == Some(&0xFF);
                        if prev_continued {
                            sl_comps.pop();
                        } else if !sl_comps.is_empty() && sl_comps.last() != Some(&b'/') {
                            sl_comps.push(b'/');
                        }
                        if f & 0x02 != 0 {
                            sl_comps.push(b'.');
                        } else if f & 0x04 != 0 {
                            sl_comps.extend_from_slice(b"..");
                        } else if f & 0x08 != 0 {
                            sl_comps.push(b'/');
                        } else {
                            sl_comps.extend_from_slice(c);
                        }
                        if f & 0x01 != 0 {
                            sl_comps.push(0xFF);
                        }
                        q += 2 + l;
                    }
                }
                b"TF" if !e.is_empty() => {
                    let flags = e.first().copied().unwrap_or(0);
                    let long = flags & 0x80 != 0;
                    let w = if long { 17 } else { 7 };
                    let mut q = 1;
                    for bit in 0..7 {
                        if flags & (1 << bit) != 0 {
                            if bit == 1 {
                                rr.mtime = e.get(q..q + w).and_then(|d| parse_tf_date(d, long));
                            }
                            q += w;
                        }
                    }
                }
                b"CL" if e.len() >= 8 => rr.child_link = Some(le32(e, 0)),
                b"RE" => rr.relocated = true,
                _ => {}
            }
            p += len;
        }
        let Some((blk, off, len)) = next_ce else {
            break;
        };
        hops += 1;
        if hops > MAX_CE {
            return Err(Error::corrupt(
                FMT,
                "Rock Ridge CE",
                "too many continuation areas",
            ));
        }
        area = read_vec(
            src,
            blk as u64 * SECTOR + off as u64,
            len as u64,
            SECTOR,
            "iso9660 Rock Ridge continuation area",
        )?;
    }
    if name_seen {
        rr.name = Some(name);
    }
    if sl_seen {
        if sl_comps.last() == Some(&0xFF) {
            sl_comps.pop();
        }
        rr.symlink = Some(String::from_utf8_lossy(&sl_comps).into_owned());
    }
    Ok(())
}

struct Reader {
    src: Source,
    joliet: bool,
    rr: bool,
    entries: usize,
    /// (ino, first extent) -> node, for hard links under Rock Ridge.
    inodes: BTreeMap<(u32, u32), NodeId>,
    /// Some directory was relocated (RRIP RE), so mkisofs' rr_moved exists.
    relocated: bool,
    /// Directory extents already read.
    visited: BTreeSet<u32>,
}

impl Reader {
    fn name_of(&self, r: &Rec, rr: &Rr) -> Option<String> {
        if let Some(n) = &rr.name {
            return Some(String::from_utf8_lossy(n).into_owned());
        }
        let s = if self.joliet {
            get_ucs2(&r.ident)
        } else {
            String::from_utf8_lossy(&r.ident).into_owned()
        };
        let s = match s.rfind(';') {
            Some(p) => s[..p].to_string(),
            None => s,
        };
        let s = if r.flags & FLAG_DIRECTORY == 0 {
            s.strip_suffix('.').map(str::to_string).unwrap_or(s)
        } else {
            s
        };
        Some(s)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        tree: &mut Tree,
        dir: NodeId,
        lba: u32,
        size: u32,
        path: &str,
        depth: usize,
        ancestors: &mut BTreeSet<u32>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::corrupt(
                FMT,
                format!("directory '/{path}'"),
                "nested too deeply",
            ));
        }
        if !ancestors.insert(lba) {
            return Err(Error::corrupt(
                FMT,
                format!("directory '/{path}'"),
                format!("points back to an enclosing directory (block {lba}): directory loop"),
            ));
        }
        // Each directory extent is read once: a directory listed twice (a
        // crafted image fanning out to the same extent) is refused, so the
        // work stays bounded by the image size.
        if !self.visited.insert(lba) {
            return Err(Error::corrupt(
                FMT,
                format!("directory '/{path}'"),
                format!("its extent (block {lba}) is already used by another directory"),
            ));
        }
        let src = self.src.clone();
        let recs = parse_dir(&*src, lba, size, &format!("iso9660 directory '/{path}'"))?;
        let mut i = 0;
        while let Some(r) = recs.get(i) {
            i += 1;
            if r.ident == [0] || r.ident == [1] {
                continue;
            }
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return Err(Error::no_space(
                    "iso9660 directories",
                    format!("more than {MAX_ENTRIES} entries"),
                ));
            }
            let mut rr = Rr::default();
            if self.rr {
                parse_susp(&*src, &r.su, 0, &mut rr)?;
            }
            if rr.relocated {
                self.relocated = true;
                continue;
            }
            // Multi-extent: this record and the following ones with the same name.
            let mut extents = vec![(r.lba, r.size as u64)];
            let mut last_flags = r.flags;
            while last_flags & FLAG_MULTI_EXTENT != 0 {
                let Some(next) = recs.get(i).filter(|n| n.ident == r.ident) else {
                    break;
                };
                extents.push((next.lba, next.size as u64));
                last_flags = next.flags;
                i += 1;
            }
            let Some(name) = self.name_of(r, &rr) else {
                continue;
            };
            if name.is_empty()
                || name == "."
                || name == ".."
                || name.contains('/')
                || name.contains('\0')
            {
                return Err(Error::corrupt(
                    FMT,
                    format!("directory '/{path}'"),
                    format!("bad file name {name:?}"),
                ));
            }
            let full = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}/{name}")
            };
            let mode = rr.mode.unwrap_or(0);
            let mut meta = Meta::new(0, 0);
            meta.mtime = rr.mtime.unwrap_or_else(|| parse_dir_date(&r.date));
            meta.uid = rr.uid;
            meta.gid = rr.gid;
            let is_dir = rr.child_link.is_some()
                || (r.flags & FLAG_DIRECTORY != 0
                    && rr.mode.map(|m| m & S_IFMT == S_IFDIR).unwrap_or(true));
            meta.mode = if rr.mode.is_some() {
                mode & 0o7777
            } else if is_dir {
                0o555
            } else {
                0o444
            };
            let exists = match &tree.node(dir).kind {
                NodeKind::Dir(m) => m.contains_key(&name),
                _ => false,
            };
            if exists {
                continue;
            }
            if is_dir {
                let (dlba, dsize) = match rr.child_link {
                    Some(l) => {
                        // The relocated directory's own "." record gives its size.
                        let first = parse_dir(
                            &*src,
                            l,
                            SECTOR as u32,
                            &format!("iso9660 relocated directory '/{full}'"),
                        )?;
                        (l, first.first().map(|d| d.size).unwrap_or(SECTOR as u32))
                    }
                    None => (r.lba, r.size),
                };
                let id = push(
                    tree,
                    dir,
                    &name,
                    Node {
                        kind: NodeKind::Dir(BTreeMap::new()),
                        meta,
                    },
                );
                self.walk(tree, id, dlba, dsize, &full, depth + 1, ancestors)?;
                continue;
            }
            let kind = match mode & S_IFMT {
                S_IFLNK if rr.symlink.is_some() => {
                    NodeKind::Symlink(rr.symlink.clone().unwrap_or_default())
                }
                S_IFCHR => {
                    let (major, minor) = rr.dev.unwrap_or((0, 0));
                    NodeKind::CharDev { major, minor }
                }
                S_IFBLK => {
                    let (major, minor) = rr.dev.unwrap_or((0, 0));
                    NodeKind::BlockDev { major, minor }
                }
                S_IFIFO => NodeKind::Fifo,
                S_IFSOCK => NodeKind::Socket,
                _ if rr.symlink.is_some() => {
                    NodeKind::Symlink(rr.symlink.clone().unwrap_or_default())
                }
                _ => {
                    let mut map = Vec::new();
                    let mut fo = 0u64;
                    for &(l, s) in &extents {
                        let at = l as u64 * SECTOR;
                        if at.checked_add(s).map(|e| e > src.size()).unwrap_or(true) {
                            return Err(Error::corrupt(FMT, format!("file '/{full}'"), format!("extent at block {l} of {s} bytes runs past the end of the image ({} bytes)", src.size())));
                        }
                        if s > 0 {
                            map.push((fo, at, s));
                        }
                        fo += s;
                    }
                    let data = if let [(_, offset, _)] = map[..] {
                        FileData::Source {
                            src: src.clone(),
                            offset,
                            len: fo,
                        }
                    } else if map.is_empty() {
                        FileData::Bytes(Arc::from(Vec::new()))
                    } else {
                        FileData::Mapped {
                            src: src.clone(),
                            map: Arc::from(map),
                            len: fo,
                        }
                    };
                    NodeKind::File(data)
                }
            };
            if self.rr && rr.ino != 0 && rr.nlink > 1 && matches!(kind, NodeKind::File(_)) {
                if let Some(&id) = self.inodes.get(&(rr.ino, r.lba)) {
                    if let NodeKind::Dir(m) = &mut tree.node_mut(dir).kind {
                        m.insert(name, id);
                    }
                    continue;
                }
                let id = push(tree, dir, &name, Node { kind, meta });
                self.inodes.insert((rr.ino, r.lba), id);
                continue;
            }
            push(tree, dir, &name, Node { kind, meta });
        }
        ancestors.remove(&lba);
        Ok(())
    }
}

fn push(tree: &mut Tree, dir: NodeId, name: &str, node: Node) -> NodeId {
    tree.nodes.push(node);
    let id = tree.nodes.len() - 1;
    if let NodeKind::Dir(m) = &mut tree.node_mut(dir).kind {
        m.insert(name.to_string(), id);
    }
    id
}

fn root_of(vd: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    // The root directory record (ECMA-119 8.4.18), 34 bytes at 156.
    let r = Bytes::new(FMT, "volume descriptor", vd).bytes(156, 34)?;
    let d = DirRecord::parse(r)?;
    Ok((d.extent, d.data_length, r.to_vec()))
}

/// Reads the file tree: Rock Ridge if present, else Joliet, else ISO names.
pub fn read_tree(src: Source) -> Result<Tree> {
    let vds = read_vds(&*src)?;
    let pvd = vds
        .primary
        .as_ref()
        .ok_or_else(|| Error::corrupt(FMT, "volume descriptors", "no primary volume descriptor"))?;
    let (plba, psize, _) = root_of(pvd)?;
    let rr = has_rock_ridge(&*src, plba, psize)?;
    let (lba, size, joliet) = match (&vds.joliet, rr) {
        (Some(j), false) => {
            let (l, s, _) = root_of(j)?;
            (l, s, true)
        }
        _ => (plba, psize, false),
    };
    let mut tree = Tree::new(0);
    let root_recs = parse_dir(
        &*src,
        lba,
        size.min(SECTOR as u32),
        "iso9660 root directory",
    )?;
    if let Some(dot) = root_recs.first() {
        let mut r = Rr::default();
        if rr {
            parse_susp(&*src, &dot.su, 0, &mut r)?;
        }
        let m = &mut tree.node_mut(ROOT).meta;
        m.mtime = r.mtime.unwrap_or_else(|| parse_dir_date(&dot.date));
        m.mode = r.mode.map(|m| m & 0o7777).unwrap_or(0o755);
        m.uid = r.uid;
        m.gid = r.gid;
    }
    let mut reader = Reader {
        src,
        joliet,
        rr,
        entries: 0,
        inodes: BTreeMap::new(),
        relocated: false,
        visited: BTreeSet::new(),
    };
    reader.walk(&mut tree, ROOT, lba, size, "", 0, &mut BTreeSet::new())?;
    if reader.relocated {
        // The directory that held relocated directories is an artefact of
        // the image (mkisofs -R deep directory relocation), not of the tree.
        for name in ["rr_moved", ".rr_moved"] {
            if let Some(id) = tree.lookup(name) {
                if tree.children(id).next().is_none() {
                    if let NodeKind::Dir(m) = &mut tree.node_mut(ROOT).kind {
                        m.remove(name);
                    }
                }
            }
        }
    }
    Ok(tree)
}

fn has_rock_ridge(src: &dyn ReadAt, lba: u32, size: u32) -> Result<bool> {
    let recs = parse_dir(src, lba, size.min(SECTOR as u32), "iso9660 root directory")?;
    Ok(recs
        .first()
        .map(|d| {
            d.su.len() >= 7
                && d.su.get(0..2) == Some(b"SP")
                && d.su.get(4..6) == Some(&[0xBE, 0xEF])
        })
        .unwrap_or(false))
}

fn vd_info(lba: u32, b: &[u8]) -> Result<VolumeDescriptor> {
    let r = Bytes::new(FMT, "volume descriptor", b);
    let kind = r.u8(0)?;
    let joliet = kind == VD_SUPPLEMENTARY
        && JOLIET_ESCAPES
            .iter()
            .any(|e| r.bytes(88, 3).is_ok_and(|x| x == *e));
    let field = |f: std::ops::Range<usize>| r.bytes(f.start, f.len());
    let text = |f: std::ops::Range<usize>| -> Result<String> {
        let f = field(f)?;
        Ok(if joliet { get_ucs2(f) } else { get_str(f) })
    };
    let name = match kind {
        VD_BOOT_RECORD => "boot record",
        VD_PRIMARY => "primary",
        VD_SUPPLEMENTARY if joliet => "supplementary (Joliet)",
        VD_SUPPLEMENTARY => "supplementary",
        3 => "volume partition",
        VD_TERMINATOR => "terminator",
        _ => "unknown",
    };
    let pv = matches!(kind, VD_PRIMARY | VD_SUPPLEMENTARY);
    let pv_text = |f: std::ops::Range<usize>| -> Result<String> {
        if pv {
            text(f)
        } else {
            Ok(String::new())
        }
    };
    let pv_date = |f: std::ops::Range<usize>| -> Result<String> {
        Ok(if pv {
            show_vd_date(field(f)?)
        } else {
            String::new()
        })
    };
    Ok(VolumeDescriptor {
        lba,
        kind,
        name: name.to_string(),
        id: String::from_utf8_lossy(field(1..6)?).into_owned(),
        system_id: if kind == VD_BOOT_RECORD {
            get_str(field(7..39)?)
        } else {
            pv_text(8..40)?
        },
        volume_id: pv_text(40..72)?,
        volume_space_size: if pv { r.le32(80)? } else { 0 },
        logical_block_size: if pv { r.le16(128)? } else { 0 },
        path_table_size: if pv { r.le32(132)? } else { 0 },
        root_lba: if pv { r.le32(158)? } else { 0 },
        publisher: pv_text(318..446)?,
        preparer: pv_text(446..574)?,
        application_id: pv_text(574..702)?,
        creation_date: pv_date(813..830)?,
        modification_date: pv_date(830..847)?,
    })
}

/// Volume descriptors, El Torito catalog and system area of an image.
pub fn report(src: Source) -> Result<IsoReport> {
    let vds = read_vds(&*src)?;
    let mut rep = IsoReport {
        size: src.size(),
        volume_descriptors: vds
            .all
            .iter()
            .map(|(l, b)| vd_info(*l, b))
            .collect::<Result<_>>()?,
        boot_catalog_lba: None,
        boot_catalog_path: None,
        el_torito: Vec::new(),
        system_area: system_area(&*src)?,
        rock_ridge: false,
        joliet: vds.joliet.is_some(),
    };
    // Paths of files by extent, for naming the catalog and images.
    let mut by_lba: BTreeMap<u32, String> = BTreeMap::new();
    if let Some(p) = &vds.primary {
        let (l, s, _) = root_of(p)?;
        rep.rock_ridge = has_rock_ridge(&*src, l, s).unwrap_or(false);
    }
    if let Ok(tree) = read_tree(src.clone()) {
        for (path, id) in tree.walk() {
            if let NodeKind::File(FileData::Source { offset, .. }) = &tree.node(id).kind {
                by_lba
                    .entry((offset / SECTOR) as u32)
                    .or_insert(format!("/{path}"));
            }
        }
    }
    if let Some(br) = &vds.boot {
        let cat_lba = le32(br, 71);
        rep.boot_catalog_lba = Some(cat_lba);
        rep.boot_catalog_path = by_lba.get(&cat_lba).cloned();
        let cat = read_vec(
            &*src,
            cat_lba as u64 * SECTOR,
            SECTOR,
            SECTOR,
            "iso9660 El Torito boot catalog",
        )?;
        let cr = Bytes::new(FMT, "El Torito boot catalog", &cat);
        if cr.u8(0)? != 1 || cr.bytes(30, 2)? != [0x55, 0xAA] {
            return Err(Error::corrupt(
                FMT,
                "El Torito boot catalog",
                "no validation entry",
            ));
        }
        let mut platform = cr.u8(1)?;
        let entry = |e: &[u8], platform: u8, rep: &mut IsoReport| -> Result<()> {
            let e = BootCatalogEntry::parse(e)?;
            let lba = e.load_rba;
            let mut bit = [0u8; 12];
            let bit_ok = src.read_at(lba as u64 * SECTOR + 8, &mut bit).is_ok()
                && le32(&bit, 0) == 16
                && le32(&bit, 4) == lba;
            rep.el_torito.push(BootEntry {
                platform,
                platform_name: match platform {
                    PLATFORM_X86 => "BIOS",
                    PLATFORM_PPC => "PPC",
                    PLATFORM_MAC => "Mac",
                    PLATFORM_EFI => "UEFI",
                    _ => "unknown",
                }
                .to_string(),
                bootable: e.boot_indicator == BOOTABLE,
                emulation: match e.boot_media_type & 0x0F {
                    MEDIA_NO_EMUL => "none",
                    MEDIA_FLOPPY_1200 => "fd1.2",
                    MEDIA_FLOPPY_1440 => "fd1.44",
                    MEDIA_FLOPPY_2880 => "fd2.88",
                    MEDIA_HARD_DISK => "hd",
                    _ => "unknown",
                }
                .to_string(),
                load_segment: e.load_segment,
                system_type: e.system_type,
                sectors: e.sector_count,
                lba,
                path: by_lba.get(&lba).cloned(),
                boot_info_table: bit_ok,
            });
            Ok(())
        };
        entry(cr.bytes(32, 32)?, platform, &mut rep)?;
        let mut off = 64;
        let mut left_in_section = 0u32;
        while let Ok(e) = cr.bytes(off, 32) {
            off += 32;
            if left_in_section > 0 {
                left_in_section -= 1;
                entry(e, platform, &mut rep)?;
                continue;
            }
            let er = Bytes::new(FMT, "El Torito section header", e);
            match er.u8(0)? {
                SECTION_HEADER_MORE | SECTION_HEADER_LAST => {
                    platform = er.u8(1)?;
                    left_in_section = er.le16(2)? as u32;
                }
                _ => break,
            }
        }
    }
    Ok(rep)
}

fn system_area(src: &dyn ReadAt) -> Result<SystemArea> {
    let sa = read_vec(src, 0, 2 * 512, 1024, "iso9660 system area")?;
    let mut out = SystemArea::default();
    if mbr::has_boot_signature(&sa) {
        out.mbr = true;
        for (i, e) in mbr::records(&sa)?.iter().enumerate() {
            if e.os_type != 0 || e.size_in_lba != 0 {
                out.mbr_partitions.push(MbrPartition {
                    number: i as u8 + 1,
                    status: e.boot_indicator,
                    kind: e.os_type,
                    start: e.starting_lba,
                    blocks: e.size_in_lba,
                });
            }
        }
    }
    let h = Bytes::new(FMT, "system area", &sa).sub(512, 92, "GPT header")?;
    if h.bytes(0, 8)? == gpt::GPT_SIGNATURE {
        out.gpt = true;
        // xorriso reports the entries without checking the header CRC.
        let entries_lba = h.le64(72)?;
        let n = h.le32(80)?.min(1024);
        let esz = h.le32(84)?;
        if esz == 128 {
            if let Ok(arr) = read_vec(
                src,
                entries_lba.saturating_mul(512),
                n as u64 * 128,
                128 * 1024,
                "iso9660 GPT entries",
            ) {
                for (i, e) in arr.chunks_exact(128).enumerate() {
                    let e = gpt::GptEntry::parse(e)?;
                    if e.partition_type_guid.is_zero() {
                        continue;
                    }
                    out.gpt_partitions
                        .push((i as u32 + 1, e.starting_lba, e.ending_lba, e.name()));
                }
            }
        }
    }
    Ok(out)
}

/// A text rendering of a report in the manner of
/// `xorriso -report_el_torito plain -report_system_area plain`.
pub fn render_report(r: &IsoReport) -> String {
    let mut s = String::new();
    for vd in &r.volume_descriptors {
        s += &format!("Volume descriptor  : {:3}  {}", vd.lba, vd.name);
        if !vd.volume_id.is_empty() {
            s += &format!("  id '{}'", vd.volume_id);
        }
        if vd.volume_space_size != 0 {
            s += &format!("  {} blocks", vd.volume_space_size);
        }
        if !vd.creation_date.is_empty() {
            s += &format!("  created {}", vd.creation_date);
        }
        s += "\n";
    }
    if let Some(l) = r.boot_catalog_lba {
        s += &format!("El Torito catalog  : {l}  1\n");
        if let Some(p) = &r.boot_catalog_path {
            s += &format!("El Torito cat path : {p}\n");
        }
        s += "El Torito images   :   N  Pltf  B   Emul  Ld_seg  Hdpt  Ldsiz         LBA\n";
        for (i, e) in r.el_torito.iter().enumerate() {
            s += &format!(
                "El Torito boot img : {:3}  {:4}  {}   {:4}  0x{:04x}  0x{:02x}  {:5}  {:10}\n",
                i + 1,
                e.platform_name,
                if e.bootable { "y" } else { "n" },
                e.emulation,
                e.load_segment,
                e.system_type,
                e.sectors,
                e.lba
            );
        }
        for (i, e) in r.el_torito.iter().enumerate() {
            if let Some(p) = &e.path {
                s += &format!("El Torito img path : {:3}  {p}\n", i + 1);
            }
            if e.boot_info_table {
                s += &format!("El Torito img opts : {:3}  boot-info-table\n", i + 1);
            }
        }
    }
    let sa = &r.system_area;
    if sa.mbr {
        s += "MBR partition table:   N Status  Type        Start       Blocks\n";
        for p in &sa.mbr_partitions {
            s += &format!(
                "MBR partition      : {:3}   0x{:02x}  0x{:02x}  {:11}  {:11}\n",
                p.number, p.status, p.kind, p.start, p.blocks
            );
        }
    }
    if sa.gpt {
        for (n, first, last, name) in &sa.gpt_partitions {
            s += &format!("GPT partition      : {n:3}  {first}  {last}  {name}\n");
        }
    }
    s
}
