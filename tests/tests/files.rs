//! `imgforge ls [-l]`, `cat` and `extract` on images made by the outside
//! tools (mkfs.fat+mcopy, mke2fs -d, xorriso -J -R, find|cpio|gzip, a GPT
//! partition inside a qcow2); extract stays inside DIR and keeps modes,
//! links, owners and device nodes; clear errors for missing paths,
//! partitions and filesystems.
use imgforge_tests::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn ig(args: &[&str]) -> std::process::Output {
    run(Command::new(imgforge()).args(args))
}

fn ig_ok(args: &[&str]) -> String {
    run_ok(Command::new(imgforge()).args(args))
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Exit 1, exactly one `error: ` line, no panic.
fn assert_one_error(o: &std::process::Output, what: &str, expect: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(err.starts_with("error: "), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(err.contains(expect), "{what}: '{expect}' not in {err}");
}

/// The `ls -l` line for `name`, split into columns.
fn ls_line(listing: &str, name: &str) -> Vec<String> {
    listing
        .lines()
        .find(|l| {
            let l = l.split(" -> ").next().unwrap();
            l.ends_with(&format!(" {name}"))
        })
        .unwrap_or_else(|| panic!("{name} not in:\n{listing}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// A source tree with everything extract must keep.
fn make_tree(d: &Path) {
    let t = d.join("tree");
    std::fs::create_dir_all(t.join("sub/deeper")).unwrap();
    std::fs::write(t.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(t.join("sub/deeper/data.bin"), vec![0xa5u8; 70_000]).unwrap();
    std::fs::write(t.join("suid"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(t.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(t.join("sub"), std::fs::Permissions::from_mode(0o2775)).unwrap();
    std::os::unix::fs::symlink("hello.txt", t.join("link")).unwrap();
    std::fs::hard_link(t.join("hello.txt"), t.join("hard")).unwrap();
    std::os::unix::fs::chown(t.join("hello.txt"), Some(1000), Some(1001)).unwrap();
    run_ok(
        Command::new("mknod")
            .arg(t.join("console"))
            .args(["c", "5", "1"]),
    );
}

/// Checks an extracted copy of make_tree's tree.
fn check_extracted(x: &Path, what: &str) {
    assert_eq!(
        std::fs::read(x.join("hello.txt")).unwrap(),
        b"hello\n",
        "{what}"
    );
    assert_eq!(
        std::fs::read(x.join("sub/deeper/data.bin")).unwrap(),
        vec![0xa5u8; 70_000],
        "{what}"
    );
    let m = std::fs::symlink_metadata(x.join("suid")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755, "{what}: setuid lost");
    let m = std::fs::symlink_metadata(x.join("sub")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o2775, "{what}: setgid lost");
    assert_eq!(
        std::fs::read_link(x.join("link")).unwrap(),
        Path::new("hello.txt"),
        "{what}"
    );
    let a = std::fs::metadata(x.join("hello.txt")).unwrap();
    let b = std::fs::metadata(x.join("hard")).unwrap();
    assert_eq!(a.ino(), b.ino(), "{what}: hard link not kept");
    assert_eq!((a.uid(), a.gid()), (1000, 1001), "{what}: owner");
    let c = std::fs::symlink_metadata(x.join("console")).unwrap();
    assert!(c.file_type().is_char_device(), "{what}: device node");
    assert_eq!(c.rdev(), (5 << 8) | 1, "{what}: device numbers");
}

#[test]
fn ext4_made_by_mke2fs_d() {
    if !have("mke2fs") {
        return;
    }
    let d = scratch("files-ext4");
    make_tree(&d);
    let img = d.join("fs.ext4");
    run_ok(
        tool("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(d.join("tree"))
            .arg(&img)
            .arg("16M"),
    );
    let ls = ig_ok(&["ls", "-l", &s(&img)]);
    let l = ls_line(&ls, "hello.txt");
    assert_eq!(&l[..5], ["-rw-r--r--", "2", "1000", "1001", "6"], "{ls}");
    assert_eq!(ls_line(&ls, "suid")[0], "-rwsr-xr-x", "{ls}");
    assert_eq!(ls_line(&ls, "sub")[0], "drwxrwsr-x", "{ls}");
    let l = ls_line(&ls, "link");
    assert!(
        l[0].starts_with('l') && l.ends_with(&["->".into(), "hello.txt".into()]),
        "{ls}"
    );
    let l = ls_line(&ls, "console");
    assert!(l[0].starts_with('c'), "{ls}");
    assert!(ls.contains("5, 1") || ls.contains("5,1"), "{ls}");
    let deep = ig_ok(&["ls", &format!("{}:/sub/deeper", s(&img))]);
    assert!(deep.contains("data.bin"), "{deep}");
    assert_eq!(
        ig_ok(&["cat", &format!("{}:/hello.txt", s(&img))]),
        "hello\n"
    );
    let x = d.join("x");
    ig_ok(&["extract", &s(&img), &s(&x)]);
    check_extracted(&x, "ext4");
    // A single file keeps its name.
    let one = d.join("one");
    ig_ok(&[
        "extract",
        &format!("{}:/sub/deeper/data.bin", s(&img)),
        &s(&one),
    ]);
    assert_eq!(std::fs::read(one.join("data.bin")).unwrap().len(), 70_000);
}

#[test]
fn fat_made_by_mkfs_fat_and_mcopy() {
    if !have("mkfs.fat") || !have("mcopy") {
        return;
    }
    let d = scratch("files-fat");
    let img = d.join("fat.img");
    run_ok(
        tool("mkfs.fat")
            .args(["-C", "-n", "TESTFAT"])
            .arg(&img)
            .arg("8192"),
    );
    std::fs::write(d.join("Long File Name.txt"), "long\n").unwrap();
    std::fs::write(d.join("big.bin"), vec![7u8; 100_000]).unwrap();
    run_ok(
        tool("mmd")
            .arg("-i")
            .arg(&img)
            .args(["::/EFI", "::/EFI/BOOT"]),
    );
    run_ok(
        tool("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(d.join("Long File Name.txt"))
            .arg("::/EFI/BOOT/"),
    );
    run_ok(
        tool("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(d.join("big.bin"))
            .arg("::/"),
    );
    let ls = ig_ok(&["ls", "-l", &format!("{}:/EFI/BOOT", s(&img))]);
    assert!(ls.contains("Long File Name.txt"), "{ls}");
    let ls = ig_ok(&["ls", "-l", &s(&img)]);
    let l = ls_line(&ls, "big.bin");
    assert!(l[0].starts_with('-'), "{ls}");
    assert_eq!(l[4], "100000", "{ls}");
    assert!(ls_line(&ls, "EFI")[0].starts_with('d'), "{ls}");
    assert_eq!(
        ig_ok(&["cat", &format!("{}:/EFI/BOOT/Long File Name.txt", s(&img))]),
        "long\n"
    );
    let x = d.join("x");
    ig_ok(&["extract", &s(&img), &s(&x)]);
    assert_eq!(
        std::fs::read(x.join("big.bin")).unwrap(),
        vec![7u8; 100_000]
    );
    assert_eq!(
        std::fs::read(x.join("EFI/BOOT/Long File Name.txt")).unwrap(),
        b"long\n"
    );
}

#[test]
fn iso_made_by_xorriso_rock_ridge() {
    if !have("xorriso") {
        return;
    }
    let d = scratch("files-iso");
    let t = d.join("tree");
    std::fs::create_dir_all(t.join("boot/a-rather-long-directory-name")).unwrap();
    std::fs::write(
        t.join("boot/a-rather-long-directory-name/MixedCase.File.txt"),
        "rr\n",
    )
    .unwrap();
    std::fs::write(t.join("script.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(t.join("script.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("boot/a-rather-long-directory-name", t.join("shortcut")).unwrap();
    let iso = d.join("x.iso");
    run_ok(
        tool("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-J", "-R", "-o"])
            .arg(&iso)
            .arg(&t),
    );
    let ls = ig_ok(&["ls", "-l", &s(&iso)]);
    assert!(ls_line(&ls, "script.sh")[0].starts_with("-r"), "{ls}");
    assert!(ls_line(&ls, "script.sh")[0].ends_with('x'), "{ls}");
    let l = ls_line(&ls, "shortcut");
    assert!(l[0].starts_with('l'), "{ls}");
    assert_eq!(
        l.last().unwrap(),
        "boot/a-rather-long-directory-name",
        "{ls}"
    );
    let inner = ig_ok(&[
        "ls",
        &format!("{}:/boot/a-rather-long-directory-name", s(&iso)),
    ]);
    assert!(inner.contains("MixedCase.File.txt"), "{inner}");
    assert_eq!(
        ig_ok(&[
            "cat",
            &format!(
                "{}:/boot/a-rather-long-directory-name/MixedCase.File.txt",
                s(&iso)
            )
        ]),
        "rr\n"
    );
    let x = d.join("x");
    ig_ok(&["extract", &s(&iso), &s(&x)]);
    assert_eq!(
        std::fs::read_link(x.join("shortcut")).unwrap(),
        Path::new("boot/a-rather-long-directory-name")
    );
    assert_eq!(
        std::fs::metadata(x.join("script.sh")).unwrap().mode() & 0o111,
        0o111
    );
    assert_eq!(
        std::fs::read(x.join("boot/a-rather-long-directory-name/MixedCase.File.txt")).unwrap(),
        b"rr\n"
    );
}

#[test]
fn initramfs_made_by_cpio_and_gzip() {
    if !have("cpio") || !have("gzip") {
        return;
    }
    let d = scratch("files-cpio");
    make_tree(&d);
    let out = d.join("initrd.gz");
    run_ok(
        Command::new("sh")
            .current_dir(d.join("tree"))
            .arg("-c")
            .arg(format!(
                "find . | cpio --quiet -o -H newc | gzip -9 > {}",
                out.display()
            )),
    );
    let ls = ig_ok(&["ls", "-l", &s(&out)]);
    let l = ls_line(&ls, "hello.txt");
    assert_eq!(&l[..5], ["-rw-r--r--", "2", "1000", "1001", "6"], "{ls}");
    assert_eq!(ls_line(&ls, "suid")[0], "-rwsr-xr-x", "{ls}");
    assert!(ls_line(&ls, "console")[0].starts_with('c'), "{ls}");
    assert_eq!(
        ig_ok(&["cat", &format!("{}:/hello.txt", s(&out))]),
        "hello\n"
    );
    let x = d.join("x");
    ig_ok(&["extract", &s(&out), &s(&x)]);
    check_extracted(&x, "cpio");
}

#[test]
fn partition_of_gpt_disk_inside_qcow2() {
    if !have("sgdisk") || !have("mke2fs") || !have("qemu-img") {
        return;
    }
    let d = scratch("files-qcow2-part");
    make_tree(&d);
    let raw = d.join("disk.raw");
    std::fs::File::create(&raw)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    run_ok(
        tool("sgdisk")
            .args([
                "-n",
                "1:2048:+8M",
                "-t",
                "1:ef00",
                "-n",
                "2::-0",
                "-t",
                "2:8300",
            ])
            .arg(&raw),
    );
    // Partition 2 starts at sector 2048 + 8 MiB / 512 = 18432.
    let fs = d.join("p2.ext4");
    run_ok(
        tool("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(d.join("tree"))
            .arg(&fs)
            .arg("16M"),
    );
    run_ok(Command::new("dd").args([
        format!("if={}", fs.display()),
        format!("of={}", raw.display()),
        "bs=512".into(),
        "seek=18432".into(),
        "conv=notrunc,sparse".into(),
        "status=none".into(),
    ]));
    let q = d.join("disk.qcow2");
    run_ok(
        tool("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&raw)
            .arg(&q),
    );
    let ls = ig_ok(&["ls", "-l", &format!("{}:2:/", s(&q))]);
    assert_eq!(ls_line(&ls, "hello.txt")[2], "1000", "{ls}");
    assert_eq!(
        ig_ok(&["cat", &format!("{}:2:/hello.txt", s(&q))]),
        "hello\n"
    );
    let x = d.join("x");
    ig_ok(&["extract", &format!("{}:2", s(&q)), &s(&x)]);
    check_extracted(&x, "qcow2 partition 2");
    // Partition 1 has no filesystem; partition 3 does not exist.
    assert_one_error(&ig(&["ls", &format!("{}:1:/", s(&q))]), "no fs", "");
    assert_one_error(&ig(&["ls", &format!("{}:3:/", s(&q))]), "no part", "3");
    assert_one_error(
        &ig(&["cat", &format!("{}:2:/nope.txt", s(&q))]),
        "missing path",
        "/nope.txt",
    );
}

#[test]
fn files_errors_are_one_line() {
    let d = scratch("files-errors");
    let zero = d.join("zero.img");
    std::fs::File::create(&zero)
        .unwrap()
        .set_len(4 << 20)
        .unwrap();
    assert_one_error(&ig(&["ls", &s(&zero)]), "no filesystem", "");
    assert_one_error(&ig(&["cat", &format!("{}:/x", s(&zero))]), "cat no fs", "");
    let x = d.join("x");
    assert_one_error(&ig(&["extract", &s(&zero), &s(&x)]), "extract no fs", "");
    assert_one_error(
        &ig(&["ls", &s(&d.join("missing.img"))]),
        "missing image",
        "missing.img",
    );
    // A bare filesystem image has no partition table.
    let r = d.join("r.toml");
    std::fs::write(
        &r,
        "[filesystem]\ntype = \"ext4\"\ncontents = [{ text = \"x\", at = \"/a\" }]\n",
    )
    .unwrap();
    let fs = d.join("fs.ext4");
    ig_ok(&["build", &s(&r), "-o", &s(&fs)]);
    assert_one_error(
        &ig(&["ls", &format!("{}:/nope", s(&fs))]),
        "no path",
        "/nope",
    );
    assert_one_error(&ig(&["ls", &format!("{}:2:/", s(&fs))]), "no table", "");
}

/// Raw newc cpio bytes: entries of (name, mode, data).
fn newc(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |name: &str, mode: u32, data: &[u8], ino: u32| {
        let h = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for (i, (n, m, data)) in entries.iter().enumerate() {
        push(n, *m, data, i as u32 + 1);
    }
    push("TRAILER!!!", 0, b"", 0);
    out
}

/// A symlink `a -> /tmp/…` followed by `a/evil` must not write through the
/// link (cpio and tar→ext4); refusing the archive earlier is fine too.
#[test]
fn extract_never_writes_outside_dir() {
    let d = scratch("files-hostile");
    let outside = d.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = s(&outside);
    let cpio = d.join("hostile.cpio");
    std::fs::write(
        &cpio,
        newc(&[
            ("a", 0o120777, target.as_bytes()),
            ("a/evil", 0o100644, b"pwned\n"),
            ("b", 0o120777, b"../../.."),
            ("b/evil2", 0o100644, b"pwned\n"),
        ]),
    )
    .unwrap();
    let x = d.join("x-cpio");
    let o = ig(&["extract", &s(&cpio), &s(&x)]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    assert!(
        !outside.join("evil").exists(),
        "cpio extract wrote through a link"
    );
    assert!(!d.join("evil2").exists() && !root().join("evil2").exists());
    if o.status.success() {
        // What was kept is inside DIR.
        assert!(std::fs::symlink_metadata(x.join("a")).is_ok());
    }

    // The same through a tar turned into ext4 by imgforge mkfs.
    let tar = d.join("hostile.tar");
    run_ok(Command::new("python3").arg("-c").arg(format!(
        r#"
import tarfile, io
with tarfile.open("{}", "w") as t:
    i = tarfile.TarInfo("a"); i.type = tarfile.SYMTYPE; i.linkname = "{target}"; t.addfile(i)
    i = tarfile.TarInfo("a/evil"); i.size = 6; t.addfile(i, io.BytesIO(b"pwned\n"))
"#,
        tar.display()
    )));
    let fs = d.join("hostile.ext4");
    let o = ig(&["mkfs", "ext4", &s(&tar), "-o", &s(&fs)]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    if o.status.success() {
        let x = d.join("x-ext4");
        let o = ig(&["extract", &s(&fs), &s(&x)]);
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    } else {
        assert!(!fs.exists());
    }
    assert!(
        !outside.join("evil").exists(),
        "ext4 extract wrote through a link"
    );
}

/// Extracting into a DIR that already holds a symlink (say from an earlier
/// extract) must not follow it, even two levels down.
#[test]
fn extract_into_dir_with_planted_symlink() {
    let d = scratch("files-planted");
    let outside = d.join("outside");
    std::fs::create_dir_all(outside.join("b")).unwrap();
    let x = d.join("x");
    std::fs::create_dir_all(&x).unwrap();
    std::os::unix::fs::symlink(&outside, x.join("a")).unwrap();
    let cpio = d.join("dirs.cpio");
    std::fs::write(
        &cpio,
        newc(&[
            ("a", 0o040755, b""),
            ("a/b", 0o040755, b""),
            ("a/b/evil", 0o100644, b"pwned\n"),
        ]),
    )
    .unwrap();
    let o = ig(&["extract", &s(&cpio), &s(&x)]);
    assert!(
        !outside.join("b/evil").exists(),
        "extract followed a planted link"
    );
    assert_one_error(&o, "planted link", "");
}

/// Regression: `imgforge extract IMAGE:/dir out/` with a relative target
/// directory failed with "cannot stat : No such file or directory" (the
/// extraction root's parent is the empty path).
#[test]
fn extract_into_relative_dir_with_trailing_slash() {
    let d = scratch("files-extract-relative");
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    std::fs::write(d.join("src/sub/f.txt"), "relative\n").unwrap();
    run_ok(
        std::process::Command::new(imgforge())
            .current_dir(&d)
            .args(["mkfs", "ext4", "src", "-o", "fs.img"]),
    );
    run_ok(
        std::process::Command::new(imgforge())
            .current_dir(&d)
            .args(["extract", "fs.img:/sub", "out/"]),
    );
    assert_eq!(
        std::fs::read_to_string(d.join("out/f.txt")).unwrap(),
        "relative\n"
    );
}

/// An MBR disk made by sfdisk: a primary FAT partition and an ext4 logical
/// partition (number 5) inside an extended one.
#[test]
fn mbr_logical_partition_made_by_sfdisk() {
    if !have("sfdisk") || !have("mkfs.fat") || !have("mke2fs") {
        return;
    }
    let d = scratch("files-mbr");
    make_tree(&d);
    let disk = d.join("mbr.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    let mut c = tool("sfdisk");
    c.arg("-q").arg(&disk).stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"label: dos\n,8M,c\n,,E\n,16M,83\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let j: serde_json::Value =
        serde_json::from_str(&run_ok(tool("sfdisk").arg("--json").arg(&disk))).unwrap();
    let parts = j["partitiontable"]["partitions"].as_array().unwrap();
    let start = |i: usize| parts[i]["start"].as_u64().unwrap();
    assert_eq!(parts.len(), 3, "{j}");
    let fat = d.join("p1.fat");
    run_ok(tool("mkfs.fat").arg("-C").arg(&fat).arg("8192"));
    std::fs::write(d.join("readme.txt"), "fat\n").unwrap();
    run_ok(
        tool("mcopy")
            .arg("-i")
            .arg(&fat)
            .arg(d.join("readme.txt"))
            .arg("::/"),
    );
    let ext = d.join("p5.ext4");
    run_ok(
        tool("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(d.join("tree"))
            .arg(&ext)
            .arg("16M"),
    );
    for (fs, sector) in [(&fat, start(0)), (&ext, start(2))] {
        run_ok(Command::new("dd").args([
            format!("if={}", fs.display()),
            format!("of={}", disk.display()),
            "bs=512".into(),
            format!("seek={sector}"),
            "conv=notrunc".into(),
            "status=none".into(),
        ]));
    }
    assert_eq!(
        ig_ok(&["cat", &format!("{}:1:/readme.txt", s(&disk))]),
        "fat\n"
    );
    let ls = ig_ok(&["ls", "-l", &format!("{}:5:/", s(&disk))]);
    assert_eq!(ls_line(&ls, "suid")[0], "-rwsr-xr-x", "{ls}");
    let x = d.join("x");
    ig_ok(&["extract", &format!("{}:5", s(&disk)), &s(&x)]);
    check_extracted(&x, "mbr logical 5");
    // The extended partition itself holds no filesystem.
    assert_one_error(&ig(&["ls", &format!("{}:2:/", s(&disk))]), "extended", "");
}

/// Joliet without Rock Ridge (`mkisofs -J`): long mixed-case names come
/// from the Joliet tree.
#[test]
fn iso_made_by_xorriso_joliet_only() {
    if !have("xorriso") {
        return;
    }
    let d = scratch("files-iso-joliet");
    let t = d.join("tree");
    std::fs::create_dir_all(t.join("Some Folder")).unwrap();
    std::fs::write(t.join("Some Folder/Read Me Please.txt"), "joliet\n").unwrap();
    let iso = d.join("j.iso");
    run_ok(
        tool("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-J", "-o"])
            .arg(&iso)
            .arg(&t),
    );
    let ls = ig_ok(&["ls", &format!("{}:/Some Folder", s(&iso))]);
    assert!(ls.contains("Read Me Please.txt"), "{ls}");
    assert_eq!(
        ig_ok(&[
            "cat",
            &format!("{}:/Some Folder/Read Me Please.txt", s(&iso))
        ]),
        "joliet\n"
    );
}
