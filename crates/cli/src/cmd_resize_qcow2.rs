//! `imgforge resize`, like `qemu-img resize`: grow a raw or qcow2 image in
//! place (qcow2 through the core's byte patches; shrinking is refused).

use crate::files::FileSource;
use anyhow::{bail, Context, Result};
use imgforge_core::container::{detect, Format};
use imgforge_core::io::ReadAt;
use imgforge_core::size::{parse_resize, Resize};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

pub struct ResizeArgs {
    pub format: Option<String>,
    pub image: PathBuf,
    pub size: String,
}

pub fn run(a: ResizeArgs) -> Result<()> {
    let src = FileSource::open(&a.image)?;
    let fmt = match &a.format {
        Some(f) => Format::parse(f)?,
        None => detect(&src)?,
    };
    let current = match fmt {
        Format::Raw => src.size(),
        Format::Qcow2 => imgforge_core::qcow2::read::validate(&src)?.header.size,
        other => bail!(
            "resize: {} images cannot be resized (raw and qcow2 can)",
            other.qemu_name()
        ),
    };
    let new = match parse_resize(&a.size, "size")? {
        Resize::To(n) => n,
        Resize::Grow(n) => current.checked_add(n).context("size: too large")?,
        Resize::Shrink(_) => bail!("size: shrinking is not supported"),
    };
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
