//! GRUB: installing it into disk images (`grub-install`'s habits).
//!
//! - [`install`]: the EFI System Partition's removable-media path, the
//!   boot directory's `grub.cfg`, and i386-pc embedding ([`embed`]).

pub mod embed;
pub mod install;
