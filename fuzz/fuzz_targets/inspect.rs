//! `inspect` (container detection, GPT/MBR, filesystem probes) on arbitrary
//! bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: imgforge_core::Source = Arc::new(data.to_vec());
    if let Ok(r) = imgforge_core::inspect::inspect(src) {
        let _ = imgforge_core::inspect::render_text(&r, "fuzz");
    }
});
