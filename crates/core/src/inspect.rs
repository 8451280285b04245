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
    /// GRUB installed on the disk: i386-pc (boot.img in the MBR pointing at
    /// a core.img) and x86_64-efi (an ESP's `/EFI/BOOT/BOOTX64.EFI`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub grub_installed: Vec<InstalledGrub>,
    /// Damage and oddities (a damaged GPT copy, overlapping partitions...).
    pub warnings: Vec<String>,
}

/// A GRUB image found installed on a disk.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InstalledGrub {
    /// Where it was found, in words (`MBR + core.img at sector 2048`,
    /// `partition 1: /EFI/BOOT/BOOTX64.EFI`).
    pub location: String,
    /// The image read back: target, prefix, modules.
    pub image: crate::grub::GrubImage,
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
        grub_installed: Vec::new(),
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
    if let Some(t) = &report.partition_table {
        report.grub_installed = installed_grub(&disk, t);
    }
    if report.filesystem.is_none()
        && report.partition_table.is_some()
        && crate::iso9660::read::probe(&*disk)
    {
        report.filesystem = crate::fs::describe(disk);
    }
    Ok(report)
}

/// GRUB on a partitioned disk: boot.img in sector 0 (its kernel sector
/// names core.img's first sector, whose blocklist gives its length), and
/// `/EFI/BOOT/BOOTX64.EFI` on each EFI System Partition. Anything that does
/// not read back as GRUB is passed over: this is a report, not a check.
fn installed_grub(disk: &Source, table: &PartitionTable) -> Vec<InstalledGrub> {
    let mut found = Vec::new();
    if let Some(g) = grub_in_mbr(disk) {
        found.push(g);
    }
    let ss = table.sector_size;
    for p in &table.partitions {
        let esp = p
            .type_code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("EF00"))
            || p.mbr_type == Some(0xEF);
        if !esp {
            continue;
        }
        let (off, len) = (p.start * ss, (p.end + 1 - p.start) * ss);
        let Ok(sub) = crate::io::SubRange::new(disk.clone(), off, len) else {
            continue;
        };
        let Ok((_, tree)) = crate::fs::read_tree(std::sync::Arc::new(sub)) else {
            continue;
        };
        let Some(id) = lookup_ignoring_case(&tree, &["EFI", "BOOT", "BOOTX64.EFI"]) else {
            continue;
        };
        if let crate::tree::NodeKind::File(data) = &tree.node(id).kind {
            // A GRUB EFI image is a few MiB; a larger file is not read.
            let Ok(bytes) = data.to_vec(64 << 20) else {
                continue;
            };
            if let Ok(Some(image)) = crate::grub::info::read(&bytes) {
                found.push(InstalledGrub {
                    location: format!("partition {}: /EFI/BOOT/BOOTX64.EFI", p.number),
                    image,
                });
            }
        }
    }
    found
}

/// GRUB's boot.img carries these strings (boot/i386/pc/boot.S's messages).
const BOOT_IMG_NOTICE: &[u8] = b"GRUB \0Geom\0Hard Disk\0Read\0 Error";

fn grub_in_mbr(disk: &Source) -> Option<InstalledGrub> {
    let mut mbr = [0u8; 512];
    disk.read_at(0, &mut mbr).ok()?;
    if !mbr
        .windows(BOOT_IMG_NOTICE.len())
        .any(|w| w == BOOT_IMG_NOTICE)
    {
        return None;
    }
    let at = crate::grub::embed::KERNEL_SECTOR;
    let lba = u64::from_le_bytes(mbr.get(at..at + 8)?.try_into().ok()?);
    let mut first = [0u8; 512];
    disk.read_at(lba.checked_mul(512)?, &mut first).ok()?;
    // diskboot.img's blocklist (its last 12 bytes): start u64, len u16.
    let len = u16::from_le_bytes(first.get(508..510)?.try_into().ok()?) as u64;
    if len == 0 || len > crate::grub::embed::MAX_CORE_SECTORS {
        return None;
    }
    let core =
        crate::io::read_vec(&**disk, lba * 512, (len + 1) * 512, 1 << 20, "core.img").ok()?;
    // core.img's LZMA stream runs to the end of the file, and the file was
    // padded with zeros to whole sectors: the stream ends within the
    // trailing zeros (most often right where they start).
    let zeros = core.iter().rev().take(511).take_while(|&&b| b == 0).count();
    let image = (0..=zeros.min(8)).find_map(|k| {
        let end = core.len() - zeros + k;
        crate::grub::info::read(&core.get(..end)?.to_vec())
            .ok()
            .flatten()
    })?;
    Some(InstalledGrub {
        location: format!(
            "MBR boot.img + core.img at sector {lba} ({} sectors)",
            len + 1
        ),
        image,
    })
}

fn lookup_ignoring_case(tree: &crate::tree::Tree, path: &[&str]) -> Option<crate::tree::NodeId> {
    let mut id = tree.lookup("/")?;
    for want in path {
        id = tree
            .children(id)
            .find(|(name, _)| name.eq_ignore_ascii_case(want))
            .map(|(_, c)| c)?;
    }
    Some(id)
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
    for g in &report.grub_installed {
        let _ = writeln!(
            o,
            "GRUB installed: {} ({}), prefix {}, {} modules",
            g.image.target,
            g.location,
            g.image.prefix.as_deref().unwrap_or("none"),
            g.image.modules.len()
        );
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
