//! ISO 9660 (ECMA-119) images with Rock Ridge, Joliet, El Torito boot
//! entries and isohybrid MBR/GPT: [`write()`] streams an image built from a
//! tree, [`read_tree`] reads one back, [`report`] describes one.

#[allow(missing_docs)]
pub mod raw;
pub mod read;
pub mod write;

pub use read::{
    probe, read_tree, render_report, report, BootEntry, IsoReport, SystemArea, VolumeDescriptor,
};
pub use write::{
    build, build_with_warnings, image_size, write, BootImage, Emulation, IsoOptions, RockRidge,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{source_from_vec, NoProgress};
    use crate::tree::{FileData, NodeKind, Tree};
    use crate::BuildContext;

    fn sample() -> Tree {
        let mut t = Tree::new(1_700_000_000);
        t.add_file(
            "isolinux/isolinux.bin",
            (0..4096u32).map(|i| i as u8).collect(),
        )
        .unwrap();
        t.add_file("efi.img", vec![0xEE; 1474560]).unwrap();
        t.add_file("docs/readme.txt", b"hello\n".to_vec()).unwrap();
        t.add_symlink("docs/link", "readme.txt").unwrap();
        t.link("docs/hard", "docs/readme.txt").unwrap();
        t.add_file(&"x".repeat(200), b"long".to_vec()).unwrap();
        let mut deep = String::new();
        for i in 0..10 {
            deep += &format!("d{i}/");
        }
        t.add_file(&format!("{deep}f"), b"deep".to_vec()).unwrap();
        t
    }

    fn opts() -> IsoOptions {
        let mut bios = BootImage::bios("isolinux/isolinux.bin");
        bios.load_size = Some(4);
        bios.boot_info_table = true;
        IsoOptions {
            volume_id: "TEST".into(),
            rock_ridge: RockRidge::Full,
            joliet: true,
            boot_catalog: Some("isolinux/boot.cat".into()),
            boot: vec![bios, BootImage::efi("efi.img")],
            ..IsoOptions::default()
        }
    }

    fn image(t: &Tree, o: &IsoOptions) -> Vec<u8> {
        let mut v = Vec::new();
        write(t, o, &BuildContext::default(), &mut v, &NoProgress).unwrap();
        v
    }

    #[test]
    fn round_trip_rock_ridge() {
        let t = sample();
        let img = image(&t, &opts());
        assert!(probe(&img));
        let back = read_tree(source_from_vec(img.clone())).unwrap();
        let names: Vec<String> = back.walk().into_iter().map(|(p, _)| p).collect();
        for p in [
            "docs/readme.txt",
            "docs/link",
            "isolinux/boot.cat",
            "d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/f",
        ] {
            assert!(names.contains(&p.to_string()), "{p} missing: {names:?}");
        }
        assert!(names.contains(&"x".repeat(200)));
        let l = back.lookup("docs/link").unwrap();
        assert!(matches!(&back.node(l).kind, NodeKind::Symlink(s) if s == "readme.txt"));
        assert_eq!(back.lookup("docs/hard"), back.lookup("docs/readme.txt"));
        let f = back.lookup("docs/readme.txt").unwrap();
        let NodeKind::File(d) = &back.node(f).kind else {
            panic!()
        };
        assert_eq!(d.to_vec(100).unwrap(), b"hello\n");
        assert_eq!(back.node(f).meta.mtime, 1_700_000_000);
        assert!(!names.iter().any(|n| n.contains("rr_moved")), "{names:?}");
        // The L path table is in ECMA-119 6.9.1 order: parent numbers never
        // decrease, and every parent comes before its children.
        let pvd = &img[16 * 2048..17 * 2048];
        let size = u32::from_le_bytes(pvd[132..136].try_into().unwrap()) as usize;
        let at = u32::from_le_bytes(pvd[140..144].try_into().unwrap()) as usize * 2048;
        let pt = &img[at..at + size];
        let (mut pos, mut n, mut last_parent, mut idents) = (0, 0u16, 1u16, Vec::new());
        while pos < pt.len() {
            let len = pt[pos] as usize;
            let parent = u16::from_le_bytes([pt[pos + 6], pt[pos + 7]]);
            n += 1;
            assert!(
                parent >= last_parent && parent <= n,
                "entry {n} parent {parent}"
            );
            last_parent = parent;
            idents.push(pt[pos + 8..pos + 8 + len].to_vec());
            pos += 8 + len + len % 2;
        }
        assert!(idents.contains(&b"RR_MOVED".to_vec()), "{idents:?}");
        assert!(n >= 13);
        // Same bytes twice (determinism).
        assert_eq!(img, image(&t, &opts()));
    }

    #[test]
    fn boot_info_table_and_catalog() {
        let img = image(&sample(), &opts());
        let rep = report(source_from_vec(img.clone())).unwrap();
        assert_eq!(rep.el_torito.len(), 2);
        let b = &rep.el_torito[0];
        assert_eq!(
            (b.platform, b.sectors, b.emulation.as_str()),
            (0, 4, "none")
        );
        assert!(b.boot_info_table);
        assert_eq!(rep.el_torito[1].platform, 0xEF);
        assert_eq!(rep.el_torito[1].sectors, 2880);
        let at = b.lba as usize * 2048;
        let le = |o: usize| u32::from_le_bytes(img[at + o..at + o + 4].try_into().unwrap());
        assert_eq!(le(8), 16);
        assert_eq!(le(12), b.lba);
        assert_eq!(le(16), 4096);
        let sum = img[at + 64..at + 4096].chunks(4).fold(0u32, |s, w| {
            s.wrapping_add(u32::from_le_bytes(w.try_into().unwrap()))
        });
        assert_eq!(le(20), sum);
        assert_eq!(img[at + 64], 64u8);
        assert!(render_report(&rep).contains("El Torito boot img :   1  BIOS  y   none"));
    }

    #[test]
    fn joliet_only_and_truncation_warning() {
        let mut t = Tree::new(0);
        t.add_file(&format!("{}.txt", "n".repeat(80)), vec![1])
            .unwrap();
        let o = IsoOptions {
            joliet: true,
            ..IsoOptions::default()
        };
        let mut v = Vec::new();
        let w = write(&t, &o, &BuildContext::default(), &mut v, &NoProgress).unwrap();
        assert!(w.iter().any(|w| w.contains("truncated to 64")), "{w:?}");
        let back = read_tree(source_from_vec(v)).unwrap();
        let names: Vec<String> = back.walk().into_iter().map(|(p, _)| p).collect();
        assert_eq!(names[1].chars().count(), 64);
    }

    #[test]
    fn boot_errors_name_the_file() {
        let t = sample();
        let mut o = opts();
        o.boot[0].path = "isolinux/missing.bin".into();
        let e = write(
            &t,
            &o,
            &BuildContext::default(),
            &mut Vec::new(),
            &NoProgress,
        )
        .unwrap_err();
        assert!(e.to_string().contains("isolinux/missing.bin"), "{e}");
        let mut o = opts();
        o.boot[0].emulation = Emulation::Floppy;
        let e = write(
            &t,
            &o,
            &BuildContext::default(),
            &mut Vec::new(),
            &NoProgress,
        )
        .unwrap_err();
        assert!(e.to_string().contains("floppy"), "{e}");
        let mut t2 = sample();
        t2.add_file("big.bin", vec![0; 40 << 20]).unwrap();
        let mut o = opts();
        o.boot[0] = BootImage::bios("big.bin");
        let e = write(
            &t2,
            &o,
            &BuildContext::default(),
            &mut Vec::new(),
            &NoProgress,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("big.bin") && e.to_string().contains("load size"),
            "{e}"
        );
    }

    #[test]
    #[allow(clippy::arc_with_non_send_sync)]
    fn multi_extent_file_over_4_gib() {
        struct Zeros(u64);
        impl crate::io::ReadAt for Zeros {
            fn size(&self) -> u64 {
                self.0
            }
            fn read_at(&self, _o: u64, b: &mut [u8]) -> crate::Result<()> {
                b.fill(7);
                Ok(())
            }
        }
        let len = (4u64 << 30) + 12345;
        let mut t = Tree::new(0);
        t.insert(
            "big",
            crate::tree::Node {
                kind: NodeKind::File(FileData::Source {
                    src: std::sync::Arc::new(Zeros(len)),
                    offset: 0,
                    len,
                }),
                meta: crate::tree::Meta::new(0o644, 0),
            },
        )
        .unwrap();
        let mut o = IsoOptions {
            rock_ridge: RockRidge::Full,
            ..IsoOptions::default()
        };
        assert!(build(&t, &o, &BuildContext::default()).is_err());
        o.level = 3;
        let disk = build(&t, &o, &BuildContext::default()).unwrap();
        let back = read_tree(std::sync::Arc::new(disk)).unwrap();
        let NodeKind::File(d) = &back.node(back.lookup("big").unwrap()).kind else {
            panic!()
        };
        assert_eq!(d.len(), len);
    }

    #[test]
    fn hostile_directories_are_refused() {
        let mut t = Tree::new(0);
        t.add_file("a/f", b"x".to_vec()).unwrap();
        let img = image(&t, &IsoOptions::default());
        // Find the record of "A" in the root directory and point it at the root.
        let root =
            u32::from_le_bytes(img[16 * 2048 + 158..16 * 2048 + 162].try_into().unwrap()) as usize;
        let dir = root * 2048;
        let mut pos = dir + 68;
        assert_eq!(img[pos + 33], b'A');
        let mut looped = img.clone();
        looped[pos + 2..pos + 6].copy_from_slice(&(root as u32).to_le_bytes());
        let e = read_tree(source_from_vec(looped)).unwrap_err().to_string();
        assert!(e.contains("loop"), "{e}");
        let mut past = img.clone();
        past[pos + 2..pos + 6].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let e = read_tree(source_from_vec(past)).unwrap_err().to_string();
        assert!(e.contains("end of input") || e.contains("past"), "{e}");
        let mut huge = img.clone();
        huge[pos + 10..pos + 14].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(read_tree(source_from_vec(huge)).is_err());
        // Two directories sharing one extent (fan-out) are refused too.
        let mut t = Tree::new(0);
        t.add_file("a/f", b"x".to_vec()).unwrap();
        t.add_file("b/f", b"y".to_vec()).unwrap();
        let img = image(&t, &IsoOptions::default());
        pos = dir + 68;
        assert_eq!((img[pos + 33], img[pos + 34 + 33]), (b'A', b'B'));
        let mut shared = img.clone();
        let a_lba = img[pos + 2..pos + 6].to_vec();
        shared[pos + 34 + 2..pos + 34 + 6].copy_from_slice(&a_lba);
        let e = read_tree(source_from_vec(shared)).unwrap_err().to_string();
        assert!(e.contains("already used"), "{e}");
    }

    #[test]
    fn emulation_entries_and_rationalized_modes() {
        let mut t = Tree::new(0);
        t.add_file("fd.img", vec![0; 1_474_560]).unwrap();
        let mut hd = vec![0u8; 1 << 20];
        hd[446 + 4] = 0x0C;
        hd[510] = 0x55;
        hd[511] = 0xAA;
        t.add_file("hd.img", hd).unwrap();
        t.add_file("tool", vec![1]).unwrap();
        t.node_mut(t.lookup("tool").unwrap()).meta.mode = 0o4700;
        let mut fd = BootImage::bios("fd.img");
        fd.emulation = Emulation::Floppy;
        let mut hdb = BootImage::bios("hd.img");
        hdb.emulation = Emulation::HardDisk;
        let o = IsoOptions {
            rock_ridge: RockRidge::Rationalized,
            boot_catalog: Some("boot.cat".into()),
            boot: vec![fd, hdb],
            ..IsoOptions::default()
        };
        let img = image(&t, &o);
        let rep = report(source_from_vec(img.clone())).unwrap();
        let e: Vec<(&str, u16, u8)> = rep
            .el_torito
            .iter()
            .map(|e| (e.emulation.as_str(), e.sectors, e.system_type))
            .collect();
        assert_eq!(e, vec![("fd1.44", 1, 0), ("hd", 1, 0x0C)]);
        let back = read_tree(source_from_vec(img)).unwrap();
        let m = &back.node(back.lookup("tool").unwrap()).meta;
        assert_eq!((m.mode, m.uid), (0o555, 0));
    }

    #[test]
    fn corrupted_images_never_panic() {
        let img = image(&sample(), &opts());
        // Metadata lives before the first file; corrupt bytes there.
        let meta_end = 60 * 2048;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..400 {
            let mut bad = img.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = 16 * 2048 + (x as usize % (meta_end - 16 * 2048));
                bad[at] = (x >> 32) as u8;
            }
            let src = source_from_vec(bad);
            let _ = read_tree(src.clone());
            if let Ok(r) = report(src) {
                let _ = render_report(&r);
            }
        }
        for cut in [0usize, 100, 16 * 2048 + 10, 17 * 2048, 30 * 2048] {
            let src = source_from_vec(img[..cut].to_vec());
            assert!(read_tree(src.clone()).is_err());
            // The report needs only the descriptors and the boot catalog.
            assert_eq!(report(src).is_err(), cut <= 17 * 2048, "cut at {cut}");
        }
    }

    #[test]
    #[allow(clippy::arc_with_non_send_sync)]
    fn build_and_write_give_the_same_bytes() {
        let mut o = opts();
        o.isohybrid_mbr = Some(vec![0xFA; 432]);
        o.isohybrid_gpt_basdat = true;
        let img = image(&sample(), &o);
        let disk = build(&sample(), &o, &BuildContext::default()).unwrap();
        assert_eq!(disk.size(), img.len() as u64);
        assert_eq!(
            image_size(&sample(), &o, &BuildContext::default()).unwrap(),
            img.len() as u64
        );
        let mut back = vec![0u8; img.len()];
        crate::io::ReadAt::read_at(&disk, 0, &mut back).unwrap();
        assert!(back == img);
        assert_eq!(img.len() % (1 << 20), 0);
        let rep = report(std::sync::Arc::new(disk)).unwrap();
        assert!(rep.system_area.gpt && rep.system_area.mbr);
        assert_eq!(rep.system_area.gpt_partitions.len(), 2);
    }
}
