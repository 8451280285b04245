//! Writer and reader against each other, and hostile images.
use super::*;
use crate::io::{ReadAt, Source};
use crate::tree::{FileData, Meta, Node, NodeKind, Tree, ROOT};
use crate::{BuildContext, Disk, Error};
use std::sync::Arc;

/// Every byte of a Disk, for tests.
fn bytes(d: &Disk) -> Vec<u8> {
    let mut v = vec![0u8; d.size() as usize];
    d.read_at(0, &mut v).unwrap();
    v
}

pub(crate) fn sample_tree() -> Tree {
    let mut t = Tree::new(1_700_000_000);
    t.add_file("etc/hostname", b"box\n".to_vec()).unwrap();
    t.add_file("empty", vec![]).unwrap();
    t.add_file("bin/busybox", (0..70_000u32).map(|i| i as u8).collect())
        .unwrap();
    t.link("bin/sh", "bin/busybox").unwrap();
    let mut sparse = vec![0u8; 50_000];
    sparse[0] = 1;
    sparse[49_999] = 2;
    t.add_file("sparse", sparse).unwrap();
    t.add_file("zeros", vec![0u8; 9000]).unwrap();
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
        vec![1, 0, 0, 2, 0, 0x20, 0, 0],
    );
    let id = t.add_file("big-xattr", b"x".to_vec()).unwrap();
    t.node_mut(id)
        .meta
        .xattrs
        .insert("user.big".into(), vec![0x5a; 300]);
    let id = t.add_file("owned", b"x".to_vec()).unwrap();
    let m = &mut t.node_mut(id).meta;
    m.uid = 100_000;
    m.gid = 70_000;
    m.mtime = 4_200_000_000;
    m.mtime_nsec = 123_456_789;
    t.add_file("unicodé/ファイル", b"u".to_vec()).unwrap();
    t.add_file(&"n".repeat(255), b"255".to_vec()).unwrap();
    for i in 0..300 {
        t.add_file(
            &format!("many/file-with-a-longish-name-{i:04}"),
            vec![i as u8; i],
        )
        .unwrap();
    }
    t
}

/// Asserts two trees hold the same paths, kinds, metadata and bytes
/// (lost+found, which the writer adds, is ignored).
pub(crate) fn assert_same(a: &Tree, b: &Tree) {
    let wa: Vec<_> = a
        .walk()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("lost+found"))
        .collect();
    let wb: Vec<_> = b
        .walk()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("lost+found"))
        .collect();
    let pa: Vec<_> = wa.iter().map(|x| &x.0).collect();
    let pb: Vec<_> = wb.iter().map(|x| &x.0).collect();
    assert_eq!(pa, pb);
    for ((p, ia), (_, ib)) in wa.iter().zip(&wb) {
        let (na, nb) = (a.node(*ia), b.node(*ib));
        assert_eq!(na.meta, nb.meta, "{p}");
        match (&na.kind, &nb.kind) {
            (NodeKind::File(fa), NodeKind::File(fb)) => {
                assert_eq!(
                    fa.to_vec(1 << 30).unwrap(),
                    fb.to_vec(1 << 30).unwrap(),
                    "{p}"
                )
            }
            (NodeKind::Dir(_), NodeKind::Dir(_)) => {}
            (x, y) => assert_eq!(format!("{x:?}"), format!("{y:?}"), "{p}"),
        }
    }
    // Hard links stay links: same node, same count.
    let la = a.link_counts();
    let lb = b.link_counts();
    for ((p, ia), (_, ib)) in wa.iter().zip(&wb) {
        if !matches!(a.node(*ia).kind, NodeKind::Dir(_)) {
            assert_eq!(la[*ia], lb[*ib], "{p}");
        }
    }
    if a.lookup("bin/sh").is_some() {
        assert_eq!(b.lookup("bin/sh"), b.lookup("bin/busybox"));
    }
}

fn read_back(d: &Disk) -> Tree {
    let src: Source = Arc::new(bytes(d));
    read_tree(src).unwrap()
}

#[test]
fn round_trip_1k_and_4k() {
    let t = sample_tree();
    for bs in [None, Some(4096), Some(2048), Some(65536)] {
        let opts = Ext4Options {
            block_size: bs,
            ..Default::default()
        };
        let d = build(&t, &opts, &BuildContext::default()).unwrap();
        assert_same(&t, &read_back(&d));
    }
}

#[test]
fn round_trip_with_journal_and_info() {
    let t = sample_tree();
    let opts = Ext4Options {
        size: Some(64 << 20),
        label: Some("rootfs".into()),
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    assert_eq!(d.size(), 64 << 20);
    let i = info(&d).unwrap();
    assert_eq!(i.label, "rootfs");
    assert!(
        i.features.iter().any(|f| f == "has_journal"),
        "{:?}",
        i.features
    );
    assert!(probe(&d));
    assert_same(&t, &read_back(&d));
}

#[test]
fn deterministic() {
    let t = sample_tree();
    let a = build(&t, &Ext4Options::default(), &BuildContext::default()).unwrap();
    let b = build(&t, &Ext4Options::default(), &BuildContext::default()).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    let c = build(&t, &Ext4Options::default(), &BuildContext::new(0, "other")).unwrap();
    assert_ne!(bytes(&a), bytes(&c));
}

#[test]
fn too_small_is_no_space() {
    let mut t = Tree::new(0);
    t.add_file("big", vec![1u8; 3 << 20]).unwrap();
    let opts = Ext4Options {
        size: Some(2 << 20),
        ..Default::default()
    };
    match build(&t, &opts, &BuildContext::default()) {
        Err(Error::NoSpace { msg, .. }) => assert!(msg.contains("at least"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

/// A source of any size whose bytes are 0xab, never stored.
struct Zeros(u64);
impl ReadAt for Zeros {
    fn size(&self) -> u64 {
        self.0
    }
    fn read_at(&self, _: u64, buf: &mut [u8]) -> crate::Result<()> {
        buf.fill(0xab);
        Ok(())
    }
}

#[test]
fn large_source_file_is_not_copied() {
    // A 200 MiB file backed by a source that only knows its size: if the
    // writer read it, the test would fail.
    let mut t = Tree::new(0);
    let len = 200u64 << 20;
    t.insert(
        "huge",
        Node {
            kind: NodeKind::File(FileData::Source {
                src: Arc::new(Zeros(len)),
                offset: 0,
                len,
            }),
            meta: Meta::new(0o644, 0),
        },
    )
    .unwrap();
    let d = build(
        &t,
        &Ext4Options {
            block_size: Some(4096),
            ..Default::default()
        },
        &BuildContext::default(),
    )
    .unwrap();
    // Metadata only in memory: far less than the file.
    let mem: u64 = d
        .extents()
        .filter(|e| matches!(e.data, crate::disk::Data::Bytes { .. }))
        .map(|e| e.len)
        .sum();
    assert!(mem < 8 << 20, "{mem}");
    #[allow(clippy::arc_with_non_send_sync)] // Source is Arc<dyn ReadAt>, not Send
    let src: Source = Arc::new(d);
    let back = read_tree(src).unwrap();
    let NodeKind::File(f) = &back.node(back.lookup("huge").unwrap()).kind else {
        panic!()
    };
    assert_eq!(f.len(), len);
    let mut b = [0u8; 4];
    f.read_at(len - 4, &mut b).unwrap();
    assert_eq!(b, [0xab; 4]);
}

fn corrupt(d: &Disk, f: impl Fn(&mut Vec<u8>)) -> crate::Result<Tree> {
    let mut v = bytes(d);
    f(&mut v);
    read_tree(Arc::new(v))
}

#[test]
fn hostile_images_give_errors() {
    let t = sample_tree();
    let d = build(
        &t,
        &Ext4Options {
            block_size: Some(4096),
            ..Default::default()
        },
        &BuildContext::default(),
    )
    .unwrap();
    let sb = 1024usize;
    let msg = |r: crate::Result<Tree>| r.unwrap_err().to_string();
    // Block size 2^(10+20).
    let e = msg(corrupt(&d, |v| v[sb + 0x18] = 20));
    assert!(e.contains("s_log_block_size"), "{e}");
    // More inodes than groups hold.
    let e = msg(corrupt(&d, |v| {
        v[sb..sb + 4].copy_from_slice(&u32::MAX.to_le_bytes())
    }));
    assert!(e.contains("s_inodes_count"), "{e}");
    // Blocks count past the image.
    let e = msg(corrupt(&d, |v| {
        v[sb + 4..sb + 8].copy_from_slice(&u32::MAX.to_le_bytes())
    }));
    assert!(e.contains("s_blocks_count"), "{e}");
    // Group descriptor's inode table past the end.
    let e = msg(corrupt(&d, |v| {
        v[4096 + 8..4096 + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes())
    }));
    assert!(e.contains("bg_inode_table"), "{e}");
    // Truncated image.
    let mut v = bytes(&d);
    v.truncate(v.len() / 2);
    let e = msg(read_tree(Arc::new(v)));
    assert!(e.contains("s_blocks_count"), "{e}");
    // Not ext4 at all.
    let e = msg(read_tree(Arc::new(vec![0u8; 8192])));
    assert!(e.contains("0xEF53"), "{e}");
    let _ = ROOT;
}

/// Byte offset of inode `ino` in one of our 4 KiB-block images.
fn inode_offset(v: &[u8], ino: u64) -> usize {
    let ipg = u32::from_le_bytes(v[1024 + 0x28..1024 + 0x2C].try_into().unwrap()) as u64;
    let g = (ino - 1) / ipg;
    let d = 4096 + 32 * g as usize;
    let table = u32::from_le_bytes(v[d + 8..d + 12].try_into().unwrap()) as u64;
    (table * 4096 + ((ino - 1) % ipg) * 256) as usize
}

#[test]
fn extent_loop_is_an_error() {
    let mut t = Tree::new(0);
    t.add_file("f", vec![1u8; 10_000]).unwrap();
    let opts = Ext4Options {
        block_size: Some(4096),
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    let ino = 12u64; // the first inode after lost+found
    let err = corrupt(&d, |v| {
        let at = inode_offset(v, ino) + 0x28;
        let blk = 40u32; // some block inside the small image
                         // Root: depth 2, one index entry pointing at `blk`...
        let mut root = [0u8; 24];
        root[0..2].copy_from_slice(&0xF30Au16.to_le_bytes());
        root[2..4].copy_from_slice(&1u16.to_le_bytes());
        root[4..6].copy_from_slice(&4u16.to_le_bytes());
        root[6..8].copy_from_slice(&2u16.to_le_bytes());
        root[16..20].copy_from_slice(&blk.to_le_bytes());
        v[at..at + 24].copy_from_slice(&root);
        // ...and `blk` (depth 1) pointing at itself.
        let b = blk as usize * 4096;
        root[6..8].copy_from_slice(&1u16.to_le_bytes());
        v[b..b + 24].copy_from_slice(&root);
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("loop"), "{err}");
}

#[test]
fn long_names_are_refused_with_the_path() {
    let mut t = Tree::new(0);
    let id = t.add_file("ok", vec![]).unwrap();
    if let NodeKind::Dir(m) = &mut t.node_mut(ROOT).kind {
        m.insert("x".repeat(256), id);
    }
    let err = build(&t, &Ext4Options::default(), &BuildContext::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more than ext4's 255") && err.contains("xxxx"),
        "{err}"
    );
}

#[test]
fn fit_leaves_the_extra_space() {
    let mut t = Tree::new(0);
    t.add_file("f", vec![1u8; 4 << 20]).unwrap();
    let opts = Ext4Options {
        extra_percent: 50,
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    let i = info(&d).unwrap();
    let free = i.free_blocks * i.block_size as u64;
    assert!(free >= 2 << 20, "{free} bytes free of {}", d.size());
}

/// Random byte flips in the metadata never panic the reader.
#[test]
fn mutated_images_do_not_panic() {
    let mut t = Tree::new(0);
    for i in 0..40 {
        t.add_file(&format!("d{}/f{i}", i % 3), vec![i as u8; i * 100])
            .unwrap();
    }
    t.add_symlink("l", &"x".repeat(80)).unwrap();
    let id = t.add_file("cap", vec![]).unwrap();
    t.node_mut(id)
        .meta
        .xattrs
        .insert("user.a".into(), vec![1; 200]);
    let d = build(&t, &Ext4Options::default(), &BuildContext::default()).unwrap();
    let base = bytes(&d);
    let meta_end = base.len().min(96 * 1024);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut v = base.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = 1024 + (x as usize % (meta_end - 1024));
            v[at] = (x >> 32) as u8;
        }
        if let Ok(tree) = read_tree(Arc::new(v)) {
            for n in &tree.nodes {
                if let NodeKind::File(f) = &n.kind {
                    let _ = f.to_vec(1 << 20);
                }
            }
        }
    }
}

#[test]
fn empty_tree_and_odd_sizes() {
    let t = Tree::new(0);
    let d = build(&t, &Ext4Options::default(), &BuildContext::default()).unwrap();
    let back = read_back(&d);
    assert_eq!(
        back.children(ROOT)
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
        ["lost+found"]
    );
    let opts = Ext4Options {
        size: Some((8 << 20) + 1000),
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    assert_eq!(d.size(), (8 << 20) + 1000);
    read_back(&d);
    // A tree with its own lost+found keeps it (as inode 11) with its metadata.
    let mut t = Tree::new(0);
    let id = t.add_dir("lost+found").unwrap();
    t.node_mut(id).meta.mode = 0o750;
    t.add_file("lost+found/x", b"x".to_vec()).unwrap();
    let d = build(&t, &Ext4Options::default(), &BuildContext::default()).unwrap();
    let back = read_back(&d);
    assert_same(&t, &back);
    assert_eq!(
        back.node(back.lookup("lost+found").unwrap()).meta.mode,
        0o750
    );
}

/// A 1 TiB filesystem holds little memory: empty groups are left
/// uninitialised and inode tables are holes.
#[test]
fn terabyte_filesystem_is_cheap() {
    let t = sample_tree();
    let opts = Ext4Options {
        size: Some(1 << 40),
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    assert!(d.allocated_bytes() < 64 << 20, "{}", d.allocated_bytes());
    let i = info(&d).unwrap();
    assert_eq!(i.blocks, (1 << 40) / 4096);
    assert!(i.features.iter().any(|f| f == "64bit"));
    #[allow(clippy::arc_with_non_send_sync)]
    let back = read_tree(Arc::new(d)).unwrap();
    assert_same(&t, &back);
}

/// A file of more extents than one index level holds: at 1 KiB blocks an
/// extent covers 32 MiB and a block holds 84, so 12 GiB needs depth 2.
#[test]
fn depth_two_extent_tree_round_trips() {
    let mut t = Tree::new(0);
    let len = 12u64 << 30;
    t.insert(
        "huge",
        Node {
            kind: NodeKind::File(FileData::Source {
                src: Arc::new(Zeros(len)),
                offset: 0,
                len,
            }),
            meta: Meta::new(0o644, 0),
        },
    )
    .unwrap();
    let opts = Ext4Options {
        block_size: Some(1024),
        journal: false,
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    #[allow(clippy::arc_with_non_send_sync)]
    let back = read_tree(Arc::new(d)).unwrap();
    let NodeKind::File(f) = &back.node(back.lookup("huge").unwrap()).kind else {
        panic!()
    };
    let FileData::Mapped { map, .. } = f else {
        panic!()
    };
    assert_eq!(map.iter().map(|r| r.2).sum::<u64>(), len);
    let mut b = [0u8; 3];
    f.read_at(len - 3, &mut b).unwrap();
    assert_eq!(b, [0xab; 3]);
}
