//! VHDX: our writer checked by qemu-img (check, info, compare), and images
//! made by `qemu-img convert -O vhdx` read back by our reader.

use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::io::{NoProgress, ReadAt, WriteSink};
use imgforge_core::Disk;
use imgforge_tests::*;
use std::path::Path;
use std::sync::Arc;

/// A 100 MiB disk with data in a few places (first block, a block end,
/// the last sector), the rest holes.
pub fn sample_disk(size: u64) -> Disk {
    let mut d = Disk::new(size);
    let pattern: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    d.write(0, &pattern).unwrap();
    d.write(9 * 1024 * 1024 - 100, &[0xAB; 4096]).unwrap();
    d.write(size - 512, &[0x5A; 512]).unwrap();
    // Allocated but all zeros: must not be stored.
    d.write(40 * 1024 * 1024, &vec![0u8; 1 << 20]).unwrap();
    d
}

pub fn write_file(format: Format, disk: &Disk, opts: &WriteOptions, path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut sink = WriteSink::new(std::io::BufWriter::new(f));
    container::write(format, disk, opts, &mut sink, &NoProgress).unwrap();
}

pub fn write_raw(disk: &Disk, path: &Path) {
    write_file(Format::Raw, disk, &WriteOptions::default(), path);
}

pub fn read_all(d: &dyn ReadAt) -> Vec<u8> {
    let mut v = vec![0u8; d.size() as usize];
    d.read_at(0, &mut v).unwrap();
    v
}

pub fn open_file(path: &Path, format: Option<Format>) -> container::Opened {
    let data = std::fs::read(path).unwrap();
    container::open(Arc::new(data), format).unwrap()
}

pub fn qemu_info(path: &Path) -> serde_json::Value {
    let out = run_ok(tool("qemu-img").args(["info", "--output=json"]).arg(path));
    serde_json::from_str(&out).unwrap()
}

pub fn qemu_compare(raw: &Path, fmt: &str, img: &Path) {
    let out = run_ok(
        tool("qemu-img")
            .args(["compare", "-f", "raw", "-F", fmt])
            .arg(raw)
            .arg(img),
    );
    assert!(out.contains("Images are identical"), "{out}");
}

pub fn qemu_check(fmt: &str, img: &Path) {
    let out = run_ok(tool("qemu-img").args(["check", "-f", fmt]).arg(img));
    assert!(out.contains("No errors were found"), "{out}");
}

#[test]
fn vhdx_written_is_accepted_by_qemu_img() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vhdx_written");
    let size = 100 << 20;
    let disk = sample_disk(size);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    for sub in ["dynamic", "fixed"] {
        let img = dir.join(format!("{sub}.vhdx"));
        let mut opts = WriteOptions::default();
        opts.subformat = Some(sub.into());
        write_file(Format::Vhdx, &disk, &opts, &img);
        qemu_check("vhdx", &img);
        let info = qemu_info(&img);
        assert_eq!(info["format"], "vhdx");
        assert_eq!(info["virtual-size"], size);
        qemu_compare(&raw, "vhdx", &img);
        // Our reader gives the same bytes back.
        let opened = open_file(&img, None);
        assert_eq!(opened.info.virtual_size, size);
        assert!(read_all(&opened.disk) == read_all(&disk));
        let len = std::fs::metadata(&img).unwrap().len();
        if sub == "dynamic" {
            // 3 MiB header+log+metadata, 1 MiB BAT, 2 stored 8 MiB blocks
            // (block 0 with the pattern and the 9 MiB write, the last block).
            assert_eq!(len, 4 * 1024 * 1024 + 3 * 8 * 1024 * 1024, "{sub}");
        } else {
            assert_eq!(len, 4 * 1024 * 1024 + 104 * 1024 * 1024, "{sub}");
        }
    }
}

#[test]
fn vhdx_from_qemu_img_reads_back() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vhdx_from_qemu");
    let disk = sample_disk(50 << 20);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    for sub in ["dynamic", "fixed"] {
        let img = dir.join(format!("q-{sub}.vhdx"));
        run_ok(
            tool("qemu-img")
                .args(["convert", "-f", "raw", "-O", "vhdx", "-o"])
                .arg(format!("subformat={sub}"))
                .arg(&raw)
                .arg(&img),
        );
        let opened = open_file(&img, None);
        assert_eq!(opened.info.format, "vhdx");
        assert_eq!(opened.info.virtual_size, 50 << 20);
        assert!(read_all(&opened.disk) == read_all(&disk), "{sub}");
    }
}
