//! VHD reader: fixed and dynamic disks (differencing disks are refused).
//! The virtual size follows qemu's block/vpc.c: the CHS geometry, except
//! for creators known to use current_size (Hyper-V "win ", "qem2",
//! Disk2vhd "d2v ", XenServer "tap\0", XenConverter "CTXS") and for the
//! maximum geometry, where current_size is used.

// A Source is an Arc<dyn ReadAt>, not Send by contract.
#![allow(clippy::arc_with_non_send_sync)]
#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::bytes;
use crate::image::{Info, Opened};
use crate::io::{read_vec, ReadAt, Source, SubRange};
use crate::{Disk, Error, Result};
use std::sync::Arc;

const F: &str = "vhd";

fn corrupt(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::corrupt(F, field, msg)
}

/// A dynamic VHD's virtual disk, read through its BAT. The sector bitmaps
/// are ignored (as qemu does): a present block is read whole.
pub struct VhdReader {
    src: Source,
    size: u64,
    block_size: u64,
    bitmap: u64,
    bat: Vec<u32>,
}

impl VhdReader {
    fn block_offset(&self, b: u64) -> Option<u64> {
        match self.bat.get(b as usize) {
            Some(&e) if e != BAT_UNUSED => Some(e as u64 * 512 + self.bitmap),
            _ => None,
        }
    }

    fn allocated_ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for b in 0..self.bat.len() as u64 {
            let s = b * self.block_size;
            if s >= self.size || self.block_offset(b).is_none() {
                continue;
            }
            let len = self.block_size.min(self.size - s);
            match out.last_mut() {
                Some((ps, pl)) if *ps + *pl == s => *pl += len,
                _ => out.push((s, len)),
            }
        }
        out
    }
}

impl ReadAt for VhdReader {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.size => {}
            _ => {
                return Err(Error::Truncated {
                    what: "vhd virtual disk".into(),
                    offset: offset.saturating_add(buf.len() as u64),
                    size: self.size,
                })
            }
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let b = pos / self.block_size;
            let within = pos % self.block_size;
            let n = ((self.block_size - within) as usize).min(buf.len() - done);
            let out = bytes::slice_mut("vhd", "read buffer", buf, done, n)?;
            match self.block_offset(b) {
                None => out.fill(0),
                Some(at) => self.src.read_at(at + within, out)?,
            }
            done += n;
        }
        Ok(())
    }
    fn name(&self) -> String {
        format!("vhd {}", self.src.name())
    }
}

fn read_footer(src: &dyn ReadAt, at: u64) -> Result<Option<Footer>> {
    let mut b = [0u8; FOOTER_LEN];
    src.read_at(at, &mut b)?;
    if b.get(0..8) != Some(&COOKIE[..]) {
        return Ok(None);
    }
    let f = Footer::parse(&b)?;
    if checksum(&b, 64) != f.checksum {
        return Err(corrupt(
            "footer checksum",
            format!(
                "{:#010x} does not match the footer at byte {at}",
                f.checksum
            ),
        ));
    }
    Ok(Some(f))
}

/// The virtual size in bytes, as qemu computes it.
pub fn virtual_size(f: &Footer) -> u64 {
    let app = &f.creator_application;
    let use_size = [b"win ", b"qem2", b"d2v ", b"CTXS", b"tap\0"].contains(&app);
    let chs = f.chs_sectors();
    if use_size || chs == MAX_GEOMETRY {
        f.current_size / 512 * 512
    } else {
        chs * 512
    }
}

/// Opens a VHD as its virtual disk.
pub fn open(src: Source) -> Result<Opened> {
    let file_size = src.size();
    if file_size < FOOTER_LEN as u64 {
        return Err(Error::Truncated {
            what: format!("{}: vhd footer", src.name()),
            offset: 512,
            size: file_size,
        });
    }
    let f = match read_footer(&*src, 0)? {
        Some(f) => f,
        None => read_footer(&*src, file_size - 512)?
            .ok_or_else(|| corrupt("footer", "no 'conectix' cookie at the start or the end"))?,
    };
    let size = virtual_size(&f);
    if size / 512 > MAX_SECTORS {
        return Err(corrupt(
            "current_size",
            format!("{size} bytes is over the VHD limit of 2040 GiB"),
        ));
    }
    let mut info = Info {
        format: "vpc".into(),
        virtual_size: size,
        cluster_size: None,
        backing_filename: None,
        backing_format: None,
        dirty: false,
        format_specific: None,
    };
    match f.disk_type {
        DISK_FIXED => {
            if size > file_size - 512 {
                return Err(corrupt(
                    "current_size",
                    format!("a {size}-byte fixed disk does not fit the {file_size}-byte file"),
                ));
            }
            let data: Source = Arc::new(SubRange::new(src, 0, size)?);
            let disk = if size == 0 {
                Disk::new(0)
            } else {
                Disk::from_whole(data)?
            };
            Ok(Opened { disk, info })
        }
        DISK_DYNAMIC => {
            let mut hb = [0u8; DYN_HEADER_LEN];
            match f.data_offset.checked_add(DYN_HEADER_LEN as u64) {
                Some(end) if end <= file_size => src.read_at(f.data_offset, &mut hb)?,
                _ => {
                    return Err(corrupt(
                        "data_offset",
                        format!(
                            "dynamic disk header at {:#x} is past the end of the file",
                            f.data_offset
                        ),
                    ))
                }
            }
            if hb[0..8] != DYN_COOKIE {
                return Err(corrupt("dynamic disk header", "no 'cxsparse' cookie"));
            }
            let h = DynHeader::parse(&hb)?;
            if checksum(&hb, 36) != h.checksum {
                return Err(corrupt(
                    "dynamic disk header checksum",
                    format!("{:#010x} does not match", h.checksum),
                ));
            }
            let bs = h.block_size as u64;
            if bs < 512 || bs & 511 != 0 {
                return Err(corrupt(
                    "block_size",
                    format!("{bs} is not a multiple of 512"),
                ));
            }
            let entries = h.max_table_entries as u64;
            if entries * bs < size {
                return Err(corrupt(
                    "max_table_entries",
                    format!("{entries} blocks of {bs} bytes cannot hold a {size}-byte disk"),
                ));
            }
            let bat_bytes = entries * 4;
            match h.table_offset.checked_add(bat_bytes) {
                Some(end) if end <= file_size => {}
                _ => return Err(corrupt("table_offset", format!("the {bat_bytes}-byte BAT at {:#x} runs past the end of the {file_size}-byte file", h.table_offset))),
            }
            let batb = read_vec(&*src, h.table_offset, bat_bytes, 64 << 20, "vhd BAT")?;
            let bat: Vec<u32> = bytes::be32s(&batb).collect();
            let bitmap = bitmap_len(bs);
            for (i, &e) in bat.iter().enumerate() {
                if e == BAT_UNUSED {
                    continue;
                }
                let off = e as u64 * 512;
                if off < 512 {
                    return Err(corrupt(
                        &format!("BAT entry {i}"),
                        "block overlaps the footer copy",
                    ));
                }
                if off + bitmap + bs > file_size {
                    return Err(corrupt(
                        &format!("BAT entry {i}"),
                        format!("block at {off:#x} runs past the end of the {file_size}-byte file"),
                    ));
                }
            }
            info.cluster_size = Some(bs);
            let r = VhdReader {
                src,
                size,
                block_size: bs,
                bitmap,
                bat,
            };
            let ranges = r.allocated_ranges();
            let disk = if ranges.is_empty() {
                Disk::new(size)
            } else {
                Disk::from_source(Arc::new(r), &ranges)?
            };
            Ok(Opened { disk, info })
        }
        DISK_DIFFERENCING => Err(Error::unsupported(
            F,
            "differencing disks (with a parent image)",
        )),
        t => Err(corrupt(
            "disk_type",
            format!("{t} is not fixed (2) or dynamic (3)"),
        )),
    }
}
