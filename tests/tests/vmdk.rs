//! VMDK: monolithicSparse and streamOptimized written by us and checked by
//! qemu-img; qemu-img's sparse, stream and flat VMDKs read back by us.

use super::vhdx::{
    open_file, qemu_check, qemu_compare, qemu_info, read_all, sample_disk, write_file, write_raw,
};
use imgforge_core::container::{Format, WriteOptions};
use imgforge_core::io::Source;
use imgforge_core::vmdk;
use imgforge_tests::*;
use std::sync::Arc;

#[test]
fn vmdk_written_is_accepted_by_qemu_img() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vmdk_written");
    let size = 100 << 20;
    let disk = sample_disk(size);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    for sub in ["monolithicSparse", "streamOptimized"] {
        let img = dir.join(format!("{sub}.vmdk"));
        let mut opts = WriteOptions::default();
        opts.subformat = Some(sub.into());
        opts.set("adapter_type", "lsilogic").unwrap();
        write_file(Format::Vmdk, &disk, &opts, &img);
        qemu_check("vmdk", &img);
        let info = qemu_info(&img);
        assert_eq!(info["format"], "vmdk");
        assert_eq!(info["virtual-size"], size);
        assert_eq!(
            info["format-specific"]["data"]["create-type"], sub,
            "{info}"
        );
        qemu_compare(&raw, "vmdk", &img);
        let opened = open_file(&img, None);
        assert_eq!(opened.info.virtual_size, size);
        assert!(read_all(&opened.disk) == read_all(&disk), "{sub}");
        let d = vmdk::read::embedded_descriptor(Arc::new(std::fs::read(&img).unwrap()))
            .unwrap()
            .unwrap();
        assert_eq!(d.ddb("ddb.adapterType"), Some("lsilogic"));
        assert_eq!(d.ddb("ddb.geometry.heads"), Some("255"));
    }
}

#[test]
fn vmdk_from_qemu_img_reads_back() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vmdk_from_qemu");
    let disk = sample_disk(50 << 20);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    for sub in ["monolithicSparse", "streamOptimized"] {
        let img = dir.join(format!("q-{sub}.vmdk"));
        run_ok(
            tool("qemu-img")
                .args(["convert", "-f", "raw", "-O", "vmdk", "-o"])
                .arg(format!("subformat={sub}"))
                .arg(&raw)
                .arg(&img),
        );
        let opened = open_file(&img, None);
        assert_eq!(opened.info.format, "vmdk");
        assert_eq!(opened.info.virtual_size, 50 << 20);
        assert!(read_all(&opened.disk) == read_all(&disk), "{sub}");
    }
}

#[test]
fn vmdk_monolithic_flat_descriptor_reads_through_open_descriptor() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vmdk_flat");
    let img = dir.join("flat.vmdk");
    run_ok(
        tool("qemu-img")
            .args([
                "create",
                "-q",
                "-f",
                "vmdk",
                "-o",
                "subformat=monolithicFlat",
            ])
            .arg(&img)
            .arg("8M"),
    );
    // Put data in the flat extent through qemu-io-free means: write it.
    let flat = dir.join("flat-flat.vmdk");
    let mut data = std::fs::read(&flat).unwrap();
    assert_eq!(data.len(), 8 << 20);
    data[4096..4100].copy_from_slice(b"imgf");
    std::fs::write(&flat, &data).unwrap();
    let text = std::fs::read_to_string(&img).unwrap();
    let d2 = dir.clone();
    let resolve = move |name: &str| -> imgforge_core::Result<Source> {
        Ok(Arc::new(std::fs::read(d2.join(name)).unwrap()))
    };
    let opened = vmdk::open_descriptor(&text, &resolve).unwrap();
    assert_eq!(opened.info.virtual_size, 8 << 20);
    assert!(read_all(&opened.disk) == data);
    // The descriptor alone is refused by open() with a pointer to open_descriptor.
    let e = imgforge_core::container::open(Arc::new(text.into_bytes()), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("open_descriptor"), "{e}");
}

#[test]
fn vmdk_two_gb_split_descriptors_read_through_open_descriptor() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vmdk_split");
    let disk = sample_disk(50 << 20);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    for sub in ["twoGbMaxExtentSparse", "twoGbMaxExtentFlat"] {
        let img = dir.join(format!("{sub}.vmdk"));
        run_ok(
            tool("qemu-img")
                .args(["convert", "-f", "raw", "-O", "vmdk", "-o"])
                .arg(format!("subformat={sub}"))
                .arg(&raw)
                .arg(&img),
        );
        let text = std::fs::read_to_string(&img).unwrap();
        assert!(text.contains(sub), "{text}");
        let d2 = dir.clone();
        let resolve = move |name: &str| -> imgforge_core::Result<Source> {
            Ok(Arc::new(std::fs::read(d2.join(name)).unwrap()))
        };
        let opened = vmdk::open_descriptor(&text, &resolve).unwrap();
        assert_eq!(opened.info.virtual_size, 50 << 20);
        assert!(read_all(&opened.disk) == read_all(&disk), "{sub}");
    }
}
