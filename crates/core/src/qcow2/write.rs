//! qcow2 writer: a version 3 image streamed front to back.
//!
//! Layout (all cluster aligned): header cluster, refcount table, refcount
//! blocks, L1 table, L2 tables, then the data clusters in guest order. The
//! tables come first, so the writer needs to know before it writes a byte
//! which guest clusters hold non-zero data and, with compression, how long
//! each compressed cluster is. A first pass reads the allocated extents and
//! keeps only the list of non-zero cluster indices (and compressed lengths);
//! the second pass reads (and compresses) them again and writes them.
//! Compression is deterministic, so both passes agree byte for byte. The
//! compressed bytes of pass 1 are kept up to a fixed cap, so an image that
//! compresses to less than the cap is compressed only once.

use super::raw::*;
use crate::container::WriteOptions;
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

/// Compresses one cluster as qemu does (raw deflate, 4 KiB window); `None`
/// when the result would not be smaller than the cluster.
pub fn compress_cluster(data: &[u8]) -> Option<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 12);
    let mut out = Vec::with_capacity(data.len());
    match c.compress_vec(data, &mut out, FlushCompress::Finish) {
        Ok(Status::StreamEnd) if out.len() < data.len() => Some(out),
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

/// Where everything goes, computed before the first byte is written.
struct Layout {
    cluster_bits: u32,
    cs: u64,
    l1_size: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u64,
    refcount_blocks_offset: u64,
    refcount_blocks: u64,
    l1_table_offset: u64,
    l1_clusters: u64,
    l2_offset: u64,
    /// L1 indices that have an L2 table, ascending.
    l2_tables: Vec<u64>,
    /// Host offset of the first data cluster.
    data_offset: u64,
    /// Number of clusters before the data.
    meta_clusters: u64,
    /// Non-zero guest clusters, ascending.
    clusters: Vec<u64>,
    /// L2 entry of each of `clusters`, with host offsets relative to
    /// `data_offset`.
    entries: Vec<u64>,
    /// Refcount of each host cluster of the data area.
    data_refcounts: Vec<u16>,
    /// Length of the file.
    file_size: u64,
}

impl Layout {
    fn plan(
        cluster_bits: u32,
        size: u64,
        clusters: Vec<u64>,
        csizes: Option<Vec<u32>>,
    ) -> Result<Layout> {
        let cs = 1u64 << cluster_bits;
        let l2_entries = cs / 8;
        let guest_clusters = size.div_ceil(cs);
        let l1_size = guest_clusters.div_ceil(l2_entries);
        if l1_size * 8 > MAX_L1_BYTES {
            return Err(Error::invalid(
                "-o cluster_size",
                format!("a {size}-byte disk needs an L1 table over qemu's 32 MiB limit with {cs}-byte clusters; use larger clusters"),
            ));
        }
        let l1_clusters = (l1_size * 8).div_ceil(cs);
        let mut l2_tables: Vec<u64> = clusters.iter().map(|c| c / l2_entries).collect();
        l2_tables.dedup();

        // The data area, with offsets relative to its start.
        let mut entries = Vec::with_capacity(clusters.len());
        let mut data_refcounts: Vec<u16> = Vec::new();
        let mut pos = 0u64;
        for (i, _) in clusters.iter().enumerate() {
            let clen = csizes.as_ref().map(|s| s[i] as u64).unwrap_or(0);
            if clen == 0 {
                pos = pos.next_multiple_of(cs);
                entries.push(pos | OFLAG_COPIED);
                data_refcounts.push(1);
                pos += cs;
            } else {
                // Keep 16-bit refcounts from overflowing on tiny compressed clusters.
                if data_refcounts.get((pos / cs) as usize) == Some(&u16::MAX) {
                    pos = pos.next_multiple_of(cs);
                }
                continue_compressed(
                    &mut pos,
                    clen,
                    cs,
                    cluster_bits,
                    &mut entries,
                    &mut data_refcounts,
                );
            }
        }
        let data_clusters = pos.div_ceil(cs);
        data_refcounts.resize(data_clusters as usize, 0);

        // Refcount blocks cover every host cluster, themselves included.
        let per_block = cs * 8 / 16;
        let fixed = 1 + l1_clusters + l2_tables.len() as u64 + data_clusters;
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
        let refcount_table_offset = cs;
        let refcount_blocks_offset = refcount_table_offset + rt * cs;
        let l1_table_offset = refcount_blocks_offset + rb * cs;
        let l2_offset = l1_table_offset + l1_clusters * cs;
        let data_offset = l2_offset + l2_tables.len() as u64 * cs;
        let meta_clusters = data_offset / cs;
        Ok(Layout {
            cluster_bits,
            cs,
            l1_size,
            refcount_table_offset,
            refcount_table_clusters: rt,
            refcount_blocks_offset,
            refcount_blocks: rb,
            l1_table_offset,
            l1_clusters,
            l2_offset,
            l2_tables,
            data_offset,
            meta_clusters,
            clusters,
            entries,
            data_refcounts,
            file_size: data_offset + data_clusters * cs,
        })
    }

    fn refcount(&self, host_cluster: u64) -> u16 {
        if host_cluster < self.meta_clusters {
            1
        } else {
            self.data_refcounts
                .get((host_cluster - self.meta_clusters) as usize)
                .copied()
                .unwrap_or(0)
        }
    }

    /// The L2 entry with its absolute host offset.
    fn entry(&self, i: usize) -> u64 {
        // Adding a cluster-aligned base keeps a compressed descriptor's
        // sector count (which depends on offset % 512) unchanged.
        self.entries[i] + self.data_offset
    }
}

fn continue_compressed(
    pos: &mut u64,
    clen: u64,
    cs: u64,
    cluster_bits: u32,
    entries: &mut Vec<u64>,
    refcounts: &mut Vec<u16>,
) {
    let first = *pos / cs;
    let last = (*pos + clen - 1) / cs;
    entries.push(compressed_entry(cluster_bits, *pos, clen));
    if refcounts.len() < (last + 1) as usize {
        refcounts.resize((last + 1) as usize, 0);
    }
    for h in first..=last {
        refcounts[h as usize] = refcounts[h as usize].saturating_add(1);
    }
    *pos += clen;
}

/// Streams `disk` as a version 3 qcow2 image into `sink`.
pub fn write_qcow2(
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
    let cb = cluster_bits(opts)?;
    let cs = 1u64 << cb;
    // qemu sees a qcow2 disk as whole 512-byte sectors (it rounds a size
    // down), so the size is rounded up, as qemu-img convert does.
    let size = disk.size().next_multiple_of(512);
    let runs = candidate_runs(disk, cs);
    let scan_total: u64 = runs.iter().map(|(a, b)| (b - a) * cs).sum();

    // Pass 1: which clusters hold data (and how long they compress). With
    // compression, the first clusters' compressed bytes are kept (up to
    // COMPRESSED_CACHE_BYTES) so pass 2 need not compress them again.
    let mut clusters = Vec::new();
    let mut csizes: Option<Vec<u32>> = opts.compress.then(Vec::new);
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
        clusters.extend(batch.iter().map(|(i, _)| *i));
        if let Some(cz) = csizes.as_mut() {
            for ((_, data), c) in batch.iter().zip(compress_batch(batch)) {
                cz.push(c.as_ref().map(|v| v.len() as u32).unwrap_or(0));
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

    let layout = Layout::plan(cb, size, clusters, csizes)?;
    emit_metadata(&layout, size, sink)?;

    // Pass 2: the data clusters, in the planned order.
    let total = layout.file_size;
    let mut pos = layout.data_offset;
    let mut i = 0usize;
    let changed = || {
        Error::corrupt(
            "qcow2",
            "input",
            "the disk changed between the two passes of the writer",
        )
    };
    let put = |i: usize, bytes: &[u8], pos: &mut u64, sink: &mut dyn Sink| -> Result<()> {
        let e = layout.entry(i);
        let host = if e & OFLAG_COMPRESSED != 0 {
            compressed_span(cb, e).0
        } else {
            if bytes.len() as u64 != cs {
                return Err(changed());
            }
            e & OFFSET_MASK
        };
        if host < *pos {
            return Err(changed());
        }
        if host > *pos {
            sink.hole(host - *pos)?;
        }
        sink.write(bytes)?;
        *pos = host + bytes.len() as u64;
        Ok(())
    };
    let mut at = 0usize;
    for &len in &cache_lens {
        let stored = &cache[at..at + len as usize];
        at += len as usize;
        put(i, stored, &mut pos, sink)?;
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
            put(i, stored, &mut pos, sink)?;
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
            let compressed_entry = layout.entry(i) & OFLAG_COMPRESSED != 0;
            match (&c, compressed_entry) {
                (Some(v), true) => put(i, v, &mut pos, sink)?,
                (None, false) => put(i, data, &mut pos, sink)?,
                _ => return Err(changed()),
            }
            i += 1;
        }
        progress.step("writing qcow2", pos, total)
    })?;
    if i != layout.clusters.len() {
        return Err(changed());
    }
    if total > pos {
        sink.hole(total - pos)?;
    }
    sink.finish()
}

fn emit_metadata(l: &Layout, size: u64, sink: &mut dyn Sink) -> Result<()> {
    let cs = l.cs as usize;
    // Header cluster; the zeros after the header are the end-of-extensions
    // marker (type 0, length 0).
    let header = Header {
        version: 3,
        cluster_bits: l.cluster_bits,
        size,
        l1_size: l.l1_size as u32,
        l1_table_offset: l.l1_table_offset,
        refcount_table_offset: l.refcount_table_offset,
        refcount_table_clusters: l.refcount_table_clusters as u32,
        refcount_order: 4,
        header_length: HEADER_V3_LEN,
        ..Header::default()
    };
    let mut buf = vec![0u8; cs];
    buf[..HEADER_V3_LEN as usize].copy_from_slice(&header.to_bytes_v3());
    sink.write(&buf)?;

    // Refcount table.
    let mut table = vec![0u8; (l.refcount_table_clusters * l.cs) as usize];
    for b in 0..l.refcount_blocks {
        let off = l.refcount_blocks_offset + b * l.cs;
        table[(b * 8) as usize..(b * 8 + 8) as usize].copy_from_slice(&off.to_be_bytes());
    }
    sink.write(&table)?;
    drop(table);

    // Refcount blocks (16-bit entries).
    let per_block = l.cs / 2;
    for b in 0..l.refcount_blocks {
        buf.fill(0);
        for j in 0..per_block {
            let rc = l.refcount(b * per_block + j);
            buf[(j * 2) as usize..(j * 2 + 2) as usize].copy_from_slice(&rc.to_be_bytes());
        }
        sink.write(&buf)?;
    }

    // L1 table.
    let mut l1 = vec![0u8; (l.l1_clusters * l.cs) as usize];
    for (k, &i) in l.l2_tables.iter().enumerate() {
        let e = (l.l2_offset + k as u64 * l.cs) | OFLAG_COPIED;
        l1[(i * 8) as usize..(i * 8 + 8) as usize].copy_from_slice(&e.to_be_bytes());
    }
    sink.write(&l1)?;
    drop(l1);

    // L2 tables.
    let per_l2 = l.cs / 8;
    let mut j = 0usize;
    for &t in &l.l2_tables {
        buf.fill(0);
        while let Some(&c) = l.clusters.get(j) {
            if c / per_l2 != t {
                break;
            }
            let at = ((c % per_l2) * 8) as usize;
            buf[at..at + 8].copy_from_slice(&l.entry(j).to_be_bytes());
            j += 1;
        }
        sink.write(&buf)?;
    }
    Ok(())
}
