//! iso9660: read (to be written).
