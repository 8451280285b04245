//! CLI error discipline: every command with a bad input exits 1 with one
//! `error: ` line, never a panic, and leaves no output or temp file; `--help`
//! on every subcommand; `create` size strings checked by qemu-img.
use imgforge_tests::*;
use std::path::Path;
use std::process::Command;

const COMMANDS: &[&str] = &[
    "create",
    "resize",
    "part",
    "inspect",
    "copy",
    "initramfs",
    "mkisofs",
    "build",
    "mkfs",
    "ls",
    "cat",
    "extract",
    "convert",
    "info",
    "grub-mkimage",
    "grub-install",
];

/// Runs imgforge in `dir` and checks the error discipline; `outputs` must
/// not exist afterwards, nor any temp file in `dir`.
fn fails(dir: &Path, args: &[&str], expect: &str, outputs: &[&str]) {
    let o = run(Command::new(imgforge()).current_dir(dir).args(args));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(expect), "{args:?}: '{expect}' not in {err}");
    for out in outputs {
        assert!(!dir.join(out).exists(), "{args:?}: {out} was left");
    }
    let temps: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".imgforge-") || n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{args:?}: temp files left: {temps:?}");
}

#[test]
fn help_on_every_subcommand() {
    for c in COMMANDS {
        let out = run_ok(Command::new(imgforge()).args([c, "--help"]));
        // clap's help, or mkisofs's own usage line.
        assert!(
            out.to_lowercase().contains(&format!("usage: imgforge {c}")),
            "{c} --help: {out}"
        );
    }
    let out = run_ok(Command::new(imgforge()).arg("--help"));
    for c in COMMANDS {
        assert!(out.contains(c), "{c} missing from imgforge --help: {out}");
    }
}

/// A small raw GPT disk and a qcow2 of it, plus a truncated copy.
fn images(d: &Path) {
    std::fs::write(
        d.join("r.toml"),
        "[disk]\nsize = \"8M\"\n[[partition]]\ntype = \"8300\"\nsize = \"rest\"\n[partition.filesystem]\ntype = \"ext4\"\ncontents = [{ text = \"x\", at = \"/x\" }]\n",
    )
    .unwrap();
    run_ok(
        Command::new(imgforge())
            .current_dir(d)
            .args(["build", "r.toml", "-o", "disk.img"]),
    );
    run_ok(Command::new(imgforge()).current_dir(d).args([
        "convert",
        "-O",
        "qcow2",
        "disk.img",
        "disk.qcow2",
    ]));
    let q = std::fs::read(d.join("disk.qcow2")).unwrap();
    // The header survives; the L1 table and data do not.
    std::fs::write(d.join("trunc.qcow2"), &q[..70_000]).unwrap();
    std::fs::write(d.join("short.qcow2"), &q[..50]).unwrap();
    // A qcow2 whose cluster_bits (header offset 20) is out of range.
    let mut bad = q.clone();
    bad[20..24].copy_from_slice(&40u32.to_be_bytes());
    std::fs::write(d.join("bits.qcow2"), &bad).unwrap();
}

#[test]
fn bad_inputs_fail_with_one_line() {
    let d = scratch("cli-errors");
    images(&d);
    let o = &["out.img"];
    // Missing input files.
    fails(&d, &["inspect", "nope.img"], "nope.img", o);
    fails(&d, &["info", "nope.img"], "nope.img", o);
    fails(&d, &["convert", "nope.img", "out.img"], "nope.img", o);
    fails(
        &d,
        &["copy", "--sparse", "nope.img", "out.img"],
        "nope.img",
        o,
    );
    fails(&d, &["resize", "nope.img", "+1M"], "nope.img", o);
    fails(&d, &["part", "--new", "1::+1M", "nope.img"], "nope.img", o);
    fails(&d, &["build", "nope.toml", "-o", "out.img"], "nope.toml", o);
    fails(
        &d,
        &["mkfs", "ext4", "nope.tar", "-o", "out.img"],
        "nope.tar",
        o,
    );
    fails(
        &d,
        &["initramfs", "nope-dir", "-o", "out.img"],
        "nope-dir",
        o,
    );
    fails(&d, &["mkisofs", "-o", "out.img", "nope-dir"], "nope-dir", o);
    fails(&d, &["ls", "nope.img"], "nope.img", o);
    fails(&d, &["cat", "nope.img:/x"], "nope.img", o);
    fails(&d, &["extract", "nope.img", "xdir"], "nope.img", &["xdir"]);
    // Garbage sizes and unknown formats.
    fails(&d, &["create", "out.img", "12Q"], "12Q", o);
    fails(&d, &["create", "out.img", "ten"], "ten", o);
    fails(&d, &["create", "-f", "foo", "out.img", "1M"], "foo", o);
    fails(&d, &["resize", "disk.img", "+lots"], "lots", &[]);
    fails(
        &d,
        &["convert", "-O", "foo", "disk.img", "out.img"],
        "foo",
        o,
    );
    fails(
        &d,
        &["convert", "-f", "foo", "disk.img", "out.img"],
        "foo",
        o,
    );
    fails(
        &d,
        &[
            "convert",
            "-O",
            "qcow2",
            "-o",
            "cluster_size=zz",
            "disk.img",
            "out.img",
        ],
        "zz",
        o,
    );
    fails(&d, &["info", "-f", "foo", "disk.img"], "foo", o);
    fails(&d, &["mkfs", "ntfs", "r.toml", "-o", "out.img"], "ntfs", o);
    fails(&d, &["part", "--new", "1:zz:+1M", "disk.img"], "zz", &[]);
    // Corrupt images.
    for bad in ["trunc.qcow2", "short.qcow2", "bits.qcow2"] {
        fails(&d, &["convert", bad, "out.img"], bad, o);
        fails(&d, &["convert", "-O", "vhdx", bad, "out.img"], bad, o);
        fails(&d, &["info", bad], bad, o);
        fails(&d, &["ls", &format!("{bad}:1:/")], bad, o);
        fails(
            &d,
            &["extract", &format!("{bad}:1"), "xdir"],
            bad,
            &["xdir/x"],
        );
        // inspect reports what it could read and warns about the rest
        // (like a damaged GPT copy); it must still not panic.
        let o = run(Command::new(imgforge())
            .current_dir(&d)
            .args(["inspect", bad]));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "inspect {bad}: {err}");
        if o.status.success() {
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(
                out.contains("warning: cannot open the qcow2 container"),
                "inspect {bad}: {out}"
            );
        } else {
            assert_eq!(o.status.code(), Some(1));
            assert!(err.starts_with("error: "), "inspect {bad}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "inspect {bad}: {err}");
        }
    }
    // The source of a failed command is untouched.
    assert_eq!(
        std::fs::metadata(d.join("disk.img")).unwrap().len(),
        8 << 20
    );
}

/// An existing output is kept when the command fails (the temp file is
/// renamed only on success).
#[test]
fn failed_convert_keeps_old_output() {
    let d = scratch("cli-errors-keep");
    images(&d);
    std::fs::write(d.join("old.img"), b"precious").unwrap();
    let o =
        run(Command::new(imgforge())
            .current_dir(&d)
            .args(["convert", "trunc.qcow2", "old.img"]));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(d.join("old.img")).unwrap(), b"precious");
}

#[test]
fn create_sizes_agree_with_qemu_img() {
    if !have("qemu-img") {
        return;
    }
    let d = scratch("cli-sizes");
    for (size, bytes) in [
        ("10G", 10u64 << 30),
        ("512M", 512 << 20),
        ("2048s", 2048 * 512),
        ("100K", 100 << 10),
        ("4096", 4096),
    ] {
        for fmt in ["raw", "qcow2", "vhdx", "vmdk"] {
            let img = d.join(format!("{size}.{fmt}"));
            run_ok(
                Command::new(imgforge())
                    .args(["create", "-f", fmt])
                    .arg(&img)
                    .arg(size),
            );
            let out = run_ok(
                tool("qemu-img")
                    .args(["info", "--output=json", "-f", fmt])
                    .arg(&img),
            );
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["virtual-size"], bytes, "{size} {fmt}: {out}");
            if fmt == "raw" {
                // Sparse: no data blocks allocated.
                use std::os::unix::fs::MetadataExt;
                assert_eq!(std::fs::metadata(&img).unwrap().blocks(), 0, "{size}");
            }
        }
    }
    for garbage in ["12Q", "", "-5M", "1.5.G", "G", "99999999999999999999"] {
        fails(&d, &["create", "--", "g.img", garbage], "", &["g.img"]);
    }
}

/// Regression: `imgforge info X | head` panicked ("failed printing to
/// stdout: Broken pipe"); a closed stdout is one error line now.
#[test]
fn closed_stdout_is_not_a_panic() {
    let d = scratch("cli-errors-pipe");
    images(&d);
    for args in [
        &["info", "disk.qcow2"][..],
        &["info", "--output=json", "disk.qcow2"],
        &["inspect", "disk.qcow2"],
        &["inspect", "--json", "disk.img"],
        &["ls", "-l", "disk.img:1:/"],
    ] {
        let mut child = Command::new(imgforge())
            .current_dir(&d)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the child prints.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if !o.status.success() {
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.starts_with("error: "), "{args:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        }
    }
}
