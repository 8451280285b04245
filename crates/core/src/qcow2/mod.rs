//! qcow2 container (qemu's docs/interop/qcow2.txt): a streaming version 3
//! writer (optionally compressed, in parallel with the `parallel` feature), a
//! reader for versions 2 and 3, and in-place edits ([`edit::Editor`]: grow,
//! write guest bytes) for `resize` and `part`.

pub mod edit;
#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod resize;
pub mod write;

pub use edit::{edit_patch, Editor};
pub use read::{open_with_backing, Qcow2Reader};
pub use resize::grow_patch;
pub use write::{compress_cluster, PushWriter};

pub use read::open;
pub use write::write;

#[cfg(test)]
pub(crate) mod tests;
