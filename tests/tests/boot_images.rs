//! Images built from the example recipes really boot, in qemu-system-x86_64
//! under TCG, until the busybox /init prints its marker:
//! B: the ISO with isolinux from a CD-ROM under SeaBIOS;
//! C: the GPT disk (ESP FAT + ext4 root, systemd-boot) under OVMF, raw and
//!    as qcow2;
//! D: the ISO through its UEFI El Torito entry under OVMF;
//! and the hybrid ISO as a hard disk (isohybrid MBR) under SeaBIOS.

use imgforge_tests::qemu::{boot, have_qemu};
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

fn ready() -> bool {
    if !have_qemu() {
        return false;
    }
    let ok = root().join("examples/inputs/initrd.img").is_file()
        && root().join("examples/inputs/vmlinuz").is_file();
    if !ok {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("examples/inputs missing: ./build.sh setup runs examples/get-inputs.sh");
        }
        eprintln!("skipping: examples/inputs missing");
    }
    ok
}

fn ovmf() -> bool {
    let ok = Path::new(OVMF).is_file();
    if !ok && std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{OVMF} missing: ./build.sh setup installs ovmf");
    }
    ok
}

/// Builds `recipe` into a scratch directory of the test's own, so tests
/// running at once never share a file.
fn build(test: &str, recipe: &str, name: &str, extra: &[&str]) -> PathBuf {
    let d = scratch(&format!("bootimg-{test}"));
    let out = d.join(name);
    run_ok(
        Command::new(imgforge())
            .arg("build")
            .arg(root().join(recipe))
            .arg("-o")
            .arg(&out)
            .args(extra),
    );
    out
}

#[test]
fn b_iso_isolinux_seabios() {
    if !ready() {
        return;
    }
    let iso = build("b", "examples/iso.toml", "live.iso", &[]);
    boot(
        "iso-bios",
        &[
            "-cdrom",
            &iso.to_string_lossy(),
            "-boot",
            "d",
            "-net",
            "none",
        ],
    );
}

#[test]
fn c_gpt_disk_ovmf_raw() {
    if !ready() || !ovmf() {
        return;
    }
    let img = build("c-raw", "examples/bootable-disk.toml", "disk.img", &[]);
    let drive = format!("file={},format=raw,if=virtio", img.display());
    boot(
        "disk-uefi-raw",
        &["-bios", OVMF, "-drive", &drive, "-net", "none"],
    );
}

#[test]
fn c_gpt_disk_ovmf_qcow2() {
    if !ready() || !ovmf() {
        return;
    }
    let img = build(
        "c-qcow2",
        "examples/bootable-disk.toml",
        "disk.qcow2",
        &["-O", "qcow2"],
    );
    let drive = format!("file={},format=qcow2,if=virtio", img.display());
    boot(
        "disk-uefi-qcow2",
        &["-bios", OVMF, "-drive", &drive, "-net", "none"],
    );
}

#[test]
fn d_iso_uefi_el_torito_ovmf() {
    if !ready() || !ovmf() {
        return;
    }
    let iso = build("d", "examples/iso.toml", "live.iso", &[]);
    boot(
        "iso-uefi",
        &[
            "-bios",
            OVMF,
            "-cdrom",
            &iso.to_string_lossy(),
            "-boot",
            "d",
            "-net",
            "none",
        ],
    );
}

#[test]
fn isohybrid_iso_boots_as_a_hard_disk() {
    if !ready() {
        return;
    }
    let iso = build("hybrid", "examples/iso.toml", "live.iso", &[]);
    let drive = format!("file={},format=raw,if=ide", iso.display());
    boot("iso-hybrid-hdd", &["-drive", &drive, "-net", "none"]);
}
