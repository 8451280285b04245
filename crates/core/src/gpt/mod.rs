//! GUID Partition Tables as sgdisk writes them: a protective MBR, primary
//! and backup headers and entry arrays with CRC32s, 128 entries, partitions
//! aligned to 1 MiB, 512- or 4096-byte logical sectors.
//!
//! [`Gpt`] is the table in memory; [`read::read`] gets it from a disk (and
//! says which copy is damaged), [`write::write`] puts it onto a [`crate::Disk`],
//! [`edit`] applies sgdisk command lines to a disk.

pub mod edit;
#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use raw::Guid;

use crate::{Error, Result};

/// One used partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartition {
    /// 1-based slot in the entry array (sgdisk's partition number).
    pub number: u32,
    /// Partition type.
    pub type_guid: Guid,
    /// This partition's own GUID.
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: u64,
    /// Inclusive, as in the entry.
    pub last_lba: u64,
    /// Attribute bits (0: required, 1: no block I/O protocol, 2: legacy BIOS bootable).
    pub attributes: u64,
    /// Partition name (at most 36 UTF-16 code units).
    pub name: String,
}

impl GptPartition {
    /// Length in sectors.
    pub fn sectors(&self) -> u64 {
        self.last_lba
            .saturating_sub(self.first_lba)
            .saturating_add(1)
    }
}

/// A GUID partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// Logical sector size in bytes (512 or 4096).
    pub sector_size: u64,
    /// Disk size in sectors; the backup header sits in the last one.
    pub disk_sectors: u64,
    /// The disk's GUID.
    pub disk_guid: Guid,
    /// Entries in the partition array (128 by default).
    pub num_entries: u32,
    /// First sector a partition may use.
    pub first_usable_lba: u64,
    /// Last sector a partition may use.
    pub last_usable_lba: u64,
    /// Used entries, ordered by number.
    pub partitions: Vec<GptPartition>,
}

/// Sectors taken by an entry array of `num_entries` 128-byte entries.
pub fn entry_array_sectors(num_entries: u32, sector_size: u64) -> u64 {
    (num_entries as u64 * raw::GPT_ENTRY_SIZE as u64).div_ceil(sector_size)
}

impl Gpt {
    /// An empty table covering a disk of `disk_bytes`, laid out like
    /// `sgdisk -o`: entries at LBA 2, first usable right after them, the
    /// backup array right before the backup header in the last sector.
    pub fn new(disk_bytes: u64, sector_size: u64, disk_guid: Guid) -> Result<Gpt> {
        if sector_size != 512 && sector_size != 4096 {
            return Err(Error::invalid(
                "sector size",
                format!("{sector_size} is not 512 or 4096"),
            ));
        }
        let disk_sectors = disk_bytes / sector_size;
        let mut g = Gpt {
            sector_size,
            disk_sectors,
            disk_guid,
            num_entries: raw::GPT_NUM_ENTRIES,
            first_usable_lba: 0,
            last_usable_lba: 0,
            partitions: Vec::new(),
        };
        g.relayout()?;
        Ok(g)
    }

    /// Sectors of one entry array.
    pub fn array_sectors(&self) -> u64 {
        entry_array_sectors(self.num_entries, self.sector_size)
    }

    /// Recomputes the usable range for `disk_sectors` (sgdisk -e).
    pub fn relayout(&mut self) -> Result<()> {
        let arr = self.array_sectors();
        // MBR + header + array at the front, array + header at the back,
        // and at least one usable sector between them.
        let needed = 2 * (1 + arr) + 2;
        if self.disk_sectors < needed {
            return Err(Error::no_space(
                "gpt",
                format!(
                    "the disk ({} bytes) is too small for a GPT with {} entries: it needs at least {} sectors of {} bytes",
                    self.disk_sectors * self.sector_size,
                    self.num_entries,
                    needed,
                    self.sector_size
                ),
            ));
        }
        self.first_usable_lba = 2 + arr;
        self.last_usable_lba = self.disk_sectors - 2 - arr;
        Ok(())
    }

    /// LBA of the backup header.
    pub fn backup_lba(&self) -> u64 {
        self.disk_sectors - 1
    }

    /// LBA of the backup entry array.
    pub fn backup_array_lba(&self) -> u64 {
        self.backup_lba() - self.array_sectors()
    }

    /// The partition numbered `number`.
    pub fn partition(&self, number: u32) -> Option<&GptPartition> {
        self.partitions.iter().find(|p| p.number == number)
    }

    /// The partition numbered `number`, to change.
    pub fn partition_mut(&mut self, number: u32) -> Option<&mut GptPartition> {
        self.partitions.iter_mut().find(|p| p.number == number)
    }

    /// Problems sgdisk -v would report about the partitions, each naming the
    /// partition: outside the usable range, overlapping, end before start.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.partitions {
            if p.last_lba < p.first_lba {
                out.push(format!(
                    "partition {} ends (sector {}) before it starts (sector {})",
                    p.number, p.last_lba, p.first_lba
                ));
            }
            if p.first_lba < self.first_usable_lba || p.last_lba > self.last_usable_lba {
                out.push(format!(
                    "partition {} (sectors {}-{}) lies outside the usable sectors {}-{}",
                    p.number, p.first_lba, p.last_lba, self.first_usable_lba, self.last_usable_lba
                ));
            }
        }
        // Sorted by start, each partition is checked against the one
        // reaching furthest before it: O(n log n) for hostile tables.
        let mut by_start: Vec<&GptPartition> = self.partitions.iter().collect();
        by_start.sort_by_key(|p| (p.first_lba, p.number));
        let mut furthest: Option<&GptPartition> = None;
        for b in by_start {
            if let Some(a) = furthest {
                if b.first_lba <= a.last_lba {
                    out.push(format!(
                        "partitions {} and {} overlap (sectors {}-{} and {}-{})",
                        a.number, b.number, a.first_lba, a.last_lba, b.first_lba, b.last_lba
                    ));
                }
            }
            if furthest.map(|a| b.last_lba > a.last_lba).unwrap_or(true) {
                furthest = Some(b);
            }
        }
        out
    }

    /// The entry array bytes (num_entries * 128).
    pub fn entry_array(&self) -> Result<Vec<u8>> {
        let esz = raw::GPT_ENTRY_SIZE as usize;
        let mut a = vec![0u8; self.num_entries as usize * esz];
        for p in &self.partitions {
            let i = (p.number - 1) as usize;
            if let Some(slot) = a.get_mut(i * esz..(i + 1) * esz) {
                let mut partition_name = [0u16; raw::GPT_NAME_CHARS];
                for (d, s) in partition_name.iter_mut().zip(p.name.encode_utf16()) {
                    *d = s;
                }
                raw::GptEntry {
                    partition_type_guid: p.type_guid,
                    unique_partition_guid: p.unique_guid,
                    starting_lba: p.first_lba,
                    ending_lba: p.last_lba,
                    attributes: p.attributes,
                    partition_name,
                }
                .write_to(slot)?;
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u32, first_lba: u64, last_lba: u64) -> GptPartition {
        GptPartition {
            number,
            type_guid: Guid([1; 16]),
            unique_guid: Guid([2; 16]),
            first_lba,
            last_lba,
            attributes: 0,
            name: String::new(),
        }
    }

    #[test]
    fn layout_and_problems_name_partitions() {
        let mut g = Gpt::new(1 << 30, 512, Guid::ZERO).unwrap();
        assert_eq!((g.first_usable_lba, g.last_usable_lba), (34, 2097118));
        assert_eq!(g.backup_array_lba(), 2097119);
        g.partitions = vec![
            part(1, 2048, 4095),
            part(2, 4000, 5000),
            part(3, 2097000, 2097151),
            part(4, 10, 5),
        ];
        let p = g.problems();
        assert!(
            p.iter().any(|x| x.contains("partitions 1 and 2 overlap")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.contains("partition 3") && x.contains("outside")),
            "{p:?}"
        );
        assert!(p.iter().any(|x| x.contains("partition 4 ends")), "{p:?}");
        assert!(write::check(&g).is_err());
        let g4 = Gpt::new(64 << 20, 4096, Guid::ZERO).unwrap();
        assert_eq!((g4.first_usable_lba, g4.last_usable_lba), (6, 16378));
        assert!(Gpt::new(1 << 20, 1024, Guid::ZERO).is_err());
    }
}
