//! mbr: raw (to be written).
