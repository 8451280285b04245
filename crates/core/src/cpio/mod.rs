//! cpio archives and the Linux initramfs: a deterministic newc writer with
//! gzip and an optional uncompressed prepend (early microcode), and a reader
//! for newc, crc and odc archives, concatenated and compressed as the kernel
//! accepts them.

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::{probe, read_tree, read_tree_capped, READ_MEMORY_CAP};
pub use write::{write, CpioCompression, CpioOptions};
