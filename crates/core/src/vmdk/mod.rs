//! VMDK container (VMware Virtual Disk Format 1.1): monolithicSparse and
//! streamOptimized written; those plus flat/sparse descriptors read.

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::{open_descriptor, parse_descriptor, Descriptor, ExtentLine};

pub use read::open;
pub use write::write;
