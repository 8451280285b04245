//! Reads FAT12/16/32 volumes (made by mkfs.fat, mtools, Windows or us) into
//! a [`Tree`] whose file data are runs of the image.

#![deny(clippy::indexing_slicing)]

use super::raw::*;
use crate::io::{read_vec, ReadAt, Source};
use crate::tree::{FileData, Meta, Node, NodeKind, Tree};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A FAT table is at most 2^28 entries of 4 bytes; refuse more.
const FAT_CAP: u64 = 1 << 30;
/// A directory holds at most 65536 entries (fatgen103), 2 MiB.
const DIR_CAP: u64 = 65536 * 32;
const MAX_DEPTH: usize = 256;

/// A validated volume: the BPB and where its parts lie.
pub struct Volume {
    /// The boot sector's BIOS parameter block.
    pub bpb: Bpb,
    /// FAT12, FAT16 or FAT32.
    pub fat_type: FatType,
    /// Bytes per sector.
    pub sector_size: u64,
    /// Bytes per cluster.
    pub cluster_bytes: u64,
    /// Where the first FAT starts.
    pub fat_offset: u64,
    /// Bytes of one FAT.
    pub fat_bytes: u64,
    /// Where the FAT12/16 root directory starts.
    pub root_offset: u64,
    /// FAT12/16 root directory entries.
    pub root_entries: u64,
    /// Where cluster 2 starts.
    pub data_offset: u64,
    /// Data clusters.
    pub cluster_count: u32,
    /// The volume's size in bytes.
    pub total_bytes: u64,
}

fn bad(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::corrupt("fat", field, msg)
}

impl Volume {
    /// Parses and checks the boot sector against the image size.
    pub fn open(src: &dyn ReadAt) -> Result<Volume> {
        let sector0 = read_vec(src, 0, 512, 512, "FAT boot sector")?;
        if !crate::mbr::raw::has_boot_signature(&sector0) {
            return Err(bad("boot sector", "no 0x55AA signature"));
        }
        let bpb = Bpb::parse(&sector0)?;
        let ss = bpb.bytes_per_sec as u64;
        if !(512..=4096).contains(&ss) || !ss.is_power_of_two() {
            return Err(bad(
                "BPB_BytsPerSec",
                format!("{ss} is not a power of two from 512 to 4096"),
            ));
        }
        let spc = bpb.sec_per_clus as u64;
        if spc == 0 || !spc.is_power_of_two() {
            return Err(bad(
                "BPB_SecPerClus",
                format!("{spc} is not a power of two from 1 to 128"),
            ));
        }
        if bpb.rsvd_sec_cnt == 0 {
            return Err(bad("BPB_RsvdSecCnt", "is 0"));
        }
        if bpb.num_fats == 0 {
            return Err(bad("BPB_NumFATs", "is 0"));
        }
        let fat_sz = bpb.fat_size() as u64;
        if fat_sz == 0 {
            return Err(bad("BPB_FATSz", "is 0"));
        }
        let total = bpb.total_sectors() as u64;
        if total == 0 {
            return Err(bad("BPB_TotSec", "is 0"));
        }
        let total_bytes = total * ss;
        if total_bytes > src.size() {
            return Err(Error::Truncated {
                what: format!(
                    "FAT filesystem ({total} sectors of {ss} bytes) in {}",
                    src.name()
                ),
                offset: total_bytes,
                size: src.size(),
            });
        }
        let fat32_layout = bpb.is_fat32_layout();
        let root_entries = if fat32_layout {
            0
        } else {
            bpb.root_ent_cnt as u64
        };
        let root_sectors = (root_entries * 32).div_ceil(ss);
        let fat_offset = bpb.rsvd_sec_cnt as u64 * ss;
        let root_offset = fat_offset + bpb.num_fats as u64 * fat_sz * ss;
        let data_sector = bpb.rsvd_sec_cnt as u64 + bpb.num_fats as u64 * fat_sz + root_sectors;
        if data_sector >= total {
            return Err(bad(
                "BPB",
                format!(
                    "the data area starts at sector {data_sector}, past the {total}-sector volume"
                ),
            ));
        }
        let count = (total - data_sector) / spc;
        if count == 0 || count > 0x0FFF_FFF5 {
            return Err(bad("BPB", format!("{count} clusters")));
        }
        let count = count as u32;
        // Linux and Windows take FAT32 from BPB_FATSz16 == 0; otherwise the
        // cluster count decides (fatgen103 "FAT Type Determination").
        let fat_type = if fat32_layout {
            FatType::Fat32
        } else {
            match FatType::from_cluster_count(count) {
                FatType::Fat32 => FatType::Fat16,
                t => t,
            }
        };
        let fat_bytes = fat_sz * ss;
        let needed = ((count as u64 + 2) * fat_type.bits() as u64).div_ceil(8);
        if needed > fat_bytes {
            return Err(bad(
                "BPB_FATSz",
                format!("{fat_bytes}-byte FAT cannot hold {count} clusters"),
            ));
        }
        if fat32_layout && (bpb.root_clus < 2 || bpb.root_clus >= count + 2) {
            return Err(bad(
                "BPB_RootClus",
                format!("{} is not a cluster of the volume", bpb.root_clus),
            ));
        }
        Ok(Volume {
            fat_type,
            sector_size: ss,
            cluster_bytes: spc * ss,
            fat_offset,
            fat_bytes,
            root_offset,
            root_entries,
            data_offset: data_sector * ss,
            cluster_count: count,
            total_bytes,
            bpb,
        })
    }

    /// The first FAT, only as many bytes as the clusters need.
    pub fn read_fat(&self, src: &dyn ReadAt) -> Result<Fat> {
        let len = ((self.cluster_count as u64 + 2) * self.fat_type.bits() as u64).div_ceil(8);
        let bytes = read_vec(src, self.fat_offset, len, FAT_CAP, "FAT")?;
        Ok(Fat {
            bytes,
            fat_type: self.fat_type,
            count: self.cluster_count,
        })
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset + (c as u64 - 2) * self.cluster_bytes
    }
}

/// The first FAT in memory.
pub struct Fat {
    bytes: Vec<u8>,
    fat_type: FatType,
    count: u32,
}

impl Fat {
    /// Entry `n` (0 for out-of-range, which callers never ask for).
    pub fn get(&self, n: u32) -> u32 {
        let n = n as usize;
        let b = &self.bytes;
        let at = |i: usize| b.get(i).copied().unwrap_or(0) as u32;
        match self.fat_type {
            FatType::Fat12 => {
                let o = n * 3 / 2;
                let v = at(o) | (at(o + 1) << 8);
                if n.is_multiple_of(2) {
                    v & 0xFFF
                } else {
                    v >> 4
                }
            }
            FatType::Fat16 => at(n * 2) | (at(n * 2 + 1) << 8),
            FatType::Fat32 => {
                (at(n * 4) | (at(n * 4 + 1) << 8) | (at(n * 4 + 2) << 16) | (at(n * 4 + 3) << 24))
                    & 0x0FFF_FFFF
            }
        }
    }

    /// Clusters marked free in the FAT.
    pub fn free_clusters(&self) -> u32 {
        (2..self.count + 2).filter(|&c| self.get(c) == 0).count() as u32
    }

    /// The chain from `first` as runs of consecutive clusters
    /// `(first_cluster, count)`, stopping after `limit` clusters if given.
    /// Loops, free or bad entries and clusters out of range are errors
    /// naming `what`.
    pub fn chain(&self, first: u32, limit: Option<u64>, what: &str) -> Result<Vec<(u32, u32)>> {
        let mut runs: Vec<(u32, u32)> = Vec::new();
        let mut starts: BTreeMap<u32, u32> = BTreeMap::new();
        let mut c = first;
        let mut n: u64 = 0;
        loop {
            if c < 2 || c >= self.count + 2 {
                return Err(Error::corrupt(
                    "fat",
                    what.to_string(),
                    format!(
                        "cluster chain points at cluster {c}, outside 2..{}",
                        self.count + 2
                    ),
                ));
            }
            n += 1;
            if n > self.count as u64 {
                return Err(Error::corrupt(
                    "fat",
                    what.to_string(),
                    "cluster chain loops (longer than the cluster count)",
                ));
            }
            // A cluster met twice is a loop even inside the file's length.
            if let Some((&s, &k)) = starts.range(..=c).next_back() {
                if c < s + k {
                    return Err(Error::corrupt(
                        "fat",
                        what.to_string(),
                        format!("cluster chain loops back to cluster {c}"),
                    ));
                }
            }
            match runs.last_mut() {
                Some((s, k)) if *s + *k == c => {
                    *k += 1;
                    starts.insert(*s, *k);
                }
                _ => {
                    runs.push((c, 1));
                    starts.insert(c, 1);
                }
            }
            if limit.is_some_and(|l| n >= l) {
                return Ok(runs);
            }
            let next = self.get(c);
            if next >= self.fat_type.eoc_min() {
                return Ok(runs);
            }
            if next == self.fat_type.bad() {
                return Err(Error::corrupt(
                    "fat",
                    what.to_string(),
                    format!("cluster chain runs into bad cluster after {c}"),
                ));
            }
            if next == 0 {
                return Err(Error::corrupt(
                    "fat",
                    what.to_string(),
                    format!("cluster chain runs into free cluster after {c}"),
                ));
            }
            c = next;
        }
    }
}

/// True if `src` starts with a plausible FAT boot sector.
pub fn probe(src: &dyn ReadAt) -> bool {
    let mut b = [0u8; 512];
    if src.read_at(0, &mut b).is_err() {
        return false;
    }
    if !(b[0] == 0xEB || b[0] == 0xE9) {
        return false;
    }
    Volume::open(src).is_ok()
}

/// What `inspect` shows about a FAT volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatInfo {
    /// FAT12, FAT16 or FAT32.
    pub fat_type: FatType,
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// The label from the root directory, else the boot sector's; `None`
    /// for "NO NAME".
    pub label: Option<String>,
    /// Volume serial number.
    pub volume_id: u32,
    /// The volume's size in bytes.
    pub total_bytes: u64,
    /// Bytes in free clusters.
    pub free_bytes: u64,
}

/// Reads the boot sector, FAT and root directory for [`FatInfo`].
pub fn info(src: &dyn ReadAt) -> Result<FatInfo> {
    let vol = Volume::open(src)?;
    let fat = vol.read_fat(src)?;
    let root = read_dir(src, &vol, &fat, None, "/")?;
    let label = root.label.or_else(|| label_str(&vol.bpb.vol_lab));
    Ok(FatInfo {
        fat_type: vol.fat_type,
        cluster_size: vol.cluster_bytes,
        label,
        volume_id: vol.bpb.vol_id,
        total_bytes: vol.total_bytes,
        free_bytes: fat.free_clusters() as u64 * vol.cluster_bytes,
    })
}

fn label_str(b: &[u8; 11]) -> Option<String> {
    let s: String = b.iter().map(|&c| c as char).collect();
    let s = s.trim_end().to_string();
    if s.is_empty() || s == "NO NAME" {
        None
    } else {
        Some(s)
    }
}

/// An entry read from a directory.
struct RawEnt {
    name: String,
    entry: DirEntry,
}

struct DirContents {
    ents: Vec<RawEnt>,
    label: Option<String>,
}

/// The name a short entry shows: base.ext with the NT lowercase flags.
fn short_to_string(e: &DirEntry) -> String {
    let mut name = e.name;
    if name[0] == DIR_KANJI_E5 {
        name[0] = DIR_DELETED;
    }
    let conv = |b: &[u8], lower: bool| -> String {
        let s: String = b
            .iter()
            .map(|&c| {
                // Bytes >= 0x80 are in an OEM code page we do not know; keep
                // them visible as U+FFFD-free Latin-1.
                let c = c as char;
                if lower {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        s.trim_end_matches(' ').to_string()
    };
    let base = conv(&name[..8], e.nt_res & NTRES_LOWER_BASE != 0);
    let ext = conv(&name[8..], e.nt_res & NTRES_LOWER_EXT != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Reads a directory: the fixed root (`first` None on FAT12/16) or a chain.
fn read_dir(
    src: &dyn ReadAt,
    vol: &Volume,
    fat: &Fat,
    first: Option<u32>,
    path: &str,
) -> Result<DirContents> {
    let bytes = match first {
        None if vol.fat_type != FatType::Fat32 => read_vec(
            src,
            vol.root_offset,
            vol.root_entries * 32,
            DIR_CAP,
            "FAT root directory",
        )?,
        _ => {
            let first = first.unwrap_or(vol.bpb.root_clus);
            let limit = DIR_CAP.div_ceil(vol.cluster_bytes);
            let runs = fat.chain(first, Some(limit + 1), &format!("directory {path}"))?;
            let total: u64 = runs.iter().map(|r| r.1 as u64).sum::<u64>() * vol.cluster_bytes;
            if total > DIR_CAP.max(vol.cluster_bytes) {
                return Err(bad(
                    &format!("directory {path}"),
                    format!("{total} bytes, more than the 65536 entries FAT allows"),
                ));
            }
            let mut v = Vec::with_capacity(total as usize);
            for (c, n) in runs {
                v.extend(read_vec(
                    src,
                    vol.cluster_offset(c),
                    n as u64 * vol.cluster_bytes,
                    DIR_CAP.max(vol.cluster_bytes),
                    &format!("directory {path}"),
                )?);
            }
            v
        }
    };
    let mut ents = Vec::new();
    let mut label = None;
    // Long name parts being assembled: (checksum, expected next ordinal, units by ordinal).
    let mut lfn: Option<(u8, u8, Vec<[u16; 13]>)> = None;
    for raw in bytes.chunks_exact(DIR_ENTRY_SIZE) {
        let e = DirEntry::parse(raw)?;
        let first_byte = e.name[0];
        if first_byte == 0 {
            break;
        }
        if first_byte == DIR_DELETED {
            lfn = None;
            continue;
        }
        if e.attr & 0x3F == ATTR_LONG_NAME {
            // LDIR_Ord and LDIR_Chksum share bytes 0 and 13 with DIR_Name[0]
            // and DIR_CrtTimeTenth.
            let (ord, sum) = (first_byte, e.crt_time_tenth);
            let units = lfn_units(raw)?;
            let n = ord & 0x1F;
            if ord & LAST_LONG_ENTRY != 0 && n >= 1 {
                let mut parts = vec![[0u16; 13]; n as usize];
                if let Some(p) = parts.last_mut() {
                    *p = units;
                }
                lfn = Some((sum, n - 1, parts));
            } else if let Some((s, expect, parts)) = &mut lfn {
                match parts.get_mut((n as usize).wrapping_sub(1)) {
                    Some(p) if *s == sum && n == *expect && n >= 1 => {
                        *p = units;
                        *expect -= 1;
                    }
                    _ => lfn = None,
                }
            }
            continue;
        }
        let long = lfn.take();
        if e.attr & ATTR_VOLUME_ID != 0 {
            if first.is_none() && label.is_none() && e.attr & ATTR_DIRECTORY == 0 {
                label = label_str(&e.name);
            }
            continue;
        }
        if &e.name == b".          " || &e.name == b"..         " {
            continue;
        }
        let long_name = long.and_then(|(sum, expect, parts)| {
            if expect != 0 || sum != lfn_checksum(&e.name) {
                return None;
            }
            let units: Vec<u16> = parts
                .iter()
                .flatten()
                .copied()
                .take_while(|&u| u != 0)
                .collect();
            String::from_utf16(&units).ok()
        });
        let name = long_name.unwrap_or_else(|| short_to_string(&e));
        ents.push(RawEnt { name, entry: e });
    }
    Ok(DirContents { ents, label })
}

/// Reads the whole volume into a tree; file data are [`FileData::Mapped`]
/// runs of `src`.
pub fn read_tree(src: Source) -> Result<Tree> {
    read_tree_with_label(src).map(|(t, _)| t)
}

/// [`read_tree`] and the volume label.
pub fn read_tree_with_label(src: Source) -> Result<(Tree, Option<String>)> {
    let vol = Volume::open(&*src)?;
    let fat = vol.read_fat(&*src)?;
    let mut tree = Tree::new(0);
    let mut label = None;
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    // (cluster or None for the root, path, depth)
    let mut todo: Vec<(Option<u32>, String, usize)> = vec![(None, String::new(), 0)];
    while let Some((first, path, depth)) = todo.pop() {
        let shown = if path.is_empty() {
            "/".to_string()
        } else {
            path.clone()
        };
        let dir = read_dir(&*src, &vol, &fat, first, &shown)?;
        if first.is_none() {
            label = dir.label.or_else(|| label_str(&vol.bpb.vol_lab));
        }
        let mut names: BTreeMap<String, ()> = BTreeMap::new();
        for RawEnt { name, entry: e } in dir.ents {
            if name.is_empty()
                || name.contains('/')
                || name.contains('\0')
                || name == "."
                || name == ".."
            {
                return Err(bad(
                    &format!("directory {shown}"),
                    format!("entry named {name:?}"),
                ));
            }
            if names.insert(name.clone(), ()).is_some() {
                // Two entries with one name: keep the first.
                continue;
            }
            let p = format!("{path}/{name}");
            let mtime = decode_time(e.wrt_date, e.wrt_time);
            if e.attr & ATTR_DIRECTORY != 0 {
                if depth + 1 > MAX_DEPTH {
                    return Err(bad(&p, "directories nested deeper than 256"));
                }
                let c = e.fst_clus;
                if c != 0 && !seen.insert(c) {
                    return Err(bad(
                        &p,
                        format!("directory cluster {c} is used twice (loop)"),
                    ));
                }
                tree.insert(
                    &p,
                    Node {
                        kind: NodeKind::Dir(BTreeMap::new()),
                        meta: Meta::new(0o755, mtime),
                    },
                )?;
                if c != 0 {
                    todo.push((Some(c), p, depth + 1));
                }
                continue;
            }
            let len = e.file_size as u64;
            let mut map = Vec::new();
            if len > 0 {
                let need = len.div_ceil(vol.cluster_bytes);
                let runs = fat.chain(e.fst_clus, Some(need), &p)?;
                let got: u64 = runs.iter().map(|r| r.1 as u64).sum();
                if got < need {
                    return Err(bad(
                        &p,
                        format!("{len} bytes but its cluster chain holds only {got} clusters"),
                    ));
                }
                let mut fo = 0u64;
                for (c, n) in runs {
                    let l = (n as u64 * vol.cluster_bytes).min(len - fo);
                    map.push((fo, vol.cluster_offset(c), l));
                    fo += l;
                }
            }
            let mode = if e.attr & ATTR_READ_ONLY != 0 {
                0o444
            } else {
                0o644
            };
            tree.insert(
                &p,
                Node {
                    kind: NodeKind::File(FileData::Mapped {
                        src: src.clone(),
                        map: Arc::from(map),
                        len,
                    }),
                    meta: Meta::new(mode, mtime),
                },
            )?;
        }
    }
    Ok((tree, label))
}
