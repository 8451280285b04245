//! Vagrant boxes: tar.gz members, metadata.json, the VirtualBox disk checked
//! by qemu-img, and our reader opening gzip'd and plain-tar boxes.

use super::vhdx::{
    open_file, qemu_check, qemu_compare, read_all, sample_disk, write_file, write_raw,
};
use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::io::{NoProgress, WriteSink};
use imgforge_tests::*;

fn list(path: &std::path::Path) -> Vec<String> {
    run_ok(tool("tar").arg("-tzf").arg(path))
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn box_virtualbox_members_metadata_and_disk() {
    if !have("qemu-img") || !have("tar") {
        return;
    }
    let dir = scratch("box_virtualbox");
    let size = 48 << 20;
    let disk = sample_disk(size);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    let boxf = dir.join("vb.box");
    let mut opts = WriteOptions::default();
    opts.subformat = Some("virtualbox".into());
    write_file(Format::Box, &disk, &opts, &boxf);
    assert_eq!(
        list(&boxf),
        [
            "metadata.json",
            "Vagrantfile",
            "box.ovf",
            "box-disk001.vmdk"
        ]
    );
    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    run_ok(tool("tar").arg("-xzf").arg(&boxf).arg("-C").arg(&x));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["provider"], "virtualbox");
    let ovf = std::fs::read_to_string(x.join("box.ovf")).unwrap();
    let facts = imgforge_core::ova::parse_ovf(&ovf).unwrap();
    assert_eq!(facts.files[0].1, "box-disk001.vmdk");
    assert_eq!(facts.system_type.as_deref(), Some("virtualbox-2.2"));
    let vmdk = x.join("box-disk001.vmdk");
    qemu_check("vmdk", &vmdk);
    qemu_compare(&raw, "vmdk", &vmdk);

    let opened = open_file(&boxf, None);
    assert_eq!(opened.info.format, "box");
    assert_eq!(
        opened.info.format_specific.as_ref().unwrap()["provider"],
        "virtualbox"
    );
    assert!(read_all(&opened.disk) == read_all(&disk));

    // A plain (uncompressed) tar box is read in place.
    let plain = dir.join("plain.box");
    run_ok(tool("tar").arg("-cf").arg(&plain).arg("-C").arg(&x).args([
        "metadata.json",
        "Vagrantfile",
        "box.ovf",
        "box-disk001.vmdk",
    ]));
    let opened = open_file(&plain, Some(Format::Box));
    assert!(read_all(&opened.disk) == read_all(&disk));

    // Deterministic gzip (header mtime 0).
    let again = dir.join("again.box");
    write_file(Format::Box, &disk, &opts, &again);
    assert_eq!(sha256_file(&boxf), sha256_file(&again));
}

#[test]
fn box_libvirt_members_and_metadata() {
    if !have("tar") {
        return;
    }
    let dir = scratch("box_libvirt");
    let disk = sample_disk(48 << 20);
    let boxf = dir.join("lv.box");
    let f = std::fs::File::create(&boxf).unwrap();
    let mut sink = WriteSink::new(f);
    let r = container::write(
        Format::Box,
        &disk,
        &WriteOptions::default(),
        &mut sink,
        &NoProgress,
    );
    if let Err(e) = &r {
        // The qcow2 writer lives in another branch; until it is merged the
        // libvirt box cannot be made.
        assert!(e.to_string().contains("qcow2"), "{e}");
        eprintln!("skipping libvirt box: {e}");
        return;
    }
    drop(sink);
    assert_eq!(list(&boxf), ["metadata.json", "Vagrantfile", "box.img"]);
    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    run_ok(tool("tar").arg("-xzf").arg(&boxf).arg("-C").arg(&x));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(x.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["provider"], "libvirt");
    assert_eq!(meta["format"], "qcow2");
    assert_eq!(meta["virtual_size"], 1);
    if have("qemu-img") {
        qemu_check("qcow2", &x.join("box.img"));
    }
}
