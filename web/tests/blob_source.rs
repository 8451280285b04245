//! BlobSource in a real browser worker (FileReaderSync exists only there):
//! reads inside one cache block, across blocks, the bulk path that bypasses
//! the cache, and reads past the end.
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
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
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
