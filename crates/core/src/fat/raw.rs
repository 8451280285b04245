//! fat: raw (to be written).
