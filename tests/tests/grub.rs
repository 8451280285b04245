//! grub-mkimage: x86_64-efi images byte-identical to GRUB's own tool (plain,
//! -c, -m; from the folder, tars and .deb packages), i386-pc core.img whose
//! LZMA payload is GRUB's byte for byte, bad inputs, and booting both in
//! QEMU (OVMF, SeaBIOS) to the marker.
use imgforge_tests::qemu::{have_qemu, run_until};
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const EFI_DIR: &str = "/usr/lib/grub/x86_64-efi";
const PC_DIR: &str = "/usr/lib/grub/i386-pc";

/// The module list (all of them exist in Debian's 2.06 folder,
/// linuxefi and efi_uga included), with `linuxefi` named twice as there.
const GRUB_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "efi_uga",
    "gptsync",
    "fat",
    "ext2",
    "lvm",
    "iso9660",
    "lsefi",
    "gzio",
    "linux",
    "linuxefi",
    "acpi",
    "normal",
    "cpio",
    "crypto",
    "disk",
    "boot",
    "crc64",
    "search_fs_uuid",
    "tftp",
    "xzio",
    "lzopio",
    "xfs",
    "video",
    "scsi",
    "multiboot",
    "hfsplus",
    "udf",
    "linuxefi",
];

fn have_folder(dir: &str) -> bool {
    let ok = Path::new(dir).join("moddep.lst").is_file();
    if !ok && std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{dir} is required under CI=true (grub-efi-amd64-bin / grub-pc-bin)");
    }
    if !ok {
        eprintln!("skipping: {dir} not installed");
    }
    ok
}

fn both(dir: &Path, name: &str, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let theirs = dir.join(format!("{name}.grub"));
    let ours = dir.join(format!("{name}.ours"));
    run_ok(tool("grub-mkimage").arg("-o").arg(&theirs).args(args));
    run_ok(
        Command::new(imgforge())
            .args(["grub-mkimage", "-o"])
            .arg(&ours)
            .args(args),
    );
    (std::fs::read(theirs).unwrap(), std::fs::read(ours).unwrap())
}

fn efi_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-d", EFI_DIR, "-O", "x86_64-efi", "-p", "/EFI/BOOT"];
    v.extend_from_slice(extra);
    v.extend_from_slice(GRUB_MODULES);
    v
}

fn memdisk_tar(dir: &Path) -> PathBuf {
    let md = dir.join("md/boot/grub");
    std::fs::create_dir_all(&md).unwrap();
    std::fs::write(md.join("grub.cfg"), "echo from the memdisk\n").unwrap();
    let tar = dir.join("memdisk.tar");
    run_ok(
        tool("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(dir.join("md"))
            .arg("boot"),
    );
    tar
}

#[test]
fn efi_is_byte_identical_to_grub_mkimage() {
    if !have("grub-mkimage") || !have("tar") || !have_folder(EFI_DIR) {
        return;
    }
    let dir = scratch("grub_efi_identical");
    let cfg = dir.join("early.cfg");
    std::fs::write(
        &cfg,
        "search --no-floppy --fs-uuid --set=root 1234-ABCD\nset prefix=($root)/EFI/BOOT\n",
    )
    .unwrap();
    let tar = memdisk_tar(&dir);
    let (cfg, tar) = (cfg.to_str().unwrap(), tar.to_str().unwrap());
    for (name, extra) in [
        ("plain", vec![]),
        ("config", vec!["-c", cfg]),
        ("memdisk", vec!["-m", tar]),
        (
            "memdisk_then_prefix",
            vec!["-m", tar, "-p", "/boot/grub", "-c", cfg],
        ),
    ] {
        let (theirs, ours) = both(&dir, name, &efi_args(&extra));
        assert!(theirs.len() > 100_000, "{name}");
        assert!(
            theirs == ours,
            "{name}: {} vs {} bytes differ",
            theirs.len(),
            ours.len()
        );
    }
}

#[test]
fn efi_from_tar_and_deb_is_the_same_image() {
    if !have("grub-mkimage") || !have("tar") || !have("dpkg-deb") || !have_folder(EFI_DIR) {
        return;
    }
    let dir = scratch("grub_efi_archives");
    let (theirs, _) = both(&dir, "folder", &efi_args(&[]));
    // tar.gz / tar.xz / tar.zst with the files in a folder of their own,
    // a plain tar with them at the root.
    let mut inputs = Vec::new();
    for (ext, flag) in [("tar.gz", "-z"), ("tar.xz", "-J"), ("tar.zst", "--zstd")] {
        let t = dir.join(format!("mods.{ext}"));
        run_ok(tool("tar").arg(flag).arg("-cf").arg(&t).args([
            "-C",
            "/usr/lib/grub",
            "x86_64-efi",
        ]));
        inputs.push(t);
    }
    let t = dir.join("flat.tar");
    run_ok(tool("tar").arg("-cf").arg(&t).args(["-C", EFI_DIR, "."]));
    inputs.push(t);
    // Debian packages as dpkg-deb builds them (data.tar.xz / .zst / .gz).
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/grub")).unwrap();
    run_ok(
        tool("cp")
            .args(["-a", EFI_DIR])
            .arg(root.join("usr/lib/grub/")),
    );
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: grub-efi-amd64-bin\nVersion: 2.06-13\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: test\n",
    )
    .unwrap();
    for z in ["xz", "zstd", "gzip"] {
        let deb = dir.join(format!("grub-{z}.deb"));
        run_ok(
            tool("dpkg-deb")
                .args(["--root-owner-group", "-Z", z, "-b"])
                .arg(&root)
                .arg(&deb),
        );
        inputs.push(deb);
    }
    for input in inputs {
        let out = dir.join("from-archive.efi");
        let mut args = efi_args(&[]);
        args[1] = input.to_str().unwrap();
        run_ok(
            Command::new(imgforge())
                .args(["grub-mkimage", "-o"])
                .arg(&out)
                .args(&args),
        );
        assert!(
            std::fs::read(&out).unwrap() == theirs,
            "{}",
            input.display()
        );
    }
}

/// The LZMA payload of a core.img after diskboot.img and the decompressor,
/// checking the size fields on the way.
fn core_payload(img: &[u8], decompressor_len: usize) -> Vec<u8> {
    let dec = &img[512..512 + decompressor_len];
    let csize = u32::from_le_bytes(dec[8..12].try_into().unwrap()) as usize;
    let usize_ = u32::from_le_bytes(dec[12..16].try_into().unwrap()) as usize;
    let stream = &img[512 + decompressor_len..];
    assert_eq!(csize, stream.len(), "compressed size field");
    let blocks = u16::from_le_bytes([img[508], img[509]]) as usize;
    assert_eq!(
        blocks,
        (decompressor_len + csize).div_ceil(512),
        "diskboot blocklist length"
    );
    // lc=3 lp=0 pb=2, 64 KiB dictionary: a classic .lzma header for lzma-rs.
    let mut with_header = vec![0x5d, 0, 0, 1, 0];
    with_header.extend_from_slice(&(usize_ as u64).to_le_bytes());
    with_header.extend_from_slice(stream);
    let mut out = Vec::new();
    lzma_rs::lzma_decompress(&mut &with_header[..], &mut out).unwrap();
    assert_eq!(out.len(), usize_);
    out
}

#[test]
fn i386_pc_payload_is_grub_mkimages() {
    if !have("grub-mkimage") || !have_folder(PC_DIR) {
        return;
    }
    let dir = scratch("grub_pc_payload");
    let dec_len = std::fs::metadata(Path::new(PC_DIR).join("lzma_decompress.img"))
        .unwrap()
        .len() as usize;
    let cfg = dir.join("early.cfg");
    std::fs::write(&cfg, "set root=(hd0,msdos1)\n").unwrap();
    for (name, mods) in [
        ("small", vec!["biosdisk", "part_msdos", "ext2"]),
        (
            "big",
            vec![
                "biosdisk",
                "part_msdos",
                "part_gpt",
                "ext2",
                "fat",
                "normal",
                "linux",
                "search",
            ],
        ),
    ] {
        let mut args = vec![
            "-d",
            PC_DIR,
            "-O",
            "i386-pc",
            "-p",
            "(hd0,msdos1)/boot/grub",
            "-c",
        ];
        args.push(cfg.to_str().unwrap());
        args.extend(mods);
        let (theirs, ours) = both(&dir, name, &args);
        assert_eq!(theirs[..508], ours[..508], "{name}: diskboot.img");
        assert_eq!(
            theirs[510..520],
            ours[510..520],
            "{name}: decompressor head"
        );
        assert_eq!(
            theirs[524..512 + dec_len],
            ours[524..512 + dec_len],
            "{name}: decompressor"
        );
        let (t, o) = (core_payload(&theirs, dec_len), core_payload(&ours, dec_len));
        assert!(t == o, "{name}: uncompressed payloads differ");
        eprintln!(
            "{name}: core.img {} bytes (grub-mkimage {})",
            ours.len(),
            theirs.len()
        );
        assert!(
            ours.len() * 100 <= theirs.len() * 103,
            "{name}: compression much worse"
        );
    }
}

/// Runs imgforge expecting the error discipline: exit 1, one `error:`
/// line holding every `expect`, no output file left.
fn fails(dir: &Path, args: &[&str], expect: &[&str]) {
    let out = dir.join("out.img");
    let o = run(Command::new(imgforge())
        .args(["grub-mkimage", "-o"])
        .arg(&out)
        .args(args));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1,
        "{args:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: '{e}' not in {err}");
    }
    assert!(!out.exists(), "{args:?}: output left behind");
    let temps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".imgforge-"))
        .collect();
    assert!(temps.is_empty(), "{args:?}: temp files left");
}

#[test]
fn bad_inputs_are_one_error_line() {
    if !have("dpkg-deb") || !have_folder(EFI_DIR) || !have_folder(PC_DIR) {
        return;
    }
    let dir = scratch("grub_bad_inputs");
    // A copy of the folder without fshelp.mod (fat needs it), with a text
    // file as normal.mod and i386-pc's hexdump.mod as hexdump.mod.
    let broken = dir.join("x86_64-efi");
    run_ok(tool("cp").args(["-a", EFI_DIR]).arg(&broken));
    std::fs::remove_file(broken.join("fshelp.mod")).unwrap();
    std::fs::write(broken.join("normal.mod"), "not an ELF file\n").unwrap();
    std::fs::copy(
        Path::new(PC_DIR).join("hexdump.mod"),
        broken.join("hexdump.mod"),
    )
    .unwrap();
    let b = broken.to_str().unwrap();
    let efi =
        |d: &'static str| -> Vec<&'static str> { vec!["-d", d, "-O", "x86_64-efi", "-p", "/"] };
    let with = |mut v: Vec<&'static str>, more: &[&'static str]| {
        v.extend_from_slice(more);
        v
    };
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let b: &'static str = leak(b);
    fails(
        &dir,
        &with(efi(b), &["part_gpt", "fat"]),
        &["module `fshelp`", "needed by module `fat`"],
    );
    fails(
        &dir,
        &with(efi(EFI_DIR), &["nosuchmod"]),
        &["module `nosuchmod`", "command line"],
    );
    fails(
        &dir,
        &with(efi(b), &["normal"]),
        &["normal.mod", "not a GRUB module"],
    );
    fails(
        &dir,
        &with(efi(b), &["hexdump"]),
        &["hexdump.mod", "another machine", "x86_64-efi"],
    );
    fails(
        &dir,
        &with(efi(PC_DIR), &["fat"]),
        &["i386-pc", "x86_64-efi"],
    );
    fails(
        &dir,
        &["-d", EFI_DIR, "-O", "x86_64-efi", "fat"],
        &["prefix"],
    );
    fails(
        &dir,
        &["-d", EFI_DIR, "-O", "arm-uboot", "-p", "/"],
        &["arm-uboot"],
    );
    // A .deb without GRUB modules, and a file that is no archive at all.
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/doc/x")).unwrap();
    std::fs::write(root.join("usr/share/doc/x/README"), "hello\n").unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: x\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: t\n",
    )
    .unwrap();
    let deb = dir.join("x.deb");
    run_ok(
        tool("dpkg-deb")
            .args(["--root-owner-group", "-b"])
            .arg(&root)
            .arg(&deb),
    );
    let deb: &'static str = leak(deb.to_str().unwrap());
    fails(
        &dir,
        &with(efi(deb), &["fat"]),
        &["x.deb", "Debian package without GRUB modules"],
    );
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let junk: &'static str = leak(junk.to_str().unwrap());
    fails(
        &dir,
        &with(efi(junk), &["fat"]),
        &["junk.bin", "not a GRUB module folder"],
    );
}

/// GRUB's embedded config for the boot tests: print the marker on the
/// serial port and power off (the rescue parser runs it; no normal.mod).
const BOOT_CFG: &str =
    "serial --unit=0 --speed=115200\nterminal_output serial\necho IMGFORGE-BOOT-OK\nhalt\n";

fn ovmf() -> Option<&'static str> {
    let p = "/usr/share/ovmf/OVMF.fd";
    let ok = Path::new(p).is_file();
    if !ok && std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{p} missing: ./build.sh setup installs ovmf");
    }
    ok.then_some(p)
}

#[test]
fn efi_image_boots_in_ovmf() {
    if !have_qemu() || !have_folder(EFI_DIR) {
        return;
    }
    let Some(ovmf) = ovmf() else { return };
    let dir = scratch("grub_efi_boot");
    let cfg = dir.join("early.cfg");
    std::fs::write(&cfg, BOOT_CFG).unwrap();
    let esp = dir.join("esp/EFI/BOOT");
    std::fs::create_dir_all(&esp).unwrap();
    run_ok(
        Command::new(imgforge())
            .args([
                "grub-mkimage",
                "-d",
                EFI_DIR,
                "-O",
                "x86_64-efi",
                "-p",
                "/EFI/BOOT",
                "-c",
            ])
            .arg(&cfg)
            .arg("-o")
            .arg(esp.join("BOOTX64.EFI"))
            .args(["serial", "terminal", "echo", "halt", "part_gpt", "fat"]),
    );
    let disk = dir.join("esp.img");
    run_ok(
        Command::new(imgforge())
            .args(["mkfs", "fat"])
            .arg(dir.join("esp"))
            .arg("-o")
            .arg(&disk)
            .args(["--size", "33M"]),
    );
    let drive = format!("file={},format=raw,if=virtio", disk.display());
    run_until(
        "grub-efi",
        &["-bios", ovmf, "-drive", &drive, "-net", "none"],
        "IMGFORGE-BOOT-OK",
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn i386_pc_core_img_boots_in_seabios() {
    if !have_qemu() || !have_folder(PC_DIR) {
        return;
    }
    let dir = scratch("grub_pc_boot");
    let cfg = dir.join("early.cfg");
    std::fs::write(&cfg, BOOT_CFG).unwrap();
    let core = dir.join("core.img");
    run_ok(
        Command::new(imgforge())
            .args([
                "grub-mkimage",
                "-d",
                PC_DIR,
                "-O",
                "i386-pc",
                "-p",
                "(hd0)/boot/grub",
                "-c",
            ])
            .arg(&cfg)
            .arg("-o")
            .arg(&core)
            .args(["biosdisk", "serial", "terminal", "echo", "halt"]),
    );
    let core = std::fs::read(&core).unwrap();
    // What grub-bios-setup does for a core.img embedded from LBA 1:
    // boot.img's kernel sector = 1, boot drive 0xff (the BIOS's), the
    // drive check jumped over; diskboot.img's blocklist starts at LBA 2.
    let mut mbr = std::fs::read(Path::new(PC_DIR).join("boot.img")).unwrap();
    mbr[0x5c..0x64].copy_from_slice(&1u64.to_le_bytes());
    mbr[0x64] = 0xff;
    mbr[0x66..0x68].copy_from_slice(&[0x90, 0x90]);
    let mut disk = vec![0u8; 4 << 20];
    disk[..512].copy_from_slice(&mbr);
    disk[512..512 + core.len()].copy_from_slice(&core);
    disk[1024 - 12..1024 - 4].copy_from_slice(&2u64.to_le_bytes());
    let img = dir.join("disk.img");
    std::fs::write(&img, &disk).unwrap();
    let drive = format!("file={},format=raw,if=ide", img.display());
    run_until(
        "grub-pc",
        &["-drive", &drive, "-net", "none"],
        "IMGFORGE-BOOT-OK",
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// `inspect --json` on grub-mkimage's own images (and ours) names the
/// target, the prefix and the embedded modules in GRUB's order.
#[test]
fn inspect_reads_grub_images_back() {
    if !have("grub-mkimage") || !have_folder(EFI_DIR) || !have_folder(PC_DIR) {
        return;
    }
    let dir = scratch("grub_inspect");
    let (efi, _) = both(&dir, "efi", &efi_args(&[]));
    let (pc, _) = both(
        &dir,
        "pc",
        &[
            "-d",
            PC_DIR,
            "-O",
            "i386-pc",
            "-p",
            "(hd0,msdos1)/boot/grub",
            "biosdisk",
            "part_msdos",
            "ext2",
        ],
    );
    for (name, bytes, target, prefix, first, last) in [
        ("efi", efi, "x86_64-efi", "/EFI/BOOT", "part_gpt", "udf"),
        (
            "pc",
            pc,
            "i386-pc",
            "(hd0,msdos1)/boot/grub",
            "biosdisk",
            "ext2",
        ),
    ] {
        for file in [format!("{name}.grub"), format!("{name}.ours")] {
            let p = dir.join(&file);
            assert_eq!(std::fs::read(&p).unwrap().len() > 1000, !bytes.is_empty());
            let out = run_ok(Command::new(imgforge()).args(["inspect", "--json"]).arg(&p));
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let g = &v["grub"];
            assert_eq!(g["target"], target, "{file}: {out}");
            assert_eq!(g["prefix"], prefix, "{file}");
            let mods: Vec<&str> = g["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect();
            assert_eq!(mods.first(), Some(&first), "{file}: {mods:?}");
            assert_eq!(mods.last(), Some(&last), "{file}: {mods:?}");
            if name == "efi" {
                assert_eq!(mods.len(), 43, "{file}: {mods:?}");
                assert!(
                    mods.contains(&"fshelp") && mods.contains(&"linuxefi"),
                    "{mods:?}"
                );
            } else {
                assert_eq!(mods, ["biosdisk", "part_msdos", "fshelp", "ext2"], "{file}");
            }
        }
    }
}
