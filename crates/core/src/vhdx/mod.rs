//! VHDX container ([MS-VHDX]): dynamic and fixed disks, read and written.
//! Differencing disks are recognised and refused; a log left by an
//! unclean shutdown is replayed into an in-memory overlay (log.rs).

pub mod log;
#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::open;
pub use write::write;
