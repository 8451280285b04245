//! BlobSource in a real browser worker (FileReaderSync exists only there):
//! reads inside one cache block, across blocks, the bulk path that bypasses
//! the cache, reads past the end, and the read-ahead of sequential reads.
//! Run: CHROMEDRIVER=/usr/bin/chromedriver cargo test -p imgforge-web
//!      --target wasm32-unknown-unknown (runner: wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]

use imgforge_core::io::ReadAt;
use imgforge_web::blob::BlobSource;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

const LEN: usize = 5 * (1 << 20) + 123;

fn pattern(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

fn blob() -> web_sys::Blob {
    blob_of(LEN)
}

fn blob_of(len: usize) -> web_sys::Blob {
    let data: Vec<u8> = (0..len).map(pattern).collect();
    let arr = js_sys::Uint8Array::from(&data[..]);
    let parts = js_sys::Array::of1(&arr);
    web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap()
}

fn check(src: &BlobSource, offset: usize, len: usize) {
    let mut buf = vec![0u8; len];
    src.read_at(offset as u64, &mut buf).unwrap();
    for (i, b) in buf.iter().enumerate() {
        assert_eq!(*b, pattern(offset + i), "byte {} of a read at {offset}", i);
    }
}

#[wasm_bindgen_test]
fn reads_match_the_blob() {
    let src = BlobSource::new(blob(), "test.img").unwrap();
    assert_eq!(src.size(), LEN as u64);
    check(&src, 0, 512);
    check(&src, (1 << 20) - 5, 10);
    check(&src, 3 * (1 << 20) - 7, 2 * (1 << 20) + 14);
    check(&src, 100, 4 * (1 << 20) + 1);
    check(&src, LEN - 123, 123);
    check(&src, 0, 0);
    let mut b = [0u8; 2];
    assert!(src.read_at(LEN as u64 - 1, &mut b).is_err());
    assert!(src.read_at(u64::MAX, &mut b).is_err());
}

/// Sequential 64 KiB reads (a container writer's clusters) are served by
/// a few large browser reads, not one per 1 MiB block.
#[wasm_bindgen_test]
fn sequential_reads_use_few_browser_reads() {
    const BIG: usize = 40 * (1 << 20) + 123;
    let src = BlobSource::new(blob_of(BIG), "big.img").unwrap();
    let mut off = 0;
    while off < BIG {
        let n = (64 << 10).min(BIG - off);
        check(&src, off, n);
        off += n;
        if off == 20 << 20 {
            assert_eq!(src.window_bytes(), 16 << 20);
        }
    }
    // Read to the end: the window is let go.
    assert_eq!(src.window_bytes(), 0);
    // One 1 MiB block for the first 256 KiB, then windows of 1, 2, 4, 8,
    // 16 and 32 MiB (the last one cut at the end): 7; the block cache
    // alone would take 41.
    assert!(
        src.browser_reads() <= 8,
        "{} browser reads",
        src.browser_reads()
    );
}

/// After a long sequential run has grown the window to its maximum, reads
/// far apart (jumps of more than 1 MiB forward) get small windows again:
/// no 32 MiB read to serve 64 KiB.
#[wasm_bindgen_test]
fn long_jumps_shrink_the_window() {
    const BIG: usize = 40 * (1 << 20) + 123;
    let src = BlobSource::new(blob_of(BIG), "big.img").unwrap();
    let mut off = 0;
    while off < 20 << 20 {
        check(&src, off, 64 << 10);
        off += 64 << 10;
    }
    // The last window, 16 MiB from 15 MiB + 192 KiB, holds up to 31.2 MiB.
    let before = src.browser_bytes();
    for at in [32, 35, 38] {
        check(&src, at << 20, 64 << 10);
    }
    let used = src.browser_bytes() - before;
    assert!(used <= 4 << 20, "{used} bytes read for three 64 KiB reads");
}

/// Windows of an odd size, so cluster reads straddle their edges; gaps in
/// a forward run (skipped zero clusters); random reads in between; the last
/// window cut short at the end of the blob; a read larger than a window.
#[wasm_bindgen_test]
fn read_ahead_edges() {
    const WIN: u64 = (1 << 20) + 4097;
    let src = BlobSource::with_read_ahead(blob(), "test.img", WIN).unwrap();
    let cluster = 64 << 10;
    let mut off = 0;
    let mut i = 0;
    while off < LEN {
        let n = cluster.min(LEN - off);
        check(&src, off, n);
        if i == 20 {
            // Random reads in the middle of the run: a header, back to
            // the start, a read inside the current window.
            check(&src, 7, 100);
            check(&src, 3 * (1 << 20) + 11, 5000);
            check(&src, off - 1000, 3000);
        }
        // Skip a cluster now and then, as a writer skipping zero ones.
        off += n + if i % 7 == 3 { cluster } else { 0 };
        i += 1;
    }
    // Straddles the end of a window and runs to the last byte.
    check(&src, LEN - 70_000, 70_000);
    // Longer than a window: read straight into the buffer.
    check(&src, 5, 2 * WIN as usize + 9);
    // Sequential again after that, from another place.
    for k in 0..30 {
        check(&src, (1 << 20) + 17 + k * 40_000, 40_000);
    }
    let mut b = [0u8; 2];
    assert!(src.read_at(LEN as u64 - 1, &mut b).is_err());
}

#[wasm_bindgen_test]
fn inspect_reads_through_a_blob() {
    let src = std::sync::Arc::new(BlobSource::new(blob(), "test.img").unwrap());
    let v = imgforge_web::engine::inspect(src).unwrap();
    assert_eq!(v["virtual_size"], LEN as u64);
    assert_eq!(v["format"], "raw");
}

/// A `Vec` output of 2 GiB or more cannot exist on wasm32: the core's
/// `Sink for Vec<u8>` says so instead of panicking (usize overflow).
#[wasm_bindgen_test]
fn vec_sink_past_2gib_is_an_error() {
    use imgforge_core::io::Sink;
    let mut v: Vec<u8> = Vec::new();
    let e = v.hole(3 << 30).unwrap_err();
    assert!(matches!(e, imgforge_core::Error::NoSpace { .. }), "{e}");
    let e = v.hole(5 << 30).unwrap_err();
    assert!(matches!(e, imgforge_core::Error::NoSpace { .. }), "{e}");
    assert!(v.is_empty());
}
