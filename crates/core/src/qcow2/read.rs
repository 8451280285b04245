//! qcow2: read (to be written).
