//! Editing an existing qcow2 image in place: growing its virtual size (as
//! `qemu-img resize` does) and writing guest bytes (as a guest would through
//! qemu). The core cannot open files, so an [`Editor`] collects the new
//! contents of the host clusters it touches and [`Editor::finish`] returns
//! byte patches `(file offset, bytes)` for the caller to write, in order.
//!
//! Writing follows qemu's copy-on-write rules (qcow2.txt, "Cluster
//! mapping"): a normal cluster whose L2 entry has QCOW_OFLAG_COPIED
//! (refcount 1) is patched in place; an unallocated, zero-flagged,
//! compressed or shared cluster gets a new cluster at the end of the file
//! (filled with its old contents, inflated if compressed, for a partial
//! write) and its L2 entry points there. A missing L2 table is allocated and
//! entered in the L1 table; a shared L2 table (snapshots) is copied first.
//! New clusters get refcount 1 — in existing refcount blocks or in new ones,
//! entered in the refcount table, which is moved to a larger copy when full
//! —, and clusters no longer referenced lose one.
//!
//! New clusters are appended from the cluster-aligned end of the file; free
//! clusters inside the file are not reused. Patches come in the order
//! [`Editor::finish`] gives — new clusters first, their refcounts before
//! anything refers to them, reference drops last — so that a crash part-way
//! leaves at worst leaked clusters (and, for in-place data writes, a partial
//! write), as qemu's own ordering does; there is no journal. They must all
//! be applied, in order.
//!
//! Memory: the touched clusters (twice: old and new contents), so a few
//! clusters for a partition table edit.

use super::raw::*;
use super::read::{inflate_cluster, validate, Validated};
use crate::io::{read_vec, ReadAt};
use crate::{Error, Result};
use std::collections::BTreeMap;

const F: &str = "qcow2";

/// What a touched host cluster holds; orders the patches of existing
/// clusters. Increments are counted and a moved table is switched to
/// (header) before anything refers to the new clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    RefBlock,
    RefTable,
    Header,
    Data,
    L2,
    L1,
}

struct Touched {
    kind: Kind,
    /// The bytes in the file before the edit (zeros past its end); `None`
    /// for a cluster appended by this edit.
    old: Option<Vec<u8>>,
    new: Vec<u8>,
}

/// An edit of one qcow2 image; see the module documentation.
pub struct Editor<'a> {
    src: &'a dyn ReadAt,
    /// The header as edited so far.
    header: Header,
    backing_file: Option<String>,
    cs: u64,
    file_size: u64,
    /// The first host offset past the file's last (partial) cluster: where
    /// this edit's clusters start.
    new_start: u64,
    /// The next free host offset.
    end: u64,
    clusters: BTreeMap<u64, Touched>,
    /// The host clusters of the header and the active tables, sorted: a
    /// data cluster there is a corrupt image, never patched.
    metadata: Vec<u64>,
    /// Host clusters that lose a reference, counted down in [`finish`]
    /// (Self::finish) after everything else, so that a crash part-way
    /// leaks clusters rather than freeing one still in use.
    frees: Vec<u64>,
}

fn corrupt(field: impl Into<String>, msg: impl std::fmt::Display) -> Error {
    Error::corrupt(F, field, msg)
}

impl<'a> Editor<'a> {
    /// Validates `src` and starts an edit. Images marked dirty or corrupt
    /// are refused (their refcounts cannot be trusted), as are those
    /// [`validate`] refuses (encryption, external data files...).
    pub fn open(src: &'a dyn ReadAt) -> Result<Editor<'a>> {
        let Validated {
            header,
            backing_file,
            l1,
            ..
        } = validate(src)?;
        if header.incompatible_features & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT) != 0 {
            return Err(Error::unsupported(
                F,
                "the image is marked dirty or corrupt; run qemu-img check -r all first",
            ));
        }
        let cs = 1u64 << header.cluster_bits;
        let file_size = src.size();
        let new_start = file_size.next_multiple_of(cs);
        let mut metadata = vec![0u64];
        let l1_end = header.l1_table_offset + header.l1_size as u64 * 8;
        metadata.extend((header.l1_table_offset..l1_end).step_by(cs as usize));
        let rt_len = header.refcount_table_clusters as u64 * cs;
        let rt = read_vec(
            src,
            header.refcount_table_offset,
            rt_len,
            MAX_REFTABLE_BYTES,
            "qcow2 refcount table",
        )?;
        metadata.extend(
            (0..rt_len)
                .step_by(cs as usize)
                .map(|o| header.refcount_table_offset + o),
        );
        metadata.extend(crate::bytes::be64s(&rt).map(|e| e & OFFSET_MASK));
        metadata.extend(l1.iter().map(|e| e & OFFSET_MASK));
        metadata.sort_unstable();
        metadata.dedup();
        Ok(Editor {
            src,
            header,
            backing_file,
            cs,
            file_size,
            new_start,
            end: new_start,
            clusters: BTreeMap::new(),
            metadata,
            frees: Vec::new(),
        })
    }

    /// The virtual size as edited so far.
    pub fn size(&self) -> u64 {
        self.header.size
    }

    fn need_16bit_refcounts(&self, what: &str) -> Result<()> {
        if self.header.refcount_order != 4 {
            return Err(Error::unsupported(
                F,
                format!(
                    "{what} in images with {}-bit refcounts (only 16-bit, refcount_order 4)",
                    1u32 << self.header.refcount_order.min(6)
                ),
            ));
        }
        Ok(())
    }

    /// Grows the virtual size to `new_size` bytes (a multiple of 512; a
    /// smaller size is refused). When the L1 table cannot map the new size,
    /// a larger copy is appended and the old one freed.
    pub fn grow(&mut self, new_size: u64) -> Result<()> {
        let h = &self.header;
        if new_size < h.size {
            return Err(Error::invalid(
                "size",
                format!(
                    "shrinking a qcow2 image ({} to {new_size} bytes) is not supported",
                    h.size
                ),
            ));
        }
        if new_size & 511 != 0 {
            return Err(Error::invalid(
                "size",
                "the new size must be a multiple of 512",
            ));
        }
        let cs = self.cs;
        let needed = new_size.div_ceil(cs).div_ceil(cs / 8);
        if needed > h.l1_size as u64 {
            if needed * 8 > MAX_L1_BYTES || needed > u32::MAX as u64 {
                return Err(Error::invalid(
                    "size",
                    "the L1 table would exceed qemu's 32 MiB limit",
                ));
            }
            self.need_16bit_refcounts("growing the L1 table")?;
            let old_off = h.l1_table_offset;
            let old_len = h.l1_size as u64 * 8;
            let n = (needed * 8).div_ceil(cs);
            let new_off = self.reserve(n, Kind::L1);
            let old = self.read_bytes(old_off, old_len)?;
            self.revert(old_off, old_len.div_ceil(cs));
            self.write_bytes(new_off, &old, Kind::L1)?;
            for k in 0..n {
                self.add_ref(new_off + k * cs, 1)?;
            }
            for k in 0..old_len.div_ceil(cs) {
                self.free(old_off + k * cs);
            }
            self.header.l1_size = needed as u32;
            self.header.l1_table_offset = new_off;
            self.write_bytes(36, &(needed as u32).to_be_bytes(), Kind::Header)?;
            self.write_bytes(40, &new_off.to_be_bytes(), Kind::Header)?;
        }
        self.header.size = new_size;
        self.write_bytes(24, &new_size.to_be_bytes(), Kind::Header)?;
        Ok(())
    }

    /// Writes `data` at guest offset `offset` (within the virtual size).
    /// Images with a backing file are refused: a partial write into a
    /// cluster they do not hold would need the backing file's bytes.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if let Some(b) = &self.backing_file {
            return Err(Error::unsupported(
                F,
                format!("writing into an image with a backing file ('{b}'); run qemu-img rebase -b '' or convert it first"),
            ));
        }
        self.need_16bit_refcounts("writing")?;
        let size = self.header.size;
        match offset.checked_add(data.len() as u64) {
            Some(end) if end <= size => {}
            _ => {
                return Err(Error::no_space(
                    "qcow2 virtual disk",
                    format!(
                    "write of {} bytes at byte {offset} goes past the end of the {size}-byte disk",
                    data.len()
                ),
                ))
            }
        }
        if !data.is_empty() && self.header.version >= 3 && self.header.autoclear_features != 0 {
            // qcow2.txt: a writer that does not understand an autoclear bit
            // (e.g. persistent bitmaps, which this write makes stale) clears it.
            self.header.autoclear_features = 0;
            self.write_bytes(88, &0u64.to_be_bytes(), Kind::Header)?;
        }
        let cs = self.cs;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let idx = pos / cs;
            let within = pos % cs;
            let n = ((cs - within) as usize).min(data.len() - done);
            self.write_cluster(idx, within, &data[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    /// Writes `chunk` at `within` bytes into guest cluster `idx`: in place
    /// if the cluster is a normal one with refcount 1, else into a new
    /// cluster holding its old contents — unless those already are `chunk`
    /// (rewriting a partition table unchanged allocates nothing).
    fn write_cluster(&mut self, idx: u64, within: u64, chunk: &[u8]) -> Result<()> {
        let cs = self.cs;
        let per_l2 = cs / 8;
        let l1_index = idx / per_l2;
        if l1_index >= self.header.l1_size as u64 {
            return Err(corrupt(
                "l1_size",
                format!("no L1 entry {l1_index} for guest cluster {idx}"),
            ));
        }
        let l1e_at = self.header.l1_table_offset + l1_index * 8;
        let l1e = self.read_u64(l1e_at)?;
        let l2 = l1e & OFFSET_MASK;
        let e = if l2 == 0 {
            0
        } else {
            self.check_cluster(l2, Kind::L2, &format!("L1 entry {l1_index}"))?;
            self.read_u64(l2 + (idx % per_l2) * 8)?
        };
        let field = || format!("L2 entry of guest cluster {idx}");
        // What the guest sees now, and the host clusters that lose a
        // reference when the cluster moves.
        let (old, drop): (Vec<u8>, Vec<u64>) = if e & OFLAG_COMPRESSED != 0 {
            let (off, span) = compressed_span(self.header.cluster_bits, e);
            let start = off & !511;
            let end = start + (span + (off & 511));
            if off < cs || off >= self.file_size || end > self.file_size.next_multiple_of(512) {
                return Err(corrupt(
                    field(),
                    format!(
                        "compressed cluster at {off:#x} is outside the data area of the {}-byte file",
                        self.file_size
                    ),
                ));
            }
            let span = span.min(self.file_size - off);
            let input = read_vec(self.src, off, span, 2 * cs, "qcow2 compressed cluster")?;
            let old = inflate_cluster(&input, cs as usize)?;
            (old, (start / cs..=(end - 1) / cs).map(|c| c * cs).collect())
        } else {
            let off = e & OFFSET_MASK;
            let zero = self.header.version >= 3 && e & OFLAG_ZERO != 0;
            if off != 0 {
                let ours = self.is_new(off, Kind::Data);
                if off & (cs - 1) != 0 || off < cs || (off >= self.file_size && !ours) {
                    return Err(corrupt(
                        field(),
                        format!(
                            "data cluster at {off:#x} is not a cluster inside the {}-byte file",
                            self.file_size
                        ),
                    ));
                }
                if self.metadata.binary_search(&off).is_ok() {
                    return Err(corrupt(
                        field(),
                        format!("data cluster at {off:#x} overlaps the image's metadata"),
                    ));
                }
                if e & OFLAG_COPIED != 0 {
                    if zero {
                        // A preallocated zero cluster: its bytes are not
                        // zeros yet.
                        let l2 = self.own_l2(l1e_at, l1e)?;
                        self.write_bytes(off, &vec![0u8; cs as usize], Kind::Data)?;
                        self.write_bytes(
                            l2 + (idx % per_l2) * 8,
                            &(off | OFLAG_COPIED).to_be_bytes(),
                            Kind::L2,
                        )?;
                    }
                    return self.write_bytes(off + within, chunk, Kind::Data);
                }
            }
            let old = if zero || off == 0 {
                vec![0u8; cs as usize]
            } else {
                self.read_bytes(off, cs)?
            };
            (old, if off != 0 { vec![off] } else { Vec::new() })
        };
        let w = within as usize;
        if old[w..w + chunk.len()] == *chunk {
            return Ok(());
        }
        let l2 = self.own_l2(l1e_at, l1e)?;
        let host = self.alloc(Kind::Data)?;
        self.write_bytes(host, &old, Kind::Data)?;
        self.write_bytes(host + within, chunk, Kind::Data)?;
        for c in drop {
            self.free(c);
        }
        self.write_bytes(
            l2 + (idx % per_l2) * 8,
            &(host | OFLAG_COPIED).to_be_bytes(),
            Kind::L2,
        )
    }

    /// The L2 table of the L1 entry `l1e` at `l1e_at`, made this image's
    /// own (allocated if missing, copied if shared with a snapshot) before
    /// one of its entries changes.
    fn own_l2(&mut self, l1e_at: u64, l1e: u64) -> Result<u64> {
        let l2 = l1e & OFFSET_MASK;
        if l2 != 0 && l1e & OFLAG_COPIED != 0 {
            return Ok(l2);
        }
        let new = self.alloc(Kind::L2)?;
        if l2 != 0 {
            let table = self.read_bytes(l2, self.cs)?;
            self.write_bytes(new, &table, Kind::L2)?;
            self.free(l2);
        }
        self.write_bytes(l1e_at, &(new | OFLAG_COPIED).to_be_bytes(), Kind::L1)?;
        Ok(new)
    }

    /// True if this edit appended a `kind` cluster at `off` (an offset
    /// read from the image may point past its end only to one of those).
    fn is_new(&self, off: u64, kind: Kind) -> bool {
        off >= self.new_start && self.clusters.get(&off).is_some_and(|t| t.kind == kind)
    }

    /// Checks that `off` is a whole cluster inside the file or a `kind`
    /// cluster this edit appended.
    fn check_cluster(&self, off: u64, kind: Kind, field: &str) -> Result<()> {
        let cs = self.cs;
        let inside = off + cs <= self.file_size || self.is_new(off, kind);
        if off & (cs - 1) != 0 || off < cs || !inside {
            return Err(corrupt(
                field,
                format!(
                    "{off:#x} is not a cluster inside the {}-byte file",
                    self.file_size
                ),
            ));
        }
        Ok(())
    }

    /// Undoes the changes to the `n` clusters of a table at `off` that a
    /// copy replaces: until the header points to the copy, the old table
    /// must stay as it was (a crash in between then only leaks).
    fn revert(&mut self, off: u64, n: u64) {
        for k in 0..n {
            if let Some(t) = self.clusters.get_mut(&(off + k * self.cs)) {
                if let Some(old) = &t.old {
                    t.new.clone_from(old);
                }
            }
        }
    }

    /// Appends `n` zeroed clusters (without refcounts) and returns the first.
    fn reserve(&mut self, n: u64, kind: Kind) -> u64 {
        let off = self.end;
        for k in 0..n {
            self.clusters.insert(
                off + k * self.cs,
                Touched {
                    kind,
                    old: None,
                    new: vec![0u8; self.cs as usize],
                },
            );
        }
        self.end += n * self.cs;
        off
    }

    /// Appends one zeroed cluster with refcount 1.
    fn alloc(&mut self, kind: Kind) -> Result<u64> {
        let off = self.reserve(1, kind);
        self.add_ref(off, 1)?;
        Ok(off)
    }

    /// The refcount table entries (qcow2.txt, "Host cluster management").
    fn reftable_entries(&self) -> u64 {
        self.header.refcount_table_clusters as u64 * self.cs / 8
    }

    /// Drops one reference to the host cluster at `off` (at the end).
    fn free(&mut self, off: u64) {
        self.frees.push(off);
    }

    /// Adds `delta` to the refcount of the host cluster at `off`. Only
    /// increments allocate refcount blocks: a cluster losing a reference
    /// must already be counted.
    fn add_ref(&mut self, off: u64, delta: i64) -> Result<()> {
        let cs = self.cs;
        let idx = off / cs;
        let b = idx / (cs / 2);
        let block = if delta > 0 {
            self.refblock(b)?
        } else {
            let e = if b < self.reftable_entries() {
                self.read_u64(self.header.refcount_table_offset + b * 8)? & OFFSET_MASK
            } else {
                0
            };
            if e == 0 {
                return Err(corrupt(
                    format!("refcount of host cluster {idx}"),
                    "the cluster is in use but has no refcount block; run qemu-img check -r all",
                ));
            }
            self.check_cluster(e, Kind::RefBlock, &format!("refcount table entry {b}"))?;
            e
        };
        let at = block + (idx % (cs / 2)) * 2;
        let mut b = [0u8; 2];
        self.read_into(at, &mut b)?;
        let rc = u16::from_be_bytes(b) as i64 + delta;
        if !(0..=u16::MAX as i64).contains(&rc) {
            return Err(corrupt(
                format!("refcount of host cluster {idx}"),
                format!(
                    "{} cannot change by {delta}; run qemu-img check -r all",
                    u16::from_be_bytes(b)
                ),
            ));
        }
        self.write_bytes(at, &(rc as u16).to_be_bytes(), Kind::RefBlock)
    }

    /// The host offset of refcount block `b`, allocating it (and growing
    /// the refcount table) if it does not exist.
    fn refblock(&mut self, b: u64) -> Result<u64> {
        if b >= self.reftable_entries() {
            self.grow_reftable(b)?;
        }
        let at = self.header.refcount_table_offset + b * 8;
        let off = self.read_u64(at)? & OFFSET_MASK;
        if off != 0 {
            self.check_cluster(off, Kind::RefBlock, &format!("refcount table entry {b}"))?;
            return Ok(off);
        }
        let off = self.reserve(1, Kind::RefBlock);
        self.write_bytes(at, &off.to_be_bytes(), Kind::RefTable)?;
        // The block's own refcount (usually in itself).
        self.add_ref(off, 1)?;
        Ok(off)
    }

    /// Moves the refcount table to a larger copy at the end of the file,
    /// with room for block `b` and the blocks that count the copy itself.
    fn grow_reftable(&mut self, b: u64) -> Result<()> {
        let cs = self.cs;
        let per_block = cs / 2;
        let old_off = self.header.refcount_table_offset;
        let old_clusters = self.header.refcount_table_clusters as u64;
        let mut n = old_clusters;
        loop {
            // The copy and a few blocks after it must be countable too.
            let last = self.end / cs + n + 4;
            let entries = (b + 1).max(last / per_block + 1);
            let want = (entries * 8).div_ceil(cs);
            if want <= n {
                break;
            }
            n = want;
        }
        if n * cs > MAX_REFTABLE_BYTES || n > u32::MAX as u64 {
            return Err(Error::unsupported(
                F,
                "the edit would need a refcount table over qemu's 8 MiB limit",
            ));
        }
        let old = self.read_bytes(old_off, old_clusters * cs)?;
        self.revert(old_off, old_clusters);
        let new_off = self.reserve(n, Kind::RefTable);
        self.write_bytes(new_off, &old, Kind::RefTable)?;
        self.header.refcount_table_offset = new_off;
        self.header.refcount_table_clusters = n as u32;
        self.write_bytes(48, &new_off.to_be_bytes(), Kind::Header)?;
        self.write_bytes(56, &(n as u32).to_be_bytes(), Kind::Header)?;
        for k in 0..n {
            self.add_ref(new_off + k * cs, 1)?;
        }
        for k in 0..old_clusters {
            self.free(old_off + k * cs);
        }
        Ok(())
    }

    /// The touched cluster at `off` (cluster aligned), read from the file
    /// the first time.
    fn touch(&mut self, off: u64, kind: Kind) -> Result<&mut Vec<u8>> {
        if !self.clusters.contains_key(&off) {
            let cs = self.cs;
            let mut old = vec![0u8; cs as usize];
            if off < self.new_start {
                let n = cs.min(self.file_size - off) as usize;
                self.src.read_at(off, &mut old[..n])?;
            } else if off >= self.end {
                return Err(corrupt(
                    "host offset",
                    format!("{off:#x} is past the end of the image"),
                ));
            }
            self.clusters.insert(
                off,
                Touched {
                    kind,
                    new: old.clone(),
                    old: Some(old),
                },
            );
        }
        match self.clusters.get_mut(&off) {
            Some(t) => Ok(&mut t.new),
            None => Err(corrupt("host offset", "cluster vanished")),
        }
    }

    fn write_bytes(&mut self, mut off: u64, mut data: &[u8], kind: Kind) -> Result<()> {
        let cs = self.cs;
        while !data.is_empty() {
            let base = off & !(cs - 1);
            let within = (off - base) as usize;
            let n = (cs as usize - within).min(data.len());
            let c = self.touch(base, kind)?;
            c[within..within + n].copy_from_slice(&data[..n]);
            data = &data[n..];
            off += n as u64;
        }
        Ok(())
    }

    /// Reads host bytes as edited so far (zeros past the file's end).
    fn read_into(&self, mut off: u64, mut out: &mut [u8]) -> Result<()> {
        let cs = self.cs;
        while !out.is_empty() {
            let base = off & !(cs - 1);
            let within = (off - base) as usize;
            let n = (cs as usize - within).min(out.len());
            let (now, rest) = out.split_at_mut(n);
            if let Some(t) = self.clusters.get(&base) {
                now.copy_from_slice(&t.new[within..within + n]);
            } else {
                now.fill(0);
                if off < self.file_size {
                    let m = ((self.file_size - off) as usize).min(n);
                    self.src.read_at(off, &mut now[..m])?;
                }
            }
            out = rest;
            off += n as u64;
        }
        Ok(())
    }

    /// Reads `len` host bytes (a table or a cluster: callers bound `len`).
    fn read_bytes(&self, off: u64, len: u64) -> Result<Vec<u8>> {
        let mut v = vec![0u8; len as usize];
        self.read_into(off, &mut v)?;
        Ok(v)
    }

    fn read_u64(&self, off: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_into(off, &mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    /// The patches that apply the edit, in the order to write them: new
    /// clusters, then the changed bytes of existing refcount blocks
    /// (increments), the refcount table, the header (which may switch to a
    /// moved L1 or refcount table), data clusters, L2 tables, the L1 table,
    /// and last the refcount blocks again (decrements). Every prefix is an
    /// image whose refcounts are at worst too high. Fails on a refcount
    /// that would go below zero (a corrupt image).
    pub fn finish(mut self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = self.patches();
        let frees = std::mem::take(&mut self.frees);
        if frees.is_empty() {
            return Ok(out);
        }
        let before: BTreeMap<u64, Vec<u8>> = self
            .clusters
            .iter()
            .filter(|(_, t)| t.kind == Kind::RefBlock)
            .map(|(&o, t)| (o, t.new.clone()))
            .collect();
        for off in frees {
            self.add_ref(off, -1)?;
        }
        for (&off, t) in &self.clusters {
            if t.kind != Kind::RefBlock {
                continue;
            }
            let Some(base) = before.get(&off).or(t.old.as_ref()) else {
                continue;
            };
            for (s, e) in changed_runs(base, &t.new) {
                out.push((off + s as u64, t.new[s..e].to_vec()));
            }
        }
        Ok(out)
    }

    fn patches(&self) -> Vec<(u64, Vec<u8>)> {
        let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
        // New clusters are contiguous from new_start: one patch per run.
        for (&off, t) in self.clusters.range(self.new_start..) {
            match out.last_mut() {
                Some((o, b)) if *o + b.len() as u64 == off => b.extend_from_slice(&t.new),
                _ => out.push((off, t.new.clone())),
            }
        }
        let mut existing: Vec<(Kind, u64, &Touched)> = self
            .clusters
            .range(..self.new_start)
            .map(|(&o, t)| (t.kind, o, t))
            .collect();
        existing.sort_by_key(|&(k, o, _)| (k, o));
        for (_, base, t) in existing {
            let Some(old) = &t.old else { continue };
            for (s, e) in changed_runs(old, &t.new) {
                out.push((base + s as u64, t.new[s..e].to_vec()));
            }
        }
        out
    }
}

/// Byte ranges where `a` and `b` differ, merging runs less than 32 bytes
/// apart.
fn changed_runs(a: &[u8], b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < a.len() {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        let s = i;
        while i < a.len() && a[i] != b[i] {
            i += 1;
        }
        match runs.last_mut() {
            Some((_, pe)) if s - *pe < 32 => *pe = i,
            _ => runs.push((s, i)),
        }
    }
    runs
}

/// The patches that make `src` a qcow2 image of `new_size` bytes (when
/// `Some`) holding `writes` (guest offset, bytes), applied in order.
pub fn edit_patch(
    src: &dyn ReadAt,
    new_size: Option<u64>,
    writes: &[(u64, Vec<u8>)],
) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut e = Editor::open(src)?;
    if let Some(n) = new_size {
        e.grow(n)?;
    }
    for (off, data) in writes {
        e.write(*off, data)?;
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{image, sample_disk};
    use super::*;
    use crate::Disk;
    use std::sync::Arc;

    fn apply(img: &[u8], patches: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut v = img.to_vec();
        for (off, bytes) in patches {
            let end = *off as usize + bytes.len();
            if v.len() < end {
                v.resize(end, 0);
            }
            v[*off as usize..end].copy_from_slice(bytes);
        }
        v
    }

    /// Guest bytes of `img` at `(offset, len)`.
    fn guest(img: &[u8], ranges: &[(u64, u64)]) -> Vec<Vec<u8>> {
        let o = super::super::open(Arc::new(img.to_vec())).unwrap();
        read_ranges(&o.disk, ranges)
    }

    fn read_ranges(d: &dyn ReadAt, ranges: &[(u64, u64)]) -> Vec<Vec<u8>> {
        ranges
            .iter()
            .map(|&(off, len)| {
                let mut v = vec![0u8; len as usize];
                d.read_at(off, &mut v).unwrap();
                v
            })
            .collect()
    }

    /// An independent refcount check (what `qemu-img check` does): counts
    /// the references to every host cluster from the header, the tables
    /// and the L2 entries, and compares them with the refcount blocks.
    /// Also checks QCOW_OFLAG_COPIED (no snapshots here).
    fn check(img: &[u8]) -> Vec<String> {
        let mut hb = [0u8; 112];
        hb.copy_from_slice(&img[..112]);
        let h = Header::parse(&hb).unwrap();
        let cs = 1u64 << h.cluster_bits;
        let n = (img.len() as u64).div_ceil(cs) as usize;
        let mut refs = vec![0u32; n];
        let mut errs = Vec::new();
        let mut bump = |off: u64, len: u64, what: &str, errs: &mut Vec<String>| {
            for c in off / cs..=(off + len - 1) / cs {
                match refs.get_mut(c as usize) {
                    Some(r) => *r += 1,
                    None => errs.push(format!("{what} cluster {c} past the file end")),
                }
            }
        };
        let u64at = |o: u64| be64(img, o as usize);
        bump(0, cs, "header", &mut errs);
        if h.l1_size > 0 {
            bump(h.l1_table_offset, h.l1_size as u64 * 8, "L1", &mut errs);
        }
        let rt_entries = h.refcount_table_clusters as u64 * cs / 8;
        bump(
            h.refcount_table_offset,
            h.refcount_table_clusters as u64 * cs,
            "reftable",
            &mut errs,
        );
        for b in 0..rt_entries {
            let e = u64at(h.refcount_table_offset + b * 8) & OFFSET_MASK;
            if e != 0 {
                bump(e, cs, "refblock", &mut errs);
            }
        }
        for i in 0..h.l1_size as u64 {
            let l1e = u64at(h.l1_table_offset + i * 8);
            let l2 = l1e & OFFSET_MASK;
            if l2 == 0 {
                continue;
            }
            if l1e & OFLAG_COPIED == 0 {
                errs.push(format!("L1 entry {i} lacks COPIED"));
            }
            bump(l2, cs, "L2", &mut errs);
            for j in 0..cs / 8 {
                let e = u64at(l2 + j * 8);
                if e & OFLAG_COMPRESSED != 0 {
                    let (off, span) = compressed_span(h.cluster_bits, e);
                    bump(off & !511, span + (off & 511), "compressed", &mut errs);
                } else if e & OFFSET_MASK != 0 {
                    if e & OFLAG_COPIED == 0 {
                        errs.push(format!("L2 entry {i}/{j} lacks COPIED"));
                    }
                    bump(e & OFFSET_MASK, cs, "data", &mut errs);
                }
            }
        }
        let per_block = cs / 2;
        // Every cluster of the file, and whatever the blocks count past it.
        let mut last = n as u64;
        for b in 0..rt_entries {
            if u64at(h.refcount_table_offset + b * 8) & OFFSET_MASK != 0 {
                last = last.max((b + 1) * per_block);
            }
        }
        for c in 0..last {
            let b = c / per_block;
            let blk = if b < rt_entries {
                u64at(h.refcount_table_offset + b * 8) & OFFSET_MASK
            } else {
                0
            };
            let rc = if blk == 0 {
                0
            } else {
                let at = (blk + (c % per_block) * 2) as usize;
                u16::from_be_bytes([img[at], img[at + 1]]) as u32
            };
            let want = refs.get(c as usize).copied().unwrap_or(0);
            if rc > want {
                errs.push(format!(
                    "leak: cluster {c}: refcount {rc}, referenced {want}"
                ));
            } else if rc < want {
                errs.push(format!("cluster {c}: refcount {rc}, referenced {want}"));
            }
        }
        errs
    }

    /// Edits an image of `d` and a copy of `d` the same way, and checks the
    /// image reads back as the copy and has exact refcounts.
    fn edit_and_check(
        img: &[u8],
        d: &Disk,
        grow: Option<u64>,
        writes: &[(u64, Vec<u8>)],
    ) -> Vec<u8> {
        assert_eq!(check(img), Vec::<String>::new(), "input image");
        let patches = edit_patch(&img.to_vec(), grow, writes).unwrap();
        let out = apply(img, &patches);
        let mut want = d.clone();
        if let Some(n) = grow {
            want.set_size(n);
        }
        for (off, data) in writes {
            want.write(*off, data).unwrap();
        }
        // The original disk, around every write, and the end.
        let size = want.size();
        let mut ranges = vec![(0, d.size().min(4 << 20)), (size - 65536, 65536)];
        for (off, data) in writes {
            let s = off.saturating_sub(4096);
            let e = (off + data.len() as u64 + 4096).min(size);
            ranges.push((s, e - s));
        }
        assert!(
            guest(&out, &ranges) == read_ranges(&want, &ranges),
            "guest bytes"
        );
        assert_eq!(check(&out), Vec::<String>::new(), "edited image");
        out
    }

    fn writes(size: u64, cs: u64) -> Vec<(u64, Vec<u8>)> {
        let text = |n: usize| -> Vec<u8> { (0..n).map(|i| b"edited! "[i % 8]).collect() };
        vec![
            (0, text(512)),                    // first sector (a GPT's MBR)
            (512, text(33 * 512)),             // headers + entries
            (cs - 100, text(300)),             // across a cluster boundary
            (5 * cs, text(cs as usize)),       // a whole cluster
            (size - 33 * 512, text(33 * 512)), // the end (a backup GPT)
            (size / 2 + 7, text(1)),           // one byte in the middle
        ]
    }

    #[test]
    fn writes_land_in_every_kind_of_cluster() {
        let size = 3 * 1024 * 1024 + 1024;
        let d = sample_disk(size);
        for cs in [512u64, 4096, 65536] {
            for compress in [false, true] {
                let img = image(&d, cs, compress);
                let out = edit_and_check(&img, &d, None, &writes(size, cs));
                // Editing the result again patches in place: no new clusters.
                let again = edit_and_check(
                    &out,
                    &{
                        let mut d2 = d.clone();
                        for (o, b) in writes(size, cs) {
                            d2.write(o, &b).unwrap();
                        }
                        d2
                    },
                    None,
                    &[(0, vec![9u8; 512])],
                );
                assert_eq!(again.len(), out.len(), "cs {cs} compress {compress}");
            }
        }
    }

    #[test]
    fn unchanged_bytes_allocate_nothing() {
        let size = 1024 * 1024;
        let d = sample_disk(size);
        for cs in [512u64, 65536] {
            let img = image(&d, cs, true);
            let mut same = vec![0u8; 300_000];
            d.read_at(1000, &mut same).unwrap();
            let w = [(1000u64, same), (size - 4096, vec![0u8; 100])];
            let w = if d.is_allocated(size - 4096, 100) {
                &w[..1]
            } else {
                &w[..]
            };
            assert_eq!(edit_patch(&img, None, w).unwrap(), vec![], "cs {cs}");
        }
    }

    #[test]
    fn grow_then_write_at_the_new_end() {
        let size = 1024 * 1024;
        let d = sample_disk(size);
        // 512-byte clusters: 64 GiB needs a new L1 table, refcount blocks
        // and a larger refcount table.
        for (cs, grow) in [(512u64, 64u64 << 30), (4096, 8 << 30), (65536, 3 << 20)] {
            for compress in [false, true] {
                let img = image(&d, cs, compress);
                let w = writes(grow, cs);
                let out = edit_and_check(&img, &d, Some(grow), &w);
                let mut hb = [0u8; 112];
                hb.copy_from_slice(&out[..112]);
                assert_eq!(Header::parse(&hb).unwrap().size, grow);
            }
        }
    }

    #[test]
    fn refcount_table_moves_when_full() {
        let size = 1024 * 1024;
        let d = sample_disk(size);
        let img = image(&d, 512, false);
        let mut hb = [0u8; 112];
        hb.copy_from_slice(&img[..112]);
        let before = Header::parse(&hb).unwrap();
        let out = edit_and_check(&img, &d, Some(64 << 30), &writes(64 << 30, 512));
        hb.copy_from_slice(&out[..112]);
        let after = Header::parse(&hb).unwrap();
        assert!(after.refcount_table_clusters > before.refcount_table_clusters);
        assert_ne!(after.refcount_table_offset, before.refcount_table_offset);
        assert_ne!(after.l1_table_offset, before.l1_table_offset);
    }

    #[test]
    fn zero_flagged_clusters_are_written() {
        let size = 256 * 1024;
        let mut d = Disk::new(size);
        d.write(0, &vec![0xAAu8; size as usize]).unwrap();
        let img = image(&d, 4096, false);
        let mut hb = [0u8; 112];
        hb.copy_from_slice(&img[..112]);
        let h = Header::parse(&hb).unwrap();
        let l2 = be64(&img, h.l1_table_offset as usize) & OFFSET_MASK;
        let mut v = img.clone();
        // Guest cluster 3: preallocated zero (keeps its host cluster).
        let e3 = be64(&v, (l2 + 24) as usize);
        v[(l2 + 24) as usize..(l2 + 32) as usize].copy_from_slice(&(e3 | OFLAG_ZERO).to_be_bytes());
        let mut d2 = d.clone();
        d2.write(3 * 4096, &[0u8; 4096]).unwrap();
        let out = edit_and_check(&v, &d2, None, &[(3 * 4096 + 10, vec![1, 2, 3])]);
        assert_eq!(out.len(), v.len(), "written in place");
        assert_eq!(be64(&out, (l2 + 24) as usize), e3, "zero flag cleared");
    }

    #[test]
    fn refuses_dirty_backing_and_other_refcount_widths() {
        let d = sample_disk(256 * 1024);
        let img = image(&d, 4096, false);
        let w = [(0u64, vec![1u8; 512])];
        let mut v = img.clone();
        v[79] |= INCOMPAT_DIRTY as u8;
        let e = edit_patch(&v, None, &w).unwrap_err().to_string();
        assert!(e.contains("dirty"), "{e}");
        let mut v = img.clone();
        let name = b"base.qcow2";
        v[200..200 + name.len()].copy_from_slice(name);
        v[8..16].copy_from_slice(&200u64.to_be_bytes());
        v[16..20].copy_from_slice(&(name.len() as u32).to_be_bytes());
        let e = edit_patch(&v, None, &w).unwrap_err().to_string();
        assert!(e.contains("backing file"), "{e}");
        // Growing an image with a backing file is fine (qemu-img resize).
        assert!(edit_patch(&v, Some(1 << 20), &[]).is_ok());
        let mut v = img.clone();
        v[96..100].copy_from_slice(&5u32.to_be_bytes());
        let e = edit_patch(&v, None, &w).unwrap_err().to_string();
        assert!(e.contains("32-bit refcounts"), "{e}");
        let e = edit_patch(&img, None, &[(256 * 1024 - 1, vec![0, 0])]).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
        let e = edit_patch(&img, Some(4096), &[]).unwrap_err().to_string();
        assert!(e.contains("shrinking"), "{e}");
    }

    #[test]
    fn hostile_entries_are_refused_not_followed() {
        let mut d = sample_disk(256 * 1024);
        d.write(0, b"guest cluster 0").unwrap();
        let img = image(&d, 4096, true);
        let mut hb = [0u8; 112];
        hb.copy_from_slice(&img[..112]);
        let h = Header::parse(&hb).unwrap();
        let l2 = be64(&img, h.l1_table_offset as usize) & OFFSET_MASK;
        for bad in [
            OFLAG_COPIED | h.l1_table_offset,            // metadata
            OFLAG_COPIED | 0x10_0000_0000,               // data past the end
            OFLAG_COPIED | (4096 + 512),                 // unaligned
            OFLAG_COMPRESSED | (7u64 << 54) | 0x20_0000, // compressed past the end
        ] {
            let mut v = img.clone();
            v[l2 as usize..l2 as usize + 8].copy_from_slice(&bad.to_be_bytes());
            let e = edit_patch(&v, None, &[(10, vec![1])])
                .unwrap_err()
                .to_string();
            assert!(e.contains("guest cluster 0"), "{e}");
        }
        // Pointing at the L1 copy a grow appends: not a data cluster.
        let mut v = img.clone();
        let new_start = (img.len() as u64).next_multiple_of(4096);
        v[l2 as usize..l2 as usize + 8].copy_from_slice(&(OFLAG_COPIED | new_start).to_be_bytes());
        let e = edit_patch(&v, Some(8 << 20), &[(10, vec![1])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("guest cluster 0"), "{e}");
        let mut v = img.clone();
        let rt = h.refcount_table_offset as usize;
        v[rt..rt + 8].copy_from_slice(&0x40_0000_0000u64.to_be_bytes());
        let e = edit_patch(&v, None, &[(10, vec![1])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("refcount table entry 0"), "{e}");
    }

    /// Deterministic mutations of valid images: editing may refuse them,
    /// never panic or run away.
    #[test]
    fn mutated_images_never_panic() {
        let seeds = crate::qcow2::tests::mutation_seeds();
        let w = [
            (0u64, vec![1u8; 700]),
            (40_500, vec![2u8; 5000]),
            (1 << 20, vec![3u8; 512]),
        ];
        let mut rng = crate::testutil::XorShift(0x2545_f491_4f6c_dd1d);
        for round in 0..2000 {
            let mut v = seeds[round % seeds.len()].clone();
            crate::testutil::mutate_bytes(&mut v, &mut rng);
            if let Ok(p) = edit_patch(&v, Some(2 << 20), &w) {
                let total: usize = p.iter().map(|(_, b)| b.len()).sum();
                assert!(total < 4 << 20, "round {round}: {total} bytes of patches");
            }
        }
    }

    /// Every prefix of the patches (a crash part-way) leaves an image whose
    /// refcounts are at worst too high (leaks), never too low.
    #[test]
    fn a_crash_part_way_only_leaks() {
        let size = 1024 * 1024;
        let d = sample_disk(size);
        for (cs, compress, grow) in [
            (512u64, true, 64u64 << 30),
            (4096, true, 2 << 20),
            (65536, false, 2 << 20),
        ] {
            let img = image(&d, cs, compress);
            let w = writes(grow, cs);
            let patches = edit_patch(&img, Some(grow), &w).unwrap();
            for k in 0..=patches.len() {
                let v = apply(&img, &patches[..k]);
                let bad: Vec<String> = check(&v)
                    .into_iter()
                    .filter(|e| !e.starts_with("leak"))
                    .collect();
                assert!(
                    bad.is_empty(),
                    "cs {cs}: after {k} of {} patches: {bad:?}",
                    patches.len()
                );
            }
        }
    }
}
