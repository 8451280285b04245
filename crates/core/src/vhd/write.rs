//! vhd: write (to be written).
