//! iso9660

pub mod raw;
pub mod read;
pub mod write;
