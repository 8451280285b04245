//! qcow2 writer: a version 3 image, data first and tables last.
//!
//! Layout (all cluster aligned but the packed compressed data):
//!
//! ```text
//! header cluster | data clusters | L2 tables | L1 table | refcount table | refcount blocks
//! ```
//!
//! The data clusters are the guest clusters that hold a non-zero byte, in
//! guest order; a cluster stored as it is starts on a cluster boundary,
//! compressed ones (`-c`) are packed back to back as `qemu-img convert -c`
//! packs them. The layout is a function of the list of non-zero clusters
//! (and each one's compressed length) only, and everything after the data
//! depends only on where the data went, so only the header (which names the
//! tables' offsets) needs what comes later. The image is written in one of
//! two ways, with the same bytes:
//!
//! - **One pass**, when the sink can rewrite what it wrote
//!   ([`Sink::can_patch`]: a file, OPFS, memory): a hole where the header
//!   goes, then each non-zero cluster as it is read (zero clusters skipped on
//!   the fly; with `-c` compressed in batches, in parallel with the
//!   `parallel` feature, and appended in order), then the tables, and the
//!   header patched in last. The disk is read once. This is a
//!   [`PushWriter`], which callers that receive the disk as a stream of
//!   pieces (the browser's parallel readers) drive directly.
//! - **Two passes**, for pure streams (a download, a member of a tar): pass 1
//!   reads the disk to find the non-zero clusters (and compressed lengths);
//!   then the header, pass 2 reads (and compresses) the clusters again and
//!   writes them, then the tables. Compression is deterministic, so both
//!   passes agree byte for byte. The compressed bytes of pass 1 are kept up
//!   to a fixed cap, and past it in the sink's scratch storage
//!   ([`Sink::spill`]) when it has one, so an image is usually compressed
//!   only once.

use super::raw::*;
use crate::image::WriteOptions;
use crate::io::{Progress, ReadAt, Sink};
use crate::{Disk, Error, Result};

/// Default cluster size, as qemu-img's.
pub const DEFAULT_CLUSTER_SIZE: u64 = 64 * 1024;

/// Bytes of guest data read (and compressed) per batch.
const BATCH_BYTES: u64 = 16 << 20;

/// Compressed bytes kept between the passes (a fixed cap, not a function of
/// the disk size): images that compress to less are compressed once. Kept
/// under the 128 MiB peak-RSS budget with the two 16 MiB batches in flight.
#[cfg(not(target_arch = "wasm32"))]
const COMPRESSED_CACHE_BYTES: u64 = 64 << 20;
#[cfg(target_arch = "wasm32")]
const COMPRESSED_CACHE_BYTES: u64 = 32 << 20;

/// Parses and checks the writer options; returns cluster_bits.
fn cluster_bits(opts: &WriteOptions) -> Result<u32> {
    for (k, v) in &opts.extra {
        match (k.as_str(), v.as_str()) {
            ("compat", "1.1" | "v3") => {}
            ("compression_type", "zlib") => {}
            _ => {
                return Err(Error::invalid(
                    format!("-o {k}"),
                    format!("qcow2 does not take '{k}={v}' (options: cluster_size, compat=1.1)"),
                ))
            }
        }
    }
    if let Some(sub) = &opts.subformat {
        return Err(Error::invalid(
            "-o subformat",
            format!("qcow2 has no subformat '{sub}'"),
        ));
    }
    let cs = opts.cluster_size.unwrap_or(DEFAULT_CLUSTER_SIZE);
    if !cs.is_power_of_two() || !(512..=(2 << 20)).contains(&cs) {
        return Err(Error::invalid(
            "-o cluster_size",
            format!("{cs} is not a power of two between 512 and 2M"),
        ));
    }
    Ok(cs.trailing_zeros())
}

/// The deflate settings for compressed clusters: raw deflate with a 4 KiB
/// window and memLevel 9, as qemu calls `deflateInit2` in
/// block/qcow2-threads.c, but level 9 where qemu uses zlib's default (6).
/// Our deflate is zlib-rs (pure Rust, the same crate natively and in wasm,
/// so the same bytes): its levels 3–6 use zlib-ng's faster "medium"
/// matcher, which on the bench image compresses about 1% worse than madler
/// zlib's level 6 that qemu links; its level 9 compresses about 0.8%
/// better (docs/benchmarks.md).
fn deflate_config() -> zlib_rs::DeflateConfig {
    zlib_rs::DeflateConfig {
        level: 9,
        method: zlib_rs::Method::Deflated,
        window_bits: -12,
        mem_level: 9,
        strategy: zlib_rs::Strategy::Default,
    }
}

/// Compresses one cluster for a compressed qcow2 cluster (raw deflate, see
/// `deflate_config`); `None` when the result would not be smaller than
/// the cluster, as qemu decides.
pub fn compress_cluster(data: &[u8]) -> Option<Vec<u8>> {
    use zlib_rs::{Deflate, DeflateFlush, Status};
    let mut d = Deflate::new_with_config(deflate_config());
    let mut out = vec![0u8; data.len()];
    match d.compress(data, &mut out, DeflateFlush::Finish) {
        Ok(Status::StreamEnd) if (d.total_out() as usize) < data.len() => {
            out.truncate(d.total_out() as usize);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(feature = "parallel")]
fn compress_batch(batch: &[(u64, Vec<u8>)]) -> Vec<Option<Vec<u8>>> {
    use rayon::prelude::*;
    batch.par_iter().map(|(_, d)| compress_cluster(d)).collect()
}

#[cfg(not(feature = "parallel"))]
fn compress_batch(batch: &[(u64, Vec<u8>)]) -> Vec<Option<Vec<u8>>> {
    batch.iter().map(|(_, d)| compress_cluster(d)).collect()
}

/// Runs of guest cluster indices `[first, end)` that touch an allocated
/// extent, merged and in order.
fn candidate_runs(disk: &Disk, cs: u64) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (off, len) in disk.allocated_ranges() {
        let first = off / cs;
        let end = (off + len).div_ceil(cs);
        match runs.last_mut() {
            Some((_, e)) if *e >= first => *e = (*e).max(end),
            _ => runs.push((first, end)),
        }
    }
    runs
}

/// Reads the given clusters in batches of about [`BATCH_BYTES`], calling
/// `f` with the non-zero ones (index, cluster bytes padded with zeros).
fn for_each_nonzero_batch(
    disk: &Disk,
    cs: u64,
    indices: &mut dyn Iterator<Item = u64>,
    mut f: impl FnMut(&[(u64, Vec<u8>)]) -> Result<()>,
) -> Result<()> {
    let per_batch = (BATCH_BYTES / cs).max(1) as usize;
    let size = disk.size();
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(per_batch);
    loop {
        batch.clear();
        // One buffer is reused while clusters read as zeros; a fresh one
        // only when a cluster joins the batch.
        let mut buf = vec![0u8; cs as usize];
        for idx in &mut *indices {
            let off = idx * cs;
            let n = cs.min(size - off) as usize;
            // A short last cluster is padded with zeros.
            buf[n..].fill(0);
            disk.read_at(off, &mut buf[..n])?;
            if !crate::io::is_zero(&buf) {
                batch.push((idx, std::mem::replace(&mut buf, vec![0u8; cs as usize])));
                if batch.len() == per_batch {
                    break;
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        f(&batch)?;
    }
}

/// Where the data clusters go, built up one cluster at a time in guest
/// order (while writing them in one pass, or in pass 1 of two).
struct Layout {
    cluster_bits: u32,
    cs: u64,
    /// Virtual size (a multiple of 512).
    size: u64,
    l1_size: u64,
    /// Non-zero guest clusters, ascending.
    clusters: Vec<u64>,
    /// L2 entry of each of `clusters`.
    entries: Vec<u64>,
    /// Refcount of each host cluster of the data area, from host cluster 1.
    data_refcounts: Vec<u16>,
    /// Host offset of the end of the data.
    end: u64,
}

/// Where the tables go: known once every data cluster is placed.
struct Tables {
    l2_offset: u64,
    /// L1 indices that have an L2 table, ascending.
    l2_tables: Vec<u64>,
    l1_table_offset: u64,
    l1_clusters: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u64,
    refcount_blocks_offset: u64,
    refcount_blocks: u64,
    /// Length of the file.
    file_size: u64,
}

impl Layout {
    fn new(cluster_bits: u32, size: u64) -> Result<Layout> {
        let cs = 1u64 << cluster_bits;
        let l2_entries = cs / 8;
        let l1_size = size.div_ceil(cs).div_ceil(l2_entries);
        if l1_size * 8 > MAX_L1_BYTES {
            return Err(Error::invalid(
                "-o cluster_size",
                format!("a {size}-byte disk needs an L1 table over qemu's 32 MiB limit with {cs}-byte clusters; use larger clusters"),
            ));
        }
        Ok(Layout {
            cluster_bits,
            cs,
            size,
            l1_size,
            clusters: Vec::new(),
            entries: Vec::new(),
            data_refcounts: Vec::new(),
            end: cs,
        })
    }

    /// Places guest cluster `idx` after the previous one: stored as it is
    /// (`clen` 0) or compressed to `clen` bytes. Returns its host offset.
    fn push(&mut self, idx: u64, clen: u64) -> u64 {
        let cs = self.cs;
        self.clusters.push(idx);
        if clen == 0 {
            self.end = self.end.next_multiple_of(cs);
            let at = self.end;
            self.entries.push(at | OFLAG_COPIED);
            self.data_refcounts.push(1);
            self.end += cs;
            return at;
        }
        // Keep 16-bit refcounts from overflowing on tiny compressed clusters.
        if self.data_refcounts.get((self.end / cs - 1) as usize) == Some(&u16::MAX) {
            self.end = self.end.next_multiple_of(cs);
        }
        let at = self.end;
        let first = at / cs;
        let last = (at + clen - 1) / cs;
        self.entries
            .push(compressed_entry(self.cluster_bits, at, clen));
        if self.data_refcounts.len() < last as usize {
            self.data_refcounts.resize(last as usize, 0);
        }
        for h in first..=last {
            let rc = &mut self.data_refcounts[(h - 1) as usize];
            *rc = rc.saturating_add(1);
        }
        self.end += clen;
        at
    }

    /// The tables' places, after the data.
    fn tables(&self) -> Result<Tables> {
        let cs = self.cs;
        let l2_entries = cs / 8;
        let mut l2_tables: Vec<u64> = self.clusters.iter().map(|c| c / l2_entries).collect();
        l2_tables.dedup();
        let l1_clusters = (self.l1_size * 8).div_ceil(cs);
        let l2_offset = self.end.next_multiple_of(cs);
        let l1_table_offset = l2_offset + l2_tables.len() as u64 * cs;
        let refcount_table_offset = l1_table_offset + l1_clusters * cs;

        // Refcount blocks cover every host cluster, themselves included.
        let per_block = cs * 8 / 16;
        let fixed = refcount_table_offset / cs;
        let (mut rt, mut rb) = (1u64, 1u64);
        loop {
            let total = fixed + rt + rb;
            let nrb = total.div_ceil(per_block);
            let nrt = (nrb * 8).div_ceil(cs);
            if nrb == rb && nrt == rt {
                break;
            }
            rb = nrb.max(rb);
            rt = nrt.max(rt);
        }
        if rt * cs > MAX_REFTABLE_BYTES {
            return Err(Error::invalid(
                "-o cluster_size",
                "the refcount table would exceed qemu's 8 MiB limit; use larger clusters",
            ));
        }
        let refcount_blocks_offset = refcount_table_offset + rt * cs;
        Ok(Tables {
            l2_offset,
            l2_tables,
            l1_table_offset,
            l1_clusters,
            refcount_table_offset,
            refcount_table_clusters: rt,
            refcount_blocks_offset,
            refcount_blocks: rb,
            file_size: refcount_blocks_offset + rb * cs,
        })
    }

    fn refcount(&self, t: &Tables, host_cluster: u64) -> u16 {
        let h = host_cluster;
        if h == 0 || (h >= t.l2_offset / self.cs && h < t.file_size / self.cs) {
            1
        } else {
            self.data_refcounts
                .get((h.wrapping_sub(1)) as usize)
                .copied()
                .unwrap_or(0)
        }
    }

    /// The first cluster: the header, then zeros (the end-of-extensions
    /// marker is type 0, length 0).
    fn header_cluster(&self, t: &Tables) -> Result<Vec<u8>> {
        let header = Header {
            version: 3,
            cluster_bits: self.cluster_bits,
            size: self.size,
            l1_size: self.l1_size as u32,
            l1_table_offset: t.l1_table_offset,
            refcount_table_offset: t.refcount_table_offset,
            refcount_table_clusters: t.refcount_table_clusters as u32,
            refcount_order: 4,
            header_length: HEADER_V3_LEN,
            ..Header::default()
        };
        let mut buf = vec![0u8; self.cs as usize];
        crate::bytes::Writer::new("qcow2", "header cluster", &mut buf)
            .put(0, &header.to_bytes_v3()?)?;
        Ok(buf)
    }

    /// Writes the tables; `pos` is where the sink is (the end of the data).
    fn emit_tables(&self, t: &Tables, pos: u64, sink: &mut dyn Sink) -> Result<()> {
        let cs = self.cs;
        if t.l2_offset > pos {
            sink.hole(t.l2_offset - pos)?;
        }
        let mut buf = vec![0u8; cs as usize];

        // L2 tables.
        let per_l2 = cs / 8;
        let mut j = 0usize;
        for &tab in &t.l2_tables {
            buf.fill(0);
            while let Some(&c) = self.clusters.get(j) {
                if c / per_l2 != tab {
                    break;
                }
                let at = ((c % per_l2) * 8) as usize;
                buf[at..at + 8].copy_from_slice(&self.entries[j].to_be_bytes());
                j += 1;
            }
            sink.write(&buf)?;
        }

        // L1 table.
        let mut l1 = vec![0u8; (t.l1_clusters * cs) as usize];
        for (k, &i) in t.l2_tables.iter().enumerate() {
            let e = (t.l2_offset + k as u64 * cs) | OFLAG_COPIED;
            l1[(i * 8) as usize..(i * 8 + 8) as usize].copy_from_slice(&e.to_be_bytes());
        }
        sink.write(&l1)?;
        drop(l1);

        // Refcount table.
        let mut table = vec![0u8; (t.refcount_table_clusters * cs) as usize];
        for b in 0..t.refcount_blocks {
            let off = t.refcount_blocks_offset + b * cs;
            table[(b * 8) as usize..(b * 8 + 8) as usize].copy_from_slice(&off.to_be_bytes());
        }
        sink.write(&table)?;
        drop(table);

        // Refcount blocks (16-bit entries).
        let per_block = cs / 2;
        for b in 0..t.refcount_blocks {
            for j in 0..per_block {
                let rc = self.refcount(t, b * per_block + j);
                buf[(j * 2) as usize..(j * 2 + 2) as usize].copy_from_slice(&rc.to_be_bytes());
            }
            sink.write(&buf)?;
        }
        Ok(())
    }
}

/// Writes one data cluster's stored bytes at host offset `host`, after a
/// hole from `*pos` (alignment padding); `None` if that would go backwards.
fn put(host: u64, bytes: &[u8], pos: &mut u64, sink: &mut dyn Sink) -> Result<Option<()>> {
    if host < *pos {
        return Ok(None);
    }
    if host > *pos {
        sink.hole(host - *pos)?;
    }
    sink.write(bytes)?;
    *pos = host + bytes.len() as u64;
    Ok(Some(()))
}

/// Streams `disk` as a version 3 qcow2 image into `sink`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    write_with_cache(disk, opts, sink, progress, COMPRESSED_CACHE_BYTES)
}

pub(crate) fn write_with_cache(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
    cache_cap: u64,
) -> Result<()> {
    if sink.can_patch() {
        return one_pass(disk, opts, sink, progress);
    }
    let cb = cluster_bits(opts)?;
    // qemu sees a qcow2 disk as whole 512-byte sectors (it rounds a size
    // down), so the size is rounded up, as qemu-img convert does.
    let size = disk.size().next_multiple_of(512);
    let layout = Layout::new(cb, size)?;
    two_passes(disk, opts, layout, sink, progress, cache_cap)
}

/// Guest bytes read (and pushed) at a time by [`one_pass`].
const PIECE: u64 = 256 << 10;

/// One pass: the candidate clusters are read in pieces and pushed through
/// a [`PushWriter`], which stores each non-zero cluster (compressed or
/// not) as it comes; the header is patched in at the end.
fn one_pass(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let size = disk.size();
    let mut w = PushWriter::new(size, opts, sink)?;
    let cs = w.layout.cs;
    let runs = candidate_runs(disk, cs);
    let scan_total: u64 = runs.iter().map(|(a, b)| (b - a) * cs).sum();
    let piece = PIECE.max(cs);
    let mut buf = vec![0u8; piece.min(size) as usize];
    let mut done = 0u64;
    for &(a, b) in &runs {
        let (mut off, end) = (a * cs, (b * cs).min(size));
        while off < end {
            let n = piece.min(end - off) as usize;
            disk.read_at(off, &mut buf[..n])?;
            w.push_at(off, &buf[..n])?;
            off += n as u64;
            done += n as u64;
            progress.step("writing qcow2", done.min(scan_total), scan_total)?;
        }
    }
    w.finish()
}

/// A qcow2 encoder the guest disk's bytes are pushed into, front to back,
/// in pieces of any length: for callers that get the disk as a stream
/// (the browser's parallel File readers) rather than as a [`Disk`] to read.
/// The sink must be able to patch ([`Sink::can_patch`]): the header is
/// written last. The bytes are those of [`write()`] for the same disk
/// (which itself writes through a `PushWriter` when the sink can patch).
///
/// ```
/// # use imgforge_core::qcow2::write::PushWriter;
/// # use imgforge_core::container::WriteOptions;
/// let mut out = Vec::new();
/// let mut w = PushWriter::new(1 << 20, &WriteOptions::default(), &mut out)?;
/// w.push_at(4096, b"hello")?;
/// w.push_at(70_000, &[1u8; 3000])?;
/// w.finish()?;
/// assert_eq!(&out[..4], b"QFI\xfb");
/// # Ok::<(), imgforge_core::Error>(())
/// ```
pub struct PushWriter<'a> {
    layout: Layout,
    compress: bool,
    sink: &'a mut dyn Sink,
    /// Where the sink is (the end of the data written so far).
    pos: u64,
    /// The disk's size as given: nothing may be pushed past it.
    limit: u64,
    /// Guest offset up to which the disk has been consumed.
    next: u64,
    /// The bytes of the cluster `next` is in, from its start to `next`
    /// (empty when `next` is on a cluster boundary).
    partial: Vec<u8>,
    /// With compression: non-zero clusters waiting to be compressed.
    batch: Vec<(u64, Vec<u8>)>,
    per_batch: usize,
}

impl<'a> PushWriter<'a> {
    /// Starts an image of a `size`-byte disk (rounded up to whole 512-byte
    /// sectors in the header, as [`write()`] does) with the options'
    /// cluster size and compression; leaves a hole for the header.
    pub fn new(size: u64, opts: &WriteOptions, sink: &'a mut dyn Sink) -> Result<Self> {
        let cb = cluster_bits(opts)?;
        if !sink.can_patch() {
            return Err(Error::unsupported(
                "qcow2",
                "pushing a disk needs an output that can be rewritten in place (a file, OPFS, memory)",
            ));
        }
        let layout = Layout::new(cb, size.next_multiple_of(512))?;
        let cs = layout.cs;
        sink.hole(cs)?;
        Ok(PushWriter {
            layout,
            compress: opts.compress,
            sink,
            pos: cs,
            limit: size,
            next: 0,
            partial: Vec::new(),
            batch: Vec::new(),
            per_batch: (BATCH_BYTES / cs).max(1) as usize,
        })
    }

    /// The guest disk's bytes at `offset`. Offsets never go backwards
    /// (`offset` is at least the end of the previous push); bytes not
    /// pushed read as zeros. Pieces need not be cluster aligned.
    pub fn push_at(&mut self, offset: u64, mut data: &[u8]) -> Result<()> {
        if offset < self.next {
            return Err(Error::invalid(
                "qcow2 push",
                format!(
                    "offset {offset} goes back before {}, the end of what was pushed",
                    self.next
                ),
            ));
        }
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= self.limit)
            .ok_or_else(|| {
                Error::invalid(
                    "qcow2 push",
                    format!(
                        "{} bytes at offset {offset} go past the disk's end ({} bytes)",
                        data.len(),
                        self.limit
                    ),
                )
            })?;
        if data.is_empty() {
            return Ok(());
        }
        self.skip_to(offset)?;
        let cs = self.layout.cs;
        // Complete the cluster in progress.
        if !self.partial.is_empty() {
            let take = ((cs as usize) - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.next += take as u64;
            if self.partial.len() == cs as usize {
                self.flush_partial()?;
            }
        }
        // Whole clusters, straight from `data`.
        let whole = data.len() - data.len() % cs as usize;
        if whole > 0 {
            self.clusters(self.next / cs, &data[..whole])?;
            self.next += whole as u64;
            data = &data[whole..];
        }
        // The start of the next cluster.
        if !data.is_empty() {
            self.partial.extend_from_slice(data);
            self.next += data.len() as u64;
        }
        debug_assert_eq!(self.next, end);
        Ok(())
    }

    /// Moves `next` forward to `offset` over bytes that read as zeros.
    fn skip_to(&mut self, offset: u64) -> Result<()> {
        if offset == self.next {
            return Ok(());
        }
        let cs = self.layout.cs;
        if !self.partial.is_empty() {
            let cluster_end = (self.next / cs + 1) * cs;
            if offset < cluster_end {
                self.partial.resize((offset % cs) as usize, 0);
                self.next = offset;
                return Ok(());
            }
            self.partial.resize(cs as usize, 0);
            self.next = cluster_end;
            self.flush_partial()?;
        }
        self.partial.resize((offset % cs) as usize, 0);
        self.next = offset;
        Ok(())
    }

    /// Stores the cluster in `partial` (padded with zeros) and empties it.
    fn flush_partial(&mut self) -> Result<()> {
        let cs = self.layout.cs;
        let idx = (self.next - 1) / cs;
        let mut p = std::mem::take(&mut self.partial);
        p.resize(cs as usize, 0);
        let r = self.clusters(idx, &p);
        p.clear();
        self.partial = p;
        r
    }

    /// Stores the non-zero ones of the whole clusters `data`, the first
    /// of which is guest cluster `first`.
    fn clusters(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let cs = self.layout.cs as usize;
        let n = data.len() / cs;
        let cluster = |k: usize| &data[k * cs..(k + 1) * cs];
        let mut k = 0usize;
        while k < n {
            if crate::io::is_zero(cluster(k)) {
                k += 1;
                continue;
            }
            if self.compress {
                self.batch.push((first + k as u64, cluster(k).to_vec()));
                k += 1;
                if self.batch.len() == self.per_batch {
                    self.flush_batch()?;
                }
                continue;
            }
            // A run of non-zero clusters is contiguous in the image too:
            // one write.
            let start = k;
            let host = self.layout.push(first + k as u64, 0);
            k += 1;
            while k < n && !crate::io::is_zero(cluster(k)) {
                self.layout.push(first + k as u64, 0);
                k += 1;
            }
            put(host, &data[start * cs..k * cs], &mut self.pos, self.sink)?
                .ok_or_else(|| internal("data order"))?;
        }
        Ok(())
    }

    /// Compresses the waiting clusters and appends them in order.
    fn flush_batch(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        for ((idx, data), c) in batch.iter().zip(compress_batch(&batch)) {
            let clen = c.as_ref().map_or(0, |v| v.len() as u64);
            let host = self.layout.push(*idx, clen);
            let stored = c.as_deref().unwrap_or(data);
            put(host, stored, &mut self.pos, self.sink)?.ok_or_else(|| internal("data order"))?;
        }
        Ok(())
    }

    /// Stores what is left, then the tables, patches the header in and
    /// finishes the sink.
    pub fn finish(mut self) -> Result<()> {
        if !self.partial.is_empty() {
            let cs = self.layout.cs;
            self.next = self.next.next_multiple_of(cs);
            self.flush_partial()?;
        }
        self.flush_batch()?;
        let t = self.layout.tables()?;
        self.layout.emit_tables(&t, self.pos, self.sink)?;
        let header = self.layout.header_cluster(&t)?;
        self.sink.patch(0, &header[..HEADER_V3_LEN as usize])?;
        self.sink.finish()
    }
}

fn internal(what: &str) -> Error {
    Error::corrupt("qcow2", "writer", format!("internal error: {what}"))
}

/// Pass 1 finds the clusters (keeping compressed bytes up to `cache_cap`,
/// then in the sink's spill storage), then header, data, tables.
fn two_passes(
    disk: &Disk,
    opts: &WriteOptions,
    mut layout: Layout,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
    cache_cap: u64,
) -> Result<()> {
    let cs = layout.cs;
    let runs = candidate_runs(disk, cs);
    let scan_total: u64 = runs.iter().map(|(a, b)| (b - a) * cs).sum();

    // Pass 1: which clusters hold data (and how long they compress). With
    // compression, the first clusters' compressed bytes are kept (up to
    // `cache_cap`) so pass 2 need not compress them again.
    // One buffer for all cached clusters (per-cluster Vecs would each keep
    // a whole cluster of capacity), and each one's length.
    let mut cache: Vec<u8> = Vec::new();
    let mut cache_lens: Vec<u32> = Vec::new();
    let mut cache_open = true;
    // Past the in-memory cap, compressed clusters go to the sink's scratch
    // storage when it has one (a temporary file natively), so the image is
    // still compressed only once.
    let mut spill = if opts.compress { sink.spill() } else { None };
    let mut spill_lens: Vec<u32> = Vec::new();
    let mut spill_open = true;
    let mut it = runs.iter().flat_map(|&(a, b)| a..b);
    let mut done = 0u64;
    for_each_nonzero_batch(disk, cs, &mut it, |batch| {
        if !opts.compress {
            for (idx, _) in batch {
                layout.push(*idx, 0);
            }
        } else {
            for ((idx, data), c) in batch.iter().zip(compress_batch(batch)) {
                layout.push(*idx, c.as_ref().map_or(0, |v| v.len() as u64));
                let stored = c.as_deref().unwrap_or(data);
                let need = cache.len() + stored.len();
                if cache_open && need as u64 <= cache_cap {
                    if cache.capacity() < need {
                        // Grow by doubling, but never past the cap.
                        let want = (cache.capacity() * 2)
                            .max(1 << 20)
                            .min(cache_cap as usize)
                            .max(need);
                        cache.reserve_exact(want - cache.len());
                    }
                    cache.extend_from_slice(stored);
                    cache_lens.push(stored.len() as u32);
                    continue;
                }
                cache_open = false;
                match spill.as_mut() {
                    Some(sp) if spill_open => {
                        sp.append(stored)?;
                        spill_lens.push(stored.len() as u32);
                    }
                    _ => spill_open = false,
                }
            }
        }
        done = batch.last().map(|(i, _)| (i + 1) * cs).unwrap_or(done);
        progress.step("scanning", done.min(scan_total), scan_total)
    })?;

    let t = layout.tables()?;
    sink.write(&layout.header_cluster(&t)?)?;

    // Pass 2: the data clusters, in the planned order.
    let total = t.file_size;
    let mut pos = cs;
    let mut i = 0usize;
    let changed = || {
        Error::corrupt(
            "qcow2",
            "input",
            "the disk changed between the two passes of the writer",
        )
    };
    let host_of = |i: usize, len: usize| -> Result<u64> {
        let e = layout.entries[i];
        if e & OFLAG_COMPRESSED != 0 {
            Ok(compressed_span(layout.cluster_bits, e).0)
        } else if len as u64 == cs {
            Ok(e & OFFSET_MASK)
        } else {
            Err(changed())
        }
    };
    let mut at = 0usize;
    for &len in &cache_lens {
        let stored = &cache[at..at + len as usize];
        at += len as usize;
        put(host_of(i, stored.len())?, stored, &mut pos, sink)?.ok_or_else(changed)?;
        i += 1;
        if i & 255 == 0 {
            progress.step("writing qcow2", pos, total)?;
        }
    }
    drop(cache);
    drop(cache_lens);
    if let Some(sp) = &spill {
        let mut buf = vec![0u8; cs as usize];
        let mut at = 0u64;
        for &len in &spill_lens {
            let stored = &mut buf[..len as usize];
            sp.read_at(at, stored)?;
            at += len as u64;
            put(host_of(i, stored.len())?, stored, &mut pos, sink)?.ok_or_else(changed)?;
            i += 1;
            if i & 255 == 0 {
                progress.step("writing qcow2", pos, total)?;
            }
        }
    }
    drop(spill);
    drop(spill_lens);
    let mut it = layout.clusters[i..].iter().copied();
    for_each_nonzero_batch(disk, cs, &mut it, |batch| {
        let compressed = if opts.compress {
            compress_batch(batch)
        } else {
            vec![None; batch.len()]
        };
        for ((idx, data), c) in batch.iter().zip(compressed) {
            if layout.clusters.get(i) != Some(idx) {
                return Err(changed());
            }
            let compressed_entry = layout.entries[i] & OFLAG_COMPRESSED != 0;
            let stored = match (&c, compressed_entry) {
                (Some(v), true) => v,
                (None, false) => data,
                _ => return Err(changed()),
            };
            put(host_of(i, stored.len())?, stored, &mut pos, sink)?.ok_or_else(changed)?;
            i += 1;
        }
        progress.step("writing qcow2", pos, total)
    })?;
    if i != layout.clusters.len() || pos != layout.end {
        return Err(changed());
    }
    layout.emit_tables(&t, pos, sink)?;
    sink.finish()
}
