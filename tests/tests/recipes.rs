//! Recipes end to end through the CLI: the example recipes build, and what
//! they build passes sgdisk -v, fsck.vfat -n, e2fsck -fn, mtools and
//! debugfs; ls/cat/extract read the files back; bad recipes fail with one
//! clear error naming the key or file and leave no output file.

use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn inputs_ready() -> bool {
    let ok = root().join("examples/inputs/rootfs.tar").is_file()
        && root().join("examples/inputs/vmlinuz").is_file();
    if !ok {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("examples/inputs missing: ./build.sh setup runs examples/get-inputs.sh");
        }
        eprintln!("skipping: examples/inputs missing (run examples/get-inputs.sh)");
    }
    ok
}

fn build(recipe: &Path, out: &Path, extra: &[&str]) -> String {
    run_ok(
        Command::new(imgforge())
            .arg("build")
            .arg(recipe)
            .arg("-o")
            .arg(out)
            .args(extra),
    )
}

/// Copies `len` bytes at `offset` of `img` into a new file.
fn slice(img: &Path, offset: u64, len: u64, out: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = Vec::new();
    f.take(len).read_to_end(&mut buf).unwrap();
    std::fs::write(out, buf).unwrap();
}

fn partitions(img: &Path) -> Vec<(u64, u64, u64)> {
    let json = run_ok(
        Command::new(imgforge())
            .args(["inspect", "--json"])
            .arg(img),
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["partition_table"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["number"].as_u64().unwrap(),
                p["start"].as_u64().unwrap() * 512,
                (p["end"].as_u64().unwrap() + 1 - p["start"].as_u64().unwrap()) * 512,
            )
        })
        .collect()
}

#[test]
fn bootable_disk_recipe_passes_the_real_tools() {
    if !inputs_ready()
        || !have("sgdisk")
        || !have("fsck.vfat")
        || !have("e2fsck")
        || !have("mcopy")
        || !have("debugfs")
    {
        return;
    }
    let d = scratch("recipe-bootable-disk");
    let img = d.join("disk.img");
    build(&root().join("examples/bootable-disk.toml"), &img, &[]);
    let v = run_ok(tool("sgdisk").arg("-v").arg(&img));
    assert!(v.contains("No problems found"), "{v}");
    let p = run_ok(tool("sgdisk").arg("-p").arg(&img));
    assert!(
        p.contains("EF00  EFI System") && p.contains("8300  slim-rootfs"),
        "{p}"
    );
    let parts = partitions(&img);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1, 1 << 20);
    assert_eq!(parts[0].2, 100 << 20);

    // ESP: fsck.vfat clean, mtools reads the files byte for byte at the offset.
    let esp = d.join("esp.img");
    slice(&img, parts[0].1, parts[0].2, &esp);
    let out = tool("fsck.vfat").arg("-n").arg(&esp).output().unwrap();
    assert!(
        out.status.success(),
        "fsck.vfat: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = d.join("BOOTX64.EFI");
    run_ok(
        tool("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(format!("{}@@{}", img.display(), parts[0].1))
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .arg(&got),
    );
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(root().join("examples/inputs/BOOTX64.EFI")).unwrap()
    );
    let cfg = run_ok(
        tool("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(format!("{}@@{}", img.display(), parts[0].1))
            .arg("::/EFI/BOOT/grub.cfg"),
    );
    assert!(
        cfg.contains("menuentry") && cfg.contains("linux /EFI/BOOT/vmlinuz"),
        "{cfg}"
    );

    // Root: e2fsck clean, debugfs reads /init as the tar has it.
    let rootfs = d.join("root.img");
    slice(&img, parts[1].1, parts[1].2, &rootfs);
    let out = tool("e2fsck").args(["-fn"]).arg(&rootfs).output().unwrap();
    assert!(
        out.status.success(),
        "e2fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let init = run_ok(tool("debugfs").arg("-R").arg("cat /init").arg(&rootfs));
    assert!(init.contains("IMGFORGE-BOOT-OK"), "{init}");
    let stat = run_ok(
        tool("debugfs")
            .arg("-R")
            .arg("stat /bin/busybox")
            .arg(&rootfs),
    );
    assert!(
        stat.contains("Mode:  0755") || stat.contains("Mode:  0755 "),
        "{stat}"
    );

    // Our own readers through the partition spec.
    let ls = run_ok(
        Command::new(imgforge())
            .args(["ls", "-l"])
            .arg(format!("{}:2:/bin", img.display())),
    );
    assert!(
        ls.contains("busybox") && ls.contains("sh -> busybox"),
        "{ls}"
    );
    let cat = Command::new(imgforge())
        .arg("cat")
        .arg(format!("{}:1:/EFI/BOOT/vmlinuz", img.display()))
        .output()
        .unwrap();
    assert_eq!(
        cat.stdout,
        std::fs::read(root().join("examples/inputs/vmlinuz")).unwrap()
    );
    let x = d.join("extract");
    run_ok(
        Command::new(imgforge())
            .arg("extract")
            .arg(format!("{}:2", img.display()))
            .arg(&x),
    );
    assert_eq!(
        std::fs::read_link(x.join("bin/sh")).unwrap(),
        PathBuf::from("busybox")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(x.join("init"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
}

#[test]
fn builds_are_deterministic_and_seeded() {
    if !inputs_ready() {
        return;
    }
    let d = scratch("recipe-determinism");
    let r = root().join("examples/bootable-disk.toml");
    let (a, b, c) = (d.join("a.img"), d.join("b.img"), d.join("c.img"));
    build(&r, &a, &[]);
    build(&r, &b, &[]);
    build(&r, &c, &["--seed", "other"]);
    assert_eq!(sha256_file(&a), sha256_file(&b));
    assert_ne!(sha256_file(&a), sha256_file(&c));
}

#[test]
fn recipe_to_qcow2_matches_raw() {
    if !inputs_ready() || !have("qemu-img") {
        return;
    }
    let d = scratch("recipe-qcow2");
    let r = root().join("examples/bootable-disk.toml");
    let (raw, q) = (d.join("disk.img"), d.join("disk.qcow2"));
    build(&r, &raw, &[]);
    build(&r, &q, &["-O", "qcow2"]);
    run_ok(tool("qemu-img").args(["check", "-f", "qcow2"]).arg(&q));
    run_ok(
        tool("qemu-img")
            .args(["compare", "-f", "raw", "-F", "qcow2"])
            .arg(&raw)
            .arg(&q),
    );
}

#[test]
fn initramfs_recipe_is_read_by_cpio() {
    if !inputs_ready() || !have("cpio") {
        return;
    }
    let d = scratch("recipe-initramfs");
    let out = d.join("initrd.img");
    build(&root().join("examples/initramfs.toml"), &out, &[]);
    let gz = std::fs::read(&out).unwrap();
    let mut raw = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let mut child = tool("cpio")
        .args(["-t", "-v", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    let o = child.wait_with_output().unwrap();
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("crw") && l.ends_with("dev/console")),
        "{list}"
    );
    assert!(list.lines().any(|l| l.ends_with(" init")), "{list}");
}

fn fails_with(recipe_text: &str, name: &str, expect: &[&str]) {
    let d = scratch(name);
    let r = d.join("r.toml");
    std::fs::write(&r, recipe_text).unwrap();
    let out_path = d.join("out.img");
    let o = Command::new(imgforge())
        .arg("build")
        .arg(&r)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{name}: expected exit 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: "), "{name}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{name}: one line expected: {err}"
    );
    for e in expect {
        assert!(err.contains(e), "{name}: '{e}' not in: {err}");
    }
    assert!(!out_path.exists(), "{name}: a partial output file was left");
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "{name}: temporary files left: {leftovers:?}"
    );
}

#[test]
fn bad_recipes_fail_clearly() {
    fails_with(
        "[disk]\nsize = \"1G\"\ncolour = \"red\"\n",
        "bad-unknown-key",
        &["line 3", "colour"],
    );
    fails_with(
        "[disk]\nsize = \"64M\"\n[[partition]]\ntype = \"8300\"\nsize = \"rest\"\n[partition.filesystem]\ntype = \"ext4\"\ncontents = [{ file = \"missing.bin\", at = \"/x\" }]\n",
        "bad-missing-file",
        &["missing.bin"],
    );
    fails_with(
        "[[partition]]\nnumber = 1\nsize = \"1M\"\n[[partition]]\nnumber = 1\nsize = \"1M\"\n",
        "bad-duplicate-number",
        &["partition[2].number"],
    );
    fails_with(
        "[disk]\nsize = \"64M\"\n[[partition]]\nsize = \"100M\"\n",
        "bad-too-big",
        &["partition"],
    );
    fails_with(
        "[disk]\nsize = \"8M\"\n[[partition]]\ntype = \"ef00\"\nsize = \"rest\"\n[partition.filesystem]\ntype = \"fat\"\ncontents = [{ text = \"x\", at = \"/a:b\" }]\n",
        "bad-fat-name",
        &["a:b"],
    );
    fails_with(
        "[[partition]]\ntype = \"zz99\"\nsize = \"1M\"\n",
        "bad-type-code",
        &["zz99"],
    );
    // FAT and symlinks: a bad `symlinks` value, the key on ext4, and
    // `symlinks = "error"` name the key or the link.
    let fat = "[disk]\nsize = \"16M\"\n[[partition]]\ntype = \"ef00\"\nsize = \"rest\"\n[partition.filesystem]\n";
    let link = "contents = [{ text = \"k\", at = \"/vmlinuz-6.1\" }, { symlink = \"vmlinuz-6.1\", at = \"/vmlinuz\" }]\n";
    fails_with(
        &format!("{fat}type = \"fat\"\nsymlinks = \"copy\"\n{link}"),
        "bad-symlinks-value",
        &["partition[1].filesystem.symlinks", "copy"],
    );
    fails_with(
        &format!("{fat}type = \"ext4\"\nsymlinks = \"skip\"\n{link}"),
        "bad-symlinks-on-ext4",
        &["partition[1].filesystem.symlinks", "fat"],
    );
    fails_with(
        &format!("{fat}type = \"fat\"\nsymlinks = \"error\"\n{link}"),
        "bad-symlink-in-fat",
        &["/vmlinuz", "symlink"],
    );
    // Content larger than the filesystem: the error names the partition and the size needed.
    let big = "x".repeat(3 << 20);
    fails_with(
        &format!("[disk]\nsize = \"8M\"\n[[partition]]\ntype = \"8300\"\nsize = \"2M\"\n[partition.filesystem]\ntype = \"ext4\"\ncontents = [{{ text = \"{big}\", at = \"/big\" }}]\n"),
        "bad-content-too-large",
        &["partition[1].filesystem", "needs"],
    );
}

/// A FAT partition follows symlinks by default (as `mcopy -s`): the link
/// is stored as a copy of its target, and mtools reads it.
#[test]
fn fat_partition_follows_symlinks() {
    if !have("mtype") {
        return;
    }
    let d = scratch("recipe-fat-symlinks");
    let r = d.join("r.toml");
    std::fs::write(
        &r,
        "[disk]\nsize = \"16M\"\n[[partition]]\ntype = \"ef00\"\nsize = \"rest\"\n[partition.filesystem]\ntype = \"fat\"\ncontents = [{ text = \"kernel\\n\", at = \"/boot/vmlinuz-6.1\" }, { symlink = \"boot/vmlinuz-6.1\", at = \"/vmlinuz\" }]\n",
    )
    .unwrap();
    let img = d.join("disk.img");
    build(&r, &img, &[]);
    let (_, start, _) = partitions(&img)[0];
    let spec = format!("{}@@{start}", img.display());
    let out = run_ok(
        tool("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &spec, "::/vmlinuz"]),
    );
    assert_eq!(out, "kernel\n");
}

/// A `[grow]` recipe (the page's "Grow a cloud image") built by the CLI
/// gives the bytes of `convert -O raw`, `resize --grow-last`, `convert -O
/// qcow2`, and sgdisk finds the grown table sound.
#[test]
fn grow_recipe_matches_resize() {
    if !have("sgdisk") {
        return;
    }
    let dir = scratch("recipes-grow");
    let seed = dir.join("seed.toml");
    std::fs::write(
        &seed,
        "[output]\nformat = \"qcow2\"\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n\
         [[partition]]\ntype = \"8300\"\nname = \"root\"\nsize = \"rest\"\n",
    )
    .unwrap();
    let cloud = dir.join("cloud.qcow2");
    build(&seed, &cloud, &[]);
    let recipe = dir.join("grow.toml");
    std::fs::write(
        &recipe,
        "[grow]\nimage = \"cloud.qcow2\"\nsize = \"+8M\"\ngrow_last = true\n\
         [output]\nformat = \"qcow2\"\n",
    )
    .unwrap();
    let grown = dir.join("grown.qcow2");
    build(&recipe, &grown, &[]);

    let raw = dir.join("by-hand.img");
    let by_hand = dir.join("by-hand.qcow2");
    run_ok(
        Command::new(imgforge())
            .args(["convert", "-O", "raw"])
            .arg(&cloud)
            .arg(&raw),
    );
    run_ok(
        Command::new(imgforge())
            .args(["resize", "--grow-last"])
            .arg(&raw)
            .arg("+8M"),
    );
    run_ok(
        Command::new(imgforge())
            .args(["convert", "-O", "qcow2"])
            .arg(&raw)
            .arg(&by_hand),
    );
    assert_eq!(sha256_file(&grown), sha256_file(&by_hand));
    let check = dir.join("check.img");
    run_ok(
        Command::new(imgforge())
            .args(["convert", "-O", "raw"])
            .arg(&grown)
            .arg(&check),
    );
    let v = run_ok(tool("sgdisk").arg("-v").arg(&check));
    assert!(v.contains("No problems found"), "{v}");
    // The partition ends at the last usable sector (33 sectors of backup
    // table after it).
    assert_eq!(
        partitions(&check).last().unwrap().2,
        (16 << 20) - 2048 * 512 - 33 * 512
    );
}
