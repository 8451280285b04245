//! gpt

pub mod raw;
pub mod read;
pub mod write;
