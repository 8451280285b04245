//! VHDX log replay ([MS-VHDX] 2.3): find the active sequence of log entries
//! and apply it to an in-memory overlay of the file (the file itself is
//! never written). The overlay is a [`Disk`] over the file with the
//! replayed 4 KiB sectors and zeroed ranges on top.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::bytes::Reader;
use crate::io::{read_vec, Source};
use crate::{Disk, Error, Result};
use std::sync::Arc;

const F: &str = "vhdx";
/// Largest log replayed (the log is usually 1 MiB).
const LOG_CAP: u64 = 64 << 20;

/// One parsed, valid log entry.
struct Entry {
    sequence_number: u64,
    length: u64,
    tail: u64,
    flushed_file_offset: u64,
    last_file_offset: u64,
    /// (file offset, Some(4 KiB sector) | None = zeros of this length)
    ops: Vec<(u64, Result<Vec<u8>, u64>)>,
}

fn parse_entry(log: &[u8], at: u64, guid: &[u8; 16]) -> Option<Entry> {
    let len_log = log.len() as u64;
    // Entries may wrap around the end of the circular log.
    let get = |off: u64, n: u64| -> Option<Vec<u8>> {
        (0..n)
            .map(|i| {
                let k = at.checked_add(off)?.checked_add(i)?.checked_rem(len_log)?;
                log.get(k as usize).copied()
            })
            .collect()
    };
    let h = get(0, LOG_ENTRY_HEADER_SIZE)?;
    let hr = Reader::new("vhdx", "log entry header", &h);
    if hr.bytes(0, 4).ok()? != LOG_ENTRY_SIGNATURE {
        return None;
    }
    let length = hr.le32(8).ok()? as u64;
    if length == 0 || length & (LOG_SECTOR - 1) != 0 || length > len_log {
        return None;
    }
    let whole = get(0, length)?;
    let r = Reader::new("vhdx", "log entry", &whole);
    if r.le32(4).ok()? != checksum_with_zero_field(&whole, 4) {
        return None;
    }
    if r.bytes(32, 16).ok()? != guid {
        return None;
    }
    let seq = r.le64(16).ok()?;
    let count = r.le32(24).ok()? as u64;
    let desc_bytes = LOG_ENTRY_HEADER_SIZE + count * LOG_DESCRIPTOR_SIZE;
    let desc_sectors = desc_bytes.div_ceil(LOG_SECTOR);
    let mut data_at = desc_sectors * LOG_SECTOR;
    if data_at > length {
        return None;
    }
    let mut ops = Vec::new();
    for i in 0..count {
        let d = (LOG_ENTRY_HEADER_SIZE + i * LOG_DESCRIPTOR_SIZE) as usize;
        let desc = r.sub(d, 32, "log descriptor").ok()?;
        if desc.le64(24).ok()? != seq {
            return None;
        }
        let file_offset = desc.le64(16).ok()?;
        if file_offset & (LOG_SECTOR - 1) != 0 {
            return None;
        }
        let signature = desc.bytes(0, 4).ok()?;
        if signature == ZERO_DESCRIPTOR_SIGNATURE {
            let zero_length = desc.le64(8).ok()?;
            if zero_length & (LOG_SECTOR - 1) != 0 {
                return None;
            }
            ops.push((file_offset, Err(zero_length)));
        } else if signature == DATA_DESCRIPTOR_SIGNATURE {
            if data_at + LOG_SECTOR > length {
                return None;
            }
            let s = r
                .sub(data_at as usize, LOG_SECTOR as usize, "log data sector")
                .ok()?;
            if s.bytes(0, 4).ok()? != DATA_SECTOR_SIGNATURE
                || s.le32(4).ok()? as u64 != seq >> 32
                || s.le32(4092).ok()? as u64 != seq & 0xffff_ffff
            {
                return None;
            }
            // The sector on disk: LeadingBytes, the 4084 data bytes,
            // TrailingBytes (2.3.1.3).
            let mut sector = Vec::with_capacity(LOG_SECTOR as usize);
            sector.extend_from_slice(desc.bytes(8, 8).ok()?);
            sector.extend_from_slice(s.bytes(8, 4084).ok()?);
            sector.extend_from_slice(desc.bytes(4, 4).ok()?);
            ops.push((file_offset, Ok(sector)));
            data_at += LOG_SECTOR;
        } else {
            return None;
        }
    }
    Some(Entry {
        sequence_number: seq,
        length,
        tail: r.le32(12).ok()? as u64,
        flushed_file_offset: r.le64(48).ok()?,
        last_file_offset: r.le64(56).ok()?,
        ops,
    })
}

/// Replays the log of `src` described by the current header; returns the
/// file as it would be after replay (or `src` itself if the log holds no
/// active sequence).
pub fn replay(
    src: Source,
    log_guid: &[u8; 16],
    log_offset: u64,
    log_length: u64,
) -> Result<Source> {
    if log_length == 0 || log_length & (MIB - 1) != 0 || log_offset & (MIB - 1) != 0 {
        return Err(Error::corrupt(
            F,
            "log",
            format!("offset {log_offset} / length {log_length} not 1 MiB multiples"),
        ));
    }
    let log = read_vec(&*src, log_offset, log_length, LOG_CAP, "vhdx log")?;
    // Every valid entry, then the longest run of consecutive sequence
    // numbers ending at the highest one whose head's tail is its start.
    let mut best: Option<Vec<Entry>> = None;
    let mut at = 0u64;
    while at < log_length {
        if let Some(first) = parse_entry(&log, at, log_guid) {
            let start = at;
            let first_length = first.length;
            let mut seq = vec![first];
            let mut next = (start + first_length) % log_length;
            let mut walked = first_length;
            while walked < log_length {
                match parse_entry(&log, next, log_guid) {
                    Some(e)
                        if Some(e.sequence_number) == seq.last().map(|l| l.sequence_number + 1) =>
                    {
                        next = (next + e.length) % log_length;
                        walked += e.length;
                        seq.push(e);
                    }
                    _ => break,
                }
            }
            let head = seq.last().map(|e| (e.sequence_number, e.tail));
            if let Some((head_seq, tail)) = head {
                let best_seq = best
                    .as_ref()
                    .and_then(|b| b.last().map(|e| e.sequence_number));
                let better = !matches!(best_seq, Some(s) if head_seq <= s);
                if tail == start && better {
                    best = Some(seq);
                }
            }
        }
        at += LOG_SECTOR;
    }
    let Some(entries) = best else {
        return Ok(src);
    };
    let head = entries
        .last()
        .map(|e| (e.flushed_file_offset, e.last_file_offset))
        .unwrap_or((0, 0));
    if src.size() < head.0 {
        return Err(Error::corrupt(
            F,
            "log",
            format!(
                "the file ({} bytes) is shorter than the log's FlushedFileOffset {}",
                src.size(),
                head.0
            ),
        ));
    }
    let mut overlay = Disk::from_whole(src.clone())?;
    let mut size = src.size().max(head.1);
    for e in &entries {
        for (off, op) in &e.ops {
            let end = match op {
                Ok(_) => off.checked_add(LOG_SECTOR),
                Err(len) => off.checked_add(*len),
            }
            .filter(|&e| e <= MAX_VIRTUAL_DISK_SIZE)
            .ok_or_else(|| Error::corrupt(F, "log descriptor", "file offset out of range"))?;
            size = size.max(end);
        }
    }
    overlay.set_size(size);
    for e in entries {
        for (off, op) in e.ops {
            match op {
                Ok(sector) => overlay.write_vec(off, sector)?,
                Err(len) => overlay.discard(off, len)?,
            }
        }
    }
    // Source is Arc<dyn ReadAt> by contract; it need not be Send.
    #[allow(clippy::arc_with_non_send_sync)]
    let out: Source = Arc::new(overlay);
    Ok(out)
}
