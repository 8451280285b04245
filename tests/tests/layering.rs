//! The core's modules import one way: bench/modgraph.py (every `crate::`
//! path of a top-level module is an edge) finds no cycle.

use imgforge_tests::*;
use std::process::Command;

#[test]
fn core_modules_have_no_import_cycle() {
    if !have("python3") {
        return;
    }
    let out = run(Command::new("python3")
        .arg(root().join("bench/modgraph.py"))
        .arg(root().join("crates/core/src")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("no cycle among"), "{text}");
    // The shared container types stay a leaf below every format.
    let image = text.lines().find(|l| l.starts_with("image ")).unwrap_or("");
    for f in ["qcow2", "vhd", "vmdk", "ova", "vagrant", "container"] {
        assert!(!image.contains(f), "image imports {f}: {image}");
    }
}
