//! Recipes: one serde schema, written as TOML (CLI) or JSON (page). A recipe
//! names the disk (size, partition table, output format), its partitions and,
//! for each, a filesystem and its contents; or a bare filesystem, an
//! initramfs or an ISO. Documented in docs/recipe.md.
//!
//! Every error names the recipe key (`partition[2].size`) or the input file.

use crate::size::parse_size;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A whole recipe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Epoch and seed: everything else being equal, the same recipe with the
    /// same build section gives the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSection>,
    /// What to write: a disk container, a bare filesystem, an initramfs or
    /// an ISO.
    #[serde(default)]
    pub output: OutputSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskSection>,
    /// Partitions, in the order given (`[[partition]]` in TOML).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition: Vec<Partition>,
    /// A bare filesystem image (`output.format = "raw"` with no disk table),
    /// or the contents of an initramfs or ISO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<Filesystem>,
    /// ISO options (`output.format = "iso"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso: Option<IsoSection>,
    /// Boot entry: generates isolinux.cfg, grub.cfg and systemd-boot entries
    /// where the recipe asks for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootSection>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// Seconds since 1970 for every timestamp (SOURCE_DATE_EPOCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// Seed for UUIDs, GUIDs, serials and hash seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// raw, qcow2, vhd (vpc), vhdx, vmdk, ova, box, iso, initramfs.
    #[serde(default = "default_format")]
    pub format: String,
    /// qcow2 compressed clusters (`qemu-img convert -c`); gzip for initramfs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compress: bool,
    /// gzip level for initramfs (0-9, default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// `cluster_size` for qcow2 (`64K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<String>,
    /// `fixed`/`dynamic` (vhd, vhdx), `monolithicSparse`/`streamOptimized`
    /// (vmdk), `libvirt`/`virtualbox` (box).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subformat: Option<String>,
    /// Virtual machine for ova/box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmSection>,
}

fn default_format() -> String {
    "raw".to_string()
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            format: default_format(),
            compress: false,
            level: None,
            cluster_size: None,
            subformat: None,
            vm: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory, e.g. `1G`, `512M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSection {
    /// `2G`, `512M`, ... Required when a partition's size is `rest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// gpt, mbr or none.
    #[serde(default = "default_table")]
    pub table: String,
    /// Logical sector size, 512 or 4096.
    #[serde(default = "default_sector")]
    pub sector_size: u32,
}

fn default_table() -> String {
    "gpt".to_string()
}
fn default_sector() -> u32 {
    512
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Partition number; default: the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// sgdisk type code (`ef00`, `8300`) or a GUID; MBR: a type byte (`0c`, `83`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    /// GPT partition name (`EFI System`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `100M` or `rest` (the rest of the disk; last partition only).
    pub size: String,
    /// GPT attribute bits to set (2 = legacy BIOS bootable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<u8>,
    /// MBR active flag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootable: bool,
    /// The filesystem inside; none leaves the partition empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<Filesystem>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// fat, ext4 or none (for an initramfs or ISO recipe: omitted).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// For a bare filesystem: its size (`64M`); default: fit the content
    /// plus `extra_percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Headroom when sizing to fit, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_percent: Option<u32>,
    /// FAT: 12, 16 or 32 (default: as mkfs.fat chooses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fat_bits: Option<u8>,
    /// ext4: write a journal (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<bool>,
    /// FAT: what to do with symlinks, which FAT cannot store: `follow`
    /// (default; store what they point to, as `mcopy -s`), `skip` (with a
    /// warning) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlinks: Option<String>,
    /// What goes in, applied in order (later entries win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<Content>,
}

/// One thing placed into a filesystem: exactly one of `tar`, `dir`, `file`,
/// `text`, `symlink`, `mkdir`, `device`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// A tar archive (plain, .gz, .zst, .xz) unpacked at `at` (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<String>,
    /// A local directory copied to `at` (CLI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// An input file placed at `at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Inline text placed at `at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A symlink at `at` pointing to this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    /// A directory at `at`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mkdir: bool,
    /// A device node at `at`: `c 5 1` or `b 8 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Where in the filesystem (`/EFI/BOOT/grub.cfg`); default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Octal permission bits as a string (`"0755"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsoSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    /// Joliet names (`-J`), default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joliet: Option<bool>,
    /// Joliet names of up to 103 characters (`-joliet-long`), default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joliet_long: Option<bool>,
    /// Rock Ridge (`-R`), default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rock_ridge: Option<bool>,
    /// BIOS El Torito no-emulation boot image path in the tree (`-b`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bios_boot: Option<String>,
    /// Boot catalog path (`-c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_catalog: Option<String>,
    /// Load size in 512-byte sectors (`-boot-load-size`, default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_load_size: Option<u16>,
    /// Patch the boot info table (`-boot-info-table`, default true with bios_boot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_info_table: Option<bool>,
    /// UEFI El Torito image path in the tree (`-e`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efi_boot: Option<String>,
    /// A FAT ESP image imgforge builds and places at `efi_boot` (default
    /// `/boot/efi.img`): `{ contents = [...] }` like any filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efi_image: Option<Filesystem>,
    /// isohybrid MBR file (an input path, e.g. isohdpfx.bin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isohybrid_mbr: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isohybrid_gpt_basdat: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Kernel path inside the image (`/boot/vmlinuz`).
    pub kernel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// Add a serial console (console=ttyS0, serial in the loader config).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub serial: bool,
    /// Which configs to generate: isolinux, grub, systemd-boot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loaders: Vec<String>,
}

/// How a recipe was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Json,
}

impl Syntax {
    /// JSON if the text starts with `{`, else TOML.
    pub fn sniff(text: &str) -> Syntax {
        if text.trim_start().starts_with('{') {
            Syntax::Json
        } else {
            Syntax::Toml
        }
    }
}

/// Parses a recipe; errors carry the line and the key.
pub fn parse(text: &str, syntax: Syntax) -> Result<Recipe> {
    let r: Recipe = match syntax {
        Syntax::Toml => {
            toml::from_str(text).map_err(|e| Error::invalid("recipe", toml_message(&e, text)))?
        }
        Syntax::Json => serde_json::from_str(text).map_err(|e| {
            Error::invalid(
                "recipe",
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })?,
    };
    r.validate()?;
    Ok(r)
}

fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

/// The recipe as TOML (for the page's "same result on the command line").
pub fn to_toml(r: &Recipe) -> Result<String> {
    toml::to_string_pretty(r).map_err(|e| Error::invalid("recipe", e))
}

/// The recipe as JSON.
pub fn to_json(r: &Recipe) -> Result<String> {
    serde_json::to_string_pretty(r).map_err(|e| Error::invalid("recipe", e))
}

/// What a recipe builds, decided from `output.format` and its sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A disk (partitioned or not) in a container format.
    Disk,
    /// A bare filesystem image (`[filesystem]`, no `[disk]`).
    Filesystem,
    Initramfs,
    Iso,
}

impl Recipe {
    pub fn kind(&self) -> Kind {
        match self.output.format.to_ascii_lowercase().as_str() {
            "iso" => Kind::Iso,
            "initramfs" | "cpio" => Kind::Initramfs,
            _ if self.disk.is_none() && self.partition.is_empty() && self.filesystem.is_some() => {
                Kind::Filesystem
            }
            _ => Kind::Disk,
        }
    }

    /// Checks what serde cannot: sizes parse, numbers are unique, `rest`
    /// only last, each content entry has exactly one source.
    pub fn validate(&self) -> Result<()> {
        let fmt = self.output.format.to_ascii_lowercase();
        if ![
            "raw",
            "img",
            "qcow2",
            "vhd",
            "vpc",
            "vhdx",
            "vmdk",
            "ova",
            "box",
            "iso",
            "initramfs",
            "cpio",
        ]
        .contains(&fmt.as_str())
        {
            return Err(Error::invalid(
                "output.format",
                format!(
                    "unknown format '{}' (raw, qcow2, vhd, vhdx, vmdk, ova, box, iso, initramfs)",
                    self.output.format
                ),
            ));
        }
        if let Some(cs) = &self.output.cluster_size {
            parse_size(cs, "output.cluster_size")?;
        }
        if let Some(l) = self.output.level {
            if l > 9 {
                return Err(Error::invalid(
                    "output.level",
                    format!("{l} is not a gzip level (0-9)"),
                ));
            }
        }
        if let Some(vm) = &self.output.vm {
            if let Some(m) = &vm.memory {
                parse_size(m, "output.vm.memory")?;
            }
        }
        match self.kind() {
            Kind::Iso | Kind::Initramfs => {
                if !self.partition.is_empty() {
                    return Err(Error::invalid(
                        "partition",
                        format!("a {fmt} recipe has no partitions; put its files in [filesystem]"),
                    ));
                }
                if self.filesystem.is_none() {
                    return Err(Error::invalid(
                        "filesystem",
                        format!("a {fmt} recipe needs [filesystem] contents"),
                    ));
                }
            }
            Kind::Filesystem => {}
            Kind::Disk => {}
        }
        if let Some(d) = &self.disk {
            if let Some(s) = &d.size {
                parse_size(s, "disk.size")?;
            }
            if !["gpt", "mbr", "none"].contains(&d.table.as_str()) {
                return Err(Error::invalid(
                    "disk.table",
                    format!("'{}' is not gpt, mbr or none", d.table),
                ));
            }
            if d.sector_size != 512 && d.sector_size != 4096 {
                return Err(Error::invalid(
                    "disk.sector_size",
                    format!("{} is not 512 or 4096", d.sector_size),
                ));
            }
            if d.table == "none" && self.partition.len() > 1 {
                return Err(Error::invalid(
                    "partition",
                    "a disk with table = \"none\" holds at most one filesystem",
                ));
            }
        }
        let mut numbers = std::collections::BTreeSet::new();
        let mut next = 1u32;
        for (i, p) in self.partition.iter().enumerate() {
            let key = format!("partition[{}]", i + 1);
            let n = p.number.unwrap_or(next);
            if n == 0 || n > 128 {
                return Err(Error::invalid(
                    format!("{key}.number"),
                    format!("{n} is not a partition number (1-128)"),
                ));
            }
            if !numbers.insert(n) {
                return Err(Error::invalid(
                    format!("{key}.number"),
                    format!("two partitions have number {n}"),
                ));
            }
            next = n + 1;
            if p.size == "rest" {
                if i + 1 != self.partition.len() {
                    return Err(Error::invalid(
                        format!("{key}.size"),
                        "only the last partition can be 'rest'",
                    ));
                }
                if self.disk.as_ref().and_then(|d| d.size.as_ref()).is_none() {
                    return Err(Error::invalid(
                        format!("{key}.size"),
                        "'rest' needs disk.size",
                    ));
                }
            } else {
                parse_size(&p.size, &format!("{key}.size"))?;
            }
            if let Some(fs) = &p.filesystem {
                fs.validate(&format!("{key}.filesystem"))?;
            }
        }
        if let Some(fs) = &self.filesystem {
            fs.validate("filesystem")?;
        }
        if let Some(fs) = self.iso.as_ref().and_then(|i| i.efi_image.as_ref()) {
            fs.validate("iso.efi_image")?;
        }
        Ok(())
    }
}

impl Filesystem {
    fn validate(&self, key: &str) -> Result<()> {
        if let Some(t) = &self.fs_type {
            if !["fat", "vfat", "ext4", "none"].contains(&t.as_str()) {
                return Err(Error::invalid(
                    format!("{key}.type"),
                    format!("'{t}' is not fat, ext4 or none"),
                ));
            }
        }
        if let Some(s) = &self.size {
            parse_size(s, &format!("{key}.size"))?;
        }
        if let Some(b) = self.fat_bits {
            if ![12, 16, 32].contains(&b) {
                return Err(Error::invalid(
                    format!("{key}.fat_bits"),
                    format!("{b} is not 12, 16 or 32"),
                ));
            }
        }
        for (i, c) in self.contents.iter().enumerate() {
            let ck = format!("{key}.contents[{}]", i + 1);
            let sources = [
                c.tar.is_some(),
                c.dir.is_some(),
                c.file.is_some(),
                c.text.is_some(),
                c.symlink.is_some(),
                c.mkdir,
                c.device.is_some(),
            ]
            .iter()
            .filter(|&&b| b)
            .count();
            if sources != 1 {
                return Err(Error::invalid(
                    ck,
                    "needs exactly one of tar, dir, file, text, symlink, mkdir, device",
                ));
            }
            if (c.file.is_some()
                || c.text.is_some()
                || c.symlink.is_some()
                || c.device.is_some()
                || c.mkdir)
                && c.at.is_none()
            {
                return Err(Error::invalid(
                    format!("{ck}.at"),
                    "missing: where in the filesystem to put it",
                ));
            }
            if let Some(m) = &c.mode {
                parse_mode(m, &format!("{ck}.mode"))?;
            }
            if let Some(d) = &c.device {
                parse_device(d, &format!("{ck}.device"))?;
            }
        }
        Ok(())
    }
}

/// `"0755"` or `"755"` → 0o755.
pub fn parse_mode(s: &str, key: &str) -> Result<u32> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|&m| m <= 0o7777)
        .ok_or_else(|| Error::invalid(key, format!("'{s}' is not an octal mode like \"0755\"")))
}

/// `c 5 1` → (true, 5, 1); `b 8 0` → (false, 8, 0).
pub fn parse_device(s: &str, key: &str) -> Result<(bool, u32, u32)> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let bad = || {
        Error::invalid(
            key,
            format!("'{s}' is not a device like \"c 5 1\" or \"b 8 0\""),
        )
    };
    if parts.len() != 3 {
        return Err(bad());
    }
    let ch = match parts[0] {
        "c" => true,
        "b" => false,
        _ => return Err(bad()),
    };
    Ok((
        ch,
        parts[1].parse().map_err(|_| bad())?,
        parts[2].parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_DISK: &str = r#"
[build]
epoch = 1700000000
seed = "workshop"

[output]
format = "qcow2"

[disk]
size = "1G"
table = "gpt"

[[partition]]
type = "ef00"
name = "EFI System"
size = "100M"
[partition.filesystem]
type = "fat"
contents = [
  { file = "inputs/BOOTX64.EFI", at = "/EFI/BOOT/BOOTX64.EFI" },
  { text = "set timeout=1\n", at = "/EFI/BOOT/grub.cfg" },
]

[[partition]]
type = "8300"
name = "slim-rootfs"
size = "rest"
[partition.filesystem]
type = "ext4"
contents = [{ tar = "inputs/rootfs.tar" }]
"#;

    #[test]
    fn toml_and_json_are_one_schema() {
        let r = parse(SEED_DISK, Syntax::Toml).unwrap();
        assert_eq!(r.partition.len(), 2);
        assert_eq!(r.kind(), Kind::Disk);
        let json = to_json(&r).unwrap();
        let back = parse(&json, Syntax::sniff(&json)).unwrap();
        assert_eq!(r, back);
        let toml = to_toml(&r).unwrap();
        assert_eq!(parse(&toml, Syntax::Toml).unwrap(), r);
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[disk]\nsize = \"1G\"\nsizes = 3\n", Syntax::Toml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("sizes"), "{e}");
        let e = parse(
            "[[partition]]\nnumber = 1\nsize = \"1M\"\n[[partition]]\nnumber = 1\nsize = \"1M\"\n",
            Syntax::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("partition[2].number"), "{e}");
        let e = parse("[disk]\nsize = \"lots\"\n", Syntax::Toml)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("disk.size"), "{e}");
        let e = parse("[[partition]]\nsize = \"rest\"\n", Syntax::Toml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs disk.size"), "{e}");
        let e = parse(
            "[filesystem]\ncontents = [{ text = \"x\" }]\n",
            Syntax::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("filesystem.contents[1].at"), "{e}");
        let e = parse("{\"output\": {\"format\": \"zip\"}}", Syntax::Json)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("output.format"), "{e}");
    }

    #[test]
    fn modes_and_devices() {
        assert_eq!(parse_mode("0755", "m").unwrap(), 0o755);
        assert_eq!(parse_mode("4755", "m").unwrap(), 0o4755);
        assert!(parse_mode("0999", "m").is_err());
        assert_eq!(parse_device("c 5 1", "d").unwrap(), (true, 5, 1));
        assert!(parse_device("x 1 2", "d").is_err());
    }
}
