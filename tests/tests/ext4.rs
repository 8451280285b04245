//! ext4: our images pass `e2fsck -fn`, read back through debugfs, and our
//! reader reads images made by mke2fs -d.
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
    let opts = Ext4Options {
        block_size: Some(4096),
        ..Default::default()
    };
    let disk = ext4::build(&small_tree(), &opts, &BuildContext::default()).unwrap();
    save(&disk, &img);
    fsck_clean(&img);
}
