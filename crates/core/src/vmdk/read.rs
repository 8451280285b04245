//! VMDK readers: hosted sparse extents (monolithicSparse, streamOptimized,
//! the pieces of twoGbMaxExtentSparse) and text descriptors with flat,
//! zero and sparse extents.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::bytes;
use crate::image::{Info, Opened};
use crate::io::{read_vec, ReadAt, Source};
use crate::{Disk, Error, Result};
use std::cell::RefCell;
use std::io::Read;
use std::sync::Arc;

const F: &str = "vmdk";
/// Largest descriptor read (embedded or separate).
const DESCRIPTOR_CAP: u64 = 1 << 20;
/// Largest grain directory + tables held while opening (a 64 TiB disk with
/// 64 KiB grains has 4 GiB of GTEs; refuse above 256 MiB of tables).
const TABLE_CAP: u64 = 256 << 20;

fn corrupt(field: impl Into<String>, msg: impl std::fmt::Display) -> Error {
    Error::corrupt(F, field, msg)
}

/// One extent line of a descriptor: `RW 2097152 FLAT "disk-flat.vmdk" 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentLine {
    /// `RW`, `RDONLY` or `NOACCESS`.
    pub access: String,
    /// Length in sectors.
    pub sectors: u64,
    /// `SPARSE`, `FLAT`, `ZERO`, ...
    pub kind: String,
    /// The extent's file name.
    pub file: String,
    /// Offset in sectors into the file (FLAT extents).
    pub offset: u64,
}

/// A parsed descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// Descriptor `version`.
    pub version: u32,
    /// Content ID.
    pub cid: String,
    /// Parent's content ID (`ffffffff`: none).
    pub parent_cid: String,
    /// `createType` (`monolithicSparse`, `streamOptimized`, ...).
    pub create_type: String,
    /// The parent's file name for a delta disk.
    pub parent_file_name_hint: Option<String>,
    /// The extents, in order.
    pub extents: Vec<ExtentLine>,
    /// `ddb.*` entries in file order (unknown ones are kept, as VMware does).
    pub ddb: Vec<(String, String)>,
}

impl Descriptor {
    /// A disk database (`ddb.`) value by key.
    pub fn ddb(&self, key: &str) -> Option<&str> {
        self.ddb
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

fn parse_extent(line: &str, n: usize) -> Result<ExtentLine> {
    let bad = |why: &str| corrupt(format!("descriptor line {n}"), format!("{why}: '{line}'"));
    let q1 = line
        .find('"')
        .ok_or_else(|| bad("extent line without a quoted file name"))?;
    let q2 = line[q1 + 1..]
        .find('"')
        .map(|p| p + q1 + 1)
        .ok_or_else(|| bad("unterminated file name"))?;
    let head: Vec<&str> = line[..q1].split_whitespace().collect();
    let tail: Vec<&str> = line[q2 + 1..].split_whitespace().collect();
    if head.len() != 3 || tail.len() > 1 {
        return Err(bad("expected ACCESS SECTORS TYPE \"FILE\" [OFFSET]"));
    }
    let [access, sectors, kind] = head.as_slice() else {
        return Err(bad("expected ACCESS SECTORS TYPE \"FILE\" [OFFSET]"));
    };
    if !["RW", "RDONLY", "NOACCESS"].contains(access) {
        return Err(bad("access is not RW, RDONLY or NOACCESS"));
    }
    let sectors = sectors
        .parse()
        .map_err(|_| bad("sector count is not a number"))?;
    let offset = match tail.first() {
        Some(t) => t.parse().map_err(|_| bad("offset is not a number"))?,
        None => 0,
    };
    Ok(ExtentLine {
        access: access.to_string(),
        sectors,
        kind: kind.to_string(),
        file: line[q1 + 1..q2].to_string(),
        offset,
    })
}

/// Parses descriptor text. Unknown `ddb.*` keys are kept; an extent line
/// that does not parse is an error naming the line.
pub fn parse_descriptor(text: &str) -> Result<Descriptor> {
    let mut d = Descriptor::default();
    let mut seen_header = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            seen_header |= line.starts_with("# Disk DescriptorFile");
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if ["RW", "RDONLY", "NOACCESS"].contains(&first) {
            d.extents.push(parse_extent(line, n)?);
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(corrupt(
                format!("descriptor line {n}"),
                format!("neither 'key = value' nor an extent: '{line}'"),
            ));
        };
        let (k, v) = (k.trim(), unquote(v));
        match k {
            "version" => {
                d.version = v.parse().map_err(|_| {
                    corrupt(
                        format!("descriptor line {n}"),
                        format!("version '{v}' is not a number"),
                    )
                })?
            }
            "CID" => d.cid = v,
            "parentCID" => d.parent_cid = v,
            "createType" => d.create_type = v,
            "parentFileNameHint" => d.parent_file_name_hint = Some(v),
            k if k.starts_with("ddb.") => d.ddb.push((k.to_string(), v)),
            // Other keys (encoding, isNativeSnapshot, ...) do not change how
            // the data is read.
            _ => {}
        }
    }
    if !seen_header && d.create_type.is_empty() {
        return Err(corrupt(
            "descriptor",
            "no '# Disk DescriptorFile' and no createType",
        ));
    }
    Ok(d)
}

/// Where a grain's data is.
#[derive(Debug, Clone, Copy)]
enum Grain {
    /// Uncompressed at this byte offset.
    Plain(u64),
    /// Behind a grain marker at this byte offset.
    Compressed(u64),
}

/// The virtual disk of a sparse extent: allocated grains in order.
struct SparseExtent {
    src: Source,
    header: SparseExtentHeader,
    grain_bytes: u64,
    size: u64,
    /// (grain index, where), sorted by grain index.
    grains: Vec<(u64, Grain)>,
    cache: RefCell<Option<(u64, Vec<u8>)>>,
}

impl SparseExtent {
    fn inflate(&self, at: u64, index: u64) -> Result<Vec<u8>> {
        let mut m = [0u8; GRAIN_MARKER_SIZE];
        self.src.read_at(at, &mut m)?;
        let lba = u64::from_le_bytes(m[0..8].try_into().unwrap_or([0; 8]));
        let size = u32::from_le_bytes(m[8..12].try_into().unwrap_or([0; 4])) as u64;
        let field = || format!("grain {index} at byte {at}");
        if lba != index * self.header.grain_size {
            return Err(corrupt(field(), format!("marker says sector {lba}")));
        }
        let data = read_vec(
            &*self.src,
            at + GRAIN_MARKER_SIZE as u64,
            size,
            self.grain_bytes * 2 + 4096,
            "vmdk compressed grain",
        )?;
        let mut out = Vec::with_capacity(self.grain_bytes as usize);
        let mut z = flate2::read::ZlibDecoder::new(&data[..]).take(self.grain_bytes + 1);
        z.read_to_end(&mut out)
            .map_err(|e| corrupt(field(), format!("does not inflate: {e}")))?;
        if out.len() as u64 > self.grain_bytes {
            return Err(corrupt(field(), "inflates to more than a grain"));
        }
        out.resize(self.grain_bytes as usize, 0);
        Ok(out)
    }
}

impl ReadAt for SparseExtent {
    fn size(&self) -> u64 {
        self.size
    }
    fn name(&self) -> String {
        self.src.name()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.size => {}
            _ => {
                return Err(Error::Truncated {
                    what: "vmdk virtual disk".into(),
                    offset: offset.saturating_add(buf.len() as u64),
                    size: self.size,
                })
            }
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let g = pos / self.grain_bytes;
            let within = pos % self.grain_bytes;
            let n = ((self.grain_bytes - within) as usize).min(buf.len() - done);
            let out = bytes::slice_mut(F, "read buffer", buf, done, n)?;
            match self.grains.binary_search_by_key(&g, |e| e.0) {
                Err(_) => out.fill(0),
                Ok(i) => match self.grains.get(i).map(|e| e.1) {
                    None => out.fill(0),
                    Some(Grain::Plain(at)) => self.src.read_at(at + within, out)?,
                    Some(Grain::Compressed(at)) => {
                        let mut c = self.cache.borrow_mut();
                        if c.as_ref().map(|(k, _)| *k) != Some(g) {
                            *c = Some((g, self.inflate(at, g)?));
                        }
                        if let Some((_, data)) = c.as_ref() {
                            out.copy_from_slice(bytes::slice(
                                F,
                                "grain",
                                data,
                                within as usize,
                                n,
                            )?);
                        }
                    }
                },
            }
            done += n;
        }
        Ok(())
    }
}

/// The header that applies: for a stream-optimized extent with
/// gdOffset = GD_AT_END, the footer in the last 1.5 KiB (footer marker,
/// footer, end-of-stream marker).
fn effective_header(src: &dyn ReadAt, h: SparseExtentHeader) -> Result<SparseExtentHeader> {
    if h.gd_offset != GD_AT_END {
        return Ok(h);
    }
    let size = src.size();
    if size < 1536 + 512 {
        return Err(corrupt(
            "footer",
            "file too short for a stream-optimized footer",
        ));
    }
    let tail = read_vec(src, size - 1536, 1536, 1536, "vmdk footer")?;
    let r = bytes::Reader::new(F, "footer", &tail);
    let footer_marker = Marker::parse(r.bytes(0, 512)?)?;
    if footer_marker.kind != MARKER_FOOTER || footer_marker.size != 0 {
        return Err(corrupt("footer", "no footer marker before the footer"));
    }
    let eos = Marker::parse(r.bytes(1024, 512)?)?;
    if eos.kind != MARKER_EOS || eos.size != 0 || eos.val != 0 {
        return Err(corrupt("footer", "no end-of-stream marker at the end"));
    }
    let fb: [u8; 512] = r.array(512)?;
    let f = SparseExtentHeader::parse(&fb)?.ok_or_else(|| corrupt("footer", "no KDMV magic"))?;
    if f.gd_offset == GD_AT_END {
        return Err(corrupt("footer", "gdOffset is still GD_AT_END"));
    }
    Ok(f)
}

/// Parses a hosted sparse extent: its virtual disk (lazy) and its
/// embedded descriptor text, if any.
fn sparse_disk(src: Source) -> Result<(Disk, SparseExtentHeader, Option<String>)> {
    let mut hb = [0u8; 512];
    src.read_at(0, &mut hb)?;
    if hb.starts_with(COWD_MAGIC) {
        return Err(Error::unsupported(F, "ESX COWD sparse extents"));
    }
    let h0 = SparseExtentHeader::parse(&hb)?.ok_or_else(|| corrupt("header", "no KDMV magic"))?;
    if !(1..=3).contains(&h0.version) {
        return Err(Error::unsupported(
            F,
            format!("sparse extent version {}", h0.version),
        ));
    }
    let desc = if h0.descriptor_offset != 0 && h0.descriptor_size != 0 {
        let b = read_vec(
            &*src,
            h0.descriptor_offset.saturating_mul(SECTOR),
            h0.descriptor_size.saturating_mul(SECTOR),
            DESCRIPTOR_CAP,
            "vmdk embedded descriptor",
        )?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned())
    } else {
        None
    };
    let h = effective_header(&*src, h0)?;
    if !h.grain_size.is_power_of_two() || h.grain_size > MAX_GRAIN_SECTORS {
        return Err(corrupt(
            "grainSize",
            format!(
                "{} sectors is not a power of two up to {MAX_GRAIN_SECTORS}",
                h.grain_size
            ),
        ));
    }
    if h.num_gtes_per_gt != NUM_GTES_PER_GT {
        return Err(corrupt(
            "numGTEsPerGT",
            format!("{} (only 512 is defined)", h.num_gtes_per_gt),
        ));
    }
    if h.capacity > MAX_CAPACITY_SECTORS {
        return Err(corrupt(
            "capacity",
            format!("{} sectors is more than 64 TiB", h.capacity),
        ));
    }
    let compressed = h.flags & FLAG_COMPRESSED != 0;
    if compressed && h.compress_algorithm != COMPRESSION_DEFLATE {
        return Err(Error::unsupported(
            F,
            format!("compression algorithm {}", h.compress_algorithm),
        ));
    }
    if compressed && h.flags & FLAG_MARKERS == 0 {
        return Err(Error::unsupported(F, "compressed grains without markers"));
    }
    let grain_bytes = h.grain_size * SECTOR;
    let size = h.capacity * SECTOR;
    let gt_coverage = h.grain_size * NUM_GTES_PER_GT as u64;
    let gt_count = h.capacity.div_ceil(gt_coverage);
    let file = src.size();
    let gd_bytes = gt_count * 4;
    let gd_at = h
        .gd_offset
        .checked_mul(SECTOR)
        .filter(|&a| a.saturating_add(gd_bytes) <= file);
    let Some(gd_at) = gd_at else {
        return Err(corrupt(
            "gdOffset",
            format!(
                "grain directory at sector {} lies past the end of the {file}-byte file",
                h.gd_offset
            ),
        ));
    };
    if h.flags & FLAG_USE_REDUNDANT_GT != 0
        && h.rgd_offset.saturating_mul(SECTOR).saturating_add(gd_bytes) > file
    {
        return Err(corrupt(
            "rgdOffset",
            "redundant grain directory lies past the end of the file",
        ));
    }
    let gd = read_vec(&*src, gd_at, gd_bytes, TABLE_CAP, "vmdk grain directory")?;
    let zero_grain = h.flags & FLAG_ZEROED_GRAIN_GTE != 0;
    let mut grains = Vec::new();
    let mut table_bytes = 0u64;
    for (t, gde) in bytes::le32s(&gd).enumerate() {
        let gt_sector = gde as u64;
        if gt_sector == 0 {
            continue;
        }
        table_bytes += NUM_GTES_PER_GT as u64 * 4;
        if table_bytes > TABLE_CAP {
            return Err(Error::no_space(
                "vmdk grain tables",
                "more than 256 MiB of tables",
            ));
        }
        let gt = read_vec(
            &*src,
            gt_sector * SECTOR,
            NUM_GTES_PER_GT as u64 * 4,
            TABLE_CAP,
            &format!("vmdk grain table {t}"),
        )
        .map_err(|_| {
            corrupt(
                format!("grain directory entry {t}"),
                format!("grain table at sector {gt_sector} lies past the end of the file"),
            )
        })?;
        for (j, gte) in bytes::le32s(&gt).enumerate() {
            let gte = gte as u64;
            let index = t as u64 * NUM_GTES_PER_GT as u64 + j as u64;
            if gte == 0 || (gte == 1 && zero_grain) {
                continue;
            }
            let voff = index * grain_bytes;
            if voff >= size {
                continue;
            }
            let at = gte * SECTOR;
            let need = if compressed {
                GRAIN_MARKER_SIZE as u64
            } else {
                grain_bytes.min(size - voff)
            };
            if at.saturating_add(need) > file {
                return Err(corrupt(
                    format!("grain table {t} entry {j}"),
                    format!("grain at sector {gte} lies past the end of the {file}-byte file"),
                ));
            }
            grains.push((
                index,
                if compressed {
                    Grain::Compressed(at)
                } else {
                    Grain::Plain(at)
                },
            ));
        }
    }
    grains.sort_by_key(|e| e.0);
    let mut disk = Disk::new(size);
    if compressed {
        // Runs of allocated grains read through the inflating extent.
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &(g, _) in &grains {
            let off = g * grain_bytes;
            let len = grain_bytes.min(size - off);
            match ranges.last_mut() {
                Some((s, l)) if *s + *l == off => *l += len,
                _ => ranges.push((off, len)),
            }
        }
        // Source is Arc<dyn ReadAt> by contract; it need not be Send.
        #[allow(clippy::arc_with_non_send_sync)]
        let ext: Source = Arc::new(SparseExtent {
            src: src.clone(),
            header: h.clone(),
            grain_bytes,
            size,
            grains,
            cache: RefCell::new(None),
        });
        for (off, len) in ranges {
            disk.write_source(off, ext.clone(), off, len)?;
        }
    } else {
        // Plain grains point straight into the file; runs contiguous both
        // in the disk and in the file become one extent.
        let mut run: Option<(u64, u64, u64)> = None; // (voff, foff, len)
        for &(g, w) in &grains {
            let Grain::Plain(at) = w else { continue };
            let off = g * grain_bytes;
            let len = grain_bytes.min(size - off);
            run = match run {
                Some((v, f, l)) if v + l == off && f + l == at => Some((v, f, l + len)),
                Some((v, f, l)) => {
                    disk.write_source(v, src.clone(), f, l)?;
                    Some((off, at, len))
                }
                None => Some((off, at, len)),
            };
        }
        if let Some((v, f, l)) = run {
            disk.write_source(v, src.clone(), f, l)?;
        }
    }
    Ok((disk, h, desc))
}

fn info(h: &SparseExtentHeader, d: &Descriptor, size: u64) -> Info {
    Info {
        format: "vmdk".into(),
        virtual_size: size,
        cluster_size: Some(h.grain_size * SECTOR),
        backing_filename: None,
        backing_format: None,
        dirty: h.unclean_shutdown,
        // qemu-img's shape: {"type": "vmdk", "data": {...}}, CIDs as numbers.
        format_specific: Some(serde_json::json!({
            "type": "vmdk",
            "data": {
                "create-type": d.create_type,
                "cid": cid_json(&d.cid),
                "parent-cid": cid_json(&d.parent_cid),
                "adapter-type": d.ddb("ddb.adapterType"),
                "virtual-hw-version": d.ddb("ddb.virtualHWVersion"),
                "extents": [extent_json(h, size)],
            },
        })),
    }
}

/// A CID as qemu-img prints it: the descriptor's hex as a number.
fn cid_json(cid: &str) -> serde_json::Value {
    match u32::from_str_radix(cid, 16) {
        Ok(n) => n.into(),
        Err(_) => cid.into(),
    }
}

fn extent_json(h: &SparseExtentHeader, size: u64) -> serde_json::Value {
    let mut e = serde_json::json!({
        "virtual-size": size,
        "cluster-size": h.grain_size * SECTOR,
    });
    // qemu-img lists "compressed" only for compressed extents.
    if h.flags & FLAG_COMPRESSED != 0 {
        if let Some(o) = e.as_object_mut() {
            o.insert("compressed".into(), true.into());
        }
    }
    e
}

fn refuse_child(d: &Descriptor) -> Result<()> {
    if !d.parent_cid.is_empty() && !d.parent_cid.eq_ignore_ascii_case("ffffffff") {
        return Err(Error::unsupported(
            F,
            format!(
                "a delta (child) disk of {}; convert it with its parent using qemu-img",
                d.parent_file_name_hint
                    .as_deref()
                    .unwrap_or("an unnamed parent")
            ),
        ));
    }
    Ok(())
}

/// Opens a monolithic sparse or stream-optimized VMDK. A separate text
/// descriptor needs its extent files: use [`open_descriptor`].
pub fn open(src: Source) -> Result<Opened> {
    let mut head = [0u8; 21];
    let n = src.size().min(21) as usize;
    let head = bytes::slice_mut(F, "file start", &mut head, 0, n)?;
    src.read_at(0, head)?;
    if head.starts_with(b"# Disk DescriptorFile") {
        return Err(Error::unsupported(
            F,
            "this is a descriptor whose data lives in separate extent files; open the descriptor with its extents (vmdk::open_descriptor)",
        ));
    }
    let (disk, h, text) = sparse_disk(src)?;
    let d = match &text {
        Some(t) => parse_descriptor(t)?,
        None => Descriptor::default(),
    };
    refuse_child(&d)?;
    if d.extents.len() > 1 {
        return Err(Error::unsupported(
            F,
            "a sparse extent whose descriptor names several extents; open the descriptor file",
        ));
    }
    let size = disk.size();
    Ok(Opened {
        disk,
        info: info(&h, &d, size),
    })
}

/// Opens a descriptor (monolithicFlat, twoGbMaxExtentFlat,
/// twoGbMaxExtentSparse, vmfs, ...) whose extent files `resolve` opens by
/// the name written in the descriptor.
pub fn open_descriptor(text: &str, resolve: &dyn Fn(&str) -> Result<Source>) -> Result<Opened> {
    let d = parse_descriptor(text)?;
    refuse_child(&d)?;
    match d.create_type.as_str() {
        "monolithicFlat"
        | "twoGbMaxExtentFlat"
        | "monolithicSparse"
        | "twoGbMaxExtentSparse"
        | "streamOptimized"
        | "vmfs"
        | "vmfsSparse"
        | "custom" => {}
        other => {
            return Err(Error::unsupported(
                F,
                format!("descriptor createType=\"{other}\" is not one imgforge reads"),
            ))
        }
    }
    if d.extents.is_empty() {
        return Err(corrupt("descriptor", "no extent lines"));
    }
    let mut total = 0u64;
    for e in &d.extents {
        total = total
            .checked_add(e.sectors)
            .filter(|&t| t <= MAX_CAPACITY_SECTORS)
            .ok_or_else(|| corrupt("descriptor", "extents add up to more than 64 TiB"))?;
    }
    let mut disk = Disk::new(total * SECTOR);
    let mut voff = 0u64;
    let mut first_header = None;
    for e in &d.extents {
        let len = e.sectors * SECTOR;
        let field = || format!("extent \"{}\"", e.file);
        match e.kind.as_str() {
            "FLAT" | "VMFS" => {
                let f = resolve(&e.file)?;
                let start = e
                    .offset
                    .checked_mul(SECTOR)
                    .ok_or_else(|| corrupt(field(), "offset overflows"))?;
                if start.saturating_add(len) > f.size() {
                    return Err(corrupt(
                        field(),
                        format!(
                            "{} sectors at sector {} go past the end of the {}-byte file",
                            e.sectors,
                            e.offset,
                            f.size()
                        ),
                    ));
                }
                disk.write_source(voff, f, start, len)?;
            }
            "ZERO" => {}
            "SPARSE" | "VMFSSPARSE" => {
                let f = resolve(&e.file)?;
                let (sub, h, _) = sparse_disk(f)?;
                if sub.size() < len {
                    return Err(corrupt(
                        field(),
                        format!(
                            "sparse extent holds {} bytes, the descriptor says {len}",
                            sub.size()
                        ),
                    ));
                }
                let mut sub = sub;
                sub.set_size(len);
                disk.embed(voff, &sub)?;
                first_header.get_or_insert(h);
            }
            other => {
                return Err(corrupt(
                    field(),
                    format!("extent type {other} is not FLAT, VMFS, ZERO or SPARSE"),
                ))
            }
        }
        voff += len;
    }
    let h = first_header.unwrap_or(SparseExtentHeader {
        version: 1,
        flags: 0,
        capacity: total,
        grain_size: 0,
        descriptor_offset: 0,
        descriptor_size: 0,
        num_gtes_per_gt: 0,
        rgd_offset: 0,
        gd_offset: 0,
        over_head: 0,
        unclean_shutdown: false,
        compress_algorithm: 0,
    });
    let mut i = info(&h, &d, total * SECTOR);
    if h.grain_size == 0 {
        i.cluster_size = None;
    }
    Ok(Opened { disk, info: i })
}

/// The embedded descriptor of a sparse extent (for tests and `info`).
pub fn embedded_descriptor(src: Source) -> Result<Option<Descriptor>> {
    let mut hb = [0u8; 512];
    src.read_at(0, &mut hb)?;
    let h = SparseExtentHeader::parse(&hb)?.ok_or_else(|| corrupt("header", "no KDMV magic"))?;
    if h.descriptor_offset == 0 || h.descriptor_size == 0 {
        return Ok(None);
    }
    let b = read_vec(
        &*src,
        h.descriptor_offset.saturating_mul(SECTOR),
        h.descriptor_size.saturating_mul(SECTOR),
        DESCRIPTOR_CAP,
        "vmdk embedded descriptor",
    )?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    parse_descriptor(&String::from_utf8_lossy(b.get(..end).unwrap_or_default())).map(Some)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::image::WriteOptions;
    use crate::io::NoProgress;
    use crate::testutil::{exercise, Mutated, XorShift};
    use std::io::Write;

    fn image(sub: &str) -> Arc<Vec<u8>> {
        let mut d = Disk::new(40 << 20);
        d.write(0, b"grain zero").unwrap();
        d.write(33 << 20, b"second gt").unwrap();
        let opts = WriteOptions {
            subformat: Some(sub.into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        super::super::write(&d, &opts, &mut out, &NoProgress).unwrap();
        Arc::new(out)
    }

    fn read_disk(o: &Opened, at: u64, n: usize) -> Result<Vec<u8>> {
        let mut b = vec![0u8; n];
        o.disk.read_at(at, &mut b)?;
        Ok(b)
    }

    #[test]
    fn both_subformats_read_back() {
        for sub in ["monolithicSparse", "streamOptimized"] {
            let o = open(image(sub)).unwrap();
            assert_eq!(read_disk(&o, 0, 10).unwrap(), b"grain zero");
            assert_eq!(read_disk(&o, 33 << 20, 9).unwrap(), b"second gt");
            assert_eq!(o.info.virtual_size, 40 << 20);
        }
    }

    #[test]
    fn descriptor_with_a_wrong_extent_line_names_the_line() {
        let text = "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT disk-flat.vmdk 0\n";
        let e = parse_descriptor(text).err().unwrap().to_string();
        assert!(e.contains("descriptor line 4"), "{e}");
        let text = "# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW many FLAT \"f\" 0\n";
        let e = parse_descriptor(text).err().unwrap().to_string();
        assert!(e.contains("line 3") && e.contains("not a number"), "{e}");
        let text = "# Disk DescriptorFile\ncreateType=\"fancyNew\"\nRW 8 FLAT \"f\" 0\nddb.whatever = \"x\"\n";
        let e = open_descriptor(text, &|_| Ok(Arc::new(vec![0u8; 4096]) as Source))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("fancyNew"), "{e}");
    }

    #[test]
    fn flat_descriptor_extent_past_the_file_is_an_error() {
        let text =
            "# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 16 FLAT \"f.vmdk\" 0\n";
        let e = open_descriptor(text, &|_| Ok(Arc::new(vec![0u8; 4096]) as Source))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("past the end"), "{e}");
        let o = open_descriptor(text, &|_| Ok(Arc::new(vec![7u8; 8192]) as Source)).unwrap();
        assert_eq!(read_disk(&o, 8191, 1).unwrap(), [7]);
    }

    #[test]
    fn absurd_grain_size_is_an_error() {
        for gs in [3u64, 1 << 40, 4096] {
            let mut m = Mutated::new(image("monolithicSparse"));
            m.set(20, &gs.to_le_bytes());
            let e = open(Arc::new(m)).err().unwrap().to_string();
            assert!(e.contains("grainSize"), "{e}");
        }
    }

    #[test]
    fn gd_offset_past_eof_is_an_error() {
        let mut m = Mutated::new(image("monolithicSparse"));
        m.set(56, &(1u64 << 30).to_le_bytes());
        let e = open(Arc::new(m)).err().unwrap().to_string();
        assert!(e.contains("gdOffset") && e.contains("past the end"), "{e}");
    }

    #[test]
    fn compressed_grain_inflating_beyond_a_grain_is_an_error() {
        let base = image("streamOptimized");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 128 * 1024]).unwrap();
        let big = z.finish().unwrap();
        let mut m = Mutated::new(base);
        // The first grain marker is at sector 128 (the header's overHead).
        m.set(128 * 512 + 8, &(big.len() as u32).to_le_bytes());
        m.set(128 * 512 + 12, &big);
        let o = open(Arc::new(m)).unwrap();
        let e = read_disk(&o, 0, 512).err().unwrap().to_string();
        assert!(e.contains("more than a grain"), "{e}");
    }

    #[test]
    fn truncated_files_are_errors() {
        for sub in ["monolithicSparse", "streamOptimized"] {
            let base = image(sub);
            for len in [0u64, 10, 600, 64 * 1024, base.len() as u64 - 600] {
                let mut m = Mutated::new(base.clone());
                m.len = len;
                let r = open(Arc::new(m)).and_then(|o| read_disk(&o, 33 << 20, 9));
                assert!(r.is_err(), "{sub} len {len}");
            }
        }
    }

    #[test]
    fn mutated_images_never_panic() {
        for (seed, sub) in [(1u64, "monolithicSparse"), (2, "streamOptimized")] {
            let base = image(sub);
            let n = base.len() as u64;
            let mut rng = XorShift(0xD1B5_4A32_D192_ED03 ^ seed);
            let areas = [
                (0, 80),
                (512, 1024),
                (21 * 512, 10 * 512),
                (128 * 512, 64),
                (n.saturating_sub(3000), 3000),
                (0, n),
            ];
            for i in 0..2000 {
                let mut m = Mutated::new(base.clone());
                m.mutate(&mut rng, &areas, 1 + (i % 6));
                if let Ok(o) = open(Arc::new(m)) {
                    exercise(&o.disk, &mut rng);
                }
            }
        }
        let mut rng = XorShift(77);
        let text = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\nRW 8 FLAT \"a\" 0\nRW 8 ZERO \"b\"\nddb.adapterType = \"ide\"\n";
        for _ in 0..2000 {
            let mut b = text.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = b" \"\n=#0123456789RWFLATZERO"[rng.below(24) as usize];
            }
            let t = String::from_utf8_lossy(&b);
            if let Ok(o) = open_descriptor(&t, &|_| Ok(Arc::new(vec![1u8; 8192]) as Source)) {
                exercise(&o.disk, &mut rng);
            }
        }
    }
}
