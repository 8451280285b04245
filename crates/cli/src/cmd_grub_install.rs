//! `imgforge grub-install [--target=x86_64-efi|i386-pc] [--directory=DIR]
//! [--modules="…"] [--boot-directory=PATH] [--config=FILE] [--removable]
//! IMAGE`: grub-install's habits on a raw or qcow2 image, edited in place
//! as `part` and `resize` do (only the sectors that change are written,
//! after every check passed).
//!
//! The images (BOOTX64.EFI, core.img) are made by the core's grub-mkimage
//! from GRUB's module folder, a tar of it or the Debian package
//! (`--directory`, default /usr/lib/grub/TARGET); the installing — the
//! ESP's files, boot.img and core.img's embedding — is the core's
//! `grub::install`.

use anyhow::{bail, Context, Result};
use imgforge_core::grub::install::{install, InstallOptions};
use imgforge_core::grub::Platform;
use imgforge_core::BuildContext;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct GrubInstallArgs {
    /// Platform: x86_64-efi (BOOTX64.EFI on the ESP) or i386-pc (boot.img
    /// into the MBR, core.img into the BIOS boot partition or the MBR gap).
    #[arg(long, default_value = "x86_64-efi")]
    pub target: String,
    /// GRUB's module folder for the target (default /usr/lib/grub/TARGET),
    /// a tar of it, or the Debian package (grub-efi-amd64-bin, grub-pc-bin).
    #[arg(long, short = 'd', value_name = "DIR|TAR|DEB")]
    pub directory: Option<PathBuf>,
    /// More modules to build into the image, space-separated.
    #[arg(long)]
    pub modules: Option<String>,
    /// Modules to copy into BOOTDIR/TARGET/ for insmod at boot (with what
    /// they need), space-separated; default all, "" none.
    #[arg(long = "install-modules", value_name = "MODULES")]
    pub install_modules: Option<String>,
    /// Where grub.cfg is: /PATH on the ESP (default /EFI/BOOT), or on the
    /// first filesystem GRUB reads when there is no ESP (default
    /// /boot/grub); N:/PATH for partition N.
    #[arg(long = "boot-directory")]
    pub boot_directory: Option<String>,
    /// grub.cfg to write into the boot directory (without it, an existing
    /// grub.cfg is left as it is).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Install to the removable-media path /EFI/BOOT/BOOTX64.EFI (always
    /// done: an image has no NVRAM to hold a boot entry).
    #[arg(long)]
    pub removable: bool,
    /// The disk image (raw or qcow2), edited in place.
    pub image: PathBuf,
}

pub fn run(a: GrubInstallArgs) -> Result<()> {
    let target = Platform::parse(&a.target).map_err(|_| {
        anyhow::anyhow!(
            "--target: '{}' is not a platform imgforge installs (x86_64-efi, i386-pc)",
            a.target
        )
    })?;
    let dir = a
        .directory
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/usr/lib/grub/{}", target.name())));
    let src = crate::cmd_grub_mkimage::load(&dir, target)?;
    if src.platform() != target {
        bail!(
            "--directory: {} holds {} modules, not {}",
            dir.display(),
            src.platform().name(),
            target.name()
        );
    }
    let mut modules = Vec::new();
    for m in a.modules.as_deref().unwrap_or("").split_whitespace() {
        if m.starts_with('-') || m.contains('/') {
            bail!("--modules: '{m}' is not a module name");
        }
        modules.push(m.to_string());
    }
    let config = match &a.config {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let ctx = BuildContext::resolve(
        None,
        None,
        crate::tree_dir::source_date_epoch().as_deref(),
        None,
    )?;
    let (mut disk, qcow2) = crate::cmd_resize_qcow2::open_for_edit(&a.image)?;
    let opts = InstallOptions {
        target,
        modules,
        boot_directory: a.boot_directory.clone(),
        config,
        install_modules: a
            .install_modules
            .as_deref()
            .map(|l| l.split_whitespace().map(str::to_string).collect()),
    };
    println!("Installing for {} platform.", target.name());
    let done = install(&mut disk, &opts, &src, &ctx)
        .with_context(|| format!("grub-install into {}", a.image.display()))?;
    match &qcow2 {
        Some(src) => crate::cmd_resize_qcow2::write_changes(&a.image, &**src, None, &disk)?,
        None => crate::cmd_part::write_changes(&a.image, &disk)?,
    }
    for n in &done.notes {
        eprintln!("note: {n}");
    }
    for d in &done.done {
        println!("  {d}");
    }
    println!("Installation finished. No error reported.");
    Ok(())
}
