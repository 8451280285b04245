//! Opens arbitrary bytes as qcow2 and reads what it claims is allocated: any
//! input may fail, none may panic or allocate without bound.
#![no_main]

use imgforge_core::io::ReadAt;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = imgforge_core::qcow2::open(Arc::new(data.to_vec())) {
        let _ = o.info.virtual_size;
        let mut buf = vec![0u8; 64 * 1024];
        for (off, len) in o.disk.allocated_ranges().into_iter().take(256) {
            let n = len.min(buf.len() as u64) as usize;
            let _ = o.disk.read_at(off, &mut buf[..n]);
        }
    }
});
