//! Fuzz target: vmdk::open must return Ok or Err on any input, never panic,
//! and reading what it opened must not panic either.
#![no_main]

use imgforge_core::io::ReadAt;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: imgforge_core::Source = Arc::new(data.to_vec());
    if let Ok(o) = imgforge_core::vmdk::open(src) {
        let mut buf = vec![0u8; 4096];
        let mut budget = 64u32;
        for e in o.disk.extents() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let n = e.len.min(buf.len() as u64) as usize;
            let _ = o.disk.read_at(e.offset, &mut buf[..n]);
        }
    }
});
