//! grub-mkrescue: a bootable ISO 9660 image holding GRUB for BIOS and/or
//! UEFI, and the user's files (docs/grub.md, "grub-mkrescue").
//!
//! Layout, as GRUB 2.06's `grub-mkrescue` with xorriso makes it:
//!
//! - i386-pc: `/boot/grub/i386-pc/eltorito.img` (`-O i386-pc-eltorito`:
//!   cdboot.img + core.img), the BIOS El Torito no-emulation entry (load
//!   size 4, boot info table, `--grub2-boot-info`), and GRUB's
//!   `boot_hybrid.img` as the MBR (`--grub2-mbr`) so the image also boots
//!   as a hard disk; the platform's modules in `/boot/grub/i386-pc/`.
//! - x86_64-efi: `/efi.img`, a FAT image holding `/EFI/BOOT/BOOTX64.EFI`,
//!   the UEFI El Torito entry, and a GPT whose EFI System Partition is that
//!   image (USB boot); the modules in `/boot/grub/x86_64-efi/`.
//! - Both images embed an early config that finds the ISO by its
//!   filesystem UUID (GRUB's iso9660 UUID is the volume's modification
//!   date, which is the build's epoch) and sets the prefix to its
//!   `/boot/grub`, where GRUB reads `grub.cfg` from the user's files.

use super::mkimage::{mkimage, mkimage_eltorito, MkimageOptions};
use super::source::{ModuleSource, Platform};
use crate::io::{Progress, Sink};
use crate::iso9660::raw::{vd_date, PLATFORM_X86};
use crate::iso9660::write::{self as iso, BootImage, IsoOptions, RockRidge};
use crate::tree::Tree;
use crate::{BuildContext, Error, Result};

/// Where the images and modules go in the ISO.
pub const BOOT_DIR: &str = "boot/grub";
/// The BIOS El Torito image (grub-mkrescue's path).
pub const ELTORITO_PATH: &str = "boot/grub/i386-pc/eltorito.img";
/// The UEFI El Torito image: a FAT ESP image (grub-mkrescue's path).
pub const EFI_IMG_PATH: &str = "efi.img";
/// The removable-media loader inside the ESP image.
pub const BOOTX64_PATH: &str = "EFI/BOOT/BOOTX64.EFI";

/// Modules embedded in the BIOS image: the disk driver, the ISO's
/// filesystem, the partition maps of a hybrid image and the search that
/// finds it.
pub const PC_MODULES: &[&str] = &["biosdisk", "iso9660", "part_msdos", "part_gpt", "search"];
/// Modules embedded in `BOOTX64.EFI` (the firmware's disks need no driver).
pub const EFI_MODULES: &[&str] = &["part_gpt", "part_msdos", "fat", "iso9660", "search"];

/// What to build. At least one module source; one per platform.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RescueOptions {
    /// GRUB module sources (`--directory`), one per platform
    /// (x86_64-efi, i386-pc); each platform given gets its boot entry.
    pub sources: Vec<ModuleSource>,
    /// More modules to embed in every image (grub-mkrescue `--modules`),
    /// beyond [`PC_MODULES`] / [`EFI_MODULES`].
    pub modules: Vec<String>,
    /// Volume identifier (xorriso's default `ISOIMAGE`).
    pub volume_id: String,
}

impl RescueOptions {
    /// Options for these module sources, with grub-mkrescue's defaults.
    pub fn new(sources: Vec<ModuleSource>) -> Self {
        RescueOptions {
            sources,
            modules: Vec::new(),
            volume_id: "ISOIMAGE".into(),
        }
    }
}

/// The ISO's file tree (the user's files plus GRUB's) and the ISO
/// options that make it boot; [`iso::write`] or [`iso::build`] turn it
/// into the image.
#[derive(Clone)]
#[non_exhaustive]
pub struct RescueIso {
    /// The files of the ISO.
    pub tree: Tree,
    /// El Torito entries, hybrid MBR and GPT.
    pub iso: IsoOptions,
    /// The filesystem UUID GRUB sees (`search --fs-uuid`).
    pub fs_uuid: String,
}

/// GRUB's UUID of an ISO 9660 volume: its modification date's digits as
/// `YYYY-MM-DD-HH-MM-SS-CC` (grub-core/fs/iso9660.c, `grub_iso9660_uuid`).
pub fn iso_fs_uuid(epoch: i64) -> String {
    let d = vd_date(epoch);
    let c =
        |a: usize, z: usize| String::from_utf8_lossy(d.get(a..z).unwrap_or_default()).into_owned();
    format!(
        "{}-{}-{}-{}-{}-{}-{}",
        c(0, 4),
        c(4, 6),
        c(6, 8),
        c(8, 10),
        c(10, 12),
        c(12, 14),
        c(14, 16)
    )
}

/// The early config embedded in each image: find the ISO (on a CD or on
/// the disk the image was written to) and read GRUB's files from it.
pub fn early_config(fs_uuid: &str) -> String {
    format!("search --no-floppy --fs-uuid --set=root {fs_uuid}\nset prefix=($root)/{BOOT_DIR}\n")
}

/// Lays out the rescue ISO: `tree` is the user's source tree (it should
/// hold `/boot/grub/grub.cfg`; without one GRUB stops at its prompt). GRUB's
/// files replace any of the user's at the same paths.
pub fn prepare(mut tree: Tree, opts: &RescueOptions, ctx: &BuildContext) -> Result<RescueIso> {
    let mut pc = None;
    let mut efi = None;
    for s in &opts.sources {
        let slot = match s.platform() {
            Platform::I386Pc => &mut pc,
            Platform::X86_64Efi => &mut efi,
        };
        if let Some(first) = slot.replace(s) {
            return Err(Error::invalid(
                "--directory",
                format!(
                    "{} and {} both hold {} modules: give one source per platform",
                    first.name(),
                    s.name(),
                    s.platform()
                ),
            ));
        }
    }
    if pc.is_none() && efi.is_none() {
        return Err(Error::invalid(
            "--directory",
            "no GRUB module source: give an i386-pc and/or an x86_64-efi folder, tar or .deb",
        ));
    }
    let fs_uuid = iso_fs_uuid(ctx.epoch);
    let config = early_config(&fs_uuid).into_bytes();
    let modules = |base: &[&str]| -> Vec<String> {
        let mut m: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        m.extend(opts.modules.iter().cloned());
        m
    };
    let mut iso_opts = IsoOptions {
        volume_id: opts.volume_id.clone(),
        rock_ridge: RockRidge::Rationalized,
        boot_catalog: Some("boot.catalog".into()),
        ..IsoOptions::default()
    };

    if let Some(src) = pc {
        let mut o = MkimageOptions::new(
            Platform::I386Pc,
            format!("/{BOOT_DIR}"),
            modules(PC_MODULES),
        );
        o.config = Some(config.clone());
        let img = mkimage_eltorito(src, &o)?;
        copy_modules(&mut tree, src)?;
        tree.add_file(ELTORITO_PATH, img)?;
        let hybrid = src.read("boot_hybrid.img")?;
        if hybrid.len() < 512 {
            return Err(Error::corrupt(
                "GRUB",
                format!("{}: boot_hybrid.img", src.name()),
                "shorter than one 512-byte sector",
            ));
        }
        let mut b = BootImage::bios(ELTORITO_PATH);
        b.load_size = Some(4);
        b.boot_info_table = true;
        iso_opts.boot.push(b);
        iso_opts.isohybrid_mbr = Some(hybrid);
        iso_opts.grub2_mbr = true;
        iso_opts.grub2_boot_info = true;
    }
    if let Some(src) = efi {
        let mut o = MkimageOptions::new(
            Platform::X86_64Efi,
            format!("/{BOOT_DIR}"),
            modules(EFI_MODULES),
        );
        o.config = Some(config.clone());
        let loader = mkimage(src, &o)?;
        copy_modules(&mut tree, src)?;
        let mut esp = Tree::new(ctx.epoch);
        esp.add_file(BOOTX64_PATH, loader)?;
        let fat = crate::fat::build(&esp, &crate::fat::FatOptions::default(), ctx)?;
        let mut bytes = vec![0u8; fat.size() as usize];
        crate::io::ReadAt::read_at(&fat, 0, &mut bytes)?;
        tree.add_file(EFI_IMG_PATH, bytes)?;
        iso_opts.boot.push(BootImage::efi(EFI_IMG_PATH));
        // UEFI only: no boot code in the MBR, only the partition tables.
        if iso_opts.isohybrid_mbr.is_none() {
            iso_opts.isohybrid_mbr = Some(Vec::new());
        }
        iso_opts.isohybrid_gpt_basdat = true;
    }
    debug_assert!(iso_opts
        .boot
        .first()
        .is_some_and(|b| pc.is_none() || b.platform == PLATFORM_X86));
    Ok(RescueIso {
        tree,
        iso: iso_opts,
        fs_uuid,
    })
}

/// Builds the rescue ISO from the user's `tree` and writes it to `sink`
/// (see [`prepare`]). Returns the ISO writer's warnings.
pub fn mkrescue(
    tree: Tree,
    opts: &RescueOptions,
    ctx: &BuildContext,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let r = prepare(tree, opts, ctx)?;
    iso::write(&r.tree, &r.iso, ctx, sink, progress)
}

/// grub-mkrescue copies the platform's `*.mod` and `*.lst` files to
/// `/boot/grub/<platform>/`, where GRUB loads `normal` and the rest from.
fn copy_modules(tree: &mut Tree, src: &ModuleSource) -> Result<()> {
    let names: Vec<String> = src
        .names()
        .filter(|n| n.ends_with(".mod") || n.ends_with(".lst"))
        .map(str::to_string)
        .collect();
    for n in names {
        let data = src.read(&n)?;
        tree.add_file(&format!("{BOOT_DIR}/{}/{n}", src.platform()), data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_uuid_is_the_volume_modification_date() {
        // 2024-01-01T00:00:00Z, the default epoch.
        assert_eq!(iso_fs_uuid(1_704_067_200), "2024-01-01-00-00-00-00");
        assert_eq!(iso_fs_uuid(1_700_000_000), "2023-11-14-22-13-20-00");
        assert_eq!(
            early_config("2024-01-01-00-00-00-00"),
            "search --no-floppy --fs-uuid --set=root 2024-01-01-00-00-00-00\nset prefix=($root)/boot/grub\n"
        );
    }

    #[test]
    fn no_source_is_an_error() {
        let e = prepare(
            Tree::new(0),
            &RescueOptions::new(Vec::new()),
            &BuildContext::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("no GRUB module source"), "{e}");
    }
}
