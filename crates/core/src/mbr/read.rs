//! mbr: read (to be written).
