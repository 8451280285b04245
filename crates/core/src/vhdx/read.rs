//! VHDX reader: headers (the valid one with the higher SequenceNumber),
//! region table, metadata, BAT; payload blocks become extents of the
//! returned disk that point straight into the file.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::bytes;
use crate::image::{Info, Opened};
use crate::io::{read_vec, ReadAt, Source};
use crate::{Disk, Error, Result};
use std::sync::Arc;

const F: &str = "vhdx";
/// The BAT of a 64 TiB disk with 1 MiB blocks is 512 MiB; refuse more.
const BAT_CAP: u64 = 512 << 20;

fn corrupt(field: impl Into<String>, msg: impl std::fmt::Display) -> Error {
    Error::corrupt(F, field, msg)
}

/// What the headers say.
#[derive(Debug, Clone)]
pub struct Header {
    /// Higher is newer; the current header has the highest.
    pub sequence_number: u64,
    /// The log in use (all zero: none).
    pub log_guid: [u8; 16],
    /// Log length in bytes.
    pub log_length: u32,
    /// Log offset in the file.
    pub log_offset: u64,
}

fn parse_header(src: &dyn ReadAt, at: u64) -> Option<Header> {
    let b = read_vec(
        src,
        at,
        HEADER_SIZE as u64,
        HEADER_SIZE as u64,
        "vhdx header",
    )
    .ok()?;
    let h = VhdxHeader::parse(&b).ok()??;
    if h.version != HEADER_VERSION {
        return None;
    }
    Some(Header {
        sequence_number: h.sequence_number,
        log_guid: h.log_guid,
        log_length: h.log_length,
        log_offset: h.log_offset,
    })
}

/// The current header: the valid copy with the higher SequenceNumber (2.2.2.1).
pub fn current_header(src: &dyn ReadAt) -> Result<Header> {
    match (
        parse_header(src, HEADER1_OFFSET),
        parse_header(src, HEADER2_OFFSET),
    ) {
        (Some(a), Some(b)) => Ok(if b.sequence_number > a.sequence_number {
            b
        } else {
            a
        }),
        (Some(a), None) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => Err(corrupt(
            "headers",
            "neither header is valid (bad signature, version or CRC-32C)",
        )),
    }
}

/// (BAT offset, length), (metadata offset, length).
fn region_table(src: &dyn ReadAt) -> Result<((u64, u64), (u64, u64))> {
    let mut last_err = None;
    for at in [REGION_TABLE1_OFFSET, REGION_TABLE2_OFFSET] {
        let b = read_vec(
            src,
            at,
            REGION_TABLE_SIZE as u64,
            REGION_TABLE_SIZE as u64,
            "vhdx region table",
        )?;
        let r = bytes::Reader::new(F, "region table", &b);
        if r.bytes(0, 4)? != REGION_SIGNATURE || r.le32(4)? != checksum_with_zero_field(&b, 4) {
            last_err = Some(corrupt(
                "region table",
                "neither copy is valid (bad signature or CRC-32C)",
            ));
            continue;
        }
        let count = r.le32(8)?;
        if count > REGION_MAX_ENTRIES {
            return Err(corrupt(
                "region table",
                format!("{count} entries (max 2047)"),
            ));
        }
        let (mut bat, mut meta) = (None, None);
        for i in 0..count as usize {
            let e = RegionTableEntry::parse(&b, i)?;
            let (guid, off, len, required) = (e.guid, e.file_offset, e.length as u64, e.required);
            let name = if guid == BAT_GUID {
                "BAT region"
            } else if guid == METADATA_GUID {
                "metadata region"
            } else if required {
                return Err(Error::unsupported(F, "an unknown required region"));
            } else {
                continue;
            };
            if off & (MIB - 1) != 0 || off < MIB {
                return Err(corrupt(
                    name,
                    format!("offset {off} is not 1 MiB aligned past the header"),
                ));
            }
            match off.checked_add(len) {
                Some(end) if end <= src.size() => {}
                _ => {
                    return Err(corrupt(
                        name,
                        format!(
                            "{len} bytes at {off} go past the end of the {}-byte file",
                            src.size()
                        ),
                    ))
                }
            }
            if guid == BAT_GUID {
                bat = Some((off, len));
            } else {
                meta = Some((off, len));
            }
        }
        return match (bat, meta) {
            (Some(b), Some(m)) => Ok((b, m)),
            _ => Err(corrupt("region table", "no BAT or no metadata region")),
        };
    }
    Err(last_err.unwrap_or_else(|| corrupt("region table", "missing")))
}

/// The metadata items this reader knows.
#[derive(Debug, Default, Clone)]
pub struct Metadata {
    /// Bytes per payload block.
    pub block_size: u64,
    /// A differencing disk.
    pub has_parent: bool,
    /// A fixed disk (blocks allocated up front).
    pub leave_blocks_allocated: bool,
    /// The virtual disk's size.
    pub virtual_disk_size: u64,
    /// Logical sector size.
    pub logical_sector_size: u64,
    /// Physical sector size.
    pub physical_sector_size: u64,
    /// The virtual disk's id.
    pub virtual_disk_id: [u8; 16],
    /// Parent locator key/value pairs (differencing disks).
    pub parent: Vec<(String, String)>,
}

fn utf16(b: &[u8]) -> String {
    let u: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| c.try_into().map(u16::from_le_bytes).unwrap_or(0))
        .collect();
    String::from_utf16_lossy(&u)
}

fn parse_parent_locator(d: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if d.len() < 20 {
        return out;
    }
    let r = bytes::Reader::new(F, "parent locator", d);
    let count = r.le16(18).unwrap_or(0) as usize;
    for i in 0..count.min(256) {
        let Ok(e) = r.sub(20 + i * 12, 12, "parent locator entry") else {
            break;
        };
        let field = |o: usize| e.le32(o).unwrap_or(0) as usize;
        let (ko, vo) = (field(0), field(4));
        let kl = e.le16(8).unwrap_or(0) as usize;
        let vl = e.le16(10).unwrap_or(0) as usize;
        if let (Some(k), Some(v)) = (
            d.get(ko..ko.saturating_add(kl)),
            d.get(vo..vo.saturating_add(vl)),
        ) {
            out.push((utf16(k), utf16(v)));
        }
    }
    out
}

fn metadata(src: &dyn ReadAt, off: u64, len: u64) -> Result<Metadata> {
    if len < METADATA_TABLE_SIZE {
        return Err(corrupt(
            "metadata region",
            format!("{len} bytes is smaller than its table"),
        ));
    }
    let region = read_vec(src, off, len, 256 << 20, "vhdx metadata region")?;
    let r = bytes::Reader::new(F, "metadata table", &region);
    if r.bytes(0, 8)? != METADATA_SIGNATURE {
        return Err(corrupt("metadata table", "bad signature"));
    }
    let count = r.le16(10)?;
    if count > METADATA_MAX_ENTRIES {
        return Err(corrupt(
            "metadata table",
            format!("{count} entries (max 2047)"),
        ));
    }
    let mut m = Metadata::default();
    let mut seen = 0u32;
    for i in 0..count as usize {
        let e = MetadataTableEntry::parse(&region, i)?;
        let (guid, ioff, ilen, flags) = (e.item_id, e.offset as u64, e.length as u64, e.flags);
        let data = if ilen == 0 {
            &[][..]
        } else {
            if ioff < METADATA_TABLE_SIZE || ioff.saturating_add(ilen) > len {
                return Err(corrupt(
                    "metadata table",
                    format!("item {i}: {ilen} bytes at {ioff} lie outside the metadata region"),
                ));
            }
            r.bytes(ioff as usize, ilen as usize)?
        };
        let item = bytes::Reader::new(F, "metadata item", data);
        let need = |n: usize, name: &str| -> Result<()> {
            if data.len() < n {
                Err(corrupt(
                    name.to_string(),
                    format!("{} bytes, expected {n}", data.len()),
                ))
            } else {
                Ok(())
            }
        };
        if guid == FILE_PARAMETERS_GUID {
            need(8, "file parameters")?;
            m.block_size = item.le32(0)? as u64;
            let f = item.le32(4)?;
            m.leave_blocks_allocated = f & LEAVE_BLOCKS_ALLOCATED != 0;
            m.has_parent = f & HAS_PARENT != 0;
            seen |= 1;
        } else if guid == VIRTUAL_DISK_SIZE_GUID {
            need(8, "virtual disk size")?;
            m.virtual_disk_size = item.le64(0)?;
            seen |= 2;
        } else if guid == LOGICAL_SECTOR_SIZE_GUID {
            need(4, "logical sector size")?;
            m.logical_sector_size = item.le32(0)? as u64;
            seen |= 4;
        } else if guid == PHYSICAL_SECTOR_SIZE_GUID {
            need(4, "physical sector size")?;
            m.physical_sector_size = item.le32(0)? as u64;
        } else if guid == PAGE83_DATA_GUID {
            need(16, "page 83 data")?;
            m.virtual_disk_id = swap_guid(item.array(0)?);
        } else if guid == PARENT_LOCATOR_GUID {
            m.parent = parse_parent_locator(data);
        } else if flags & META_IS_REQUIRED != 0 {
            return Err(Error::unsupported(F, "an unknown required metadata item"));
        }
    }
    if seen != 7 {
        return Err(corrupt(
            "metadata",
            "file parameters, virtual disk size or logical sector size missing",
        ));
    }
    if !m.block_size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&m.block_size)
    {
        return Err(corrupt(
            "file parameters",
            format!(
                "block size {} is not a power of two in 1..256 MiB",
                m.block_size
            ),
        ));
    }
    if m.logical_sector_size != 512 && m.logical_sector_size != 4096 {
        return Err(corrupt(
            "logical sector size",
            format!("{} (must be 512 or 4096)", m.logical_sector_size),
        ));
    }
    if m.virtual_disk_size > MAX_VIRTUAL_DISK_SIZE {
        return Err(corrupt(
            "virtual disk size",
            format!("{} bytes is more than 64 TiB", m.virtual_disk_size),
        ));
    }
    Ok(m)
}

/// Opens a VHDX file.
pub fn open(src: Source) -> Result<Opened> {
    let mut sig = [0u8; 8];
    src.read_at(0, &mut sig)?;
    if &sig != FILE_SIGNATURE {
        return Err(corrupt("file identifier", "no 'vhdxfile' signature"));
    }
    let header = current_header(&*src)?;
    let mut replayed = false;
    let src = if header.log_guid != [0; 16] {
        // Replay into an in-memory overlay; the input is never written.
        let out = super::log::replay(
            src.clone(),
            &header.log_guid,
            header.log_offset,
            header.log_length as u64,
        )
        .map_err(|e| {
            Error::unsupported(
                F,
                format!(
                    "the VHDX log must be replayed and replaying it failed ({e}); open it in Hyper-V or run qemu-img check -r all"
                ),
            )
        })?;
        replayed = !Arc::ptr_eq(&out, &src);
        out
    } else {
        src
    };
    let ((bat_off, bat_len), (meta_off, meta_len)) = region_table(&*src)?;
    let m = metadata(&*src, meta_off, meta_len)?;
    if m.has_parent {
        let parent = m
            .parent
            .iter()
            .find(|(k, _)| k == "relative_path" || k == "absolute_win32_path")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "unknown".into());
        return Err(Error::unsupported(
            F,
            format!(
                "differencing disk (parent: {parent}); convert it with its parent using qemu-img"
            ),
        ));
    }
    let bs = m.block_size;
    let size = m.virtual_disk_size;
    let ratio = chunk_ratio(bs, m.logical_sector_size);
    let blocks = size.div_ceil(bs);
    let entries = total_bat_entries(blocks, ratio);
    if entries.saturating_mul(8) > bat_len {
        return Err(corrupt(
            "BAT region",
            format!("{bat_len} bytes cannot hold the {entries} entries of a {size}-byte disk"),
        ));
    }
    let bat = read_vec(&*src, bat_off, entries * 8, BAT_CAP, "vhdx BAT")?;
    let mut disk = Disk::new(size);
    for i in 0..blocks {
        let e = bytes::Reader::new(F, "BAT", &bat).le64((bat_index(i, ratio) * 8) as usize)?;
        let state = e & BAT_STATE_MASK;
        let voff = i * bs;
        let len = bs.min(size - voff);
        match state {
            PAYLOAD_BLOCK_NOT_PRESENT
            | PAYLOAD_BLOCK_UNDEFINED
            | PAYLOAD_BLOCK_ZERO
            | PAYLOAD_BLOCK_UNMAPPED => {}
            PAYLOAD_BLOCK_FULLY_PRESENT => {
                let foff = e & BAT_OFFSET_MASK;
                if foff < MIB || !matches!(foff.checked_add(len), Some(end) if end <= src.size()) {
                    return Err(corrupt(
                        format!("BAT entry for block {i}"),
                        format!(
                            "payload at {foff} (+{len}) lies outside the {}-byte file",
                            src.size()
                        ),
                    ));
                }
                disk.write_source(voff, src.clone(), foff, len)?;
            }
            PAYLOAD_BLOCK_PARTIALLY_PRESENT => {
                return Err(corrupt(
                    format!("BAT entry for block {i}"),
                    "partially present block in a disk without a parent",
                ))
            }
            s => {
                return Err(corrupt(
                    format!("BAT entry for block {i}"),
                    format!("invalid state {s}"),
                ))
            }
        }
    }
    let info = Info {
        format: "vhdx".into(),
        virtual_size: size,
        cluster_size: Some(bs),
        backing_filename: None,
        backing_format: None,
        dirty: false,
        // qemu-img's shape for format-specific blocks: {"type", "data"}.
        format_specific: Some(serde_json::json!({
            "type": "vhdx",
            "data": {
                "block-size": bs,
                "logical-sector-size": m.logical_sector_size,
                "physical-sector-size": m.physical_sector_size,
                "virtual-disk-id": crate::seed::format_uuid(&m.virtual_disk_id),
                "leave-blocks-allocated": m.leave_blocks_allocated,
                "header-sequence-number": header.sequence_number,
                "log-replayed": replayed,
            },
        })),
    };
    Ok(Opened { disk, info })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::image::WriteOptions;
    use crate::io::NoProgress;
    use crate::testutil::{exercise, Mutated, XorShift};

    fn image() -> Arc<Vec<u8>> {
        let mut d = Disk::new(20 << 20);
        d.write(0, b"first block").unwrap();
        d.write(17 << 20, b"third block").unwrap();
        let mut out = Vec::new();
        super::super::write(&d, &WriteOptions::default(), &mut out, &NoProgress).unwrap();
        Arc::new(out)
    }

    fn open_m(m: Mutated) -> Result<Opened> {
        open(Arc::new(m))
    }

    /// Recomputes the CRCs of both headers and both region tables.
    fn fix_crcs(m: &mut Mutated) {
        for (at, len) in [
            (HEADER1_OFFSET, HEADER_SIZE),
            (HEADER2_OFFSET, HEADER_SIZE),
            (REGION_TABLE1_OFFSET, REGION_TABLE_SIZE),
            (REGION_TABLE2_OFFSET, REGION_TABLE_SIZE),
        ] {
            let b = m.get(at, len);
            if b.len() == len {
                let crc = checksum_with_zero_field(&b, 4);
                m.set(at + 4, &crc.to_le_bytes());
            }
        }
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let o = open(image()).unwrap();
        let mut b = [0u8; 11];
        o.disk.read_at(17 << 20, &mut b).unwrap();
        assert_eq!(&b, b"third block");
        assert_eq!(o.info.cluster_size, Some(8 << 20));
    }

    #[test]
    fn one_bad_header_uses_the_other_both_bad_is_an_error() {
        let base = image();
        let mut m = Mutated::new(base.clone());
        m.set(HEADER2_OFFSET + 100, &[1]);
        let o = open_m(m).unwrap();
        assert_eq!(
            o.info.format_specific.unwrap()["data"]["header-sequence-number"],
            1
        );
        let mut m = Mutated::new(base.clone());
        m.set(HEADER1_OFFSET + 100, &[1]);
        let o = open_m(m).unwrap();
        assert_eq!(
            o.info.format_specific.unwrap()["data"]["header-sequence-number"],
            2
        );
        let mut m = Mutated::new(base);
        m.set(HEADER1_OFFSET + 100, &[1]);
        m.set(HEADER2_OFFSET + 100, &[1]);
        let e = open_m(m).err().unwrap().to_string();
        assert!(e.contains("neither header is valid"), "{e}");
    }

    /// A log entry (2.3.1) at `tail`, sequence `seq`, with data sectors
    /// (file offset, 4 KiB) and zero ranges (file offset, length).
    fn log_entry(
        seq: u64,
        guid: &[u8; 16],
        tail: u32,
        data: &[(u64, Vec<u8>)],
        zeros: &[(u64, u64)],
    ) -> Vec<u8> {
        let count = data.len() + zeros.len();
        let mut e = vec![0u8; 4096 * (1 + data.len())];
        e[0..4].copy_from_slice(LOG_ENTRY_SIGNATURE);
        let len = e.len() as u32;
        e[8..12].copy_from_slice(&len.to_le_bytes());
        e[12..16].copy_from_slice(&tail.to_le_bytes());
        e[16..24].copy_from_slice(&seq.to_le_bytes());
        e[24..28].copy_from_slice(&(count as u32).to_le_bytes());
        e[32..48].copy_from_slice(guid);
        let mut d = 64;
        for (off, len) in zeros {
            e[d..d + 4].copy_from_slice(ZERO_DESCRIPTOR_SIGNATURE);
            e[d + 8..d + 16].copy_from_slice(&len.to_le_bytes());
            e[d + 16..d + 24].copy_from_slice(&off.to_le_bytes());
            e[d + 24..d + 32].copy_from_slice(&seq.to_le_bytes());
            d += 32;
        }
        for (i, (off, sector)) in data.iter().enumerate() {
            e[d..d + 4].copy_from_slice(DATA_DESCRIPTOR_SIGNATURE);
            e[d + 4..d + 8].copy_from_slice(&sector[4092..4096]);
            e[d + 8..d + 16].copy_from_slice(&sector[0..8]);
            e[d + 16..d + 24].copy_from_slice(&off.to_le_bytes());
            e[d + 24..d + 32].copy_from_slice(&seq.to_le_bytes());
            d += 32;
            let s = 4096 * (1 + i);
            e[s..s + 4].copy_from_slice(DATA_SECTOR_SIGNATURE);
            e[s + 4..s + 8].copy_from_slice(&((seq >> 32) as u32).to_le_bytes());
            e[s + 8..s + 4092].copy_from_slice(&sector[8..4092]);
            e[s + 4092..s + 4096].copy_from_slice(&(seq as u32).to_le_bytes());
        }
        let crc = checksum_with_zero_field(&e, 4);
        e[4..8].copy_from_slice(&crc.to_le_bytes());
        e
    }

    fn with_log(base: &Arc<Vec<u8>>, entries: &[(u64, Vec<u8>)]) -> Mutated {
        let mut m = Mutated::new(base.clone());
        let guid = [0x42u8; 16];
        for h in [HEADER1_OFFSET, HEADER2_OFFSET] {
            m.set(h + 48, &guid);
        }
        for (at, e) in entries {
            m.set(MIB + at, e);
        }
        fix_crcs(&mut m);
        m
    }

    #[test]
    fn log_is_replayed_into_an_overlay() {
        let base = image();
        let guid = [0x42u8; 16];
        // Point block 1's BAT entry at block 0's payload.
        let mut bat = base[(3 * MIB) as usize..(3 * MIB + 4096) as usize].to_vec();
        let block0 = u64::from_le_bytes(bat[0..8].try_into().unwrap());
        bat[8..16].copy_from_slice(&block0.to_le_bytes());
        let e1 = log_entry(10, &guid, 0, &[(3 * MIB, bat)], &[]);
        let o = open_m(with_log(&base, &[(0, e1.clone())])).unwrap();
        let mut b = [0u8; 11];
        o.disk.read_at(8 << 20, &mut b).unwrap();
        assert_eq!(&b, b"first block");
        assert_eq!(
            o.info.format_specific.unwrap()["data"]["log-replayed"],
            true
        );

        // A later entry in the same sequence zeroes the BAT sector: every
        // block reads as zeros.
        let e2 = log_entry(11, &guid, 0, &[], &[(3 * MIB, 4096)]);
        let o = open_m(with_log(&base, &[(0, e1.clone()), (e1.len() as u64, e2)])).unwrap();
        o.disk.read_at(0, &mut b).unwrap();
        assert_eq!(b, [0; 11]);

        // A damaged entry is not replayed (no active sequence).
        let mut bad = e1.clone();
        bad[5000] ^= 1;
        let o = open_m(with_log(&base, &[(0, bad)])).unwrap();
        assert_eq!(
            o.info.format_specific.unwrap()["data"]["log-replayed"],
            false
        );
        o.disk.read_at(0, &mut b).unwrap();
        assert_eq!(&b, b"first block");
    }

    #[test]
    fn bat_region_larger_than_file_is_an_error() {
        let mut m = Mutated::new(image());
        for t in [REGION_TABLE1_OFFSET, REGION_TABLE2_OFFSET] {
            // Entry 0 is the BAT: Length at 16 + 24.
            m.set(t + 16 + 24, &(1u32 << 31).to_le_bytes());
        }
        fix_crcs(&mut m);
        let e = open_m(m).err().unwrap().to_string();
        assert!(
            e.contains("BAT region") && e.contains("past the end"),
            "{e}"
        );
    }

    #[test]
    fn payload_offset_past_eof_is_an_error() {
        let base = image();
        let mut m = Mutated::new(base);
        let bad = (1u64 << 40) | PAYLOAD_BLOCK_FULLY_PRESENT;
        m.set(3 * MIB, &bad.to_le_bytes());
        let e = open_m(m).err().unwrap().to_string();
        assert!(
            e.contains("BAT entry for block 0") && e.contains("outside"),
            "{e}"
        );
    }

    #[test]
    fn truncated_file_is_an_error() {
        let base = image();
        // The last block (virtual 16..20 MiB) is stored as a full 8 MiB block;
        // cutting into its first 4 MiB loses data the disk needs.
        let cut = base.len() as u64 - 4 * MIB - 1;
        for len in [0u64, 100, 70_000, 3 * MIB + 10, cut] {
            let mut m = Mutated::new(base.clone());
            m.len = len;
            assert!(open_m(m).is_err(), "len {len}");
        }
    }

    #[test]
    fn mutated_images_never_panic() {
        let base = image();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let areas = [
            (0, 8),
            (HEADER1_OFFSET, 128),
            (HEADER2_OFFSET, 128),
            (REGION_TABLE1_OFFSET, 96),
            (REGION_TABLE2_OFFSET, 96),
            (2 * MIB, 256),
            (2 * MIB + METADATA_TABLE_SIZE, 64),
            (3 * MIB, 64),
            (MIB, 128),
            (MIB + 4096, 64),
            (0, base.len() as u64),
        ];
        let guid = [0x42u8; 16];
        let bat = base[(3 * MIB) as usize..(3 * MIB + 4096) as usize].to_vec();
        let entry = log_entry(7, &guid, 0, &[(3 * MIB, bat)], &[(3 * MIB + 4096, 8192)]);
        for i in 0..3000 {
            let mut m = if i % 10 == 0 {
                with_log(&base, &[(0, entry.clone())])
            } else {
                Mutated::new(base.clone())
            };
            m.mutate(&mut rng, &areas, 1 + (i % 8));
            if i % 2 == 0 {
                fix_crcs(&mut m);
            }
            if let Ok(o) = open_m(m) {
                exercise(&o.disk, &mut rng);
            }
        }
    }
}
