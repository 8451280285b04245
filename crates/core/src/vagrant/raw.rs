//! vagrant: raw (to be written).
