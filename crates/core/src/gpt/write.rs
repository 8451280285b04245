//! gpt: write (to be written).
