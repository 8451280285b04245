//! Helpers shared by the integration tests: finding the `imgforge` binary and
//! outside tools, and running them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `imgforge` binary built for this test run (debug or release, as
/// cargo built the tests), building it if missing.
pub fn imgforge() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let bin = target.join(profile).join("imgforge");
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(root())
            .args(["build", "-q", "-p", "imgforge-cli"]);
        if profile == "release" {
            c.arg("--release");
        }
        let st = c.status().expect("running cargo build");
        assert!(st.success(), "building imgforge failed");
    });
    bin
}

/// A scratch directory under target/test-tmp, unique per test name, emptied.
pub fn scratch(name: &str) -> PathBuf {
    let d = root().join("target").join("test-tmp").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// True if `tool` is on PATH (or in /sbin, /usr/sbin). Under CI=true a
/// missing tool is a failure, not a skip.
pub fn have(tool: &str) -> bool {
    let found = which(tool).is_some();
    if !found && std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{tool} is required under CI=true but is not installed (run ./build.sh setup)");
    }
    if !found {
        eprintln!("skipping: {tool} not installed");
    }
    found
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].iter().map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Runs a command and returns its output (does not check the status).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

/// Runs a command, panicking with its stderr unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Command for an outside tool, found on PATH or in /usr/sbin.
pub fn tool(name: &str) -> Command {
    Command::new(which(name).unwrap_or_else(|| PathBuf::from(name)))
}

/// sha256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    let data = std::fs::read(p).unwrap();
    Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
pub mod qemu;
