//! The one integration test binary; each module says what it covers.

mod cli_basics;
mod qcow2;
mod vhd;
