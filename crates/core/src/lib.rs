//! imgforge-core: every image format, builder and reader of imgforge.
//!
//! No platform code lives here: no `std::fs`, no clock, no threads (except
//! behind the `parallel` feature), no randomness. Inputs come through
//! [`io::ReadAt`], outputs go to an [`io::Sink`], and the build epoch and seed
//! are parameters (see [`BuildContext`]).

pub mod disk;
pub mod error;
pub mod io;
pub mod seed;
pub mod size;
pub mod tree;

pub use disk::Disk;
pub use error::{Error, Result};
pub use io::{ReadAt, Sink, Source};
pub use seed::BuildContext;
