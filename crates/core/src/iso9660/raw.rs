//! iso9660: raw (to be written).
