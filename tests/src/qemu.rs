//! The boot-test harness: boots qemu-system-x86_64 in software emulation
//! (TCG) with Debian's kernel and our images, and reads the serial log for
//! the line our /init prints.
//!
//! Fixtures: [`kernel`] (a Debian kernel that `./build.sh setup` unpacks
//! into target/boot-inputs), [`test_initramfs_tree`] (busybox and an /init
//! that prints [`MARKER`] and powers off), [`ovmf_code`] for UEFI boots.

use crate::{have, root, which};
use imgforge_core::tree::{Meta, Node, NodeKind, Tree};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The line /init prints when the system has booted.
pub const MARKER: &str = "IMGFORGE-BOOT-OK";

/// Default time limit of one boot, seconds (override: IMGFORGE_BOOT_TIMEOUT).
pub const BOOT_TIMEOUT: u64 = 120;

/// target/boot-inputs, where `./build.sh setup` puts the kernel.
pub fn boot_inputs() -> PathBuf {
    root().join("target").join("boot-inputs")
}

fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// The newest target/boot-inputs/boot/vmlinuz-*, or `None` (a skip; under
/// CI=true a panic) if `./build.sh setup` has not fetched one.
pub fn kernel() -> Option<PathBuf> {
    // examples/get-inputs.sh (run by ./build.sh setup) puts one here.
    let example = root().join("examples").join("inputs").join("vmlinuz");
    if example.is_file() {
        return Some(example);
    }
    let dir = boot_inputs().join("boot");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("vmlinuz-"))
                })
                .collect()
        })
        .unwrap_or_default();
    // "Newest": the highest ABI number, compared numerically.
    found.sort_by_key(|p| version_key(&p.to_string_lossy()));
    let k = found.pop();
    if k.is_none() {
        let msg = format!("no kernel in {} (run ./build.sh setup)", dir.display());
        if ci() {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
    }
    k
}

fn version_key(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// True if qemu-system-x86_64 is installed (under CI=true: must be).
pub fn have_qemu() -> bool {
    have("qemu-system-x86_64")
}

/// OVMF firmware code (UEFI boots), if installed.
pub fn ovmf_code() -> Option<PathBuf> {
    [
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/ovmf/OVMF.fd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// qemu arguments for a UEFI boot: OVMF code read-only and a fresh copy of
/// its variable store in `dir` (both as pflash). `None` if OVMF is missing.
pub fn uefi_args(dir: &Path) -> Option<Vec<String>> {
    let pairs = [
        (
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
        ),
        (
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
        ),
    ];
    let (code, vars) = pairs
        .iter()
        .find(|(c, v)| Path::new(c).is_file() && Path::new(v).is_file())?;
    let my_vars = dir.join("OVMF_VARS.fd");
    std::fs::copy(vars, &my_vars).ok()?;
    Some(vec![
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", my_vars.display()),
    ])
}

/// isolinux.bin and ldlinux.c32 of the isolinux/syslinux-common packages.
pub fn isolinux_files() -> Option<(PathBuf, PathBuf)> {
    let bin = PathBuf::from("/usr/lib/ISOLINUX/isolinux.bin");
    let ld = PathBuf::from("/usr/lib/syslinux/modules/bios/ldlinux.c32");
    (bin.is_file() && ld.is_file()).then_some((bin, ld))
}

/// The busybox binary of the busybox-static package.
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The /init of the test initramfs: mounts proc and sys, prints the marker
/// on the console and powers off.
pub const INIT_SCRIPT: &str = "#!/bin/sh\n\
export PATH=/bin\n\
mount -t proc proc /proc\n\
mount -t sysfs sysfs /sys\n\
echo\n\
echo IMGFORGE-BOOT-OK\n\
poweroff -f\n";

/// A minimal initramfs tree: /bin/busybox (busybox-static) with links
/// sh, mount, echo, poweroff, ...; /dev/console (c 5 1); /proc, /sys; and
/// [`INIT_SCRIPT`] as /init. Panics if busybox is missing (a test skips
/// before calling this when `have("busybox")` is false).
pub fn test_initramfs_tree(epoch: i64) -> Tree {
    let bb = busybox().expect("busybox-static is not installed");
    let data = std::fs::read(&bb).unwrap();
    let mut t = Tree::new(epoch);
    let id = t.add_file("bin/busybox", data).unwrap();
    t.node_mut(id).meta.mode = 0o755;
    for l in [
        "sh", "mount", "echo", "poweroff", "cat", "ls", "sleep", "uname",
    ] {
        t.add_symlink(&format!("bin/{l}"), "busybox").unwrap();
    }
    for d in ["proc", "sys", "dev", "tmp"] {
        t.add_dir(d).unwrap();
    }
    t.insert(
        "dev/console",
        Node {
            kind: NodeKind::CharDev { major: 5, minor: 1 },
            meta: Meta::new(0o600, epoch),
        },
    )
    .unwrap();
    let id = t.add_file("init", INIT_SCRIPT.as_bytes().to_vec()).unwrap();
    t.node_mut(id).meta.mode = 0o755;
    t
}

/// Writes `tree` as a gzip initramfs at `path` with the core writer.
pub fn write_initramfs(tree: &Tree, path: &Path) {
    use imgforge_core::cpio::{write, CpioOptions};
    let mut out = Vec::new();
    write(
        tree,
        &CpioOptions::default(),
        &imgforge_core::BuildContext::default(),
        &mut out,
        &imgforge_core::io::NoProgress,
    )
    .unwrap();
    std::fs::write(path, out).unwrap();
}

/// One emulated machine at a time: TCG uses a whole core, and parallel
/// boots on a small machine would run into the time limit.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// The time limit of one boot in seconds (IMGFORGE_BOOT_TIMEOUT or
/// [`BOOT_TIMEOUT`]).
fn limit() -> u64 {
    std::env::var("IMGFORGE_BOOT_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BOOT_TIMEOUT)
}

/// Starts qemu-system-x86_64 (TCG, 512 MiB, no display, no reboot) with
/// `args`, the first serial port logged to `<scratch>/boot-<name>/serial.log`.
fn spawn(name: &str, args: &[&str]) -> (std::process::Child, PathBuf) {
    let dir = crate::scratch(&format!("boot-{name}"));
    let log = dir.join("serial.log");
    let qemu = which("qemu-system-x86_64").expect("qemu-system-x86_64 is not installed");
    let mut cmd = Command::new(qemu);
    cmd.args(["-accel", "tcg", "-m", "512", "-nographic", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .args(["-monitor", "none", "-parallel", "none"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (child, log)
}

/// Runs qemu with `args` (as [`boot`] does) until `want` appears on the
/// serial console, then stops it. Returns the serial log, as `Err` when
/// `want` did not appear before qemu exited or the time limit passed.
/// For boots that stop short of our /init (firmware, a bootloader).
pub fn run_until(name: &str, args: &[&str], want: &str) -> Result<String, String> {
    let _turn = one_at_a_time();
    let (mut child, log) = spawn(name, args);
    let read_log =
        || String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let start = Instant::now();
    let found = loop {
        if read_log().contains(want) {
            break true;
        }
        if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(limit()) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    let text = read_log();
    if found {
        eprintln!("{name}: '{want}' after {:?}", start.elapsed());
        Ok(text)
    } else {
        Err(format!(
            "{name}: no '{want}' within {} s\n--- serial log ---\n{text}",
            limit()
        ))
    }
}

/// Boots `qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot`
/// plus `args`, the first serial port logged to `<scratch>/<name>.log`.
/// Waits for qemu to exit (the /init powers off), at most
/// [`BOOT_TIMEOUT`] seconds, killing it then. Returns the serial log.
/// Panics on timeout, on "Kernel panic" and when the log lacks [`MARKER`].
pub fn boot(name: &str, args: &[&str]) -> String {
    try_boot(name, args).unwrap_or_else(|e| panic!("{e}"))
}

/// [`boot`], returning the failure (timeout, kernel panic, no marker) with
/// the serial log as `Err` instead of panicking.
pub fn try_boot(name: &str, args: &[&str]) -> Result<String, String> {
    try_boot_within(name, args, limit())
}

/// [`try_boot`] with its own time limit in seconds (IMGFORGE_BOOT_TIMEOUT,
/// when set, still wins), for tests that keep each boot bounded.
pub fn try_boot_within(name: &str, args: &[&str], secs: u64) -> Result<String, String> {
    let _turn = one_at_a_time();
    let (mut child, log) = spawn(name, args);
    let limit = std::env::var("IMGFORGE_BOOT_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(secs);
    let start = Instant::now();
    // Firmware menus write bytes that are not UTF-8: read lossily.
    let read_log =
        || String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let mut seen_marker: Option<Instant> = None;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        let text = read_log();
        if text.contains("Kernel panic") {
            // Let the panic message finish, then stop.
            std::thread::sleep(Duration::from_millis(500));
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{name}: kernel panic after {:?}\n--- serial log ---\n{}",
                start.elapsed(),
                read_log()
            ));
        }
        if text.contains(MARKER) && seen_marker.is_none() {
            seen_marker = Some(Instant::now());
        }
        // Booted but did not power off: stop after a grace period.
        if seen_marker.is_some_and(|t| t.elapsed() > Duration::from_secs(10)) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if start.elapsed() > Duration::from_secs(limit) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            return Err(format!(
                "{name}: no {MARKER} within {limit} s (qemu killed)\nqemu stderr: {}\n--- serial log ---\n{}",
                String::from_utf8_lossy(&out.stderr),
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = read_log();
    let stderr = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    if text.contains("Kernel panic") {
        return Err(format!(
            "{name}: kernel panic (qemu exited: {status:?})\n--- serial log ---\n{text}"
        ));
    }
    if !text.lines().any(|l| l.trim_end().ends_with(MARKER)) {
        return Err(format!(
            "{name}: qemu exited ({status:?}) without {MARKER}\nqemu stderr: {stderr}\n--- serial log ---\n{text}"
        ));
    }
    eprintln!("{name}: booted in {:?}", start.elapsed());
    Ok(text)
}
