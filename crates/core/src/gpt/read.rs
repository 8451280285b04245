//! gpt: read (to be written).
