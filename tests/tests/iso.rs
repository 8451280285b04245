//! ISO 9660 (issue 4): `imgforge mkisofs` output checked with xorriso,
//! osirrox, isoinfo, sfdisk and sgdisk; our reader checked on images made by
//! xorriso and genisoimage.

use imgforge_core::io::{ReadAt, Sink};
use imgforge_core::iso9660;
use imgforge_core::tree::{FileData, Meta, Node, NodeKind, Tree};
use imgforge_tests::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A source tree like the seed workshop's: isolinux (Debian's if installed),
/// a config, nested directories, a symlink, a hard link, a long name.
fn source_tree(dir: &Path) -> PathBuf {
    let iso = dir.join("iso");
    std::fs::create_dir_all(iso.join("isolinux")).unwrap();
    std::fs::create_dir_all(iso.join("EFI/boot")).unwrap();
    std::fs::create_dir_all(iso.join("a/b/c/d/e/f/g/h/i/j")).unwrap();
    let isolinux = Path::new("/usr/lib/ISOLINUX/isolinux.bin");
    if isolinux.exists() {
        std::fs::copy(isolinux, iso.join("isolinux/isolinux.bin")).unwrap();
    } else {
        let fake: Vec<u8> = (0..24576u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(iso.join("isolinux/isolinux.bin"), fake).unwrap();
    }
    std::fs::write(
        iso.join("isolinux/isolinux.cfg"),
        "DEFAULT linux\nLABEL linux\n  KERNEL /boot/vmlinuz\n",
    )
    .unwrap();
    std::fs::write(iso.join("EFI/boot/efi.img"), vec![0xF6u8; 1474560]).unwrap();
    std::fs::write(iso.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(iso.join("a/b/c/d/e/f/g/h/i/j/deep.txt"), "deep\n").unwrap();
    std::fs::write(iso.join("MixedCase Name.tar.gz"), vec![1u8; 5000]).unwrap();
    let _ = std::os::unix::fs::symlink("../hello.txt", iso.join("a/link"));
    let _ = std::fs::hard_link(iso.join("hello.txt"), iso.join("a/hard.txt"));
    iso
}

fn files_under(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(root: &Path, d: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.insert(format!("/{rel}"));
            if p.is_dir() && !p.is_symlink() {
                walk(root, &p, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// Paths xorriso lists with `-find /`.
fn xorriso_find(iso: &Path) -> BTreeSet<String> {
    let out = run_ok(
        tool("xorriso")
            .args(["-indev"])
            .arg(iso)
            .args(["-find", "/"]),
    );
    out.lines()
        .map(|l| l.trim().trim_matches('\'').to_string())
        .filter(|l| l.starts_with('/') && l != "/")
        .collect()
}

fn our_paths(iso: &Path) -> BTreeSet<String> {
    let src: imgforge_core::Source = Arc::new(FileSrc::open(iso));
    let t = iso9660::read_tree(src).unwrap();
    t.walk()
        .into_iter()
        .filter(|(p, _)| !p.is_empty())
        .map(|(p, _)| format!("/{p}"))
        .collect()
}

struct FileSrc(std::fs::File, u64);
impl FileSrc {
    fn open(p: &Path) -> Self {
        let f = std::fs::File::open(p).unwrap();
        let n = f.metadata().unwrap().len();
        FileSrc(f, n)
    }
}
impl ReadAt for FileSrc {
    fn size(&self) -> u64 {
        self.1
    }
    fn read_at(&self, o: u64, b: &mut [u8]) -> imgforge_core::Result<()> {
        use std::os::unix::fs::FileExt;
        if o + b.len() as u64 > self.1 {
            return Err(imgforge_core::Error::Truncated {
                what: "iso".into(),
                offset: o,
                size: self.1,
            });
        }
        self.0
            .read_exact_at(b, o)
            .map_err(|e| imgforge_core::Error::io("read", e))
    }
}

fn seed_iso(name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let d = scratch(name);
    let src = source_tree(&d);
    let out = d.join("alpine.iso");
    let mut c = Command::new(imgforge());
    c.current_dir(&d).args([
        "mkisofs",
        "-o",
        "alpine.iso",
        "-b",
        "isolinux/isolinux.bin",
        "-c",
        "isolinux/boot.cat",
        "-no-emul-boot",
        "-boot-load-size",
        "4",
        "-boot-info-table",
        "-J",
    ]);
    c.args(extra).arg("iso");
    run_ok(&mut c);
    (out, src)
}

#[test]
fn seed_line_is_listed_by_xorriso_with_bios_entry() {
    if !have("xorriso") {
        return;
    }
    let (iso, src) = seed_iso("iso_seed_line", &["-R"]);
    let mut want = files_under(&src);
    want.insert("/isolinux/boot.cat".into());
    // a/b/c/d/e/f/g/h/i is 9 levels deep: relocated there as mkisofs -R does.
    want.insert("/rr_moved".into());
    assert_eq!(xorriso_find(&iso), want);
    let rep = run_ok(
        tool("xorriso")
            .arg("-indev")
            .arg(&iso)
            .args(["-report_el_torito", "plain"]),
    );
    let line = rep
        .lines()
        .find(|l| l.starts_with("El Torito boot img :   1"))
        .unwrap_or_else(|| panic!("no boot image in:\n{rep}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    // N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
    assert_eq!(
        &f[5..11],
        &["1", "BIOS", "y", "none", "0x0000", "0x00"],
        "{line}"
    );
    assert_eq!(f[11], "4", "{line}");
    assert!(
        rep.contains("El Torito cat path : /isolinux/boot.cat"),
        "{rep}"
    );
    assert!(rep.contains("boot-info-table"), "{rep}");
    // The boot info table bytes: PVD at 16, the file's own LBA and length.
    let lba: u64 = f[12].parse().unwrap();
    let img = std::fs::read(&iso).unwrap();
    let at = (lba * 2048) as usize;
    let le = |o: usize| u32::from_le_bytes(img[at + o..at + o + 4].try_into().unwrap());
    let orig = std::fs::read(src.join("isolinux/isolinux.bin")).unwrap();
    assert_eq!((le(8), le(12), le(16)), (16, lba as u32, orig.len() as u32));
    let mut padded = orig.clone();
    padded.resize(orig.len().div_ceil(4) * 4, 0);
    let sum = padded[64..].chunks(4).fold(0u32, |s, w| {
        s.wrapping_add(u32::from_le_bytes(w.try_into().unwrap()))
    });
    assert_eq!(le(20), sum);
    assert_eq!(&img[at + 64..at + orig.len()], &orig[64..]);
}

#[test]
fn isoinfo_shows_rock_ridge_and_joliet_names() {
    if !have("isoinfo") {
        return;
    }
    let (iso, _) = seed_iso("iso_isoinfo", &["-R", "-V", "SEEDVOL"]);
    let rr = run_ok(tool("isoinfo").args(["-R", "-l", "-i"]).arg(&iso));
    assert!(rr.contains("MixedCase Name.tar.gz"), "{rr}");
    assert!(rr.contains("link -> ../hello.txt"), "{rr}");
    assert!(rr.contains("deep.txt"), "{rr}");
    let j = run_ok(tool("isoinfo").args(["-J", "-l", "-i"]).arg(&iso));
    assert!(j.contains("MixedCase Name.tar.gz"), "{j}");
    let d = run_ok(tool("isoinfo").args(["-d", "-i"]).arg(&iso));
    assert!(d.contains("Volume id: SEEDVOL"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
}

#[test]
fn osirrox_extracts_identical_bytes() {
    if !have("osirrox") {
        return;
    }
    let d = scratch("iso_extract");
    let src = source_tree(&d);
    let iso = d.join("x.iso");
    run_ok(
        Command::new(imgforge())
            .args(["mkisofs", "-R", "-J", "-o"])
            .arg(&iso)
            .arg(&src),
    );
    let out = d.join("out");
    run_ok(
        tool("osirrox")
            .arg("-indev")
            .arg(&iso)
            .args(["-extract", "/"])
            .arg(&out),
    );
    let mut want = files_under(&src);
    want.insert("/rr_moved".into());
    assert_eq!(files_under(&out), want);
    for p in files_under(&src) {
        let a = src.join(&p[1..]);
        if a.is_file() && !a.is_symlink() {
            assert_eq!(sha256_file(&a), sha256_file(&out.join(&p[1..])), "{p}");
        }
    }
    assert_eq!(
        std::fs::read_link(out.join("a/link")).unwrap(),
        Path::new("../hello.txt")
    );
    // Our reader agrees with xorriso on our own image (it hides the
    // emptied relocation directory).
    let mut theirs = xorriso_find(&iso);
    theirs.remove("/rr_moved");
    assert_eq!(our_paths(&iso), theirs);
    let rr = run_ok(tool("isoinfo").args(["-R", "-l", "-i"]).arg(&iso));
    // genisoimage's verifier: record order, path tables, Rock Ridge.
    if have("isovfy") {
        let v = run(tool("isovfy").arg(&iso));
        let text =
            String::from_utf8_lossy(&v.stdout).into_owned() + &String::from_utf8_lossy(&v.stderr);
        assert!(text.contains("No errors found"), "{text}");
    }
    // isoinfo walks the path table, where relocated directories sit in
    // rr_moved (as in genisoimage's images).
    assert!(rr.contains("Directory listing of /rr_moved/h/i/j/"), "{rr}");
}

#[test]
fn uefi_entry_and_isohybrid_gpt() {
    if !have("xorriso") || !have("sgdisk") || !have("sfdisk") {
        return;
    }
    let mbr = Path::new("/usr/lib/ISOLINUX/isohdpfx.bin");
    if !mbr.exists() {
        eprintln!("skipping: isolinux not installed");
        return;
    }
    let (iso, _) = seed_iso(
        "iso_hybrid_gpt",
        &[
            "-R",
            "-eltorito-alt-boot",
            "-e",
            "EFI/boot/efi.img",
            "-no-emul-boot",
            "-isohybrid-mbr",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
            "-isohybrid-gpt-basdat",
        ],
    );
    assert_eq!(std::fs::metadata(&iso).unwrap().len() % (1 << 20), 0);
    let rep = run_ok(
        tool("xorriso")
            .arg("-indev")
            .arg(&iso)
            .args(["-report_el_torito", "plain"]),
    );
    let uefi = rep
        .lines()
        .find(|l| l.starts_with("El Torito boot img :   2"))
        .unwrap_or_else(|| panic!("{rep}"));
    let f: Vec<&str> = uefi.split_whitespace().collect();
    assert_eq!(&f[6..9], &["UEFI", "y", "none"], "{uefi}");
    assert_eq!(f[11], "2880", "{uefi}");
    assert!(
        rep.contains("El Torito img path :   2  /EFI/boot/efi.img"),
        "{rep}"
    );
    let p = run_ok(tool("sgdisk").arg("-p").arg(&iso));
    assert!(p.contains("EF00"), "{p}");
    assert!(p.contains("ISOHybrid"), "{p}");
    let v = run_ok(tool("sgdisk").arg("-v").arg(&iso));
    assert!(v.contains("No problems found"), "{v}");
    // The EFI partition holds exactly the El Torito EFI image.
    let lba: u64 = f[12].parse().unwrap();
    let line = p.lines().find(|l| l.contains("EF00")).unwrap();
    let start: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(start, lba * 4);
    let j: serde_json::Value =
        serde_json::from_str(&run_ok(tool("sfdisk").arg("--json").arg(&iso))).unwrap();
    assert_eq!(j["partitiontable"]["label"], "gpt", "{j}");
}

#[test]
fn isohybrid_mbr_partition_is_seen_by_sfdisk() {
    if !have("sfdisk") {
        return;
    }
    let mbr = Path::new("/usr/lib/ISOLINUX/isohdpfx.bin");
    if !mbr.exists() {
        eprintln!("skipping: isolinux not installed");
        return;
    }
    let (iso, _) = seed_iso(
        "iso_hybrid_mbr",
        &["-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin"],
    );
    let size = std::fs::metadata(&iso).unwrap().len();
    let j: serde_json::Value =
        serde_json::from_str(&run_ok(tool("sfdisk").arg("--json").arg(&iso))).unwrap();
    let p = &j["partitiontable"]["partitions"][0];
    assert_eq!(j["partitiontable"]["label"], "dos", "{j}");
    assert_eq!(p["start"], 0, "{j}");
    assert_eq!(p["size"].as_u64().unwrap() * 512, size, "{j}");
    assert_eq!(p["type"], "17", "{j}");
    assert_eq!(p["bootable"], true, "{j}");
    let img = std::fs::read(&iso).unwrap();
    let code = std::fs::read(mbr).unwrap();
    assert_eq!(&img[..432], &code[..432]);
}

fn fake_boot_tree(d: &Path) -> PathBuf {
    let t = d.join("t");
    std::fs::create_dir_all(t.join("boot/grub")).unwrap();
    std::fs::create_dir_all(t.join("x/y/z/1/2/3/4/5/6/7")).unwrap();
    std::fs::write(t.join("boot/grub/eltorito.img"), vec![0x90u8; 8192]).unwrap();
    std::fs::write(t.join("boot/grub/efi.img"), vec![0u8; 1474560]).unwrap();
    std::fs::write(t.join("Readme With Spaces.txt"), "r\n").unwrap();
    std::fs::write(t.join("x/y/z/1/2/3/4/5/6/7/deep file.txt"), "d\n").unwrap();
    std::fs::write(t.join(format!("{}.dat", "long".repeat(30))), "l\n").unwrap();
    let _ = std::os::unix::fs::symlink("boot/grub", t.join("grub"));
    t
}

#[test]
fn our_reader_lists_what_xorriso_lists_on_xorriso_images() {
    if !have("xorriso") {
        return;
    }
    let d = scratch("iso_read_xorriso");
    let t = fake_boot_tree(&d);
    let iso = d.join("x.iso");
    run_ok(
        tool("xorriso")
            .args(["-as", "mkisofs", "-J", "-R", "-o"])
            .arg(&iso)
            .args([
                "-b",
                "boot/grub/eltorito.img",
                "-c",
                "boot.catalog",
                "-no-emul-boot",
                "-boot-load-size",
                "4",
                "-boot-info-table",
                "-eltorito-alt-boot",
                "-e",
                "boot/grub/efi.img",
                "-no-emul-boot",
            ])
            .arg(&t),
    );
    let ours = our_paths(&iso);
    assert_eq!(ours, xorriso_find(&iso));
    assert!(ours.contains("/x/y/z/1/2/3/4/5/6/7/deep file.txt"));
    let rep = iso9660::report(Arc::new(FileSrc::open(&iso))).unwrap();
    assert_eq!(rep.el_torito.len(), 2);
    assert_eq!(rep.el_torito[0].platform, 0);
    assert_eq!(rep.el_torito[0].sectors, 4);
    assert!(rep.el_torito[0].boot_info_table);
    assert_eq!(rep.el_torito[1].platform, 0xEF);
    assert_eq!(rep.boot_catalog_path.as_deref(), Some("/boot.catalog"));
    assert_eq!(rep.el_torito[1].path.as_deref(), Some("/boot/grub/efi.img"));
    // Our text report has xorriso's El Torito lines.
    let theirs = run_ok(
        tool("xorriso")
            .arg("-indev")
            .arg(&iso)
            .args(["-report_el_torito", "plain"]),
    );
    let text = iso9660::render_report(&rep);
    for l in theirs
        .lines()
        .filter(|l| l.starts_with("El Torito boot img") || l.starts_with("El Torito cat"))
    {
        assert!(text.contains(l), "missing {l:?} in:\n{text}");
    }
    let src: imgforge_core::Source = Arc::new(FileSrc::open(&iso));
    let tree = iso9660::read_tree(src).unwrap();
    let l = tree.lookup("grub").unwrap();
    assert!(matches!(&tree.node(l).kind, NodeKind::Symlink(s) if s == "boot/grub"));
}

#[test]
fn our_reader_reads_genisoimage_relocated_deep_directories() {
    if !have("genisoimage") || !have("isoinfo") {
        return;
    }
    let d = scratch("iso_read_genisoimage");
    let t = fake_boot_tree(&d);
    let iso = d.join("g.iso");
    run_ok(
        tool("genisoimage")
            .args(["-quiet", "-R", "-J", "-o"])
            .arg(&iso)
            .arg(&t),
    );
    let ours = our_paths(&iso);
    assert!(
        ours.contains("/x/y/z/1/2/3/4/5/6/7/deep file.txt"),
        "{ours:?}"
    );
    assert!(!ours.iter().any(|p| p.starts_with("/rr_moved")), "{ours:?}");
    let want: BTreeSet<String> = files_under(&t);
    assert_eq!(ours, want);
}

/// A sink writing a sparse file: runs of zeros become seeks.
struct SparseFile(std::fs::File, u64);
impl Sink for SparseFile {
    fn write(&mut self, data: &[u8]) -> imgforge_core::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        // A slice comparison is a memcmp, fast even in a debug build.
        static ZEROS: [u8; 1 << 20] = [0; 1 << 20];
        if data.len() <= ZEROS.len() && data == &ZEROS[..data.len()] {
            self.1 += data.len() as u64;
            self.0.seek(SeekFrom::Start(self.1)).unwrap();
            return Ok(());
        }
        self.0.write_all(data).unwrap();
        self.1 += data.len() as u64;
        Ok(())
    }
    fn finish(&mut self) -> imgforge_core::Result<()> {
        self.0.set_len(self.1).unwrap();
        Ok(())
    }
}

#[test]
fn file_over_4_gib_is_multi_extent_at_level_3() {
    if !have("xorriso") {
        return;
    }
    struct Zeros(u64);
    impl ReadAt for Zeros {
        fn size(&self) -> u64 {
            self.0
        }
        fn read_at(&self, _o: u64, b: &mut [u8]) -> imgforge_core::Result<()> {
            b.fill(0);
            Ok(())
        }
    }
    let len = (4u64 << 30) + 4096 + 17;
    let mut t = Tree::new(0);
    t.add_file("small.txt", b"s\n".to_vec()).unwrap();
    t.insert(
        "big.img",
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
    let mut opts = iso9660::IsoOptions::default();
    opts.level = 3;
    opts.rock_ridge = iso9660::RockRidge::Full;
    let d = scratch("iso_big");
    let iso = d.join("big.iso");
    let mut sink = SparseFile(std::fs::File::create(&iso).unwrap(), 0);
    iso9660::write(
        &t,
        &opts,
        &Default::default(),
        &mut sink,
        &imgforge_core::io::NoProgress,
    )
    .unwrap();
    let out = run_ok(
        tool("xorriso")
            .arg("-indev")
            .arg(&iso)
            .args(["-find", "/big.img", "-exec", "lsdl"]),
    );
    assert!(out.contains(&format!(" {len} ")), "{out}");
}

#[test]
fn missing_boot_image_fails_without_output() {
    let d = scratch("iso_bad_boot");
    let src = source_tree(&d);
    let out = d.join("bad.iso");
    let r = run(Command::new(imgforge())
        .args(["mkisofs", "-o"])
        .arg(&out)
        .args([
            "-b",
            "isolinux/nothere.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
        ])
        .arg(&src));
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("isolinux/nothere.bin"), "{err}");
    assert!(!out.exists());
    assert!(std::fs::read_dir(&d).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[test]
fn boot_image_too_large_for_floppy_or_load_size() {
    let d = scratch("iso_bad_size");
    let src = source_tree(&d);
    std::fs::write(src.join("huge.bin"), vec![1u8; 33 << 20]).unwrap();
    for args in [
        vec!["-b", "hello.txt", "-c", "boot.cat"],
        vec!["-b", "huge.bin", "-c", "boot.cat", "-no-emul-boot"],
    ] {
        let r = run(Command::new(imgforge())
            .args(["mkisofs", "-o"])
            .arg(d.join("bad.iso"))
            .args(&args)
            .arg(&src));
        assert!(!r.status.success());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(args[1]), "{err}");
        assert!(err.contains("floppy") || err.contains("load size"), "{err}");
    }
}

#[test]
fn long_joliet_names_are_truncated_with_a_warning() {
    if !have("isoinfo") {
        return;
    }
    let d = scratch("iso_joliet_long");
    let src = d.join("s");
    std::fs::create_dir_all(&src).unwrap();
    let long = format!("{}.txt", "j".repeat(90));
    std::fs::write(src.join(&long), "x").unwrap();
    let iso = d.join("j.iso");
    let r = run(Command::new(imgforge())
        .args(["mkisofs", "-J", "-o"])
        .arg(&iso)
        .arg(&src));
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("warning: Joliet name") && err.contains("truncated"),
        "{err}"
    );
    let j = run_ok(tool("isoinfo").args(["-J", "-l", "-i"]).arg(&iso));
    assert!(
        j.contains(&"j".repeat(64)) && !j.contains(&"j".repeat(65)),
        "{j}"
    );

    // -joliet-long: up to 103 characters, as xorriso and genisoimage write
    // them; this 94-character name is kept whole, a 120-character one cut.
    let longer = format!("{}.bin", "k".repeat(116));
    std::fs::write(src.join(&longer), "y").unwrap();
    let iso = d.join("jl.iso");
    let r = run(Command::new(imgforge())
        .args(["mkisofs", "-joliet-long", "-o"])
        .arg(&iso)
        .arg(&src));
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("'k") && err.contains("truncated to 103") && !err.contains(&long),
        "{err}"
    );
    let j = run_ok(tool("isoinfo").args(["-J", "-l", "-i"]).arg(&iso));
    assert!(j.contains(&long), "{j}");
    assert!(
        j.contains(&"k".repeat(103)) && !j.contains(&"k".repeat(104)),
        "{j}"
    );
    if have("xorriso") {
        // xorriso lists the same Joliet names (no Rock Ridge here).
        let x = run_ok(
            tool("xorriso")
                .args(["-indev"])
                .arg(&iso)
                .args(["-find", "/"]),
        );
        assert!(x.contains(&long) && x.contains(&"k".repeat(103)), "{x}");
    }
}

/// Debian's kernel, fetched by `./build.sh setup` (the shared boot harness
/// finds it).
fn boot_kernel() -> Option<PathBuf> {
    imgforge_tests::qemu::kernel()
}

/// Runs qemu until `want` appears on the serial console; panics with the
/// log otherwise.
fn qemu_until(name: &str, args: &[&str], want: &str) {
    if let Err(e) = imgforge_tests::qemu::run_until(name, args, want) {
        panic!("{e}");
    }
}

#[test]
fn isolinux_boots_debian_kernel_from_cdrom_and_isohybrid_disk() {
    let isolinux = Path::new("/usr/lib/ISOLINUX/isolinux.bin");
    let ldlinux = Path::new("/usr/lib/syslinux/modules/bios/ldlinux.c32");
    if !have("qemu-system-x86_64") || !isolinux.exists() || !ldlinux.exists() {
        return;
    }
    let Some(kernel) = boot_kernel() else { return };
    let d = scratch("iso_boot");
    let iso = d.join("iso");
    std::fs::create_dir_all(iso.join("isolinux")).unwrap();
    std::fs::create_dir_all(iso.join("boot")).unwrap();
    std::fs::copy(isolinux, iso.join("isolinux/isolinux.bin")).unwrap();
    std::fs::copy(ldlinux, iso.join("isolinux/ldlinux.c32")).unwrap();
    std::fs::copy(&kernel, iso.join("boot/vmlinuz")).unwrap();
    std::fs::write(
        iso.join("isolinux/isolinux.cfg"),
        "SERIAL 0 115200\nPROMPT 0\nTIMEOUT 1\nDEFAULT linux\nLABEL linux\n  KERNEL /boot/vmlinuz\n  APPEND console=ttyS0 panic=-1\n",
    )
    .unwrap();
    run_ok(Command::new(imgforge()).current_dir(&d).args([
        "mkisofs",
        "-o",
        "alpine.iso",
        "-b",
        "isolinux/isolinux.bin",
        "-c",
        "isolinux/boot.cat",
        "-no-emul-boot",
        "-boot-load-size",
        "4",
        "-boot-info-table",
        "-J",
        "-R",
        "-isohybrid-mbr",
        "/usr/lib/ISOLINUX/isohdpfx.bin",
        "-isohybrid-gpt-basdat",
        "iso",
    ]));
    let img = d.join("alpine.iso");
    let img = img.to_str().unwrap();
    // The CD boot, then the same file as a hard disk (isohybrid).
    qemu_until(
        "iso-isolinux-cdrom",
        &["-cdrom", img, "-boot", "d"],
        "Linux version",
    );
    let drive = format!("file={img},format=raw");
    qemu_until(
        "iso-isolinux-disk",
        &["-snapshot", "-drive", &drive, "-boot", "c"],
        "Linux version",
    );
}

#[test]
fn ovmf_starts_the_uefi_el_torito_image() {
    let code = Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd");
    let vars = Path::new("/usr/share/OVMF/OVMF_VARS_4M.fd");
    if !have("qemu-system-x86_64") || !have("mkfs.fat") || !have("mcopy") || !code.exists() {
        return;
    }
    let Some(kernel) = boot_kernel() else { return };
    let d = scratch("iso_uefi_boot");
    std::fs::create_dir_all(d.join("iso/boot")).unwrap();
    let fat = d.join("iso/boot/efi.img");
    let kb = std::fs::metadata(&kernel).unwrap().len() / 1024 + 2048;
    run_ok(tool("mkfs.fat").arg("-C").arg(&fat).arg(kb.to_string()));
    run_ok(
        tool("mmd")
            .arg("-i")
            .arg(&fat)
            .args(["::/EFI", "::/EFI/BOOT"]),
    );
    // Debian's kernel is an EFI stub: firmware can start it directly.
    run_ok(
        tool("mcopy")
            .arg("-i")
            .arg(&fat)
            .arg(&kernel)
            .arg("::/EFI/BOOT/BOOTX64.EFI"),
    );
    run_ok(Command::new(imgforge()).current_dir(&d).args([
        "mkisofs",
        "-o",
        "u.iso",
        "-J",
        "-R",
        "-c",
        "boot.cat",
        "-e",
        "boot/efi.img",
        "-no-emul-boot",
        "iso",
    ]));
    std::fs::copy(vars, d.join("vars.fd")).unwrap();
    let code_drive = format!("if=pflash,format=raw,readonly=on,file={}", code.display());
    let vars_drive = format!("if=pflash,format=raw,file={}", d.join("vars.fd").display());
    let iso = d.join("u.iso");
    // OVMF prints "starting" only once LoadImage succeeded on the El Torito
    // EFI image ("failed to load ... Not Found" otherwise).
    qemu_until(
        "iso-ovmf-el-torito",
        &[
            "-drive",
            &code_drive,
            "-drive",
            &vars_drive,
            "-cdrom",
            iso.to_str().unwrap(),
            "-boot",
            "d",
        ],
        "BdsDxe: starting Boot0001 \"UEFI QEMU DVD-ROM",
    );
}

#[test]
fn graft_points_several_sources_and_reproducible_bytes() {
    if !have("xorriso") {
        return;
    }
    let d = scratch("iso_graft");
    let a = d.join("a");
    let b = d.join("b");
    std::fs::create_dir_all(a.join("etc")).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("etc/hostname"), "box\n").unwrap();
    std::fs::write(b.join("kernel"), "k").unwrap();
    std::fs::write(d.join("single.txt"), "s").unwrap();
    let build = |out: &str| {
        run_ok(
            Command::new(imgforge())
                .current_dir(&d)
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .args([
                    "mkisofs",
                    "-o",
                    out,
                    "-R",
                    "-J",
                    "-V",
                    "GRAFT",
                    "-A",
                    "imgforge test",
                    "-p",
                    "preparer",
                    "-publisher",
                    "pub",
                    "-input-charset",
                    "utf-8",
                    "-graft-points",
                    "a",
                    "/boot/x=b",
                    "/docs/one.txt=single.txt",
                ]),
        );
    };
    build("g1.iso");
    build("g2.iso");
    assert_eq!(
        sha256_file(&d.join("g1.iso")),
        sha256_file(&d.join("g2.iso"))
    );
    let found = xorriso_find(&d.join("g1.iso"));
    let want: BTreeSet<String> = [
        "/etc",
        "/etc/hostname",
        "/boot",
        "/boot/x",
        "/boot/x/kernel",
        "/docs",
        "/docs/one.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(found, want);
    let pvd = run_ok(
        tool("xorriso")
            .arg("-indev")
            .arg(d.join("g1.iso"))
            .args(["-pvd_info"]),
    );
    assert!(pvd.contains("Volume Id    : GRAFT"), "{pvd}");
    assert!(pvd.contains("App Id       : IMGFORGE TEST"), "{pvd}");
    assert!(pvd.contains("Creation Time: 2023111422132000"), "{pvd}");
}

/// ISOs made by grub-mkrescue (El Torito BIOS + UEFI, HFS+ and a GPT in the
/// system area): our reader lists what xorriso lists, reads a file, and
/// `inspect` reports both El Torito images.
#[test]
fn our_reader_reads_grub_mkrescue_isos() {
    if !have("grub-mkrescue") || !have("xorriso") {
        return;
    }
    let d = scratch("iso_read_grub_mkrescue");
    let src = d.join("src");
    std::fs::create_dir_all(src.join("boot/grub")).unwrap();
    std::fs::write(src.join("boot/grub/grub.cfg"), "set timeout=0\n").unwrap();
    std::fs::write(src.join("hello.txt"), "hello from grub-mkrescue\n").unwrap();
    let iso = d.join("rescue.iso");
    run_ok(tool("grub-mkrescue").arg("-o").arg(&iso).arg(&src));
    let ours = our_paths(&iso);
    assert!(ours.len() > 100, "{} paths", ours.len());
    assert_eq!(ours, xorriso_find(&iso));
    let cat = run_ok(
        Command::new(imgforge())
            .arg("cat")
            .arg(format!("{}:/hello.txt", iso.display())),
    );
    assert_eq!(cat, "hello from grub-mkrescue\n");
    let inspect = run_ok(Command::new(imgforge()).arg("inspect").arg(&iso));
    assert!(
        inspect.contains("BIOS") && inspect.contains("UEFI"),
        "{inspect}"
    );
    assert!(inspect.contains("/efi.img"), "{inspect}");
}
