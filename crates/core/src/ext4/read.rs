//! ext4 reader (stub while the writer lands).
use crate::io::{ReadAt, Source};
use crate::tree::Tree;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Info {
    pub label: String,
    pub uuid: [u8; 16],
    pub block_size: u32,
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u32,
    pub free_inodes: u32,
    pub features: Vec<String>,
}

pub fn probe(_src: &dyn ReadAt) -> bool {
    false
}
pub fn info(_src: &dyn ReadAt) -> Result<Ext4Info> {
    Err(Error::unsupported("ext4", "reader not written"))
}
pub fn read_tree(_src: Source) -> Result<Tree> {
    Err(Error::unsupported("ext4", "reader not written"))
}
