//! ova: read (to be written).
