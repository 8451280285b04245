//! Reads a GPT from a disk: the primary copy, or the backup when the primary
//! is damaged, with warnings saying which copy is bad and how.

#![deny(clippy::indexing_slicing)]

use super::raw::{GptEntry, GptHeader, GPT_SIGNATURE};
use super::{Gpt, GptPartition};
use crate::io::{read_vec, ReadAt};
use crate::{Error, Result};

/// Largest entry array read (sgdisk writes 16 KiB; 16 MiB is far beyond
/// anything real and bounds memory for hostile headers).
const MAX_ARRAY_BYTES: u64 = 16 << 20;

/// A table read from a disk and what was wrong with it.
#[derive(Debug, Clone)]
pub struct GptRead {
    /// The table (from the primary copy, or the backup if the primary is damaged).
    pub gpt: Gpt,
    /// The primary header and array are valid.
    pub primary_ok: bool,
    /// The backup header and array are valid and agree with the primary.
    pub backup_ok: bool,
    /// Damage and oddities, each naming the copy or partition.
    pub warnings: Vec<String>,
}

/// Finds the logical sector size of a GPT disk by looking for the
/// `EFI PART` signature at LBA 1, then in the last sector, for 512 and
/// 4096. None if neither holds one.
pub fn detect_sector_size(src: &dyn ReadAt) -> Option<u64> {
    let has_sig = |off: u64| {
        let mut b = [0u8; 8];
        src.read_at(off, &mut b).is_ok() && &b == GPT_SIGNATURE
    };
    for ss in [512u64, 4096] {
        if has_sig(ss) {
            return Some(ss);
        }
    }
    for ss in [512u64, 4096] {
        let size = src.size();
        if size >= 2 * ss && has_sig((size / ss - 1) * ss) {
            return Some(ss);
        }
    }
    None
}

/// One copy: its header and its raw entry array.
struct Copy {
    header: GptHeader,
    array: Vec<u8>,
}

fn read_copy(src: &dyn ReadAt, ss: u64, lba: u64, which: &str) -> Result<Copy> {
    let disk_sectors = src.size() / ss;
    let bad = |msg: String| Error::corrupt("gpt", format!("{which} header"), msg);
    if lba >= disk_sectors {
        return Err(bad(format!(
            "sector {lba} is past the end of the disk ({disk_sectors} sectors)"
        )));
    }
    let sector = read_vec(src, lba * ss, ss, ss, &format!("{which} GPT header"))?;
    let header = GptHeader::parse(&sector, which)?;
    if header.my_lba != lba {
        return Err(bad(format!(
            "MyLBA is {} but the header is at sector {lba}",
            header.my_lba
        )));
    }
    let esz = header.size_of_partition_entry as u64;
    if esz < 128 || esz.checked_rem(8) != Some(0) {
        return Err(bad(format!(
            "SizeOfPartitionEntry {esz} is not a multiple of 8 of at least 128"
        )));
    }
    if header.first_usable_lba > header.last_usable_lba.saturating_add(1)
        || header.last_usable_lba >= disk_sectors
    {
        return Err(bad(format!(
            "usable sectors {}-{} do not fit the {disk_sectors}-sector disk",
            header.first_usable_lba, header.last_usable_lba
        )));
    }
    let array_len = header.number_of_partition_entries as u64 * esz;
    let array_off = header
        .partition_entry_lba
        .checked_mul(ss)
        .ok_or_else(|| bad("PartitionEntryLBA is out of range".into()))?;
    let array = read_vec(
        src,
        array_off,
        array_len,
        MAX_ARRAY_BYTES,
        &format!("{which} GPT partition entries"),
    )?;
    let crc = crc32fast::hash(&array);
    if crc != header.partition_entry_array_crc32 {
        return Err(Error::corrupt(
            "gpt",
            format!("{which} partition entries"),
            format!(
                "bad entries CRC (stored {:08X}, computed {crc:08X})",
                header.partition_entry_array_crc32
            ),
        ));
    }
    Ok(Copy { header, array })
}

fn to_gpt(c: &Copy, ss: u64, disk_sectors: u64) -> Result<Gpt> {
    let esz = (c.header.size_of_partition_entry as usize).max(1);
    let mut partitions = Vec::new();
    for (i, b) in c.array.chunks_exact(esz).enumerate() {
        let e = GptEntry::parse(b)?;
        if !e.partition_type_guid.is_zero() {
            partitions.push(GptPartition {
                number: i as u32 + 1,
                type_guid: e.partition_type_guid,
                unique_guid: e.unique_partition_guid,
                first_lba: e.starting_lba,
                last_lba: e.ending_lba,
                attributes: e.attributes,
                name: e.name(),
            });
        }
    }
    Ok(Gpt {
        sector_size: ss,
        disk_sectors,
        disk_guid: c.header.disk_guid,
        num_entries: c.header.number_of_partition_entries,
        first_usable_lba: c.header.first_usable_lba,
        last_usable_lba: c.header.last_usable_lba,
        partitions,
    })
}

/// Reads the GPT, finding the sector size.
pub fn read(src: &dyn ReadAt) -> Result<GptRead> {
    let ss = detect_sector_size(src).ok_or_else(|| {
        Error::corrupt(
            "gpt",
            "header",
            "no GPT header at LBA 1 or at the end of the disk",
        )
    })?;
    read_with_sector_size(src, ss)
}

/// Reads the GPT of a disk with `ss`-byte sectors.
pub fn read_with_sector_size(src: &dyn ReadAt, ss: u64) -> Result<GptRead> {
    let disk_sectors = src.size() / ss;
    if disk_sectors < 3 {
        return Err(Error::corrupt("gpt", "disk", "too small to hold a GPT"));
    }
    let mut warnings = Vec::new();
    let last = disk_sectors - 1;
    let (gpt, primary_ok, backup_ok) = match read_copy(src, ss, 1, "primary") {
        Ok(p) => {
            let alt = p.header.alternate_lba;
            if alt != last {
                warnings.push(format!(
                    "the backup GPT header is at sector {alt}, not at the last sector {last} (was the disk resized? `imgforge resize` or `sgdisk -e` moves it)"
                ));
            }
            let backup_ok = match read_copy(src, ss, alt, "backup") {
                Ok(b) => {
                    let mut diffs = Vec::new();
                    if b.header.disk_guid != p.header.disk_guid {
                        diffs.push("disk GUID");
                    }
                    if b.header.first_usable_lba != p.header.first_usable_lba
                        || b.header.last_usable_lba != p.header.last_usable_lba
                    {
                        diffs.push("usable sectors");
                    }
                    if b.header.alternate_lba != 1 {
                        diffs.push("AlternateLBA");
                    }
                    if b.array != p.array {
                        diffs.push("partition entries");
                    }
                    if diffs.is_empty() {
                        true
                    } else {
                        warnings.push(format!(
                            "the backup GPT disagrees with the primary ({}); using the primary",
                            diffs.join(", ")
                        ));
                        false
                    }
                }
                Err(e) => {
                    warnings.push(format!("the backup GPT is damaged: {e}; using the primary"));
                    false
                }
            };
            (to_gpt(&p, ss, disk_sectors)?, true, backup_ok)
        }
        Err(pe) => match read_copy(src, ss, last, "backup") {
            Ok(b) => {
                warnings.push(format!(
                    "the primary GPT is damaged: {pe}; using the backup"
                ));
                (to_gpt(&b, ss, disk_sectors)?, false, true)
            }
            Err(be) => {
                return Err(Error::corrupt(
                    "gpt",
                    "headers",
                    format!("no valid GPT: {pe}; and {be}"),
                ))
            }
        },
    };
    let mut mbr = [0u8; 512];
    if src.read_at(0, &mut mbr).is_ok() {
        let has_ee = crate::mbr::raw::records(&mbr)
            .is_ok_and(|r| r.iter().any(|r| r.os_type == super::raw::PMBR_OS_TYPE));
        if !crate::mbr::raw::has_boot_signature(&mbr) || !has_ee {
            warnings.push("the protective MBR is missing or has no 0xEE partition".into());
        }
    }
    warnings.extend(gpt.problems());
    Ok(GptRead {
        gpt,
        primary_ok,
        backup_ok,
        warnings,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::gpt::edit::{apply, Op, Script};
    use crate::gpt::raw::{GptHeader, GPT_REVISION};
    use crate::size::{Amount, Position};
    use crate::{BuildContext, Disk};

    /// `sgdisk -o -n 1::+1M -c 1:a -n 2::-0`.
    fn table() -> Disk {
        let mut d = Disk::new(8 << 20);
        let sc = Script {
            ops: vec![
                Op::Clear,
                Op::New {
                    number: 1,
                    start: Position::Default,
                    end: Position::Plus(Amount::Bytes(1 << 20)),
                },
                Op::ChangeName {
                    number: 1,
                    name: "a".into(),
                },
                Op::New {
                    number: 2,
                    start: Position::Default,
                    end: Position::Minus(Amount::Bytes(0)),
                },
            ],
            ..Script::default()
        };
        apply(&mut d, &sc, &BuildContext::default()).unwrap();
        d
    }

    #[test]
    fn hostile_entry_count_is_refused_before_allocating() {
        let mut d = table();
        let h = GptHeader {
            revision: GPT_REVISION,
            header_size: 92,
            header_crc32: 0,
            my_lba: 1,
            alternate_lba: 16383,
            first_usable_lba: 34,
            last_usable_lba: 16350,
            disk_guid: crate::gpt::Guid([1; 16]),
            partition_entry_lba: 2,
            number_of_partition_entries: u32::MAX,
            size_of_partition_entry: 1 << 20,
            partition_entry_array_crc32: 0,
        };
        d.write(512, &h.to_sector(512).unwrap()).unwrap();
        // The primary is refused; the backup still reads.
        let r = read(&d).unwrap();
        assert!(!r.primary_ok);
        assert!(r.warnings[0].contains("limit"), "{:?}", r.warnings);
    }

    #[test]
    fn extreme_entries_are_warnings() {
        let mut g = crate::gpt::Gpt::new(8 << 20, 512, crate::gpt::Guid([3; 16])).unwrap();
        let p = |number, first_lba, last_lba| crate::gpt::GptPartition {
            number,
            type_guid: crate::gpt::Guid([1; 16]),
            unique_guid: crate::gpt::Guid([2; 16]),
            first_lba,
            last_lba,
            attributes: u64::MAX,
            name: "x".into(),
        };
        g.partitions = vec![p(1, 0, u64::MAX), p(2, u64::MAX, 0), p(128, 2048, 4095)];
        let mut d = Disk::new(8 << 20);
        crate::gpt::write::write_unchecked(&g, &mut d).unwrap();
        let r = read(&d).unwrap();
        assert!(r.primary_ok && r.backup_ok);
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("partition 1") && w.contains("outside")));
        assert!(r.warnings.iter().any(|w| w.contains("partition 2 ends")));
        let (t, w) = crate::partitions::read_table(&d);
        let report = crate::inspect::Report {
            format: "raw".into(),
            virtual_size: Some(d.size()),
            allocated_size: None,
            actual_size: None,
            container: None,
            partition_table: t,
            filesystem: None,
            grub: None,
            grub_installed: Vec::new(),
            warnings: w,
        };
        let text = crate::inspect::render_text(&report, "x");
        assert!(text.contains("warning: partition 1"), "{text}");
        // Editing refuses to write such a table back, naming a partition.
        // sgdisk -n 3::+1K
        let sc = Script {
            ops: vec![Op::New {
                number: 3,
                start: Position::Default,
                end: Position::Plus(Amount::Bytes(1024)),
            }],
            ..Script::default()
        };
        let e = apply(&mut d, &sc, &BuildContext::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("partition"), "{e}");
    }

    #[test]
    fn mutated_tables_never_panic() {
        let good = table();
        // The MBR records, the primary header and the first used entries.
        let spots = (446..512).chain(512..604).chain(1024..1280);
        for i in spots {
            for v in [0xffu8, 0x80] {
                let mut d = good.clone();
                d.write(i as u64, &[v]).unwrap();
                let _ = read(&d);
                let (table, warnings) = crate::partitions::read_table(&d);
                let report = crate::inspect::Report {
                    format: "raw".into(),
                    virtual_size: Some(d.size()),
                    allocated_size: None,
                    actual_size: None,
                    container: None,
                    partition_table: table,
                    filesystem: None,
                    grub: None,
                    grub_installed: Vec::new(),
                    warnings,
                };
                let _ = crate::inspect::render_text(&report, "x");
                let _ = crate::mbr::read::read(&d, 512);
            }
        }
    }
}
