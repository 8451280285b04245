//! cpio: read (to be written).
