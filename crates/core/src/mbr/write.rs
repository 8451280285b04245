//! mbr: write (to be written).
