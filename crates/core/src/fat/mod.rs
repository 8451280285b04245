//! FAT12/16/32 filesystems, as mkfs.fat + mcopy make them and as mtools,
//! Linux vfat and UEFI firmware read them.
//!
//! - [`build`] lays a [`crate::tree::Tree`] out as a new volume in one pass
//!   (geometry as dosfstools 4.2 chooses it, names as Linux vfat / mtools).
//! - [`read_tree`] reads any FAT volume back into a tree whose file data are
//!   runs of the image; [`probe`] and [`info`] serve `inspect`.
//! - [`edit::Editor`] adds and replaces files in an existing volume in place.

pub mod edit;
#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use raw::FatType;
pub use read::{info, probe, read_tree, read_tree_with_label, FatInfo};
pub use write::{build, build_with_warnings, geometry, FatOptions, Geometry};

#[cfg(test)]
mod tests;
