//! imgforge-core: every image format, builder and reader of imgforge.
//!
//! No platform code lives here: no `std::fs`, no clock, no threads (except
//! behind the `parallel` feature), no randomness. Inputs come through
//! [`io::ReadAt`], outputs go to an [`io::Sink`], and the build epoch and seed
//! are parameters (see [`BuildContext`]).
//!
//! Each format has a folder: `raw.rs` (on-disk structures), `read.rs`,
//! `write.rs`. Filesystem writers take a [`tree::Tree`] and return the
//! filesystem as a sparse [`Disk`]; filesystem readers take a [`Source`] and
//! return a [`tree::Tree`] whose file data refers lazily to the source.

pub mod ami;
mod blocks;
pub mod bootcfg;
pub mod build;
pub mod bytes;
pub mod container;
pub mod decompress;
pub mod disk;
pub mod error;
pub mod fs;
pub mod grub;
pub mod image;
pub mod inspect;
pub mod io;
pub mod partitions;
pub mod recipe;
pub mod seed;
pub mod size;
#[cfg(test)]
mod testutil;
pub mod tree;
pub mod ustar;

// Partition tables.
pub mod gpt;
pub mod mbr;

// Filesystems and archives.
pub mod cpio;
pub mod ext4;
pub mod fat;
pub mod iso9660;

// Containers.
pub mod ova;
pub mod qcow2;
pub mod raw_image;
pub mod vagrant;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;

pub use disk::Disk;
pub use error::{Error, Result};
pub use io::{ReadAt, Sink, Source};
pub use seed::BuildContext;
