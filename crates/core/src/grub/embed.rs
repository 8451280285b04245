//! i386-pc embedding, as grub-bios-setup does it (GRUB's util/setup.c):
//! `boot.img` goes into the disk's first sector, keeping the sector's BPB
//! area and its disk signature and partition table; `core.img` goes into
//! the BIOS boot partition of a GPT disk or into the gap between the MBR
//! and the first partition of an MBR disk, with the blocklist at the end of
//! its first sector (diskboot.img) pointing at the rest of it.
//!
//! Like `grub-bios-setup --no-rs-codes`, no Reed-Solomon redundancy is
//! added after core.img (its redundancy field stays 0, which the
//! decompressor reads as "none").

use crate::gpt::edit::Table;
use crate::gpt::Guid;
use crate::{Disk, Error, Result};

/// boot.img fields (include/grub/i386/pc/boot.h): the BIOS parameter
/// block kept from the existing boot sector starts here…
pub const BPB_START: usize = 0x03;
/// …and ends here (exclusive).
pub const BPB_END: usize = 0x5a;
/// The LBA (u64) of core.img's first sector.
pub const KERNEL_SECTOR: usize = 0x5c;
/// The BIOS drive to boot from; 0xff: the one the BIOS passed in DL.
pub const BOOT_DRIVE: usize = 0x64;
/// A 2-byte jump that grub-bios-setup turns into two NOPs on hard disks,
/// so that a DL the BIOS passed wrongly is taken as 0x80.
pub const DRIVE_CHECK: usize = 0x66;
/// Disk signature (4 bytes), 2 reserved bytes, then the partition table.
pub const WINDOWS_NT_MAGIC: usize = 0x1b8;
/// The end of the partition table (the 0x55AA signature follows).
pub const PART_END: usize = 0x1fe;
/// One blocklist entry at the end of diskboot.img: start (u64), len (u16),
/// segment (u16) (struct grub_pc_bios_boot_blocklist).
pub const BLOCKLIST_SIZE: usize = 12;
/// Where diskboot.img loads the sectors after the first:
/// GRUB_BOOT_I386_PC_KERNEL_SEG + 512 / 16.
pub const FIRST_SEGMENT: u16 = 0x800 + 0x20;
/// The most sectors the BIOS loader maps below 0x78000 from 0x8000
/// (setup.c's maxsec).
pub const MAX_CORE_SECTORS: u64 = (0x78000 - 0x8200) >> 9;

/// The BIOS boot partition type (sgdisk ef02).
pub const BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";

const SECTOR: u64 = 512;

/// Where core.img goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    /// The first sector core.img is written to.
    pub first_lba: u64,
    /// How many sectors the area holds.
    pub sectors: u64,
    /// "BIOS boot partition 1" or "the gap after the MBR".
    pub name: String,
}

/// The embedding area of a disk: its BIOS boot partition (GPT) or the
/// sectors between the MBR and the first partition (MBR).
pub fn area(table: &Table) -> Result<Area> {
    const HINT: &str =
        "add a BIOS boot partition of 1 MiB (imgforge part --new=0:0:+1M --typecode=0:ef02 IMAGE)";
    match table {
        Table::Gpt(g) => {
            if g.sector_size != SECTOR {
                return Err(Error::unsupported(
                    "grub",
                    format!(
                        "i386-pc embedding on a disk with {}-byte sectors (BIOS disks have 512)",
                        g.sector_size
                    ),
                ));
            }
            let bios = Guid::parse(BIOS_BOOT).unwrap_or_default();
            let p = g
                .partitions
                .iter()
                .find(|p| p.type_guid == bios)
                .ok_or_else(|| {
                    Error::invalid(
                        "--target=i386-pc",
                        format!("this GPT disk has no BIOS boot partition (type EF02) to embed core.img in; {HINT}"),
                    )
                })?;
            Ok(Area {
                first_lba: p.first_lba,
                sectors: p.sectors(),
                name: format!("BIOS boot partition {}", p.number),
            })
        }
        Table::Mbr(m) => {
            if m.sector_size != SECTOR {
                return Err(Error::unsupported(
                    "grub",
                    format!(
                        "i386-pc embedding on a disk with {}-byte sectors",
                        m.sector_size
                    ),
                ));
            }
            let first = m
                .partitions
                .iter()
                .map(|p| p.first_lba)
                .min()
                .ok_or_else(|| Error::invalid("--target=i386-pc", "the MBR has no partitions"))?;
            Ok(Area {
                first_lba: 1,
                sectors: first.saturating_sub(1),
                name: "the gap after the MBR".into(),
            })
        }
    }
}

/// Checks that `core_img` fits `area` and that the images are what
/// grub-mkimage makes; returns core.img's sector count.
pub fn check(area: &Area, boot_img: &[u8], core_img: &[u8]) -> Result<u64> {
    if boot_img.len() != SECTOR as usize {
        return Err(Error::invalid(
            "boot.img",
            format!("is {} bytes, not 512", boot_img.len()),
        ));
    }
    if core_img.len() < SECTOR as usize {
        return Err(Error::invalid(
            "core.img",
            format!("is {} bytes, less than one sector", core_img.len()),
        ));
    }
    let nsec = (core_img.len() as u64).div_ceil(SECTOR);
    if nsec > MAX_CORE_SECTORS {
        return Err(Error::no_space(
            "core.img",
            format!(
                "{} bytes is more than the {} bytes the BIOS loader maps",
                core_img.len(),
                MAX_CORE_SECTORS * SECTOR
            ),
        ));
    }
    if nsec > area.sectors {
        return Err(Error::no_space(
            "core.img",
            format!(
                "core.img is {} bytes ({nsec} sectors) but {} holds {} bytes ({} sectors); \
                 add a BIOS boot partition of 1 MiB (type EF02)",
                core_img.len(),
                area.name,
                area.sectors * SECTOR,
                area.sectors
            ),
        ));
    }
    // The blocklist must be one setup can patch.
    patched_core(core_img, nsec, area.first_lba)?;
    Ok(nsec)
}

/// The first sector as grub-bios-setup writes it: boot.img's code with the
/// old sector's BPB area, disk signature and partition table, core.img's
/// LBA, the boot drive from DL and the drive check disabled (a hard disk).
pub fn boot_sector(boot_img: &[u8], old: &[u8; 512], core_lba: u64) -> Result<[u8; 512]> {
    let mut b: [u8; 512] = boot_img
        .try_into()
        .map_err(|_| Error::invalid("boot.img", "is not 512 bytes"))?;
    b[BPB_START..BPB_END].copy_from_slice(&old[BPB_START..BPB_END]);
    b[WINDOWS_NT_MAGIC..PART_END].copy_from_slice(&old[WINDOWS_NT_MAGIC..PART_END]);
    b[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    b[BOOT_DRIVE] = 0xff;
    b[DRIVE_CHECK] = 0x90;
    b[DRIVE_CHECK + 1] = 0x90;
    Ok(b)
}

/// core.img padded to `nsec` sectors with its blocklist set for a copy at
/// `lba`: one run of the `nsec - 1` sectors after the first, then a
/// terminator; older entries are cleared as setup.c does.
pub fn patched_core(core_img: &[u8], nsec: u64, lba: u64) -> Result<Vec<u8>> {
    let mut c = core_img.to_vec();
    c.resize((nsec * SECTOR) as usize, 0);
    let first = SECTOR as usize - BLOCKLIST_SIZE;
    // Clear the list from the first entry down while entries have a length.
    let mut at = first;
    loop {
        let len = u16::from_le_bytes([c[at + 8], c[at + 9]]);
        if len == 0 {
            break;
        }
        c[at..at + BLOCKLIST_SIZE].fill(0);
        if at < BLOCKLIST_SIZE + 0x20 {
            return Err(Error::invalid(
                "core.img",
                "no terminator in the core image's blocklist",
            ));
        }
        at -= BLOCKLIST_SIZE;
    }
    let len = u16::try_from(nsec - 1)
        .map_err(|_| Error::invalid("core.img", "more than 65535 sectors"))?;
    c[first..first + 8].copy_from_slice(&(lba + 1).to_le_bytes());
    c[first + 8..first + 10].copy_from_slice(&len.to_le_bytes());
    c[first + 10..first + 12].copy_from_slice(&FIRST_SEGMENT.to_le_bytes());
    c[first - BLOCKLIST_SIZE..first].fill(0);
    Ok(c)
}

/// Writes boot.img and core.img onto `disk` (the checks of [`area`] and
/// [`check`] first). Returns the area used.
pub fn setup(disk: &mut Disk, table: &Table, boot_img: &[u8], core_img: &[u8]) -> Result<Area> {
    let area = area(table)?;
    let nsec = check(&area, boot_img, core_img)?;
    let mut old = [0u8; 512];
    crate::io::ReadAt::read_at(&*disk, 0, &mut old)?;
    let mbr = boot_sector(boot_img, &old, area.first_lba)?;
    let core = patched_core(core_img, nsec, area.first_lba)?;
    disk.write(0, &mbr)?;
    disk.write_vec(area.first_lba * SECTOR, core)?;
    Ok(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sector_keeps_table_and_bpb() {
        let boot: Vec<u8> = (0..512).map(|i| i as u8).collect();
        let mut old = [0xAAu8; 512];
        old[0x1b8] = 0x12;
        let s = boot_sector(&boot, &old, 2048).unwrap();
        assert_eq!(&s[..3], &boot[..3]);
        assert!(s[BPB_START..BPB_END].iter().all(|&b| b == 0xAA));
        assert_eq!(&s[KERNEL_SECTOR..KERNEL_SECTOR + 8], &2048u64.to_le_bytes());
        assert_eq!(s[BOOT_DRIVE], 0xff);
        assert_eq!(&s[DRIVE_CHECK..DRIVE_CHECK + 2], &[0x90, 0x90]);
        assert_eq!(s[0x68], boot[0x68]);
        assert_eq!(s[0x1b8], 0x12);
        assert!(s[0x1b9..0x1fe].iter().all(|&b| b == 0xAA));
        assert_eq!(&s[0x1fe..], &boot[0x1fe..]);
    }

    #[test]
    fn blocklist_points_past_the_first_sector() {
        let mut core = vec![0u8; 1000];
        // A stale entry as a previous setup left it.
        core[500..508].copy_from_slice(&99u64.to_le_bytes());
        core[508..510].copy_from_slice(&7u16.to_le_bytes());
        let c = patched_core(&core, 2, 34).unwrap();
        assert_eq!(c.len(), 1024);
        assert_eq!(&c[500..508], &35u64.to_le_bytes());
        assert_eq!(&c[508..510], &1u16.to_le_bytes());
        assert_eq!(&c[510..512], &0x820u16.to_le_bytes());
        assert!(c[488..500].iter().all(|&b| b == 0));
    }

    #[test]
    fn too_big_for_the_gap() {
        let a = Area {
            first_lba: 1,
            sectors: 62,
            name: "the gap after the MBR".into(),
        };
        let e = check(&a, &[0; 512], &vec![0; 40_000])
            .unwrap_err()
            .to_string();
        assert!(e.contains("add a BIOS boot partition of 1 MiB"), "{e}");
        assert!(e.contains("the gap after the MBR"), "{e}");
    }
}
