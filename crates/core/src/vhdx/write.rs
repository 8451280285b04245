//! VHDX writer: one front-to-back pass over a layout computed first.
//!
//! Layout (the same as qemu-img's): file identifier at 0, headers at 64 and
//! 128 KiB, region tables at 192 and 256 KiB, an empty 1 MiB log at 1 MiB,
//! the metadata region at 2 MiB (1 MiB), the BAT at 3 MiB (rounded up to
//! 1 MiB), then the payload blocks that hold data, in virtual order.
//!
//! The BAT comes before the blocks it places, but its place and size depend
//! only on the virtual size and block size. For a dynamic disk written to a
//! sink that can rewrite what it wrote ([`Sink::can_patch`]) the BAT is left
//! as a hole (all "not present"), each block that holds data is written as
//! it is read (its place: the count of such blocks before it) and the BAT
//! entries are patched in at the end: the disk is read once. For pure
//! streams a first pass finds the blocks ([`layout`]); the bytes are the
//! same. Nothing else in the file (headers, region tables, metadata, their
//! checksums) depends on which blocks hold data.
//!
//! Block size: `-o block_size=` / `cluster_size`, else qemu-img's rule
//! (8 MiB up to 1 GiB, 16 MiB up to 100 GiB, 32 MiB up to 32 TiB, 64 MiB
//! above), so `qemu-img convert -O vhdx` and imgforge pick the same.

use super::raw::*;
use crate::blocks::{self, round_up};
use crate::image::WriteOptions;
use crate::io::{Progress, Sink};
use crate::{Disk, Error, Result};

const LOG_OFFSET: u64 = MIB;
const LOG_LENGTH: u64 = MIB;
const METADATA_OFFSET: u64 = 2 * MIB;
const METADATA_LENGTH: u64 = MIB;
const BAT_OFFSET: u64 = 3 * MIB;
const LOGICAL_SECTOR_SIZE: u64 = 512;
const PHYSICAL_SECTOR_SIZE: u64 = 4096;

/// The layout decided before the first byte is written.
pub struct Layout {
    /// The virtual disk's size.
    pub virtual_size: u64,
    /// Bytes per payload block.
    pub block_size: u64,
    /// Payload blocks per sector bitmap block.
    pub chunk_ratio: u64,
    /// Payload blocks.
    pub blocks: u64,
    /// BAT entries (payload and bitmap).
    pub bat_entries: u64,
    /// BAT region length, rounded up to 1 MiB.
    pub bat_length: u64,
    /// A fixed disk.
    pub fixed: bool,
    /// File offset of each payload block, 0 if not stored.
    pub block_offsets: Vec<u64>,
    /// The whole file's size.
    pub file_size: u64,
}

/// qemu-img's default block size for a virtual size.
pub fn default_block_size(size: u64) -> u64 {
    if size > 32 << 40 {
        64 * MIB
    } else if size > 100 << 30 {
        32 * MIB
    } else if size > 1 << 30 {
        16 * MIB
    } else {
        8 * MIB
    }
}

fn options(disk: &Disk, opts: &WriteOptions) -> Result<(bool, u64)> {
    let fixed = match opts.subformat.as_deref() {
        None | Some("dynamic") => false,
        Some("fixed") => true,
        Some(o) => {
            return Err(Error::invalid(
                "subformat",
                format!("vhdx subformat '{o}' is not one of dynamic, fixed"),
            ))
        }
    };
    let mut block_size = opts.cluster_size;
    for (k, v) in &opts.extra {
        match k.as_str() {
            "block_size" => block_size = Some(crate::size::parse_size(v, "block_size")?),
            // Accepted for qemu-img compatibility; the log is always 1 MiB.
            "log_size" | "block_state_zero" => {}
            _ => {
                return Err(Error::invalid(
                    k.clone(),
                    "not a vhdx option (subformat, block_size)",
                ))
            }
        }
    }
    let block_size = match block_size {
        None | Some(0) => default_block_size(disk.size()),
        Some(b) => b,
    };
    if !block_size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) {
        return Err(Error::invalid(
            "block_size",
            format!("{block_size} is not a power of two between 1 MiB and 256 MiB"),
        ));
    }
    Ok((fixed, block_size))
}

/// Decides where everything goes; reads the disk's allocated extents once to
/// leave out blocks that are all zeros.
pub fn layout(disk: &Disk, opts: &WriteOptions, progress: &dyn Progress) -> Result<Layout> {
    let mut l = plan(disk, opts)?;
    place_blocks(disk, &mut l, progress)?;
    Ok(l)
}

/// The layout up to the BAT, which depends only on the virtual size and the
/// options: no block placed yet (`block_offsets` empty, `file_size` the end
/// of the BAT).
fn plan(disk: &Disk, opts: &WriteOptions) -> Result<Layout> {
    let (fixed, block_size) = options(disk, opts)?;
    let virtual_size = round_up(disk.size(), LOGICAL_SECTOR_SIZE);
    if virtual_size > MAX_VIRTUAL_DISK_SIZE {
        return Err(Error::no_space("vhdx", "a VHDX holds at most 64 TiB"));
    }
    let chunk_ratio = chunk_ratio(block_size, LOGICAL_SECTOR_SIZE);
    let blocks = virtual_size.div_ceil(block_size);
    let bat_entries = total_bat_entries(blocks, chunk_ratio);
    let bat_length = round_up((bat_entries * 8).max(1), MIB);
    Ok(Layout {
        virtual_size,
        block_size,
        chunk_ratio,
        blocks,
        bat_entries,
        bat_length,
        fixed,
        block_offsets: Vec::new(),
        file_size: BAT_OFFSET + bat_length,
    })
}

/// Pass 1 of two: places every block that holds data (every block of a
/// fixed disk) after the BAT, in order.
fn place_blocks(disk: &Disk, l: &mut Layout, progress: &dyn Progress) -> Result<()> {
    let mut pos = BAT_OFFSET + l.bat_length;
    l.block_offsets = Vec::with_capacity(l.blocks as usize);
    let mut buf = vec![0u8; blocks::CHUNK];
    for i in 0..l.blocks {
        let off = i * l.block_size;
        let stored = l.fixed || blocks::has_data(disk, off, l.block_size, &mut buf)?;
        if stored {
            l.block_offsets.push(pos);
            pos += l.block_size;
        } else {
            l.block_offsets.push(0);
        }
        progress.step("scanning blocks", i + 1, l.blocks)?;
    }
    l.file_size = pos;
    Ok(())
}

/// Index in the BAT of payload block `i`: a sector bitmap entry follows
/// every `chunk_ratio` payload entries.
fn bat_index(l: &Layout, i: u64) -> u64 {
    i + i / l.chunk_ratio
}

fn header(seq: u64, opts: &WriteOptions) -> Result<Vec<u8>> {
    VhdxHeader {
        checksum: 0,
        sequence_number: seq,
        file_write_guid: swap_guid(opts.ctx.uuid("vhdx-file-write")),
        data_write_guid: swap_guid(opts.ctx.uuid("vhdx-data-write")),
        // LogGuid stays zero: there is nothing to replay.
        log_guid: [0; 16],
        log_version: LOG_VERSION,
        version: HEADER_VERSION,
        log_length: LOG_LENGTH as u32,
        log_offset: LOG_OFFSET,
    }
    .encode()
}

fn region_table(l: &Layout) -> Result<Vec<u8>> {
    let entry = |guid, file_offset, length: u64| RegionTableEntry {
        guid,
        file_offset,
        length: length as u32,
        required: true,
    };
    encode_region_table(&[
        entry(BAT_GUID, BAT_OFFSET, l.bat_length),
        entry(METADATA_GUID, METADATA_OFFSET, METADATA_LENGTH),
    ])
}

fn metadata(l: &Layout, opts: &WriteOptions) -> Result<Vec<u8>> {
    let mut m = vec![0u8; (METADATA_TABLE_SIZE + 64) as usize];
    let page83 = swap_guid(opts.ctx.uuid("vhdx-page83"));
    let file_params = {
        let mut v = (l.block_size as u32).to_le_bytes().to_vec();
        let flags = if l.fixed { LEAVE_BLOCKS_ALLOCATED } else { 0 };
        v.extend_from_slice(&flags.to_le_bytes());
        v
    };
    let items: [([u8; 16], Vec<u8>, u32); 5] = [
        (FILE_PARAMETERS_GUID, file_params, META_IS_REQUIRED),
        (
            VIRTUAL_DISK_SIZE_GUID,
            l.virtual_size.to_le_bytes().to_vec(),
            META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
        ),
        (
            PAGE83_DATA_GUID,
            page83.to_vec(),
            META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
        ),
        (
            LOGICAL_SECTOR_SIZE_GUID,
            (LOGICAL_SECTOR_SIZE as u32).to_le_bytes().to_vec(),
            META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
        ),
        (
            PHYSICAL_SECTOR_SIZE_GUID,
            (PHYSICAL_SECTOR_SIZE as u32).to_le_bytes().to_vec(),
            META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
        ),
    ];
    // 2.6.1.1 table header: signature and entry count.
    {
        let mut w = crate::bytes::Writer::new("vhdx", "metadata region", &mut m);
        w.put(0, METADATA_SIGNATURE)?;
        w.le16(10, items.len() as u16)?;
        let mut data_off = METADATA_TABLE_SIZE as usize;
        for (_, data, _) in &items {
            w.put(data_off, data)?;
            data_off += data.len();
        }
    }
    let mut data_off = METADATA_TABLE_SIZE as u32;
    for (i, (guid, data, flags)) in items.iter().enumerate() {
        MetadataTableEntry {
            item_id: *guid,
            offset: data_off,
            length: data.len() as u32,
            flags: *flags,
        }
        .encode(&mut m, i)?;
        data_off += data.len() as u32;
    }
    Ok(m)
}

/// Streams `disk` as VHDX.
pub fn write(
    disk: &Disk,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let mut l = plan(disk, opts)?;
    // A fixed disk stores every block: its layout needs no scan.
    let one_pass = !l.fixed && sink.can_patch();
    if !one_pass {
        place_blocks(disk, &mut l, progress)?;
    }
    let mut pos = 0u64;
    let put = |sink: &mut dyn Sink, at: u64, data: &[u8], pos: &mut u64| -> Result<()> {
        sink.hole(at - *pos)?;
        sink.write(data)?;
        *pos = at + data.len() as u64;
        Ok(())
    };

    let mut ident = Vec::with_capacity(8 + CREATOR_LEN);
    ident.extend_from_slice(FILE_SIGNATURE);
    let creator: Vec<u8> = concat!("imgforge ", env!("CARGO_PKG_VERSION"))
        .encode_utf16()
        .flat_map(|c| c.to_le_bytes())
        .collect();
    ident.extend_from_slice(&creator);
    ident.resize(8 + CREATOR_LEN, 0);
    put(sink, 0, &ident, &mut pos)?;
    put(sink, HEADER1_OFFSET, &header(1, opts)?, &mut pos)?;
    put(sink, HEADER2_OFFSET, &header(2, opts)?, &mut pos)?;
    let rt = region_table(&l)?;
    put(sink, REGION_TABLE1_OFFSET, &rt, &mut pos)?;
    put(sink, REGION_TABLE2_OFFSET, &rt, &mut pos)?;
    // The log (LOG_OFFSET..+LOG_LENGTH) is all zeros: a hole.
    put(sink, METADATA_OFFSET, &metadata(&l, opts)?, &mut pos)?;
    sink.hole(BAT_OFFSET - pos)?;
    pos = BAT_OFFSET;
    if one_pass {
        return write_one_pass(disk, &l, sink, progress);
    }

    // BAT, written in chunks: payload entries with a sector bitmap entry
    // after every chunk_ratio of them.
    let mut chunk = Vec::with_capacity(blocks::CHUNK);
    for i in 0..l.blocks {
        let off = l.block_offsets[i as usize];
        let entry = if off != 0 {
            off | PAYLOAD_BLOCK_FULLY_PRESENT
        } else {
            PAYLOAD_BLOCK_NOT_PRESENT
        };
        chunk.extend_from_slice(&entry.to_le_bytes());
        if (i + 1) % l.chunk_ratio == 0 && i + 1 < l.blocks {
            chunk.extend_from_slice(&SB_BLOCK_NOT_PRESENT.to_le_bytes());
        }
        if chunk.len() >= blocks::CHUNK {
            sink.write(&chunk)?;
            pos += chunk.len() as u64;
            chunk.clear();
        }
    }
    sink.write(&chunk)?;
    pos += chunk.len() as u64;
    debug_assert_eq!(pos, BAT_OFFSET + l.bat_entries * 8);
    sink.hole(BAT_OFFSET + l.bat_length - pos)?;

    let mut buf = vec![0u8; blocks::CHUNK];
    let stored = l.block_offsets.iter().filter(|&&o| o != 0).count() as u64;
    let mut done = 0;
    for i in 0..l.blocks {
        if l.block_offsets[i as usize] == 0 {
            continue;
        }
        blocks::copy(disk, i * l.block_size, l.block_size, sink, &mut buf)?;
        done += 1;
        progress.step("writing vhdx", done, stored)?;
    }
    sink.finish()
}

/// A dynamic disk after the metadata region (the sink at the BAT): the BAT
/// as a hole, the blocks that hold data as they are read, then their BAT
/// entries patched in.
fn write_one_pass(
    disk: &Disk,
    l: &Layout,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    sink.hole(l.bat_length)?;
    let first = BAT_OFFSET + l.bat_length;
    let mut stored: Vec<u64> = Vec::new();
    let mut buf = vec![0u8; blocks::PIECE];
    blocks::copy_nonzero_units(
        disk,
        l.block_size,
        sink,
        &mut buf,
        progress,
        "writing vhdx",
        |i, _| {
            stored.push(i);
            Ok(())
        },
    )?;
    let entries = stored.iter().enumerate().map(|(k, &i)| {
        let off = first + k as u64 * l.block_size;
        let entry = off | PAYLOAD_BLOCK_FULLY_PRESENT;
        (bat_index(l, i) * 8, entry.to_le_bytes())
    });
    blocks::patch_table(sink, BAT_OFFSET, l.bat_length, 0, entries)?;
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{NoProgress, ReadAt};
    use crate::testutil::{bytes_read, one_pass_disks, same_one_and_two_passes};
    use std::sync::Arc;

    fn with_block(block: u64) -> impl Fn(&Disk, &mut dyn Sink) -> Result<()> {
        move |d, sink| {
            let opts = WriteOptions {
                cluster_size: Some(block),
                ..Default::default()
            };
            write(d, &opts, sink, &NoProgress)
        }
    }

    fn all(r: &dyn ReadAt) -> Vec<u8> {
        let mut v = vec![0u8; r.size() as usize];
        r.read_at(0, &mut v).unwrap();
        v
    }

    #[test]
    fn one_pass_and_two_passes_give_the_same_bytes() {
        for block in [MIB, 8 * MIB] {
            for (name, d) in one_pass_disks(block) {
                let what = format!("{name}, block {block}");
                let img = same_one_and_two_passes(&what, &d, &with_block(block)).unwrap();
                let o = super::super::open(Arc::new(img)).unwrap();
                let mut want = all(&d);
                want.resize(o.disk.size() as usize, 0);
                assert!(all(&o.disk) == want, "{what}");
            }
        }
        // Past the first chunk of 4096 blocks of 1 MiB: sector bitmap
        // entries in the BAT, a BAT of two patched pieces.
        let mut big = Disk::new((9 << 30) + 4096);
        for at in [0u64, 4 << 30, (5 << 30) + 7, 9 << 30] {
            big.write(at, b"data").unwrap();
        }
        let img = same_one_and_two_passes("9 GiB", &big, &with_block(MIB)).unwrap();
        let o = super::super::open(Arc::new(img)).unwrap();
        let mut b = [0u8; 4];
        for at in [0u64, 4 << 30, (5 << 30) + 7, 9 << 30] {
            o.disk.read_at(at, &mut b).unwrap();
            assert_eq!(&b, b"data", "at {at}");
        }
        let empty = Disk::new(0);
        assert!(same_one_and_two_passes("size 0", &empty, &with_block(MIB)).is_some());
        // A fixed disk (always one pass) is still the same either way.
        let fixed = |d: &Disk, sink: &mut dyn Sink| {
            let opts = WriteOptions {
                subformat: Some("fixed".into()),
                ..Default::default()
            };
            write(d, &opts, sink, &NoProgress)
        };
        let d = &one_pass_disks(MIB)[2].1;
        same_one_and_two_passes("fixed", d, &fixed).unwrap();
    }

    #[test]
    fn a_patchable_sink_reads_the_disk_once() {
        let d = &one_pass_disks(MIB)[2].1;
        let (one, two, allocated) = bytes_read(d, &with_block(MIB));
        assert_eq!(one, allocated);
        assert!(two > allocated, "{two}");
    }
}
