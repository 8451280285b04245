//! Growing the virtual size of an existing qcow2 image in place, as
//! `qemu-img resize` does. The core cannot open files, so it returns the
//! byte patches `(offset, bytes)` for the caller to write; the work is done
//! by [`Editor::grow`](super::edit::Editor::grow).
//!
//! When the L1 table is large enough, only the header's size changes.
//! Otherwise a larger L1 table is appended at the (cluster-aligned) end of
//! the file, its clusters get refcount 1 (in existing refcount blocks, or in
//! new refcount blocks appended after it, entered in the refcount table or
//! in a larger copy of it), the old L1 clusters (and a moved refcount table)
//! lose theirs, and the header points to the new table. Patches must all be
//! applied, in order; they are not crash-safe.

use super::edit::Editor;
use crate::io::ReadAt;
use crate::Result;

/// The patches that make `src` a qcow2 image of `new_size` bytes. Shrinking
/// is refused.
pub fn grow_patch(src: &dyn ReadAt, new_size: u64) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut e = Editor::open(src)?;
    e.grow(new_size)?;
    e.finish()
}
