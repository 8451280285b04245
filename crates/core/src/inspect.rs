//! `imgforge inspect`: what an image is (container format, sizes), its
//! partition table and partitions, and what is wrong with it. The JSON
//! schema is documented in docs/inspect-json.md; [`render_text`] prints it
//! like `sgdisk -p` (or `sfdisk -l` for MBR disks).

use crate::container::{self, Format};
use crate::gpt::raw::{attribute_names, type_by_guid};
use crate::io::{ReadAt, Source};
use crate::mbr::raw::type_name;
use crate::{Disk, Result};
use serde::Serialize;

/// Everything `inspect` reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Container format as qemu-img names it (`raw`, `qcow2`, `vpc`, ...).
    pub format: String,
    /// Size of the virtual disk in bytes (None if the container could not
    /// be opened).
    pub virtual_size: Option<u64>,
    /// Bytes of the virtual disk that are allocated (for raw: the whole
    /// disk; the file's real allocation is `actual_size`).
    pub allocated_size: Option<u64>,
    /// Bytes the image file takes on the host filesystem (filled by the
    /// caller, e.g. the CLI from st_blocks).
    pub actual_size: Option<u64>,
    /// qemu-img-style container details.
    pub container: Option<container::Info>,
    pub partition_table: Option<PartitionTable>,
    /// The filesystem of a bare filesystem image or ISO (type, label, uuid,
    /// size, used, free, ...); partitions carry their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<serde_json::Value>,
    /// A GRUB image (BOOTX64.EFI, core.img): target, prefix, modules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grub: Option<crate::grub::GrubImage>,
    /// Damage and oddities (a damaged GPT copy, overlapping partitions...).
    pub warnings: Vec<String>,
}

/// A partition table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionTable {
    /// `gpt` or `mbr`.
    #[serde(rename = "type")]
    pub kind: String,
    pub sector_size: u64,
    /// Disk size in sectors.
    pub disk_sectors: u64,
    /// GPT: the disk GUID, upper case.
    pub disk_guid: Option<String>,
    /// MBR: the disk signature as `0x1234abcd`.
    pub disk_signature: Option<String>,
    pub first_usable_lba: Option<u64>,
    pub last_usable_lba: Option<u64>,
    /// GPT: number of entries the table holds.
    pub num_entries: Option<u32>,
    /// GPT: the primary copy is valid.
    pub primary_ok: Option<bool>,
    /// GPT: the backup copy is valid and agrees with the primary.
    pub backup_ok: Option<bool>,
    pub partitions: Vec<Partition>,
}

/// One partition.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Partition {
    pub number: u32,
    /// First sector.
    pub start: u64,
    /// Last sector (inclusive, as sgdisk prints it).
    pub end: u64,
    /// Size in bytes.
    pub size: u64,
    /// GPT: sgdisk's code (`EF00`); MBR: the type byte in hex (`83`).
    pub type_code: Option<String>,
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

/// Inspects an image: sniffs the container, opens it, reads the partition
/// table. Container readers that fail become a warning, not an error.
pub fn inspect(src: Source) -> Result<Report> {
    let format = container::detect(&*src)?;
    let mut report = Report {
        format: format.qemu_name().to_string(),
        virtual_size: None,
        allocated_size: None,
        actual_size: None,
        container: None,
        partition_table: None,
        filesystem: None,
        grub: None,
        warnings: Vec::new(),
    };
    if format == Format::Raw {
        report.grub = crate::grub::info::read(&*src).ok().flatten();
    }
    let disk: Disk = if format == Format::Raw {
        report.virtual_size = Some(src.size());
        report.allocated_size = Some(src.size());
        Disk::from_whole(src)?
    } else {
        match container::open(src, Some(format)) {
            Ok(o) => {
                report.virtual_size = Some(o.disk.size());
                report.allocated_size = Some(o.disk.allocated_bytes());
                report.container = Some(o.info);
                o.disk
            }
            Err(e) => {
                report.warnings.push(format!(
                    "cannot open the {} container: {e}",
                    format.qemu_name()
                ));
                return Ok(report);
            }
        }
    };
    let (table, warnings) = partition_table(&disk);
    report.partition_table = table;
    report.warnings.extend(warnings);
    let disk: Source = std::sync::Arc::new(disk);
    match &mut report.partition_table {
        Some(t) => {
            let ss = t.sector_size;
            for p in &mut t.partitions {
                let (off, len) = (p.start * ss, (p.end + 1 - p.start) * ss);
                if let Ok(sub) = crate::io::SubRange::new(disk.clone(), off, len) {
                    p.filesystem = crate::fs::describe(std::sync::Arc::new(sub));
                }
            }
        }
        // A bare filesystem (or an ISO, which may also carry a hybrid MBR).
        None => report.filesystem = crate::fs::describe(disk.clone()),
    }
    if report.filesystem.is_none()
        && report.partition_table.is_some()
        && crate::iso9660::read::probe(&*disk)
    {
        report.filesystem = crate::fs::describe(disk);
    }
    Ok(report)
}

/// Reads the GPT or MBR of a virtual disk; unreadable tables become
/// warnings.
pub fn partition_table(disk: &dyn ReadAt) -> (Option<PartitionTable>, Vec<String>) {
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

/// Sizes as sgdisk prints them: one decimal, the unit switches only above
/// 1024 (`1024.0 MiB`, `1007.0 KiB`).
pub fn sgdisk_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v > 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// The report as text: `sgdisk -p`'s layout for GPT, an sfdisk-like list
/// for MBR, then warnings. `name` is the image name to print.
pub fn render_text(report: &Report, name: &str) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "Image: {name}");
    let _ = writeln!(o, "Format: {}", report.format);
    if let Some(v) = report.virtual_size {
        let _ = writeln!(o, "Virtual size: {} ({v} bytes)", crate::size::human(v));
    }
    if let Some(a) = report.actual_size {
        let _ = writeln!(o, "Disk size: {} ({a} bytes)", crate::size::human(a));
    }
    if let Some(g) = &report.grub {
        let _ = writeln!(o, "GRUB image: {}", g.target);
        if let Some(p) = &g.prefix {
            let _ = writeln!(o, "GRUB prefix: {p}");
        }
        let _ = writeln!(
            o,
            "GRUB modules ({}): {}",
            g.modules.len(),
            g.modules.join(" ")
        );
        if let Some(c) = &g.config {
            let _ = writeln!(o, "GRUB early config: {} bytes", c.len());
        }
        if let Some(m) = g.memdisk_size {
            let _ = writeln!(o, "GRUB memdisk: {m} bytes");
        }
    }
    match &report.partition_table {
        None if report.virtual_size.is_none() => {
            let _ = writeln!(
                o,
                "Partition table: not read (the container could not be opened)"
            );
        }
        None => {
            let _ = writeln!(o, "Partition table: none");
        }
        Some(t) if t.kind == "gpt" => {
            let ss = t.sector_size;
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Disk {name}: {} sectors, {}",
                t.disk_sectors,
                sgdisk_size(t.disk_sectors.saturating_mul(ss))
            );
            let _ = writeln!(o, "Sector size (logical): {ss} bytes");
            let _ = writeln!(
                o,
                "Disk identifier (GUID): {}",
                t.disk_guid.as_deref().unwrap_or("")
            );
            let n = t.num_entries.unwrap_or(0);
            let _ = writeln!(o, "Partition table holds up to {n} entries");
            let arr = crate::gpt::entry_array_sectors(n, ss);
            let _ = writeln!(
                o,
                "Main partition table begins at sector 2 and ends at sector {}",
                1 + arr
            );
            let (fu, lu) = (
                t.first_usable_lba.unwrap_or(0),
                t.last_usable_lba.unwrap_or(0),
            );
            let _ = writeln!(o, "First usable sector is {fu}, last usable sector is {lu}");
            let mut align = (1u64 << 20) / ss;
            for p in &t.partitions {
                while align > 1 && p.start % align != 0 {
                    align /= 2;
                }
            }
            let _ = writeln!(
                o,
                "Partitions will be aligned on {}-sector boundaries",
                align.max(8)
            );
            let used: u64 = t
                .partitions
                .iter()
                .map(|p| p.end.saturating_add(1).saturating_sub(p.start))
                .fold(0u64, |a, b| a.saturating_add(b));
            let free = (lu + 1).saturating_sub(fu).saturating_sub(used);
            let _ = writeln!(
                o,
                "Total free space is {free} sectors ({})",
                sgdisk_size(free.saturating_mul(ss))
            );
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Number  Start (sector)    End (sector)  Size       Code  Name"
            );
            for p in &t.partitions {
                let _ = writeln!(
                    o,
                    "{:>4}  {:>14}  {:>14}   {:<10}  {:<4}  {}",
                    p.number,
                    p.start,
                    p.end,
                    sgdisk_size(p.size),
                    p.type_code.as_deref().unwrap_or("????"),
                    p.name.as_deref().unwrap_or("")
                );
            }
        }
        Some(t) => {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Disklabel type: dos\nDisk identifier: {}\nSector size: {} bytes, {} sectors\n",
                t.disk_signature.as_deref().unwrap_or(""),
                t.sector_size,
                t.disk_sectors
            );
            let _ = writeln!(
                o,
                "Number Boot     Start       End   Sectors   Size Id Type"
            );
            for p in &t.partitions {
                let _ = writeln!(
                    o,
                    "{:>6} {:<4} {:>9} {:>9} {:>9} {:>6} {:>2} {}",
                    p.number,
                    if p.bootable == Some(true) { "*" } else { "" },
                    p.start,
                    p.end,
                    p.end.saturating_add(1).saturating_sub(p.start),
                    crate::size::human(p.size).replace(' ', ""),
                    p.type_code.as_deref().unwrap_or(""),
                    p.type_name.as_deref().unwrap_or("")
                );
            }
        }
    }
    let describe = |o: &mut String, who: &str, fs: &serde_json::Value| {
        let get = |k: &str| fs.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let num = |k: &str| fs.get(k).and_then(|v| v.as_u64());
        let mut line = format!("{who}: {}", get("type"));
        if !get("label").is_empty() {
            line += &format!(", label '{}'", get("label"));
        }
        if !get("uuid").is_empty() {
            line += &format!(", UUID {}", get("uuid"));
        }
        if let (Some(u), Some(f)) = (num("used"), num("free")) {
            line += &format!(
                ", {} used, {} free",
                crate::size::human(u),
                crate::size::human(f)
            );
        }
        if !get("error").is_empty() {
            line += &format!(" (unreadable: {})", get("error"));
        }
        let _ = writeln!(o, "{line}");
    };
    if let Some(t) = &report.partition_table {
        let mut first = true;
        for p in &t.partitions {
            if let Some(fs) = &p.filesystem {
                if first {
                    let _ = writeln!(o);
                    first = false;
                }
                describe(&mut o, &format!("Partition {}", p.number), fs);
            }
        }
    }
    if let Some(fs) = &report.filesystem {
        let _ = writeln!(o);
        describe(&mut o, "Filesystem", fs);
        // ISO: volume descriptors, El Torito catalog and system area, as
        // `xorriso -report_el_torito plain` prints them.
        if let Some(r) = fs.get("report").and_then(|v| v.as_str()) {
            let _ = write!(o, "{r}");
        }
    }
    for w in &report.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}
