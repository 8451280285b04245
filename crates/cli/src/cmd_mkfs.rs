//! `imgforge mkfs fat|ext4 SRC -o IMAGE [--size SIZE] [--label L]`: a bare
//! filesystem image from a directory or a tar archive, like `mke2fs -d` or
//! `mkfs.fat` + `mcopy -s`.

use crate::files::AtomicOutput;
use crate::progress_bar::Bar;
use anyhow::{bail, Result};
use imgforge_core::size::parse_size;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MkfsArgs {
    /// fat (vfat) or ext4.
    pub fs_type: String,
    /// A directory, or a tar / tar.gz / tar.zst / tar.xz archive.
    pub src: PathBuf,
    /// Output image.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Filesystem size (default: fit the content plus headroom).
    #[arg(long)]
    pub size: Option<String>,
    /// Volume label.
    #[arg(short = 'L', long)]
    pub label: Option<String>,
    /// FAT: 12, 16 or 32 (default: as mkfs.fat chooses).
    #[arg(short = 'F', long = "fat-size")]
    pub fat_bits: Option<u8>,
    /// ext4: no journal.
    #[arg(long)]
    pub no_journal: bool,
    /// FAT: symlinks are followed (as mcopy -s does), skipped with a
    /// warning, or an error.
    #[arg(long, value_parser = ["follow", "skip", "error"], default_value = "follow")]
    pub symlinks: String,
    /// Seed for the UUID / volume ID.
    #[arg(long)]
    pub seed: Option<String>,
}

pub fn run(a: MkfsArgs) -> Result<()> {
    let ctx = imgforge_core::BuildContext::resolve(
        None,
        None,
        crate::tree_dir::source_date_epoch().as_deref(),
        a.seed.as_deref(),
    )?;
    let size = a
        .size
        .as_deref()
        .map(|s| parse_size(s, "--size"))
        .transpose()?;
    if !matches!(a.fs_type.as_str(), "fat" | "vfat" | "msdos" | "ext4") {
        bail!("mkfs: '{}' is not fat or ext4", a.fs_type);
    }
    let tree = crate::tree_dir::load_source(&a.src)?;
    let bar = Bar::new();
    let disk = match a.fs_type.as_str() {
        "fat" | "vfat" | "msdos" => {
            let mut opts = imgforge_core::fat::write::FatOptions::default();
            opts.size = size;
            opts.fat_type = match a.fat_bits {
                None => None,
                Some(12) => Some(imgforge_core::fat::raw::FatType::Fat12),
                Some(16) => Some(imgforge_core::fat::raw::FatType::Fat16),
                Some(32) => Some(imgforge_core::fat::raw::FatType::Fat32),
                Some(n) => bail!("--fat-size: {n} is not 12, 16 or 32"),
            };
            opts.label = a.label;
            opts.follow_symlinks = a.symlinks == "follow";
            opts.skip_special = a.symlinks == "skip";
            let (disk, warnings) =
                imgforge_core::fat::write::build_with_warnings(&tree, &opts, &ctx)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            disk
        }
        "ext4" => {
            let mut opts = imgforge_core::ext4::write::Ext4Options::default();
            opts.size = size;
            opts.label = a.label;
            opts.journal = !a.no_journal;
            imgforge_core::ext4::write::build(&tree, &opts, &ctx)?
        }
        other => bail!("mkfs: '{other}' is not fat or ext4"),
    };
    let mut out = AtomicOutput::create(&a.output)?;
    imgforge_core::raw_image::write(&disk, &Default::default(), &mut out, &bar)?;
    bar.finish();
    out.commit()
}
