//! VHD container (qemu's `vpc`): fixed and dynamic, written front to back,
//! read back with qemu's size rules.
//!
//! Size: a new image's size is rounded up to the next size a CHS geometry
//! (cylinders x heads x sectors, spec "CHS Calculation") can describe, the
//! extra bytes reading as zeros, exactly as `qemu-img convert -O vpc` does;
//! the footer's current_size then equals the geometry's size and every
//! reader (geometry- or current_size-based) sees the same disk. Disks over
//! 65535 x 16 x 255 sectors (about 127 GiB) get the maximum geometry and
//! keep their size (rounded up to a sector) in current_size, which qemu
//! uses in that case. The limit is 2040 GiB, as qemu's.

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::open;
pub use write::write;

#[cfg(test)]
mod tests;
