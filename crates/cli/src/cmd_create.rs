//! `imgforge create [-f FORMAT] IMAGE SIZE`: an empty image, like
//! `qemu-img create` (raw images are sparse files).

use crate::files::AtomicOutput;
use crate::progress_bar::Bar;
use anyhow::Result;
use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::size::parse_size;
use imgforge_core::Disk;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Image format (raw, qcow2, vhd/vpc, vhdx, vmdk).
    #[arg(short = 'f', long = "format", default_value = "raw")]
    pub format: String,
    /// The image to create.
    pub image: PathBuf,
    /// Virtual size: 10G, 512M, 4096 (bytes).
    #[arg(allow_hyphen_values = true)]
    pub size: String,
}

pub fn run(a: CreateArgs) -> Result<()> {
    let format = Format::parse(&a.format)?;
    // qemu-img rounds sizes up to whole 512-byte sectors.
    let size = parse_size(&a.size, "size")?
        .checked_next_multiple_of(512)
        .ok_or_else(|| anyhow::anyhow!("size: '{}' is too large", a.size))?;
    let disk = Disk::new(size);
    let mut out = AtomicOutput::create(&a.image)?;
    let bar = Bar::new();
    container::write(format, &disk, &WriteOptions::default(), &mut out, &bar)?;
    bar.finish();
    out.commit()?;
    Ok(())
}
