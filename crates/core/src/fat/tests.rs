//! Writer and reader against each other, over FAT12, FAT16 and FAT32 (the
//! same body for the three, as rust-fatfs does), and mkfs.fat's geometry.

use super::raw::*;
use super::write::fat_name;
use super::*;
use crate::io::{ReadAt, Source};
use crate::tree::{FileData, NodeKind, Tree};
use crate::{BuildContext, Disk, Error};
use std::sync::Arc;

fn image(disk: &Disk) -> Source {
    let mut v = vec![0u8; disk.size() as usize];
    disk.read_at(0, &mut v).unwrap();
    Arc::new(v)
}

fn sample_tree() -> Tree {
    let mut t = Tree::new(1_704_067_200);
    t.add_file("readme.txt", b"hello".to_vec()).unwrap();
    t.add_file("NOTES.TXT", b"HELLO".to_vec()).unwrap();
    t.add_file("Mixed.Txt", b"mixed".to_vec()).unwrap();
    t.add_file("empty", Vec::new()).unwrap();
    t.add_file("a long file name with spaces.text", vec![7u8; 3000])
        .unwrap();
    t.add_file("a long file name with spaces.texu", vec![8u8; 5000])
        .unwrap();
    t.add_file("EFI/BOOT/BOOTX64.EFI", vec![0x4du8; 70_000])
        .unwrap();
    t.add_file(
        "dir/sub/ünïcödé ファイル.txt",
        "ユニコード".as_bytes().to_vec(),
    )
    .unwrap();
    t.add_file(".hidden", b"dot".to_vec()).unwrap();
    t.add_dir("empty-dir").unwrap();
    for i in 0..40 {
        t.add_file(&format!("many/file number {i}.dat"), vec![i as u8; i * 100])
            .unwrap();
    }
    let src: Source = Arc::new(
        (0..200_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    t.insert(
        "from-source.bin",
        crate::tree::Node {
            kind: NodeKind::File(FileData::Source {
                src,
                offset: 1000,
                len: 150_000,
            }),
            meta: crate::tree::Meta::new(0o444, 0),
        },
    )
    .unwrap();
    t
}

fn files(t: &Tree) -> Vec<(String, Option<Vec<u8>>)> {
    t.walk()
        .into_iter()
        .map(|(p, id)| match &t.node(id).kind {
            NodeKind::File(f) => (p, Some(f.to_vec(1 << 30).unwrap())),
            _ => (p, None),
        })
        .collect()
}

fn round_trip(fat_type: FatType) {
    let tree = sample_tree();
    let ctx = BuildContext::default();
    let size = match fat_type {
        FatType::Fat12 => 8 << 20,
        FatType::Fat16 => 16 << 20,
        FatType::Fat32 => 40 << 20,
    };
    let opts = FatOptions {
        size: Some(size),
        fat_type: Some(fat_type),
        label: Some("IMGFORGE".into()),
        ..Default::default()
    };
    let disk = build(&tree, &opts, &ctx).unwrap();
    assert_eq!(disk.size(), size);
    let img = image(&disk);
    assert!(probe(&*img));
    let inf = info(&*img).unwrap();
    assert_eq!(inf.fat_type, fat_type);
    assert_eq!(inf.label.as_deref(), Some("IMGFORGE"));
    assert_eq!(inf.volume_id, ctx.u32("fat-volume-id"));
    let (back, label) = read_tree_with_label(img).unwrap();
    assert_eq!(label.as_deref(), Some("IMGFORGE"));
    assert_eq!(files(&back), files(&tree));
    // The tree read back (file data mapped from the image) builds the same
    // image again.
    let rebuilt = image(&build(&back, &opts, &ctx).unwrap());
    let orig = image(&disk);
    let (mut x, mut y) = (vec![0u8; size as usize], vec![0u8; size as usize]);
    orig.read_at(0, &mut x).unwrap();
    rebuilt.read_at(0, &mut y).unwrap();
    assert!(x == y, "{fat_type}: rebuilt image differs");
    let id = back.lookup("from-source.bin").unwrap();
    assert_eq!(back.node(id).meta.mode, 0o444);
    assert_eq!(back.node(id).meta.mtime, ctx.epoch);
    // Contiguous files come back as one run.
    if let NodeKind::File(FileData::Mapped { map, .. }) =
        &back.node(back.lookup("EFI/BOOT/BOOTX64.EFI").unwrap()).kind
    {
        assert_eq!(map.len(), 1);
    } else {
        panic!("not mapped");
    }
    // Same inputs, same bytes.
    let again = image(&build(&tree, &opts, &ctx).unwrap());
    let first = image(&disk);
    let mut a = vec![0u8; first.size() as usize];
    let mut b = vec![0u8; again.size() as usize];
    first.read_at(0, &mut a).unwrap();
    again.read_at(0, &mut b).unwrap();
    assert!(a == b);
}

#[test]
fn round_trip_fat12() {
    round_trip(FatType::Fat12);
}
#[test]
fn round_trip_fat16() {
    round_trip(FatType::Fat16);
}
#[test]
fn round_trip_fat32() {
    round_trip(FatType::Fat32);
}

#[test]
fn auto_size_fits_content() {
    let tree = sample_tree();
    let disk = build(&tree, &FatOptions::default(), &BuildContext::default()).unwrap();
    let img = image(&disk);
    let back = read_tree(img).unwrap();
    assert_eq!(files(&back), files(&tree));
}

#[test]
fn geometry_matches_mkfs_fat_4_2() {
    // (MiB, type, fat sectors, clusters, reserved) from `mkfs.fat -v`
    // (dosfstools 4.2) on empty image files of that size.
    let cases = [
        (1, FatType::Fat12, 2, 502, 1),
        (4, FatType::Fat12, 6, 2036, 1),
        (8, FatType::Fat12, 12, 4081, 4),
        (16, FatType::Fat16, 32, 8167, 4),
        (128, FatType::Fat16, 256, 65399, 4),
        (260, FatType::Fat16, 144, 33258, 16),
        (520, FatType::Fat32, 1040, 132855, 32),
        (1024, FatType::Fat32, 2048, 261627, 32),
    ];
    for (mb, t, fat_len, clusters, reserved) in cases {
        let g = geometry(mb << 20, 512, None, None).unwrap();
        assert_eq!(
            (g.fat_type, g.fat_len, g.cluster_count, g.reserved),
            (t, fat_len, clusters, reserved),
            "{mb} MiB"
        );
    }
}

#[test]
fn short_names_like_vfat() {
    let mut used = super::write::ShortNames::default();
    let mut n = |s: &str| fat_name(s, s, &mut used).unwrap();
    let a = n("readme.txt");
    assert_eq!(&a.short, b"README  TXT");
    assert_eq!(a.nt_res, NTRES_LOWER_BASE | NTRES_LOWER_EXT);
    assert!(a.long.is_none());
    let b = n("README.TXT");
    assert_eq!(&b.short, b"README~1TXT");
    assert!(b.long.is_some());
    let c = n("Makefile");
    assert_eq!(&c.short, b"MAKEFILE   ");
    assert!(c.long.is_some());
    assert_eq!(c.nt_res, 0);
    let d = n("a long file name.text");
    assert_eq!(&d.short, b"ALONGF~1TEX");
    let e = n("a long file name.texu");
    assert_eq!(&e.short, b"ALONGF~2TEX");
    let f = n(".bashrc");
    assert_eq!(&f.short, b"BASHRC~1   ");
    let g = n("ünï.txt");
    assert_eq!(&g.short, b"_N_~1   TXT");
    let h = n("a+b=c");
    assert_eq!(&h.short, b"A_B_C~1    ");
    // Names as mcopy (mtools 4.0) shortens them.
    assert_eq!(&n("[x].txt").short, b"_X_~1   TXT");
    assert_eq!(&n("a.b.c.d").short, b"ABC~1   D  ");
    assert_eq!(&n("x.tar.gz").short, b"XTAR~1  GZ ");
    assert_eq!(&n("foo bar.txt").short, b"FOOBAR~1TXT");
    assert_eq!(&n("verylongname.html").short, b"VERYLO~1HTM");
    let m = n("MiXeD");
    assert_eq!((&m.short, m.long.is_some()), (b"MIXED      ", true));
    let l = n("ab~1.txt");
    assert_eq!(
        (&l.short, l.nt_res, l.long.is_none()),
        (b"AB~1    TXT", 0x18, true)
    );
    let i = n("UPPER.c");
    assert_eq!(&i.short, b"UPPER   C  ");
    assert_eq!(i.nt_res, NTRES_LOWER_EXT);
}

#[test]
fn bad_names_and_specials_are_errors() {
    for bad in ["a:b", "what?", "x*", "tab\there", "trailing."] {
        let mut t = Tree::new(0);
        t.add_file(&format!("d/{bad}"), vec![1]).unwrap();
        let e = build(&t, &FatOptions::default(), &BuildContext::default()).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
    }
    let mut t = Tree::new(0);
    t.add_file(&"x".repeat(250), vec![1]).unwrap();
    assert!(build(&t, &FatOptions::default(), &BuildContext::default()).is_ok());
    let mut t = Tree::new(0);
    t.add_symlink("link", "target").unwrap();
    t.add_file("f", vec![1]).unwrap();
    let e = build(&t, &FatOptions::default(), &BuildContext::default()).unwrap_err();
    assert!(e.to_string().contains("/link"), "{e}");
    let opts = FatOptions {
        skip_special: true,
        ..Default::default()
    };
    let (d, w) = build_with_warnings(&t, &opts, &BuildContext::default()).unwrap();
    assert_eq!(w.len(), 1);
    let back = read_tree(image(&d)).unwrap();
    assert!(back.lookup("link").is_none() && back.lookup("f").is_some());
}

#[test]
fn followed_symlinks_store_what_they_point_to() {
    let mut t = Tree::new(0);
    t.add_file("boot/vmlinuz-6.1", b"kernel".to_vec()).unwrap();
    t.add_symlink("boot/vmlinuz", "vmlinuz-6.1").unwrap();
    t.add_file("efi/BOOT/grub.cfg", b"menu".to_vec()).unwrap();
    t.add_symlink("esp", "/efi").unwrap();
    let opts = FatOptions {
        follow_symlinks: true,
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    let back = read_tree(image(&d)).unwrap();
    let read = |p: &str| match &back.node(back.lookup(p).unwrap()).kind {
        NodeKind::File(f) => f.to_vec(1 << 20).unwrap(),
        other => panic!("{p}: {other:?}"),
    };
    assert_eq!(read("boot/vmlinuz"), b"kernel");
    assert_eq!(read("boot/vmlinuz-6.1"), b"kernel");
    assert_eq!(read("esp/BOOT/grub.cfg"), b"menu");
    assert_eq!(read("efi/BOOT/grub.cfg"), b"menu");

    // A link to a directory holding it, and a dangling link: errors naming it.
    let mut t = Tree::new(0);
    t.add_symlink("a/b/up", "../..").unwrap();
    let e = build(&t, &opts, &BuildContext::default()).unwrap_err();
    assert!(
        e.to_string().contains("/a/b/up") && e.to_string().contains("loop"),
        "{e}"
    );
    let mut t = Tree::new(0);
    t.add_symlink("x/gone", "nowhere").unwrap();
    let e = build(&t, &opts, &BuildContext::default()).unwrap_err();
    assert!(
        e.to_string().contains("/x/gone") && e.to_string().contains("dangling"),
        "{e}"
    );
}

#[test]
fn too_large_content_is_no_space() {
    let mut t = Tree::new(0);
    t.add_file("big", vec![0u8; 3 << 20]).unwrap();
    let opts = FatOptions {
        size: Some(2 << 20),
        ..Default::default()
    };
    let e = build(&t, &opts, &BuildContext::default()).unwrap_err();
    assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    assert!(e.to_string().contains("needs"), "{e}");
}

fn small_image() -> Vec<u8> {
    let mut t = Tree::new(0);
    t.add_file("a.txt", vec![1u8; 5000]).unwrap();
    let opts = FatOptions {
        size: Some(2 << 20),
        ..Default::default()
    };
    let d = build(&t, &opts, &BuildContext::default()).unwrap();
    let mut v = vec![0u8; d.size() as usize];
    d.read_at(0, &mut v).unwrap();
    v
}

#[test]
fn corrupt_bpb_is_an_error() {
    let good = small_image();
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        (
            "BPB_BytsPerSec",
            Box::new(|v| v[11..13].copy_from_slice(&[0, 0])),
        ),
        ("BPB_SecPerClus", Box::new(|v| v[13] = 0)),
        ("BPB_SecPerClus", Box::new(|v| v[13] = 3)),
        (
            "unexpected end",
            Box::new(|v| v[19..21].copy_from_slice(&60000u16.to_le_bytes())),
        ),
        ("unexpected end", Box::new(|v| v.truncate(1 << 20))),
    ];
    for (what, f) in cases {
        let mut v = good.clone();
        f(&mut v);
        let e = read_tree(Arc::new(v)).unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
}

#[test]
fn fat_chain_loop_is_an_error() {
    let mut v = small_image();
    // FAT12: a.txt starts at cluster 2, 5000 bytes = 3 clusters of 2048.
    // Point cluster 3 back at 2.
    let fat = 512;
    let set12 = |v: &mut Vec<u8>, n: usize, val: u16| {
        let o = fat + n * 3 / 2;
        if n.is_multiple_of(2) {
            v[o] = val as u8;
            v[o + 1] = (v[o + 1] & 0xF0) | ((val >> 8) as u8 & 0x0F);
        } else {
            v[o] = (v[o] & 0x0F) | ((val as u8 & 0x0F) << 4);
            v[o + 1] = (val >> 4) as u8;
        }
    };
    set12(&mut v, 3, 2);
    let e = read_tree(Arc::new(v)).unwrap_err();
    assert!(e.to_string().contains("/a.txt"), "{e}");
    assert!(e.to_string().contains("loop"), "{e}");
}

#[test]
fn huge_directory_is_no_space() {
    let mut t = Tree::new(0);
    for i in 0..22_000 {
        t.add_file(&format!("d/a long name {i}.txt"), Vec::new())
            .unwrap();
    }
    let e = build(&t, &FatOptions::default(), &BuildContext::default()).unwrap_err();
    assert!(
        e.to_string().contains("/d") && e.to_string().contains("65536"),
        "{e}"
    );
}

/// Damaged images give errors, never panics: each byte of the BPB, the
/// FAT's start and the first directory entries set to a few values in turn.
#[test]
fn damaged_images_do_not_panic() {
    for fat_type in [FatType::Fat12, FatType::Fat32] {
        let mut t = Tree::new(0);
        t.add_file("dir/a long name.txt", vec![1u8; 3000]).unwrap();
        t.add_file("b.txt", vec![2u8; 700]).unwrap();
        let opts = FatOptions {
            size: Some(if fat_type == FatType::Fat32 {
                4 << 20
            } else {
                1 << 20
            }),
            fat_type: Some(fat_type),
            ..Default::default()
        };
        let d = build(&t, &opts, &BuildContext::default()).unwrap();
        let mut good = vec![0u8; d.size() as usize];
        d.read_at(0, &mut good).unwrap();
        let vol = read::Volume::open(&good).unwrap();
        // Boot sector, FATs (start), root/first clusters.
        // The BPB and extended boot record (the rest is boot code).
        let mut spots: Vec<usize> = (0..96).collect();
        spots.extend(vol.fat_offset as usize..vol.fat_offset as usize + 64);
        let root = if fat_type == FatType::Fat32 {
            vol.data_offset
        } else {
            vol.root_offset
        } as usize;
        spots.extend(root..root + 256);
        for k in 0..4 {
            let c = vol.data_offset as usize + k * vol.cluster_bytes as usize;
            spots.extend(c..c + 64);
        }
        let good = Arc::new(good);
        for &i in &spots {
            for v in [0x00u8, 0xFF, 0x0F] {
                let src: Source = Arc::new(Patched {
                    base: good.clone(),
                    at: i as u64,
                    val: v,
                });
                let _ = probe(&*src);
                let _ = info(&*src);
                if let Ok(tree) = read_tree(src) {
                    for (_, id) in tree.walk() {
                        if let NodeKind::File(f) = &tree.node(id).kind {
                            let _ = f.to_vec(1 << 24);
                        }
                    }
                }
            }
        }
    }
}

/// An image with one byte changed, without copying it.
struct Patched {
    base: Arc<Vec<u8>>,
    at: u64,
    val: u8,
}

impl ReadAt for Patched {
    fn size(&self) -> u64 {
        self.base.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<()> {
        self.base.read_at(offset, buf)?;
        if self.at >= offset && self.at < offset + buf.len() as u64 {
            buf[(self.at - offset) as usize] = self.val;
        }
        Ok(())
    }
}

#[test]
fn names_differing_only_in_case_are_refused() {
    let mut t = Tree::new(0);
    t.add_file("dir/readme.txt", b"a".to_vec()).unwrap();
    t.add_file("dir/README.TXT", b"b".to_vec()).unwrap();
    let err = build(&t, &FatOptions::default(), &BuildContext::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("/dir/"), "{err}");
    assert!(err.contains("clashes with"), "{err}");
    assert!(
        err.contains("README.TXT") && err.contains("readme.txt"),
        "{err}"
    );
    // Different names in different directories are fine.
    let mut t = Tree::new(0);
    t.add_file("a/readme.txt", b"a".to_vec()).unwrap();
    t.add_file("b/README.TXT", b"b".to_vec()).unwrap();
    build(&t, &FatOptions::default(), &BuildContext::default()).unwrap();
}
