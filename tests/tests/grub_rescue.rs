//! `imgforge grub-mkrescue`: one ISO from Debian's grub-pc-bin and
//! grub-efi-amd64-bin packages boots to the /init marker in QEMU (TCG) as a
//! CD and as a hard disk on SeaBIOS and on OVMF; xorriso lists both El
//! Torito entries, the hybrid MBR and GPT and the files; the hybrid MBR and
//! eltorito.img carry the sectors xorriso's --grub2-mbr/--grub2-boot-info
//! write; the ESP image passes fsck.vfat; output is reproducible; bad
//! inputs give one `error:` line, exit 1 and no output file.
use imgforge_tests::qemu::{have_qemu, try_boot_within};
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
/// Each boot's time limit (a TCG boot takes 8–20 s here).
const BOOT_SECS: u64 = 60;

fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The kernel, initrd and GRUB packages of examples/inputs.
fn inputs() -> Option<[PathBuf; 4]> {
    let d = root().join("examples/inputs");
    let f = [
        d.join("vmlinuz"),
        d.join("initrd.img"),
        d.join("grub-pc-bin.deb"),
        d.join("grub-efi-amd64-bin.deb"),
    ];
    if f.iter().all(|p| p.is_file()) {
        return Some(f);
    }
    if ci() {
        panic!("examples/inputs missing: ./build.sh setup runs examples/get-inputs.sh");
    }
    eprintln!("skipping: examples/inputs missing");
    None
}

/// SRCDIR: the kernel, the initrd and /boot/grub/grub.cfg booting them
/// with the console on the serial port.
fn srcdir(dir: &Path) -> Option<PathBuf> {
    let [k, i, _, _] = inputs()?;
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("boot/grub")).unwrap();
    std::fs::copy(k, src.join("vmlinuz")).unwrap();
    std::fs::copy(i, src.join("initrd.img")).unwrap();
    std::fs::write(
        src.join("boot/grub/grub.cfg"),
        "serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout=0\n\
         menuentry \"imgforge\" {\n\
         \tlinux /vmlinuz console=ttyS0 panic=-1\n\
         \tinitrd /initrd.img\n\
         }\n",
    )
    .unwrap();
    Some(src)
}

/// The rescue ISO for both platforms, made from the .deb packages.
fn rescue_iso(name: &str) -> Option<PathBuf> {
    let dir = scratch(name);
    let src = srcdir(&dir)?;
    let [_, _, pc, efi] = inputs()?;
    let iso = dir.join("rescue.iso");
    run_ok(
        Command::new(imgforge())
            .args(["grub-mkrescue", "-o", s(&iso), "-d", s(&pc), "--directory"])
            .arg(&efi)
            .arg(&src)
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    Some(iso)
}

fn boot_or_panic(name: &str, args: &[&str]) {
    try_boot_within(name, args, BOOT_SECS).unwrap_or_else(|e| panic!("{e}"));
}

fn ovmf() -> bool {
    let ok = Path::new(OVMF).is_file();
    if !ok && ci() {
        panic!("{OVMF} missing: ./build.sh setup installs ovmf");
    }
    ok
}

#[test]
fn rescue_iso_boots_on_seabios_as_cd_and_as_disk() {
    if !have_qemu() {
        return;
    }
    let Some(iso) = rescue_iso("grub_rescue_bios") else {
        return;
    };
    boot_or_panic(
        "rescue-seabios-cd",
        &["-cdrom", s(&iso), "-boot", "d", "-net", "none"],
    );
    let drive = format!("file={},format=raw,if=ide,snapshot=on", iso.display());
    boot_or_panic("rescue-seabios-disk", &["-drive", &drive, "-net", "none"]);
}

#[test]
fn rescue_iso_boots_on_ovmf_as_cd_and_as_disk() {
    if !have_qemu() || !ovmf() {
        return;
    }
    let Some(iso) = rescue_iso("grub_rescue_uefi") else {
        return;
    };
    boot_or_panic(
        "rescue-ovmf-cd",
        &["-bios", OVMF, "-cdrom", s(&iso), "-net", "none"],
    );
    let drive = format!("file={},format=raw,if=virtio,snapshot=on", iso.display());
    boot_or_panic(
        "rescue-ovmf-disk",
        &["-bios", OVMF, "-drive", &drive, "-net", "none"],
    );
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn xorriso_lists_both_entries_hybrid_tables_and_files() {
    if !have("xorriso") || !have("fsck.vfat") {
        return;
    }
    let Some(iso) = rescue_iso("grub_rescue_report") else {
        return;
    };
    let report = run_ok(tool("xorriso").args([
        "-indev",
        s(&iso),
        "-report_el_torito",
        "plain",
        "-report_system_area",
        "plain",
    ]));
    let line = |prefix: &str| -> Vec<String> {
        report
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let imgs = line("El Torito boot img :");
    assert_eq!(imgs.len(), 2, "{report}");
    assert!(
        imgs[0].starts_with("El Torito boot img : 1 BIOS y none 0x0000 0x00 4 "),
        "{report}"
    );
    assert!(
        imgs[1].starts_with("El Torito boot img : 2 UEFI y none"),
        "{report}"
    );
    let paths = line("El Torito img path :");
    assert_eq!(
        paths,
        [
            "El Torito img path : 1 /boot/grub/i386-pc/eltorito.img",
            "El Torito img path : 2 /efi.img"
        ],
        "{report}"
    );
    assert_eq!(
        line("El Torito img opts :"),
        ["El Torito img opts : 1 boot-info-table grub2-boot-info"],
        "{report}"
    );
    assert!(
        report.contains("System area summary: MBR protective-msdos-label grub2-mbr")
            && report.contains("GPT"),
        "{report}"
    );
    assert!(
        line("GPT partition path :")
            .iter()
            .any(|l| l.ends_with("/efi.img")),
        "{report}"
    );

    // --grub2-mbr and --grub2-boot-info: the MBR loads eltorito.img's
    // second 2 KiB (diskboot.img), whose blocklist starts right after it.
    let bios_lba: u64 = imgs[0].split_whitespace().last().unwrap().parse().unwrap();
    let bytes = std::fs::read(&iso).unwrap();
    assert_eq!(le64(&bytes, 0x1b0), bios_lba * 4 + 4);
    let elt = &bytes[(bios_lba * 2048) as usize..];
    assert_eq!(le64(elt, 2048 + 500), bios_lba * 4 + 5);
    let hybrid = std::fs::read("/usr/lib/grub/i386-pc/boot_hybrid.img").ok();
    if let Some(h) = hybrid {
        assert_eq!(&bytes[..0x1b0], &h[..0x1b0], "MBR code is boot_hybrid.img");
    }

    let files = run_ok(tool("xorriso").args(["-indev", s(&iso), "-find", "/", "-type", "f"]));
    for f in [
        "'/vmlinuz'",
        "'/initrd.img'",
        "'/boot/grub/grub.cfg'",
        "'/efi.img'",
        "'/boot/grub/i386-pc/eltorito.img'",
        "'/boot/grub/i386-pc/normal.mod'",
        "'/boot/grub/i386-pc/moddep.lst'",
        "'/boot/grub/x86_64-efi/normal.mod'",
        "'/boot/grub/x86_64-efi/linux.mod'",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} missing:\n{files}");
    }

    // The ESP image: a clean FAT with the removable-media loader.
    let dir = scratch("grub_rescue_report_esp");
    let esp = dir.join("efi.img");
    run_ok(tool("xorriso").args([
        "-osirrox",
        "on",
        "-indev",
        s(&iso),
        "-extract",
        "/efi.img",
        s(&esp),
    ]));
    run_ok(tool("fsck.vfat").args(["-n", s(&esp)]));
    if have("mdir") {
        let ls = run_ok(tool("mdir").args(["-b", "-/", "-i", s(&esp), "::"]));
        assert!(ls.contains("::/EFI/BOOT/BOOTX64.EFI"), "{ls}");
    }

    // Same inputs and epoch, same bytes.
    let [_, _, pc, efi] = inputs().unwrap();
    let again = dir.join("again.iso");
    run_ok(
        Command::new(imgforge())
            .args([
                "grub-mkrescue",
                "-o",
                s(&again),
                "-d",
                s(&pc),
                "-d",
                s(&efi),
            ])
            .arg(iso.parent().unwrap().join("src"))
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    assert_eq!(sha256_file(&iso), sha256_file(&again));
}

#[test]
fn bad_sources_fail_with_one_error_line_and_no_output() {
    let Some([k, _, pc, _]) = inputs() else {
        return;
    };
    let dir = scratch("grub_rescue_bad");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let out = dir.join("out.iso");
    let cases: Vec<(Vec<String>, &str)> = vec![
        // Not GRUB's: a kernel image given as the module source.
        (vec!["-d".into(), s(&k).into()], "not a GRUB module folder"),
        // No source at all.
        (vec![], "no GRUB module source"),
        // Two sources for one platform.
        (
            vec!["-d".into(), s(&pc).into(), "-d".into(), s(&pc).into()],
            "both hold i386-pc modules",
        ),
    ];
    for (args, want) in cases {
        let o = run(Command::new(imgforge())
            .args(["grub-mkrescue", "-o", s(&out)])
            .args(&args)
            .arg(&src));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
}

#[test]
fn eltorito_image_is_cdboot_and_core_img_as_grub_mkimage_lays_it_out() {
    let pc = "/usr/lib/grub/i386-pc";
    if !have("grub-mkimage") || !Path::new(pc).join("cdboot.img").is_file() {
        if ci() {
            panic!("grub-mkimage and {pc} are required under CI=true");
        }
        return;
    }
    let dir = scratch("grub_rescue_eltorito");
    let make = |tool_cmd: &mut Command, format: &str, out: &Path| {
        run_ok(
            tool_cmd
                .args(["-d", pc, "-O", format, "-p", "/boot/grub", "-o", s(out)])
                .args(["biosdisk", "iso9660"]),
        );
        std::fs::read(out).unwrap()
    };
    let ours = make(
        Command::new(imgforge()).arg("grub-mkimage"),
        "i386-pc-eltorito",
        &dir.join("ours.img"),
    );
    let theirs = make(
        &mut tool("grub-mkimage"),
        "i386-pc-eltorito",
        &dir.join("theirs.img"),
    );
    let core = make(
        Command::new(imgforge()).arg("grub-mkimage"),
        "i386-pc",
        &dir.join("core.img"),
    );
    // cdboot.img, then our core.img; equal to GRUB's up to diskboot's
    // blocklist length (the LZMA stream is ours: docs/grub.md).
    assert_eq!(
        &ours[..2048],
        &std::fs::read(Path::new(pc).join("cdboot.img")).unwrap()[..]
    );
    assert_eq!(&ours[2048..], &core[..]);
    assert_eq!(&ours[..2048 + 508], &theirs[..2048 + 508]);
}
