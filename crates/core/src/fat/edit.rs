//! Editing an existing FAT12/16/32 volume in place (made by mkfs.fat, by
//! mtools or by imgforge): creating directories and adding or replacing
//! files, as `mmd` and `mcopy -o` do.
//!
//! The core cannot write files, so an [`Editor`] reads only what it needs
//! (the boot sector, the FAT, FSInfo and the directories on the paths it
//! touches) and [`Editor::finish`] returns byte patches `(offset in the
//! volume, bytes)` for the caller to write: new file data, changed
//! directories, the changed sectors of every FAT copy and FSInfo.
//!
//! Clusters are taken first-fit from cluster 2 (both FATs updated, or only
//! the active one when FAT32 mirroring is off, fatgen103 "BPB_ExtFlags");
//! FAT32's FSInfo gets the new free count and the last allocated cluster as
//! its next-free hint (as Linux does). Names follow the writer (Linux vfat /
//! mtools: an exact upper- or lower-case 8.3 name alone, else a long name
//! and a `~N` short name). Every timestamp is the build epoch.

use super::raw::*;
use super::read::Volume;
use super::write::{fat_name, ShortNames};
use crate::io::{read_vec, ReadAt};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The FAT is at most 2^28 entries of 4 bytes (as the reader).
const FAT_CAP: u64 = 1 << 30;
/// A directory holds at most 65536 entries (fatgen103), 2 MiB.
const DIR_CAP: u64 = 65536 * 32;
/// Key of the fixed FAT12/16 root directory in [`Editor::dirs`].
const FIXED_ROOT: u32 = 0;

/// A directory loaded for editing.
struct Dir {
    /// Its clusters in chain order (empty for the fixed FAT12/16 root).
    clusters: Vec<u32>,
    bytes: Vec<u8>,
    dirty: bool,
}

/// One name found in a directory.
struct Found {
    name: String,
    /// Slot index of the short entry.
    slot: usize,
    entry: DirEntry,
}

/// An edit of one FAT volume; see the module documentation.
pub struct Editor<'a> {
    src: &'a dyn ReadAt,
    /// Names the volume in errors ("ESP (partition 1)").
    what: String,
    vol: Volume,
    /// The first FAT, whole sectors.
    fat: Vec<u8>,
    /// Sector numbers (inside one FAT) that changed.
    fat_dirty: BTreeSet<u64>,
    dirs: BTreeMap<u32, Dir>,
    /// New file data by volume offset.
    data: BTreeMap<u64, Vec<u8>>,
    epoch: i64,
    last_alloc: Option<u32>,
    /// Every cluster below this one is in use: first fit starts here.
    hint: u32,
}

impl<'a> Editor<'a> {
    /// Opens the volume in `src` (the partition's bytes); `what` names it
    /// in errors; `epoch` is every new timestamp.
    pub fn open(src: &'a dyn ReadAt, what: &str, epoch: i64) -> Result<Editor<'a>> {
        let vol = Volume::open(src)?;
        let needed = ((vol.cluster_count as u64 + 2) * vol.fat_type.bits() as u64).div_ceil(8);
        let len = needed.next_multiple_of(vol.sector_size).min(vol.fat_bytes);
        let fat = read_vec(src, vol.fat_offset, len, FAT_CAP, "FAT")?;
        Ok(Editor {
            src,
            what: what.to_string(),
            vol,
            fat,
            fat_dirty: BTreeSet::new(),
            dirs: BTreeMap::new(),
            data: BTreeMap::new(),
            epoch,
            last_alloc: None,
            hint: 2,
        })
    }

    /// The volume's geometry.
    pub fn volume(&self) -> &Volume {
        &self.vol
    }

    fn corrupt(&self, field: impl Into<String>, msg: impl std::fmt::Display) -> Error {
        Error::corrupt("fat", format!("{}: {}", self.what, field.into()), msg)
    }

    /// FAT entry `n` (the caller checked `n` is a cluster of the volume).
    fn get(&self, n: u32) -> u32 {
        let at = |i: usize| self.fat.get(i).copied().unwrap_or(0) as u32;
        let n = n as usize;
        match self.vol.fat_type {
            FatType::Fat12 => {
                let o = n * 3 / 2;
                let v = at(o) | (at(o + 1) << 8);
                if n.is_multiple_of(2) {
                    v & 0xFFF
                } else {
                    v >> 4
                }
            }
            FatType::Fat16 => at(n * 2) | (at(n * 2 + 1) << 8),
            FatType::Fat32 => {
                (at(n * 4) | (at(n * 4 + 1) << 8) | (at(n * 4 + 2) << 16) | (at(n * 4 + 3) << 24))
                    & 0x0FFF_FFFF
            }
        }
    }

    fn set_byte(&mut self, i: usize, v: u8) -> Result<()> {
        let ss = self.vol.sector_size;
        let b = self
            .fat
            .get_mut(i)
            .ok_or_else(|| Error::corrupt("fat", "FAT", format!("byte {i} past the FAT")))?;
        *b = v;
        self.fat_dirty.insert(i as u64 / ss);
        Ok(())
    }

    /// Sets FAT entry `n`; FAT32 keeps the entry's reserved high 4 bits.
    fn set(&mut self, n: u32, v: u32) -> Result<()> {
        let n = n as usize;
        match self.vol.fat_type {
            FatType::Fat12 => {
                let o = n * 3 / 2;
                let old = self.fat.get(o).copied().unwrap_or(0) as u16
                    | (self.fat.get(o + 1).copied().unwrap_or(0) as u16) << 8;
                let v = v as u16 & 0xFFF;
                let new = if n.is_multiple_of(2) {
                    (old & 0xF000) | v
                } else {
                    (old & 0x000F) | (v << 4)
                };
                self.set_byte(o, new as u8)?;
                self.set_byte(o + 1, (new >> 8) as u8)?;
            }
            FatType::Fat16 => {
                self.set_byte(n * 2, v as u8)?;
                self.set_byte(n * 2 + 1, (v >> 8) as u8)?;
            }
            FatType::Fat32 => {
                let high = self.fat.get(n * 4 + 3).copied().unwrap_or(0) & 0xF0;
                let b = (v & 0x0FFF_FFFF).to_le_bytes();
                self.set_byte(n * 4, b[0])?;
                self.set_byte(n * 4 + 1, b[1])?;
                self.set_byte(n * 4 + 2, b[2])?;
                self.set_byte(n * 4 + 3, b[3] | high)?;
            }
        }
        Ok(())
    }

    fn in_range(&self, c: u32) -> bool {
        c >= 2 && c < self.vol.cluster_count + 2
    }

    /// The chain from `first`, checked for loops, free and bad entries.
    fn chain(&self, first: u32, what: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut c = first;
        loop {
            if !self.in_range(c) {
                return Err(self.corrupt(
                    what,
                    format!("cluster chain points at cluster {c}, outside the volume"),
                ));
            }
            if !seen.insert(c) {
                return Err(self.corrupt(what, format!("cluster chain loops back to {c}")));
            }
            out.push(c);
            let next = self.get(c);
            if next >= self.vol.fat_type.eoc_min() {
                return Ok(out);
            }
            if next == 0 || next == self.vol.fat_type.bad() {
                return Err(self.corrupt(
                    what,
                    format!("cluster chain runs into a free or bad cluster after {c}"),
                ));
            }
            c = next;
        }
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.vol.data_offset + (c as u64 - 2) * self.vol.cluster_bytes
    }

    fn free_count(&self) -> u64 {
        (2..self.vol.cluster_count + 2)
            .filter(|&c| self.get(c) == 0)
            .count() as u64
    }

    /// Allocates and links `n` clusters (first fit), returning them in order.
    fn allocate(&mut self, n: u64, path: &str) -> Result<Vec<u32>> {
        let mut got = Vec::new();
        if n > 0 {
            for c in self.hint.max(2)..self.vol.cluster_count + 2 {
                if self.get(c) == 0 {
                    got.push(c);
                    if got.len() as u64 == n {
                        break;
                    }
                }
            }
        }
        if (got.len() as u64) < n {
            let cb = self.vol.cluster_bytes;
            return Err(Error::no_space(
                self.what.clone(),
                format!(
                    "{path} needs {} bytes ({n} clusters of {cb}); {} bytes are free",
                    n * cb,
                    self.free_count() * cb
                ),
            ));
        }
        let eoc = self.vol.fat_type.eoc();
        for i in 0..got.len() {
            let next = got.get(i + 1).copied().unwrap_or(eoc);
            self.set(got[i], next)?;
        }
        if let Some(&l) = got.last() {
            self.last_alloc = Some(l);
            self.hint = l + 1;
        }
        Ok(got)
    }

    fn free_chain(&mut self, first: u32, what: &str) -> Result<()> {
        for c in self.chain(first, what)? {
            self.set(c, 0)?;
            self.hint = self.hint.min(c);
        }
        Ok(())
    }

    fn root_key(&self) -> u32 {
        if self.vol.fat_type == FatType::Fat32 {
            self.vol.bpb.root_clus
        } else {
            FIXED_ROOT
        }
    }

    fn load_dir(&mut self, key: u32, path: &str) -> Result<()> {
        if self.dirs.contains_key(&key) {
            return Ok(());
        }
        let what = format!("directory {path}");
        let dir = if key == FIXED_ROOT {
            let bytes = read_vec(
                self.src,
                self.vol.root_offset,
                self.vol.root_entries * 32,
                DIR_CAP,
                &what,
            )?;
            Dir {
                clusters: Vec::new(),
                bytes,
                dirty: false,
            }
        } else {
            let clusters = self.chain(key, &what)?;
            let total = clusters.len() as u64 * self.vol.cluster_bytes;
            if total > DIR_CAP.max(self.vol.cluster_bytes) {
                return Err(self.corrupt(
                    what,
                    format!("{total} bytes, more than the 65536 entries FAT allows"),
                ));
            }
            let mut bytes = Vec::with_capacity(total as usize);
            for &c in &clusters {
                bytes.extend(read_vec(
                    self.src,
                    self.cluster_offset(c),
                    self.vol.cluster_bytes,
                    DIR_CAP.max(self.vol.cluster_bytes),
                    &what,
                )?);
            }
            Dir {
                clusters,
                bytes,
                dirty: false,
            }
        };
        self.dirs.insert(key, dir);
        Ok(())
    }

    /// The names in a loaded directory (no `.`, `..` or label).
    fn list(&self, key: u32) -> Vec<Found> {
        let Some(dir) = self.dirs.get(&key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut lfn: Option<(u8, u8, Vec<[u16; 13]>)> = None;
        for (slot, raw) in dir.bytes.chunks_exact(32).enumerate() {
            if raw[0] == 0 {
                break;
            }
            if raw[0] == DIR_DELETED {
                lfn = None;
                continue;
            }
            if raw[11] & 0x3F == ATTR_LONG_NAME {
                let ord = raw[0];
                let sum = raw[13];
                let mut units = [0u16; 13];
                for (i, &o) in LFN_UNIT_OFFSETS.iter().enumerate() {
                    units[i] = u16::from_le_bytes([raw[o], raw[o + 1]]);
                }
                let n = ord & 0x1F;
                if ord & LAST_LONG_ENTRY != 0 && n >= 1 {
                    let mut parts = vec![[0u16; 13]; n as usize];
                    parts[n as usize - 1] = units;
                    lfn = Some((sum, n - 1, parts));
                } else if let Some((s, expect, parts)) = &mut lfn {
                    if *s == sum && n == *expect && n >= 1 {
                        parts[n as usize - 1] = units;
                        *expect -= 1;
                    } else {
                        lfn = None;
                    }
                }
                continue;
            }
            // A 32-byte slot always parses; a short one ends the walk.
            let Ok(e) = DirEntry::parse(raw) else { break };
            let long = lfn.take();
            if e.attr & ATTR_VOLUME_ID != 0
                || &e.name == b".          "
                || &e.name == b"..         "
            {
                continue;
            }
            let long_name = long.and_then(|(sum, expect, parts)| {
                if expect != 0 || sum != lfn_checksum(&e.name) {
                    return None;
                }
                let units: Vec<u16> = parts
                    .iter()
                    .flatten()
                    .copied()
                    .take_while(|&u| u != 0)
                    .collect();
                String::from_utf16(&units).ok()
            });
            let name = long_name.unwrap_or_else(|| short_string(&e));
            out.push(Found {
                name,
                slot,
                entry: e,
            });
        }
        out
    }

    fn lookup(&self, key: u32, name: &str) -> Option<Found> {
        let want = name.to_lowercase();
        self.list(key)
            .into_iter()
            .find(|f| f.name.to_lowercase() == want)
    }

    fn stamp(&self, e: &mut DirEntry) {
        let (date, time, tenth) = encode_time(self.epoch);
        e.crt_time_tenth = tenth;
        e.crt_time = time;
        e.crt_date = date;
        e.lst_acc_date = date;
        e.wrt_time = time;
        e.wrt_date = date;
    }

    /// Adds a name to directory `key`: long name entries and the short
    /// entry; grows the directory by a cluster when no run of free slots is
    /// long enough.
    fn add_entry(&mut self, key: u32, name: &str, path: &str, mut e: DirEntry) -> Result<()> {
        let mut used = ShortNames::default();
        if let Some(dir) = self.dirs.get(&key) {
            for raw in dir.bytes.chunks_exact(32) {
                if raw[0] == 0 {
                    break;
                }
                if raw[0] != DIR_DELETED && raw[11] & 0x3F != ATTR_LONG_NAME {
                    let mut s = [0u8; 11];
                    s.copy_from_slice(&raw[..11]);
                    used.mark_used(s);
                }
            }
        }
        let fname = fat_name(name, path, &mut used)?;
        e.name = fname.short;
        e.nt_res = fname.nt_res;
        let mut slots: Vec<[u8; 32]> = Vec::new();
        if let Some(units) = &fname.long {
            let sum = lfn_checksum(&fname.short);
            let parts: Vec<&[u16]> = units.chunks(LFN_CHARS).collect();
            for (i, part) in parts.iter().enumerate().rev() {
                let mut ord = i as u8 + 1;
                if i + 1 == parts.len() {
                    ord |= LAST_LONG_ENTRY;
                }
                slots.push(lfn_entry(ord, sum, part)?);
            }
        }
        slots.push(e.to_bytes()?);
        let need = slots.len();
        let at = loop {
            let dir = self
                .dirs
                .get(&key)
                .ok_or_else(|| Error::invalid(path, "directory not loaded"))?;
            if let Some(at) = free_run(&dir.bytes, need) {
                break at;
            }
            if key == FIXED_ROOT {
                return Err(Error::no_space(
                    self.what.clone(),
                    format!(
                        "the root directory's {} entries are all used (adding {path})",
                        self.vol.root_entries
                    ),
                ));
            }
            if dir.bytes.len() as u64 + self.vol.cluster_bytes > DIR_CAP {
                return Err(Error::no_space(
                    self.what.clone(),
                    format!("directory of {path} holds 65536 entries"),
                ));
            }
            let last = dir.clusters.last().copied();
            let new = self.allocate(1, path)?;
            if let (Some(l), Some(&n)) = (last, new.first()) {
                self.set(l, n)?;
            }
            let cb = self.vol.cluster_bytes as usize;
            if let Some(dir) = self.dirs.get_mut(&key) {
                dir.clusters.extend(new);
                dir.bytes.resize(dir.bytes.len() + cb, 0);
            }
        };
        let dir = self
            .dirs
            .get_mut(&key)
            .ok_or_else(|| Error::invalid(path, "directory not loaded"))?;
        for (i, s) in slots.iter().enumerate() {
            let o = (at + i) * 32;
            if let Some(b) = dir.bytes.get_mut(o..o + 32) {
                b.copy_from_slice(s);
            }
        }
        dir.dirty = true;
        Ok(())
    }

    /// Walks to the directory `path` (`/`-separated), creating what is
    /// missing when `create`; returns its key, or `None` when it does not
    /// exist and `create` is false.
    fn dir_at(&mut self, path: &str, create: bool) -> Result<Option<u32>> {
        let mut key = self.root_key();
        self.load_dir(key, "/")?;
        let mut so_far = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            so_far.push('/');
            so_far.push_str(part);
            match self.lookup(key, part) {
                Some(f) if f.entry.attr & ATTR_DIRECTORY != 0 => {
                    let c = f.entry.fst_clus;
                    // A `..` style 0 means the root.
                    key = if c == 0 { self.root_key() } else { c };
                    if key != FIXED_ROOT && !self.in_range(key) {
                        return Err(
                            self.corrupt(so_far, format!("first cluster {c} outside the volume"))
                        );
                    }
                    self.load_dir(key, &so_far)?;
                }
                Some(_) => {
                    return Err(Error::invalid(
                        format!("{}: {so_far}", self.what),
                        "is a file, not a directory",
                    ))
                }
                None if !create => return Ok(None),
                None => {
                    let c = *self.allocate(1, &so_far)?.first().ok_or_else(|| {
                        Error::no_space(self.what.clone(), "no cluster for a directory")
                    })?;
                    let mut e = DirEntry {
                        attr: ATTR_DIRECTORY,
                        fst_clus: c,
                        ..DirEntry::default()
                    };
                    self.stamp(&mut e);
                    let mut bytes = vec![0u8; self.vol.cluster_bytes as usize];
                    let mut dot = e.clone();
                    dot.name = *b".          ";
                    let mut dotdot = e.clone();
                    dotdot.name = *b"..         ";
                    // `..` of a directory in the root is cluster 0 (fatgen103).
                    dotdot.fst_clus = if key == self.root_key() { 0 } else { key };
                    bytes[..32].copy_from_slice(&dot.to_bytes()?);
                    bytes[32..64].copy_from_slice(&dotdot.to_bytes()?);
                    self.add_entry(key, part, &so_far, e)?;
                    self.dirs.insert(
                        c,
                        Dir {
                            clusters: vec![c],
                            bytes,
                            dirty: true,
                        },
                    );
                    key = c;
                }
            }
        }
        Ok(Some(key))
    }

    /// Creates the directory `path` and its parents (as `mmd -p`).
    pub fn mkdir_p(&mut self, path: &str) -> Result<()> {
        self.dir_at(path, true).map(|_| ())
    }

    /// True if `path` names a file or directory.
    pub fn exists(&mut self, path: &str) -> Result<bool> {
        let (parent, name) = split(path);
        Ok(match self.dir_at(parent, false)? {
            Some(k) => name.is_empty() || self.lookup(k, name).is_some(),
            None => false,
        })
    }

    /// Writes `data` as the file `path`, creating its directories; an
    /// existing file is replaced (its clusters freed first, so a file
    /// replaced by one no larger always fits).
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let (parent, name) = split(path);
        if name.is_empty() {
            return Err(Error::invalid(path, "names no file"));
        }
        if data.len() as u64 > u32::MAX as u64 {
            return Err(Error::no_space(
                path,
                "FAT files are at most 4 GiB - 1 byte",
            ));
        }
        let key = self
            .dir_at(parent, true)?
            .ok_or_else(|| Error::invalid(path, "no parent directory"))?;
        let existing = self.lookup(key, name);
        if let Some(f) = &existing {
            if f.entry.attr & ATTR_DIRECTORY != 0 {
                return Err(Error::invalid(
                    format!("{}: {path}", self.what),
                    "is a directory",
                ));
            }
            if f.entry.fst_clus != 0 {
                self.free_chain(f.entry.fst_clus, path)?;
            }
        }
        let cb = self.vol.cluster_bytes;
        let n = (data.len() as u64).div_ceil(cb);
        let clusters = self.allocate(n, path)?;
        // Contiguous runs become one patch each.
        let mut i = 0;
        while i < clusters.len() {
            let mut j = i + 1;
            while j < clusters.len() && clusters[j] == clusters[j - 1] + 1 {
                j += 1;
            }
            let from = (i as u64 * cb) as usize;
            let to = ((j as u64 * cb) as usize).min(data.len());
            let mut chunk = data.get(from..to).unwrap_or(&[]).to_vec();
            chunk.resize(((j - i) as u64 * cb) as usize, 0);
            self.data.insert(self.cluster_offset(clusters[i]), chunk);
            i = j;
        }
        let first = clusters.first().copied().unwrap_or(0);
        match existing {
            Some(f) => {
                let mut e = f.entry;
                e.fst_clus = first;
                e.file_size = data.len() as u32;
                let (date, time, _) = encode_time(self.epoch);
                e.wrt_date = date;
                e.wrt_time = time;
                e.lst_acc_date = date;
                e.attr |= ATTR_ARCHIVE;
                let dir = self
                    .dirs
                    .get_mut(&key)
                    .ok_or_else(|| Error::invalid(path, "directory not loaded"))?;
                let o = f.slot * 32;
                let encoded = e.to_bytes()?;
                if let Some(b) = dir.bytes.get_mut(o..o + 32) {
                    b.copy_from_slice(&encoded);
                }
                dir.dirty = true;
            }
            None => {
                let mut e = DirEntry {
                    attr: ATTR_ARCHIVE,
                    fst_clus: first,
                    file_size: data.len() as u32,
                    ..DirEntry::default()
                };
                self.stamp(&mut e);
                self.add_entry(key, name, path, e)?;
            }
        }
        Ok(())
    }

    /// The byte patches `(offset in the volume, bytes)` of the edit: file
    /// data, directories, FAT sectors (every copy kept in step), FSInfo.
    pub fn finish(self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out: Vec<(u64, Vec<u8>)> = self.data.into_iter().collect();
        let cb = self.vol.cluster_bytes as usize;
        for (key, dir) in &self.dirs {
            if !dir.dirty {
                continue;
            }
            if *key == FIXED_ROOT {
                out.push((self.vol.root_offset, dir.bytes.clone()));
            } else {
                for (i, &c) in dir.clusters.iter().enumerate() {
                    let b = dir.bytes.get(i * cb..(i + 1) * cb).unwrap_or(&[]);
                    out.push((
                        self.vol.data_offset + (c as u64 - 2) * cb as u64,
                        b.to_vec(),
                    ));
                }
            }
        }
        let ss = self.vol.sector_size;
        let bpb = &self.vol.bpb;
        // BPB_ExtFlags bit 7: only the FAT numbered in bits 0-3 is active.
        let copies: Vec<u64> = if self.vol.fat_type == FatType::Fat32 && bpb.ext_flags & 0x80 != 0 {
            vec![(bpb.ext_flags & 0x0F) as u64]
        } else {
            (0..bpb.num_fats as u64).collect()
        };
        for &s in &self.fat_dirty {
            let from = (s * ss) as usize;
            let to = (from + ss as usize).min(self.fat.len());
            let bytes = self.fat.get(from..to).unwrap_or(&[]).to_vec();
            for &k in &copies {
                out.push((
                    self.vol.fat_offset + k * self.vol.fat_bytes + s * ss,
                    bytes.clone(),
                ));
            }
        }
        if self.vol.fat_type == FatType::Fat32 && bpb.fs_info != 0 && bpb.fs_info < bpb.rsvd_sec_cnt
        {
            let off = bpb.fs_info as u64 * ss;
            let mut s = read_vec(self.src, off, 512, 512, "FSInfo")?;
            let sig = |o: usize| u32::from_le_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]]);
            if sig(0) == FSI_LEAD_SIG && sig(484) == FSI_STRUC_SIG && sig(508) == FSI_TRAIL_SIG {
                let free = (2..self.vol.cluster_count + 2)
                    .filter(|&c| {
                        let o = c as usize * 4;
                        self.fat.get(o..o + 4).is_some_and(|b| {
                            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x0FFF_FFFF == 0
                        })
                    })
                    .count() as u32;
                s[488..492].copy_from_slice(&free.to_le_bytes());
                if let Some(l) = self.last_alloc {
                    s[492..496].copy_from_slice(&l.to_le_bytes());
                }
                out.push((off, s));
            }
        }
        Ok(out)
    }
}

/// `(parent directory, last name)` of a `/`-separated path.
fn split(path: &str) -> (&str, &str) {
    let p = path.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

/// The first run of `n` free slots (deleted, or at/after the end marker).
fn free_run(bytes: &[u8], n: usize) -> Option<usize> {
    let mut run = 0;
    for (i, raw) in bytes.chunks_exact(32).enumerate() {
        if raw[0] == 0 {
            // Everything from the end marker on is free.
            let start = i - run;
            return (bytes.len() / 32 - start >= n).then_some(start);
        }
        if raw[0] == DIR_DELETED {
            run += 1;
            if run == n {
                return Some(i + 1 - n);
            }
        } else {
            run = 0;
        }
    }
    None
}

/// The name a short entry shows: base.ext with the NT lowercase flags.
fn short_string(e: &DirEntry) -> String {
    let mut name = e.name;
    if name[0] == DIR_KANJI_E5 {
        name[0] = DIR_DELETED;
    }
    let conv = |b: &[u8], lower: bool| -> String {
        let s: String = b
            .iter()
            .map(|&c| {
                let c = c as char;
                if lower {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        s.trim_end_matches(' ').to_string()
    };
    let base = conv(&name[..8], e.nt_res & NTRES_LOWER_BASE != 0);
    let ext = conv(&name[8..], e.nt_res & NTRES_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fat::{build, read_tree, FatOptions};
    use crate::io::source_from_vec;
    use crate::tree::Tree;
    use crate::BuildContext;

    fn volume(bits: Option<u32>, size: u64) -> Vec<u8> {
        let mut t = Tree::new(0);
        t.add_file("EFI/BOOT/old.txt", b"old".to_vec()).unwrap();
        let opts = FatOptions {
            size: Some(size),
            fat_type: bits.and_then(FatType::from_bits),
            ..FatOptions::default()
        };
        let d = build(&t, &opts, &BuildContext::default()).unwrap();
        let mut v = vec![0u8; d.size() as usize];
        d.read_at(0, &mut v).unwrap();
        v
    }

    fn apply(img: &mut [u8], patches: Vec<(u64, Vec<u8>)>) {
        for (o, b) in patches {
            img[o as usize..o as usize + b.len()].copy_from_slice(&b);
        }
    }

    fn file(img: &[u8], path: &str) -> Option<Vec<u8>> {
        let t = read_tree(source_from_vec(img.to_vec())).unwrap();
        let id = t.lookup(path)?;
        match &t.node(id).kind {
            crate::tree::NodeKind::File(d) => {
                let mut v = vec![0u8; d.len() as usize];
                d.read_at(0, &mut v).unwrap();
                Some(v)
            }
            _ => None,
        }
    }

    #[test]
    fn adds_and_replaces_on_fat12_16_32() {
        for (bits, size) in [(12, 4 << 20), (16, 32 << 20), (32, 64 << 20)] {
            let mut img = volume(Some(bits), size);
            let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
            let mut e = Editor::open(&img, "ESP", 1_700_000_000).unwrap();
            e.write_file("/EFI/BOOT/BOOTX64.EFI", &big).unwrap();
            e.write_file("/EFI/BOOT/grub.cfg", b"set timeout=1\n")
                .unwrap();
            e.write_file("/boot/grub/a long file name.cfg", b"x")
                .unwrap();
            let p = e.finish().unwrap();
            apply(&mut img, p);
            assert_eq!(
                file(&img, "EFI/BOOT/BOOTX64.EFI").unwrap(),
                big,
                "FAT{bits}"
            );
            assert_eq!(file(&img, "EFI/BOOT/grub.cfg").unwrap(), b"set timeout=1\n");
            assert_eq!(file(&img, "EFI/BOOT/old.txt").unwrap(), b"old");
            assert_eq!(file(&img, "boot/grub/a long file name.cfg").unwrap(), b"x");
            // Replacing frees the old clusters: the free count comes back.
            let before = crate::fat::info(&img.as_slice()).unwrap().free_bytes;
            let mut e = Editor::open(&img, "ESP", 0).unwrap();
            e.write_file("/efi/boot/bootx64.efi", b"small").unwrap();
            let p = e.finish().unwrap();
            apply(&mut img, p);
            assert_eq!(file(&img, "EFI/BOOT/BOOTX64.EFI").unwrap(), b"small");
            let after = crate::fat::info(&img.as_slice()).unwrap().free_bytes;
            assert!(after > before, "FAT{bits}: {after} <= {before}");
        }
    }

    #[test]
    fn grows_a_directory_past_one_cluster() {
        let mut img = volume(Some(32), 64 << 20);
        let mut e = Editor::open(&img, "ESP", 0).unwrap();
        for i in 0..100 {
            e.write_file(
                &format!("/d/file number {i}.txt"),
                format!("{i}").as_bytes(),
            )
            .unwrap();
        }
        let p = e.finish().unwrap();
        apply(&mut img, p);
        for i in [0, 57, 99] {
            assert_eq!(
                file(&img, &format!("d/file number {i}.txt")).unwrap(),
                format!("{i}").as_bytes()
            );
        }
    }

    #[test]
    fn no_space_names_the_volume_and_the_bytes() {
        let img = volume(Some(12), 1 << 20);
        let mut e = Editor::open(&img, "ESP (partition 1)", 0).unwrap();
        let err = e
            .write_file("/big", &vec![1u8; 2 << 20])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESP (partition 1)"), "{err}");
        assert!(err.contains("needs 2097152 bytes"), "{err}");
    }

    #[test]
    fn refuses_a_file_where_a_directory_is_wanted() {
        let img = volume(Some(16), 32 << 20);
        let mut e = Editor::open(&img, "ESP", 0).unwrap();
        assert!(e.write_file("/EFI/BOOT/old.txt/x", b"1").is_err());
        assert!(e.write_file("/EFI/BOOT", b"1").is_err());
    }

    /// Hostile volumes: mutated boot sectors, FATs and directories give
    /// errors or edits, never a panic or a hang; the small volumes keep
    /// each round quick.
    #[test]
    fn mutated_volumes_never_panic() {
        use crate::testutil::{mutate_bytes, XorShift};
        let mut rng = XorShift(0x6772_7562);
        for (bits, size) in [(12, 1 << 20), (16, 16 << 20), (32, 33 << 20)] {
            let mut base = volume(Some(bits), size);
            {
                let mut e = Editor::open(&base, "ESP", 0).unwrap();
                for i in 0..20 {
                    e.write_file(&format!("/EFI/BOOT/long name {i}.mod"), &[i as u8; 3000])
                        .unwrap();
                }
                let p = e.finish().unwrap();
                apply(&mut base, p);
            }
            // Mutations in the metadata: boot sector, FATs, root, first
            // directories (the data behind them is file bytes).
            let meta = (base.len()).min(256 << 10);
            for _ in 0..150 {
                let mut head = base[..meta].to_vec();
                mutate_bytes(&mut head, &mut rng);
                let mut v = head;
                v.extend_from_slice(&base[meta..]);
                if let Ok(mut e) = Editor::open(&v, "ESP", 0) {
                    let _ = e.write_file("/EFI/BOOT/BOOTX64.EFI", &[7u8; 5000]);
                    let _ = e.write_file("/EFI/BOOT/long name 3.mod", b"x");
                    let _ = e.exists("/EFI/BOOT/grub.cfg");
                    let _ = e.finish();
                }
            }
        }
    }
}
