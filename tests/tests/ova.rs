//! OVA: member order, manifest verified by sha256sum, OVF well-formed with
//! the facts we put in, the VMDK inside identical to the source per qemu-img,
//! and our reader opening the archive in place.

use super::vhdx::{
    open_file, qemu_check, qemu_compare, read_all, sample_disk, write_file, write_raw,
};
use imgforge_core::container::{Format, WriteOptions};
use imgforge_tests::*;

#[test]
fn ova_members_manifest_ovf_and_disk() {
    if !have("qemu-img") || !have("tar") || !have("sha256sum") {
        return;
    }
    let dir = scratch("ova_written");
    let size = 64 << 20;
    let disk = sample_disk(size);
    let raw = dir.join("src.raw");
    write_raw(&disk, &raw);
    let ova = dir.join("vm.ova");
    let mut opts = WriteOptions::default();
    opts.vm.name = "demo".into();
    opts.vm.cpus = 2;
    opts.vm.memory_mib = 2048;
    write_file(Format::Ova, &disk, &opts, &ova);

    let list = run_ok(tool("tar").arg("-tvf").arg(&ova));
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(names, ["demo.ovf", "demo-disk1.vmdk", "demo.mf"], "{list}");
    assert!(
        list.lines().all(|l| l.starts_with("-rw-r--r-- 0/0")),
        "{list}"
    );
    assert!(list.contains("2024-01-01"), "mtime is ctx.epoch: {list}");

    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    run_ok(tool("tar").arg("-xf").arg(&ova).arg("-C").arg(&x));
    let check = run_ok(tool("sha256sum").arg("-c").arg("demo.mf").current_dir(&x));
    assert_eq!(check.matches(": OK").count(), 2, "{check}");

    let vmdk = x.join("demo-disk1.vmdk");
    qemu_check("vmdk", &vmdk);
    qemu_compare(&raw, "vmdk", &vmdk);

    // The OVF is well-formed XML with what we asked for.
    let text = std::fs::read_to_string(x.join("demo.ovf")).unwrap();
    let mut r = quick_xml::Reader::from_str(&text);
    let mut elements = 0;
    loop {
        match r.read_event().expect("OVF is well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_) => {
                elements += 1
            }
            _ => {}
        }
    }
    assert!(elements > 40);
    let facts = imgforge_core::ova::parse_ovf(&text).unwrap();
    assert_eq!(facts.cpus, Some(2));
    assert_eq!(facts.memory_mib, Some(2048));
    assert_eq!(facts.name.as_deref(), Some("demo"));
    let vmdk_len = std::fs::metadata(&vmdk).unwrap().len();
    assert_eq!(
        facts.files,
        vec![("file1".into(), "demo-disk1.vmdk".into(), Some(vmdk_len))]
    );
    assert_eq!(facts.disks[0].2, Some(size));
    assert!(facts.disks[0].3.ends_with("#streamOptimized"));

    // Our reader opens the disk inside the archive.
    let opened = open_file(&ova, None);
    assert_eq!(opened.info.format, "ova");
    assert_eq!(opened.info.virtual_size, size);
    assert!(read_all(&opened.disk) == read_all(&disk));

    // Deterministic: the same inputs give the same bytes.
    let again = dir.join("again.ova");
    write_file(Format::Ova, &disk, &opts, &again);
    assert_eq!(sha256_file(&ova), sha256_file(&again));
}
