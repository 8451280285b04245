//! FAT12/16/32 images we build pass `fsck.vfat -n` and read back through
//! mtools byte for byte; images made by mkfs.fat + mcopy read back through
//! our reader; builds are deterministic.
use imgforge_core::fat::{self, FatOptions, FatType};
use imgforge_core::io::{ReadAt, Source};
use imgforge_core::tree::{FileData, Meta, Node, NodeKind, Tree};
use imgforge_core::{BuildContext, Disk};
use imgforge_tests::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const TYPES: [FatType; 3] = [FatType::Fat12, FatType::Fat16, FatType::Fat32];

fn test_tree() -> Tree {
    let mut t = Tree::new(1_704_067_200);
    t.add_file("docs/readme.txt", b"lower".to_vec()).unwrap();
    // Lower case, upper case and mixed case short names (FAT looks names up
    // ignoring case, so they differ in more than case).
    t.add_file("docs/NOTES.TXT", b"UPPER".to_vec()).unwrap();
    t.add_file("docs/Changes.txt", b"Mixed".to_vec()).unwrap();
    t.add_file(
        "docs/Long Name With Spaces and Ünïcødé — 日本語.txt",
        "unicode ✓".as_bytes().to_vec(),
    )
    .unwrap();
    for w in ["one", "two", "three", "four"] {
        t.add_file(
            &format!("clash/a very long name {w}.txt"),
            w.as_bytes().to_vec(),
        )
        .unwrap();
    }
    for i in 0..2000usize {
        let len = (i * 37) % 700;
        t.add_file(
            &format!("many/file-{i:04}.bin"),
            (0..len).map(|k| (k + i) as u8).collect(),
        )
        .unwrap();
    }
    t.add_file("empty.txt", Vec::new()).unwrap();
    t.add_dir("emptydir").unwrap();
    t.add_file("a/b/c/d/e/f/deep.txt", b"deep".to_vec())
        .unwrap();
    t.add_file(
        "big/twenty.bin",
        (0..20u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect(),
    )
    .unwrap();
    let src: Source = Arc::new(
        (0..300_000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<u8>>(),
    );
    t.insert(
        "src/from-source.bin",
        Node {
            kind: NodeKind::File(FileData::Source {
                src,
                offset: 12_345,
                len: 250_000,
            }),
            meta: Meta::new(0o644, 0),
        },
    )
    .unwrap();
    t
}

/// path -> Some(bytes) for files, None for directories.
fn tree_files(t: &Tree) -> BTreeMap<String, Option<Vec<u8>>> {
    t.walk()
        .into_iter()
        .filter(|(p, _)| !p.is_empty())
        .map(|(p, id)| match &t.node(id).kind {
            NodeKind::File(f) => (p, Some(f.to_vec(1 << 30).unwrap())),
            _ => (p, None),
        })
        .collect()
}

fn dir_files(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Writes a disk to a sparse file: only its allocated ranges.
fn write_image(d: &Disk, path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(d.size()).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for (off, len) in d.allocated_ranges() {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            d.read_at(off + done, &mut buf[..n]).unwrap();
            f.write_all_at(&buf[..n], off + done).unwrap();
            done += n as u64;
        }
    }
}

fn disk_bytes(d: &Disk) -> Vec<u8> {
    let mut v = vec![0u8; d.size() as usize];
    d.read_at(0, &mut v).unwrap();
    v
}

fn mtools(name: &str) -> Command {
    let mut c = tool(name);
    c.env("MTOOLS_SKIP_CHECK", "1").env("LC_ALL", "C.UTF-8");
    c
}

fn fsck_clean(img: &Path) {
    let out = run(tool("fsck.vfat").arg("-n").arg(img));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fsck.vfat -n failed:\n{text}");
    for bad in ["wrong", "Free cluster", "differ", "invalid", "Orphan"] {
        assert!(!text.contains(bad), "fsck.vfat -n says:\n{text}");
    }
}

#[test]
fn fat12_built_image_passes_fsck_and_reads_back_with_mtools() {
    built_image_passes_fsck_and_reads_back(FatType::Fat12);
}
#[test]
fn fat16_built_image_passes_fsck_and_reads_back_with_mtools() {
    built_image_passes_fsck_and_reads_back(FatType::Fat16);
}
#[test]
fn fat32_built_image_passes_fsck_and_reads_back_with_mtools() {
    built_image_passes_fsck_and_reads_back(FatType::Fat32);
}

fn built_image_passes_fsck_and_reads_back(t: FatType) {
    if !have("fsck.vfat") || !have("mcopy") || !have("mdir") {
        return;
    }
    let tree = test_tree();
    let want = tree_files(&tree);
    let ctx = BuildContext::default();
    {
        let dir = scratch(&format!("fat-mtools-{t}"));
        let mut opts = FatOptions::default();
        opts.fat_type = Some(t);
        opts.label = Some("IMGFORGE".into());
        let disk = fat::build(&tree, &opts, &ctx).unwrap();
        let img = dir.join("fs.img");
        write_image(&disk, &img);
        fsck_clean(&img);

        // Deterministic: a second build has the same sha256.
        let img2 = dir.join("fs2.img");
        write_image(&fat::build(&tree, &opts, &ctx).unwrap(), &img2);
        assert_eq!(sha256_file(&img), sha256_file(&img2), "{t}");

        let listing = run_ok(mtools("mdir").arg("-i").arg(&img).arg("::/docs"));
        assert!(
            listing.contains("Long Name With Spaces and Ünïcødé — 日本語.txt"),
            "{t}: {listing}"
        );
        let root = run_ok(mtools("mdir").arg("-i").arg(&img).arg("::/"));
        assert!(root.contains("IMGFORGE"), "{t}: {root}");
        let clash = run_ok(mtools("mdir").arg("-i").arg(&img).arg("::/clash"));
        assert!(
            clash.contains("AVERYL~1 TXT") && clash.contains("AVERYL~4 TXT"),
            "{clash}"
        );

        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        run_ok(
            mtools("mcopy")
                .args(["-s", "-n", "-i"])
                .arg(&img)
                .arg("::/*")
                .arg(&out),
        );
        let got = dir_files(&out);
        assert_eq!(got.len(), want.len(), "{t}: entry count");
        for (p, w) in &want {
            assert!(got.get(p) == Some(w), "{t}: {p} differs or is missing");
        }
        // Single files to stdout (mtools matches names case-insensitively,
        // so the case-only variants in docs/ are checked by the copy above).
        for p in [
            "big/twenty.bin",
            "src/from-source.bin",
            "docs/Long Name With Spaces and Ünïcødé — 日本語.txt",
            "many/file-1999.bin",
        ] {
            let o = run(mtools("mcopy")
                .arg("-i")
                .arg(&img)
                .arg(format!("::/{p}"))
                .arg("-"));
            assert!(o.status.success(), "{t}: mcopy {p}");
            assert!(Some(&o.stdout) == want[p].as_ref(), "{t}: {p} differs");
        }
    }
}

#[test]
fn image_at_an_offset_reads_with_mtools() {
    if !have("mcopy") || !have("fsck.vfat") {
        return;
    }
    let mut tree = Tree::new(0);
    tree.add_file("EFI/BOOT/BOOTX64.EFI", vec![0x5a; 100_000])
        .unwrap();
    tree.add_file("hello.txt", b"hi there\n".to_vec()).unwrap();
    for t in TYPES {
        let mut opts = FatOptions::default();
        opts.fat_type = Some(t);
        opts.hidden_sectors = 2048;
        let fs = fat::build(&tree, &opts, &BuildContext::default()).unwrap();
        let mut disk = Disk::new((1 << 20) + fs.size() + (1 << 20));
        disk.embed(1 << 20, &fs).unwrap();
        let dir = scratch(&format!("fat-offset-{t}"));
        let img = dir.join("disk.img");
        write_image(&disk, &img);
        let spec = format!("{}@@1M", img.display());
        let o = run(mtools("mcopy").args(["-i", &spec, "::/EFI/BOOT/BOOTX64.EFI", "-"]));
        assert!(
            o.status.success(),
            "{t}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout == vec![0x5a; 100_000], "{t}");
        let o = run_ok(mtools("mcopy").args(["-i", &spec, "::/hello.txt", "-"]));
        assert_eq!(o, "hi there\n");
        // The boot sector records the partition start.
        let b = std::fs::read(&img).unwrap();
        let hidden = u32::from_le_bytes(b[(1 << 20) + 28..(1 << 20) + 32].try_into().unwrap());
        assert_eq!(hidden, 2048);
    }
}

#[test]
fn mkfs_fat_and_mcopy_images_read_back() {
    if !have("mkfs.fat") || !have("mcopy") {
        return;
    }
    let dir = scratch("fat-reader");
    let src = dir.join("src");
    let files: Vec<(String, Vec<u8>)> = vec![
        ("readme.txt".into(), b"lower".to_vec()),
        ("Mixed Case Name.Text".into(), b"mixed".to_vec()),
        ("sub/deeper/ünïcødé 名前.bin".into(), vec![3u8; 9000]),
        ("sub/empty".into(), Vec::new()),
        (
            "big.bin".into(),
            (0..3_000_000u32).map(|i| (i % 241) as u8).collect(),
        ),
    ]
    .into_iter()
    .chain((0..300).map(|i| {
        (
            format!("many/a long name number {i}.dat"),
            vec![i as u8; i * 13],
        )
    }))
    .collect();
    for (p, d) in &files {
        let path = src.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, d).unwrap();
    }
    for (t, kb) in [(12, "16384"), (16, "65536"), (32, "65536")] {
        let img = dir.join(format!("mkfs{t}.img"));
        let _ = std::fs::remove_file(&img);
        run_ok(
            tool("mkfs.fat")
                .args(["-F", &t.to_string(), "-n", "OUTSIDE", "-C"])
                .arg(&img)
                .arg(kb),
        );
        let mut c = mtools("mcopy");
        c.args(["-s", "-i"]).arg(&img);
        for e in std::fs::read_dir(&src).unwrap() {
            c.arg(e.unwrap().path());
        }
        c.arg("::/");
        run_ok(&mut c);
        let bytes: Source = Arc::new(std::fs::read(&img).unwrap());
        let info = fat::info(&*bytes).unwrap();
        assert_eq!(info.fat_type.to_string(), format!("FAT{t}"));
        assert_eq!(info.label.as_deref(), Some("OUTSIDE"));
        let tree = fat::read_tree(bytes).unwrap();
        let got = tree_files(&tree);
        let want = dir_files(&src);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "FAT{t}"
        );
        for (p, w) in &want {
            assert!(got.get(p) == Some(w), "FAT{t}: {p}");
        }
    }
}

/// An empty volume is the one mkfs.fat makes (same size, type, volume ID
/// and label): boot sector, FSInfo, backup, FATs and root directory.
#[test]
fn empty_volume_matches_mkfs_fat() {
    if !have("mkfs.fat") {
        return;
    }
    let ctx = BuildContext::default();
    let vol_id = ctx.u32("fat-volume-id");
    for (t, kb) in [(12u32, 4096u64), (16, 32768), (32, 40960), (32, 600 * 1024)] {
        let dir = scratch(&format!("fat-vs-mkfs-{t}-{kb}"));
        let img = dir.join("mkfs.img");
        run_ok(
            tool("mkfs.fat")
                .env("SOURCE_DATE_EPOCH", ctx.epoch.to_string())
                .args([
                    "-F",
                    &t.to_string(),
                    "-n",
                    "ESP",
                    "-i",
                    &format!("{vol_id:08x}"),
                    "-C",
                ])
                .arg(&img)
                .arg(kb.to_string()),
        );
        let theirs = std::fs::read(&img).unwrap();
        let mut opts = FatOptions::default();
        opts.size = Some(kb * 1024);
        opts.fat_type = FatType::from_bits(t);
        opts.label = Some("ESP".into());
        let mut ours = disk_bytes(&fat::build(&Tree::new(0), &opts, &ctx).unwrap());
        assert_eq!(ours.len(), theirs.len());
        let vol = fat::read::Volume::open(&theirs).unwrap();
        // mkfs.fat's FSInfo says the next free cluster is 2 (its root);
        // ours points past what is allocated. Compare everything else.
        if t == 32 {
            for s in [1usize, 7] {
                let r = s * 512 + 492..s * 512 + 496;
                ours[r.clone()].copy_from_slice(&theirs[r]);
            }
        }
        // mkfs.fat stamps the label entry with the wall clock even under
        // SOURCE_DATE_EPOCH.
        let root = if t == 32 {
            vol.data_offset
        } else {
            vol.root_offset
        } as usize;
        ours[root + 13..root + 26].copy_from_slice(&theirs[root + 13..root + 26]);
        let end = (vol.data_offset + vol.cluster_bytes) as usize;
        if let Some(i) = (0..end).find(|&i| ours[i] != theirs[i]) {
            panic!(
                "FAT{t} {kb} KiB: first difference at byte {i:#x}: ours {:#04x}, mkfs.fat {:#04x}",
                ours[i], theirs[i]
            );
        }
    }
}

/// 4096-byte logical sectors (mkfs.fat -S 4096), FAT16 and FAT32.
#[test]
fn sector_size_4096_passes_fsck_and_mtools() {
    if !have("fsck.vfat") || !have("mcopy") {
        return;
    }
    let mut tree = Tree::new(0);
    tree.add_file("EFI/BOOT/BOOTX64.EFI", vec![0x33; 300_000])
        .unwrap();
    tree.add_file("Some Long Name.conf", b"x = 1\n".to_vec())
        .unwrap();
    for t in [FatType::Fat16, FatType::Fat32] {
        let mut opts = FatOptions::default();
        opts.fat_type = Some(t);
        opts.sector_size = 4096;
        let disk = fat::build(&tree, &opts, &BuildContext::default()).unwrap();
        let dir = scratch(&format!("fat-4k-{t}"));
        let img = dir.join("fs.img");
        write_image(&disk, &img);
        fsck_clean(&img);
        let o = run(mtools("mcopy")
            .arg("-i")
            .arg(&img)
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .arg("-"));
        assert!(
            o.status.success(),
            "{t}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.stdout == vec![0x33; 300_000], "{t}");
        let back = fat::read_tree(Arc::new(disk.clone())).unwrap();
        assert_eq!(tree_files(&back), tree_files(&tree), "{t}");
    }
}

/// Symlinks, which FAT cannot store: `imgforge mkfs fat` follows them as
/// `mcopy -s` does (a copy of the file, or of the directory), so both
/// images hold the same files; `--symlinks skip` leaves them out with a
/// warning and `--symlinks error` refuses them, naming the link.
#[test]
fn mkfs_fat_follows_symlinks_like_mcopy() {
    if !have("mkfs.fat") || !have("mcopy") || !have("fsck.vfat") {
        return;
    }
    let dir = scratch("fat-symlinks");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("boot/grub")).unwrap();
    std::fs::write(src.join("boot/vmlinuz-6.1.0-28-amd64"), vec![7u8; 70000]).unwrap();
    std::fs::write(src.join("boot/grub/grub.cfg"), "menuentry x {}\n").unwrap();
    let ln = |t: &str, at: &str| std::os::unix::fs::symlink(t, src.join(at)).unwrap();
    ln("vmlinuz-6.1.0-28-amd64", "boot/vmlinuz");
    ln("boot", "b");
    ln("b/grub/../vmlinuz", "kernel");

    let ours = dir.join("ours.img");
    run_ok(
        Command::new(imgforge())
            .args(["mkfs", "fat", "-L", "ESP", "--size", "8M"])
            .arg(&src)
            .arg("-o")
            .arg(&ours),
    );
    fsck_clean(&ours);
    let theirs = dir.join("theirs.img");
    let _ = std::fs::remove_file(&theirs);
    run_ok(tool("mkfs.fat").arg("-C").arg(&theirs).arg("8192"));
    let mut c = mtools("mcopy");
    c.args(["-s", "-i"]).arg(&theirs);
    for e in std::fs::read_dir(&src).unwrap() {
        c.arg(e.unwrap().path());
    }
    c.arg("::/");
    run_ok(&mut c);
    // Both extracted by mtools: the same files, byte for byte.
    let mut trees = Vec::new();
    for img in [&ours, &theirs] {
        let out = dir.join(format!(
            "{}.out",
            img.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        run_ok(
            mtools("mcopy")
                .args(["-s", "-n", "-i"])
                .arg(img)
                .arg("::/*")
                .arg(&out),
        );
        trees.push(dir_files(&out));
    }
    assert_eq!(trees[0], trees[1]);
    assert_eq!(trees[0]["kernel"], Some(vec![7u8; 70000]));
    assert_eq!(
        trees[0]["b/grub/grub.cfg"],
        Some(b"menuentry x {}\n".to_vec())
    );

    let o = run(Command::new(imgforge())
        .args(["mkfs", "fat", "--symlinks", "skip"])
        .arg(&src)
        .arg("-o")
        .arg(dir.join("skip.img")));
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/boot/vmlinuz: skipped a symlink"), "{err}");
    let o = run(Command::new(imgforge())
        .args(["mkfs", "fat", "--symlinks", "error"])
        .arg(&src)
        .arg("-o")
        .arg(dir.join("error.img")));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/b: is a symlink"));
    assert!(!dir.join("error.img").exists());

    // A dangling link is one error naming it, and no image.
    ln("nowhere", "boot/dangling");
    let o = run(Command::new(imgforge())
        .args(["mkfs", "fat"])
        .arg(&src)
        .arg("-o")
        .arg(dir.join("dangling.img")));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/dangling: is a dangling symlink"), "{err}");
    assert!(!dir.join("dangling.img").exists());
}
