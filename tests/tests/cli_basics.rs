//! The CLI runs and reports its version.
use imgforge_tests::*;

#[test]
fn version_runs() {
    let out = run_ok(std::process::Command::new(imgforge()).arg("--version"));
    assert!(out.starts_with("imgforge "), "{out}");
}
