//! Recipes: one serde schema, written as TOML (CLI) or JSON (page). A recipe
//! names the disk (size, partition table, output format), its partitions and,
//! for each, a filesystem and its contents; or a bare filesystem, an
//! initramfs or an ISO. Documented in docs/recipe.md.
//!
//! Every error names the recipe key (`partition[2].size`) or the input file.
//!
//! The CLI and the page both go through here: [`Syntax::sniff`] tells the
//! spellings apart, [`parse`] checks a recipe, [`OutputSection::write_options`]
//! (and [`ConvertOptions::write_options`] for a bare conversion) turn the
//! `[output]` table into a writer's options.

use crate::image::WriteOptions;
pub use crate::seed::BuildSection;
use crate::size::parse_size;
use crate::{BuildContext, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The disk: its size, partition table and sector size.
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
    /// Grow an existing image instead of building one (what `imgforge
    /// resize` does, to a copy written as `output.format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grow: Option<GrowSection>,
    /// GRUB installed into the built disk, as `imgforge grub-install` does
    /// (docs/grub-install.md), from module sources given as input files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grub: Option<GrubSection>,
}

/// `[grub]`: GRUB for the disk a recipe builds. After the partitions and
/// their filesystems are built, `grub::install` runs once per target, in
/// the order given, on the disk in memory: `x86_64-efi` puts
/// `BOOTX64.EFI` at the ESP's removable-media path (an EF00 partition with
/// FAT), `i386-pc` puts `boot.img` into the MBR and `core.img` into the
/// BIOS boot partition (EF02, GPT) or the gap after the MBR.
///
/// ```toml
/// [grub]
/// targets = ["x86_64-efi", "i386-pc"]
/// sources = { "x86_64-efi" = "inputs/grub-efi-amd64-bin.deb", "i386-pc" = "inputs/grub-pc-bin.deb" }
/// modules = ["part_gpt", "fat", "ext2", "normal", "linux"]
/// prefix = "/EFI/BOOT"
/// config = "set timeout=1\n..."
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrubSection {
    /// `x86_64-efi`, `i386-pc`; installed in this order. Default
    /// `["x86_64-efi"]`.
    #[serde(default = "default_grub_targets")]
    pub targets: Vec<String>,
    /// The module source of each target: an input file, the Debian package
    /// (`grub-efi-amd64-bin_*.deb`, `grub-pc-bin_*.deb`) or a tar (plain,
    /// .gz, .xz, .zst) of the platform folder.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    /// Modules built into the images (grub-mkimage's list; install adds
    /// the disk and filesystem drivers it needs). Default: the seed's list
    /// ([`SEED_GRUB_MODULES`]; for i386-pc without its three EFI-only
    /// names). A name the source lacks is an error naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<String>>,
    /// The boot directory on the ESP (`grub.cfg`, modules), default
    /// `/EFI/BOOT` as the seed has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `grub.cfg` written to `<prefix>/grub.cfg`. Absent: made from
    /// `[boot]` when there is one, else a `grub.cfg` the ESP's contents
    /// put there is kept as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Copy every `*.mod` into `<prefix>/<target>/` for `insmod` at boot,
    /// as grub-install does (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_modules: Option<bool>,
}

fn default_grub_targets() -> Vec<String> {
    vec!["x86_64-efi".to_string()]
}

/// The module list of the seed's GRUB image (docs/grub.md), `linuxefi`
/// twice as the seed has it (grub-mkimage takes each module once).
pub const SEED_GRUB_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "efi_uga",
    "gptsync",
    "fat",
    "ext2",
    "lvm",
    "iso9660",
    "lsefi",
    "gzio",
    "linux",
    "linuxefi",
    "acpi",
    "normal",
    "cpio",
    "crypto",
    "disk",
    "boot",
    "crc64",
    "search_fs_uuid",
    "tftp",
    "xzio",
    "lzopio",
    "xfs",
    "video",
    "scsi",
    "multiboot",
    "hfsplus",
    "udf",
    "linuxefi",
];

/// The seed's modules that exist only for EFI platforms (Debian's
/// i386-pc folder has none of them).
const EFI_ONLY_GRUB_MODULES: &[&str] = &["efi_uga", "lsefi", "linuxefi"];

impl GrubSection {
    /// The boot directory (`prefix`, default `/EFI/BOOT`).
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("/EFI/BOOT")
    }

    /// The modules for `target`: `modules`, or the seed's list.
    pub fn modules_for(&self, target: crate::grub::Platform) -> Vec<String> {
        match &self.modules {
            Some(m) => m.clone(),
            None => SEED_GRUB_MODULES
                .iter()
                .filter(|m| {
                    target == crate::grub::Platform::X86_64Efi || !EFI_ONLY_GRUB_MODULES.contains(m)
                })
                .map(|m| m.to_string())
                .collect(),
        }
    }

    /// The targets, parsed and checked: known, each once, each with a
    /// source; no source for a target not asked for.
    pub fn platforms(&self) -> Result<Vec<crate::grub::Platform>> {
        if self.targets.is_empty() {
            return Err(Error::invalid(
                "grub.targets",
                "empty: name x86_64-efi, i386-pc or both",
            ));
        }
        let mut out = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let key = format!("grub.targets[{}]", i + 1);
            let p = crate::grub::Platform::parse(t).map_err(|_| {
                Error::invalid(
                    key.as_str(),
                    format!("'{t}' is not a target imgforge installs (x86_64-efi, i386-pc)"),
                )
            })?;
            if out.contains(&p) {
                return Err(Error::invalid(key, format!("'{t}' is named twice")));
            }
            if !self.sources.contains_key(t) {
                return Err(Error::invalid(
                    format!("grub.sources.{t}"),
                    format!(
                        "missing: the module source for {t} (an input file such as {})",
                        match p {
                            crate::grub::Platform::X86_64Efi => "inputs/grub-efi-amd64-bin.deb",
                            crate::grub::Platform::I386Pc => "inputs/grub-pc-bin.deb",
                        }
                    ),
                ));
            }
            out.push(p);
        }
        if let Some(k) = self.sources.keys().find(|k| !self.targets.contains(k)) {
            return Err(Error::invalid(
                format!("grub.sources.{k}"),
                format!("'{k}' is not in grub.targets"),
            ));
        }
        Ok(out)
    }

    fn validate(&self) -> Result<()> {
        self.platforms()?;
        let prefix = self.prefix();
        if !prefix.starts_with('/')
            || prefix.split('/').any(|p| p == "." || p == "..")
            || prefix
                .chars()
                .any(|c| c.is_control() || c == '(' || c == ')' || c == ' ')
        {
            return Err(Error::invalid(
                "grub.prefix",
                format!("'{prefix}' is not an absolute path on the ESP like /EFI/BOOT"),
            ));
        }
        for (i, m) in self.modules.iter().flatten().enumerate() {
            if m.is_empty()
                || !m
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                || m.starts_with('-')
            {
                return Err(Error::invalid(
                    format!("grub.modules[{}]", i + 1),
                    format!("'{m}' is not a module name"),
                ));
            }
        }
        Ok(())
    }
}

/// `[grow]`: a copy of an input image, grown. The virtual disk grows, a
/// GPT's backup moves to the new end (`sgdisk -e`) and, with `grow_last`,
/// the last partition fills the new space (`growpart`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrowSection {
    /// The input image (any container format imgforge reads).
    pub image: String,
    /// `+10G` (grow by) or `20G` (the new size; not smaller than the image).
    pub size: String,
    /// Grow the last partition into the new space.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grow_last: bool,
}

/// `[output]`: the format written and its writer's options.
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
    /// `cluster_size` for qcow2 (`64K`), `block_size` for vhd/vhdx: a size
    /// (`"64K"`) or a number of bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<SizeValue>,
    /// `fixed`/`dynamic` (vhd, vhdx), `monolithicSparse`/`streamOptimized`
    /// (vmdk), `libvirt`/`virtualbox` (box).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subformat: Option<String>,
    /// Other writer options, as `qemu-img convert -o key=value` takes them
    /// (`adapter_type`, `hwversion`, `hardware`, ...); the writer rejects
    /// keys it does not know, naming them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, OptionValue>,
    /// Virtual machine for ova/box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmSection>,
}

/// A size written as text (`"64K"`, `"1G"`) or as a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    /// A number (bytes, or MiB where the key says so).
    Number(u64),
    /// `64K`, `1G`, ... (see [`parse_size`]).
    Text(String),
}

impl SizeValue {
    /// In bytes: text as [`parse_size`] reads it, a number as bytes.
    pub fn bytes(&self, key: &str) -> Result<u64> {
        match self {
            SizeValue::Number(n) => Ok(*n),
            SizeValue::Text(s) => parse_size(s, key),
        }
    }
}

/// The value of a writer option (`-o key=value`): text, a number or a
/// boolean, handed to the writer as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Number(i64),
    /// Anything else.
    Text(String),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Number(n) => write!(f, "{n}"),
            OptionValue::Text(s) => f.write_str(s),
        }
    }
}

impl OutputSection {
    /// The container writer's options this table asks for, with the
    /// build's epoch and seed.
    pub fn write_options(&self, ctx: &BuildContext) -> Result<WriteOptions> {
        let mut opts = WriteOptions {
            compress: self.compress,
            ctx: ctx.clone(),
            ..WriteOptions::default()
        };
        if let Some(cs) = &self.cluster_size {
            opts.cluster_size = Some(cs.bytes("output.cluster_size")?);
        }
        opts.subformat = self.subformat.clone();
        opts.extra = self
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        if let Some(vm) = &self.vm {
            if let Some(n) = &vm.name {
                opts.vm.name = n.clone();
            }
            if let Some(c) = vm.cpus {
                opts.vm.cpus = c;
            }
            if let Some(m) = &vm.memory {
                opts.vm.memory_mib = vm_memory_mib(m)?;
            }
        }
        Ok(opts)
    }
}

/// `vm.memory`: a size (`"1G"`) or a number of MiB (as OVF counts it).
fn vm_memory_mib(m: &SizeValue) -> Result<u64> {
    match m {
        SizeValue::Number(n) => Ok(*n),
        SizeValue::Text(s) => Ok(parse_size(s, "output.vm.memory")? >> 20),
    }
}

/// The options of a conversion as one table (the page's and the JS API's
/// `convert`): the `[output]` keys a container writer reads, and the
/// `[build]` table's `epoch` and `seed`. Unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConvertOptions {
    /// As [`OutputSection::compress`].
    #[serde(default)]
    pub compress: bool,
    /// As [`OutputSection::cluster_size`].
    #[serde(default)]
    pub cluster_size: Option<SizeValue>,
    /// As [`OutputSection::subformat`].
    #[serde(default)]
    pub subformat: Option<String>,
    /// As [`OutputSection::options`].
    #[serde(default)]
    pub options: BTreeMap<String, OptionValue>,
    /// As [`OutputSection::vm`].
    #[serde(default)]
    pub vm: Option<VmSection>,
    /// As [`BuildSection::epoch`].
    #[serde(default)]
    pub epoch: Option<i64>,
    /// As [`BuildSection::seed`].
    #[serde(default)]
    pub seed: Option<String>,
}

impl ConvertOptions {
    /// Reads the options from JSON text; empty text is no options.
    pub fn from_json(text: &str) -> Result<ConvertOptions> {
        if text.trim().is_empty() {
            return Ok(ConvertOptions::default());
        }
        serde_json::from_str(text).map_err(|e| Error::invalid("convert options", e))
    }

    /// The writer's options, as [`OutputSection::write_options`] gives them.
    pub fn write_options(&self) -> Result<WriteOptions> {
        let build = BuildSection {
            epoch: self.epoch,
            seed: self.seed.clone(),
        };
        let ctx = BuildContext::resolve(Some(&build), None, None, None)?;
        let out = OutputSection {
            compress: self.compress,
            cluster_size: self.cluster_size.clone(),
            subformat: self.subformat.clone(),
            options: self.options.clone(),
            vm: self.vm.clone(),
            ..OutputSection::default()
        };
        out.write_options(&ctx)
    }
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
            options: BTreeMap::new(),
            vm: None,
        }
    }
}

/// `[output.vm]`: the virtual machine an OVA or box describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSection {
    /// The machine's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Virtual CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory: a size (`1G`, `512M`) or a number of MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<SizeValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[disk]`: the virtual disk.
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
/// `[[partition]]`: one partition.
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
/// `[filesystem]` / `[partition.filesystem]`: a filesystem and what goes in it.
pub struct Filesystem {
    /// fat, ext4 or none (for an initramfs or ISO recipe: omitted).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Volume label.
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
    /// Owner (default 0).
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Group (default 0).
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[iso]`: ISO 9660 options, as mkisofs/xorriso name them.
pub struct IsoSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Volume ID (`-V`), default `IMGFORGE`.
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
    /// Also add a GPT to the isohybrid MBR (`-isohybrid-gpt-basdat`).
    pub isohybrid_gpt_basdat: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[boot]`: one boot entry, written for the loaders named.
pub struct BootSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Entry title (default `imgforge`).
    pub title: Option<String>,
    /// Kernel path inside the image (`/boot/vmlinuz`).
    pub kernel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Initramfs path inside the image.
    pub initrd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Kernel command line.
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
    /// TOML (the CLI's files).
    Toml,
    /// JSON (the page, the JS API).
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

    /// `json` (any case) is JSON, anything else TOML.
    pub fn parse(name: &str) -> Syntax {
        if name.eq_ignore_ascii_case("json") {
            Syntax::Json
        } else {
            Syntax::Toml
        }
    }

    /// `toml` or `json`.
    pub fn name(self) -> &'static str {
        match self {
            Syntax::Json => "json",
            Syntax::Toml => "toml",
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

/// The values of `output.format`: the container formats and the two that
/// are not disks.
pub const OUTPUT_FORMATS: &[&str] = &[
    "raw",
    "qcow2",
    "vhd",
    "vhdx",
    "vmdk",
    "ova",
    "box",
    "iso",
    "initramfs",
];

/// What a recipe builds, decided from `output.format` and its sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A disk (partitioned or not) in a container format.
    Disk,
    /// A bare filesystem image (`[filesystem]`, no `[disk]`).
    Filesystem,
    /// A cpio archive, gzip'd.
    Initramfs,
    /// An ISO 9660 image.
    Iso,
    /// An input image grown (`[grow]`).
    Grow,
}

impl Recipe {
    /// What the recipe builds.
    pub fn kind(&self) -> Kind {
        if self.grow.is_some() {
            return Kind::Grow;
        }
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
        // Also qemu-img's and cpio's other names.
        if !OUTPUT_FORMATS.contains(&fmt.as_str())
            && !["img", "vpc", "cpio"].contains(&fmt.as_str())
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
            cs.bytes("output.cluster_size")?;
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
                vm_memory_mib(m)?;
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
            Kind::Grow => self.validate_grow(&fmt)?,
            Kind::Filesystem => {}
            Kind::Disk => {}
        }
        if let Some(g) = &self.grub {
            self.validate_grub(g, &fmt)?;
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

impl Recipe {
    /// `[grub]` goes into a partitioned disk.
    fn validate_grub(&self, g: &GrubSection, fmt: &str) -> Result<()> {
        match self.kind() {
            Kind::Disk => {}
            Kind::Iso => {
                return Err(Error::unsupported(
                    "grub",
                    "a GRUB ISO (output.format = \"iso\" with [grub], as grub-mkrescue makes it) is not available yet; build a disk, or an ISO with [iso] boot images",
                ))
            }
            _ => {
                return Err(Error::invalid(
                    "grub",
                    format!("GRUB is installed into a partitioned disk ([disk] and [[partition]]), not into {fmt}"),
                ))
            }
        }
        if self.disk.as_ref().is_some_and(|d| d.table == "none") || self.partition.is_empty() {
            return Err(Error::invalid(
                "grub",
                "GRUB is installed into a partitioned disk: add [[partition]]s (an EF00 ESP with FAT for x86_64-efi)",
            ));
        }
        g.validate()
    }

    /// A `[grow]` recipe grows one image: nothing else is built.
    fn validate_grow(&self, fmt: &str) -> Result<()> {
        let Some(g) = &self.grow else { return Ok(()) };
        let others = [
            ("disk", self.disk.is_some()),
            ("partition", !self.partition.is_empty()),
            ("filesystem", self.filesystem.is_some()),
            ("iso", self.iso.is_some()),
            ("boot", self.boot.is_some()),
            ("grub", self.grub.is_some()),
        ];
        if let Some((key, _)) = others.iter().find(|(_, set)| *set) {
            return Err(Error::invalid(
                *key,
                "a [grow] recipe grows an image: it has no other section than [build] and [output]",
            ));
        }
        if matches!(fmt, "iso" | "initramfs" | "cpio") {
            return Err(Error::invalid(
                "output.format",
                format!("a [grow] recipe writes a disk image, not {fmt}"),
            ));
        }
        match crate::size::parse_resize(&g.size, "grow.size")? {
            crate::size::Resize::Shrink(_) => Err(Error::invalid(
                "grow.size",
                "growing only (+SIZE or a larger size)",
            )),
            _ => Ok(()),
        }
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

    #[test]
    fn grow_recipes_are_checked() {
        let r = parse(
            "[grow]\nimage = \"cloud.qcow2\"\nsize = \"+10G\"\ngrow_last = true\n[output]\nformat = \"qcow2\"\n",
            Syntax::Toml,
        )
        .unwrap();
        assert_eq!(r.kind(), Kind::Grow);
        assert!(r.grow.as_ref().unwrap().grow_last);
        for (text, key) in [
            (r#"{"grow": {"image": "a", "size": "-1G"}}"#, "grow.size"),
            (
                r#"{"grow": {"image": "a", "size": "+1G"}, "disk": {"size": "1G"}}"#,
                "disk",
            ),
            (
                r#"{"grow": {"image": "a", "size": "+1G"}, "output": {"format": "iso"}}"#,
                "output.format",
            ),
            (r#"{"grow": {"size": "+1G"}}"#, "image"),
        ] {
            let e = parse(text, Syntax::Json).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn output_table_gives_the_writer_options() {
        let r = parse(
            r#"{"output": {"format": "ova", "compress": true, "cluster_size": "64K", "subformat": "streamOptimized",
                "options": {"hardware": "virtualbox", "hwversion": 7, "x": true},
                "vm": {"name": "vm", "cpus": 2, "memory": "2G"}}, "disk": {"size": "1M"}}"#,
            Syntax::Json,
        )
        .unwrap();
        let o = r.output.write_options(&BuildContext::new(5, "s")).unwrap();
        assert!(o.compress);
        assert_eq!(o.cluster_size, Some(65536));
        assert_eq!(o.subformat.as_deref(), Some("streamOptimized"));
        assert_eq!(
            o.extra,
            [
                ("hardware", "virtualbox"),
                ("hwversion", "7"),
                ("x", "true")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            (o.vm.name.as_str(), o.vm.cpus, o.vm.memory_mib),
            ("vm", 2, 2048)
        );
        assert_eq!(o.ctx, BuildContext::new(5, "s"));
        // A convert options table: numbers for sizes, epoch and seed at the top.
        let c = ConvertOptions::from_json(
            r#"{"cluster_size": 4096, "vm": {"memory": 512}, "seed": "x", "epoch": 7}"#,
        )
        .unwrap();
        let o = c.write_options().unwrap();
        assert_eq!(o.cluster_size, Some(4096));
        assert_eq!(o.vm.memory_mib, 512);
        assert_eq!(o.ctx, BuildContext::new(7, "x"));
        assert_eq!(
            ConvertOptions::from_json(" ").unwrap(),
            ConvertOptions::default()
        );
        assert!(ConvertOptions::from_json(r#"{"compress": "yes"}"#).is_err());
    }

    #[test]
    fn syntax_names_and_sniffing() {
        assert_eq!(Syntax::sniff("  {\"a\": 1}"), Syntax::Json);
        assert_eq!(Syntax::sniff("[disk]"), Syntax::Toml);
        assert_eq!(Syntax::parse("JSON"), Syntax::Json);
        assert_eq!(Syntax::parse("toml"), Syntax::Toml);
        assert_eq!(Syntax::Json.name(), "json");
    }

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
    fn grub_table_is_checked() {
        let disk = "[disk]\nsize = \"64M\"\n[[partition]]\ntype = \"ef00\"\nsize = \"rest\"\n";
        let r = parse(
            &format!("{disk}[grub]\nsources = {{ \"x86_64-efi\" = \"inputs/efi.deb\" }}\n"),
            Syntax::Toml,
        )
        .unwrap();
        let g = r.grub.as_ref().unwrap();
        assert_eq!(g.targets, ["x86_64-efi"]);
        assert_eq!(g.prefix(), "/EFI/BOOT");
        let efi = g.modules_for(crate::grub::Platform::X86_64Efi);
        assert_eq!(efi.len(), SEED_GRUB_MODULES.len());
        let pc = g.modules_for(crate::grub::Platform::I386Pc);
        assert!(!pc
            .iter()
            .any(|m| m == "lsefi" || m == "linuxefi" || m == "efi_uga"));
        assert_eq!(pc.len(), SEED_GRUB_MODULES.len() - 4);
        // The JSON spelling is the same table.
        let json = to_json(&r).unwrap();
        assert_eq!(parse(&json, Syntax::Json).unwrap(), r);
        for (grub, key) in [
            ("targets = [\"arm64-efi\"]\n", "grub.targets[1]"),
            (
                "targets = [\"i386-pc\", \"i386-pc\"]\nsources = { \"i386-pc\" = \"a\" }\n",
                "grub.targets[2]",
            ),
            ("targets = [\"i386-pc\"]\n", "grub.sources.i386-pc"),
            (
                "sources = { \"x86_64-efi\" = \"a\", \"i386-pc\" = \"b\" }\n",
                "grub.sources.i386-pc",
            ),
            ("targets = []\n", "grub.targets"),
            (
                "sources = { \"x86_64-efi\" = \"a\" }\nprefix = \"EFI\"\n",
                "grub.prefix",
            ),
            (
                "sources = { \"x86_64-efi\" = \"a\" }\nmodules = [\"fat\", \"a b\"]\n",
                "grub.modules[2]",
            ),
            (
                "sources = { \"x86_64-efi\" = \"a\" }\nmodule = []\n",
                "module",
            ),
        ] {
            let e = parse(&format!("{disk}[grub]\n{grub}"), Syntax::Toml)
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{grub}: {e}");
        }
        let g = "[grub]\nsources = { \"x86_64-efi\" = \"a\" }\n";
        for (text, want) in [
            (
                format!("[filesystem]\ntype = \"fat\"\n{g}"),
                "partitioned disk",
            ),
            (
                format!("[output]\nformat = \"iso\"\n[filesystem]\n{g}"),
                "not available yet",
            ),
            (
                format!("[grow]\nimage = \"a\"\nsize = \"+1G\"\n{g}"),
                "grub",
            ),
        ] {
            let e = parse(&text, Syntax::Toml).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
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
