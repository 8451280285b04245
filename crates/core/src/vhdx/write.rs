//! vhdx: write (to be written).
