//! OVA (OVF 1.0 package): a ustar archive of the OVF descriptor, a
//! streamOptimized VMDK and a SHA-256 manifest. The writer streams (see
//! write.rs for how the VMDK's size is known before its tar header); the
//! reader opens the VMDK inside the archive without copying it.

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::{parse_ovf, OvfFacts};

pub use read::open;
pub use write::write;
