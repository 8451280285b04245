//! VMDK writers: monolithicSparse (qemu-img's layout: header, embedded
//! descriptor, redundant GD+GTs, GD+GTs, grains) and streamOptimized
//! (header with gdOffset = GD_AT_END, deflate grains behind grain markers,
//! each GT after its grains, GD, footer, end-of-stream marker).
//!
//! monolithicSparse places its GDs and GTs before the grains, but their
//! places and sizes depend only on the capacity; the GT entries need the
//! set of stored grains (memory: 8 bytes per stored 64 KiB grain). Two
//! ways, the same bytes:
//!
//! - **One pass**, when the sink can rewrite what it wrote
//!   ([`Sink::can_patch`]): the GDs are written, the GTs left as holes, each
//!   grain that holds data written as it is read (its place: the count of
//!   such grains before it), and the GTs patched in at the end (both
//!   copies). The disk is read once.
//! - **Two passes**, for pure streams: pass 1 finds the grains that hold
//!   data, then everything is written in order.
//!
//! streamOptimized is always one pass (its GD and GTs come after the grains
//! they place): the only tables held are the GD and the current GT.

use super::raw::*;
use crate::blocks::{self, round_up};
use crate::image::WriteOptions;
use crate::io::{Progress, Sink};
use crate::{Disk, Error, Result};
use std::io::Write;

const GRAIN_BYTES: u64 = DEFAULT_GRAIN_SECTORS * SECTOR;
const GT_SECTORS: u64 = (NUM_GTES_PER_GT as u64 * 4) / SECTOR;
const GT_COVERAGE: u64 = NUM_GTES_PER_GT as u64 * DEFAULT_GRAIN_SECTORS;
/// qemu-img reserves 20 sectors for the embedded descriptor.
const DESCRIPTOR_SECTORS: u64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// The VMDK variants imgforge writes.
pub enum Subformat {
    /// A hosted sparse extent (qemu-img's default).
    MonolithicSparse,
    /// Compressed grains in stream order (OVA, VirtualBox).
    StreamOptimized,
}

/// The writer's settings from [`WriteOptions`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which variant.
    pub subformat: Subformat,
    /// `ddb.adapterType` (`ide`, `lsilogic`, ...).
    pub adapter_type: String,
    /// `ddb.virtualHWVersion`.
    pub hw_version: u32,
}

/// The settings `opts` asks for (`subformat`, `-o adapter_type=`, `hwversion=`).
pub fn settings(opts: &WriteOptions) -> Result<Settings> {
    let subformat = match opts.subformat.as_deref() {
        None | Some("monolithicSparse") => Subformat::MonolithicSparse,
        Some("streamOptimized") => Subformat::StreamOptimized,
        Some(o) => {
            return Err(Error::invalid(
                "subformat",
                format!("vmdk subformat '{o}' is not one of monolithicSparse, streamOptimized"),
            ))
        }
    };
    let mut s = Settings {
        subformat,
        adapter_type: "ide".into(),
        hw_version: 4,
    };
    for (k, v) in &opts.extra {
        match k.as_str() {
            "adapter_type" => {
                if !["ide", "lsilogic", "buslogic", "legacyESX"].contains(&v.as_str()) {
                    return Err(Error::invalid(
                        "adapter_type",
                        format!("'{v}' is not one of ide, lsilogic, buslogic, legacyESX"),
                    ));
                }
                s.adapter_type = v.clone();
            }
            "hwversion" => {
                s.hw_version = v
                    .parse()
                    .map_err(|_| Error::invalid("hwversion", format!("'{v}' is not a number")))?
            }
            "compat6" if v == "on" || v == "true" => s.hw_version = 6,
            "compat6" => {}
            _ => {
                return Err(Error::invalid(
                    k.clone(),
                    "not a vmdk option (subformat, adapter_type, hwversion, compat6)",
                ))
            }
        }
    }
    Ok(s)
}

/// The embedded descriptor text (section "The Descriptor File").
pub fn descriptor(opts: &WriteOptions, s: &Settings, capacity: u64, extent_file: &str) -> String {
    let create_type = match s.subformat {
        Subformat::MonolithicSparse => "monolithicSparse",
        Subformat::StreamOptimized => "streamOptimized",
    };
    let cid = opts.ctx.u32("vmdk-cid") & 0xfffe_ffff;
    let uuid = opts.ctx.uuid("vmdk-uuid");
    let (c, h, sec) = geometry(capacity, &s.adapter_type);
    let vmware_uuid: Vec<String> = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         CID={cid:08x}\n\
         parentCID=ffffffff\n\
         createType=\"{create_type}\"\n\
         \n\
         # Extent description\n\
         RW {capacity} SPARSE \"{extent_file}\"\n\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.virtualHWVersion = \"{hw}\"\n\
         ddb.geometry.cylinders = \"{c}\"\n\
         ddb.geometry.heads = \"{h}\"\n\
         ddb.geometry.sectors = \"{sec}\"\n\
         ddb.adapterType = \"{adapter}\"\n\
         ddb.uuid = \"{vu}\"\n\
         ddb.uuid.image = \"{img}\"\n",
        hw = s.hw_version,
        adapter = s.adapter_type,
        vu = vmware_uuid.join(" "),
        img = crate::seed::format_uuid(&uuid),
    )
}

/// Grain indices that may hold data (touched by an allocated extent), in order.
fn candidate_grains(disk: &Disk) -> impl Iterator<Item = u64> + '_ {
    let mut last = None;
    disk.allocated_ranges()
        .into_iter()
        .flat_map(|(off, len)| (off / GRAIN_BYTES)..(off + len).div_ceil(GRAIN_BYTES))
        .filter(move |&g| {
            let new = last != Some(g);
            last = Some(g);
            new
        })
}

/// Streams `disk` as a vmdk file into `sink` (`opts.subformat`:
/// monolithicSparse (default) or streamOptimized; `-o adapter_type=`,
/// `hwversion=`). The descriptor names the extent `<vm name>.vmdk`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let name = format!("{}.vmdk", opts.vm.name);
    write_named(disk, opts, &name, sink, progress).map(|_| ())
}

/// Streams `disk` as a VMDK whose descriptor names `extent_file`; returns
/// the bytes of grains stored (OVF `populatedSize`).
pub fn write_named(
    disk: &Disk,
    opts: &WriteOptions,
    extent_file: &str,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<u64> {
    let s = settings(opts)?;
    let capacity = disk.size().div_ceil(SECTOR);
    if capacity > MAX_CAPACITY_SECTORS {
        return Err(Error::no_space(
            "vmdk",
            "imgforge writes VMDKs of at most 64 TiB",
        ));
    }
    let desc = descriptor(opts, &s, capacity, extent_file);
    if desc.len() as u64 > DESCRIPTOR_SECTORS * SECTOR {
        return Err(Error::invalid(
            "vmdk",
            "descriptor does not fit in 20 sectors (name too long)",
        ));
    }
    match s.subformat {
        Subformat::MonolithicSparse => sparse(disk, capacity, &desc, sink, progress),
        Subformat::StreamOptimized => stream(disk, capacity, &desc, sink, progress),
    }
}

fn put_descriptor(desc: &str, sink: &mut dyn Sink) -> Result<()> {
    sink.write(desc.as_bytes())?;
    sink.hole(DESCRIPTOR_SECTORS * SECTOR - desc.len() as u64)
}

fn sparse(
    disk: &Disk,
    capacity: u64,
    desc: &str,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<u64> {
    let gt_count = capacity.div_ceil(GT_COVERAGE);
    let gd_sectors = (gt_count * 4).div_ceil(SECTOR);
    let rgd_offset = 1 + DESCRIPTOR_SECTORS;
    let gd_offset = rgd_offset + gd_sectors + GT_SECTORS * gt_count;
    let over_head = round_up(
        gd_offset + gd_sectors + GT_SECTORS * gt_count,
        DEFAULT_GRAIN_SECTORS,
    );

    let header = SparseExtentHeader {
        version: 1,
        flags: FLAG_VALID_NEWLINE_TEST | FLAG_USE_REDUNDANT_GT,
        capacity,
        grain_size: DEFAULT_GRAIN_SECTORS,
        descriptor_offset: 1,
        descriptor_size: DESCRIPTOR_SECTORS,
        num_gtes_per_gt: NUM_GTES_PER_GT,
        rgd_offset,
        gd_offset,
        over_head,
        unclean_shutdown: false,
        compress_algorithm: COMPRESSION_NONE,
    };
    // Grain directory: sector of each grain table, which follow it.
    let gd = |dir: u64| {
        let mut gd = Vec::with_capacity((gd_sectors * SECTOR) as usize);
        for i in 0..gt_count {
            gd.extend_from_slice(&((dir + gd_sectors + i * GT_SECTORS) as u32).to_le_bytes());
        }
        gd.resize((gd_sectors * SECTOR) as usize, 0);
        gd
    };
    // The n-th stored grain lives at over_head + n*grain.
    let grain_sector = |n: usize| {
        u32::try_from(over_head + n as u64 * DEFAULT_GRAIN_SECTORS)
            .map_err(|_| Error::no_space("vmdk", "grain offset past 2 TiB of file"))
    };
    let tables_end = gd_offset + gd_sectors + GT_SECTORS * gt_count;

    if sink.can_patch() {
        sink.write(&header.to_bytes()?)?;
        put_descriptor(desc, sink)?;
        for dir in [rgd_offset, gd_offset] {
            sink.write(&gd(dir))?;
            sink.hole(GT_SECTORS * gt_count * SECTOR)?;
        }
        sink.hole((over_head - tables_end) * SECTOR)?;
        let mut stored: Vec<u64> = Vec::new();
        let mut buf = vec![0u8; blocks::PIECE];
        blocks::copy_nonzero_units(
            disk,
            GRAIN_BYTES,
            sink,
            &mut buf,
            progress,
            "writing vmdk",
            |g, _| {
                grain_sector(stored.len())?;
                stored.push(g);
                Ok(())
            },
        )?;
        for dir in [rgd_offset, gd_offset] {
            let entries = stored.iter().enumerate().map(|(n, &g)| {
                // Checked as each grain was placed.
                let sector = (over_head + n as u64 * DEFAULT_GRAIN_SECTORS) as u32;
                (g * 4, sector.to_le_bytes())
            });
            let at = (dir + gd_sectors) * SECTOR;
            blocks::patch_table(sink, at, GT_SECTORS * gt_count * SECTOR, 0, entries)?;
        }
        sink.finish()?;
        return Ok(stored.len() as u64 * GRAIN_BYTES);
    }

    let mut buf = vec![0u8; blocks::CHUNK];
    let mut stored: Vec<u64> = Vec::new();
    for g in candidate_grains(disk) {
        if blocks::has_data(disk, g * GRAIN_BYTES, GRAIN_BYTES, &mut buf)? {
            stored.push(g);
        }
        progress.step("scanning grains", g * GRAIN_BYTES, disk.size())?;
    }

    sink.write(&header.to_bytes()?)?;
    put_descriptor(desc, sink)?;
    for dir in [rgd_offset, gd_offset] {
        sink.write(&gd(dir))?;
        // Grain tables.
        let mut next = 0usize;
        let mut gt = vec![0u8; (GT_SECTORS * SECTOR) as usize];
        for i in 0..gt_count {
            gt.fill(0);
            let first = i * NUM_GTES_PER_GT as u64;
            while let Some(&g) = stored.get(next) {
                if g >= first + NUM_GTES_PER_GT as u64 {
                    break;
                }
                let sector = grain_sector(next)?;
                let e = ((g - first) * 4) as usize;
                gt[e..e + 4].copy_from_slice(&sector.to_le_bytes());
                next += 1;
            }
            sink.write(&gt)?;
        }
    }
    sink.hole((over_head - tables_end) * SECTOR)?;
    for (n, &g) in stored.iter().enumerate() {
        blocks::copy(disk, g * GRAIN_BYTES, GRAIN_BYTES, sink, &mut buf)?;
        progress.step("writing vmdk", n as u64 + 1, stored.len() as u64)?;
    }
    sink.finish()?;
    Ok(stored.len() as u64 * GRAIN_BYTES)
}

/// A sink wrapper that knows the current offset (for markers' sectors).
struct Counted<'a> {
    sink: &'a mut dyn Sink,
    pos: u64,
}

impl Counted<'_> {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.sink.write(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }
    fn pad_to_sector(&mut self) -> Result<()> {
        let pad = round_up(self.pos, SECTOR) - self.pos;
        self.sink.hole(pad)?;
        self.pos += pad;
        Ok(())
    }
    fn sector(&self) -> u64 {
        self.pos / SECTOR
    }
}

fn stream(
    disk: &Disk,
    capacity: u64,
    desc: &str,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<u64> {
    let gt_count = capacity.div_ceil(GT_COVERAGE);
    let gd_sectors = (gt_count * 4).div_ceil(SECTOR);
    let mut header = SparseExtentHeader {
        version: 3,
        flags: FLAG_VALID_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS,
        capacity,
        grain_size: DEFAULT_GRAIN_SECTORS,
        descriptor_offset: 1,
        descriptor_size: DESCRIPTOR_SECTORS,
        num_gtes_per_gt: NUM_GTES_PER_GT,
        rgd_offset: 0,
        gd_offset: GD_AT_END,
        over_head: DEFAULT_GRAIN_SECTORS,
        unclean_shutdown: false,
        compress_algorithm: COMPRESSION_DEFLATE,
    };
    let mut out = Counted { sink, pos: 0 };
    out.write(&header.to_bytes()?)?;
    put_descriptor(desc, out.sink)?;
    out.pos += DESCRIPTOR_SECTORS * SECTOR;
    out.sink
        .hole((DEFAULT_GRAIN_SECTORS - 1 - DESCRIPTOR_SECTORS) * SECTOR)?;
    out.pos = DEFAULT_GRAIN_SECTORS * SECTOR;

    let mut gd = vec![0u8; (gd_sectors * SECTOR) as usize];
    let mut gt = vec![0u8; (GT_SECTORS * SECTOR) as usize];
    let mut gt_index: Option<u64> = None;
    let mut populated = 0u64;
    let mut grain = vec![0u8; GRAIN_BYTES as usize];
    let mut compressed = Vec::with_capacity(GRAIN_BYTES as usize + 1024);

    // Writes the current GT (only GTs with a grain are written; their GD
    // entry stays 0 otherwise) and records it in the GD.
    let flush_gt = |out: &mut Counted, gt: &mut [u8], gd: &mut [u8], idx: u64| -> Result<()> {
        out.write(&marker(GT_SECTORS, MARKER_GT)?)?;
        let at = out.sector();
        out.write(gt)?;
        let e = (idx * 4) as usize;
        gd[e..e + 4].copy_from_slice(&(at as u32).to_le_bytes());
        gt.fill(0);
        Ok(())
    };

    for g in candidate_grains(disk) {
        let off = g * GRAIN_BYTES;
        blocks::read_padded(disk, off, &mut grain)?;
        progress.step("compressing vmdk", off, disk.size())?;
        if crate::io::is_zero(&grain) {
            continue;
        }
        let this_gt = g / NUM_GTES_PER_GT as u64;
        if gt_index != Some(this_gt) {
            if let Some(i) = gt_index {
                flush_gt(&mut out, &mut gt, &mut gd, i)?;
            }
            gt_index = Some(this_gt);
        }
        compressed.clear();
        let mut z =
            flate2::write::ZlibEncoder::new(&mut compressed, flate2::Compression::default());
        z.write_all(&grain)
            .map_err(|e| Error::io("compressing grain", e))?;
        z.finish().map_err(|e| Error::io("compressing grain", e))?;
        let sector = out.sector();
        let lba = g * DEFAULT_GRAIN_SECTORS;
        let mut m = [0u8; GRAIN_MARKER_SIZE];
        m[0..8].copy_from_slice(&lba.to_le_bytes());
        m[8..12].copy_from_slice(&(compressed.len() as u32).to_le_bytes());
        out.write(&m)?;
        out.write(&compressed)?;
        out.pad_to_sector()?;
        let sector = u32::try_from(sector)
            .map_err(|_| Error::no_space("vmdk", "grain offset past 2 TiB of file"))?;
        let e = ((g % NUM_GTES_PER_GT as u64) * 4) as usize;
        gt[e..e + 4].copy_from_slice(&sector.to_le_bytes());
        populated += GRAIN_BYTES;
    }
    if let Some(i) = gt_index {
        flush_gt(&mut out, &mut gt, &mut gd, i)?;
    }
    out.write(&marker(gd_sectors, MARKER_GD)?)?;
    let gd_offset = out.sector();
    out.write(&gd)?;
    out.write(&marker(1, MARKER_FOOTER)?)?;
    header.gd_offset = gd_offset;
    out.write(&header.to_bytes()?)?;
    out.write(&marker(0, MARKER_EOS)?)?;
    out.sink.finish()?;
    Ok(populated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{NoProgress, ReadAt};
    use crate::testutil::{bytes_read, one_pass_disks, same_one_and_two_passes};
    use std::sync::Arc;

    fn with_sub(sub: &'static str) -> impl Fn(&Disk, &mut dyn Sink) -> Result<()> {
        move |d, sink| {
            let opts = WriteOptions {
                subformat: Some(sub.into()),
                ..Default::default()
            };
            super::super::write(d, &opts, sink, &NoProgress)
        }
    }

    fn all(r: &dyn ReadAt) -> Vec<u8> {
        let mut v = vec![0u8; r.size() as usize];
        r.read_at(0, &mut v).unwrap();
        v
    }

    #[test]
    fn one_pass_and_two_passes_give_the_same_bytes() {
        let mut disks = one_pass_disks(GRAIN_BYTES);
        disks.extend(one_pass_disks(GT_COVERAGE * SECTOR / 2));
        // Several grain tables (32 MiB each), some empty; GT areas of more
        // than one patched piece (64 KiB: 32 GTs).
        let mut wide = Disk::new((1100 << 20) + 512);
        for at in [0u64, 40 << 20, 41 << 20, 1099 << 20, 1100 << 20] {
            wide.write(at, b"data").unwrap();
        }
        disks.push(("wide", wide));
        let empty = Disk::new(0);
        for sub in ["monolithicSparse", "streamOptimized"] {
            assert!(same_one_and_two_passes("size 0", &empty, &with_sub(sub)).is_some());
        }
        for (name, d) in &disks {
            let img = same_one_and_two_passes(name, d, &with_sub("monolithicSparse")).unwrap();
            let o = super::super::open(Arc::new(img)).unwrap();
            if d.size() < (64 << 20) {
                let mut want = all(d);
                want.resize(o.disk.size() as usize, 0);
                assert!(all(&o.disk) == want, "{name}");
            }
            // streamOptimized is one pass either way.
            same_one_and_two_passes(name, d, &with_sub("streamOptimized")).unwrap();
        }
    }

    #[test]
    fn a_patchable_sink_reads_the_disk_once() {
        let d = &one_pass_disks(GRAIN_BYTES)[2].1;
        let (one, two, allocated) = bytes_read(d, &with_sub("monolithicSparse"));
        assert_eq!(one, allocated);
        assert!(two > allocated, "{two}");
        // streamOptimized reads each grain once with or without patching.
        let (one, two, _) = bytes_read(d, &with_sub("streamOptimized"));
        assert_eq!(one, two);
        assert_eq!(one, allocated);
    }
}
