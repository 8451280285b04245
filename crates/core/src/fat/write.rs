//! Lays a [`Tree`] out as a FAT12/16/32 filesystem in one pass, choosing the
//! geometry as mkfs.fat (dosfstools 4.2) does and naming entries as Linux
//! vfat / mtools do.

use super::raw::*;
use crate::io::Source;
use crate::tree::{FileData, NodeId, NodeKind, Tree, ROOT};
use crate::{BuildContext, Disk, Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How to build a FAT filesystem (the knobs of `mkfs.fat`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FatOptions {
    /// Size of the filesystem in bytes; `None` fits the content with some
    /// headroom.
    pub size: Option<u64>,
    /// FAT12/16/32; `None` chooses as mkfs.fat does from the size.
    pub fat_type: Option<FatType>,
    /// Cluster size in bytes (a power of two multiple of the sector size);
    /// `None` chooses as mkfs.fat does.
    pub cluster_size: Option<u32>,
    /// Volume label (up to 11 ASCII characters), as `mkfs.fat -n`.
    pub label: Option<String>,
    /// Logical sector size, 512..4096 (`mkfs.fat -S`).
    pub sector_size: u32,
    /// Sectors before the filesystem on its disk (the partition's start
    /// LBA), as `mkfs.fat -h` / `--offset` set it.
    pub hidden_sectors: u32,
    /// Skip symlinks and device nodes (with a warning) instead of failing.
    pub skip_special: bool,
    /// Store what each symlink points to (a copy of the file, or of the
    /// directory's contents), as `mcopy -s` does; resolved inside the tree
    /// ([`Tree::resolve_link`]). Takes precedence over `skip_special` for
    /// symlinks.
    pub follow_symlinks: bool,
}

impl Default for FatOptions {
    fn default() -> Self {
        FatOptions {
            size: None,
            fat_type: None,
            cluster_size: None,
            label: None,
            sector_size: 512,
            hidden_sectors: 0,
            skip_special: false,
            follow_symlinks: false,
        }
    }
}

/// The layout mkfs.fat would choose for a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// FAT12, FAT16 or FAT32.
    pub fat_type: FatType,
    /// Bytes per sector.
    pub sector_size: u32,
    /// Sectors per cluster.
    pub sec_per_clus: u32,
    /// Reserved sectors before the first FAT.
    pub reserved: u32,
    /// Sectors of one FAT.
    pub fat_len: u32,
    /// FAT12/16 root directory entries (0 for FAT32).
    pub root_entries: u32,
    /// The volume's size in sectors.
    pub total_sectors: u32,
    /// Data clusters.
    pub cluster_count: u32,
    /// Sectors per track (BPB geometry).
    pub sec_per_trk: u16,
    /// Heads (BPB geometry).
    pub heads: u16,
}

impl Geometry {
    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u64 {
        self.sec_per_clus as u64 * self.sector_size as u64
    }
    /// Sectors of the FAT12/16 root directory.
    pub fn root_dir_sectors(&self) -> u32 {
        (self.root_entries * 32).div_ceil(self.sector_size)
    }
    /// The first sector of cluster 2.
    pub fn data_start_sector(&self) -> u32 {
        self.reserved + 2 * self.fat_len + self.root_dir_sectors()
    }
    /// Byte offset of `cluster` in the volume.
    pub fn cluster_offset(&self, cluster: u32) -> u64 {
        (self.data_start_sector() as u64 + (cluster as u64 - 2) * self.sec_per_clus as u64)
            * self.sector_size as u64
    }
}

const NR_FATS: i64 = 2;
const MAX_CLUST_12: i64 = 4084;
const MIN_CLUST_16: i64 = 4087;
const MAX_CLUST_16: i64 = 65524;
const MIN_CLUST_32: i64 = 65525;
const MAX_CLUST_32: i64 = 268_435_446;

/// mkfs.fat's `setup_tables` for a `size`-byte target: FAT type and cluster
/// size as dosfstools 4.2 chooses them (establish_params + the cluster loop,
/// with its default structure alignment).
pub fn geometry(
    size: u64,
    sector_size: u32,
    fat_type: Option<FatType>,
    sec_per_clus: Option<u32>,
) -> Result<Geometry> {
    if !(512..=4096).contains(&sector_size) || !sector_size.is_power_of_two() {
        return Err(Error::invalid(
            "sector size",
            format!("{sector_size} is not a power of two from 512 to 4096"),
        ));
    }
    if let Some(s) = sec_per_clus {
        if s == 0 || s > 128 || !s.is_power_of_two() {
            return Err(Error::invalid(
                "cluster size",
                format!("{s} sectors per cluster is not a power of two from 1 to 128"),
            ));
        }
    }
    let ss = sector_size as i64;
    let sectors = (size / sector_size as u64).min(u32::MAX as u64) as i64;
    // establish_params: CHS geometry for images without one (SD card spec
    // below 256 MB, LBA-assist above).
    let (heads, sec_per_trk): (i64, i64) = if sectors <= 524_288 {
        (
            if sectors <= 32_768 {
                2
            } else if sectors <= 65_536 {
                4
            } else if sectors <= 262_144 {
                8
            } else {
                16
            },
            if sectors <= 4096 { 16 } else { 32 },
        )
    } else {
        (
            if sectors <= 16 * 63 * 1024 {
                16
            } else if sectors <= 32 * 63 * 1024 {
                32
            } else if sectors <= 64 * 63 * 1024 {
                64
            } else if sectors <= 128 * 63 * 1024 {
                128
            } else {
                255
            },
            63,
        )
    };
    let size_fat = match fat_type {
        Some(t) => t.bits(),
        None if size >= 512 * 1024 * 1024 => 32,
        None => 0,
    };
    let mut cluster_size: i64 = if size_fat == 32 {
        if sectors > 32 * 1024 * 1024 * 2 {
            64
        } else if sectors > 16 * 1024 * 1024 * 2 {
            32
        } else if sectors > 8 * 1024 * 1024 * 2 {
            16
        } else if sectors > 260 * 1024 * 2 {
            8
        } else {
            1
        }
    } else {
        4
    };
    let mut reserved: i64 = if size_fat == 32 { 32 } else { 1 };
    let root_entries: i64 = if size_fat == 32 { 0 } else { 512 };
    // "Align number of sectors to be multiple of sectors per track".
    let num_sectors = sectors / sec_per_trk * sec_per_trk;
    let root_dir_sectors = (root_entries * 32 + ss - 1) / ss;
    let align_structures = num_sectors > 8192;
    let align = |s: i64, c: i64| {
        if align_structures {
            (s + c - 1) & !(c - 1)
        } else {
            s
        }
    };
    let max_clust_size = match sec_per_clus {
        Some(s) => {
            cluster_size = s as i64;
            s as i64
        }
        None => 128,
    };
    let cdiv = |a: i64, b: i64| (a + b - 1) / b;
    let (clust12, clust16, clust32, fatlength12, fatlength16, fatlength32) = loop {
        let fatdata32 = num_sectors - align(reserved, cluster_size);
        let fatdata1216 = fatdata32 - align(root_dir_sectors, cluster_size);

        let mut clust12 =
            2 * (fatdata1216 * ss + NR_FATS * 3) / (2 * cluster_size * ss + NR_FATS * 3);
        let fatlength12 = align(cdiv(((clust12 + 2) * 3 + 1) >> 1, ss), cluster_size);
        clust12 = (fatdata1216 - NR_FATS * fatlength12) / cluster_size;
        let maxclust12 = ((fatlength12 * 2 * ss) / 3).min(MAX_CLUST_12);
        if clust12 > maxclust12 || clust12 < 0 {
            clust12 = 0;
        }

        let mut clust16 = (fatdata1216 * ss + NR_FATS * 4) / (cluster_size * ss + NR_FATS * 2);
        let fatlength16 = align(cdiv((clust16 + 2) * 2, ss), cluster_size);
        clust16 = (fatdata1216 - NR_FATS * fatlength16) / cluster_size;
        let maxclust16 = ((fatlength16 * ss) / 2).min(MAX_CLUST_16);
        if clust16 > maxclust16 || clust16 < MIN_CLUST_16 {
            clust16 = 0;
        }

        let mut clust32 = (fatdata32 * ss + NR_FATS * 8) / (cluster_size * ss + NR_FATS * 4);
        let fatlength32 = align(cdiv((clust32 + 2) * 4, ss), cluster_size);
        clust32 = (fatdata32 - NR_FATS * fatlength32) / cluster_size;
        let maxclust32 = ((fatlength32 * ss) / 4).min(MAX_CLUST_32);
        if clust32 > maxclust32 || clust32 < 0 {
            clust32 = 0;
        }
        // mkfs.fat allows fewer than MIN_CLUST_32 when FAT32 is asked for.
        if clust32 != 0 && clust32 < MIN_CLUST_32 && fat_type != Some(FatType::Fat32) {
            clust32 = 0;
        }
        if (clust12 != 0 && (size_fat == 0 || size_fat == 12))
            || (clust16 != 0 && (size_fat == 0 || size_fat == 16))
            || (clust32 != 0 && size_fat == 32)
        {
            break (
                clust12,
                clust16,
                clust32,
                fatlength12,
                fatlength16,
                fatlength32,
            );
        }
        cluster_size <<= 1;
        if cluster_size > max_clust_size {
            return Err(Error::no_space(
                "fat",
                format!(
                    "a {size}-byte {} filesystem cannot be made{}",
                    match size_fat {
                        0 => "FAT12/16".to_string(),
                        b => format!("FAT{b}"),
                    },
                    if sec_per_clus.is_some() {
                        " with this cluster size"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    let size_fat = if size_fat == 0 {
        if clust16 > clust12 {
            16
        } else {
            12
        }
    } else {
        size_fat
    };
    let (fat_type, cluster_count, fat_len) = match size_fat {
        12 => (FatType::Fat12, clust12, fatlength12),
        16 => (FatType::Fat16, clust16, fatlength16),
        _ => (FatType::Fat32, clust32, fatlength32),
    };
    let root_entries = if fat_type == FatType::Fat32 { 0 } else { 512 };
    reserved = align(reserved, cluster_size);
    let root_entries = if align_structures && root_entries > 0 {
        align(root_dir_sectors, cluster_size) * (ss >> 5)
    } else {
        root_entries
    };
    let data_start = reserved + NR_FATS * fat_len + (root_entries * 32 + ss - 1) / ss;
    if cluster_count <= 0 || num_sectors < data_start + cluster_size {
        return Err(Error::no_space(
            "fat",
            format!("{size} bytes is too small for a FAT filesystem"),
        ));
    }
    Ok(Geometry {
        fat_type,
        sector_size,
        sec_per_clus: cluster_size as u32,
        reserved: reserved as u32,
        fat_len: fat_len as u32,
        root_entries: root_entries as u32,
        total_sectors: num_sectors as u32,
        cluster_count: cluster_count as u32,
        sec_per_trk: sec_per_trk as u16,
        heads: heads as u16,
    })
}

/// Characters a short name may hold besides A-Z and 0-9 (fatgen103 "FAT
/// Directory Structure", DIR_Name).
fn short_char_ok(c: char) -> bool {
    c.is_ascii_uppercase()
        || c.is_ascii_digit()
        || "$%'-_@~`!(){}^#&".contains(c)
        || (c.is_ascii_lowercase())
}

/// What a long name becomes in a directory: its short name, the NT case
/// flags, and the UTF-16 long name if one must be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatName {
    /// The 8.3 name, space padded.
    pub short: [u8; 11],
    /// NT lower-case flags for the base name and extension.
    pub nt_res: u8,
    /// The long name (UTF-16) when the 8.3 name cannot hold it.
    pub long: Option<Vec<u16>>,
}

/// Checks that `name` can be a FAT long name; `path` names it in errors.
pub fn check_long_name(name: &str, path: &str) -> Result<Vec<u16>> {
    if let Some(c) = name
        .chars()
        .find(|&c| (c as u32) < 0x20 || "\"*/:<>?\\|".contains(c) || c == '\u{7f}')
    {
        return Err(Error::invalid(
            path,
            format!("FAT names cannot contain {c:?}"),
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(Error::invalid(
            path,
            "FAT drops trailing dots and spaces from names",
        ));
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > 255 {
        return Err(Error::invalid(
            path,
            format!("name is {} UTF-16 units, FAT allows 255", units.len()),
        ));
    }
    Ok(units)
}

/// The name as an exact 8.3 short name with uniform case per part, as
/// Linux vfat (shortname=mixed) and mtools store without a long name.
fn exact_short(name: &str) -> Option<([u8; 11], u8)> {
    let (base, ext) = match name.rfind('.') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (name, ""),
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 || (name.contains('.') && ext.is_empty())
    {
        return None;
    }
    if !base.chars().chain(ext.chars()).all(short_char_ok) {
        return None;
    }
    let case = |s: &str| -> Option<bool> {
        let lower = s.chars().any(|c| c.is_ascii_lowercase());
        let upper = s.chars().any(|c| c.is_ascii_uppercase());
        if lower && upper {
            None
        } else {
            Some(lower)
        }
    };
    let lb = case(base)?;
    let le = case(ext)?;
    let mut short = [b' '; 11];
    for (i, c) in base.bytes().enumerate() {
        short[i] = c.to_ascii_uppercase();
    }
    for (i, c) in ext.bytes().enumerate() {
        short[8 + i] = c.to_ascii_uppercase();
    }
    if short[0] == DIR_DELETED {
        short[0] = DIR_KANJI_E5;
    }
    let nt = if lb { NTRES_LOWER_BASE } else { 0 } | if le { NTRES_LOWER_EXT } else { 0 };
    Some((short, nt))
}

/// Linux vfat_create_shortname's basis name: (base, ext, lossy).
fn short_basis(name: &str) -> (Vec<u8>, Vec<u8>, bool) {
    let chars: Vec<char> = name.chars().collect();
    // The extension starts after the last dot, unless that dot ends the
    // name or only dots and spaces precede it.
    let ext_start = match chars.iter().rposition(|&c| c == '.') {
        Some(i) if i + 1 < chars.len() && chars[..i].iter().any(|&c| c != '.' && c != ' ') => {
            Some(i)
        }
        _ => None,
    };
    let (base_chars, ext_chars) = match ext_start {
        Some(i) => (&chars[..i], &chars[i + 1..]),
        None => (&chars[..], &chars[..0]),
    };
    let mut lossy = false;
    let mut conv = |cs: &[char], max: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for &c in cs {
            if c == '.' || c == ' ' {
                lossy = true;
                continue;
            }
            let b = if c.is_ascii_lowercase() {
                c.to_ascii_uppercase() as u8
            } else if short_char_ok(c) {
                c as u8
            } else {
                lossy = true;
                b'_'
            };
            if out.len() == max {
                lossy = true;
                break;
            }
            out.push(b);
        }
        out
    };
    let mut base = conv(base_chars, 8);
    let ext = conv(ext_chars, 3);
    if base.is_empty() {
        base.push(b'_');
        lossy = true;
    }
    (base, ext, lossy)
}

fn pack_short(base: &[u8], ext: &[u8]) -> [u8; 11] {
    let mut s = [b' '; 11];
    s[..base.len()].copy_from_slice(base);
    s[8..8 + ext.len()].copy_from_slice(ext);
    if s[0] == DIR_DELETED {
        s[0] = DIR_KANJI_E5;
    }
    s
}

/// The short names of one directory so far, and for each basis the last
/// numeric tail handed out (so a directory of many similar long names does
/// not search the tails from ~1 each time).
#[derive(Default)]
pub struct ShortNames {
    used: BTreeSet<[u8; 11]>,
    tails: BTreeMap<(Vec<u8>, Vec<u8>), u32>,
}

impl ShortNames {
    fn insert(&mut self, s: [u8; 11]) -> bool {
        self.used.insert(s)
    }

    /// Marks a short name already in the directory (an existing volume
    /// being edited) as taken.
    pub fn mark_used(&mut self, s: [u8; 11]) {
        self.used.insert(s);
    }
}

/// Names `name` in a directory whose short names so far are `used`, adding
/// the chosen short name to `used`. `path` names the entry in errors.
pub fn fat_name(name: &str, path: &str, used: &mut ShortNames) -> Result<FatName> {
    let units = check_long_name(name, path)?;
    if let Some((short, nt_res)) = exact_short(name) {
        if used.insert(short) {
            return Ok(FatName {
                short,
                nt_res,
                long: None,
            });
        }
    }
    let (base, ext, lossy) = short_basis(name);
    if !lossy {
        let s = pack_short(&base, &ext);
        if used.insert(s) {
            return Ok(FatName {
                short: s,
                nt_res: 0,
                long: Some(units),
            });
        }
    }
    let start = used
        .tails
        .get(&(base.clone(), ext.clone()))
        .map_or(1, |&n| n + 1);
    for n in start..=999_999 {
        used.tails.insert((base.clone(), ext.clone()), n);
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len());
        let mut b = base[..keep].to_vec();
        b.extend_from_slice(tail.as_bytes());
        let s = pack_short(&b, &ext);
        if used.insert(s) {
            return Ok(FatName {
                short: s,
                nt_res: 0,
                long: Some(units),
            });
        }
    }
    Err(Error::no_space(
        path,
        "no free short name (~1..~999999 taken)",
    ))
}

/// One entry of a directory being laid out.
struct Ent {
    name: FatName,
    node: NodeId,
    /// Index into `Plan::dirs` for a directory.
    dir: Option<usize>,
    len: u64,
    first_cluster: u32,
}

struct DirPlan {
    node: NodeId,
    path: String,
    /// The directory's path in the tree without symlinks (differs from
    /// `path` inside a followed link); symlinks in it resolve from here.
    real: String,
    parent: Option<usize>,
    ents: Vec<Ent>,
    first_cluster: u32,
}

impl DirPlan {
    /// 32-byte slots: `.`/`..`, the volume label in the root, each entry
    /// with its long name parts.
    fn slots(&self, has_label: bool) -> u64 {
        let own = if self.parent.is_some() {
            2
        } else {
            has_label as u64
        };
        own + self
            .ents
            .iter()
            .map(|e| {
                1 + e
                    .name
                    .long
                    .as_ref()
                    .map_or(0, |l| l.len().div_ceil(LFN_CHARS)) as u64
            })
            .sum::<u64>()
    }
}

/// The tree turned into directories and named entries (independent of the
/// cluster size).
struct Plan {
    dirs: Vec<DirPlan>,
    warnings: Vec<String>,
}

/// Most entries a plan may hold when symlinks are followed (links to
/// directories copy them, so a hostile tree could multiply its entries).
const MAX_FOLLOWED_ENTRIES: usize = 1 << 22;

fn plan(tree: &Tree, skip_special: bool, follow: bool) -> Result<Plan> {
    let mut dirs = vec![DirPlan {
        node: ROOT,
        path: String::new(),
        real: String::new(),
        parent: None,
        ents: Vec::new(),
        first_cluster: 0,
    }];
    let mut warnings = Vec::new();
    let mut entries = 0usize;
    let mut i = 0;
    while i < dirs.len() {
        let mut used = ShortNames::default();
        // FAT looks names up ignoring case: upper-cased name -> name.
        let mut folded: std::collections::BTreeMap<String, &str> = Default::default();
        let mut ents = Vec::new();
        let node = dirs[i].node;
        for (name, child) in tree.children(node) {
            let path = if dirs[i].path.is_empty() {
                format!("/{name}")
            } else {
                format!("{}/{name}", dirs[i].path)
            };
            let mut real = if dirs[i].real.is_empty() {
                name.to_string()
            } else {
                format!("{}/{name}", dirs[i].real)
            };
            // A followed symlink stands for what it points to.
            let child = match &tree.node(child).kind {
                NodeKind::Symlink(_) if follow => {
                    // Errors name the link where the user sees it.
                    let (target, target_path) = tree.resolve_link(&real).map_err(|e| match e {
                        Error::Invalid { msg, .. } => Error::invalid(&path, msg),
                        other => other,
                    })?;
                    real = target_path;
                    let mut up = Some(i);
                    while let Some(a) = up {
                        if dirs[a].node == target {
                            return Err(Error::invalid(
                                &path,
                                "is a symlink to a directory that contains it (a loop)",
                            ));
                        }
                        up = dirs[a].parent;
                    }
                    target
                }
                _ => child,
            };
            let (dir, len) = match &tree.node(child).kind {
                NodeKind::Dir(_) => {
                    dirs.push(DirPlan {
                        node: child,
                        path: path.clone(),
                        real: real.clone(),
                        parent: Some(i),
                        ents: Vec::new(),
                        first_cluster: 0,
                    });
                    (Some(dirs.len() - 1), 0)
                }
                NodeKind::File(f) => {
                    if f.len() > u32::MAX as u64 {
                        return Err(Error::no_space(
                            path,
                            format!("{} bytes; FAT files are at most 4 GiB - 1", f.len()),
                        ));
                    }
                    (None, f.len())
                }
                other => {
                    let what = match other {
                        NodeKind::Symlink(_) => "a symlink",
                        NodeKind::CharDev { .. } => "a character device",
                        NodeKind::BlockDev { .. } => "a block device",
                        NodeKind::Fifo => "a FIFO",
                        _ => "a socket",
                    };
                    if skip_special {
                        warnings.push(format!("{path}: skipped {what} (FAT cannot store it)"));
                        continue;
                    }
                    return Err(Error::invalid(
                        path,
                        format!("is {what}, which FAT cannot store"),
                    ));
                }
            };
            entries += 1;
            if follow && entries > MAX_FOLLOWED_ENTRIES {
                return Err(Error::invalid(
                    &path,
                    format!("following symlinks gives more than {MAX_FOLLOWED_ENTRIES} entries"),
                ));
            }
            if let Some(other) = folded.insert(name.to_uppercase(), name) {
                // As mcopy does, refuse rather than write an entry that a
                // case-insensitive lookup never finds.
                return Err(Error::invalid(
                    &path,
                    format!(
                        "FAT names ignore case: it clashes with '{other}' in the same directory"
                    ),
                ));
            }
            let name = fat_name(name, &path, &mut used)?;
            ents.push(Ent {
                name,
                node: child,
                dir,
                len,
                first_cluster: 0,
            });
        }
        dirs[i].ents = ents;
        i += 1;
    }
    Ok(Plan { dirs, warnings })
}

/// Clusters the plan needs with `geo` (root on FAT32 included), or an error
/// if the FAT12/16 root area is too small.
fn clusters_needed(plan: &Plan, geo: &Geometry, has_label: bool) -> Result<u64> {
    let cb = geo.cluster_bytes();
    let mut n = 0u64;
    for (i, d) in plan.dirs.iter().enumerate() {
        let bytes = d.slots(has_label) * 32;
        if i == 0 && geo.fat_type != FatType::Fat32 {
            if d.slots(has_label) > geo.root_entries as u64 {
                return Err(Error::no_space(
                    "/",
                    format!(
                        "the root directory needs {} entries; the {} root holds {} (use FAT32 or a subdirectory)",
                        d.slots(has_label),
                        geo.fat_type,
                        geo.root_entries
                    ),
                ));
            }
        } else {
            n += bytes.div_ceil(cb).max(1);
        }
        n += d.ents.iter().map(|e| e.len.div_ceil(cb)).sum::<u64>();
    }
    Ok(n)
}

fn label_bytes(label: &Option<String>) -> Result<Option<[u8; 11]>> {
    let Some(l) = label else { return Ok(None) };
    if l.trim().is_empty() {
        return Ok(None);
    }
    if l.len() > 11 || !l.is_ascii() {
        return Err(Error::invalid(
            "label",
            format!("'{l}' is not 1 to 11 ASCII characters"),
        ));
    }
    if let Some(c) = l
        .chars()
        .find(|&c| (c as u32) < 0x20 || "*?.,;:/\\|+=<>[]\"".contains(c))
    {
        return Err(Error::invalid(
            "label",
            format!("'{l}': FAT labels cannot contain {c:?}"),
        ));
    }
    if l.starts_with(' ') {
        return Err(Error::invalid(
            "label",
            "a FAT label cannot start with a space",
        ));
    }
    let mut b = [b' '; 11];
    b[..l.len()].copy_from_slice(l.as_bytes());
    // mkfs.fat treats "NO NAME" as no label (no root directory entry).
    if &b == b"NO NAME    " {
        return Ok(None);
    }
    Ok(Some(b))
}

/// Builds the filesystem; symlinks and devices are an error unless
/// `opts.skip_special` (then see [`build_with_warnings`]).
pub fn build(tree: &Tree, opts: &FatOptions, ctx: &BuildContext) -> Result<Disk> {
    build_with_warnings(tree, opts, ctx).map(|(d, _)| d)
}

/// [`build`], also returning one warning per skipped special file.
pub fn build_with_warnings(
    tree: &Tree,
    opts: &FatOptions,
    ctx: &BuildContext,
) -> Result<(Disk, Vec<String>)> {
    let label = label_bytes(&opts.label)?;
    let ss = opts.sector_size;
    let spc = match opts.cluster_size {
        None => None,
        Some(c) => {
            if c < ss || c % ss != 0 || !(c / ss).is_power_of_two() || c / ss > 128 {
                return Err(Error::invalid(
                    "cluster size",
                    format!("{c} bytes is not a power-of-two multiple of the {ss}-byte sector (at most 128 sectors)"),
                ));
            }
            Some(c / ss)
        }
    };
    let mut plan = plan(tree, opts.skip_special, opts.follow_symlinks)?;
    let has_label = label.is_some();
    // fatgen103 "FAT Directory Structure": a directory holds at most 65536
    // entries (long name parts included).
    for d in &plan.dirs {
        let slots = d.slots(has_label);
        if slots > 65536 {
            let p = if d.path.is_empty() { "/" } else { &d.path };
            return Err(Error::no_space(
                p,
                format!(
                    "the directory needs {slots} entries (long names included); FAT allows 65536"
                ),
            ));
        }
    }

    let (size, geo) = match opts.size {
        Some(size) => {
            let geo = geometry(size, ss, opts.fat_type, spc)?;
            let need = clusters_needed(&plan, &geo, has_label)?;
            if need > geo.cluster_count as u64 {
                return Err(Error::no_space(
                    "fat",
                    format!(
                        "the content needs {} bytes ({need} clusters of {}) but the {size}-byte filesystem has {} clusters",
                        need * geo.cluster_bytes(),
                        geo.cluster_bytes(),
                        geo.cluster_count
                    ),
                ));
            }
            (size, geo)
        }
        None => fit(&plan, opts, spc, has_label)?,
    };
    let mut disk = Disk::new(size);
    let cb = geo.cluster_bytes();

    // Allocate in tree walk order: a directory's clusters, then its entries
    // (files in place, subdirectories recursively).
    let mut next: u32 = 2;
    let fixed_root = geo.fat_type != FatType::Fat32;
    let mut alloc = |bytes: u64, min1: bool| -> u32 {
        let n = bytes.div_ceil(cb).max(min1 as u64) as u32;
        if n == 0 {
            return 0;
        }
        let c = next;
        next += n;
        c
    };
    let mut stack: Vec<(usize, usize)> = Vec::new();
    if !fixed_root {
        plan.dirs[0].first_cluster = alloc(plan.dirs[0].slots(has_label) * 32, true);
    }
    stack.push((0, 0));
    while let Some((d, pos)) = stack.pop() {
        if pos >= plan.dirs[d].ents.len() {
            continue;
        }
        stack.push((d, pos + 1));
        let e = &plan.dirs[d].ents[pos];
        if let Some(sub) = e.dir {
            let c = alloc(plan.dirs[sub].slots(has_label) * 32, true);
            plan.dirs[sub].first_cluster = c;
            plan.dirs[d].ents[pos].first_cluster = c;
            stack.push((sub, 0));
        } else {
            let c = alloc(e.len, false);
            plan.dirs[d].ents[pos].first_cluster = c;
        }
    }
    let used = next - 2;
    debug_assert!(used <= geo.cluster_count);

    let (date, time, tenth) = encode_time(ctx.epoch);
    let stamp = |e: &mut DirEntry| {
        e.crt_time_tenth = tenth;
        e.crt_time = time;
        e.crt_date = date;
        e.lst_acc_date = date;
        e.wrt_time = time;
        e.wrt_date = date;
    };

    // The FAT: every allocation is one contiguous chain.
    let fat_bits = geo.fat_type.bits();
    let entries = 2 + used as usize;
    let mut fat = vec![0u8; (entries * fat_bits as usize).div_ceil(8)];
    let set = |fat: &mut Vec<u8>, n: usize, v: u32| match geo.fat_type {
        FatType::Fat12 => {
            let o = n * 3 / 2;
            if n.is_multiple_of(2) {
                fat[o] = v as u8;
                fat[o + 1] = (fat[o + 1] & 0xF0) | ((v >> 8) as u8 & 0x0F);
            } else {
                fat[o] = (fat[o] & 0x0F) | ((v as u8 & 0x0F) << 4);
                fat[o + 1] = (v >> 4) as u8;
            }
        }
        FatType::Fat16 => fat[n * 2..n * 2 + 2].copy_from_slice(&(v as u16).to_le_bytes()),
        FatType::Fat32 => fat[n * 4..n * 4 + 4].copy_from_slice(&v.to_le_bytes()),
    };
    let mask = match geo.fat_type {
        FatType::Fat12 => 0xFFF,
        FatType::Fat16 => 0xFFFF,
        FatType::Fat32 => 0x0FFF_FFFF,
    };
    // Entry 0 holds the media byte, entry 1 the end-of-chain mark with the
    // clean-shutdown bits set (fatgen103 "FAT Data Structure").
    set(&mut fat, 0, mask & (0xFFFF_FF00 | 0xF8));
    set(&mut fat, 1, mask);
    let chain = |fat: &mut Vec<u8>, first: u32, bytes: u64, min1: bool| {
        let n = bytes.div_ceil(cb).max(min1 as u64) as u32;
        for k in 0..n {
            let c = first + k;
            let v = if k + 1 == n {
                geo.fat_type.eoc()
            } else {
                c + 1
            };
            set(fat, c as usize, v);
        }
    };
    for (i, d) in plan.dirs.iter().enumerate() {
        if i != 0 || !fixed_root {
            chain(&mut fat, d.first_cluster, d.slots(has_label) * 32, true);
        }
        for e in &d.ents {
            if e.dir.is_none() && e.len > 0 {
                chain(&mut fat, e.first_cluster, e.len, false);
            }
        }
    }
    let fat_off = geo.reserved as u64 * ss as u64;
    let fat_bytes = geo.fat_len as u64 * ss as u64;
    disk.write(fat_off + fat_bytes, &fat)?;
    disk.write_vec(fat_off, fat)?;

    // Directories.
    for (i, d) in plan.dirs.iter().enumerate() {
        let mut buf: Vec<u8> = Vec::with_capacity(d.slots(has_label) as usize * 32);
        if let Some(parent) = d.parent {
            let mut dot = DirEntry {
                name: *b".          ",
                attr: ATTR_DIRECTORY,
                fst_clus: d.first_cluster,
                ..Default::default()
            };
            stamp(&mut dot);
            buf.extend_from_slice(&dot.to_bytes()?);
            // ".." of a child of the root points at cluster 0 (fatgen103).
            let pc = if parent == 0 {
                0
            } else {
                plan.dirs[parent].first_cluster
            };
            let mut dotdot = DirEntry {
                name: *b"..         ",
                attr: ATTR_DIRECTORY,
                fst_clus: pc,
                ..Default::default()
            };
            stamp(&mut dotdot);
            buf.extend_from_slice(&dotdot.to_bytes()?);
        } else if let Some(l) = label {
            let mut v = DirEntry {
                name: l,
                attr: ATTR_VOLUME_ID,
                ..Default::default()
            };
            if v.name[0] == DIR_DELETED {
                v.name[0] = DIR_KANJI_E5;
            }
            stamp(&mut v);
            buf.extend_from_slice(&v.to_bytes()?);
        }
        for e in &d.ents {
            if let Some(long) = &e.name.long {
                let sum = lfn_checksum(&e.name.short);
                let parts: Vec<&[u16]> = long.chunks(LFN_CHARS).collect();
                for (k, part) in parts.iter().enumerate().rev() {
                    let mut ord = (k + 1) as u8;
                    if k + 1 == parts.len() {
                        ord |= LAST_LONG_ENTRY;
                    }
                    buf.extend_from_slice(&lfn_entry(ord, sum, part)?);
                }
            }
            let node = tree.node(e.node);
            let mut attr = if e.dir.is_some() {
                ATTR_DIRECTORY
            } else {
                ATTR_ARCHIVE
            };
            if node.meta.mode & 0o200 == 0 {
                attr |= ATTR_READ_ONLY;
            }
            let mut de = DirEntry {
                name: e.name.short,
                attr,
                nt_res: e.name.nt_res,
                fst_clus: e.first_cluster,
                file_size: e.len as u32,
                ..Default::default()
            };
            stamp(&mut de);
            buf.extend_from_slice(&de.to_bytes()?);
        }
        let off = if i == 0 && fixed_root {
            (geo.reserved as u64 + 2 * geo.fat_len as u64) * ss as u64
        } else {
            geo.cluster_offset(d.first_cluster)
        };
        disk.write_vec(off, buf)?;
    }

    // File data, by reference where it lives in an input.
    for d in &plan.dirs {
        for e in &d.ents {
            if e.dir.is_some() || e.len == 0 {
                continue;
            }
            let off = geo.cluster_offset(e.first_cluster);
            let NodeKind::File(data) = &tree.node(e.node).kind else {
                continue;
            };
            place(&mut disk, off, data)?;
        }
    }

    // Boot sector, FSInfo and backups.
    let fat32 = geo.fat_type == FatType::Fat32;
    let total = geo.total_sectors;
    let bpb = Bpb {
        oem_name: *b"mkfs.fat",
        bytes_per_sec: ss as u16,
        sec_per_clus: geo.sec_per_clus as u8,
        rsvd_sec_cnt: geo.reserved as u16,
        num_fats: 2,
        root_ent_cnt: geo.root_entries as u16,
        tot_sec16: if total < 65536 { total as u16 } else { 0 },
        media: 0xF8,
        fat_sz16: if fat32 { 0 } else { geo.fat_len as u16 },
        sec_per_trk: geo.sec_per_trk,
        num_heads: geo.heads,
        hidd_sec: opts.hidden_sectors,
        tot_sec32: if total < 65536 { 0 } else { total },
        fat_sz32: if fat32 { geo.fat_len } else { 0 },
        ext_flags: 0,
        fs_ver: 0,
        root_clus: if fat32 { plan.dirs[0].first_cluster } else { 0 },
        fs_info: if fat32 { 1 } else { 0 },
        bk_boot_sec: if fat32 { 6 } else { 0 },
        drv_num: 0x80,
        boot_sig: 0x29,
        vol_id: ctx.u32("fat-volume-id"),
        vol_lab: label.unwrap_or(*b"NO NAME    "),
        fil_sys_type: *geo.fat_type.fs_type_label(),
    };
    let mut bs = vec![0u8; ss as usize];
    let code_at = if fat32 {
        BOOT_CODE_OFFSET_FAT32
    } else {
        BOOT_CODE_OFFSET_FAT16
    };
    bs[0] = 0xEB;
    bs[1] = (code_at - 2) as u8;
    bs[2] = 0x90;
    bpb.write(&mut bs, fat32)?;
    bs[code_at..code_at + BOOT_STUB.len()].copy_from_slice(BOOT_STUB);
    let msg = (0x7c00 + code_at + BOOT_STUB_CODE_LEN) as u16;
    bs[code_at + BOOT_STUB_MSG_OFFSET_AT..code_at + BOOT_STUB_MSG_OFFSET_AT + 2]
        .copy_from_slice(&msg.to_le_bytes());
    bs[510] = 0x55;
    bs[511] = 0xAA;
    if fat32 {
        let mut fsi = vec![0u8; ss as usize];
        fsi[0..4].copy_from_slice(&FSI_LEAD_SIG.to_le_bytes());
        fsi[484..488].copy_from_slice(&FSI_STRUC_SIG.to_le_bytes());
        let free = geo.cluster_count - used;
        fsi[488..492].copy_from_slice(&free.to_le_bytes());
        let nxt = if free > 0 { next } else { 0xFFFF_FFFF };
        fsi[492..496].copy_from_slice(&nxt.to_le_bytes());
        fsi[508..512].copy_from_slice(&FSI_TRAIL_SIG.to_le_bytes());
        disk.write(6 * ss as u64, &bs)?;
        disk.write(7 * ss as u64, &fsi)?;
        disk.write_vec(ss as u64, fsi)?;
    }
    disk.write_vec(0, bs)?;
    Ok((disk, plan.warnings))
}

/// Places file data at `off`: small in-memory files are copied, anything
/// else is referenced.
fn place(disk: &mut Disk, off: u64, data: &FileData) -> Result<()> {
    match data {
        FileData::Bytes(b) if b.len() <= 64 * 1024 => disk.write(off, b),
        FileData::Bytes(b) => {
            let src: Source = Arc::new(b.clone());
            disk.write_source(off, src, 0, b.len() as u64)
        }
        FileData::Source { src, offset, len } => disk.write_source(off, src.clone(), *offset, *len),
        FileData::Mapped { src, map, len } => {
            for &(fo, so, l) in map.iter() {
                let l = l.min(len.saturating_sub(fo));
                if l > 0 {
                    disk.write_source(off + fo, src.clone(), so, l)?;
                }
            }
            Ok(())
        }
    }
}

/// The smallest size (in whole MiB, with about 10% headroom) whose mkfs.fat
/// geometry holds the plan.
fn fit(
    plan: &Plan,
    opts: &FatOptions,
    spc: Option<u32>,
    has_label: bool,
) -> Result<(u64, Geometry)> {
    const MIB: u64 = 1 << 20;
    let data: u64 = plan
        .dirs
        .iter()
        .map(|d| d.slots(has_label) * 32 + d.ents.iter().map(|e| e.len).sum::<u64>())
        .sum();
    let mut size = (data + data / 10 + MIB).div_ceil(MIB) * MIB;
    if opts.fat_type == Some(FatType::Fat32) {
        // FAT32 wants 65525 clusters: 33 MiB of 512-byte clusters.
        size = size.max(33 * MIB * opts.sector_size as u64 / 512);
    }
    let mut last_err = None;
    for _ in 0..200 {
        match geometry(size, opts.sector_size, opts.fat_type, spc) {
            Ok(geo) => match clusters_needed(plan, &geo, has_label) {
                Ok(need) => {
                    let headroom = need / 10 + 16;
                    // A FAT32 volume with fewer clusters than 65525 is one
                    // mkfs.fat warns about and mtools refuses: grow instead.
                    let enough =
                        geo.fat_type != FatType::Fat32 || geo.cluster_count as i64 >= MIN_CLUST_32;
                    if enough && need + headroom <= geo.cluster_count as u64 {
                        return Ok((size, geo));
                    }
                }
                Err(e) if geo.fat_type != FatType::Fat32 && opts.fat_type.is_none() => {
                    // Root too full for FAT12/16: only FAT32 can hold it.
                    let mut o = opts.clone();
                    o.fat_type = Some(FatType::Fat32);
                    return fit(plan, &o, spc, has_label).map_err(|_| e);
                }
                Err(e) => return Err(e),
            },
            Err(e) => last_err = Some(e),
        }
        size = (size + size / 8).div_ceil(MIB) * MIB;
        if size > (u32::MAX as u64) * opts.sector_size as u64 {
            break;
        }
    }
    Err(last_err.unwrap_or_else(|| {
        Error::no_space(
            "fat",
            format!("no FAT filesystem holds the content ({data} bytes)"),
        )
    }))
}
