//! vhdx: read (to be written).
