//! The one integration test binary; each module says what it covers.

mod boot;
mod cli_basics;
mod ext4;
mod fat;
mod iso;
mod ova;
mod vagrant_box;
mod vhdx;
mod vmdk;
mod cpio;
