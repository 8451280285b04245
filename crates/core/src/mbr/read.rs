//! Reads an MBR and its EBR chain (with loop protection), reporting
//! problems as warnings that name the partition.

#![deny(clippy::indexing_slicing)]

use super::raw::{self, is_extended, BOOT_SIGNATURE};
use super::{Mbr, MbrPartition};
use crate::io::ReadAt;
use crate::{Error, Result};

/// Most logical partitions followed in an EBR chain (Linux stops far
/// earlier in practice; this only bounds hostile chains).
const MAX_LOGICAL: usize = 256;

/// An MBR read from a disk and what was odd about it.
#[derive(Debug, Clone)]
pub struct MbrRead {
    /// The table, logical partitions included.
    pub mbr: Mbr,
    /// Oddities found (overlaps, partitions past the disk end).
    pub warnings: Vec<String>,
}

/// True if sector 0 ends in 0x55AA (a DOS table, a protective MBR or a
/// boot sector).
pub fn has_boot_signature(src: &dyn ReadAt) -> bool {
    let mut b = [0u8; 2];
    src.size() >= 512 && src.read_at(510, &mut b).is_ok() && b == BOOT_SIGNATURE
}

fn read_sector(src: &dyn ReadAt, lba: u64, ss: u64) -> Result<[u8; 512]> {
    let mut s = [0u8; 512];
    let off = lba
        .checked_mul(ss)
        .ok_or_else(|| Error::corrupt("mbr", "EBR", "sector number out of range"))?;
    src.read_at(off, &mut s)?;
    Ok(s)
}

/// Reads the MBR of a disk with `ss`-byte sectors.
pub fn read(src: &dyn ReadAt, ss: u64) -> Result<MbrRead> {
    if !has_boot_signature(src) {
        return Err(Error::corrupt(
            "mbr",
            "signature",
            "no 0x55AA boot signature in sector 0",
        ));
    }
    let disk_sectors = src.size() / ss;
    let s0 = read_sector(src, 0, ss)?;
    let mut warnings = Vec::new();
    let mut partitions = Vec::new();
    let mut ext = None;
    for (i, r) in raw::records(&s0)?.iter().enumerate() {
        if r.os_type == 0 || r.size_in_lba == 0 {
            continue;
        }
        let p = MbrPartition {
            number: i as u32 + 1,
            bootable: r.boot_indicator & 0x80 != 0,
            os_type: r.os_type,
            first_lba: r.starting_lba as u64,
            sectors: r.size_in_lba as u64,
            logical: false,
        };
        if is_extended(r.os_type) && ext.is_none() {
            ext = Some((p.first_lba, p.last_lba()));
        }
        partitions.push(p);
    }
    if let Some((ext_start, ext_end)) = ext {
        let mut cur = ext_start;
        let mut seen = std::collections::BTreeSet::new();
        let mut number = 5;
        loop {
            if !seen.insert(cur) {
                warnings.push(format!(
                    "the EBR chain loops back to sector {cur}; stopped after partition {}",
                    number - 1
                ));
                break;
            }
            if seen.len() > MAX_LOGICAL {
                warnings.push(format!(
                    "more than {MAX_LOGICAL} logical partitions; stopped"
                ));
                break;
            }
            if cur >= disk_sectors || cur > ext_end {
                warnings.push(format!(
                    "the EBR of partition {number} (sector {cur}) lies outside the extended partition or the disk"
                ));
                break;
            }
            let s = match read_sector(src, cur, ss) {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("cannot read the EBR of partition {number}: {e}"));
                    break;
                }
            };
            if !raw::has_boot_signature(&s) {
                warnings.push(format!(
                    "the EBR of partition {number} at sector {cur} has no 0x55AA signature"
                ));
                break;
            }
            let [data, link, ..] = match raw::records(&s) {
                Ok(r) => r,
                Err(e) => {
                    warnings.push(format!("cannot read the EBR of partition {number}: {e}"));
                    break;
                }
            };
            if data.os_type != 0 && data.size_in_lba != 0 {
                partitions.push(MbrPartition {
                    number,
                    bootable: data.boot_indicator & 0x80 != 0,
                    os_type: data.os_type,
                    first_lba: cur + data.starting_lba as u64,
                    sectors: data.size_in_lba as u64,
                    logical: true,
                });
                number += 1;
            }
            if !is_extended(link.os_type) || link.size_in_lba == 0 {
                break;
            }
            cur = ext_start + link.starting_lba as u64;
        }
    }
    let mbr = Mbr {
        sector_size: ss,
        disk_sectors,
        disk_signature: raw::disk_signature(&s0)?,
        partitions,
    };
    warnings.extend(mbr.problems());
    Ok(MbrRead { mbr, warnings })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::raw::PartitionRecord;
    use super::*;
    use crate::Disk;

    #[test]
    fn ebr_loop_and_bad_partitions_are_warnings() {
        let mut d = Disk::new(64 << 20);
        let mut m = [0u8; 512];
        m[446..462].copy_from_slice(
            &PartitionRecord::new(0x83, false, 2048, 4095, 0)
                .to_bytes()
                .unwrap(),
        );
        // Extended partition at 8192 whose EBR links back to itself.
        m[462..478].copy_from_slice(
            &PartitionRecord::new(0x05, false, 8192, 20000, 0)
                .to_bytes()
                .unwrap(),
        );
        // A partition past the end of the 131072-sector disk.
        m[478..494].copy_from_slice(
            &PartitionRecord::new(0x83, false, 100000, 200000, 0)
                .to_bytes()
                .unwrap(),
        );
        m[510] = 0x55;
        m[511] = 0xAA;
        d.write(0, &m).unwrap();
        let mut ebr = [0u8; 512];
        ebr[446..462].copy_from_slice(
            &PartitionRecord::new(0x83, false, 8200, 9000, 8192)
                .to_bytes()
                .unwrap(),
        );
        ebr[462..478].copy_from_slice(
            &PartitionRecord::new(0x05, false, 8192, 9000, 8192)
                .to_bytes()
                .unwrap(),
        );
        ebr[510] = 0x55;
        ebr[511] = 0xAA;
        d.write(8192 * 512, &ebr).unwrap();
        let r = read(&d, 512).unwrap();
        assert_eq!(r.mbr.partitions.iter().filter(|p| p.logical).count(), 1);
        assert!(
            r.warnings.iter().any(|w| w.contains("loops")),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("partition 3") && w.contains("past the end")),
            "{:?}",
            r.warnings
        );
        assert!(read(&Disk::new(4096), 512).is_err());
    }

    #[test]
    fn chs_like_sfdisk() {
        use super::super::raw::chs_bytes;
        assert_eq!(chs_bytes(2048), [0x20, 0x21, 0x00]);
        assert_eq!(chs_bytes(206847), [0xdf, 0x13, 0x0c]);
        assert_eq!(chs_bytes(2000000), [0x7e, 0x03, 0x7c]);
        assert_eq!(chs_bytes(20971519), [0xfe, 0xff, 0xff]);
    }
}
