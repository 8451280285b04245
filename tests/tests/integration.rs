//! The one integration test binary; each module says what it covers in its
//! first lines. Tools that are missing skip a test, except under CI=true,
//! where they fail it.

mod boot; // direct kernel + initramfs boots (QEMU), the boot harness itself
mod boot_images; // ISO (BIOS, UEFI, isohybrid) and GPT disk (UEFI, raw and qcow2) boots
mod cli_basics;
mod cli_errors; // exit 1 + one error line, no panic, no leftovers, --help everywhere, create sizes
mod convert_matrix; // convert between every pair of formats, info fields, inspect/ls through containers, recipe output formats
mod cpio; // GNU cpio vs our initramfs, tar sources
mod ext4; // e2fsck, debugfs, dumpe2fs, mke2fs -d images
mod fat; // fsck.vfat, mtools, mkfs.fat images
mod files; // ls/cat/extract on images made by mkfs.fat, mke2fs -d, xorriso, cpio, qcow2 partitions; hostile extracts
mod gpt; // sgdisk, sfdisk, qemu-img on GPT/MBR tables, resize, inspect, copy --sparse
mod grub; // grub-mkimage: x86_64-efi byte-identical to GRUB's tool, i386-pc payload, bad inputs, boots
mod grub_install; // grub-install into GPT/MBR disks (raw, qcow2): OVMF and SeaBIOS boots, sgdisk/fsck.vfat/qemu-img check, bad inputs, sparse
mod grub_recipe; // the [grub] recipe table: examples boot on OVMF/SeaBIOS, equal to build + grub-install, errors
mod grub_rescue; // grub-mkrescue: rescue ISO boots (SeaBIOS/OVMF, CD/disk), xorriso report, hybrid MBR sectors, bad inputs
mod iso; // xorriso, osirrox, isoinfo, sfdisk/sgdisk on ISOs, isolinux boots
mod layering; // no import cycle among the core's modules (bench/modgraph.py)
mod one_pass; // CLI (one pass, patched tables) == library into a stream (two passes) for vhd, vhdx, vmdk; qemu-img check
mod ova; // tar, sha256sum, XML, qemu-img on OVA
mod qcow2; // qemu-img check/info/compare both ways
mod qcow2_edit; // resize --grow-last and part on qcow2 in place: qemu-img check, sgdisk, e2fsck, same bytes as raw
mod recipes; // example recipes end to end, bad recipes
mod vagrant_box; // tar -tzf, metadata.json, qemu-img on boxes
mod vhd; // qemu-img on VHD fixed/dynamic
mod vhdx; // qemu-img on VHDX
mod vmdk; // qemu-img on VMDK sparse/stream/flat
