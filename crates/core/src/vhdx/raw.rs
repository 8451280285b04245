//! vhdx: raw (to be written).
