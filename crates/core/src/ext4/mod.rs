//! ext4 (and reading ext2/ext3): a writer that lays a tree out like
//! `mke2fs -t ext4 -d DIR`, and a reader for images from mke2fs and from us.

mod htree;
#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::{info, probe, read_tree, Ext4Info};
pub use write::{build, Ext4Options};

#[cfg(test)]
mod tests;
