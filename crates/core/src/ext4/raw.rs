//! ext4 on-disk structures and constants, named as the kernel's
//! Documentation/filesystems/ext4/ (and e2fsprogs lib/ext2fs/ext2_fs.h) names
//! them. All multi-byte fields are little-endian except the JBD2 journal's,
//! which are big-endian.

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

pub fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}
pub fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
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
mod tests {
    use super::*;

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
