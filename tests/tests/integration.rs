//! The one integration test binary; each module says what it covers.

mod boot;
mod boot_images;
mod cli_basics;
mod cpio;
mod ext4;
mod fat;
mod gpt;
mod iso;
mod ova;
mod recipes;
mod vagrant_box;
mod vhdx;
mod vmdk; // GPT/MBR tables, raw images, resize, inspect, copy --sparse (sgdisk, sfdisk, qemu-img)
mod qcow2;
mod vhd;
