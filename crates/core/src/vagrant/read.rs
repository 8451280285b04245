//! vagrant: read (to be written).
