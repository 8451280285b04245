//! gpt: raw (to be written).
