//! Every filesystem and archive reader (FAT, ext4, ISO 9660, cpio) on
//! arbitrary bytes: errors are fine, panics and huge allocations are not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let src: imgforge_core::Source = Arc::new(data.to_vec());
    if let Ok((_, tree)) = imgforge_core::fs::read_tree(src) {
        for (_, id) in tree.walk() {
            if let imgforge_core::tree::NodeKind::File(f) = &tree.node(id).kind {
                let _ = f.to_vec(1 << 20);
            }
        }
    }
});
