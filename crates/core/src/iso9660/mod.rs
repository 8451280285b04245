//! ISO 9660 (ECMA-119) images with Rock Ridge, Joliet, El Torito boot
//! entries and isohybrid MBR/GPT: [`write`] streams an image built from a
//! tree, [`read_tree`] reads one back, [`report`] describes one.

pub mod raw;
pub mod read;
pub mod write;

pub use read::{
    probe, read_tree, render_report, report, BootEntry, IsoReport, SystemArea, VolumeDescriptor,
};
pub use write::{
    build, build_with_warnings, image_size, write, BootImage, Emulation, IsoOptions, RockRidge,
};
