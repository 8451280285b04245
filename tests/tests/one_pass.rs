//! One-pass writers: `imgforge convert` into a file (a sink that can patch:
//! VHD dynamic, VHDX and VMDK monolithicSparse read the disk once and patch
//! their tables in) gives the same bytes as the library writing into a pure
//! stream (two passes), and qemu-img accepts it.
use super::vhdx::{qemu_check, qemu_compare, sample_disk, write_raw};
use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::io::{NoProgress, WriteSink};
use imgforge_core::Disk;
use imgforge_tests::*;
use std::process::Command;
use std::sync::Arc;

#[test]
fn cli_one_pass_equals_library_two_passes() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("one_pass");
    let size = (100 << 20) + 4096;
    let mut disk = sample_disk(size);
    // Data in the middle of a block after allocated zeros.
    disk.write_vec(20 << 20, vec![0; 3 << 20]).unwrap();
    disk.write(22 << 20, b"late in the block").unwrap();
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    let whole = Disk::from_whole(Arc::new(std::fs::read(&raw).unwrap())).unwrap();
    for (name, fmt, sub, qemu) in [
        ("vhd", Format::Vhd, "dynamic", "vpc"),
        ("vhdx", Format::Vhdx, "dynamic", "vhdx"),
        ("vmdk", Format::Vmdk, "monolithicSparse", "vmdk"),
    ] {
        let ours = dir.join(format!("cli.{name}"));
        run_ok(
            Command::new(imgforge())
                .env_remove("SOURCE_DATE_EPOCH")
                .args(["convert", "-O", name, "-o", &format!("subformat={sub}")])
                .arg(&raw)
                .arg(&ours),
        );
        let mut opts = WriteOptions::default();
        opts.subformat = Some(sub.into());
        let mut stream = WriteSink::new(Vec::new());
        container::write(fmt, &whole, &opts, &mut stream, &NoProgress).unwrap();
        let cli = std::fs::read(&ours).unwrap();
        assert!(cli == stream.inner, "{name}: one pass (CLI) != two passes");
        if qemu != "vpc" {
            qemu_check(qemu, &ours);
        }
        qemu_compare(&raw, qemu, &ours);
    }
}
