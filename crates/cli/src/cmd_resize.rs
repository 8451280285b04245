//! `imgforge resize IMAGE [+|-]SIZE [--grow-last] [--shrink]`: like
//! `qemu-img resize` on a raw image, then `sgdisk -e` (and `growpart` with
//! --grow-last) on a GPT disk. Edits the file in place, writing only the
//! sectors that change.

use crate::cmd_part::{open_raw, write_changes};
use anyhow::Result;
use imgforge_core::gpt::edit::{resize, ResizeOptions};
use imgforge_core::size::{parse_resize, Resize};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ResizeArgs {
    /// Allow shrinking (data past the new end is lost).
    #[arg(long)]
    pub shrink: bool,
    /// Grow the last partition to fill the disk (like growpart).
    #[arg(long = "grow-last")]
    pub grow_last: bool,
    pub image: PathBuf,
    /// New size (20G), or +SIZE / -SIZE relative to the current one.
//! `imgforge resize`, like `qemu-img resize`: grow a raw or qcow2 image in
//! place (qcow2 through the core's byte patches; shrinking is refused).

use crate::files::FileSource;
use anyhow::{bail, Context, Result};
use clap::Args;
use imgforge_core::container::{detect, Format};
use imgforge_core::io::ReadAt;
use std::os::unix::fs::FileExt;

#[derive(Args)]
    /// Image format (raw or qcow2); detected when not given.
    #[arg(short = 'f')]
    pub format: Option<String>,
    /// New size: `20G`, or `+1G` to grow by.
    #[arg(allow_hyphen_values = true)]
    pub size: String,
}

pub fn run(a: ResizeArgs) -> Result<()> {
    let mut disk = open_raw(&a.image)?;
    let old = disk.size();
    let new = match parse_resize(&a.size, "size")? {
        Resize::To(n) => n,
        Resize::Grow(n) => old
            .checked_add(n)
            .ok_or_else(|| anyhow::anyhow!("size: {} is too large", a.size))?,
        Resize::Shrink(n) => old.checked_sub(n).ok_or_else(|| {
            anyhow::anyhow!("size: cannot shrink a {old}-byte image by {n} bytes")
        })?,
    };
    let notes = resize(
        &mut disk,
        new,
        ResizeOptions {
            shrink: a.shrink,
            grow_last: a.grow_last,
        },
    )?;
    write_changes(&a.image, &disk)?;
    for n in notes {
        eprintln!("{n}");
    }
    println!("Image resized.");
    let src = FileSource::open(&a.image)?;
    let fmt = match &a.format {
        Some(f) => Format::parse(f)?,
        None => detect(&src)?,
    let current = match fmt {
        Format::Raw => src.size(),
        Format::Qcow2 => imgforge_core::qcow2::read::validate(&src)?.header.size,
        other => bail!(
            "resize: {} images cannot be resized (raw and qcow2 can)",
            other.qemu_name()
        ),
        Resize::Grow(n) => current.checked_add(n).context("size: too large")?,
        Resize::Shrink(_) => bail!("size: shrinking is not supported"),
    if new < current {
        bail!("size: shrinking ({current} to {new} bytes) is not supported");
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&a.image)
        .with_context(|| format!("cannot open {} for writing", a.image.display()))?;
    match fmt {
        Format::Raw => file.set_len(new)?,
        _ => {
            let patches = imgforge_core::qcow2::grow_patch(&src, new)?;
            for (off, bytes) in patches {
                file.write_all_at(&bytes, off)
                    .with_context(|| format!("writing {}", a.image.display()))?;
            }
            file.sync_all()?;
        }
    }
    Ok(())
}
