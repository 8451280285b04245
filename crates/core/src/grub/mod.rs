//! GRUB boot loader images, made from GRUB's own module files as
//! grub-mkimage makes them (docs/grub.md), and installed into disk images
//! as grub-install does (docs/grub-install.md).
//!
//! - [`source`]: a platform folder's files, a tar of them, or the Debian
//!   package ([`ModuleSource`]).
//! - [`moddep`]: `moddep.lst` and the order modules are embedded in.
//! - [`mkimage`]: the image ([`mkimage()`]): PE32+ for x86_64-efi, `core.img`
//!   for i386-pc.
//! - [`lzma`]: the raw LZMA encoder for `core.img`.
//! - [`info`]: reading an image back (target, prefix, modules).
//! - [`raw`]: ELF, PE/COFF and GRUB module-area structures.
//! - [`rescue`]: a bootable rescue ISO as grub-mkrescue makes it
//!   ([`mkrescue()`]).
//! - [`install`]: the EFI System Partition's removable-media path, the
//!   boot directory's `grub.cfg`, and i386-pc embedding ([`embed`]).

pub mod embed;
pub mod info;
pub mod install;
pub mod lzma;
pub mod mkimage;
pub mod moddep;
#[allow(missing_docs)]
pub mod raw;
pub mod rescue;
pub mod source;

pub use info::GrubImage;
pub use mkimage::{mkimage, mkimage_eltorito, MkimageOptions};
pub use rescue::{mkrescue, RescueIso, RescueOptions};
pub use source::{ModuleSource, Platform};

#[cfg(test)]
mod tests;
