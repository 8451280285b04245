//! vmdk: write (to be written).
