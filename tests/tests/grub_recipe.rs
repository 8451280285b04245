//! The `[grub]` recipe table: examples/grub-disk.toml boots on OVMF as raw
//! and as qcow2, examples/grub-hybrid.toml on OVMF and SeaBIOS (QEMU TCG,
//! the /init marker); `sgdisk -v`, `fsck.vfat -n`, `qemu-img check` clean;
//! a recipe with `[grub]` gives the bytes of the same recipe without it
//! followed by `imgforge grub-install` per target; bad `[grub]` tables are
//! one `error:` line and no output.
use imgforge_tests::qemu::{boot, have_qemu};
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// The example inputs the recipes name (the two GRUB packages included).
fn inputs_ready() -> bool {
    let ok = [
        "vmlinuz",
        "initrd.img",
        "rootfs.tar",
        "grub-efi-amd64-bin.deb",
        "grub-pc-bin.deb",
    ]
    .iter()
    .all(|f| root().join("examples/inputs").join(f).is_file());
    if !ok {
        if ci() {
            panic!("examples/inputs missing: ./build.sh setup runs examples/get-inputs.sh");
        }
        eprintln!("skipping: examples/inputs missing (run examples/get-inputs.sh)");
    }
    ok
}

fn boot_ready() -> bool {
    if !have_qemu() {
        return false;
    }
    if !Path::new(OVMF).is_file() {
        if ci() {
            panic!("{OVMF} missing: ./build.sh setup installs ovmf");
        }
        eprintln!("skipping: no OVMF");
        return false;
    }
    true
}

fn example(name: &str) -> PathBuf {
    root().join("examples").join(format!("{name}.toml"))
}

fn build(recipe: &Path, out: &Path, extra: &[&str]) -> String {
    run_ok(
        Command::new(imgforge())
            .arg("build")
            .arg(recipe)
            .arg("-o")
            .arg(out)
            .args(extra),
    )
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

/// `qemu-img check` (qcow2), `sgdisk -v`, `fsck.vfat -n` on the ESP
/// (partition `esp`), and `mdir` lists each of `want` in its /EFI/BOOT.
fn check_disk(img: &Path, esp: u32, want: &[&str]) {
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
    for w in want {
        assert!(listing.contains(w), "{w} not in:\n{listing}");
    }
    let _ = std::fs::remove_file(&fat);
    if raw != img {
        let _ = std::fs::remove_file(&raw);
    }
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
fn grub_disk_example_boots_on_ovmf_raw_and_qcow2() {
    if !inputs_ready()
        || !["sgdisk", "fsck.vfat", "mdir", "qemu-img"]
            .iter()
            .all(|t| have(t))
    {
        return;
    }
    let d = scratch("grub-recipe-disk");
    let raw = d.join("disk.img");
    build(&example("grub-disk"), &raw, &[]);
    check_disk(&raw, 1, &["BOOTX64  EFI", "grub     cfg", "  x86_64-efi"]);
    let cfg = run_ok(
        Command::new(imgforge()).args(["cat", &format!("{}:1:/EFI/BOOT/grub.cfg", s(&raw))]),
    );
    assert!(
        cfg.contains("linuxefi /EFI/BOOT/vmlinuz console=ttyS0"),
        "{cfg}"
    );
    let qcow2 = d.join("disk.qcow2");
    build(&example("grub-disk"), &qcow2, &["-O", "qcow2"]);
    check_disk(&qcow2, 1, &["BOOTX64  EFI"]);
    // The qcow2 holds the raw disk's bytes.
    run_ok(tool("qemu-img").args(["compare", "-f", "raw", "-F", "qcow2", s(&raw), s(&qcow2)]));
    if !boot_ready() {
        return;
    }
    ovmf_boot("grub-recipe-disk-raw", &raw, "raw");
    ovmf_boot("grub-recipe-disk-qcow2", &qcow2, "qcow2");
}

#[test]
fn grub_hybrid_example_boots_on_ovmf_and_seabios() {
    if !inputs_ready()
        || !["sgdisk", "fsck.vfat", "mdir", "qemu-img"]
            .iter()
            .all(|t| have(t))
    {
        return;
    }
    let d = scratch("grub-recipe-hybrid");
    let img = d.join("hybrid.img");
    build(&example("grub-hybrid"), &img, &[]);
    check_disk(
        &img,
        2,
        &[
            "BOOTX64  EFI",
            "grub     cfg",
            "i386-pc      <DIR>",
            "  x86_64-efi",
        ],
    );
    let bytes = std::fs::read(&img).unwrap();
    // boot.img in the protective MBR points at the BIOS boot partition
    // (LBA 2048, grub-bios-setup's kernel sector field at 0x5c); the
    // protective MBR's partition record stays.
    assert_eq!(&bytes[0x5c..0x64], &2048u64.to_le_bytes());
    assert_eq!(bytes[0x1c2], 0xEE);
    assert_eq!(&bytes[0x1fe..0x200], &[0x55, 0xAA]);
    // inspect finds both installs (issue 11 part 6): boot.img -> core.img
    // in the BIOS boot partition, and the ESP's BOOTX64.EFI, each with the
    // prefix the installer gave it and the recipe's modules built in.
    let json = run_ok(Command::new(imgforge()).args(["inspect", "--json", s(&img)]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let found = v["grub_installed"].as_array().expect("grub_installed");
    let by_target = |t: &str| {
        found
            .iter()
            .find(|g| g["image"]["target"] == t)
            .unwrap_or_else(|| panic!("no {t} in {json}"))
    };
    let pc = by_target("i386-pc");
    assert!(
        pc["location"].as_str().unwrap().contains("sector 2048"),
        "{pc}"
    );
    assert_eq!(pc["image"]["prefix"], "(,gpt2)/EFI/BOOT");
    let efi = by_target("x86_64-efi");
    assert_eq!(efi["location"], "partition 2: /EFI/BOOT/BOOTX64.EFI");
    assert_eq!(efi["image"]["prefix"], "/EFI/BOOT");
    let grub_text = std::fs::read_to_string(example("grub-hybrid")).unwrap();
    let grub_table = grub_text.split("[grub]").nth(1).unwrap();
    for m in toml_list(grub_table, "modules") {
        for g in [pc, efi] {
            let mods: Vec<&str> = g["image"]["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
                .collect();
            assert!(mods.contains(&m.as_str()), "{m} not in {mods:?}");
        }
    }
    if !boot_ready() {
        return;
    }
    ovmf_boot("grub-recipe-hybrid-ovmf", &img, "raw");
    seabios_boot("grub-recipe-hybrid-seabios", &img, "raw");
}

/// The example without `[grub]`, its input paths absolute, written to
/// `dir`; and the `[grub]` table's TOML text.
fn split_example(name: &str, dir: &Path) -> (PathBuf, String) {
    let text = std::fs::read_to_string(example(name)).unwrap();
    let (plain, grub) = text
        .split_once("\n[grub]\n")
        .expect("[grub] last in the example");
    let inputs = format!("{}/", root().join("examples/inputs").display());
    let p = dir.join(format!("{name}-plain.toml"));
    std::fs::write(&p, plain.replace("inputs/", &inputs)).unwrap();
    (p, format!("[grub]\n{grub}"))
}

/// A string array's items from the TOML text of `[grub]` (`modules`).
fn toml_list(grub: &str, key: &str) -> Vec<String> {
    let start = grub.find(&format!("\n{key} = [")).unwrap();
    let rest = &grub[start..];
    let body = &rest[rest.find('[').unwrap() + 1..rest.find(']').unwrap()];
    body.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

fn toml_config(grub: &str) -> String {
    let start = grub.find("config = \"\"\"\n").unwrap() + "config = \"\"\"\n".len();
    let len = grub[start..].find("\"\"\"").unwrap();
    grub[start..start + len].to_string()
}

/// By design `[grub]` is `grub::install` on the built disk, as the CLI's
/// grub-install runs it on the file: same epoch, same modules, same boot
/// directory, same grub.cfg, so the same bytes.
#[test]
fn grub_table_equals_plain_build_plus_grub_install() {
    if !inputs_ready() {
        return;
    }
    let inputs = root().join("examples/inputs");
    for (name, targets) in [
        ("grub-disk", vec![("x86_64-efi", "grub-efi-amd64-bin.deb")]),
        (
            "grub-hybrid",
            vec![
                ("i386-pc", "grub-pc-bin.deb"),
                ("x86_64-efi", "grub-efi-amd64-bin.deb"),
            ],
        ),
    ] {
        let d = scratch(&format!("grub-recipe-same-{name}"));
        let with = d.join("with.img");
        build(&example(name), &with, &[]);
        let (plain_recipe, grub) = split_example(name, &d);
        let plain = d.join("plain.img");
        build(&plain_recipe, &plain, &[]);
        let cfg = d.join("grub.cfg");
        std::fs::write(&cfg, toml_config(&grub)).unwrap();
        let modules = toml_list(&grub, "modules").join(" ");
        for (target, deb) in targets {
            run_ok(
                Command::new(imgforge())
                    .env("SOURCE_DATE_EPOCH", "1700000000")
                    .arg("grub-install")
                    .arg(format!("--target={target}"))
                    .arg("--directory")
                    .arg(inputs.join(deb))
                    .args(["--modules", &modules, "--boot-directory", "/EFI/BOOT"])
                    .arg("--config")
                    .arg(&cfg)
                    .arg(&plain),
            );
        }
        assert_eq!(
            sha256_file(&with),
            sha256_file(&plain),
            "{name}: [grub] and build + grub-install differ"
        );
    }
}

/// `output.format = "iso"` with `[grub]`: the rescue ISO grub-mkrescue
/// makes (`grub::mkrescue`), the recipe's files in it, `config` at
/// /boot/grub/grub.cfg; boots as a CD on SeaBIOS and OVMF.
#[test]
fn grub_iso_recipe_boots_as_cd_on_seabios_and_ovmf() {
    if !inputs_ready() {
        return;
    }
    let i = root().join("examples/inputs");
    let d = scratch("grub-recipe-iso");
    let r = d.join("iso.toml");
    std::fs::write(
        &r,
        format!(
            "[build]\nepoch = 1700000000\n[output]\nformat = \"iso\"\n[filesystem]\ncontents = [\n\
             {{ file = \"{}\", at = \"/vmlinuz\" }},\n{{ file = \"{}\", at = \"/initrd.img\" }},\n]\n\
             [grub]\ntargets = [\"i386-pc\", \"x86_64-efi\"]\n\
             sources = {{ \"i386-pc\" = \"{}\", \"x86_64-efi\" = \"{}\" }}\n\
             config = \"\"\"\nserial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n\
             set timeout=0\nmenuentry \"imgforge\" {{\n  linux /vmlinuz console=ttyS0 panic=-1\n  initrd /initrd.img\n}}\n\"\"\"\n",
            i.join("vmlinuz").display(),
            i.join("initrd.img").display(),
            i.join("grub-pc-bin.deb").display(),
            i.join("grub-efi-amd64-bin.deb").display(),
        ),
    )
    .unwrap();
    let iso = d.join("rescue.iso");
    build(&r, &iso, &[]);
    let cfg =
        run_ok(Command::new(imgforge()).args(["cat", &format!("{}:/boot/grub/grub.cfg", s(&iso))]));
    assert!(cfg.contains("linux /vmlinuz console=ttyS0"), "{cfg}");
    if !boot_ready() {
        return;
    }
    boot(
        "grub-recipe-iso-seabios",
        &["-cdrom", s(&iso), "-boot", "d", "-net", "none"],
    );
    boot(
        "grub-recipe-iso-ovmf",
        &["-bios", OVMF, "-cdrom", s(&iso), "-net", "none"],
    );
}

/// `config` absent: grub.cfg from `[boot]`, else the ESP contents' one
/// kept; `install_modules = false` copies no module folder.
#[test]
fn grub_cfg_from_boot_or_contents() {
    if !inputs_ready() {
        return;
    }
    let efi = root().join("examples/inputs/grub-efi-amd64-bin.deb");
    let d = scratch("grub-recipe-cfg");
    let recipe = |extra: &str, contents: &str| {
        format!(
            "[build]\nepoch = 1700000000\n[disk]\nsize = \"64M\"\n[[partition]]\ntype = \"ef00\"\nsize = \"rest\"\n\
             [partition.filesystem]\ntype = \"fat\"\ncontents = [{contents}]\n{extra}\n\
             [grub]\nsources = {{ \"x86_64-efi\" = \"{}\" }}\nmodules = [\"part_gpt\", \"fat\"]\ninstall_modules = false\n",
            efi.display()
        )
    };
    let cat = |img: &Path, path: &str| {
        run_ok(Command::new(imgforge()).args(["cat", &format!("{}:1:{path}", s(img))]))
    };
    let ls = |img: &Path| {
        run_ok(Command::new(imgforge()).args(["ls", &format!("{}:1:/EFI/BOOT", s(img))]))
    };
    // From [boot].
    let r = d.join("boot.toml");
    std::fs::write(
        &r,
        recipe(
            "[boot]\nkernel = \"/EFI/BOOT/vmlinuz\"\ninitrd = \"/EFI/BOOT/initrd\"\ncmdline = \"console=ttyS0\"\n",
            "",
        ),
    )
    .unwrap();
    let img = d.join("boot.img");
    build(&r, &img, &[]);
    let cfg = cat(&img, "/EFI/BOOT/grub.cfg");
    assert!(
        cfg.contains("\tlinux /EFI/BOOT/vmlinuz console=ttyS0\n"),
        "{cfg}"
    );
    assert!(cfg.contains("\tinitrd /EFI/BOOT/initrd\n"), "{cfg}");
    let l = ls(&img);
    assert!(
        l.contains("BOOTX64.EFI") && !l.contains("x86_64-efi"),
        "{l}"
    );
    // Kept from the ESP's contents.
    let r = d.join("kept.toml");
    std::fs::write(
        &r,
        recipe(
            "",
            "{ text = \"set timeout=7\\n\", at = \"/EFI/BOOT/grub.cfg\" }",
        ),
    )
    .unwrap();
    let img = d.join("kept.img");
    build(&r, &img, &[]);
    assert_eq!(cat(&img, "/EFI/BOOT/grub.cfg"), "set timeout=7\n");
}

fn fails_with(recipe_text: &str, name: &str, expect: &[&str]) {
    let d = scratch(name);
    let r = d.join("r.toml");
    std::fs::write(&r, recipe_text).unwrap();
    let out_path = d.join("out.img");
    let o = Command::new(imgforge())
        .arg("build")
        .arg(&r)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{name}: expected exit 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: "), "{name}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
    assert!(!err.contains("panicked"), "{name}: {err}");
    for e in expect {
        assert!(err.contains(e), "{name}: '{e}' not in: {err}");
    }
    assert!(!out_path.exists(), "{name}: a partial output file was left");
}

#[test]
fn bad_grub_tables_are_one_error_line() {
    if !inputs_ready() {
        return;
    }
    let inputs = root().join("examples/inputs");
    let efi = inputs.join("grub-efi-amd64-bin.deb");
    let pc = inputs.join("grub-pc-bin.deb");
    let disk = |grub: &str| {
        format!(
            "[disk]\nsize = \"64M\"\n[[partition]]\ntype = \"ef00\"\nsize = \"rest\"\n\
             [partition.filesystem]\ntype = \"fat\"\n\n[grub]\n{grub}"
        )
    };
    fails_with(
        &disk(&format!(
            "targets = [\"arm64-efi\"]\nsources = {{ \"arm64-efi\" = \"{}\" }}\n",
            efi.display()
        )),
        "grub-recipe-target",
        &["grub.targets[1]", "'arm64-efi'"],
    );
    fails_with(
        &disk("sources = { \"x86_64-efi\" = \"inputs/no-such.deb\" }\n"),
        "grub-recipe-missing-input",
        &["no-such.deb"],
    );
    fails_with(
        &disk("targets = [\"x86_64-efi\"]\n"),
        "grub-recipe-no-source",
        &["grub.sources.x86_64-efi", "missing"],
    );
    fails_with(
        &disk(&format!(
            "sources = {{ \"x86_64-efi\" = \"{}\" }}\nmodules = [\"fat\", \"no_such_mod\"]\n",
            efi.display()
        )),
        "grub-recipe-module",
        &["grub.modules", "'no_such_mod'"],
    );
    // The seed's EFI-only names on i386-pc: named, not dropped.
    fails_with(
        &disk(&format!(
            "targets = [\"i386-pc\"]\nsources = {{ \"i386-pc\" = \"{}\" }}\nmodules = [\"fat\", \"lsefi\"]\n",
            pc.display()
        )),
        "grub-recipe-efi-module-on-pc",
        &["grub.modules", "'lsefi'", "i386-pc"],
    );
    // The i386-pc package named for x86_64-efi.
    fails_with(
        &disk(&format!(
            "sources = {{ \"x86_64-efi\" = \"{}\" }}\n",
            pc.display()
        )),
        "grub-recipe-wrong-platform",
        &["grub.sources.x86_64-efi", "i386-pc"],
    );
    // i386-pc on a GPT disk without a BIOS boot partition.
    fails_with(
        &disk(&format!(
            "targets = [\"i386-pc\"]\nsources = {{ \"i386-pc\" = \"{}\" }}\nmodules = []\n",
            pc.display()
        )),
        "grub-recipe-no-ef02",
        &["EF02", "type = \"ef02\""],
    );
    fails_with(
        &format!(
            "[output]\nformat = \"iso\"\n[iso]\nbios_boot = \"/b\"\n[filesystem]\ncontents = [{{ text = \"x\", at = \"/b\" }}]\n\
             [grub]\nsources = {{ \"x86_64-efi\" = \"{}\" }}\n",
            efi.display()
        ),
        "grub-recipe-iso-boot-images",
        &["grub", "iso.bios_boot"],
    );
}
