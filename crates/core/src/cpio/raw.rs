//! cpio: raw (to be written).
