//! ext4: write (to be written).
