//! Raw disk images: the virtual disk byte for byte. The reader keeps a
//! sparse input's holes as holes; the writer writes holes (and all-zero
//! blocks) as holes, so a file sink makes a sparse file.

pub mod read;
pub mod write;

pub use read::open;
pub use write::write;
