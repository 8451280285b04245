//! MBR (DOS) partition tables as sfdisk writes them: four primary records,
//! an active flag, type bytes, CHS fields, and logical partitions in an
//! extended partition linked by Extended Boot Records.

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

/// One partition: a primary (1-4, including the extended container) or a
/// logical one (5 and up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrPartition {
    /// Partition number (1-4 primary, 5 and up logical).
    pub number: u32,
    /// The active (boot) flag.
    pub bootable: bool,
    /// Partition type byte.
    pub os_type: u8,
    /// First sector.
    pub first_lba: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// Inside the extended partition.
    pub logical: bool,
}

impl MbrPartition {
    /// Last sector (inclusive).
    pub fn last_lba(&self) -> u64 {
        self.first_lba + self.sectors.max(1) - 1
    }
    /// An extended partition (types 05, 0F, 85).
    pub fn is_extended(&self) -> bool {
        !self.logical && raw::is_extended(self.os_type)
    }
}

/// An MBR partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// Logical sector size in bytes.
    pub sector_size: u64,
    /// Disk size in sectors.
    pub disk_sectors: u64,
    /// Disk signature (bytes 440..444).
    pub disk_signature: u32,
    /// Ordered by number.
    pub partitions: Vec<MbrPartition>,
}

impl Mbr {
    /// The extended container, if any.
    pub fn extended(&self) -> Option<&MbrPartition> {
        self.partitions.iter().find(|p| p.is_extended())
    }

    /// Problems, each naming the partition: past the end of the disk,
    /// overlapping, logical partitions outside the extended one, sizes that
    /// do not fit the 32-bit fields.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.partitions {
            if p.sectors == 0 {
                out.push(format!("partition {} has size 0", p.number));
                continue;
            }
            if p.first_lba > u32::MAX as u64 || p.sectors > u32::MAX as u64 {
                out.push(format!(
                    "partition {} (sectors {}-{}) does not fit an MBR's 32-bit sector numbers",
                    p.number,
                    p.first_lba,
                    p.last_lba()
                ));
            }
            if p.last_lba() >= self.disk_sectors {
                out.push(format!(
                    "partition {} (sectors {}-{}) goes past the end of the disk ({} sectors)",
                    p.number,
                    p.first_lba,
                    p.last_lba(),
                    self.disk_sectors
                ));
            }
            if p.first_lba == 0 {
                out.push(format!(
                    "partition {} starts at sector 0, over the MBR",
                    p.number
                ));
            }
            if p.logical {
                match self.extended() {
                    Some(e) if p.first_lba > e.first_lba && p.last_lba() <= e.last_lba() => {}
                    _ => out.push(format!(
                        "logical partition {} lies outside an extended partition",
                        p.number
                    )),
                }
            }
        }
        let ps = &self.partitions;
        for (i, a) in ps.iter().enumerate() {
            for b in &ps[i + 1..] {
                // A logical partition lies inside its extended container.
                let nested = (a.is_extended() && b.logical) || (b.is_extended() && a.logical);
                if !nested
                    && a.sectors > 0
                    && b.sectors > 0
                    && a.first_lba <= b.last_lba()
                    && b.first_lba <= a.last_lba()
                {
                    out.push(format!(
                        "partitions {} and {} overlap (sectors {}-{} and {}-{})",
                        a.number,
                        b.number,
                        a.first_lba,
                        a.last_lba(),
                        b.first_lba,
                        b.last_lba()
                    ));
                }
            }
        }
        out
    }
}
