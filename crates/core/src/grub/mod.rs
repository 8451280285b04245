//! GRUB boot loader images, made from GRUB's own module files as
//! grub-mkimage makes them (docs/grub.md).
//!
//! - [`source`]: a platform folder's files, a tar of them, or the Debian
//!   package ([`ModuleSource`]).
//! - [`moddep`]: `moddep.lst` and the order modules are embedded in.
//! - [`mkimage`]: the image ([`mkimage()`]): PE32+ for x86_64-efi, `core.img`
//!   for i386-pc.
//! - [`lzma`]: the raw LZMA encoder for `core.img`.
//! - [`info`]: reading an image back (target, prefix, modules).
//! - [`raw`]: ELF, PE/COFF and GRUB module-area structures.

pub mod info;
pub mod lzma;
pub mod mkimage;
pub mod moddep;
pub mod raw;
pub mod source;

pub use info::GrubImage;
pub use mkimage::{mkimage, MkimageOptions};
pub use source::{ModuleSource, Platform};

#[cfg(test)]
mod tests;
