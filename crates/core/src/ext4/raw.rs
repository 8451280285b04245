//! ext4 on-disk structures and constants, named as the kernel's
//! Documentation/filesystems/ext4/ (and e2fsprogs lib/ext2fs/ext2_fs.h) names
//! them. All multi-byte fields are little-endian except the JBD2 journal's,
//! which are big-endian.
#![deny(clippy::indexing_slicing)]

use crate::bytes::{Reader, Writer};
use crate::{Error, Result};

/// The superblock lives 1024 bytes into the filesystem ("Super Block", §3.1).
pub const SUPERBLOCK_OFFSET: u64 = 1024;
pub const SUPERBLOCK_SIZE: usize = 1024;
pub const EXT4_SUPER_MAGIC: u16 = 0xEF53;

// Superblock field offsets (struct ext4_super_block).
pub const S_INODES_COUNT: usize = 0x00;
pub const S_BLOCKS_COUNT_LO: usize = 0x04;
pub const S_R_BLOCKS_COUNT_LO: usize = 0x08;
pub const S_FREE_BLOCKS_COUNT_LO: usize = 0x0C;
pub const S_FREE_INODES_COUNT: usize = 0x10;
pub const S_FIRST_DATA_BLOCK: usize = 0x14;
pub const S_LOG_BLOCK_SIZE: usize = 0x18;
pub const S_LOG_CLUSTER_SIZE: usize = 0x1C;
pub const S_BLOCKS_PER_GROUP: usize = 0x20;
pub const S_CLUSTERS_PER_GROUP: usize = 0x24;
pub const S_INODES_PER_GROUP: usize = 0x28;
pub const S_MTIME: usize = 0x2C;
pub const S_WTIME: usize = 0x30;
pub const S_MAX_MNT_COUNT: usize = 0x36;
pub const S_MAGIC: usize = 0x38;
pub const S_STATE: usize = 0x3A;
pub const S_ERRORS: usize = 0x3C;
pub const S_LASTCHECK: usize = 0x40;
pub const S_REV_LEVEL: usize = 0x4C;
pub const S_FIRST_INO: usize = 0x54;
pub const S_INODE_SIZE: usize = 0x58;
pub const S_BLOCK_GROUP_NR: usize = 0x5A;
pub const S_FEATURE_COMPAT: usize = 0x5C;
pub const S_FEATURE_INCOMPAT: usize = 0x60;
pub const S_FEATURE_RO_COMPAT: usize = 0x64;
pub const S_UUID: usize = 0x68;
pub const S_VOLUME_NAME: usize = 0x78;
pub const S_JOURNAL_INUM: usize = 0xE0;
pub const S_HASH_SEED: usize = 0xEC;
pub const S_DEF_HASH_VERSION: usize = 0xFC;
pub const S_JNL_BACKUP_TYPE: usize = 0xFD;
pub const S_DESC_SIZE: usize = 0xFE;
pub const S_DEFAULT_MOUNT_OPTS: usize = 0x100;
pub const S_MKFS_TIME: usize = 0x108;
pub const S_JNL_BLOCKS: usize = 0x10C;
pub const S_BLOCKS_COUNT_HI: usize = 0x150;
pub const S_R_BLOCKS_COUNT_HI: usize = 0x154;
pub const S_FREE_BLOCKS_COUNT_HI: usize = 0x158;
pub const S_MIN_EXTRA_ISIZE: usize = 0x15C;
pub const S_WANT_EXTRA_ISIZE: usize = 0x15E;
pub const S_FLAGS: usize = 0x160;
pub const S_LOG_GROUPS_PER_FLEX: usize = 0x174;
pub const S_CHECKSUM_TYPE: usize = 0x175;
pub const S_CHECKSUM_SEED: usize = 0x270;
pub const S_WTIME_HI: usize = 0x274;
pub const S_MTIME_HI: usize = 0x275;
pub const S_MKFS_TIME_HI: usize = 0x276;
pub const S_LASTCHECK_HI: usize = 0x277;
pub const S_CHECKSUM: usize = 0x3FC;

/// s_flags: directory hashes treat `char` as signed (x86 mke2fs sets this).
pub const EXT2_FLAGS_SIGNED_HASH: u32 = 0x1;
pub const EXT2_FLAGS_UNSIGNED_HASH: u32 = 0x2;

// Feature flags ("Super Block", s_feature_*).
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;
pub const COMPAT_EXT_ATTR: u32 = 0x8;
pub const COMPAT_RESIZE_INODE: u32 = 0x10;
pub const COMPAT_DIR_INDEX: u32 = 0x20;
pub const INCOMPAT_FILETYPE: u32 = 0x2;
pub const INCOMPAT_RECOVER: u32 = 0x4;
pub const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
pub const INCOMPAT_META_BG: u32 = 0x10;
pub const INCOMPAT_EXTENTS: u32 = 0x40;
pub const INCOMPAT_64BIT: u32 = 0x80;
pub const INCOMPAT_MMP: u32 = 0x100;
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
pub const INCOMPAT_EA_INODE: u32 = 0x400;
pub const INCOMPAT_DIRDATA: u32 = 0x1000;
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;
pub const INCOMPAT_INLINE_DATA: u32 = 0x8000;
pub const INCOMPAT_ENCRYPT: u32 = 0x10000;
pub const INCOMPAT_CASEFOLD: u32 = 0x20000;
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
pub const RO_COMPAT_LARGE_FILE: u32 = 0x2;
pub const RO_COMPAT_HUGE_FILE: u32 = 0x8;
pub const RO_COMPAT_GDT_CSUM: u32 = 0x10;
pub const RO_COMPAT_DIR_NLINK: u32 = 0x20;
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

/// Feature names as `dumpe2fs -h` prints them.
pub const FEATURE_NAMES: &[(u8, u32, &str)] = &[
    (0, 0x1, "dir_prealloc"),
    (0, 0x2, "imagic_inodes"),
    (0, COMPAT_HAS_JOURNAL, "has_journal"),
    (0, COMPAT_EXT_ATTR, "ext_attr"),
    (0, COMPAT_RESIZE_INODE, "resize_inode"),
    (0, COMPAT_DIR_INDEX, "dir_index"),
    (0, 0x200, "sparse_super2"),
    (0, 0x400, "fast_commit"),
    (0, 0x1000, "orphan_file"),
    (1, 0x1, "compression"),
    (1, INCOMPAT_FILETYPE, "filetype"),
    (1, INCOMPAT_RECOVER, "needs_recovery"),
    (1, INCOMPAT_JOURNAL_DEV, "journal_dev"),
    (1, INCOMPAT_META_BG, "meta_bg"),
    (1, INCOMPAT_EXTENTS, "extent"),
    (1, INCOMPAT_64BIT, "64bit"),
    (1, INCOMPAT_MMP, "mmp"),
    (1, INCOMPAT_FLEX_BG, "flex_bg"),
    (1, INCOMPAT_EA_INODE, "ea_inode"),
    (1, INCOMPAT_DIRDATA, "dirdata"),
    (1, INCOMPAT_CSUM_SEED, "metadata_csum_seed"),
    (1, INCOMPAT_LARGEDIR, "large_dir"),
    (1, INCOMPAT_INLINE_DATA, "inline_data"),
    (1, INCOMPAT_ENCRYPT, "encrypt"),
    (1, INCOMPAT_CASEFOLD, "casefold"),
    (2, RO_COMPAT_SPARSE_SUPER, "sparse_super"),
    (2, RO_COMPAT_LARGE_FILE, "large_file"),
    (2, 0x4, "btree_dir"),
    (2, RO_COMPAT_HUGE_FILE, "huge_file"),
    (2, RO_COMPAT_GDT_CSUM, "uninit_bg"),
    (2, RO_COMPAT_DIR_NLINK, "dir_nlink"),
    (2, RO_COMPAT_EXTRA_ISIZE, "extra_isize"),
    (2, 0x100, "quota"),
    (2, 0x200, "bigalloc"),
    (2, RO_COMPAT_METADATA_CSUM, "metadata_csum"),
    (2, 0x1000, "read-only"),
    (2, 0x2000, "project"),
    (2, 0x8000, "verity"),
    (2, 0x10000, "orphan_present"),
];

// Group descriptor ("Block Group Descriptors", struct ext4_group_desc).
pub const BG_BLOCK_BITMAP_LO: usize = 0x00;
pub const BG_INODE_BITMAP_LO: usize = 0x04;
pub const BG_INODE_TABLE_LO: usize = 0x08;
pub const BG_FREE_BLOCKS_COUNT_LO: usize = 0x0C;
pub const BG_FREE_INODES_COUNT_LO: usize = 0x0E;
pub const BG_USED_DIRS_COUNT_LO: usize = 0x10;
pub const BG_FLAGS: usize = 0x12;
pub const BG_BLOCK_BITMAP_CSUM_LO: usize = 0x18;
pub const BG_INODE_BITMAP_CSUM_LO: usize = 0x1A;
pub const BG_ITABLE_UNUSED_LO: usize = 0x1C;
pub const BG_CHECKSUM: usize = 0x1E;
pub const BG_BLOCK_BITMAP_HI: usize = 0x20;
pub const BG_INODE_BITMAP_HI: usize = 0x24;
pub const BG_INODE_TABLE_HI: usize = 0x28;
pub const BG_BLOCK_BITMAP_CSUM_HI: usize = 0x38;
pub const BG_INODE_BITMAP_CSUM_HI: usize = 0x3A;
pub const EXT2_MIN_DESC_SIZE: usize = 32;
pub const EXT2_MIN_DESC_SIZE_64BIT: usize = 64;
pub const EXT4_BG_INODE_UNINIT: u16 = 0x1;
pub const EXT4_BG_BLOCK_UNINIT: u16 = 0x2;
pub const EXT4_BG_INODE_ZEROED: u16 = 0x4;

// Reserved inodes ("Special inodes").
pub const EXT2_BAD_INO: u32 = 1;
pub const EXT2_ROOT_INO: u32 = 2;
pub const EXT4_JOURNAL_INO: u32 = 8;
pub const EXT2_GOOD_OLD_FIRST_INO: u32 = 11;

// Inode fields (struct ext4_inode).
pub const I_MODE: usize = 0x00;
pub const I_UID: usize = 0x02;
pub const I_SIZE_LO: usize = 0x04;
pub const I_ATIME: usize = 0x08;
pub const I_CTIME: usize = 0x0C;
pub const I_MTIME: usize = 0x10;
pub const I_GID: usize = 0x18;
pub const I_LINKS_COUNT: usize = 0x1A;
pub const I_BLOCKS_LO: usize = 0x1C;
pub const I_FLAGS: usize = 0x20;
pub const I_BLOCK: usize = 0x28;
pub const I_BLOCK_LEN: usize = 60;
pub const I_GENERATION: usize = 0x64;
pub const I_FILE_ACL_LO: usize = 0x68;
pub const I_SIZE_HIGH: usize = 0x6C;
pub const L_I_BLOCKS_HIGH: usize = 0x74;
pub const L_I_FILE_ACL_HIGH: usize = 0x76;
pub const L_I_UID_HIGH: usize = 0x78;
pub const L_I_GID_HIGH: usize = 0x7A;
pub const L_I_CHECKSUM_LO: usize = 0x7C;
pub const EXT2_GOOD_OLD_INODE_SIZE: usize = 128;
pub const I_EXTRA_ISIZE: usize = 0x80;
pub const I_CHECKSUM_HI: usize = 0x82;
pub const I_CTIME_EXTRA: usize = 0x84;
pub const I_MTIME_EXTRA: usize = 0x88;
pub const I_ATIME_EXTRA: usize = 0x8C;
pub const I_CRTIME: usize = 0x90;
pub const I_CRTIME_EXTRA: usize = 0x94;
/// The extra fields we write (through i_projid): 32 bytes, like mke2fs.
pub const EXTRA_ISIZE: u16 = 32;

// i_flags.
pub const EXT4_INDEX_FL: u32 = 0x1000;
pub const EXT4_HUGE_FILE_FL: u32 = 0x40000;
pub const EXT4_EXTENTS_FL: u32 = 0x80000;
pub const EXT4_EA_INODE_FL: u32 = 0x200000;
pub const EXT4_INLINE_DATA_FL: u32 = 0x10000000;

// Extent tree ("Extent Tree").
pub const EXT4_EXT_MAGIC: u16 = 0xF30A;
/// Longest initialized extent (ee_len above this marks an unwritten one).
pub const EXT_INIT_MAX_LEN: u32 = 32768;

// Directory entries ("Directory Entries"): ext4_dir_entry_2 file types.
pub const EXT4_FT_UNKNOWN: u8 = 0;
pub const EXT4_FT_REG_FILE: u8 = 1;
pub const EXT4_FT_DIR: u8 = 2;
pub const EXT4_FT_CHRDEV: u8 = 3;
pub const EXT4_FT_BLKDEV: u8 = 4;
pub const EXT4_FT_FIFO: u8 = 5;
pub const EXT4_FT_SOCK: u8 = 6;
pub const EXT4_FT_SYMLINK: u8 = 7;
/// det_reserved_ft of the checksum tail (struct ext4_dir_entry_tail).
pub const EXT4_FT_DIR_CSUM: u8 = 0xDE;
pub const DIR_TAIL_SIZE: usize = 12;

// Hash tree ("Hash Tree Directories").
pub const DX_HASH_LEGACY: u8 = 0;
pub const DX_HASH_HALF_MD4: u8 = 1;
pub const DX_HASH_TEA: u8 = 2;
pub const DX_HASH_LEGACY_UNSIGNED: u8 = 3;
pub const DX_HASH_HALF_MD4_UNSIGNED: u8 = 4;
pub const DX_HASH_TEA_UNSIGNED: u8 = 5;

// Extended attributes ("Extended Attributes").
pub const EXT4_XATTR_MAGIC: u32 = 0xEA02_0000;
pub const XATTR_HEADER_SIZE: usize = 32;
pub const XATTR_ENTRY_SIZE: usize = 16;
/// e_name_index prefixes (fs/ext4/xattr.c ext4_xattr_handler_map).
pub const XATTR_PREFIXES: &[(u8, &str)] = &[
    (1, "user."),
    (2, "system.posix_acl_access"),
    (3, "system.posix_acl_default"),
    (4, "trusted."),
    (6, "security."),
    (7, "system."),
    (8, "system.richacl"),
];

// JBD2 ("Journal (jbd2)"), big-endian.
pub const JBD2_MAGIC_NUMBER: u32 = 0xC03B_3998;
pub const JBD2_SUPERBLOCK_V2: u32 = 4;
pub const JBD2_FEATURE_INCOMPAT_64BIT: u32 = 0x2;
pub const JBD2_FEATURE_INCOMPAT_CSUM_V3: u32 = 0x10;
pub const JBD2_CRC32C_CHKSUM: u8 = 4;
pub const EXT3_JNL_BACKUP_BLOCKS: u8 = 1;

/// crc32c as the kernel's `crc32c(crc, data, len)`: no pre- or
/// post-inversion (the crc32c crate inverts both, so undo it).
pub fn crc32c_raw(crc: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!crc, data)
}

/// The little-endian u16 at `off`, 0 past the end (for walking directory
/// blocks and xattr areas whose bounds the caller checks).
pub fn le16(b: &[u8], off: usize) -> u16 {
    Reader::new("ext4", "block", b).le16(off).unwrap_or(0)
}
/// The little-endian u32 at `off`, 0 past the end.
pub fn le32(b: &[u8], off: usize) -> u32 {
    Reader::new("ext4", "block", b).le32(off).unwrap_or(0)
}

/// The superblock ("Super Block", struct ext4_super_block): the fields
/// imgforge reads and writes, with the 64-bit halves joined (the `_hi`
/// halves count only with INCOMPAT_64BIT) and the 40-bit times joined with
/// their `_hi` bytes. Every other field is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub s_inodes_count: u32,
    pub s_blocks_count: u64,
    pub s_r_blocks_count: u64,
    pub s_free_blocks_count: u64,
    pub s_free_inodes_count: u32,
    pub s_first_data_block: u32,
    pub s_log_block_size: u32,
    pub s_log_cluster_size: u32,
    pub s_blocks_per_group: u32,
    pub s_clusters_per_group: u32,
    pub s_inodes_per_group: u32,
    pub s_wtime: u64,
    pub s_max_mnt_count: u16,
    pub s_magic: u16,
    pub s_state: u16,
    pub s_errors: u16,
    pub s_lastcheck: u64,
    pub s_rev_level: u32,
    pub s_first_ino: u32,
    pub s_inode_size: u16,
    pub s_block_group_nr: u16,
    pub s_feature_compat: u32,
    pub s_feature_incompat: u32,
    pub s_feature_ro_compat: u32,
    pub s_uuid: [u8; 16],
    pub s_volume_name: [u8; 16],
    pub s_journal_inum: u32,
    pub s_hash_seed: [u8; 16],
    pub s_def_hash_version: u8,
    pub s_jnl_backup_type: u8,
    pub s_desc_size: u16,
    pub s_default_mount_opts: u32,
    pub s_mkfs_time: u64,
    pub s_jnl_blocks: [u32; 17],
    pub s_min_extra_isize: u16,
    pub s_want_extra_isize: u16,
    pub s_flags: u32,
    pub s_log_groups_per_flex: u8,
    pub s_checksum_type: u8,
}

impl Superblock {
    pub fn parse(b: &[u8]) -> Result<Superblock> {
        let r = Reader::new("ext4", "superblock", b);
        let incompat = r.le32(S_FEATURE_INCOMPAT)?;
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let hi = |o: usize| -> Result<u64> { Ok(if is64 { r.le32(o)? as u64 } else { 0 }) };
        let time = |lo: usize, hi: usize| -> Result<u64> {
            Ok(r.le32(lo)? as u64 | (r.u8(hi)? as u64) << 32)
        };
        let mut s_jnl_blocks = [0u32; 17];
        for (k, v) in s_jnl_blocks.iter_mut().enumerate() {
            *v = r.le32(S_JNL_BLOCKS + 4 * k)?;
        }
        Ok(Superblock {
            s_inodes_count: r.le32(S_INODES_COUNT)?,
            s_blocks_count: r.le32(S_BLOCKS_COUNT_LO)? as u64 | hi(S_BLOCKS_COUNT_HI)? << 32,
            s_r_blocks_count: r.le32(S_R_BLOCKS_COUNT_LO)? as u64 | hi(S_R_BLOCKS_COUNT_HI)? << 32,
            s_free_blocks_count: r.le32(S_FREE_BLOCKS_COUNT_LO)? as u64
                | hi(S_FREE_BLOCKS_COUNT_HI)? << 32,
            s_free_inodes_count: r.le32(S_FREE_INODES_COUNT)?,
            s_first_data_block: r.le32(S_FIRST_DATA_BLOCK)?,
            s_log_block_size: r.le32(S_LOG_BLOCK_SIZE)?,
            s_log_cluster_size: r.le32(S_LOG_CLUSTER_SIZE)?,
            s_blocks_per_group: r.le32(S_BLOCKS_PER_GROUP)?,
            s_clusters_per_group: r.le32(S_CLUSTERS_PER_GROUP)?,
            s_inodes_per_group: r.le32(S_INODES_PER_GROUP)?,
            s_wtime: time(S_WTIME, S_WTIME_HI)?,
            s_max_mnt_count: r.le16(S_MAX_MNT_COUNT)?,
            s_magic: r.le16(S_MAGIC)?,
            s_state: r.le16(S_STATE)?,
            s_errors: r.le16(S_ERRORS)?,
            s_lastcheck: time(S_LASTCHECK, S_LASTCHECK_HI)?,
            s_rev_level: r.le32(S_REV_LEVEL)?,
            s_first_ino: r.le32(S_FIRST_INO)?,
            s_inode_size: r.le16(S_INODE_SIZE)?,
            s_block_group_nr: r.le16(S_BLOCK_GROUP_NR)?,
            s_feature_compat: r.le32(S_FEATURE_COMPAT)?,
            s_feature_incompat: incompat,
            s_feature_ro_compat: r.le32(S_FEATURE_RO_COMPAT)?,
            s_uuid: r.array(S_UUID)?,
            s_volume_name: r.array(S_VOLUME_NAME)?,
            s_journal_inum: r.le32(S_JOURNAL_INUM)?,
            s_hash_seed: r.array(S_HASH_SEED)?,
            s_def_hash_version: r.u8(S_DEF_HASH_VERSION)?,
            s_jnl_backup_type: r.u8(S_JNL_BACKUP_TYPE)?,
            s_desc_size: r.le16(S_DESC_SIZE)?,
            s_default_mount_opts: r.le32(S_DEFAULT_MOUNT_OPTS)?,
            s_mkfs_time: time(S_MKFS_TIME, S_MKFS_TIME_HI)?,
            s_jnl_blocks,
            s_min_extra_isize: r.le16(S_MIN_EXTRA_ISIZE)?,
            s_want_extra_isize: r.le16(S_WANT_EXTRA_ISIZE)?,
            s_flags: r.le32(S_FLAGS)?,
            s_log_groups_per_flex: r.u8(S_LOG_GROUPS_PER_FLEX)?,
            s_checksum_type: r.u8(S_CHECKSUM_TYPE)?,
        })
    }

    /// The 1024 bytes, with s_checksum (crc32c of the bytes before it).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut b = vec![0u8; SUPERBLOCK_SIZE];
        let mut w = Writer::new("ext4", "superblock", &mut b);
        let mut time = |lo: usize, hi: usize, t: u64| -> Result<()> {
            w.le32(lo, t as u32)?;
            w.u8(hi, (t >> 32) as u8)
        };
        time(S_WTIME, S_WTIME_HI, self.s_wtime)?;
        time(S_LASTCHECK, S_LASTCHECK_HI, self.s_lastcheck)?;
        time(S_MKFS_TIME, S_MKFS_TIME_HI, self.s_mkfs_time)?;
        w.le32(S_INODES_COUNT, self.s_inodes_count)?;
        w.le32(S_BLOCKS_COUNT_LO, self.s_blocks_count as u32)?;
        w.le32(S_BLOCKS_COUNT_HI, (self.s_blocks_count >> 32) as u32)?;
        w.le32(S_R_BLOCKS_COUNT_LO, self.s_r_blocks_count as u32)?;
        w.le32(S_R_BLOCKS_COUNT_HI, (self.s_r_blocks_count >> 32) as u32)?;
        w.le32(S_FREE_BLOCKS_COUNT_LO, self.s_free_blocks_count as u32)?;
        w.le32(
            S_FREE_BLOCKS_COUNT_HI,
            (self.s_free_blocks_count >> 32) as u32,
        )?;
        w.le32(S_FREE_INODES_COUNT, self.s_free_inodes_count)?;
        w.le32(S_FIRST_DATA_BLOCK, self.s_first_data_block)?;
        w.le32(S_LOG_BLOCK_SIZE, self.s_log_block_size)?;
        w.le32(S_LOG_CLUSTER_SIZE, self.s_log_cluster_size)?;
        w.le32(S_BLOCKS_PER_GROUP, self.s_blocks_per_group)?;
        w.le32(S_CLUSTERS_PER_GROUP, self.s_clusters_per_group)?;
        w.le32(S_INODES_PER_GROUP, self.s_inodes_per_group)?;
        w.le16(S_MAX_MNT_COUNT, self.s_max_mnt_count)?;
        w.le16(S_MAGIC, self.s_magic)?;
        w.le16(S_STATE, self.s_state)?;
        w.le16(S_ERRORS, self.s_errors)?;
        w.le32(S_REV_LEVEL, self.s_rev_level)?;
        w.le32(S_FIRST_INO, self.s_first_ino)?;
        w.le16(S_INODE_SIZE, self.s_inode_size)?;
        w.le16(S_BLOCK_GROUP_NR, self.s_block_group_nr)?;
        w.le32(S_FEATURE_COMPAT, self.s_feature_compat)?;
        w.le32(S_FEATURE_INCOMPAT, self.s_feature_incompat)?;
        w.le32(S_FEATURE_RO_COMPAT, self.s_feature_ro_compat)?;
        w.put(S_UUID, &self.s_uuid)?;
        w.put(S_VOLUME_NAME, &self.s_volume_name)?;
        w.le32(S_JOURNAL_INUM, self.s_journal_inum)?;
        w.put(S_HASH_SEED, &self.s_hash_seed)?;
        w.u8(S_DEF_HASH_VERSION, self.s_def_hash_version)?;
        w.u8(S_JNL_BACKUP_TYPE, self.s_jnl_backup_type)?;
        w.le16(S_DESC_SIZE, self.s_desc_size)?;
        w.le32(S_DEFAULT_MOUNT_OPTS, self.s_default_mount_opts)?;
        for (k, v) in self.s_jnl_blocks.iter().enumerate() {
            w.le32(S_JNL_BLOCKS + 4 * k, *v)?;
        }
        w.le16(S_MIN_EXTRA_ISIZE, self.s_min_extra_isize)?;
        w.le16(S_WANT_EXTRA_ISIZE, self.s_want_extra_isize)?;
        w.le32(S_FLAGS, self.s_flags)?;
        w.u8(S_LOG_GROUPS_PER_FLEX, self.s_log_groups_per_flex)?;
        w.u8(S_CHECKSUM_TYPE, self.s_checksum_type)?;
        let c = crc32c_raw(!0, w.bytes(0, S_CHECKSUM)?);
        w.le32(S_CHECKSUM, c)?;
        Ok(b)
    }
}

/// A block group descriptor ("Block Group Descriptors", struct
/// ext4_group_desc): 32 bytes, or 64 with the `_hi` halves when the
/// descriptor size is 64. Counts are the 16-bit `_lo` halves (a group holds
/// at most 8 × block size blocks and inodes, so the `_hi` halves are 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDesc {
    pub bg_block_bitmap: u64,
    pub bg_inode_bitmap: u64,
    pub bg_inode_table: u64,
    pub bg_free_blocks_count_lo: u16,
    pub bg_free_inodes_count_lo: u16,
    pub bg_used_dirs_count_lo: u16,
    pub bg_flags: u16,
    pub bg_block_bitmap_csum: u32,
    pub bg_inode_bitmap_csum: u32,
    pub bg_itable_unused_lo: u16,
    pub bg_checksum: u16,
}

impl GroupDesc {
    /// Parses a descriptor of `b.len()` bytes (32 or more).
    pub fn parse(b: &[u8]) -> Result<GroupDesc> {
        let r = Reader::new("ext4", "group descriptor", b);
        let wide = b.len() >= EXT2_MIN_DESC_SIZE_64BIT;
        let hi32 = |o: usize| -> Result<u64> { Ok(if wide { r.le32(o)? as u64 } else { 0 }) };
        let hi16 = |o: usize| -> Result<u32> { Ok(if wide { r.le16(o)? as u32 } else { 0 }) };
        Ok(GroupDesc {
            bg_block_bitmap: r.le32(BG_BLOCK_BITMAP_LO)? as u64 | hi32(BG_BLOCK_BITMAP_HI)? << 32,
            bg_inode_bitmap: r.le32(BG_INODE_BITMAP_LO)? as u64 | hi32(BG_INODE_BITMAP_HI)? << 32,
            bg_inode_table: r.le32(BG_INODE_TABLE_LO)? as u64 | hi32(BG_INODE_TABLE_HI)? << 32,
            bg_free_blocks_count_lo: r.le16(BG_FREE_BLOCKS_COUNT_LO)?,
            bg_free_inodes_count_lo: r.le16(BG_FREE_INODES_COUNT_LO)?,
            bg_used_dirs_count_lo: r.le16(BG_USED_DIRS_COUNT_LO)?,
            bg_flags: r.le16(BG_FLAGS)?,
            bg_block_bitmap_csum: r.le16(BG_BLOCK_BITMAP_CSUM_LO)? as u32
                | hi16(BG_BLOCK_BITMAP_CSUM_HI)? << 16,
            bg_inode_bitmap_csum: r.le16(BG_INODE_BITMAP_CSUM_LO)? as u32
                | hi16(BG_INODE_BITMAP_CSUM_HI)? << 16,
            bg_itable_unused_lo: r.le16(BG_ITABLE_UNUSED_LO)?,
            bg_checksum: r.le16(BG_CHECKSUM)?,
        })
    }

    /// Writes the descriptor into `b` (its length is the descriptor size).
    pub fn encode(&self, b: &mut [u8]) -> Result<()> {
        let wide = b.len() >= EXT2_MIN_DESC_SIZE_64BIT;
        let mut w = Writer::new("ext4", "group descriptor", b);
        w.le32(BG_BLOCK_BITMAP_LO, self.bg_block_bitmap as u32)?;
        w.le32(BG_INODE_BITMAP_LO, self.bg_inode_bitmap as u32)?;
        w.le32(BG_INODE_TABLE_LO, self.bg_inode_table as u32)?;
        if wide {
            w.le32(BG_BLOCK_BITMAP_HI, (self.bg_block_bitmap >> 32) as u32)?;
            w.le32(BG_INODE_BITMAP_HI, (self.bg_inode_bitmap >> 32) as u32)?;
            w.le32(BG_INODE_TABLE_HI, (self.bg_inode_table >> 32) as u32)?;
            w.le16(
                BG_BLOCK_BITMAP_CSUM_HI,
                (self.bg_block_bitmap_csum >> 16) as u16,
            )?;
            w.le16(
                BG_INODE_BITMAP_CSUM_HI,
                (self.bg_inode_bitmap_csum >> 16) as u16,
            )?;
        }
        w.le16(BG_FREE_BLOCKS_COUNT_LO, self.bg_free_blocks_count_lo)?;
        w.le16(BG_FREE_INODES_COUNT_LO, self.bg_free_inodes_count_lo)?;
        w.le16(BG_USED_DIRS_COUNT_LO, self.bg_used_dirs_count_lo)?;
        w.le16(BG_FLAGS, self.bg_flags)?;
        w.le16(BG_BLOCK_BITMAP_CSUM_LO, self.bg_block_bitmap_csum as u16)?;
        w.le16(BG_INODE_BITMAP_CSUM_LO, self.bg_inode_bitmap_csum as u16)?;
        w.le16(BG_ITABLE_UNUSED_LO, self.bg_itable_unused_lo)?;
        w.le16(BG_CHECKSUM, self.bg_checksum)?;
        Ok(())
    }
}

/// An inode ("Index Nodes", struct ext4_inode): the fields imgforge reads
/// and writes, `_hi` halves joined. The fields from `i_extra_isize` on
/// exist only in inodes larger than 128 bytes; they read as 0 when
/// `i_extra_isize` does not cover them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    pub i_mode: u16,
    pub i_uid: u32,
    pub i_size: u64,
    pub i_atime: u32,
    pub i_ctime: u32,
    pub i_mtime: u32,
    pub i_gid: u32,
    pub i_links_count: u16,
    /// 512-byte sectors (no HUGE_FILE_FL).
    pub i_blocks: u64,
    pub i_flags: u32,
    pub i_block: [u8; I_BLOCK_LEN],
    pub i_generation: u32,
    pub i_file_acl: u64,
    pub i_extra_isize: u16,
    pub i_ctime_extra: u32,
    pub i_mtime_extra: u32,
    pub i_atime_extra: u32,
    pub i_crtime: u32,
    pub i_crtime_extra: u32,
}

impl Inode {
    pub fn parse(b: &[u8]) -> Result<Inode> {
        let r = Reader::new("ext4", "inode", b);
        let i_extra_isize = if b.len() > EXT2_GOOD_OLD_INODE_SIZE {
            r.le16(I_EXTRA_ISIZE)?
        } else {
            0
        };
        let extra = |o: usize| -> Result<u32> {
            if EXT2_GOOD_OLD_INODE_SIZE + i_extra_isize as usize >= o + 4 {
                r.le32(o)
            } else {
                Ok(0)
            }
        };
        Ok(Inode {
            i_mode: r.le16(I_MODE)?,
            i_uid: r.le16(I_UID)? as u32 | (r.le16(L_I_UID_HIGH)? as u32) << 16,
            i_size: r.le32(I_SIZE_LO)? as u64 | (r.le32(I_SIZE_HIGH)? as u64) << 32,
            i_atime: r.le32(I_ATIME)?,
            i_ctime: r.le32(I_CTIME)?,
            i_mtime: r.le32(I_MTIME)?,
            i_gid: r.le16(I_GID)? as u32 | (r.le16(L_I_GID_HIGH)? as u32) << 16,
            i_links_count: r.le16(I_LINKS_COUNT)?,
            i_blocks: r.le32(I_BLOCKS_LO)? as u64 | (r.le16(L_I_BLOCKS_HIGH)? as u64) << 32,
            i_flags: r.le32(I_FLAGS)?,
            i_block: r.array(I_BLOCK)?,
            i_generation: r.le32(I_GENERATION)?,
            i_file_acl: r.le32(I_FILE_ACL_LO)? as u64 | (r.le16(L_I_FILE_ACL_HIGH)? as u64) << 32,
            i_extra_isize,
            i_ctime_extra: extra(I_CTIME_EXTRA)?,
            i_mtime_extra: extra(I_MTIME_EXTRA)?,
            i_atime_extra: extra(I_ATIME_EXTRA)?,
            i_crtime: extra(I_CRTIME)?,
            i_crtime_extra: extra(I_CRTIME_EXTRA)?,
        })
    }

    /// Writes the fields into `b` (one inode of the inode size; bytes after
    /// the fields, such as in-inode xattrs, are the caller's). The checksum
    /// halves are left 0 for [`inode_checksum`].
    pub fn encode(&self, b: &mut [u8]) -> Result<()> {
        let large = b.len() > EXT2_GOOD_OLD_INODE_SIZE;
        let mut w = Writer::new("ext4", "inode", b);
        w.le16(I_MODE, self.i_mode)?;
        w.le16(I_UID, self.i_uid as u16)?;
        w.le16(L_I_UID_HIGH, (self.i_uid >> 16) as u16)?;
        w.le32(I_SIZE_LO, self.i_size as u32)?;
        w.le32(I_SIZE_HIGH, (self.i_size >> 32) as u32)?;
        w.le32(I_ATIME, self.i_atime)?;
        w.le32(I_CTIME, self.i_ctime)?;
        w.le32(I_MTIME, self.i_mtime)?;
        w.le16(I_GID, self.i_gid as u16)?;
        w.le16(L_I_GID_HIGH, (self.i_gid >> 16) as u16)?;
        w.le16(I_LINKS_COUNT, self.i_links_count)?;
        w.le32(I_BLOCKS_LO, self.i_blocks as u32)?;
        w.le16(L_I_BLOCKS_HIGH, (self.i_blocks >> 32) as u16)?;
        w.le32(I_FLAGS, self.i_flags)?;
        w.put(I_BLOCK, &self.i_block)?;
        w.le32(I_GENERATION, self.i_generation)?;
        w.le32(I_FILE_ACL_LO, self.i_file_acl as u32)?;
        w.le16(L_I_FILE_ACL_HIGH, (self.i_file_acl >> 32) as u16)?;
        if large {
            w.le16(I_EXTRA_ISIZE, self.i_extra_isize)?;
            w.le32(I_CTIME_EXTRA, self.i_ctime_extra)?;
            w.le32(I_MTIME_EXTRA, self.i_mtime_extra)?;
            w.le32(I_ATIME_EXTRA, self.i_atime_extra)?;
            w.le32(I_CRTIME, self.i_crtime)?;
            w.le32(I_CRTIME_EXTRA, self.i_crtime_extra)?;
        }
        Ok(())
    }
}

/// ext4_inode_csum_set: crc32c over the inode number, the generation and
/// the whole inode with both checksum halves zero, stored in
/// l_i_checksum_lo and i_checksum_hi.
pub fn inode_checksum(b: &mut [u8], ino: u32, csum_seed: u32) -> Result<()> {
    let large = b.len() > EXT2_GOOD_OLD_INODE_SIZE;
    let mut w = Writer::new("ext4", "inode", b);
    w.le16(L_I_CHECKSUM_LO, 0)?;
    if large {
        w.le16(I_CHECKSUM_HI, 0)?;
    }
    let gen = Reader::new("ext4", "inode", w.buf()).le32(I_GENERATION)?;
    let mut c = crc32c_raw(csum_seed, &ino.to_le_bytes());
    c = crc32c_raw(c, &gen.to_le_bytes());
    c = crc32c_raw(c, w.buf());
    w.le16(L_I_CHECKSUM_LO, c as u16)?;
    if large {
        w.le16(I_CHECKSUM_HI, (c >> 16) as u16)?;
    }
    Ok(())
}

/// struct ext4_extent_header ("Extent Tree"): the 12 bytes opening the
/// inode's i_block and every extent block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentHeader {
    pub eh_magic: u16,
    pub eh_entries: u16,
    pub eh_max: u16,
    pub eh_depth: u16,
    pub eh_generation: u32,
}

/// Size of an extent header, an extent and an index entry.
pub const EXTENT_ENTRY_SIZE: usize = 12;

/// The bytes of entry `k` (0-based, after the header) of an extent node.
pub fn extent_entry(node: &mut [u8], k: usize) -> Result<&mut [u8]> {
    let at = k.saturating_add(1).saturating_mul(EXTENT_ENTRY_SIZE);
    crate::bytes::slice_mut("ext4", "extent node", node, at, EXTENT_ENTRY_SIZE)
}

impl ExtentHeader {
    pub fn parse(b: &[u8]) -> Result<ExtentHeader> {
        let r = Reader::new("ext4", "extent header", b);
        Ok(ExtentHeader {
            eh_magic: r.le16(0)?,
            eh_entries: r.le16(2)?,
            eh_max: r.le16(4)?,
            eh_depth: r.le16(6)?,
            eh_generation: r.le32(8)?,
        })
    }

    /// Writes the header at the start of `b`.
    pub fn encode(&self, b: &mut [u8]) -> Result<()> {
        let mut w = Writer::new("ext4", "extent header", b);
        w.le16(0, self.eh_magic)?;
        w.le16(2, self.eh_entries)?;
        w.le16(4, self.eh_max)?;
        w.le16(6, self.eh_depth)?;
        w.le32(8, self.eh_generation)?;
        Ok(())
    }
}

/// struct ext4_extent: a leaf entry mapping `ee_len` blocks from
/// `ee_block` to the 48-bit `ee_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub ee_block: u32,
    pub ee_len: u16,
    pub ee_start: u64,
}

impl Extent {
    pub fn parse(b: &[u8]) -> Result<Extent> {
        let r = Reader::new("ext4", "extent", b);
        Ok(Extent {
            ee_block: r.le32(0)?,
            ee_len: r.le16(4)?,
            ee_start: (r.le16(6)? as u64) << 32 | r.le32(8)? as u64,
        })
    }

    pub fn encode(&self, b: &mut [u8]) -> Result<()> {
        let mut w = Writer::new("ext4", "extent", b);
        w.le32(0, self.ee_block)?;
        w.le16(4, self.ee_len)?;
        w.le16(6, (self.ee_start >> 32) as u16)?;
        w.le32(8, self.ee_start as u32)?;
        Ok(())
    }
}

/// struct ext4_extent_idx: an index entry pointing at the tree block
/// `ei_leaf` covering blocks from `ei_block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentIdx {
    pub ei_block: u32,
    pub ei_leaf: u64,
}

impl ExtentIdx {
    pub fn parse(b: &[u8]) -> Result<ExtentIdx> {
        let r = Reader::new("ext4", "extent index", b);
        Ok(ExtentIdx {
            ei_block: r.le32(0)?,
            ei_leaf: (r.le16(8)? as u64) << 32 | r.le32(4)? as u64,
        })
    }

    pub fn encode(&self, b: &mut [u8]) -> Result<()> {
        let mut w = Writer::new("ext4", "extent index", b);
        w.le32(0, self.ei_block)?;
        w.le32(4, self.ei_leaf as u32)?;
        w.le16(8, (self.ei_leaf >> 32) as u16)?;
        Ok(())
    }
}

/// The JBD2 superblock (journal_superblock_t, v2), big-endian, in the
/// journal's first block; the fields a new, empty journal sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSuperblock {
    pub s_blocksize: u32,
    pub s_maxlen: u32,
    pub s_first: u32,
    pub s_sequence: u32,
    pub s_feature_incompat: u32,
    pub s_uuid: [u8; 16],
    pub s_nr_users: u32,
    pub s_checksum_type: u8,
}

/// Bytes of the JBD2 superblock.
pub const JBD2_SUPERBLOCK_SIZE: usize = 1024;

impl JournalSuperblock {
    pub fn parse(b: &[u8]) -> Result<JournalSuperblock> {
        let r = Reader::new("ext4", "journal superblock", b);
        if r.be32(0x0)? != JBD2_MAGIC_NUMBER {
            return Err(Error::corrupt(
                "ext4",
                "journal superblock",
                "no JBD2 magic",
            ));
        }
        Ok(JournalSuperblock {
            s_blocksize: r.be32(0xC)?,
            s_maxlen: r.be32(0x10)?,
            s_first: r.be32(0x14)?,
            s_sequence: r.be32(0x18)?,
            s_feature_incompat: r.be32(0x28)?,
            s_uuid: r.array(0x30)?,
            s_nr_users: r.be32(0x40)?,
            s_checksum_type: r.u8(0x50)?,
        })
    }

    /// The 1024 bytes, with s_checksum (crc32c of the block with the field
    /// zero) at 0xFC.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut b = vec![0u8; JBD2_SUPERBLOCK_SIZE];
        let mut w = Writer::new("ext4", "journal superblock", &mut b);
        w.be32(0x0, JBD2_MAGIC_NUMBER)?;
        w.be32(0x4, JBD2_SUPERBLOCK_V2)?;
        w.be32(0xC, self.s_blocksize)?;
        w.be32(0x10, self.s_maxlen)?;
        w.be32(0x14, self.s_first)?;
        w.be32(0x18, self.s_sequence)?;
        w.be32(0x28, self.s_feature_incompat)?;
        w.put(0x30, &self.s_uuid)?;
        w.be32(0x40, self.s_nr_users)?;
        w.u8(0x50, self.s_checksum_type)?;
        let c = crc32c_raw(!0, w.buf());
        w.be32(0xFC, c)?;
        Ok(b)
    }
}

/// True if group `g` holds a superblock backup under sparse_super
/// (groups 0, 1 and powers of 3, 5 and 7).
pub fn has_super(g: u64, sparse: bool) -> bool {
    if !sparse || g <= 1 {
        return true;
    }
    for p in [3u64, 5, 7] {
        let mut x = p;
        while x < g {
            x *= p;
        }
        if x == g {
            return true;
        }
    }
    false
}

/// Encodes seconds and nanoseconds as (seconds, extra) as
/// ext4_encode_extra_time does: 2 epoch bits extend the signed 32-bit
/// seconds to 34 bits, the other 30 bits hold nanoseconds.
pub fn encode_time(sec: i64, nsec: u32) -> (u32, u32) {
    // Representable: 1901-12-13 to 2446-05-10; clamp outside that.
    let sec = sec.clamp(i32::MIN as i64, i32::MAX as i64 + (3 << 32));
    let lo = sec as i32;
    let epoch = ((sec - lo as i64) >> 32) as u32 & 3;
    (lo as u32, epoch | (nsec.min(999_999_999) << 2))
}

pub fn decode_time(lo: u32, extra: u32) -> (i64, u32) {
    let sec = lo as i32 as i64 + (((extra & 3) as i64) << 32);
    (sec, extra >> 2)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn extent_and_journal_structures_round_trip() {
        let mut b = [0u8; 24];
        let h = ExtentHeader {
            eh_magic: EXT4_EXT_MAGIC,
            eh_entries: 1,
            eh_max: 4,
            eh_depth: 0,
            eh_generation: 0,
        };
        h.encode(&mut b).unwrap();
        let e = Extent {
            ee_block: 7,
            ee_len: 3,
            ee_start: 0x1_0000_0002,
        };
        e.encode(&mut b[12..]).unwrap();
        assert_eq!(&b[..2], &[0x0A, 0xF3]);
        assert_eq!(ExtentHeader::parse(&b).unwrap(), h);
        assert_eq!(Extent::parse(&b[12..]).unwrap(), e);
        assert!(Extent::parse(&b[16..]).is_err());
        let j = JournalSuperblock {
            s_blocksize: 4096,
            s_maxlen: 1024,
            s_first: 1,
            s_sequence: 1,
            s_feature_incompat: JBD2_FEATURE_INCOMPAT_CSUM_V3,
            s_uuid: [9; 16],
            s_nr_users: 1,
            s_checksum_type: JBD2_CRC32C_CHKSUM,
        };
        let jb = j.encode().unwrap();
        assert_eq!(&jb[..4], &[0xC0, 0x3B, 0x39, 0x98]);
        assert_eq!(JournalSuperblock::parse(&jb).unwrap(), j);
    }

    #[test]
    fn times_round_trip_across_epochs() {
        for s in [
            0i64,
            -1,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            4_200_000_000,
            10_000_000_000,
        ] {
            let (lo, ex) = encode_time(s, 999_999_999);
            assert_eq!(decode_time(lo, ex), (s, 999_999_999), "{s}");
        }
        let (lo, ex) = encode_time(-5_000_000_000, 0);
        assert_eq!(decode_time(lo, ex).0, i32::MIN as i64);
    }

    #[test]
    fn sparse_super_groups() {
        let g: Vec<u64> = (0..100).filter(|&g| has_super(g, true)).collect();
        assert_eq!(g, [0, 1, 3, 5, 7, 9, 25, 27, 49, 81]);
    }
}
