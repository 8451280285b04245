//! iso9660: write (to be written).
