//! `imgforge grub-mkrescue`: a bootable GRUB rescue ISO (BIOS and/or UEFI,
//! CD and hard disk) from GRUB's module folders and the user's files.

use crate::files::{open_source, AtomicOutput};
use anyhow::{bail, Context, Result};
use imgforge_core::grub::{self, ModuleSource, RescueOptions};
use imgforge_core::io::NoProgress;
use imgforge_core::tree::Tree;
use imgforge_core::BuildContext;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct GrubMkrescueArgs {
    /// The ISO to write.
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,
    /// A GRUB module source: a platform folder (/usr/lib/grub/i386-pc,
    /// /usr/lib/grub/x86_64-efi), a tar of one, or the Debian package
    /// (grub-pc-bin, grub-efi-amd64-bin). One per platform; the platform is
    /// read from the source.
    #[arg(short = 'd', long = "directory", value_name = "DIR|TAR|DEB", action = clap::ArgAction::Append)]
    pub directory: Vec<PathBuf>,
    /// More modules to embed in the images (space- or comma-separated).
    #[arg(long = "modules", value_name = "MODULES", action = clap::ArgAction::Append)]
    pub modules: Vec<String>,
    /// Volume identifier.
    #[arg(short = 'V', long = "volid", value_name = "ID")]
    pub volid: Option<String>,
    /// The ISO's files: directories or tar archives, merged in order. The
    /// first should hold /boot/grub/grub.cfg.
    #[arg(value_name = "SRCDIR")]
    pub sources: Vec<PathBuf>,
}

pub fn run(a: GrubMkrescueArgs) -> Result<()> {
    if a.directory.is_empty() {
        bail!("no GRUB module source: give --directory with an i386-pc and/or x86_64-efi folder, tar or .deb");
    }
    let sources = a
        .directory
        .iter()
        .map(|d| load(d))
        .collect::<Result<Vec<_>>>()?;
    let ctx = BuildContext::resolve(
        None,
        None,
        crate::tree_dir::source_date_epoch().as_deref(),
        None,
    )?;
    let mut tree = Tree::new(ctx.epoch);
    for s in &a.sources {
        crate::tree_dir::load_source_into(&mut tree, s)?;
    }
    let mut opts = RescueOptions::new(sources);
    opts.modules = a
        .modules
        .iter()
        .flat_map(|m| m.split([' ', ',']))
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(v) = a.volid {
        opts.volume_id = v;
    }
    // Everything that can fail on the input is checked before the output
    // file exists.
    let r = grub::rescue::prepare(tree, &opts, &ctx)?;
    let mut out = AtomicOutput::create(&a.output)?;
    let warnings = imgforge_core::iso9660::write(&r.tree, &r.iso, &ctx, &mut out, &NoProgress)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    out.commit()
}

/// A module source of whichever platform it holds.
fn load(path: &Path) -> Result<ModuleSource> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if meta.is_dir() {
        // The folder's platform comes from its modinfo.sh, name or kernel.
        return crate::cmd_grub_mkimage::load(path, grub::Platform::I386Pc);
    }
    Ok(ModuleSource::from_archive(open_source(path)?, None)?)
}
