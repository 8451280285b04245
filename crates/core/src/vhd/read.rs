//! vhd: read (to be written).
