//! vhd: raw (to be written).
