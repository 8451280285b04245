//! vmdk: read (to be written).
