//! ova: raw (to be written).
