//! Writes a [`Gpt`] onto a [`Disk`] as sgdisk does: protective MBR (boot code
//! in bytes 0-439 kept), primary header at LBA 1, entries from LBA 2, backup
//! entries and header at the end of the disk.

use super::raw::{GptHeader, GPT_ENTRY_SIZE, GPT_REVISION, PMBR_OS_TYPE};
use super::Gpt;
use crate::bytes::Writer;
use crate::io::ReadAt;
use crate::mbr::raw::{
    put_record, Geometry, PartitionRecord, BOOT_SIGNATURE, DISK_SIGNATURE_OFFSET,
};
use crate::{Disk, Error, Result};

/// Refuses a table whose partitions overlap or leave the usable range,
/// naming the partition.
pub fn check(gpt: &Gpt) -> Result<()> {
    for p in &gpt.partitions {
        if p.number == 0 || p.number > gpt.num_entries {
            return Err(Error::invalid(
                format!("partition {}", p.number),
                format!("number must be 1 to {}", gpt.num_entries),
            ));
        }
    }
    if let Some(p) = gpt.problems().into_iter().next() {
        return Err(Error::invalid("gpt", p));
    }
    Ok(())
}

/// The protective MBR's 512 bytes (UEFI 5.2.3): one 0xEE record from LBA 1
/// to the end of the disk (capped at 0xFFFFFFFF sectors). `boot_code` is the
/// first 440 bytes to keep.
pub fn protective_mbr(disk_sectors: u64, boot_code: &[u8]) -> Result<[u8; 512]> {
    let mut m = [0u8; 512];
    let n = boot_code.len().min(DISK_SIGNATURE_OFFSET);
    let mut w = Writer::new("gpt", "protective MBR", &mut m);
    w.put(0, boot_code.get(..n).unwrap_or_default())?;
    w.put(510, &BOOT_SIGNATURE)?;
    let end = disk_sectors.saturating_sub(1);
    let rec = PartitionRecord {
        boot_indicator: 0,
        // StartingCHS of LBA 1: head 0, sector 2, cylinder 0.
        starting_chs: [0x00, 0x02, 0x00],
        os_type: PMBR_OS_TYPE,
        ending_chs: pmbr_chs(end),
        starting_lba: 1,
        size_in_lba: end.min(0xFFFF_FFFF) as u32,
    };
    put_record(&mut m, 0, &rec)?;
    Ok(m)
}

/// CHS as gptfdisk computes it for the protective MBR: 255 heads, 63
/// sectors per track; past cylinder 1023 all three bytes are 0xFF.
fn pmbr_chs(lba: u64) -> [u8; 3] {
    Geometry::LBA_255_63.chs(lba).unwrap_or([0xFF; 3])
}

/// Writes the whole table (protective MBR, both headers, both arrays).
pub fn write(gpt: &Gpt, disk: &mut Disk) -> Result<()> {
    check(gpt)?;
    write_unchecked(gpt, disk)
}

/// [`write`] without refusing bad partitions (to make hostile test images).
pub(crate) fn write_unchecked(gpt: &Gpt, disk: &mut Disk) -> Result<()> {
    let ss = gpt.sector_size;
    if disk.size() / ss != gpt.disk_sectors {
        return Err(Error::invalid(
            "gpt",
            format!(
                "table is for {} sectors but the disk has {}",
                gpt.disk_sectors,
                disk.size() / ss
            ),
        ));
    }
    let mut boot = [0u8; 440];
    disk.read_at(0, &mut boot)?;
    disk.write(0, &protective_mbr(gpt.disk_sectors, &boot)?)?;

    let array = gpt.entry_array()?;
    let array_crc = crc32fast::hash(&array);
    let mut array_sectors = array.clone();
    array_sectors.resize((gpt.array_sectors() * ss) as usize, 0);

    let header = |my_lba: u64, alternate_lba: u64, entries_lba: u64| GptHeader {
        revision: GPT_REVISION,
        header_size: super::raw::GPT_HEADER_SIZE,
        header_crc32: 0,
        my_lba,
        alternate_lba,
        first_usable_lba: gpt.first_usable_lba,
        last_usable_lba: gpt.last_usable_lba,
        disk_guid: gpt.disk_guid,
        partition_entry_lba: entries_lba,
        number_of_partition_entries: gpt.num_entries,
        size_of_partition_entry: GPT_ENTRY_SIZE,
        partition_entry_array_crc32: array_crc,
    };
    let backup = gpt.backup_lba();
    let primary = header(1, backup, 2);
    let secondary = header(backup, 1, gpt.backup_array_lba());
    disk.write_vec(ss, primary.to_sector(ss as usize)?)?;
    disk.write_vec(2 * ss, array_sectors.clone())?;
    disk.write_vec(gpt.backup_array_lba() * ss, array_sectors)?;
    disk.write_vec(backup * ss, secondary.to_sector(ss as usize)?)?;
    Ok(())
}
