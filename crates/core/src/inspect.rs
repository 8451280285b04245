//! `imgforge inspect`: what an image is (container format, sizes), its
//! partition table and partitions, and what is wrong with it. The JSON
//! schema is documented in docs/inspect-json.md; [`render_text`] prints it
//! like `sgdisk -p` (or `sfdisk -l` for MBR disks).

use crate::container::{self, Format};
use crate::io::Source;
use crate::partitions::read_table;
use crate::{Disk, Result};
use serde::Serialize;

pub use crate::partitions::{Partition, PartitionTable};

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
    /// The GPT or MBR, if the disk has one.
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
    let (table, warnings) = read_table(&disk);
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
