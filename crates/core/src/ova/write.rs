//! ova: write (to be written).
