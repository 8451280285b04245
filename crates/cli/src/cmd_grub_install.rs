//! `imgforge grub-install [--target=x86_64-efi|i386-pc] [--directory=DIR]
//! [--modules="…"] [--boot-directory=PATH] [--config=FILE] [--removable]
//! IMAGE`: grub-install's habits on a raw or qcow2 image, edited in place
//! as `part` and `resize` do (only the sectors that change are written,
//! after every check passed).
//!
//! The images (BOOTX64.EFI, core.img) are made by grub-mkimage from the
//! module directory (`--directory`, default /usr/lib/grub/TARGET); the
//! installing — the ESP's files, boot.img and core.img's embedding — is the
//! core's `grub::install`.

use anyhow::{bail, Context, Result};
use imgforge_core::grub::install::{install, ImageRequest, Images, InstallOptions, Target};
use imgforge_core::BuildContext;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct GrubInstallArgs {
    /// Platform: x86_64-efi (BOOTX64.EFI on the ESP) or i386-pc (boot.img
    /// into the MBR, core.img into the BIOS boot partition or the MBR gap).
    #[arg(long, default_value = "x86_64-efi")]
    pub target: String,
    /// GRUB's module directory for the target (default /usr/lib/grub/TARGET).
    #[arg(long, short = 'd')]
    pub directory: Option<PathBuf>,
    /// More modules to build into the image, space-separated.
    #[arg(long)]
    pub modules: Option<String>,
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

/// grub-mkimage on this machine, over a module directory.
struct Mkimage {
    dir: PathBuf,
}

impl Mkimage {
    fn tool() -> Option<PathBuf> {
        let path = std::env::var("PATH").unwrap_or_default();
        path.split(':')
            .map(PathBuf::from)
            .chain(["/usr/bin", "/usr/local/bin"].iter().map(PathBuf::from))
            .map(|d| d.join("grub-mkimage"))
            .find(|p| p.is_file())
    }
}

fn core_err(msg: String) -> imgforge_core::Error {
    imgforge_core::Error::invalid("grub-mkimage", msg)
}

impl Images for Mkimage {
    fn make(&self, req: &ImageRequest) -> imgforge_core::Result<Vec<u8>> {
        let tool = Mkimage::tool().ok_or_else(|| {
            core_err("grub-mkimage is not installed (Debian: grub-common)".into())
        })?;
        for m in &req.modules {
            if !self.dir.join(format!("{m}.mod")).is_file() {
                return Err(imgforge_core::Error::invalid(
                    "--modules",
                    format!("no module '{m}' in {}", self.dir.display()),
                ));
            }
        }
        let out = std::env::temp_dir().join(format!(
            "imgforge-grub-{}-{}.img",
            std::process::id(),
            req.target.name()
        ));
        let res = Command::new(tool)
            .arg("-O")
            .arg(req.target.name())
            .arg("-d")
            .arg(&self.dir)
            .arg("-p")
            .arg(&req.prefix)
            .arg("-o")
            .arg(&out)
            .args(&req.modules)
            .output()
            .map_err(|e| imgforge_core::Error::io("running grub-mkimage", e))?;
        let bytes = std::fs::read(&out);
        let _ = std::fs::remove_file(&out);
        if !res.status.success() {
            return Err(core_err(format!(
                "failed: {}",
                String::from_utf8_lossy(&res.stderr).trim()
            )));
        }
        bytes.map_err(|e| imgforge_core::Error::io("reading grub-mkimage's output", e))
    }

    fn file(&self, _target: Target, name: &str) -> imgforge_core::Result<Vec<u8>> {
        let p = self.dir.join(name);
        std::fs::read(&p).map_err(|e| imgforge_core::Error::io(p.display().to_string(), e))
    }

    fn has_module(&self, _target: Target, module: &str) -> bool {
        self.dir.join(format!("{module}.mod")).is_file()
    }
}

fn module_dir(a: &GrubInstallArgs, target: Target) -> Result<PathBuf> {
    let dir = a
        .directory
        .clone()
        .unwrap_or_else(|| Path::new("/usr/lib/grub").join(target.name()));
    if dir.is_file() {
        bail!(
            "--directory: {} is a file; module sources from a tar or .deb are not read yet (unpack it and give the {} directory)",
            dir.display(),
            target.name()
        );
    }
    if !dir.join("moddep.lst").is_file() {
        bail!(
            "--directory: {} is not a GRUB {} module directory (no moddep.lst; Debian: grub-{}-bin)",
            dir.display(),
            target.name(),
            if target == Target::I386Pc { "pc" } else { "efi-amd64" }
        );
    }
    Ok(dir)
}

pub fn run(a: GrubInstallArgs) -> Result<()> {
    let target = Target::parse(&a.target)?;
    let dir = module_dir(&a, target)?;
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
    let mut ctx = BuildContext::default();
    if let Some(e) = crate::tree_dir::env_epoch()? {
        ctx.epoch = e;
    }
    let (mut disk, qcow2) = crate::cmd_resize_qcow2::open_for_edit(&a.image)?;
    let opts = InstallOptions {
        target,
        modules,
        boot_directory: a.boot_directory.clone(),
        config,
    };
    println!("Installing for {} platform.", target.name());
    let done = install(&mut disk, &opts, &Mkimage { dir }, &ctx)
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
