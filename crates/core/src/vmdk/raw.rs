//! vmdk: raw (to be written).
