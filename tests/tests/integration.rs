//! The one integration test binary; each module says what it covers.

mod boot;
mod cli_basics;
mod cpio;
