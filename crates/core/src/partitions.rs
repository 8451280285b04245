//! Partition tables as `inspect` reports them (docs/inspect-json.md): a
//! GPT or MBR read from a virtual disk into one shape. Below both `fs`
//! (which finds a partition's bytes) and `inspect` (which reports).

use crate::gpt::raw::{attribute_names, type_by_guid};
use crate::io::ReadAt;
use crate::mbr::raw::type_name;
use crate::{Error, Result};
use serde::Serialize;

/// A partition table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionTable {
    /// `gpt` or `mbr`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Logical sector size in bytes.
    pub sector_size: u64,
    /// Disk size in sectors.
    pub disk_sectors: u64,
    /// GPT: the disk GUID, upper case.
    pub disk_guid: Option<String>,
    /// MBR: the disk signature as `0x1234abcd`.
    pub disk_signature: Option<String>,
    /// GPT: the first sector a partition may use.
    pub first_usable_lba: Option<u64>,
    /// GPT: the last sector a partition may use.
    pub last_usable_lba: Option<u64>,
    /// GPT: number of entries the table holds.
    pub num_entries: Option<u32>,
    /// GPT: the primary copy is valid.
    pub primary_ok: Option<bool>,
    /// GPT: the backup copy is valid and agrees with the primary.
    pub backup_ok: Option<bool>,
    /// The partitions, in table order.
    pub partitions: Vec<Partition>,
}

/// One partition.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Partition {
    /// Partition number (1-based; MBR logical partitions from 5).
    pub number: u32,
    /// First sector.
    pub start: u64,
    /// Last sector (inclusive, as sgdisk prints it).
    pub end: u64,
    /// Size in bytes.
    pub size: u64,
    /// GPT: sgdisk's code (`EF00`); MBR: the type byte in hex (`83`).
    pub type_code: Option<String>,
    /// The type's name as sgdisk / sfdisk print it.
    pub type_name: Option<String>,
    /// GPT only.
    pub type_guid: Option<String>,
    /// GPT only: the unique partition GUID.
    pub guid: Option<String>,
    /// GPT only: the partition name.
    pub name: Option<String>,
    /// GPT: the attribute bits.
    pub attributes: Option<u64>,
    /// GPT: names of the set attribute bits.
    pub attribute_names: Vec<String>,
    /// MBR: the active flag.
    pub bootable: Option<bool>,
    /// MBR: the type byte.
    pub mbr_type: Option<u8>,
    /// MBR: a logical partition (inside the extended one).
    pub logical: Option<bool>,
    /// What is inside (filled by filesystem probes; None here).
    pub filesystem: Option<serde_json::Value>,
}

/// Reads the GPT or MBR of a virtual disk; unreadable tables become
/// warnings.
pub fn read_table(disk: &dyn ReadAt) -> (Option<PartitionTable>, Vec<String>) {
    let mut warnings = Vec::new();
    if crate::gpt::read::detect_sector_size(disk).is_some() {
        match crate::gpt::read::read(disk) {
            Ok(r) => {
                warnings.extend(r.warnings);
                let g = &r.gpt;
                let ss = g.sector_size;
                let partitions = g
                    .partitions
                    .iter()
                    .map(|p| {
                        let t = type_by_guid(&p.type_guid);
                        Partition {
                            number: p.number,
                            start: p.first_lba,
                            end: p.last_lba,
                            size: p.sectors().saturating_mul(ss),
                            type_code: t.map(|t| format!("{:04X}", t.code)),
                            type_name: t.map(|t| t.name.to_string()),
                            type_guid: Some(p.type_guid.to_string()),
                            guid: Some(p.unique_guid.to_string()),
                            name: Some(p.name.clone()),
                            attributes: Some(p.attributes),
                            attribute_names: attribute_names(p.attributes),
                            bootable: None,
                            mbr_type: None,
                            logical: None,
                            filesystem: None,
                        }
                    })
                    .collect();
                return (
                    Some(PartitionTable {
                        kind: "gpt".into(),
                        sector_size: ss,
                        disk_sectors: g.disk_sectors,
                        disk_guid: Some(g.disk_guid.to_string()),
                        disk_signature: None,
                        first_usable_lba: Some(g.first_usable_lba),
                        last_usable_lba: Some(g.last_usable_lba),
                        num_entries: Some(g.num_entries),
                        primary_ok: Some(r.primary_ok),
                        backup_ok: Some(r.backup_ok),
                        partitions,
                    }),
                    warnings,
                );
            }
            Err(e) => warnings.push(format!("GPT signature found but no valid GPT: {e}")),
        }
    }
    if !crate::mbr::read::has_boot_signature(disk) {
        return (None, warnings);
    }
    let r = match crate::mbr::read::read(disk, 512) {
        Ok(r) => r,
        Err(e) => {
            warnings.push(format!("MBR: {e}"));
            return (None, warnings);
        }
    };
    // A filesystem boot sector also ends in 0x55AA; an MBR's records have
    // boot indicators of 0x00 or 0x80 only.
    let mut s0 = [0u8; 512];
    let plausible = disk.read_at(0, &mut s0).is_ok()
        && (0..4).all(|i| matches!(s0[446 + 16 * i], 0x00 | 0x80))
        && !r.mbr.partitions.is_empty();
    if !plausible {
        return (None, warnings);
    }
    if r.mbr.partitions.iter().any(|p| p.os_type == 0xEE) {
        warnings.push("protective MBR (type EE) without a valid GPT".into());
    }
    warnings.extend(r.warnings);
    let m = &r.mbr;
    let partitions = m
        .partitions
        .iter()
        .map(|p| Partition {
            number: p.number,
            start: p.first_lba,
            end: p.last_lba(),
            size: p.sectors.saturating_mul(m.sector_size),
            type_code: Some(format!("{:02x}", p.os_type)),
            type_name: Some(type_name(p.os_type).to_string()),
            type_guid: None,
            guid: None,
            name: None,
            attributes: None,
            attribute_names: Vec::new(),
            bootable: Some(p.bootable),
            mbr_type: Some(p.os_type),
            logical: Some(p.logical),
            filesystem: None,
        })
        .collect();
    (
        Some(PartitionTable {
            kind: "mbr".into(),
            sector_size: m.sector_size,
            disk_sectors: m.disk_sectors,
            disk_guid: None,
            disk_signature: Some(format!("0x{:08x}", m.disk_signature)),
            first_usable_lba: None,
            last_usable_lba: None,
            num_entries: None,
            primary_ok: None,
            backup_ok: None,
            partitions,
        }),
        warnings,
    )
}

/// Byte range `(offset, len)` of partition `number` on a disk with a GPT or
/// MBR table.
pub fn range(disk: &dyn ReadAt, number: u32) -> Result<(u64, u64)> {
    let (table, _) = read_table(disk);
    let table = table.ok_or_else(|| {
        Error::invalid(
            format!("partition {number}"),
            "this disk has no GPT or MBR partition table",
        )
    })?;
    let p = table
        .partitions
        .iter()
        .find(|p| p.number == number)
        .ok_or_else(|| {
            Error::invalid(
                format!("partition {number}"),
                "no such partition on this disk",
            )
        })?;
    let ss = table.sector_size;
    Ok((p.start * ss, (p.end + 1 - p.start) * ss))
}
