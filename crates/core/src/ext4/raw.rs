//! ext4: raw (to be written).
