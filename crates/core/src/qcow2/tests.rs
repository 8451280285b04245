//! qcow2 writer/reader round trips, hostile images and a mutation loop.

use super::raw::*;
use super::*;
use crate::image::WriteOptions;
use crate::io::{NoProgress, ReadAt};
use crate::{Disk, Result};
use std::sync::Arc;

/// A disk with scattered data: random bytes, text, explicit zeros inside
/// allocated extents, and a partial last cluster.
pub(crate) fn sample_disk(size: u64) -> Disk {
    let mut d = Disk::new(size);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..24u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = x % (size - 70_000);
        let len = 1 + (x >> 20) % 60_000;
        let data: Vec<u8> = match i % 3 {
            0 => (0..len).map(|j| (j.wrapping_mul(x) >> 7) as u8).collect(),
            1 => (0..len).map(|j| b"imgforge "[(j % 9) as usize]).collect(),
            _ => vec![0; len as usize],
        };
        d.write_vec(off, data).unwrap();
    }
    d.write(size - 10, b"last bytes").unwrap();
    d
}

fn all(r: &dyn ReadAt) -> Vec<u8> {
    let mut v = vec![0u8; r.size() as usize];
    r.read_at(0, &mut v).unwrap();
    v
}

pub(crate) fn image(d: &Disk, cs: u64, compress: bool) -> Vec<u8> {
    let opts = WriteOptions {
        cluster_size: Some(cs),
        compress,
        ..Default::default()
    };
    let mut out = Vec::new();
    write(d, &opts, &mut out, &NoProgress).unwrap();
    out
}

/// The valid images the mutation tests (reader and editor) start from:
/// a small disk with data, as plain and compressed qcow2, two cluster sizes.
pub(crate) fn mutation_seeds() -> [Vec<u8>; 3] {
    let mut d = Disk::new(64 * 1024);
    d.write_vec(100, (0..9000u32).map(|i| (i % 251) as u8).collect())
        .unwrap();
    d.write(40_000, &[7u8; 3000]).unwrap();
    [
        image(&d, 512, false),
        image(&d, 512, true),
        image(&d, 4096, true),
    ]
}

fn open_vec(v: Vec<u8>) -> Result<crate::image::Opened> {
    open(Arc::new(v))
}

#[test]
fn round_trips_every_cluster_size_and_compression() {
    let d = sample_disk(3 * 1024 * 1024 + 1234);
    let mut want = all(&d);
    // Rounded up to whole sectors, as qemu sees qcow2 disks.
    want.resize(d.size().next_multiple_of(512) as usize, 0);
    for cs in [512u64, 4096, 65536, 2 << 20] {
        for compress in [false, true] {
            let img = image(&d, cs, compress);
            assert_eq!(img.len() as u64 % cs, 0);
            let o = open_vec(img).unwrap();
            assert_eq!(o.info.virtual_size, want.len() as u64);
            assert_eq!(o.info.cluster_size, Some(cs));
            assert_eq!(all(&o.disk), want, "cs {cs} compress {compress}");
            // Only clusters with data are allocated.
            for (off, len) in o.disk.allocated_ranges() {
                assert_eq!(off % cs, 0);
                assert!(off + len <= want.len() as u64);
            }
        }
    }
}

#[test]
fn zero_clusters_inside_extents_are_not_stored() {
    let mut d = Disk::new(1 << 20);
    d.write_vec(0, vec![0; 1 << 20]).unwrap();
    d.write(300_000, b"x").unwrap();
    let img = image(&d, 65536, false);
    // header, refcount table, refcount block, L1, one L2, one data cluster
    assert_eq!(img.len(), 6 * 65536);
    let o = open_vec(img).unwrap();
    assert_eq!(o.disk.allocated_ranges(), vec![(262_144, 65536)]);
}

#[test]
fn output_is_deterministic() {
    let d = sample_disk(1 << 20);
    assert_eq!(image(&d, 4096, true), image(&d, 4096, true));
}

#[test]
fn compressing_twice_equals_compressing_once() {
    let d = sample_disk(2 << 20);
    let opts = WriteOptions {
        cluster_size: Some(4096),
        compress: true,
        ..Default::default()
    };
    let mut outs = Vec::new();
    for cap in [0u64, 100_000, 1 << 30] {
        let mut out = Stream(Vec::new());
        super::write::write_with_cache(&d, &opts, &mut out, &NoProgress, cap).unwrap();
        outs.push(out.0);
    }
    assert_eq!(outs[0], image(&d, 4096, true), "one pass");
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
    let mut want = all(&d);
    want.resize(d.size().next_multiple_of(512) as usize, 0);
    assert_eq!(all(&open_vec(outs[0].clone()).unwrap().disk), want);
}

/// A `Vec` sink that offers in-memory scratch storage, as the CLI's output
/// offers a temporary file.
struct SpillingVec(Vec<u8>, std::rc::Rc<std::cell::Cell<usize>>);

/// Scratch bytes, and a count of appends shared with the test.
struct MemSpill(Vec<u8>, std::rc::Rc<std::cell::Cell<usize>>);

impl ReadAt for MemSpill {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<()> {
        self.0.read_at(offset, buf)
    }
}

impl crate::io::Spill for MemSpill {
    fn append(&mut self, data: &[u8]) -> crate::Result<()> {
        self.0.extend_from_slice(data);
        self.1.set(self.1.get() + 1);
        Ok(())
    }
}

impl crate::io::Sink for SpillingVec {
    fn write(&mut self, data: &[u8]) -> crate::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }
    fn spill(&mut self) -> Option<Box<dyn crate::io::Spill>> {
        Some(Box::new(MemSpill(Vec::new(), self.1.clone())))
    }
}

#[test]
fn spilled_clusters_give_the_same_image() {
    let d = sample_disk(2 << 20);
    let opts = WriteOptions {
        cluster_size: Some(4096),
        compress: true,
        ..Default::default()
    };
    let mut plain = Stream(Vec::new());
    super::write::write_with_cache(&d, &opts, &mut plain, &NoProgress, 0).unwrap();
    let plain = plain.0;
    // Nothing, part and all of the clusters kept in memory; the rest spilled.
    for (cap, spills) in [(0u64, true), (2_000, true), (1 << 30, false)] {
        let appends = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut out = SpillingVec(Vec::new(), appends.clone());
        super::write::write_with_cache(&d, &opts, &mut out, &NoProgress, cap).unwrap();
        assert_eq!(out.0, plain, "cache cap {cap}");
        assert_eq!(appends.get() > 0, spills, "cache cap {cap}");
    }
}

/// A `Vec` seen as a pure stream: it cannot patch, so the writer takes
/// its two-pass path.
struct Stream(Vec<u8>);

impl crate::io::Sink for Stream {
    fn write(&mut self, data: &[u8]) -> crate::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }
}

/// An input that counts the bytes read from it.
struct Counting(Vec<u8>, std::sync::atomic::AtomicU64);

impl ReadAt for Counting {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<()> {
        self.1
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.0.read_at(offset, buf)
    }
}

#[test]
fn one_pass_and_two_passes_give_the_same_bytes() {
    let mut zeros_only = Disk::new(5 << 20);
    zeros_only.write_vec(4096, vec![0; 300_000]).unwrap();
    // Data in the last, short cluster only.
    let mut tail = Disk::new((1 << 20) + 700);
    tail.write(1 << 20, &[5u8; 700]).unwrap();
    let disks = [
        ("sample", sample_disk(3 * 1024 * 1024 + 1234)),
        ("empty", Disk::new(1 << 20)),
        ("zeros", zeros_only),
        ("short tail", tail),
        ("size 0", Disk::new(0)),
    ];
    for (name, d) in &disks {
        for cs in [512u64, 4096, 65536, 2 << 20] {
            for compress in [false, true] {
                let opts = WriteOptions {
                    cluster_size: Some(cs),
                    compress,
                    ..Default::default()
                };
                let mut patched = Vec::new();
                write(d, &opts, &mut patched, &NoProgress).unwrap();
                let mut streamed = Stream(Vec::new());
                write(d, &opts, &mut streamed, &NoProgress).unwrap();
                assert!(
                    patched == streamed.0,
                    "{name}, cluster size {cs}, compress {compress}"
                );
                let mut want = all(d);
                want.resize(d.size().next_multiple_of(512) as usize, 0);
                let o = open_vec(patched).unwrap();
                assert_eq!(all(&o.disk), want, "{name} cs {cs} compress {compress}");
            }
        }
    }
}

#[test]
fn a_patchable_sink_reads_the_disk_once() {
    let d = sample_disk(2 << 20);
    let src = Arc::new(Counting(all(&d), Default::default()));
    let disk = Disk::from_whole(src.clone()).unwrap();
    let read = |sink: &mut dyn crate::io::Sink| {
        src.1.store(0, std::sync::atomic::Ordering::Relaxed);
        write(&disk, &WriteOptions::default(), sink, &NoProgress).unwrap();
        src.1.load(std::sync::atomic::Ordering::Relaxed)
    };
    // Every byte once; two passes read the non-zero clusters again.
    assert_eq!(read(&mut Vec::new()), 2 << 20);
    assert!(read(&mut Stream(Vec::new())) > (2 << 20) + (512 << 10));
}

#[test]
fn tables_follow_the_data() {
    let d = sample_disk(3 << 20);
    let img = image(&d, 4096, false);
    let mut hb = [0u8; 112];
    hb.copy_from_slice(&img[..112]);
    let h = Header::parse(&hb).unwrap();
    let l1 = h.l1_table_offset as usize;
    let first_l2 = (0..h.l1_size as usize)
        .map(|i| be64(&img, l1 + i * 8) & OFFSET_MASK)
        .find(|&e| e != 0)
        .unwrap();
    let first_data = (0..512)
        .map(|i| be64(&img, first_l2 as usize + i * 8) & OFFSET_MASK)
        .find(|&e| e != 0)
        .unwrap();
    // header | data | L2 tables | L1 table | refcount table | blocks
    assert_eq!(first_data, 4096);
    assert!(first_l2 < h.l1_table_offset);
    assert!(h.l1_table_offset < h.refcount_table_offset);
    let rb = be64(&img, h.refcount_table_offset as usize);
    assert_eq!(rb, h.refcount_table_offset + 4096);
    assert_eq!(img.len() as u64, rb + 4096);
}

#[test]
fn is_zero_finds_any_nonzero_byte() {
    for len in [0usize, 1, 7, 63, 64, 65, 4096, 4099] {
        let z = vec![0u8; len];
        assert!(crate::io::is_zero(&z));
        for at in [0, len / 2, len.saturating_sub(1)] {
            if len > 0 {
                let mut b = z.clone();
                b[at] = 0x80;
                assert!(!crate::io::is_zero(&b), "len {len} at {at}");
            }
        }
    }
}

#[cfg(feature = "parallel")]
#[test]
fn parallel_compression_matches_one_thread() {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| image(&sample_disk(4 << 20), 4096, true));
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| image(&sample_disk(4 << 20), 4096, true));
    assert_eq!(one, many);
}

#[test]
fn bad_cluster_size_option_is_refused() {
    let d = Disk::new(1 << 20);
    for cs in [256u64, 3000, 4 << 20] {
        let opts = WriteOptions {
            cluster_size: Some(cs),
            ..Default::default()
        };
        assert!(write(&d, &opts, &mut Vec::new(), &NoProgress).is_err());
    }
}

fn put32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_be_bytes());
}
fn put64(v: &mut [u8], at: usize, x: u64) {
    v[at..at + 8].copy_from_slice(&x.to_be_bytes());
}

fn err_text(v: Vec<u8>) -> String {
    match open_vec(v) {
        Ok(o) => {
            // Some damage only shows when data is read.
            let mut b = vec![0u8; o.disk.size().min(8 << 20) as usize];
            match o.disk.read_at(0, &mut b) {
                Ok(()) => panic!("damaged image was accepted"),
                Err(e) => e.to_string(),
            }
        }
        Err(e) => e.to_string(),
    }
}

fn small() -> (Vec<u8>, Header) {
    let mut d = Disk::new(256 * 1024);
    d.write_vec(1000, (0..5000u32).map(|i| (i * 7) as u8).collect())
        .unwrap();
    let img = image(&d, 4096, false);
    let mut hb = [0u8; 112];
    hb.copy_from_slice(&img[..112]);
    (img, Header::parse(&hb).unwrap())
}

#[test]
fn hostile_headers_are_refused() {
    let (img, h) = small();
    let mut v = img.clone();
    put32(&mut v, 20, 8);
    assert!(err_text(v).contains("cluster_bits"));
    let mut v = img.clone();
    put32(&mut v, 20, 22);
    assert!(err_text(v).contains("cluster_bits"));
    // L1 too small for the virtual size.
    let mut v = img.clone();
    put64(&mut v, 24, 1 << 40);
    assert!(err_text(v).contains("l1_size"));
    // L1 larger than the file could hold.
    let mut v = img.clone();
    put32(&mut v, 36, 1 << 20);
    let e = err_text(v);
    assert!(
        e.contains("l1_table_offset") || e.contains("l1_size"),
        "{e}"
    );
    // Tables past EOF, unaligned, or over the header.
    let mut v = img.clone();
    put64(&mut v, 40, 1 << 30);
    assert!(err_text(v).contains("past the end"));
    let mut v = img.clone();
    put64(&mut v, 40, 0);
    assert!(err_text(v).contains("overlaps the header"));
    let mut v = img.clone();
    put64(&mut v, 48, h.refcount_table_offset + 8);
    assert!(err_text(v).contains("aligned"));
    let mut v = img.clone();
    put32(&mut v, 56, 1 << 20);
    assert!(err_text(v).contains("refcount_table"));
    // Encryption, unknown features, external data files.
    let mut v = img.clone();
    put32(&mut v, 32, 1);
    assert!(err_text(v).contains("encrypted"));
    let mut v = img.clone();
    put64(&mut v, 72, 1 << 9);
    assert!(err_text(v).contains("unknown incompatible"));
    let mut v = img.clone();
    put64(&mut v, 72, INCOMPAT_DATA_FILE);
    assert!(err_text(v).contains("external data file"));
    let mut v = img.clone();
    put32(&mut v, 4, 4);
    assert!(err_text(v).contains("version"));
}

#[test]
fn dirty_bit_is_reported() {
    let (mut v, _) = small();
    put64(&mut v, 72, INCOMPAT_DIRTY);
    assert!(open_vec(v).unwrap().info.dirty);
}

#[test]
fn hostile_l2_entries_are_refused() {
    let (img, h) = small();
    let cs = 4096usize;
    let l1 = h.l1_table_offset as usize;
    let l2 = (be64(&img, l1) & OFFSET_MASK) as usize;
    let e0 = be64(&img, l2);
    assert_ne!(e0, 0);
    // A data cluster inside the header.
    let mut v = img.clone();
    put64(&mut v, l2, OFLAG_COPIED | 0x200);
    assert!(err_text(v).contains("aligned"));
    let mut v = img.clone();
    put64(&mut v, l2, OFLAG_COMPRESSED | 0x100);
    assert!(err_text(v).contains("outside the data area"));
    // Past EOF.
    let mut v = img.clone();
    put64(&mut v, l2, OFLAG_COPIED | (1 << 40));
    assert!(err_text(v).contains("past the end"));
    // An L2 table past EOF / in the header.
    let mut v = img.clone();
    put64(&mut v, l1, OFLAG_COPIED | (1 << 40));
    assert!(err_text(v).contains("past the end"));
    let mut v = img.clone();
    put64(&mut v, l1, OFLAG_COPIED | 0x800);
    assert!(err_text(v).contains("aligned"));
    let _ = cs;
}

#[test]
fn compressed_cluster_larger_than_a_cluster_is_refused() {
    let (img, h) = small();
    let l1 = h.l1_table_offset as usize;
    let l2 = (be64(&img, l1) & OFFSET_MASK) as usize;
    let data_at = (be64(&img, l2) & OFFSET_MASK) as usize;
    // 8 KiB of zeros deflated, stored where the first data cluster is.
    let z = {
        use flate2::{Compress, Compression, FlushCompress};
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(1024);
        c.compress_vec(&[0u8; 8192], &mut out, FlushCompress::Finish)
            .unwrap();
        out
    };
    let mut v = img.clone();
    v[data_at..data_at + z.len()].copy_from_slice(&z);
    put64(
        &mut v,
        l2,
        compressed_entry(12, data_at as u64, z.len() as u64),
    );
    assert!(err_text(v).contains("more than"));
    // Garbage instead of deflate data.
    let mut v = img.clone();
    v[data_at..data_at + 16].fill(0xff);
    put64(&mut v, l2, compressed_entry(12, data_at as u64, 16));
    assert!(err_text(v).contains("compressed cluster"));
}

#[test]
fn truncated_images_are_refused() {
    let (img, h) = small();
    // Cut in the header, in the data, before the L2 table, before the L1
    // table and inside the refcount table. (The refcount blocks, last in
    // the file, are not needed to read the image.)
    let l1 = h.l1_table_offset as usize;
    let rt = h.refcount_table_offset as usize;
    for len in [0usize, 50, 100, 4096, 4096 + 17, l1 - 4096, l1, rt + 17] {
        let v = img[..len].to_vec();
        let e = err_text(v);
        assert!(!e.is_empty());
    }
}

#[test]
fn v2_images_read() {
    // A v2 header is the v3 one cut at 72 bytes with version 2.
    let (img, _) = small();
    let mut v = img.clone();
    put32(&mut v, 4, 2);
    v[72..104].fill(0);
    let o = open_vec(v).unwrap();
    assert_eq!(all(&o.disk), all(&open_vec(img).unwrap().disk));
}

#[test]
fn backing_file_is_reported_and_needed() {
    let (mut v, _) = small();
    // Name the backing file in the header cluster, after the header.
    let name = b"base.raw";
    v[200..200 + name.len()].copy_from_slice(name);
    put64(&mut v, 8, 200);
    put32(&mut v, 16, name.len() as u32);
    let o = open_vec(v.clone()).unwrap();
    assert_eq!(o.info.backing_filename.as_deref(), Some("base.raw"));
    let mut b = vec![0u8; 4096];
    // Cluster 40 is not in the image: it would come from the backing file.
    let e = o.disk.read_at(40 * 4096, &mut b).unwrap_err().to_string();
    assert!(e.contains("backing file"), "{e}");
    let mut base = Disk::new(256 * 1024);
    base.write(40 * 4096, b"from base").unwrap();
    let o = open_with_backing(Arc::new(v), base).unwrap();
    o.disk.read_at(40 * 4096, &mut b).unwrap();
    assert_eq!(&b[..9], b"from base");
}

#[test]
fn grow_patch_grows_and_refuses_shrink() {
    let (img, h) = small();
    assert!(grow_patch(&img, h.size - 4096).is_err());
    let mut v = img.clone();
    for (off, bytes) in grow_patch(&img, 100 << 30).unwrap() {
        let end = off as usize + bytes.len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[off as usize..end].copy_from_slice(&bytes);
    }
    let o = open_vec(v).unwrap();
    assert_eq!(o.info.virtual_size, 100 << 30);
    let mut a = vec![0u8; 256 * 1024];
    let mut b = vec![0u8; 256 * 1024];
    o.disk.read_at(0, &mut a).unwrap();
    open_vec(img).unwrap().disk.read_at(0, &mut b).unwrap();
    assert_eq!(a, b);
}

/// Deterministic mutations of valid images: no input may panic a reader.
#[test]
fn mutated_images_never_panic() {
    let seeds = mutation_seeds();
    let mut rng = crate::testutil::XorShift(0x2545_f491_4f6c_dd1d);
    for round in 0..3000 {
        let mut v = seeds[round % seeds.len()].clone();
        crate::testutil::mutate_bytes(&mut v, &mut rng);
        if let Ok(o) = open_vec(v) {
            let mut b = vec![0u8; 4096];
            for (off, len) in o.disk.allocated_ranges().into_iter().take(64) {
                let n = len.min(4096) as usize;
                let _ = o.disk.read_at(off, &mut b[..n]);
            }
        }
    }
}

/// The deflate settings are part of the output: a change of level or
/// window changes every compressed image (and must change this test; the
/// former level 6 gave 1013 bytes here).
#[test]
fn compressed_cluster_bytes_are_pinned() {
    let text: Vec<u8> = (0..65536u32)
        .map(|i| b"qcow2 cluster, level 9, window 4 KiB; "[(i % 38) as usize] ^ ((i / 4099) as u8))
        .collect();
    let c = compress_cluster(&text).unwrap();
    let mut d = flate2::Decompress::new_with_window_bits(false, 12);
    let mut back = Vec::with_capacity(65536);
    d.decompress_vec(&c, &mut back, flate2::FlushDecompress::Finish)
        .unwrap();
    assert_eq!(back, text);
    let sum = c.iter().fold(0u32, |a, &b| a.rotate_left(5) ^ b as u32);
    assert_eq!((c.len(), sum), (779, 2903589578));
}

/// Pushes all of `d`'s bytes through a [`PushWriter`] in pieces whose
/// lengths come from `lens` (cycled), skipping the zero pieces now and
/// then (they read as zeros anyway).
fn pushed(d: &Disk, opts: &WriteOptions, lens: &[usize], skip_zeros: bool) -> Vec<u8> {
    let bytes = all(d);
    let mut out = Vec::new();
    let mut w = PushWriter::new(d.size(), opts, &mut out).unwrap();
    let (mut off, mut i) = (0usize, 0usize);
    while off < bytes.len() {
        let n = lens[i % lens.len()].min(bytes.len() - off);
        let piece = &bytes[off..off + n];
        if !(skip_zeros && i % 2 == 0 && crate::io::is_zero(piece)) {
            w.push_at(off as u64, piece).unwrap();
        }
        off += n;
        i += 1;
    }
    w.finish().unwrap();
    out
}

#[test]
fn pushing_pieces_gives_the_bytes_of_write_qcow2() {
    let mut tail = Disk::new((1 << 20) + 700);
    tail.write(1 << 20, &[5u8; 700]).unwrap();
    let disks = [
        ("sample", sample_disk(3 * 1024 * 1024 + 1234)),
        ("sample, whole sectors", sample_disk(3 << 20)),
        ("short tail", tail),
        ("empty", Disk::new(1 << 20)),
        ("size 0", Disk::new(0)),
    ];
    // Piece lengths: single bytes, odd sizes, sizes that are not multiples
    // of 512, and whole multiples of the clusters.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<usize> = (0..97)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + (x % 300_000) as usize
        })
        .collect();
    let patterns: [(&str, Vec<usize>); 4] = [
        ("random", random),
        ("odd", vec![1, 3, 511, 513, 4097, 65535, 65537, 100_003]),
        ("one 1-byte piece then big ones", vec![1, 1 << 20]),
        ("all at once", vec![usize::MAX]),
    ];
    for (name, d) in &disks {
        for cs in [512u64, 65536, 2 << 20] {
            for compress in [false, true] {
                let opts = WriteOptions {
                    cluster_size: Some(cs),
                    compress,
                    ..Default::default()
                };
                let want = image(d, cs, compress);
                for (k, (pname, lens)) in patterns.iter().enumerate() {
                    // Gaps (pieces of zeros not pushed) with the random lengths.
                    let skips: &[bool] = if k == 0 { &[false, true] } else { &[false] };
                    for &skip in skips {
                        assert!(
                            pushed(d, &opts, lens, skip) == want,
                            "{name}, pieces {pname}, skip zeros {skip}, cluster size {cs}, compress {compress}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn tiny_pieces_give_the_same_bytes() {
    let d = sample_disk(200_000);
    for compress in [false, true] {
        let opts = WriteOptions {
            cluster_size: Some(512),
            compress,
            ..Default::default()
        };
        assert!(pushed(&d, &opts, &[1, 2, 7, 509], false) == image(&d, 512, compress));
    }
}

#[test]
fn push_refuses_going_back_past_the_end_and_streams() {
    let opts = WriteOptions::default();
    let mut out = Vec::new();
    let mut w = PushWriter::new(10_000, &opts, &mut out).unwrap();
    w.push_at(100, &[1; 50]).unwrap();
    w.push_at(150, &[]).unwrap();
    let e = w.push_at(149, &[1]).unwrap_err().to_string();
    assert!(e.contains("goes back"), "{e}");
    let e = w.push_at(9_990, &[1; 11]).unwrap_err().to_string();
    assert!(e.contains("past the disk's end"), "{e}");
    w.push_at(9_990, &[1; 10]).unwrap();
    assert!(w.push_at(u64::MAX, &[1; 2]).is_err());
    w.finish().unwrap();
    // A stream cannot take the header last.
    let e = PushWriter::new(10_000, &opts, &mut Stream(Vec::new()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("rewritten in place"), "{e}");
}
