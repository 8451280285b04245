//! The one integration test binary; each module says what it covers.

mod cli_basics;
mod fat;
mod ext4;
mod iso;
mod ova;
mod vagrant_box;
mod vhdx;
mod vmdk;
