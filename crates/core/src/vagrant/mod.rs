//! Vagrant .box: tar.gz of metadata.json, a Vagrantfile and the provider's
//! disk — `libvirt` (default; box.img as qcow2) or `virtualbox` (box.ovf +
//! box-disk001.vmdk, streamOptimized).

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::open;
pub use write::write;
