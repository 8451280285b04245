//! cpio: write (to be written).
