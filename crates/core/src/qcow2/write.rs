//! qcow2: write (to be written).
