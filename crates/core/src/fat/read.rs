//! fat: read (to be written).
