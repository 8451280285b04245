//! VHD writer: fixed (the disk, then a footer) or dynamic (footer copy,
//! dynamic disk header, BAT, the non-zero blocks in order, footer), streamed
//! front to back. The size is rounded up to a CHS geometry as qemu-img does
//! (see [`super::raw::size_for`]), so qemu, which trusts the geometry for
//! images it does not know the creator of, reports the same size we wrote.
//!
//! A dynamic disk's BAT comes before the blocks it places; its size depends
//! only on the virtual size. Two ways, the same bytes:
//!
//! - **One pass**, when the sink can rewrite what it wrote
//!   ([`Sink::can_patch`]): the BAT is written all "unused" (0xff), each block
//!   that holds data is written as it is read (its place: the count of such
//!   blocks before it), and the BAT entries are patched in at the end. The
//!   disk is read once.
//! - **Two passes**, for pure streams: pass 1 finds the blocks that hold
//!   data, then everything is written in order.

use super::raw::*;
use crate::image::WriteOptions;
use crate::io::{Progress, Sink};
use crate::raw_image::write::write_range;
use crate::{Disk, Error, Result};

/// Creator application written in the footer.
pub const CREATOR_APP: [u8; 4] = *b"imgf";
const CHUNK: u64 = 64 * 1024;

enum Kind {
    Fixed,
    Dynamic { block_size: u64 },
}

fn parse_opts(opts: &WriteOptions) -> Result<Kind> {
    if let Some((k, v)) = opts.extra.first() {
        return Err(Error::invalid(
            format!("-o {k}"),
            format!("vhd does not take '{k}={v}' (options: subformat, block_size)"),
        ));
    }
    if opts.compress {
        return Err(Error::invalid("-c", "vhd images cannot be compressed"));
    }
    match opts.subformat.as_deref().unwrap_or("dynamic") {
        "fixed" => {
            if opts.cluster_size.is_some() {
                return Err(Error::invalid("-o block_size", "a fixed vhd has no blocks"));
            }
            Ok(Kind::Fixed)
        }
        "dynamic" => {
            let bs = opts.cluster_size.unwrap_or(DEFAULT_BLOCK_SIZE);
            if !bs.is_power_of_two() || !(4096..=(256 << 20)).contains(&bs) {
                return Err(Error::invalid(
                    "-o block_size",
                    format!("{bs} is not a power of two between 4K and 256M"),
                ));
            }
            Ok(Kind::Dynamic { block_size: bs })
        }
        other => Err(Error::invalid(
            "-o subformat",
            format!("'{other}' is not fixed or dynamic"),
        )),
    }
}

/// The footer for a disk of `size` bytes (already CHS-rounded).
fn footer(size: u64, geom: (u16, u8, u8), disk_type: u32, opts: &WriteOptions) -> Footer {
    let ts = (opts.ctx.epoch - VHD_EPOCH).clamp(0, u32::MAX as i64) as u32;
    Footer {
        features: FEATURES_RESERVED,
        file_format_version: FILE_FORMAT_VERSION,
        data_offset: if disk_type == DISK_FIXED {
            NO_OFFSET
        } else {
            FOOTER_LEN as u64
        },
        time_stamp: ts,
        creator_application: CREATOR_APP,
        creator_version: 0x0001_0000,
        creator_host_os: CREATOR_HOST_OS,
        original_size: size,
        current_size: size,
        cylinders: geom.0,
        heads: geom.1,
        sectors_per_track: geom.2,
        disk_type,
        checksum: 0,
        unique_id: opts.ctx.uuid("vhd-uuid"),
        saved_state: 0,
    }
}

/// True if any byte of `[start, end)` is non-zero.
fn nonzero(disk: &Disk, start: u64, end: u64, buf: &mut [u8]) -> Result<bool> {
    for e in disk.extents_in(start, end - start) {
        let mut pos = e.offset;
        let end = e.offset + e.len;
        while pos < end {
            let n = (CHUNK - pos % CHUNK).min(end - pos);
            let b = &mut buf[..n as usize];
            e.data.read(pos - e.offset, b)?;
            if !crate::io::is_zero(b) {
                return Ok(true);
            }
            pos += n;
        }
    }
    Ok(false)
}

/// Streams `disk` as a VHD into `sink`.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let kind = parse_opts(opts)?;
    let (sectors, geom) = size_for(disk.size());
    if sectors > MAX_SECTORS {
        return Err(Error::no_space(
            "vhd",
            format!(
                "a {}-byte disk is over the VHD limit of 2040 GiB",
                disk.size()
            ),
        ));
    }
    let size = sectors * 512;
    let dsize = disk.size().min(size);
    let mut buf = vec![0u8; CHUNK as usize];
    match kind {
        Kind::Fixed => {
            let f = footer(size, geom, DISK_FIXED, opts);
            let hole = write_range(disk, 0, dsize, sink, &mut buf, progress, "writing vhd")?;
            sink.hole(hole + (size - dsize))?;
            sink.write(&f.to_bytes()?)?;
        }
        Kind::Dynamic { block_size } => {
            let f = footer(size, geom, DISK_DYNAMIC, opts);
            let entries = size.div_ceil(block_size);
            if entries > u32::MAX as u64 {
                return Err(Error::invalid(
                    "-o block_size",
                    "too many blocks; use larger blocks",
                ));
            }
            let bat_len = (entries * 4).next_multiple_of(512);
            let table_offset = (FOOTER_LEN + DYN_HEADER_LEN) as u64;
            let first_block = table_offset + bat_len;
            let bitmap = bitmap_len(block_size);
            let stride = bitmap + block_size;

            let dh = DynHeader {
                data_offset: NO_OFFSET,
                table_offset,
                header_version: DYN_HEADER_VERSION,
                max_table_entries: entries as u32,
                block_size: block_size as u32,
                checksum: 0,
            };
            if sink.can_patch() {
                sink.write(&f.to_bytes()?)?;
                sink.write(&dh.to_bytes()?)?;
                return one_pass(disk, &f, block_size, table_offset, bat_len, sink, progress);
            }

            // Pass 1: which blocks hold non-zero data.
            let mut blocks: Vec<u64> = Vec::new();
            for (off, len) in disk.allocated_ranges() {
                let mut b = off / block_size;
                let last = (off + len - 1) / block_size;
                if blocks.last() == Some(&b) {
                    b += 1;
                }
                while b <= last {
                    let s = b * block_size;
                    if nonzero(disk, s, (s + block_size).min(dsize), &mut buf)? {
                        blocks.push(b);
                    }
                    b += 1;
                }
                progress.step("scanning", off + len, dsize)?;
            }
            if (first_block + blocks.len() as u64 * stride) / 512 > u32::MAX as u64 {
                return Err(Error::no_space(
                    "vhd",
                    "the image would be too large for 32-bit BAT entries",
                ));
            }

            sink.write(&f.to_bytes()?)?;
            sink.write(&dh.to_bytes()?)?;
            let mut bat = vec![0xffu8; bat_len as usize];
            for (k, &b) in blocks.iter().enumerate() {
                let sector = ((first_block + k as u64 * stride) / 512) as u32;
                bat[(b * 4) as usize..(b * 4 + 4) as usize].copy_from_slice(&sector.to_be_bytes());
            }
            sink.write(&bat)?;
            drop(bat);
            // Every sector of a stored block is marked present, as qemu does.
            let bm = vec![0xffu8; bitmap as usize];
            for &b in &blocks {
                sink.write(&bm)?;
                let s = b * block_size;
                let e = (s + block_size).min(dsize);
                let hole = write_range(disk, s, e, sink, &mut buf, progress, "writing vhd")?;
                sink.hole(hole + (s + block_size - e))?;
            }
            sink.write(&f.to_bytes()?)?;
        }
    }
    sink.finish()
}

/// A dynamic disk after its footer copy and dynamic header: the BAT as all
/// unused, the blocks that hold data as they are read, the footer, then the
/// BAT entries patched in.
fn one_pass(
    disk: &Disk,
    f: &Footer,
    block_size: u64,
    table_offset: u64,
    bat_len: u64,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let first_block = table_offset + bat_len;
    let bitmap = bitmap_len(block_size);
    let stride = bitmap + block_size;
    let unused = vec![0xffu8; (CHUNK.min(bat_len)) as usize];
    let mut left = bat_len;
    while left > 0 {
        let n = left.min(CHUNK);
        sink.write(&unused[..n as usize])?;
        left -= n;
    }
    drop(unused);
    // Every sector of a stored block is marked present, as qemu does.
    let bm = vec![0xffu8; bitmap as usize];
    let mut blocks: Vec<u64> = Vec::new();
    let mut buf = vec![0u8; crate::blocks::PIECE];
    crate::blocks::copy_nonzero_units(
        disk,
        block_size,
        sink,
        &mut buf,
        progress,
        "writing vhd",
        |b, sink| {
            let end = first_block + (blocks.len() as u64 + 1) * stride;
            if end / 512 > u32::MAX as u64 {
                return Err(Error::no_space(
                    "vhd",
                    "the image would be too large for 32-bit BAT entries",
                ));
            }
            blocks.push(b);
            sink.write(&bm)
        },
    )?;
    sink.write(&f.to_bytes()?)?;
    let entries = blocks.iter().enumerate().map(|(k, &b)| {
        let sector = ((first_block + k as u64 * stride) / 512) as u32;
        (b * 4, sector.to_be_bytes())
    });
    crate::blocks::patch_table(sink, table_offset, bat_len, 0xff, entries)?;
    sink.finish()
}
