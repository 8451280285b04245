//! imgforge-core: every image format, builder and reader of imgforge.
//!
//! No platform code lives here: no `std::fs`, no clock, no threads (except
//! behind the `parallel` feature), no randomness. Inputs come through
//! [`ReadAt`], outputs go to a [`Sink`], and the build epoch and seed are
//! parameters (see [`BuildContext`]).
//!
//! The map (docs/architecture.md has the data flow):
//!
//! - front end: [`recipe`] (one schema, TOML or JSON) and [`build`] (a
//!   recipe into a sink, from [`build::Inputs`] the caller provides);
//! - containers: [`container`] detects and dispatches to [`raw_image`],
//!   [`qcow2`], [`vhd`], [`vhdx`], [`vmdk`], [`ova`], [`vagrant`]; each has
//!   `read::open` (the container's virtual disk as a lazy [`Disk`]) and
//!   `write::write` (a [`Disk`] streamed front to back), on the shared
//!   types [`Format`], [`WriteOptions`], [`Opened`], [`Info`];
//! - partition tables: [`gpt`] (with sgdisk-style [`gpt::edit`] and
//!   resize), [`mbr`]; [`partitions`] reads either into one report;
//! - filesystems and archives: [`fat`], [`ext4`], [`iso9660`], [`cpio`],
//!   each with `read::read_tree` (a [`tree::Tree`] whose file data refers
//!   lazily to the image) and `write::build` / `write::write` (a tree in);
//!   [`fs`] finds the filesystem inside any image;
//! - [`inspect`]: what an image is, as `imgforge inspect` reports it.
//!
//! Each format has a folder: `raw.rs` (on-disk structures), `read.rs`,
//! `write.rs`.
//!
//! # Example
//!
//! Build a recipe into memory, then open the image and list a directory of
//! its filesystem:
//!
//! ```
//! use imgforge_core::build::{build, NoInputs};
//! use imgforge_core::recipe::{parse, Syntax};
//! use imgforge_core::{fs, io::NoProgress, tree::mode_string, BuildContext};
//! use std::sync::Arc;
//!
//! # fn main() -> imgforge_core::Result<()> {
//! let recipe = parse(
//!     r#"
//!     [output]
//!     format = "qcow2"
//!
//!     [disk]
//!     size = "64M"
//!
//!     [[partition]]
//!     type = "ef00"
//!     size = "rest"
//!     filesystem = { type = "fat", label = "ESP", contents = [
//!         { text = "hello\n", at = "/EFI/BOOT/hello.txt" },
//!     ] }
//!     "#,
//!     Syntax::Toml,
//! )?;
//! let ctx = BuildContext::resolve(recipe.build.as_ref(), None, None, None)?;
//! let mut image = Vec::new();
//! build(&recipe, &NoInputs, &ctx, &mut image, &NoProgress)?;
//!
//! // Any container, partition 1, the directory /EFI/BOOT.
//! let tree = fs::open_tree(Arc::new(image), Some(1))?;
//! let dir = tree.lookup("/EFI/BOOT").expect("the directory is there");
//! for (name, id) in tree.children(dir) {
//!     let node = tree.node(id);
//!     println!("{} {name}", mode_string(node.kind.type_bits() | node.meta.mode));
//! }
//! assert_eq!(tree.children(dir).map(|(n, _)| n).collect::<Vec<_>>(), ["hello.txt"]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

// The front end.
pub mod build;
pub mod recipe;

// Shared foundations.
mod blocks;
mod bootcfg;
pub mod bytes;
mod decompress;
pub mod disk;
pub mod error;
mod image;
pub mod io;
mod seed;
pub mod size;
#[cfg(test)]
mod testutil;
pub mod tree;
mod ustar;

// Reading any image.
pub mod fs;
pub mod inspect;
pub mod partitions;

// Partition tables.
pub mod gpt;
pub mod mbr;

// Filesystems and archives.
pub mod cpio;
pub mod ext4;
pub mod fat;
pub mod iso9660;

// Boot loaders.
pub mod grub;

// Containers.
pub mod ami;
pub mod container;
pub mod ova;
pub mod qcow2;
pub mod raw_image;
pub mod vagrant;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;

pub use disk::Disk;
pub use error::{Error, Result};
pub use image::{Format, Info, Opened, VmSpec, WriteOptions};
pub use io::{ReadAt, Sink, Source};
pub use seed::{format_uuid, parse_source_date_epoch, BuildContext, BuildSection};
