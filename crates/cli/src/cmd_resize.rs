//! `imgforge resize IMAGE [+|-]SIZE [--grow-last] [--shrink]`: like
//! `qemu-img resize` on a raw or qcow2 image, then `sgdisk -e` (and
//! `growpart` with --grow-last) on a GPT disk. Edits the file in place,
//! writing only the sectors that change (qcow2: cmd_resize_qcow2.rs).

use crate::cmd_part::{open_raw, write_changes};
use anyhow::Result;
use imgforge_core::gpt::edit::{resize, ResizeOptions};
use imgforge_core::size::parse_resize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ResizeArgs {
    /// Image format (raw or qcow2); detected when not given.
    #[arg(short = 'f')]
    pub format: Option<String>,
    /// Allow shrinking a raw image (data past the new end is lost).
    #[arg(long)]
    pub shrink: bool,
    /// Grow the last partition to fill the disk (like growpart); raw and
    /// qcow2 images are edited in place.
    #[arg(long = "grow-last")]
    pub grow_last: bool,
    pub image: PathBuf,
    /// New size (20G), or +SIZE / -SIZE relative to the current one.
    #[arg(allow_hyphen_values = true)]
    pub size: String,
}

pub fn run(a: ResizeArgs) -> Result<()> {
    // qcow2 images are edited through the core's qcow2 patches.
    let fmt = match &a.format {
        Some(f) => imgforge_core::container::Format::parse(f)?,
        None => imgforge_core::container::detect(&crate::files::FileSource::open(&a.image)?)?,
    };
    match fmt {
        imgforge_core::container::Format::Raw => {}
        imgforge_core::container::Format::Qcow2 => {
            return crate::cmd_resize_qcow2::run(crate::cmd_resize_qcow2::ResizeArgs {
                image: a.image,
                size: a.size,
                grow_last: a.grow_last,
                shrink: a.shrink,
            })
        }
        other => anyhow::bail!(
            "resize: {} images cannot be resized (raw and qcow2 can)",
            other.qemu_name()
        ),
    }
    let mut disk = open_raw(&a.image)?;
    let old = disk.size();
    // The shrink policy (--shrink) is resize()'s.
    let new = parse_resize(&a.size, "size")?.apply(old, "size")?;
    let opts = ResizeOptions::default()
        .with_shrink(a.shrink)
        .with_grow_last(a.grow_last);
    let notes = resize(&mut disk, new, opts)?;
    write_changes(&a.image, &disk)?;
    for n in notes {
        eprintln!("{n}");
    }
    println!("Image resized.");
    Ok(())
}
