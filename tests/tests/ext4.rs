//! ext4: our images pass `e2fsck -fn`, read back through debugfs, and our
//! reader reads images made by mke2fs -d.
// Disk is not Sync; Source is an Arc<dyn ReadAt> all the same.
#![allow(clippy::arc_with_non_send_sync)]
use imgforge_core::ext4::{self, Ext4Options};
use imgforge_core::io::ReadAt;
use imgforge_core::tree::{FileData, Meta, Node, NodeKind, Tree};
use imgforge_core::{BuildContext, Disk};
use imgforge_tests::*;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

/// Writes a sparse Disk to a file (holes stay holes).
fn save(disk: &Disk, path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(disk.size()).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for e in disk.extents() {
        let mut done = 0u64;
        while done < e.len {
            let n = (e.len - done).min(buf.len() as u64) as usize;
            e.data.read(done, &mut buf[..n]).unwrap();
            f.seek(SeekFrom::Start(e.offset + done)).unwrap();
            f.write_all(&buf[..n]).unwrap();
            done += n as u64;
        }
    }
}

/// e2fsck -fn: exit 0 and nothing but the pass lines and the summary.
fn fsck_clean(img: &Path) -> String {
    let out = run(tool("e2fsck").arg("-fn").arg(img));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "e2fsck failed ({}):\n{text}",
        out.status
    );
    for line in text.lines() {
        let ok = line.starts_with("Pass ")
            || line.starts_with("e2fsck ")
            || (line.contains(" files (") && line.contains(" blocks"))
            || line.trim().is_empty();
        assert!(ok, "unexpected e2fsck output: {line}\n{text}");
    }
    text
}

fn small_tree() -> Tree {
    let mut t = Tree::new(1_700_000_000);
    t.add_file("etc/hostname", b"box\n".to_vec()).unwrap();
    t.add_file("empty", vec![]).unwrap();
    t.add_file("bin/busybox", vec![7u8; 70_000]).unwrap();
    // Zero blocks become holes, as mke2fs -d makes them.
    let mut sparse = vec![0u8; 50_000];
    sparse[0] = 1;
    sparse[49_999] = 2;
    t.add_file("sparse", sparse).unwrap();
    t.link("bin/sh", "bin/busybox").unwrap();
    t.add_symlink("short", &"s".repeat(59)).unwrap();
    t.add_symlink("long", &"l".repeat(61)).unwrap();
    t.add_dir("var/empty").unwrap();
    for (name, kind) in [
        ("dev/null", NodeKind::CharDev { major: 1, minor: 3 }),
        (
            "dev/big",
            NodeKind::BlockDev {
                major: 259,
                minor: 70000,
            },
        ),
        ("dev/fifo", NodeKind::Fifo),
        ("dev/sock", NodeKind::Socket),
    ] {
        t.insert(
            name,
            Node {
                kind,
                meta: Meta::new(0o600, 1_700_000_000),
            },
        )
        .unwrap();
    }
    let id = t.add_file("bin/ping", b"ping".to_vec()).unwrap();
    t.node_mut(id).meta.xattrs.insert(
        "security.capability".into(),
        vec![
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    let id = t.add_file("owned", b"x".to_vec()).unwrap();
    let m = &mut t.node_mut(id).meta;
    m.uid = 100_000;
    m.gid = 70_000;
    m.mtime = 4_200_000_000; // past 2038
    m.mtime_nsec = 123_456_789;
    t.add_file("unicodé/ファイル", b"u".to_vec()).unwrap();
    t.add_file(&"n".repeat(255), b"255".to_vec()).unwrap();
    t
}

#[test]
fn small_tree_passes_e2fsck() {
    if !have("e2fsck") {
        return;
    }
    let d = scratch("ext4_small");
    let img = d.join("small.img");
    let disk = ext4::build(
        &small_tree(),
        &Ext4Options::default(),
        &BuildContext::default(),
    )
    .unwrap();
    save(&disk, &img);
    fsck_clean(&img);
}

#[test]
fn small_tree_4k_passes_e2fsck() {
    if !have("e2fsck") {
        return;
    }
    let d = scratch("ext4_small4k");
    let img = d.join("small.img");
    // Without 64bit: 32-byte group descriptors.
    let mut opts = Ext4Options::default();
    opts.block_size = Some(4096);
    opts.bit64 = false;
    let disk = ext4::build(&small_tree(), &opts, &BuildContext::default()).unwrap();
    save(&disk, &img);
    fsck_clean(&img);
    if have("dumpe2fs") {
        assert!(!dumpe2fs_features(&img).contains("64bit"));
    }
}

fn dumpe2fs_features(img: &Path) -> String {
    let out = run_ok(tool("dumpe2fs").arg("-h").arg(img));
    out.lines()
        .find(|l| l.starts_with("Filesystem features:"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn journal_image_passes_e2fsck_and_lists_features() {
    if !have("e2fsck") || !have("dumpe2fs") {
        return;
    }
    let d = scratch("ext4_journal");
    // 1 KiB and 4 KiB blocks; 3 GiB has 24 groups and backups in 1, 3, 5, 7, 9.
    for (bs, size) in [
        (1024u32, 64u64 << 20),
        (4096, 200 << 20),
        (4096, 3 << 30),
        (65536, 300 << 20),
    ] {
        let img = d.join(format!("j-{bs}-{size}.img"));
        let mut opts = Ext4Options::default();
        opts.size = Some(size);
        opts.block_size = Some(bs);
        opts.label = Some("rootfs".into());
        let disk = ext4::build(&small_tree(), &opts, &BuildContext::default()).unwrap();
        save(&disk, &img);
        fsck_clean(&img);
        let f = dumpe2fs_features(&img);
        for feat in [
            "has_journal",
            "64bit",
            "ext_attr",
            "dir_index",
            "filetype",
            "extent",
            "flex_bg",
            "sparse_super",
            "large_file",
            "huge_file",
            "dir_nlink",
            "extra_isize",
            "metadata_csum",
        ] {
            assert!(
                f.split_whitespace().any(|w| w == feat),
                "{feat} missing: {f}"
            );
        }
        let out = run_ok(tool("dumpe2fs").arg("-h").arg(&img));
        assert!(out.contains("Total journal size:"), "{out}");
        assert!(out.contains("Journal checksum type:    crc32c"), "{out}");
        assert!(out.contains("Filesystem volume name:   rootfs"), "{out}");
        assert!(
            out.contains(&format!("Block size:               {bs}")),
            "{out}"
        );
    }
}

/// A source that makes up its bytes (a 100 MiB+ file without the memory).
struct Pattern(u64);
impl ReadAt for Pattern {
    fn size(&self) -> u64 {
        self.0
    }
    fn read_at(&self, off: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        for (i, b) in buf.iter_mut().enumerate() {
            let p = off + i as u64;
            *b = if (p >> 20).is_multiple_of(2) {
                0
            } else {
                (p % 251) as u8
            };
        }
        Ok(())
    }
}

fn big_tree() -> Tree {
    let mut t = small_tree();
    for i in 0..10_000 {
        t.add_file(
            &format!("huge-dir/entry-{i:05}"),
            format!("{i}").into_bytes(),
        )
        .unwrap();
    }
    for d in 0..20 {
        for i in 0..150 {
            t.add_file(&format!("tree/d{d}/f{i}"), vec![b'a'; (i * 37) % 5000])
                .unwrap();
        }
    }
    t.add_file("zeros", vec![0u8; 200_000]).unwrap();
    let len = (100 << 20) + 12345;
    t.insert(
        "big.bin",
        Node {
            kind: NodeKind::File(FileData::Source {
                src: Arc::new(Pattern(len)),
                offset: 0,
                len,
            }),
            meta: Meta::new(0o644, 1_700_000_000),
        },
    )
    .unwrap();
    t
}

#[test]
fn big_tree_passes_e2fsck_and_debugfs_reads_it_back() {
    if !have("e2fsck") || !have("debugfs") {
        return;
    }
    let d = scratch("ext4_big");
    let img = d.join("big.img");
    let tree = big_tree();
    let disk = ext4::build(&tree, &Ext4Options::default(), &BuildContext::default()).unwrap();
    save(&disk, &img);
    fsck_clean(&img);
    // Files and contents through debugfs.
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    run_ok(
        tool("debugfs")
            .arg("-R")
            .arg(format!("rdump / {}", out.display()))
            .arg(&img),
    );
    for (path, id) in tree.walk() {
        let p = out.join(&path);
        let node = tree.node(id);
        // rdump writes directories and regular files (not devices).
        if !path.is_empty() && matches!(node.kind, NodeKind::File(_) | NodeKind::Dir(_)) {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(m.mode() & 0o7777, node.meta.mode, "{path}");
            assert_eq!(m.mode() & 0o170000, node.kind.type_bits(), "{path}");
        }
        match &node.kind {
            NodeKind::File(f) => {
                let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{path}: {e}"));
                assert_eq!(got.len() as u64, f.len(), "{path}");
                if f.len() < 1 << 20 {
                    assert_eq!(got, f.to_vec(1 << 20).unwrap(), "{path}");
                } else {
                    let mut want = vec![0u8; 1 << 16];
                    for off in [0u64, 1 << 20, f.len() - (1 << 16)] {
                        f.read_at(off, &mut want).unwrap();
                        assert_eq!(
                            &got[off as usize..off as usize + want.len()],
                            &want[..],
                            "{path} at {off}"
                        );
                    }
                }
            }
            NodeKind::Symlink(t) => {
                assert_eq!(
                    std::fs::read_link(&p).unwrap().to_str().unwrap(),
                    t,
                    "{path}"
                );
            }
            _ => {}
        }
    }
    // Owners, modes, times, devices and xattrs through `stat`.
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /owned").arg(&img));
    assert!(st.contains("User: 100000   Group: 70000"), "{st}");
    assert!(st.contains("mtime: 0xfa56ea00:1d6f3455"), "{st}");
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /dev/big").arg(&img));
    assert!(st.contains("Device major/minor number: 259:70000"), "{st}");
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /dev/null").arg(&img));
    assert!(st.contains("Device major/minor number: 01:03"), "{st}");
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /bin/sh").arg(&img));
    assert!(st.contains("Links: 2"), "{st}");
    let st = run_ok(tool("debugfs").arg("-R").arg("ea_list /bin/ping").arg(&img));
    assert!(st.contains("security.capability (20)"), "{st}");
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /zeros").arg(&img));
    assert!(st.contains("Blockcount: 0"), "{st}");
    // The 10,000-entry directory is a two-level hash tree (1 KiB blocks).
    let st = run_ok(tool("debugfs").arg("-R").arg("htree /huge-dir").arg(&img));
    assert!(st.contains("Indirect levels: 1"), "{st}");
    // And our reader agrees.
    let back = ext4::read_tree(Arc::new(disk)).unwrap();
    assert_eq!(
        back.children(back.lookup("huge-dir").unwrap()).count(),
        10_000
    );
}

#[test]
fn same_input_same_sha256() {
    let d = scratch("ext4_det");
    let (a, b) = (d.join("a.img"), d.join("b.img"));
    let mut opts = Ext4Options::default();
    opts.size = Some(64 << 20);
    save(
        &ext4::build(&small_tree(), &opts, &BuildContext::default()).unwrap(),
        &a,
    );
    save(
        &ext4::build(&small_tree(), &opts, &BuildContext::default()).unwrap(),
        &b,
    );
    assert_eq!(sha256_file(&a), sha256_file(&b));
}

/// Our reader reads what mke2fs -d writes, for ext2, ext3 and ext4.
#[test]
fn reads_mke2fs_images() {
    if !have("mke2fs") {
        return;
    }
    let d = scratch("ext4_mke2fs");
    let src = d.join("src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("hello.txt"), b"hello\n").unwrap();
    std::fs::write(
        src.join("sub/data.bin"),
        (0..300_000u32).map(|i| (i * 7) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(src.join("sub/deeper/empty"), b"").unwrap();
    std::fs::hard_link(src.join("hello.txt"), src.join("sub/hello-link")).unwrap();
    std::os::unix::fs::symlink("hello.txt", src.join("short-link")).unwrap();
    std::os::unix::fs::symlink("x".repeat(100), src.join("long-link")).unwrap();
    for i in 0..500 {
        std::fs::write(src.join(format!("sub/f{i:03}")), format!("{i}")).unwrap();
    }
    for (t, extra, bs) in [
        ("ext2", "", "1024"),
        ("ext3", "", "1024"),
        ("ext4", "", "1024"),
        ("ext4", "", "4096"),
        ("ext4", "inline_data", "1024"),
    ] {
        let img = d.join(format!("{t}{extra}{bs}.img"));
        let _ = std::fs::remove_file(&img);
        let mut cmd = tool("mke2fs");
        cmd.args(["-q", "-F", "-t", t, "-b", bs]);
        if !extra.is_empty() {
            cmd.args(["-O", extra]);
        }
        run_ok(cmd.arg("-d").arg(&src).arg(&img).arg("8M"));
        let bytes = std::fs::read(&img).unwrap();
        let tree = ext4::read_tree(Arc::new(bytes)).unwrap_or_else(|e| panic!("{t}: {e}"));
        let cat = |p: &str| match &tree
            .node(tree.lookup(p).unwrap_or_else(|| panic!("{t}: {p} missing")))
            .kind
        {
            NodeKind::File(f) => f.to_vec(1 << 20).unwrap(),
            k => panic!("{t}: {p} is {k:?}"),
        };
        assert_eq!(cat("hello.txt"), b"hello\n");
        assert_eq!(
            cat("sub/data.bin"),
            std::fs::read(src.join("sub/data.bin")).unwrap(),
            "{t}"
        );
        assert_eq!(cat("sub/deeper/empty"), b"");
        assert_eq!(cat("sub/f499"), b"499");
        assert_eq!(
            tree.lookup("hello.txt"),
            tree.lookup("sub/hello-link"),
            "{t}"
        );
        assert_eq!(
            tree.children(tree.lookup("sub").unwrap()).count(),
            503,
            "{t}"
        );
        match &tree.node(tree.lookup("long-link").unwrap()).kind {
            NodeKind::Symlink(s) => assert_eq!(s, &"x".repeat(100)),
            k => panic!("{k:?}"),
        }
        match &tree.node(tree.lookup("short-link").unwrap()).kind {
            NodeKind::Symlink(s) => assert_eq!(s, "hello.txt"),
            k => panic!("{k:?}"),
        }
        assert!(tree.lookup("lost+found").is_some());
        let info = ext4::info(&std::fs::read(&img).unwrap()).unwrap();
        assert_eq!(info.block_size.to_string(), bs);
        if t == "ext4" {
            assert!(
                info.features.iter().any(|f| f == "64bit"),
                "{:?}",
                info.features
            );
        }
    }
}

/// Hash trees at 4 KiB blocks with non-ASCII names (hashed as signed
/// chars, as the superblock's signed_directory_hash flag says) and names of
/// 255 bytes.
#[test]
fn unicode_htree_4k_passes_e2fsck() {
    if !have("e2fsck") {
        return;
    }
    let d = scratch("ext4_htree4k");
    let img = d.join("h.img");
    let mut t = Tree::new(1_700_000_000);
    for i in 0..12_000 {
        t.add_file(&format!("dir/ünïcødé-ファイル-{i}"), vec![])
            .unwrap();
    }
    for i in 0..200 {
        let name = format!("{i:03}{}", "é".repeat(126));
        t.add_file(&format!("long/{name}"), vec![]).unwrap();
    }
    let mut opts = Ext4Options::default();
    opts.block_size = Some(4096);
    let disk = ext4::build(&t, &opts, &BuildContext::default()).unwrap();
    save(&disk, &img);
    fsck_clean(&img);
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /dir").arg(&img));
    assert!(st.contains("Flags: 0x81000"), "{st}");
    let back = ext4::read_tree(Arc::new(disk)).unwrap();
    assert_eq!(back.children(back.lookup("dir").unwrap()).count(), 12_000);
    assert!(back.lookup("dir/ünïcødé-ファイル-11999").is_some());
    assert_eq!(back.children(back.lookup("long").unwrap()).count(), 200);
}

/// 1 TiB: 8192 groups, mostly uninitialised, and a 1 GiB journal whose
/// extents need an index block.
#[test]
fn terabyte_filesystem_passes_e2fsck() {
    if !have("e2fsck") {
        return;
    }
    let d = scratch("ext4_tib");
    let img = d.join("t.img");
    let mut opts = Ext4Options::default();
    opts.size = Some(1 << 40);
    let disk = ext4::build(&small_tree(), &opts, &BuildContext::default()).unwrap();
    save(&disk, &img);
    fsck_clean(&img);
    let out = run_ok(tool("dumpe2fs").arg("-h").arg(&img));
    assert!(out.contains("Total journal size:       1024M"), "{out}");
}

/// Writes only the extents held in memory (metadata): e2fsck does not read
/// file data, so huge source-backed files need not be written out.
fn save_metadata(disk: &Disk, path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(disk.size()).unwrap();
    for e in disk.extents() {
        if let imgforge_core::disk::Data::Bytes { .. } = e.data {
            let mut buf = vec![0u8; e.len as usize];
            e.data.read(0, &mut buf).unwrap();
            f.seek(SeekFrom::Start(e.offset)).unwrap();
            f.write_all(&buf).unwrap();
        }
    }
}

/// A 12 GiB file at 1 KiB blocks: ~400 extents, a depth-2 extent tree.
#[test]
fn depth_two_extent_tree_passes_e2fsck() {
    if !have("e2fsck") || !have("debugfs") {
        return;
    }
    let d = scratch("ext4_depth2");
    let img = d.join("d2.img");
    let mut t = Tree::new(0);
    let len = 12u64 << 30;
    t.insert(
        "huge",
        Node {
            kind: NodeKind::File(FileData::Source {
                src: Arc::new(Pattern(len)),
                offset: 0,
                len,
            }),
            meta: Meta::new(0o644, 0),
        },
    )
    .unwrap();
    let mut opts = Ext4Options::default();
    opts.block_size = Some(1024);
    let disk = ext4::build(&t, &opts, &BuildContext::default()).unwrap();
    save_metadata(&disk, &img);
    fsck_clean(&img);
    let st = run_ok(tool("debugfs").arg("-R").arg("stat /huge").arg(&img));
    assert!(st.contains("(ETB1)"), "{st}");
}
