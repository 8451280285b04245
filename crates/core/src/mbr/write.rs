//! Writes an [`Mbr`] onto a [`Disk`] as sfdisk does: boot code kept, the
//! four primary records, and one EBR per logical partition placed one
//! alignment grain before it (the first in the extended partition's first
//! sector).

use super::raw::{put_record, PartitionRecord, BOOT_SIGNATURE, DISK_SIGNATURE_OFFSET};
use super::{Mbr, MbrPartition};
use crate::bytes::Writer;
use crate::io::ReadAt;
use crate::{Disk, Error, Result};

/// Where each logical partition's EBR goes: one `grain` before the
/// partition, but after the previous logical partition (the first EBR is
/// the extended partition's first sector).
pub fn ebr_positions(mbr: &Mbr, grain: u64) -> Result<Vec<(u64, MbrPartition)>> {
    let mut logicals: Vec<MbrPartition> = mbr
        .partitions
        .iter()
        .filter(|p| p.logical)
        .cloned()
        .collect();
    if logicals.is_empty() {
        return Ok(Vec::new());
    }
    let ext = mbr.extended().ok_or_else(|| {
        Error::invalid(
            format!("partition {}", logicals[0].number),
            "a logical partition needs an extended partition",
        )
    })?;
    logicals.sort_by_key(|p| p.first_lba);
    let mut out = Vec::new();
    let mut floor = ext.first_lba;
    for (i, p) in logicals.into_iter().enumerate() {
        let ebr = if i == 0 {
            ext.first_lba
        } else {
            p.first_lba.saturating_sub(grain).max(floor)
        };
        if ebr >= p.first_lba {
            return Err(Error::invalid(
                format!("partition {}", p.number),
                format!(
                    "no free sector before logical partition {} (sector {}) for its Extended Boot Record",
                    p.number, p.first_lba
                ),
            ));
        }
        floor = p.last_lba() + 1;
        out.push((ebr, p));
    }
    Ok(out)
}

/// Writes the MBR and the EBR chain. Fails naming the partition if the
/// table has a problem (see [`Mbr::problems`]).
pub fn write(mbr: &Mbr, disk: &mut Disk, grain: u64) -> Result<()> {
    if let Some(p) = mbr.problems().into_iter().next() {
        return Err(Error::invalid("mbr", p));
    }
    let primaries: Vec<&MbrPartition> = mbr.partitions.iter().filter(|p| !p.logical).collect();
    if let Some(p) = primaries.iter().find(|p| !(1..=4).contains(&p.number)) {
        return Err(Error::invalid(
            format!("partition {}", p.number),
            "primary partitions are numbered 1 to 4",
        ));
    }
    if mbr.partitions.iter().filter(|p| p.is_extended()).count() > 1 {
        return Err(Error::invalid("mbr", "more than one extended partition"));
    }
    let ss = mbr.sector_size;
    let mut boot_code = [0u8; DISK_SIGNATURE_OFFSET];
    disk.read_at(0, &mut boot_code)?;
    let mut m = vec![0u8; 512];
    let mut w = Writer::new("mbr", "sector 0", &mut m);
    w.put(0, &boot_code)?;
    w.le32(DISK_SIGNATURE_OFFSET, mbr.disk_signature)?;
    w.put(510, &BOOT_SIGNATURE)?;
    for p in &primaries {
        let rec = PartitionRecord::new(p.os_type, p.bootable, p.first_lba, p.last_lba(), 0);
        put_record(&mut m, p.number as usize - 1, &rec)?;
    }
    disk.write_vec(0, m)?;

    let ebrs = ebr_positions(mbr, grain)?;
    let ext_start = mbr.extended().map(|e| e.first_lba).unwrap_or(0);
    for (i, (ebr, p)) in ebrs.iter().enumerate() {
        let mut s = vec![0u8; ss as usize];
        let rec = PartitionRecord::new(p.os_type, p.bootable, p.first_lba, p.last_lba(), *ebr);
        put_record(&mut s, 0, &rec)?;
        if let Some((next_ebr, next)) = ebrs.get(i + 1) {
            let link = PartitionRecord::new(0x05, false, *next_ebr, next.last_lba(), ext_start);
            put_record(&mut s, 1, &link)?;
        }
        Writer::new("mbr", "EBR", &mut s).put(510, &BOOT_SIGNATURE)?;
        disk.write_vec(ebr * ss, s)?;
    }
    Ok(())
}
