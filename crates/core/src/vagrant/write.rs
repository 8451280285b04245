//! vagrant: write (to be written).
