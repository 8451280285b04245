//! Edits arbitrary bytes as a qcow2 image (grow, then write a partition
//! table's sectors and one byte past the old end): any input may be
//! refused, none may panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let img = data.to_vec();
    let Ok(v) = imgforge_core::qcow2::read::validate(&img) else {
        return;
    };
    let size = v.header.size.min(1 << 40);
    let grow = (size + (1 << 20)).next_multiple_of(512);
    let writes = [
        (0u64, vec![0xA5u8; 34 * 512]),
        (grow - 33 * 512, vec![0x5Au8; 33 * 512]),
        (size / 2, vec![1u8]),
    ];
    let _ = imgforge_core::qcow2::edit_patch(&img, Some(grow), &writes);
});
