//! qcow2 against qemu-img: what imgforge writes passes `qemu-img check`,
//! `info` and `compare` (plain, compressed, several cluster sizes); what
//! qemu-img writes (v3, compressed, v2, with a backing file) imgforge reads
//! to the same bytes; `imgforge resize` grows an image qemu still accepts.
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 96 MiB sparse raw disk with scattered random data, text and explicit
/// zeros, and a size that is not a multiple of 64 KiB.
pub fn test_disk(dir: &Path) -> PathBuf {
    use std::io::{Seek, SeekFrom, Write};
    let p = dir.join("src.raw");
    let mut f = std::fs::File::create(&p).unwrap();
    let size = (96u64 << 20) + 7 * 512;
    f.set_len(size).unwrap();
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..40u64 {
        let off = next() % (size - 400_000);
        let len = 1 + next() % 300_000;
        let data: Vec<u8> = match i % 3 {
            0 => (0..len).map(|_| next() as u8).collect(),
            1 => (0..len)
                .map(|j| b"imgforge qcow2 "[(j % 15) as usize])
                .collect(),
            _ => vec![0; len as usize],
        };
        f.seek(SeekFrom::Start(off)).unwrap();
        f.write_all(&data).unwrap();
    }
    f.seek(SeekFrom::Start(size - 5)).unwrap();
    f.write_all(b"end!\n").unwrap();
    p
}

pub fn qemu_info(img: &Path, fmt: &str) -> serde_json::Value {
    let out = run_ok(
        tool("qemu-img")
            .args(["info", "-f", fmt, "--output=json"])
            .arg(img),
    );
    serde_json::from_str(&out).unwrap()
}

pub fn imgforge_info(img: &Path) -> serde_json::Value {
    let out = run_ok(
        Command::new(imgforge())
            .args(["info", "--output=json"])
            .arg(img),
    );
    serde_json::from_str(&out).unwrap()
}

pub fn compare(src: &Path, fmt: &str, img: &Path) {
    let out = run_ok(
        tool("qemu-img")
            .args(["compare", "-f", "raw"])
            .arg(src)
            .args(["-F", fmt])
            .arg(img),
    );
    assert!(out.contains("Images are identical"), "{out}");
}

/// The bytes of `raw` are `want` followed by zeros only.
pub fn same_bytes(want: &Path, raw: &Path) {
    let a = std::fs::read(want).unwrap();
    let b = std::fs::read(raw).unwrap();
    assert!(b.len() >= a.len(), "{} is shorter", raw.display());
    assert!(
        a == b[..a.len()],
        "{} differs from {}",
        raw.display(),
        want.display()
    );
    assert!(b[a.len()..].iter().all(|&x| x == 0));
}

fn convert(args: &[&str], input: &Path, output: &Path) {
    run_ok(
        Command::new(imgforge())
            .arg("convert")
            .args(args)
            .arg(input)
            .arg(output),
    );
}

#[test]
fn imgforge_qcow2_passes_qemu_img() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("qcow2_write");
    let src = test_disk(&dir);
    let size = std::fs::metadata(&src).unwrap().len();
    for (cs, c) in [
        ("64K", false),
        ("64K", true),
        ("512", false),
        ("4K", true),
        ("2M", false),
    ] {
        let out = dir.join(format!("out-{cs}-{c}.qcow2"));
        let opt = format!("cluster_size={cs}");
        let mut args = vec!["-O", "qcow2", "-o", &opt];
        if c {
            args.push("-c");
        }
        convert(&args, &src, &out);
        let chk = run_ok(tool("qemu-img").args(["check", "-f", "qcow2"]).arg(&out));
        assert!(chk.contains("No errors were found"), "{cs} {c}: {chk}");
        if c {
            assert!(!chk.contains(" 0.00% compressed"), "{chk}");
        }
        let info = qemu_info(&out, "qcow2");
        assert_eq!(info["virtual-size"], size);
        assert_eq!(info["format"], "qcow2");
        compare(&src, "qcow2", &out);
        let ours = imgforge_info(&out);
        assert_eq!(ours["virtual-size"], size);
        assert_eq!(ours["cluster-size"], info["cluster-size"]);
    }
}

#[test]
fn qemu_qcow2_reads_back() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("qcow2_read");
    let src = test_disk(&dir);
    for (name, opts) in [
        ("v3", vec![]),
        ("v3c", vec!["-c"]),
        ("v2", vec!["-o", "compat=0.10"]),
        ("v3-4k", vec!["-o", "cluster_size=4096"]),
    ] {
        let q = dir.join(format!("{name}.qcow2"));
        run_ok(
            tool("qemu-img")
                .args(["convert", "-O", "qcow2"])
                .args(&opts)
                .arg(&src)
                .arg(&q),
        );
        let raw = dir.join(format!("{name}.raw"));
        convert(&["-O", "raw"], &q, &raw);
        same_bytes(&src, &raw);
        let info = imgforge_info(&q);
        let compat = if name == "v2" { "0.10" } else { "1.1" };
        assert_eq!(info["format-specific"]["data"]["compat"], compat);
    }
}

#[test]
fn backing_file_is_reported_and_required() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("qcow2_backing");
    let base = dir.join("base.raw");
    std::fs::write(&base, vec![1u8; 1 << 20]).unwrap();
    let over = dir.join("over.qcow2");
    run_ok(
        tool("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&base)
            .arg(&over),
    );
    let info = imgforge_info(&over);
    assert_eq!(info["backing-filename"], base.display().to_string());
    assert_eq!(info["backing-filename-format"], "raw");
    let out = run(Command::new(imgforge())
        .args(["convert", "-O", "raw"])
        .arg(&over)
        .arg(dir.join("x.raw")));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backing file"), "{err}");
    assert!(!dir.join("x.raw").exists());
}

#[test]
fn resize_grows_qcow2() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("qcow2_resize");
    let src = test_disk(&dir);
    for cs in ["512", "64K"] {
        let img = dir.join(format!("r{cs}.qcow2"));
        convert(
            &["-O", "qcow2", "-o", &format!("cluster_size={cs}")],
            &src,
            &img,
        );
        run_ok(Command::new(imgforge()).arg("resize").arg(&img).arg("+20G"));
        let chk = run_ok(tool("qemu-img").args(["check", "-f", "qcow2"]).arg(&img));
        assert!(chk.contains("No errors were found"), "{chk}");
        let size = std::fs::metadata(&src).unwrap().len();
        assert_eq!(qemu_info(&img, "qcow2")["virtual-size"], size + (20 << 30));
        compare(&src, "qcow2", &img);
        let out = run(Command::new(imgforge()).arg("resize").arg(&img).arg("1M"));
        assert!(!out.status.success());
    }
}
