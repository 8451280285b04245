//! qcow2 reader: versions 2 and 3, standard, zero and compressed clusters.
//! The virtual disk is a [`Qcow2Reader`] (a [`ReadAt`] translating guest
//! offsets through the L1/L2 tables, with a bounded L2 cache) seen as a
//! [`Disk`] whose allocated ranges are the clusters that hold data.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::bytes;
use crate::image::{Info, Opened};
use crate::io::{read_vec, ReadAt, Source};
use crate::{Disk, Error, Result};
use std::sync::{Arc, Mutex};

const F: &str = "qcow2";

/// L2 tables kept in memory at once (bounded in bytes as well).
const L2_CACHE_BYTES: u64 = 16 << 20;

/// A parsed, validated qcow2 image.
pub struct Qcow2Reader {
    src: Source,
    /// The image header.
    pub header: Header,
    cluster_bits: u32,
    cs: u64,
    l1: Vec<u64>,
    /// The backing file the header names.
    pub backing_file: Option<String>,
    /// The backing file's format, if named.
    pub backing_format: Option<String>,
    /// What unallocated clusters read as when a backing file is named.
    backing: Backing,
    l2_cache: Mutex<Vec<(u64, Arc<Vec<u64>>)>>,
    l2_cache_max: usize,
    /// The last decompressed cluster, keyed by its L2 entry.
    zcache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

enum Backing {
    None,
    /// A backing file is named but was not supplied: reading a cluster that
    /// would come from it is an error.
    Missing,
    Supplied(Disk),
}

/// What a guest cluster maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Not in this image (reads from the backing file, or zeros).
    Unallocated,
    /// Reads as zeros (the L2 zero flag).
    Zero,
    /// Stored at this host offset.
    Standard(u64),
    /// Compressed; the L2 entry's descriptor.
    Compressed(u64),
}

fn corrupt(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::corrupt(F, field, msg)
}

impl Qcow2Reader {
    /// Parses and validates the header, extensions and L1 table.
    pub fn new(src: Source) -> Result<Qcow2Reader> {
        let v = validate(&*src)?;
        let cs = 1u64 << v.header.cluster_bits;
        let backing = if v.backing_file.is_some() {
            Backing::Missing
        } else {
            Backing::None
        };
        Ok(Qcow2Reader {
            src,
            cluster_bits: v.header.cluster_bits,
            cs,
            l1: v.l1,
            backing_file: v.backing_file,
            backing_format: v.backing_format,
            backing,
            l2_cache: Mutex::new(Vec::new()),
            l2_cache_max: (L2_CACHE_BYTES / cs).max(2) as usize,
            zcache: Mutex::new(None),
            header: v.header,
        })
    }
}

/// A header, extensions and L1 table that passed every check.
pub struct Validated {
    /// The image header.
    pub header: Header,
    /// The backing file the header names.
    pub backing_file: Option<String>,
    /// The backing file's format, if named.
    pub backing_format: Option<String>,
    /// The L1 table.
    pub l1: Vec<u64>,
}

/// Parses and validates the header, extensions and L1 table of `src`.
pub fn validate(src: &dyn ReadAt) -> Result<Validated> {
    {
        let file_size = src.size();
        if file_size < HEADER_V2_LEN as u64 {
            return Err(Error::Truncated {
                what: format!("{}: qcow2 header", src.name()),
                offset: HEADER_V2_LEN as u64,
                size: file_size,
            });
        }
        let mut hb = [0u8; 112];
        let n = file_size.min(112) as usize;
        src.read_at(0, bytes::slice_mut(F, "header", &mut hb, 0, n)?)?;
        if hb.get(0..4) != Some(&MAGIC[..]) {
            return Err(corrupt("magic", "not a qcow2 file (no QFI\\xfb magic)"));
        }
        let h = Header::parse(&hb)?;
        if h.version != 2 && h.version != 3 {
            return Err(Error::unsupported(
                F,
                format!("version {} (only 2 and 3)", h.version),
            ));
        }
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&h.cluster_bits) {
            return Err(corrupt(
                "cluster_bits",
                format!(
                    "{} is outside 9..21 (512 B to 2 MiB clusters)",
                    h.cluster_bits
                ),
            ));
        }
        let cb = h.cluster_bits;
        let cs = 1u64 << cb;
        if h.version == 3 {
            if h.header_length < HEADER_V3_LEN
                || h.header_length as u64 > cs
                || h.header_length & 7 != 0
            {
                return Err(corrupt(
                    "header_length",
                    format!("{} is not a valid v3 header length", h.header_length),
                ));
            }
            if h.header_length as u64 > file_size {
                return Err(Error::Truncated {
                    what: "qcow2 header".into(),
                    offset: h.header_length as u64,
                    size: file_size,
                });
            }
            if h.refcount_order > 6 {
                return Err(corrupt(
                    "refcount_order",
                    format!("{} is over 6", h.refcount_order),
                ));
            }
        }
        if h.crypt_method != 0 {
            return Err(Error::unsupported(
                F,
                format!(
                    "the image is encrypted (crypt_method {}); imgforge does not decrypt qcow2",
                    h.crypt_method
                ),
            ));
        }
        let unknown =
            h.incompatible_features & !(INCOMPAT_KNOWN | INCOMPAT_DATA_FILE | INCOMPAT_EXTL2);
        if unknown != 0 {
            return Err(Error::unsupported(
                F,
                format!("unknown incompatible feature bits {unknown:#x}; refusing to read an image this version does not understand"),
            ));
        }
        if h.incompatible_features & INCOMPAT_DATA_FILE != 0 {
            return Err(Error::unsupported(
                F,
                "the image keeps its data in an external data file",
            ));
        }
        if h.incompatible_features & INCOMPAT_EXTL2 != 0 {
            return Err(Error::unsupported(F, "extended L2 entries (subclusters)"));
        }
        if h.incompatible_features & INCOMPAT_COMPRESSION != 0 && h.compression_type != 0 {
            return Err(Error::unsupported(
                F,
                format!("compression type {} (only deflate)", h.compression_type),
            ));
        }

        // Virtual size vs L1 size.
        let l2_entries = cs / 8;
        let guest_clusters = h.size.div_ceil(cs);
        let l1_needed = guest_clusters.div_ceil(l2_entries);
        if (h.l1_size as u64) < l1_needed {
            return Err(corrupt(
                "l1_size",
                format!(
                    "{} entries cannot map a {}-byte disk ({l1_needed} needed)",
                    h.l1_size, h.size
                ),
            ));
        }
        let l1_bytes = h.l1_size as u64 * 8;
        if l1_bytes > MAX_L1_BYTES {
            return Err(corrupt(
                "l1_size",
                format!("{} entries is over qemu's 32 MiB limit", h.l1_size),
            ));
        }
        check_table(
            file_size,
            cs,
            h.l1_table_offset,
            l1_bytes,
            "l1_table_offset",
        )?;
        let rt_bytes = h.refcount_table_clusters as u64 * cs;
        if rt_bytes > MAX_REFTABLE_BYTES {
            return Err(corrupt(
                "refcount_table_clusters",
                format!(
                    "{} clusters is over qemu's 8 MiB limit",
                    h.refcount_table_clusters
                ),
            ));
        }
        if h.refcount_table_clusters == 0 {
            return Err(corrupt(
                "refcount_table_clusters",
                "the image has no refcount table",
            ));
        }
        check_table(
            file_size,
            cs,
            h.refcount_table_offset,
            rt_bytes,
            "refcount_table_offset",
        )?;
        if h.nb_snapshots > 0
            && (h.snapshots_offset & (cs - 1) != 0
                || h.snapshots_offset < cs
                || h.snapshots_offset >= file_size)
        {
            return Err(corrupt(
                "snapshots_offset",
                format!("{:#x} is not a cluster inside the file", h.snapshots_offset),
            ));
        }

        // Backing file name (in the first cluster).
        let mut backing_file = None;
        if h.backing_file_offset != 0 {
            if h.backing_file_size > 1023
                || h.backing_file_offset
                    .saturating_add(h.backing_file_size as u64)
                    > cs
            {
                return Err(corrupt(
                    "backing_file_offset",
                    "the backing file name is not inside the header cluster",
                ));
            }
            let b = read_vec(
                src,
                h.backing_file_offset,
                h.backing_file_size as u64,
                1023,
                "qcow2 backing file name",
            )?;
            backing_file = Some(String::from_utf8_lossy(&b).into_owned());
        }

        // Header extensions.
        let mut backing_format = None;
        let mut at = if h.version == 2 {
            HEADER_V2_LEN as u64
        } else {
            h.header_length as u64
        };
        let ext_end = if h.backing_file_offset != 0 {
            h.backing_file_offset.min(cs)
        } else {
            cs
        }
        .min(file_size);
        while at + 8 <= ext_end {
            let mut e = [0u8; 8];
            src.read_at(at, &mut e)?;
            let ext = ExtensionHeader::parse(&e)?;
            let (ty, len) = (ext.ext_type, ext.length as u64);
            if ty == EXT_END {
                break;
            }
            if at + 8 + len > ext_end {
                return Err(corrupt(
                    "header extension",
                    format!("extension {ty:#x} of {len} bytes runs past the header cluster"),
                ));
            }
            match ty {
                EXT_BACKING_FORMAT => {
                    let b = read_vec(src, at + 8, len, cs, "qcow2 backing format")?;
                    backing_format = Some(String::from_utf8_lossy(&b).into_owned());
                }
                EXT_DATA_FILE => {
                    return Err(Error::unsupported(
                        F,
                        "the image names an external data file",
                    ));
                }
                _ => {}
            }
            at += 8 + len.next_multiple_of(8);
        }

        let l1b = read_vec(
            src,
            h.l1_table_offset,
            l1_bytes,
            MAX_L1_BYTES,
            "qcow2 L1 table",
        )?;
        let l1: Vec<u64> = bytes::be64s(&l1b).collect();
        for (i, &e) in l1.iter().enumerate() {
            let off = e & OFFSET_MASK;
            if off == 0 {
                continue;
            }
            if off & (cs - 1) != 0 {
                return Err(corrupt(
                    &format!("L1 entry {i}"),
                    format!("L2 table offset {off:#x} is not cluster aligned"),
                ));
            }
            if off < cs {
                return Err(corrupt(
                    &format!("L1 entry {i}"),
                    "L2 table overlaps the header",
                ));
            }
            if off.saturating_add(cs) > file_size {
                return Err(corrupt(
                    &format!("L1 entry {i}"),
                    format!("L2 table at {off:#x} is past the end of the {file_size}-byte file"),
                ));
            }
        }
        Ok(Validated {
            header: h,
            backing_file,
            backing_format,
            l1,
        })
    }
}

impl Qcow2Reader {
    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u64 {
        self.cs
    }

    fn l2_table(&self, off: u64) -> Result<Arc<Vec<u64>>> {
        {
            let cache = self
                .l2_cache
                .lock()
                .map_err(|_| corrupt("L2 cache", "poisoned"))?;
            if let Some((_, t)) = cache.iter().find(|(o, _)| *o == off) {
                return Ok(t.clone());
            }
        }
        let b = read_vec(
            &*self.src,
            off,
            self.cs,
            MAX_CLUSTER_BYTES,
            "qcow2 L2 table",
        )?;
        let t: Arc<Vec<u64>> = Arc::new(bytes::be64s(&b).collect());
        let mut cache = self
            .l2_cache
            .lock()
            .map_err(|_| corrupt("L2 cache", "poisoned"))?;
        if cache.len() >= self.l2_cache_max {
            cache.remove(0);
        }
        cache.push((off, t.clone()));
        Ok(t)
    }

    /// Maps guest cluster `idx`, validating the L2 entry.
    pub fn map(&self, idx: u64) -> Result<Mapping> {
        let per_l2 = self.cs / 8;
        let l1e = self.l1.get((idx / per_l2) as usize).copied().unwrap_or(0);
        let l2off = l1e & OFFSET_MASK;
        if l2off == 0 {
            return Ok(Mapping::Unallocated);
        }
        let t = self.l2_table(l2off)?;
        let e = t.get((idx % per_l2) as usize).copied().unwrap_or(0);
        self.decode(idx, e)
    }

    fn decode(&self, idx: u64, e: u64) -> Result<Mapping> {
        let file_size = self.src.size();
        let field = || format!("L2 entry of guest cluster {idx}");
        if e & OFLAG_COMPRESSED != 0 {
            let (off, _) = compressed_span(self.cluster_bits, e);
            if off < self.cs || off >= file_size {
                return Err(corrupt(&field(), format!("compressed cluster at {off:#x} is outside the data area of the {file_size}-byte file")));
            }
            return Ok(Mapping::Compressed(e));
        }
        let off = e & OFFSET_MASK;
        if self.header.version >= 3 && e & OFLAG_ZERO != 0 {
            return Ok(Mapping::Zero);
        }
        if off == 0 {
            return Ok(Mapping::Unallocated);
        }
        if off & (self.cs - 1) != 0 {
            return Err(corrupt(
                &field(),
                format!("cluster offset {off:#x} is not cluster aligned"),
            ));
        }
        if off < self.cs {
            return Err(corrupt(&field(), "data cluster overlaps the header"));
        }
        if off >= file_size {
            return Err(corrupt(
                &field(),
                format!("data cluster at {off:#x} is past the end of the {file_size}-byte file"),
            ));
        }
        Ok(Mapping::Standard(off))
    }

    fn inflate(&self, e: u64) -> Result<Arc<Vec<u8>>> {
        if let Ok(z) = self.zcache.lock() {
            if let Some((k, v)) = z.as_ref() {
                if *k == e {
                    return Ok(v.clone());
                }
            }
        }
        let (off, span) = compressed_span(self.cluster_bits, e);
        // The last compressed cluster may end before its last sector does.
        let span = span.min(self.src.size() - off);
        let input = read_vec(
            &*self.src,
            off,
            span,
            2 * MAX_CLUSTER_BYTES,
            "qcow2 compressed cluster",
        )?;
        let out = inflate_cluster(&input, self.cs as usize)?;
        let out = Arc::new(out);
        if let Ok(mut z) = self.zcache.lock() {
            *z = Some((e, out.clone()));
        }
        Ok(out)
    }

    /// Guest ranges that hold data (standard or compressed clusters), merged.
    pub fn allocated_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let size = self.header.size;
        let per_l2 = self.cs / 8;
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (i, &l1e) in self.l1.iter().enumerate() {
            let l2off = l1e & OFFSET_MASK;
            if l2off == 0 {
                continue;
            }
            let b = read_vec(
                &*self.src,
                l2off,
                self.cs,
                MAX_CLUSTER_BYTES,
                "qcow2 L2 table",
            )?;
            for (j, entry) in bytes::be64s(&b).enumerate() {
                let idx = i as u64 * per_l2 + j as u64;
                let start = idx * self.cs;
                if start >= size {
                    break;
                }
                match self.decode(idx, entry)? {
                    Mapping::Standard(_) | Mapping::Compressed(_) => {
                        let len = self.cs.min(size - start);
                        match out.last_mut() {
                            Some((s, l)) if *s + *l == start => *l += len,
                            _ => out.push((start, len)),
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

/// Largest cluster (2 MiB).
const MAX_CLUSTER_BYTES: u64 = 1 << MAX_CLUSTER_BITS;

/// Inflates one compressed cluster (raw deflate). Producing more than a
/// cluster is an error; a shorter stream leaves zeros.
pub fn inflate_cluster(input: &[u8], cs: usize) -> Result<Vec<u8>> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(false);
    // One spare byte tells "exactly a cluster" from "more than a cluster".
    let mut out = Vec::with_capacity(cs + 1);
    let st = d
        .decompress_vec(input, &mut out, FlushDecompress::Finish)
        .map_err(|e| corrupt("compressed cluster", format!("bad deflate data: {e}")))?;
    if out.len() > cs {
        return Err(corrupt(
            "compressed cluster",
            format!("inflates to more than the {cs}-byte cluster"),
        ));
    }
    match st {
        Status::StreamEnd => {}
        _ if out.len() == cs => {}
        _ => return Err(corrupt("compressed cluster", "deflate stream ends early")),
    }
    out.resize(cs, 0);
    Ok(out)
}

fn check_table(file_size: u64, cs: u64, off: u64, len: u64, field: &str) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    if off & (cs - 1) != 0 {
        return Err(corrupt(field, format!("{off:#x} is not cluster aligned")));
    }
    if off < cs {
        return Err(corrupt(field, "the table overlaps the header"));
    }
    match off.checked_add(len) {
        Some(end) if end <= file_size => Ok(()),
        _ => Err(corrupt(
            field,
            format!(
                "the {len}-byte table at {off:#x} runs past the end of the {file_size}-byte file"
            ),
        )),
    }
}

impl ReadAt for Qcow2Reader {
    fn size(&self) -> u64 {
        self.header.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let size = self.header.size;
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= size => {}
            _ => {
                return Err(Error::Truncated {
                    what: "qcow2 virtual disk".into(),
                    offset: offset.saturating_add(buf.len() as u64),
                    size,
                })
            }
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let idx = pos >> self.cluster_bits;
            let within = pos & (self.cs - 1);
            let n = ((self.cs - within) as usize).min(buf.len() - done);
            let out = bytes::slice_mut(F, "read buffer", buf, done, n)?;
            match self.map(idx)? {
                Mapping::Zero => out.fill(0),
                Mapping::Unallocated => match &self.backing {
                    Backing::None => out.fill(0),
                    Backing::Missing => {
                        return Err(Error::unsupported(
                            F,
                            format!(
                                "guest byte {pos} comes from the backing file '{}', which was not supplied",
                                self.backing_file.as_deref().unwrap_or("")
                            ),
                        ))
                    }
                    Backing::Supplied(d) => {
                        out.fill(0);
                        let bsize = d.size();
                        if pos < bsize {
                            let m = (bsize - pos).min(n as u64) as usize;
                            d.read_at(pos, bytes::slice_mut(F, "read buffer", out, 0, m)?)?;
                        }
                    }
                },
                Mapping::Standard(host) => {
                    let at = host + within;
                    let fsize = self.src.size();
                    let avail = fsize.saturating_sub(at).min(n as u64) as usize;
                    let (data, tail) = out.split_at_mut(avail.min(n));
                    self.src.read_at(at, data)?;
                    tail.fill(0);
                }
                Mapping::Compressed(e) => {
                    let c = self.inflate(e)?;
                    out.copy_from_slice(bytes::slice(F, "cluster", &c, within as usize, n)?);
                }
            }
            done += n;
        }
        Ok(())
    }

    fn name(&self) -> String {
        format!("qcow2 {}", self.src.name())
    }
}

/// Opens a qcow2 image. If it names a backing file, [`Info`] reports it and
/// reading a cluster the image does not hold fails with a clear error; use
/// [`open_with_backing`] to supply the backing disk.
pub fn open(src: Source) -> Result<Opened> {
    open_with(src, None)
}

fn open_with(src: Source, backing: Option<Disk>) -> Result<Opened> {
    let mut r = Qcow2Reader::new(src)?;
    let size = r.header.size;
    let ranges = if r.backing_file.is_some() {
        if let Some(d) = backing {
            r.backing = Backing::Supplied(d);
        }
        vec![(0, size)]
    } else {
        r.allocated_ranges()?
    };
    let h = &r.header;
    let info = Info {
        format: "qcow2".into(),
        virtual_size: size,
        cluster_size: Some(r.cs),
        backing_filename: r.backing_file.clone(),
        backing_format: r.backing_format.clone(),
        dirty: h.incompatible_features & INCOMPAT_DIRTY != 0,
        format_specific: Some(serde_json::json!({
            "type": "qcow2",
            "data": {
                "compat": if h.version >= 3 { "1.1" } else { "0.10" },
                "compression-type": "zlib",
                "lazy-refcounts": h.compatible_features & 1 != 0,
                "refcount-bits": 1u32 << h.refcount_order.min(6),
                "corrupt": h.incompatible_features & INCOMPAT_CORRUPT != 0,
                "extended-l2": false,
                "nb-snapshots": h.nb_snapshots,
            }
        })),
    };
    #[allow(clippy::arc_with_non_send_sync)] // Source is not Send by contract
    let reader: Source = Arc::new(r);
    let disk = if ranges.is_empty() {
        Disk::new(size)
    } else {
        Disk::from_source(reader, &ranges)?
    };
    Ok(Opened { disk, info })
}

/// Opens a qcow2 image whose unallocated clusters read from `backing`.
pub fn open_with_backing(src: Source, backing: Disk) -> Result<Opened> {
    open_with(src, Some(backing))
}
