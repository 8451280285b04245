//! Boot tests: qemu-system-x86_64 (TCG) boots Debian's kernel with images we
//! build and waits for the line our /init prints (harness: tests/src/qemu.rs).
use imgforge_tests::qemu::{self, boot, kernel, test_initramfs_tree, write_initramfs};
use imgforge_tests::*;

/// A: direct kernel boot (-kernel/-initrd) of our gzip initramfs.
#[test]
fn boot_a_direct_kernel_initramfs() {
    if !qemu::have_qemu() || !have("busybox") {
        return;
    }
    let Some(k) = kernel() else { return };
    let dir = scratch("boot_a");
    let initrd = dir.join("initrd.gz");
    write_initramfs(&test_initramfs_tree(1_700_000_000), &initrd);
    let log = boot(
        "a",
        &[
            "-kernel",
            k.to_str().unwrap(),
            "-initrd",
            initrd.to_str().unwrap(),
            "-append",
            "console=ttyS0 panic=-1",
        ],
    );
    assert!(log.contains("Linux version"), "{log}");
}

/// The harness itself: an initramfs whose /init exits must be reported as a
/// kernel panic, not as a boot.
#[test]
fn boot_harness_reports_a_kernel_panic() {
    if !qemu::have_qemu() || !have("busybox") {
        return;
    }
    let Some(k) = kernel() else { return };
    let dir = scratch("boot_panic");
    let initrd = dir.join("initrd.gz");
    let mut t = test_initramfs_tree(1_700_000_000);
    // /init prints something else and exits: "Attempted to kill init".
    t.add_file("init", b"#!/bin/sh\necho not-the-marker\nexit 0\n".to_vec())
        .unwrap();
    let id = t.lookup("init").unwrap();
    t.node_mut(id).meta.mode = 0o755;
    write_initramfs(&t, &initrd);
    let err = qemu::try_boot(
        "panic",
        &[
            "-kernel",
            k.to_str().unwrap(),
            "-initrd",
            initrd.to_str().unwrap(),
            "-append",
            "console=ttyS0 panic=-1",
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("kernel panic") && err.contains("not-the-marker"),
        "{err}"
    );
}

/// A under UEFI: OVMF loads the kernel (EFI stub) and our initramfs through
/// fw_cfg; checks the harness's OVMF set-up the disk and ISO tests use.
#[test]
fn boot_a_uefi_direct_kernel_initramfs() {
    if !qemu::have_qemu() || !have("busybox") {
        return;
    }
    let Some(k) = kernel() else { return };
    let dir = scratch("boot_a_uefi");
    let Some(uefi) = qemu::uefi_args(&dir) else {
        eprintln!("skipping: OVMF not installed");
        return;
    };
    let initrd = dir.join("initrd.gz");
    write_initramfs(&test_initramfs_tree(1_700_000_000), &initrd);
    let mut args: Vec<&str> = uefi.iter().map(String::as_str).collect();
    args.extend([
        "-kernel",
        k.to_str().unwrap(),
        "-initrd",
        initrd.to_str().unwrap(),
        "-append",
        "console=ttyS0 panic=-1",
    ]);
    let log = boot("a-uefi", &args);
    assert!(log.contains("efi: EFI v"), "{log}");
}
