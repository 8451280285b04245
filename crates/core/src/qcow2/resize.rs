//! Growing the virtual size of an existing qcow2 image in place, as
//! `qemu-img resize` does. The core cannot open files, so it returns the
//! byte patches `(offset, bytes)` for the caller to write.
//!
//! When the L1 table is large enough, only the header's size changes.
//! Otherwise a larger L1 table is appended at the (cluster-aligned) end of
//! the file, its clusters get refcount 1 (in existing refcount blocks, or in
//! new refcount blocks appended after it, entered in the refcount table or
//! in a larger copy of it appended last), the old L1 clusters (and a moved
//! refcount table) get refcount 0, and the header points to the
//! new table. Patches must all be applied; they are not crash-safe.

use super::raw::*;
use super::read::validate;
use crate::io::{read_vec, ReadAt};
use crate::{Error, Result};

const F: &str = "qcow2";

/// The patches that make `src` a qcow2 image of `new_size` bytes. Shrinking
/// is refused.
pub fn grow_patch(src: &dyn ReadAt, new_size: u64) -> Result<Vec<(u64, Vec<u8>)>> {
    let v = validate(src)?;
    let h = &v.header;
    if h.incompatible_features & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT) != 0 {
        return Err(Error::unsupported(
            F,
            "the image is marked dirty or corrupt; run qemu-img check -r all first",
        ));
    }
    if new_size < h.size {
        return Err(Error::invalid(
            "size",
            format!(
                "shrinking a qcow2 image ({} to {new_size} bytes) is not supported",
                h.size
            ),
        ));
    }
    if new_size & 511 != 0 {
        return Err(Error::invalid(
            "size",
            "the new size must be a multiple of 512",
        ));
    }
    let cs = 1u64 << h.cluster_bits;
    let mut patches = vec![(24u64, new_size.to_be_bytes().to_vec())];
    let needed = new_size.div_ceil(cs).div_ceil(cs / 8);
    if needed <= h.l1_size as u64 {
        return Ok(patches);
    }
    if needed * 8 > MAX_L1_BYTES || needed > u32::MAX as u64 {
        return Err(Error::invalid(
            "size",
            "the L1 table would exceed qemu's 32 MiB limit",
        ));
    }
    if h.refcount_order != 4 {
        return Err(Error::unsupported(
            F,
            format!(
                "growing images with {}-bit refcounts",
                1u32 << h.refcount_order.min(6)
            ),
        ));
    }
    let file_size = src.size();
    let per_block = cs / 2;
    let rt_entries = h.refcount_table_clusters as u64 * cs / 8;
    let rt = read_vec(
        src,
        h.refcount_table_offset,
        rt_entries * 8,
        MAX_REFTABLE_BYTES,
        "qcow2 refcount table",
    )?;
    let rt_entry = |i: u64| be64(&rt, (i * 8) as usize) & OFFSET_MASK;

    // New L1 clusters, then as many new refcount blocks as they need, then
    // (if the old one is too small) a new refcount table.
    let first = file_size.div_ceil(cs);
    let l1_clusters = (needed * 8).div_ceil(cs);
    let mut new_blocks: Vec<u64> = Vec::new(); // refcount table indices
    let mut new_rt_clusters = 0u64;
    loop {
        let end = first + l1_clusters + new_blocks.len() as u64 + new_rt_clusters;
        let mut missing: Vec<u64> = (first..end)
            .map(|c| c / per_block)
            .filter(|&b| b >= rt_entries || rt_entry(b) == 0)
            .collect();
        missing.dedup();
        missing.retain(|b| !new_blocks.contains(b));
        let max_block = new_blocks.iter().chain(&missing).copied().max();
        let want_rt = match max_block {
            Some(m) if m >= rt_entries => ((m + 1) * 8).div_ceil(cs),
            _ => 0,
        };
        if missing.is_empty() && want_rt <= new_rt_clusters {
            break;
        }
        if want_rt * cs > MAX_REFTABLE_BYTES {
            return Err(Error::unsupported(
                F,
                "growing would need a refcount table over qemu's 8 MiB limit",
            ));
        }
        new_rt_clusters = new_rt_clusters.max(want_rt);
        new_blocks.extend(missing);
    }
    let block_base = first + l1_clusters;
    let rt_base = block_base + new_blocks.len() as u64;
    let new_end = rt_base + new_rt_clusters;

    // Refcount changes: 1 for every new cluster; 0 for the old L1 table
    // (and the old refcount table when it moves).
    let mut set: Vec<(u64, u16)> = (first..new_end).map(|c| (c, 1)).collect();
    let old_l1_first = h.l1_table_offset / cs;
    let old_l1_clusters = (h.l1_size as u64 * 8).div_ceil(cs);
    set.extend((old_l1_first..old_l1_first + old_l1_clusters).map(|c| (c, 0)));
    if new_rt_clusters > 0 {
        let old_rt_first = h.refcount_table_offset / cs;
        set.extend((old_rt_first..old_rt_first + h.refcount_table_clusters as u64).map(|c| (c, 0)));
    }

    let mut block_bufs: Vec<Vec<u8>> = vec![vec![0u8; cs as usize]; new_blocks.len()];
    for (c, rc) in set {
        let b = c / per_block;
        let at = ((c % per_block) * 2) as usize;
        if let Some(k) = new_blocks.iter().position(|&x| x == b) {
            block_bufs[k][at..at + 2].copy_from_slice(&rc.to_be_bytes());
        } else {
            let boff = rt_entry(b);
            if boff & (cs - 1) != 0 || boff < cs || boff + cs > file_size {
                return Err(Error::corrupt(
                    F,
                    format!("refcount table entry {b}"),
                    format!("refcount block at {boff:#x} is not a cluster inside the file"),
                ));
            }
            patches.push((boff + at as u64, rc.to_be_bytes().to_vec()));
        }
    }

    // The new L1 table: the old entries, then empty ones.
    let mut l1 = vec![0u8; (l1_clusters * cs) as usize];
    for (i, e) in v.l1.iter().enumerate() {
        l1[i * 8..i * 8 + 8].copy_from_slice(&e.to_be_bytes());
    }
    let l1_offset = first * cs;
    patches.push((l1_offset, l1));
    let mut new_rt = if new_rt_clusters > 0 {
        let mut t = vec![0u8; (new_rt_clusters * cs) as usize];
        t[..rt.len()].copy_from_slice(&rt);
        Some(t)
    } else {
        None
    };
    for (k, (b, buf)) in new_blocks.iter().zip(block_bufs).enumerate() {
        let off = (block_base + k as u64) * cs;
        patches.push((off, buf));
        let at = (b * 8) as usize;
        match new_rt.as_mut() {
            Some(t) => t[at..at + 8].copy_from_slice(&off.to_be_bytes()),
            None => patches.push((
                h.refcount_table_offset + at as u64,
                off.to_be_bytes().to_vec(),
            )),
        }
    }
    if let Some(t) = new_rt {
        patches.push((rt_base * cs, t));
        patches.push((48, (rt_base * cs).to_be_bytes().to_vec()));
        patches.push((56, (new_rt_clusters as u32).to_be_bytes().to_vec()));
    }
    patches.push((36, (needed as u32).to_be_bytes().to_vec()));
    patches.push((40, l1_offset.to_be_bytes().to_vec()));
    Ok(patches)
}
