//! `imgforge grub-install` into disk images edited in place: GPT disks
//! made by `imgforge build` (ESP and ext4 root, ESP only, BIOS boot and
//! ESP) and a disk made by sgdisk, mkfs.fat and mcopy, converted to qcow2
//! by qemu-img, boot to the /init marker in QEMU (TCG) on OVMF
//! (x86_64-efi) and SeaBIOS (i386-pc), raw and qcow2. `sgdisk -v`,
//! `fsck.vfat -n` and `qemu-img check` are clean after every install; bad
//! inputs give one `error:` line, exit 1 and an untouched image; a 10 GiB
//! sparse disk stays sparse.
use imgforge_tests::qemu::{boot, have_qemu};
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const MIB: u64 = 1 << 20;

/// The grub.cfg of the boot tests: serial console, the kernel and initrd
/// from the ESP's /EFI/BOOT.
fn grub_cfg(linux: &str, initrd: &str) -> String {
    format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout=0\n\
         menuentry \"imgforge\" {{\n\
         \t{linux} /EFI/BOOT/vmlinuz console=ttyS0 panic=-1\n\
         \t{initrd} /EFI/BOOT/initrd.img\n\
         }}\n"
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn grub_dirs() -> bool {
    let ok = Path::new("/usr/lib/grub/x86_64-efi/moddep.lst").is_file()
        && Path::new("/usr/lib/grub/i386-pc/moddep.lst").is_file();
    if !ok && std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("GRUB module directories missing: ./build.sh setup installs grub-pc-bin and grub-efi-amd64-bin");
    }
    if !ok {
        eprintln!("skipping: GRUB module directories missing");
    }
    ok
}

fn tools(list: &[&str]) -> bool {
    grub_dirs() && list.iter().all(|t| have(t))
}

fn inputs() -> Option<(PathBuf, PathBuf)> {
    let k = root().join("examples/inputs/vmlinuz");
    let i = root().join("examples/inputs/initrd.img");
    if k.is_file() && i.is_file() {
        return Some((k, i));
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("examples/inputs missing: ./build.sh setup runs examples/get-inputs.sh");
    }
    eprintln!("skipping: examples/inputs missing");
    None
}

fn boot_ready() -> bool {
    let ok = have_qemu() && inputs().is_some();
    if ok && !Path::new(OVMF).is_file() {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("{OVMF} missing: ./build.sh setup installs ovmf");
        }
        eprintln!("skipping: no OVMF");
        return false;
    }
    ok
}

/// A GPT disk from a recipe: [BIOS boot 1 MiB], ESP (FAT, kernel and
/// initrd in /EFI/BOOT), [ext4 root from rootfs.tar].
fn recipe_disk(dir: &Path, bios_boot: bool, rootfs: bool, format: &str, name: &str) -> PathBuf {
    let (k, i) = inputs().unwrap();
    let mut r = format!(
        "[build]\nepoch = 1700000000\nseed = \"grub-install\"\n\n[output]\nformat = \"{format}\"\n\n\
         [disk]\nsize = \"{}\"\ntable = \"gpt\"\n",
        if rootfs { "256M" } else { "128M" }
    );
    if bios_boot {
        r.push_str("\n[[partition]]\ntype = \"ef02\"\nname = \"BIOS boot\"\nsize = \"1M\"\n");
    }
    r.push_str(&format!(
        "\n[[partition]]\ntype = \"ef00\"\nname = \"EFI System\"\nsize = \"64M\"\n\
         [partition.filesystem]\ntype = \"fat\"\nlabel = \"ESP\"\ncontents = [\n\
         {{ file = \"{}\", at = \"/EFI/BOOT/vmlinuz\" }},\n\
         {{ file = \"{}\", at = \"/EFI/BOOT/initrd.img\" }},\n]\n",
        k.display(),
        i.display()
    ));
    if rootfs {
        r.push_str(&format!(
            "\n[[partition]]\ntype = \"8300\"\nname = \"root\"\nsize = \"rest\"\n\
             [partition.filesystem]\ntype = \"ext4\"\nlabel = \"rootfs\"\ncontents = [{{ tar = \"{}\" }}]\n",
            root().join("examples/inputs/rootfs.tar").display()
        ));
    }
    let rp = dir.join(format!("{name}.toml"));
    std::fs::write(&rp, r).unwrap();
    let out = dir.join(name);
    run_ok(
        Command::new(imgforge())
            .arg("build")
            .arg(&rp)
            .arg("-o")
            .arg(&out),
    );
    out
}

fn write_cfg(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("grub.cfg");
    std::fs::write(&p, text).unwrap();
    p
}

fn install(img: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new(imgforge())
            .arg("grub-install")
            .args(args)
            .arg(img),
    )
}

fn install_err(img: &Path, args: &[&str]) -> String {
    let before = sha256_file(img);
    let out = run(Command::new(imgforge())
        .arg("grub-install")
        .args(args)
        .arg(img));
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(sha256_file(img), before, "{args:?} changed the image");
    err
}

/// (first sector, sectors) of partition `n`, as `sgdisk -i` prints them.
fn sgdisk_range(img: &Path, n: u32) -> (u64, u64) {
    let out = run_ok(tool("sgdisk").arg("-i").arg(n.to_string()).arg(img));
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no '{name}' in sgdisk -i:\n{out}"))
    };
    let first = field("First sector: ");
    let last = field("Last sector: ");
    (first, last + 1 - first)
}

/// `sgdisk -v` and `fsck.vfat -n` on partition `esp` of a raw disk image
/// (a qcow2 is converted to raw first, after `qemu-img check`); `mdir`
/// lists `want` in the ESP's /EFI/BOOT.
fn check_disk(img: &Path, esp: u32) {
    check_disk_for(img, esp, "BOOTX64  EFI")
}

fn check_disk_for(img: &Path, esp: u32, want: &str) {
    let raw = if run_ok(tool("qemu-img").args(["info", s(img)])).contains("file format: qcow2") {
        run_ok(tool("qemu-img").args(["check", s(img)]));
        let raw = img.with_extension("check.raw");
        run_ok(tool("qemu-img").args(["convert", "-O", "raw", s(img), s(&raw)]));
        raw
    } else {
        img.to_path_buf()
    };
    let v = run_ok(tool("sgdisk").arg("-v").arg(&raw));
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");
    let (first, sectors) = sgdisk_range(&raw, esp);
    let fat = raw.with_extension("esp.fat");
    let data = std::fs::read(&raw).unwrap();
    std::fs::write(
        &fat,
        &data[(first * 512) as usize..((first + sectors) * 512) as usize],
    )
    .unwrap();
    run_ok(tool("fsck.vfat").arg("-n").arg(&fat));
    let listing = run_ok(tool("mdir").args(["-i", s(&fat), "::/EFI/BOOT"]));
    assert!(listing.contains(want), "{listing}");
    if raw != img {
        let _ = std::fs::remove_file(&raw);
    }
}

/// Formats partition `n` of a raw image with `mkfs.fat -F bits`.
fn mkfs_fat_in(img: &Path, n: u32, bits: &str) {
    use std::os::unix::fs::FileExt;
    let (first, sectors) = sgdisk_range(img, n);
    let fat = img.with_extension(format!("p{n}.fat"));
    std::fs::File::create(&fat)
        .unwrap()
        .set_len(sectors * 512)
        .unwrap();
    run_ok(tool("mkfs.fat").args(["-F", bits, s(&fat)]));
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    // mkfs.fat writes only its reserved sectors, FATs and root directory:
    // copy what is not zero, so a sparse image stays sparse.
    let bytes = std::fs::read(&fat).unwrap();
    for (k, chunk) in bytes.chunks(64 * 1024).enumerate() {
        if chunk.iter().any(|&b| b != 0) {
            f.write_all_at(chunk, first * 512 + (k * 64 * 1024) as u64)
                .unwrap();
        }
    }
    let _ = std::fs::remove_file(&fat);
}

fn ovmf_boot(name: &str, img: &Path, format: &str) {
    let drive = format!("file={},format={format},if=virtio", img.display());
    boot(name, &["-bios", OVMF, "-drive", &drive, "-net", "none"]);
}

fn seabios_boot(name: &str, img: &Path, format: &str) {
    let drive = format!("file={},format={format},if=ide", img.display());
    boot(name, &["-drive", &drive, "-net", "none"]);
}

#[test]
fn efi_esp_and_ext4_root_boots_on_ovmf_raw() {
    if !tools(&["sgdisk", "fsck.vfat", "mdir"]) || !boot_ready() {
        return;
    }
    let d = scratch("grub-efi-raw");
    let img = recipe_disk(&d, false, true, "raw", "disk.img");
    let cfg = write_cfg(&d, &grub_cfg("linux", "initrd"));
    let out = install(
        &img,
        &[
            "--target=x86_64-efi",
            "--removable",
            "--install-modules=",
            "--config",
            s(&cfg),
        ],
    );
    assert!(out.contains("prefix /EFI/BOOT"), "{out}");
    assert!(!out.contains("module files"), "{out}");
    check_disk(&img, 1);
    let ls = run_ok(Command::new(imgforge()).args(["ls", &format!("{}:1:/EFI/BOOT", s(&img))]));
    assert!(!ls.contains("x86_64-efi"), "{ls}");
    let got = run_ok(
        Command::new(imgforge()).args(["cat", &format!("{}:1:/EFI/BOOT/grub.cfg", s(&img))]),
    );
    assert_eq!(got, grub_cfg("linux", "initrd"));
    ovmf_boot("grub-efi-raw", &img, "raw");
}

/// Debian's GRUB 2.06 has `linuxefi`/`initrdefi` (module linuxefi, a
/// Debian patch): the seed's grub.cfg boots as it is.
#[test]
fn efi_esp_only_boots_on_ovmf_qcow2_with_linuxefi() {
    if !tools(&["sgdisk", "fsck.vfat", "mdir", "qemu-img"]) || !boot_ready() {
        return;
    }
    let d = scratch("grub-efi-qcow2");
    let img = recipe_disk(&d, false, false, "qcow2", "disk.qcow2");
    let cfg = write_cfg(&d, &grub_cfg("linuxefi", "initrdefi"));
    install(&img, &["--config", s(&cfg)]);
    check_disk(&img, 1);
    ovmf_boot("grub-efi-qcow2", &img, "qcow2");
}

#[test]
fn hybrid_disk_boots_on_ovmf_and_seabios() {
    if !tools(&["sgdisk", "fsck.vfat", "mdir"]) || !boot_ready() {
        return;
    }
    let d = scratch("grub-hybrid");
    let img = recipe_disk(&d, true, true, "raw", "disk.img");
    let mbr_before = std::fs::read(&img).unwrap()[0x1b8..0x200].to_vec();
    // The menu entry exists only if `insmod sleep` finds the module
    // grub-install copied into /EFI/BOOT/<platform>/ (sleep is not built
    // into the images).
    let cfg = grub_cfg("linux", "initrd").replace(
        "menuentry \"imgforge\" {",
        "if insmod sleep; then\nmenuentry \"imgforge\" {",
    ) + "fi\n";
    let cfg = write_cfg(&d, &cfg);
    install(&img, &["--target=i386-pc", "--config", s(&cfg)]);
    check_disk_for(&img, 2, "i386-pc      <DIR>");
    let out = install(&img, &["--target=x86_64-efi"]);
    assert!(out.contains("BOOTX64.EFI"), "{out}");
    check_disk(&img, 2);
    let bytes = std::fs::read(&img).unwrap();
    // The protective MBR's signature and table stay; boot.img points at
    // the BIOS boot partition (LBA 2048), whose first sector's blocklist
    // points at the rest of core.img.
    assert_eq!(&bytes[0x1b8..0x200], &mbr_before[..]);
    assert_eq!(&bytes[0x5c..0x64], &2048u64.to_le_bytes());
    let bl = 2048 * 512 + 500;
    assert_eq!(&bytes[bl..bl + 8], &2049u64.to_le_bytes());
    assert_eq!(&bytes[bl + 10..bl + 12], &0x820u16.to_le_bytes());
    ovmf_boot("grub-hybrid-ovmf", &img, "raw");
    seabios_boot("grub-hybrid-seabios", &img, "raw");
}

/// A disk made by the usual tools (sgdisk, mkfs.fat, mcopy), converted to
/// qcow2 by qemu-img, then both targets installed into the qcow2.
#[test]
fn tool_made_disk_as_qcow2_boots_on_seabios_and_ovmf() {
    if !tools(&[
        "sgdisk",
        "mkfs.fat",
        "mcopy",
        "mmd",
        "fsck.vfat",
        "mdir",
        "qemu-img",
    ]) || !boot_ready()
    {
        return;
    }
    let (k, i) = inputs().unwrap();
    let d = scratch("grub-toolmade");
    let raw = d.join("disk.img");
    std::fs::File::create(&raw)
        .unwrap()
        .set_len(200 * MIB)
        .unwrap();
    run_ok(tool("sgdisk").args([
        "-n",
        "1:0:+1M",
        "-t",
        "1:ef02",
        "-n",
        "2:0:+100M",
        "-t",
        "2:ef00",
        "-n",
        "3:0:0",
        s(&raw),
    ]));
    let (first, sectors) = sgdisk_range(&raw, 2);
    let fat = d.join("esp.fat");
    std::fs::File::create(&fat)
        .unwrap()
        .set_len(sectors * 512)
        .unwrap();
    run_ok(tool("mkfs.fat").args(["-F", "32", "-n", "ESP", s(&fat)]));
    run_ok(tool("mmd").args(["-i", s(&fat), "::/EFI", "::/EFI/BOOT"]));
    run_ok(tool("mcopy").args(["-i", s(&fat), s(&k), "::/EFI/BOOT/vmlinuz"]));
    run_ok(tool("mcopy").args(["-i", s(&fat), s(&i), "::/EFI/BOOT/initrd.img"]));
    run_ok(tool("mcopy").args([
        "-i",
        s(&fat),
        s(&write_cfg(&d, &grub_cfg("linux", "initrd"))),
        "::/EFI/BOOT/grub.cfg",
    ]));
    let mut disk = std::fs::read(&raw).unwrap();
    let fat_bytes = std::fs::read(&fat).unwrap();
    disk[(first * 512) as usize..((first + sectors) * 512) as usize].copy_from_slice(&fat_bytes);
    std::fs::write(&raw, &disk).unwrap();
    let q = d.join("disk.qcow2");
    run_ok(tool("qemu-img").args(["convert", "-O", "qcow2", s(&raw), s(&q)]));
    // No --config: the grub.cfg mcopy put there is kept. The modules come
    // from the Debian packages themselves (get-inputs.sh fetched them).
    let deb = |name: &str| {
        let p = root().join("examples/inputs").join(name);
        if p.is_file() {
            s(&p).to_string()
        } else {
            let plat = if name.contains("-pc-") {
                "i386-pc"
            } else {
                "x86_64-efi"
            };
            format!("/usr/lib/grub/{plat}")
        }
    };
    install(
        &q,
        &["--target=i386-pc", "--directory", &deb("grub-pc-bin.deb")],
    );
    install(
        &q,
        &[
            "--target=x86_64-efi",
            "--directory",
            &deb("grub-efi-amd64-bin.deb"),
        ],
    );
    check_disk(&q, 2);
    seabios_boot("grub-toolmade-seabios", &q, "qcow2");
    ovmf_boot("grub-toolmade-ovmf", &q, "qcow2");
}

#[test]
fn mbr_disk_gets_core_img_in_the_gap() {
    if !tools(&["sfdisk", "fsck.vfat"]) {
        return;
    }
    let d = scratch("grub-mbr");
    let img = d.join("disk.img");
    run_ok(Command::new(imgforge()).args(["create", s(&img), "64M"]));
    run_ok(Command::new(imgforge()).args([
        "part",
        "--mbr",
        "--new=1:0:0",
        "--typecode=1:0c",
        s(&img),
    ]));
    let fat = d.join("p1.fat");
    std::fs::File::create(&fat)
        .unwrap()
        .set_len(63 * MIB)
        .unwrap();
    run_ok(tool("mkfs.fat").args(["-F", "16", s(&fat)]));
    let mut disk = std::fs::read(&img).unwrap();
    disk[MIB as usize..].copy_from_slice(&std::fs::read(&fat).unwrap());
    std::fs::write(&img, &disk).unwrap();
    let cfg = write_cfg(&d, "set timeout=0\n");
    // Deterministic: the same install into a copy gives the same bytes.
    let twin = d.join("twin.img");
    std::fs::copy(&img, &twin).unwrap();
    let out = install(&img, &["--target=i386-pc", "--config", s(&cfg)]);
    install(&twin, &["--target=i386-pc", "--config", s(&cfg)]);
    assert_eq!(sha256_file(&img), sha256_file(&twin));
    assert!(out.contains("the gap after the MBR"), "{out}");
    assert!(out.contains("prefix (,msdos1)/boot/grub"), "{out}");
    let bytes = std::fs::read(&img).unwrap();
    assert_eq!(&bytes[0x5c..0x64], &1u64.to_le_bytes());
    assert_eq!(&bytes[0x1b8..0x200], &disk[0x1b8..0x200]);
    let dump = run_ok(tool("sfdisk").args(["-d", s(&img)]));
    assert!(dump.contains("type=c"), "{dump}");
    std::fs::write(&fat, &bytes[MIB as usize..]).unwrap();
    run_ok(tool("fsck.vfat").arg("-n").arg(&fat));
    let got = run_ok(tool("mtype").args(["-i", s(&fat), "::/boot/grub/grub.cfg"]));
    assert_eq!(got, "set timeout=0\n");
}

#[test]
fn bad_inputs_leave_the_image_untouched() {
    if !tools(&["sgdisk", "mkfs.fat", "mcopy"]) {
        return;
    }
    let d = scratch("grub-bad");
    let imgf = |args: &[&str]| run_ok(Command::new(imgforge()).args(args));
    // core.img too big for a 16-sector BIOS boot partition.
    let small = d.join("small-bios-boot.img");
    imgf(&["create", s(&small), "64M"]);
    imgf(&[
        "part",
        "--clear",
        "--new=1:2048:2063",
        "--typecode=1:ef02",
        "--new=2:0:0",
        "--typecode=2:ef00",
        s(&small),
    ]);
    mkfs_fat_in(&small, 2, "16");
    let e = install_err(&small, &["--target=i386-pc"]);
    assert!(e.contains("add a BIOS boot partition of 1 MiB"), "{e}");
    assert!(e.contains("BIOS boot partition 1"), "{e}");
    // A GPT disk without a BIOS boot partition: refused, as grub-install
    // refuses to embed.
    let no_bios = d.join("no-bios-boot.img");
    imgf(&["create", s(&no_bios), "64M"]);
    imgf(&[
        "part",
        "--clear",
        "--new=1:0:0",
        "--typecode=1:ef00",
        s(&no_bios),
    ]);
    mkfs_fat_in(&no_bios, 1, "16");
    let e = install_err(&no_bios, &["--target=i386-pc"]);
    assert!(e.contains("no BIOS boot partition (type EF02)"), "{e}");
    // No ESP for x86_64-efi.
    let no_esp = d.join("no-esp.img");
    imgf(&["create", s(&no_esp), "64M"]);
    imgf(&[
        "part",
        "--clear",
        "--new=1:0:0",
        "--typecode=1:8300",
        s(&no_esp),
    ]);
    mkfs_fat_in(&no_esp, 1, "16");
    let e = install_err(&no_esp, &["--target=x86_64-efi"]);
    assert!(e.contains("no EFI System Partition (type EF00)"), "{e}");
    // A full ESP.
    let full = d.join("full-esp.img");
    imgf(&["create", s(&full), "8M"]);
    imgf(&[
        "part",
        "--clear",
        "--new=1:0:0",
        "--typecode=1:ef00",
        s(&full),
    ]);
    let (first, sectors) = sgdisk_range(&full, 1);
    let fat = d.join("full.fat");
    std::fs::File::create(&fat)
        .unwrap()
        .set_len(sectors * 512)
        .unwrap();
    run_ok(tool("mkfs.fat").args(["-F", "12", s(&fat)]));
    let filler = d.join("filler");
    let free = imgforge_core::fat::info(&std::fs::read(&fat).unwrap().as_slice())
        .unwrap()
        .free_bytes
        - 64 * 1024;
    std::fs::write(&filler, vec![0x5a; free as usize]).unwrap();
    run_ok(tool("mcopy").args(["-i", s(&fat), s(&filler), "::/filler"]));
    let mut disk = std::fs::read(&full).unwrap();
    disk[(first * 512) as usize..((first + sectors) * 512) as usize]
        .copy_from_slice(&std::fs::read(&fat).unwrap());
    std::fs::write(&full, &disk).unwrap();
    let e = install_err(&full, &["--target=x86_64-efi"]);
    assert!(e.contains("ESP (partition 1)"), "{e}");
    assert!(e.contains("/EFI/BOOT/BOOTX64.EFI needs"), "{e}");
    // A prefix naming a partition that does not exist.
    let e = install_err(
        &no_esp,
        &["--target=i386-pc", "--boot-directory=7:/boot/grub"],
    );
    assert!(e.contains("partition 7, which does not exist"), "{e}");
    // An MBR disk whose first partition starts at sector 63: a 62-sector
    // gap is too small for core.img.
    let gap = d.join("gap63.img");
    imgf(&["create", s(&gap), "32M"]);
    let mut sf = tool("sfdisk");
    sf.arg("-q").arg(&gap).stdin(std::process::Stdio::piped());
    let mut child = sf.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"label: dos\nstart=63, type=c\n")
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    {
        use std::os::unix::fs::FileExt;
        let fat = d.join("gap63.fat");
        std::fs::File::create(&fat)
            .unwrap()
            .set_len(32 * MIB - 63 * 512)
            .unwrap();
        run_ok(tool("mkfs.fat").args(["-F", "16", s(&fat)]));
        let f = std::fs::OpenOptions::new().write(true).open(&gap).unwrap();
        f.write_all_at(&std::fs::read(&fat).unwrap(), 63 * 512)
            .unwrap();
    }
    let e = install_err(&gap, &["--target=i386-pc"]);
    assert!(e.contains("the gap after the MBR"), "{e}");
    assert!(e.contains("add a BIOS boot partition of 1 MiB"), "{e}");
    // A module folder for the other platform.
    let e = install_err(
        &no_bios,
        &["--target=i386-pc", "--directory=/usr/lib/grub/x86_64-efi"],
    );
    assert!(e.contains("x86_64-efi"), "{e}");
    // Not a disk image with a partition table.
    let blank = d.join("blank.img");
    imgf(&["create", s(&blank), "8M"]);
    let e = install_err(&blank, &["--target=x86_64-efi"]);
    assert!(e.contains("no GPT or MBR partition table"), "{e}");
}

/// Only the sectors that change are read and written: installing into a
/// 10 GiB sparse disk allocates about what GRUB's files take (two images,
/// ~4.5 MiB of modules copied as grub-install does, FAT sectors).
#[test]
fn sparse_10g_disk_stays_sparse() {
    if !tools(&["sgdisk", "mkfs.fat", "fsck.vfat", "mdir"]) {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let d = scratch("grub-sparse");
    let img = d.join("big.img");
    run_ok(Command::new(imgforge()).args(["create", s(&img), "10G"]));
    run_ok(Command::new(imgforge()).args([
        "part",
        "--clear",
        "--new=1:0:+1M",
        "--typecode=1:ef02",
        "--new=2:0:+100M",
        "--typecode=2:ef00",
        "--new=3:0:0",
        s(&img),
    ]));
    mkfs_fat_in(&img, 2, "32");
    let before = std::fs::metadata(&img).unwrap().blocks() * 512;
    install(&img, &["--target=i386-pc"]);
    install(&img, &["--target=x86_64-efi"]);
    let after = std::fs::metadata(&img).unwrap().blocks() * 512;
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 10 << 30);
    assert!(
        after - before < 8 * MIB,
        "allocated {before} -> {after} bytes"
    );
    let v = run_ok(tool("sgdisk").arg("-v").arg(&img));
    assert!(v.contains("No problems found"), "{v}");
}

/// The FAT editor the installer writes the ESP with, on volumes mkfs.fat
/// made (FAT12, FAT16, FAT32): nested directories, long and short names,
/// a directory grown past one cluster, a file replaced by a larger one;
/// `fsck.vfat -n` is clean and `mtype` reads every file back.
#[test]
fn fat_editor_on_mkfs_fat_volumes_passes_fsck() {
    if !have("mkfs.fat") || !have("fsck.vfat") || !have("mtype") {
        return;
    }
    use imgforge_core::fat::edit::Editor;
    let d = scratch("grub-fat-edit");
    for (bits, size, spc) in [
        ("12", 8 * MIB, "8"),
        ("16", 64 * MIB, "4"),
        ("32", 100 * MIB, "1"),
    ] {
        let fat = d.join(format!("fat{bits}.img"));
        std::fs::File::create(&fat).unwrap().set_len(size).unwrap();
        run_ok(tool("mkfs.fat").args(["-F", bits, "-s", spc, s(&fat)]));
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("/EFI/BOOT/BOOTX64.EFI".into(), vec![0xEF; 300_000]),
            ("/EFI/BOOT/grub.cfg".into(), b"set timeout=0\n".to_vec()),
            (
                "/boot/grub/Mixed Case Long Name.cfg".into(),
                b"long\n".to_vec(),
            ),
            ("/boot/grub/UPPER.TXT".into(), b"upper\n".to_vec()),
        ];
        for i in 0..40 {
            files.push((
                format!("/many/file-{i:03}.conf"),
                format!("{i}\n").into_bytes(),
            ));
        }
        let img = std::fs::read(&fat).unwrap();
        let mut ed = Editor::open(&img, "ESP", 1_700_000_000).unwrap();
        for (p, b) in &files {
            ed.write_file(p, b).unwrap();
        }
        // Replaced by a larger file: the old clusters are freed.
        ed.write_file("/EFI/BOOT/grub.cfg", &[b'#'; 5000]).unwrap();
        files[1].1 = vec![b'#'; 5000];
        let patches = ed.finish().unwrap();
        let mut img = img.clone();
        for (o, b) in patches {
            img[o as usize..o as usize + b.len()].copy_from_slice(&b);
        }
        std::fs::write(&fat, &img).unwrap();
        let out = run(tool("fsck.vfat").arg("-n").arg(&fat));
        assert!(
            out.status.success(),
            "FAT{bits}: fsck.vfat -n:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (p, b) in &files {
            let got = run(tool("mtype").args(["-i", s(&fat), &format!("::{p}")]));
            assert!(got.status.success(), "FAT{bits}: mtype {p}");
            assert_eq!(&got.stdout, b, "FAT{bits}: {p}");
        }
        let listing = run_ok(tool("mdir").args(["-i", s(&fat), "::/boot/grub"]));
        assert!(listing.contains("Mixed Case Long Name.cfg"), "{listing}");
    }
}

/// A disk without an ESP: an MBR disk whose one ext4 partition holds
/// /boot/grub/grub.cfg, the kernel and the initrd. i386-pc goes into the
/// gap after the MBR with the prefix `(,msdos1)/boot/grub`, the grub.cfg
/// already there is kept, and it boots on SeaBIOS.
#[test]
fn mbr_ext4_disk_boots_on_seabios() {
    if !tools(&["sfdisk", "e2fsck"]) || !boot_ready() {
        return;
    }
    let (k, i) = inputs().unwrap();
    let d = scratch("grub-mbr-ext4");
    let cfg = grub_cfg("linux", "initrd").replace("/EFI/BOOT/", "/boot/");
    let r = format!(
        "[build]\nepoch = 1700000000\nseed = \"grub-install\"\n\n[output]\nformat = \"raw\"\n\n\
         [disk]\nsize = \"64M\"\ntable = \"mbr\"\n\n\
         [[partition]]\ntype = \"83\"\nsize = \"rest\"\nbootable = true\n\
         [partition.filesystem]\ntype = \"ext4\"\ncontents = [\n\
         {{ file = \"{}\", at = \"/boot/vmlinuz\" }},\n\
         {{ file = \"{}\", at = \"/boot/initrd.img\" }},\n\
         {{ text = \"\"\"{cfg}\"\"\", at = \"/boot/grub/grub.cfg\" }},\n]\n",
        k.display(),
        i.display()
    );
    let rp = d.join("disk.toml");
    std::fs::write(&rp, r).unwrap();
    let img = d.join("disk.img");
    run_ok(
        Command::new(imgforge())
            .arg("build")
            .arg(&rp)
            .arg("-o")
            .arg(&img),
    );
    let table = run_ok(tool("sfdisk").args(["-d", s(&img)]));
    let out = install(&img, &["--target=i386-pc"]);
    assert!(out.contains("prefix (,msdos1)/boot/grub"), "{out}");
    assert!(out.contains("the gap after the MBR"), "{out}");
    assert_eq!(run_ok(tool("sfdisk").args(["-d", s(&img)])), table);
    // The ext4 filesystem after the gap is clean.
    let part = d.join("p1.ext4");
    std::fs::write(&part, &std::fs::read(&img).unwrap()[MIB as usize..]).unwrap();
    run_ok(tool("e2fsck").arg("-fn").arg(&part));
    // --config cannot go into ext4 in place: refused, image untouched.
    let c = write_cfg(&d, "set timeout=0\n");
    let e = install_err(&img, &["--target=i386-pc", "--config", s(&c)]);
    assert!(e.contains("ext4"), "{e}");
    seabios_boot("grub-mbr-ext4-seabios", &img, "raw");
}
