//! qcow2 images edited in place, for `imgforge resize` and `imgforge part`:
//! the image is opened as its virtual disk, the partition table code edits
//! that [`Disk`] as it would a raw one, and the sectors it changed (its
//! in-memory extents) are written through the core's qcow2 patches
//! ([`Editor`]: copy-on-write into new clusters, refcounts), like qemu would.

use crate::files::open_source;
use anyhow::{bail, Context, Result};
use imgforge_core::container::{self, Format};
use imgforge_core::disk::Data;
use imgforge_core::gpt::edit::{resize, ResizeOptions};
use imgforge_core::io::{ReadAt, Source};
use imgforge_core::qcow2::Editor;
use imgforge_core::size::parse_resize;
use imgforge_core::Disk;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub struct ResizeArgs {
    pub image: PathBuf,
    pub size: String,
    pub grow_last: bool,
    pub shrink: bool,
}

/// `resize` of a qcow2: like `qemu-img resize`, then `sgdisk -e` (and
/// `growpart` with --grow-last) on a GPT disk, in place.
pub fn run(a: ResizeArgs) -> Result<()> {
    if a.shrink {
        bail!("resize: --shrink is not supported for qcow2 images (convert to raw, resize --shrink, convert back)");
    }
    let src = open_source(&a.image)?;
    let opened = imgforge_core::qcow2::open(src.clone())?;
    let mut disk = opened.disk;
    let old = disk.size();
    let new = parse_resize(&a.size, "size")?.grow(old, "size")?;
    let mut notes = Vec::new();
    if let Some(b) = &opened.info.backing_filename {
        // The partition table may live in the backing file: grow only the
        // virtual size, as qemu-img resize does.
        if a.grow_last {
            bail!("resize: {} has a backing file ('{b}'); --grow-last edits images without one (qemu-img rebase -b '' or convert it first)", a.image.display());
        }
        notes.push(format!(
            "note: {} has a backing file ('{b}'): only the virtual size grew; a backup GPT was not moved",
            a.image.display()
        ));
        disk = Disk::new(new);
    } else {
        let opts = ResizeOptions::default().with_grow_last(a.grow_last);
        notes = resize(&mut disk, new, opts)?;
    }
    write_changes(&a.image, &*src, Some(new), &disk)?;
    for n in notes {
        eprintln!("{n}");
    }
    println!("Image resized.");
    Ok(())
}

/// Opens a raw or qcow2 image as a lazy [`Disk`] for in-place editing; the
/// qcow2 file comes back too, for [`write_changes`].
pub fn open_for_edit(path: &Path) -> Result<(Disk, Option<Source>)> {
    let src = open_source(path)?;
    match container::detect(&*src)? {
        Format::Raw => Ok((Disk::from_whole(src)?, None)),
        Format::Qcow2 => {
            let o = imgforge_core::qcow2::open(src.clone())?;
            if let Some(b) = &o.info.backing_filename {
                bail!("{} has a backing file ('{b}'); editing in place works on qcow2 images without one (qemu-img rebase -b '' or convert it first)", path.display());
            }
            Ok((o.disk, Some(src)))
        }
        f => bail!(
            "{} is a {} image; editing in place works on raw and qcow2 images only (convert it to raw first)",
            path.display(),
            f.qemu_name()
        ),
    }
}

/// Writes the extents of `disk` that hold new bytes (not the image's own
/// data) into the qcow2 file `src` opened from `path`, after growing its
/// virtual size to `grow` bytes. Every patch is computed before the first
/// is written, so a refused image is left untouched.
pub fn write_changes(path: &Path, src: &dyn ReadAt, grow: Option<u64>, disk: &Disk) -> Result<()> {
    let mut e = Editor::open(src).with_context(|| format!("editing {}", path.display()))?;
    if let Some(n) = grow {
        e.grow(n)?;
    }
    let mut buf = Vec::new();
    for x in disk.extents() {
        if let Data::Bytes { .. } = x.data {
            buf.resize(x.len as usize, 0);
            x.data.read(0, &mut buf)?;
            e.write(x.offset, &buf)?;
        }
    }
    let patches = e.finish()?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} for writing", path.display()))?;
    for (off, bytes) in patches {
        file.write_all_at(&bytes, off)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(())
}
