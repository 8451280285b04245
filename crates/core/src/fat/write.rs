//! fat: write (to be written).
