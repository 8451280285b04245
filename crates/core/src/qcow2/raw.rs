//! qcow2: raw (to be written).
