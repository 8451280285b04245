//! ext4: read (to be written).
