//! qcow2 images edited in place: `imgforge resize X.qcow2 +SIZE --grow-last`
//! (qemu-img resize + sgdisk -e + growpart) and `imgforge part` on images
//! qemu-img made (plain, compressed, small clusters, with a snapshot) pass
//! `qemu-img check`, convert to the same raw bytes as the raw image edited
//! the same way, and keep their ext4 partition clean; bad images are refused
//! untouched.
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1 << 20;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn imgf_ok(args: &[&str]) -> String {
    run_ok(Command::new(imgforge()).args(args))
}

fn imgf_err(args: &[&str]) -> String {
    let out = run(Command::new(imgforge()).args(args));
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn have_all(tools: &[&str]) -> bool {
    tools.iter().all(|t| have(t))
}

/// A 64 MiB raw GPT disk made by sgdisk: an 8 MiB ESP, then an ext4
/// partition filled by `mke2fs -d` to the end of the disk.
fn gpt_ext4_disk(dir: &Path) -> PathBuf {
    let img = dir.join("disk.raw");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(64 * MIB).unwrap();
    run_ok(tool("sgdisk").args([
        "-n",
        "1:2048:+8M",
        "-t",
        "1:ef00",
        "-n",
        "2:0:0",
        "-t",
        "2:8300",
        s(&img),
    ]));
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hostname"), "cloud\n").unwrap();
    let numbers: String = (0..30_000).map(|i| format!("{i}\n")).collect();
    std::fs::write(root.join("numbers"), numbers).unwrap();
    let (first, last) = part_range(&img, 2);
    run_ok(tool("mke2fs").args([
        "-q",
        "-t",
        "ext4",
        "-d",
        s(&root),
        "-E",
        &format!("offset={}", first * 512),
        s(&img),
        &format!("{}k", (last - first + 1) * 512 / 1024),
    ]));
    img
}

/// First and last sector of partition `n`, as `sgdisk -i` reports them.
fn part_range(img: &Path, n: u32) -> (u64, u64) {
    let out = run_ok(tool("sgdisk").args(["-i", &n.to_string(), s(img)]));
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
    };
    (field("First sector: "), field("Last sector: "))
}

fn sgdisk_verify_clean(img: &Path) {
    let out = run_ok(tool("sgdisk").args(["-v", s(img)]));
    assert!(out.contains("No problems found"), "{out}");
}

/// `qemu-img check`: exit 0, no errors, no leaks.
fn qemu_check_clean(img: &Path) {
    let out = run_ok(tool("qemu-img").args(["check", "-f", "qcow2", s(img)]));
    assert!(out.contains("No errors were found"), "{out}");
    assert!(!out.contains("leaked"), "{out}");
}

fn qemu_convert(args: &[&str], from: &Path, to: &Path) {
    run_ok(tool("qemu-img").arg("convert").args(args).arg(from).arg(to));
}

fn virtual_size(img: &Path) -> u64 {
    let out = run_ok(tool("qemu-img").args(["info", "-f", "qcow2", "--output=json", s(img)]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["virtual-size"].as_u64().unwrap()
}

/// e2fsck -fn of sectors [first, last] of `raw`, copied to their own file.
fn e2fsck_partition(raw: &Path, first: u64, last: u64, out: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(raw).unwrap();
    f.seek(SeekFrom::Start(first * 512)).unwrap();
    let mut part = f.take((last - first + 1) * 512);
    let mut o = std::fs::File::create(out).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = part.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        o.write_all(&buf[..n]).unwrap();
    }
    drop(o);
    let r = run(tool("e2fsck").arg("-fn").arg(out));
    let text =
        String::from_utf8_lossy(&r.stdout).into_owned() + &String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "e2fsck -fn failed:\n{text}");
}

fn same_file(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(
        x.len(),
        y.len(),
        "{} and {} differ in size",
        a.display(),
        b.display()
    );
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// `qemu-img compare` and the same virtual size: the same guest bytes.
fn same_guest(raw: &Path, img: &Path) {
    assert_eq!(virtual_size(img), std::fs::metadata(raw).unwrap().len());
    let out =
        run_ok(tool("qemu-img").args(["compare", "-f", "raw", "-F", "qcow2", s(raw), s(img)]));
    assert!(out.contains("Images are identical"), "{out}");
}

/// The workshop's "No space left on device": a cloud image (plain or
/// compressed qcow2, whose GPT sits in compressed clusters) grown in place.
#[test]
fn resize_grow_last_like_qemu_img_resize_and_growpart() {
    if !have_all(&["qemu-img", "sgdisk", "mke2fs", "e2fsck"]) {
        return;
    }
    let dir = scratch("qcow2_edit_resize");
    let raw = gpt_ext4_disk(&dir);
    let (first, last) = part_range(&raw, 2);
    e2fsck_partition(&raw, first, last, &dir.join("before.ext4"));
    // The same disk resized as raw is what every qcow2 must become.
    let want = dir.join("want.raw");
    std::fs::copy(&raw, &want).unwrap();
    imgf_ok(&["resize", s(&want), "+64M", "--grow-last"]);
    assert_eq!(std::fs::metadata(&want).unwrap().len(), 128 * MIB);
    let variants: [(&str, &[&str]); 7] = [
        ("plain", &["-O", "qcow2"]),
        ("compressed", &["-c", "-O", "qcow2"]),
        // 512-byte clusters: the L1 table and refcount structures grow.
        ("plain512", &["-O", "qcow2", "-o", "cluster_size=512"]),
        (
            "compressed4k",
            &["-c", "-O", "qcow2", "-o", "cluster_size=4096"],
        ),
        ("v2", &["-O", "qcow2", "-o", "compat=0.10"]),
        ("plain2M", &["-O", "qcow2", "-o", "cluster_size=2M"]),
        ("prealloc", &["-O", "qcow2", "-o", "preallocation=metadata"]),
    ];
    for (name, opts) in variants {
        let img = dir.join(format!("{name}.qcow2"));
        qemu_convert(opts, &raw, &img);
        imgf_ok(&["resize", s(&img), "+64M", "--grow-last"]);
        qemu_check_clean(&img);
        assert_eq!(virtual_size(&img), 128 * MIB, "{name}");
        if name == "compressed" {
            // What the tools say of one; the others have the same bytes.
            let out = dir.join("out.raw");
            qemu_convert(&["-f", "qcow2", "-O", "raw"], &img, &out);
            same_file(&want, &out);
            sgdisk_verify_clean(&out);
            assert_eq!(part_range(&out, 2), (first, 128 * MIB / 512 - 34));
            assert_eq!(part_range(&out, 1), part_range(&raw, 1));
            // Like growpart: the partition grew, its filesystem did not.
            e2fsck_partition(&out, first, 128 * MIB / 512 - 34, &dir.join("p.ext4"));
        } else {
            same_guest(&want, &img);
        }
        // Growing again edits the image's own clusters in place.
        imgf_ok(&["resize", s(&img), "+1M", "--grow-last"]);
        qemu_check_clean(&img);
        assert_eq!(virtual_size(&img), 129 * MIB, "{name}");
    }
}

/// A snapshot shares every cluster and L2 table: they are copied, and the
/// snapshot still reads as the disk before the resize.
#[test]
fn resize_grow_last_keeps_snapshots() {
    if !have_all(&["qemu-img", "sgdisk", "mke2fs", "e2fsck"]) {
        return;
    }
    let dir = scratch("qcow2_edit_snapshot");
    let raw = gpt_ext4_disk(&dir);
    let want = dir.join("want.raw");
    std::fs::copy(&raw, &want).unwrap();
    imgf_ok(&["resize", s(&want), "+64M", "--grow-last"]);
    for opts in [&["-O", "qcow2"][..], &["-c", "-O", "qcow2"]] {
        let img = dir.join("snap.qcow2");
        qemu_convert(opts, &raw, &img);
        run_ok(tool("qemu-img").args(["snapshot", "-c", "before", s(&img)]));
        imgf_ok(&["resize", s(&img), "+64M", "--grow-last"]);
        qemu_check_clean(&img);
        let out = dir.join("snap.raw");
        qemu_convert(&["-f", "qcow2", "-O", "raw"], &img, &out);
        same_file(&want, &out);
        let old = dir.join("before.raw");
        qemu_convert(
            &["-f", "qcow2", "-l", "snapshot.name=before", "-O", "raw"],
            &img,
            &old,
        );
        // qemu reads the snapshot at the current size: its disk, then zeros.
        crate::qcow2::same_bytes(&raw, &old);
    }
}

/// Without a partition table a qcow2 grows as `qemu-img resize` grows it;
/// --grow-last says there is nothing to grow.
#[test]
fn resize_without_table_matches_qemu_img_resize() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("qcow2_edit_plain");
    let src = crate::qcow2::test_disk(&dir);
    for cs in ["512", "64K"] {
        let ours = dir.join(format!("ours{cs}.qcow2"));
        let theirs = dir.join(format!("theirs{cs}.qcow2"));
        qemu_convert(
            &["-O", "qcow2", "-o", &format!("cluster_size={cs}")],
            &src,
            &ours,
        );
        std::fs::copy(&ours, &theirs).unwrap();
        let e = imgf_err(&["resize", s(&ours), "+3G", "--grow-last"]);
        assert!(e.contains("no partition table"), "{e}");
        imgf_ok(&["resize", s(&ours), "+3G"]);
        run_ok(tool("qemu-img").args(["resize", "-f", "qcow2", s(&theirs), "+3G"]));
        qemu_check_clean(&ours);
        assert_eq!(virtual_size(&ours), virtual_size(&theirs));
        let out = run_ok(tool("qemu-img").args(["compare", "-s", s(&theirs), s(&ours)]));
        assert!(out.contains("Images are identical"), "{out}");
    }
}

/// `imgforge part` edits a compressed qcow2 as it edits the raw disk.
#[test]
fn part_edits_qcow2_in_place() {
    if !have_all(&["qemu-img", "sgdisk"]) {
        return;
    }
    let dir = scratch("qcow2_edit_part");
    let raw = dir.join("disk.raw");
    imgf_ok(&["create", s(&raw), "64M"]);
    imgf_ok(&["part", "--new", "1::+8M", "--typecode=1:ef00", s(&raw)]);
    let img = dir.join("disk.qcow2");
    qemu_convert(&["-c", "-O", "qcow2"], &raw, &img);
    let edit = [
        "part",
        "--new",
        "2::+20M",
        "--typecode=2:8300",
        "--change-name=2:root",
        "--seed",
        "x",
    ];
    let mut a = edit.to_vec();
    a.push(s(&raw));
    imgf_ok(&a);
    let mut a = edit.to_vec();
    a.push(s(&img));
    imgf_ok(&a);
    qemu_check_clean(&img);
    let out = dir.join("out.raw");
    qemu_convert(&["-f", "qcow2", "-O", "raw"], &img, &out);
    sgdisk_verify_clean(&out);
    same_file(&raw, &out);
    let p = imgf_ok(&["part", "-p", s(&img)]);
    assert!(p.contains("root"), "{p}");

    // Zero-flagged clusters under the table: kept (-z, rewritten in place)
    // or unmapped (-z -u, a new cluster), as qemu-io leaves them.
    if !have("qemu-io") {
        return;
    }
    let new_table = [
        "part",
        "--clear",
        "--new",
        "1::+8M",
        "--typecode=1:ef00",
        "--seed",
        "z",
    ];
    let zraw = dir.join("zero.raw");
    std::fs::copy(&raw, &zraw).unwrap();
    run_ok(tool("qemu-io").args(["-f", "raw", "-c", "write -z 0 1M", s(&zraw)]));
    let mut a = new_table.to_vec();
    a.push(s(&zraw));
    imgf_ok(&a);
    for z in ["write -z 0 1M", "write -z -u 0 1M"] {
        qemu_convert(&["-O", "qcow2"], &raw, &img);
        run_ok(tool("qemu-io").args(["-f", "qcow2", "-c", z, s(&img)]));
        let mut a = new_table.to_vec();
        a.push(s(&img));
        imgf_ok(&a);
        qemu_check_clean(&img);
        qemu_convert(&["-f", "qcow2", "-O", "raw"], &img, &out);
        same_file(&zraw, &out);
    }
}

/// Images the editor refuses are left byte for byte as they were.
#[test]
fn bad_qcow2_edits_are_refused_untouched() {
    if !have_all(&["qemu-img", "sgdisk", "mke2fs"]) {
        return;
    }
    let dir = scratch("qcow2_edit_bad");
    let raw = gpt_ext4_disk(&dir);
    let base = dir.join("base.qcow2");
    qemu_convert(&["-O", "qcow2"], &raw, &base);
    let over = dir.join("over.qcow2");
    run_ok(tool("qemu-img").args([
        "create",
        "-f",
        "qcow2",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        s(&over),
    ]));
    let before = sha256_file(&over);
    let e = imgf_err(&["resize", s(&over), "+64M", "--grow-last"]);
    assert!(e.contains("backing file"), "{e}");
    let e = imgf_err(&["part", "--new", "3::+1M", s(&over)]);
    assert!(e.contains("backing file"), "{e}");
    assert_eq!(sha256_file(&over), before);
    // A plain grow of an overlay is qemu-img resize's.
    imgf_ok(&["resize", s(&over), "+64M"]);
    assert_eq!(virtual_size(&over), 128 * MIB);
    qemu_check_clean(&over);

    // Dirty: incompatible feature bit 0 (qcow2.txt, header byte 79).
    let dirty = dir.join("dirty.qcow2");
    std::fs::copy(&base, &dirty).unwrap();
    let mut v = std::fs::read(&dirty).unwrap();
    v[79] |= 1;
    std::fs::write(&dirty, &v).unwrap();
    let before = sha256_file(&dirty);
    let e = imgf_err(&["resize", s(&dirty), "+64M", "--grow-last"]);
    assert!(e.contains("dirty"), "{e}");
    assert_eq!(sha256_file(&dirty), before);

    let e = imgf_err(&["resize", s(&base), "+64M", "--shrink"]);
    assert!(e.contains("--shrink"), "{e}");
    let e = imgf_err(&["resize", s(&base), "32M"]);
    assert!(e.contains("shrinking"), "{e}");
    let vhd = dir.join("disk.vhd");
    qemu_convert(&["-O", "vpc"], &raw, &vhd);
    let e = imgf_err(&["part", "--new", "3::+1M", s(&vhd)]);
    assert!(e.contains("convert it to raw first"), "{e}");
}

/// An MBR disk in a compressed qcow2 grows its last partition too.
#[test]
fn resize_grow_last_mbr_qcow2() {
    if !have_all(&["qemu-img", "sfdisk"]) {
        return;
    }
    let dir = scratch("qcow2_edit_mbr");
    let raw = dir.join("mbr.raw");
    imgf_ok(&["create", s(&raw), "32M"]);
    imgf_ok(&[
        "part",
        "--mbr",
        "--clear",
        "--new",
        "1::+8M",
        "--typecode=1:0c",
        "--new",
        "2::-0",
        "--typecode=2:83",
        s(&raw),
    ]);
    let img = dir.join("mbr.qcow2");
    qemu_convert(&["-c", "-O", "qcow2"], &raw, &img);
    imgf_ok(&["resize", s(&raw), "+32M", "--grow-last"]);
    imgf_ok(&["resize", s(&img), "+32M", "--grow-last"]);
    qemu_check_clean(&img);
    same_guest(&raw, &img);
    let out = dir.join("out.raw");
    qemu_convert(&["-f", "qcow2", "-O", "raw"], &img, &out);
    let d = run_ok(tool("sfdisk").args(["-d", s(&out)]));
    assert!(
        d.contains("start=       18432, size=      112640, type=83"),
        "{d}"
    );
}
