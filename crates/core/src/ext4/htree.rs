//! Hash tree directories ("Hash Tree Directories" in the kernel's ext4
//! docs): the half-MD4 name hash and the dx_root / dx_node blocks.

use super::raw::*;
use super::write::{put16, put32, rec_len};

/// str2hashbuf (fs/ext4/hash.c): packs up to `num` words of the name,
/// padded with the length; `signed` reads bytes as signed chars.
fn str2hashbuf(msg: &[u8], num: usize, signed: bool) -> [u32; 8] {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut out = [pad; 8];
    let mut val = pad;
    let mut w = 0usize;
    let take = msg.len().min(num * 4);
    for (i, &b) in msg[..take].iter().enumerate() {
        let c = if signed {
            b as i8 as i32 as u32
        } else {
            b as u32
        };
        val = c.wrapping_add(val << 8);
        if i % 4 == 3 {
            out[w] = val;
            w += 1;
            val = pad;
        }
    }
    if w < num {
        out[w] = val;
    }
    out
}

/// halfMD4Transform (fs/ext4/hash.c).
fn half_md4(buf: &mut [u32; 4], inp: &[u32; 8]) {
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    let (mut a, mut b, mut c, mut d) = (buf[0], buf[1], buf[2], buf[3]);
    macro_rules! round {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x);
            $a = $a.rotate_left($s);
        };
    }
    round!(f, a, b, c, d, inp[0], 3);
    round!(f, d, a, b, c, inp[1], 7);
    round!(f, c, d, a, b, inp[2], 11);
    round!(f, b, c, d, a, inp[3], 19);
    round!(f, a, b, c, d, inp[4], 3);
    round!(f, d, a, b, c, inp[5], 7);
    round!(f, c, d, a, b, inp[6], 11);
    round!(f, b, c, d, a, inp[7], 19);
    round!(g, a, b, c, d, inp[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, inp[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[6].wrapping_add(K2), 13);
    round!(h, a, b, c, d, inp[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, inp[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[4].wrapping_add(K3), 15);
    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

/// The major hash of `name` with DX_HASH_HALF_MD4 (signed chars, as the
/// superblock's signed_directory_hash flag says).
pub fn half_md4_hash(name: &[u8], seed: &[u32; 4]) -> u32 {
    let mut buf = if seed.iter().any(|&w| w != 0) {
        *seed
    } else {
        [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]
    };
    let mut p = name;
    loop {
        let inp = str2hashbuf(p, 8, true);
        half_md4(&mut buf, &inp);
        if p.len() <= 32 {
            break;
        }
        p = &p[32..];
    }
    let mut hash = buf[1] & !1;
    // EXT4_HTREE_EOF_32BIT is reserved.
    if hash == 0x7fff_ffff << 1 {
        hash = (0x7fff_ffff - 1) << 1;
    }
    hash
}

const DX_ROOT_COUNT_OFFSET: usize = 32;
const DX_NODE_COUNT_OFFSET: usize = 8;
const DX_TAIL: usize = 8;

/// A dx_node block: one empty dirent spanning the block, then the index.
pub fn is_dx_node(b: &[u8]) -> bool {
    // A rec_len of 0 stands for 65536 (ext4_rec_len_from_disk).
    let rec = match le16(b, 4) {
        0 => 65536,
        r => r as usize,
    };
    le32(b, 0) == 0 && rec == b.len() && b[6] == 0
}

/// ext4_dx_csum: over the header and used entries, then the tail with
/// its checksum zeroed.
pub fn dx_csum(b: &mut [u8], count_offset: usize, iseed: u32) {
    let limit = le16(b, count_offset) as usize;
    let count = le16(b, count_offset + 2) as usize;
    let tail = count_offset + limit * 8;
    if tail + DX_TAIL > b.len() || count > limit {
        return;
    }
    put32(b, tail + 4, 0);
    let mut c = crc32c_raw(iseed, &b[..count_offset + count * 8]);
    // The tail with dt_checksum as zero (the kernel's dummy_csum).
    c = crc32c_raw(c, &b[tail..tail + 8]);
    put32(b, tail + 4, c);
}

/// Lays a directory out as a hash tree: block 0 the dx_root, then dx_node
/// blocks (one level at most, as without large_dir), then the leaves
/// sorted by hash. `None` if it needs more levels than that.
pub fn pack(
    entries: &[(&[u8], u32, u8)],
    ino: u32,
    parent: u32,
    bs: u64,
    seed: &[u32; 4],
) -> Option<Vec<Vec<u8>>> {
    let bs = bs as usize;
    let usable = bs - DIR_TAIL_SIZE;
    let mut hashed: Vec<(u32, &[u8], u32, u8)> = entries
        .iter()
        .map(|&(n, i, t)| (half_md4_hash(n, seed), n, i, t))
        .collect();
    hashed.sort();

    // Leaves, each with the hash its index entry carries.
    let mut leaves: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut cur = vec![0u8; bs];
    let mut pos = 0usize;
    let mut last = 0usize;
    let mut start_hash = 0u32;
    let mut prev_hash: Option<u32> = None;
    let finish = |b: &mut Vec<u8>, last: usize| {
        put16(b, last + 4, (usable - last) as u16);
        put16(b, usable + 4, DIR_TAIL_SIZE as u16);
        b[usable + 7] = EXT4_FT_DIR_CSUM;
    };
    for &(h, name, child, ft) in &hashed {
        let need = rec_len(name.len());
        if pos + need > usable {
            finish(&mut cur, last);
            leaves.push((start_hash, std::mem::replace(&mut cur, vec![0u8; bs])));
            pos = 0;
            // The low bit marks a hash continued from the previous leaf.
            start_hash = if prev_hash == Some(h) { h | 1 } else { h };
        }
        put32(&mut cur, pos, child);
        put16(&mut cur, pos + 4, need as u16);
        cur[pos + 6] = name.len() as u8;
        cur[pos + 7] = ft;
        cur[pos + 8..pos + 8 + name.len()].copy_from_slice(name);
        last = pos;
        pos += need;
        prev_hash = Some(h);
    }
    finish(&mut cur, last);
    leaves.push((start_hash, cur));
    leaves[0].0 = 0;

    let root_limit = (bs - DX_ROOT_COUNT_OFFSET - DX_TAIL) / 8;
    let node_limit = (bs - DX_NODE_COUNT_OFFSET - DX_TAIL) / 8;
    let levels = if leaves.len() <= root_limit { 0 } else { 1 };
    let nodes = if levels == 0 {
        0
    } else {
        leaves.len().div_ceil(node_limit)
    };
    if nodes > root_limit {
        return None;
    }
    let mut blocks = Vec::with_capacity(1 + nodes + leaves.len());
    let write_index = |b: &mut [u8], at: usize, limit: usize, ents: &[(u32, u32)]| {
        put16(b, at, limit as u16);
        put16(b, at + 2, ents.len() as u16);
        put32(b, at + 4, ents[0].1);
        for (k, &(h, blk)) in ents.iter().enumerate().skip(1) {
            put32(b, at + 8 * k, h);
            put32(b, at + 8 * k + 4, blk);
        }
    };
    // dx_root: "." and ".." (which spans the block), then dx_root_info.
    let mut root = vec![0u8; bs];
    put32(&mut root, 0, ino);
    put16(&mut root, 4, 12);
    root[6] = 1;
    root[7] = EXT4_FT_DIR;
    root[8] = b'.';
    put32(&mut root, 12, parent);
    put16(&mut root, 16, (bs - 12) as u16);
    root[18] = 2;
    root[19] = EXT4_FT_DIR;
    root[20] = b'.';
    root[21] = b'.';
    root[24 + 4] = DX_HASH_HALF_MD4;
    root[24 + 5] = 8; // info_length
    root[24 + 6] = levels;
    let leaf_base = 1 + nodes as u32;
    if levels == 0 {
        let ents: Vec<(u32, u32)> = leaves
            .iter()
            .enumerate()
            .map(|(k, l)| (l.0, leaf_base + k as u32))
            .collect();
        write_index(&mut root, DX_ROOT_COUNT_OFFSET, root_limit, &ents);
        blocks.push(root);
    } else {
        let mut root_ents = Vec::with_capacity(nodes);
        let mut node_blocks = Vec::with_capacity(nodes);
        for (n, chunk) in leaves.chunks(node_limit).enumerate() {
            let ents: Vec<(u32, u32)> = chunk
                .iter()
                .enumerate()
                .map(|(k, l)| (l.0, leaf_base + (n * node_limit + k) as u32))
                .collect();
            let mut nb = vec![0u8; bs];
            put16(&mut nb, 4, bs as u16);
            write_index(&mut nb, DX_NODE_COUNT_OFFSET, node_limit, &ents);
            root_ents.push((chunk[0].0, 1 + n as u32));
            node_blocks.push(nb);
        }
        write_index(&mut root, DX_ROOT_COUNT_OFFSET, root_limit, &root_ents);
        blocks.push(root);
        blocks.extend(node_blocks);
    }
    blocks.extend(leaves.into_iter().map(|l| l.1));
    Some(blocks)
}
