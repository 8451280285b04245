//! VHD (qemu's vpc) against qemu-img: fixed and dynamic images imgforge
//! writes have the size qemu computes and the same contents (`qemu-img
//! compare`; vpc has no `check`), dynamic ones the same length as qemu's;
//! images qemu-img writes read back to the same bytes.
use crate::qcow2::{compare, imgforge_info, qemu_info, same_bytes, test_disk};
use imgforge_tests::*;
use std::process::Command;

#[test]
fn vhd_both_ways_with_qemu_img() {
    if !have("qemu-img") {
        return;
    }
    let dir = scratch("vhd");
    let src = test_disk(&dir);
    for sub in ["fixed", "dynamic"] {
        let ours = dir.join(format!("ours-{sub}.vhd"));
        run_ok(
            Command::new(imgforge())
                .args(["convert", "-O", "vhd", "-o", &format!("subformat={sub}")])
                .arg(&src)
                .arg(&ours),
        );
        let theirs = dir.join(format!("qemu-{sub}.vhd"));
        run_ok(
            tool("qemu-img")
                .args(["convert", "-O", "vpc", "-o", &format!("subformat={sub}")])
                .arg(&src)
                .arg(&theirs),
        );
        let qi = qemu_info(&ours, "vpc");
        assert_eq!(qi["format"], "vpc");
        // Rounded up to a CHS geometry exactly as qemu-img rounds.
        assert_eq!(
            qi["virtual-size"],
            qemu_info(&theirs, "vpc")["virtual-size"]
        );
        assert_eq!(imgforge_info(&ours)["virtual-size"], qi["virtual-size"]);
        compare(&src, "vpc", &ours);
        assert_eq!(
            std::fs::metadata(&ours).unwrap().len(),
            std::fs::metadata(&theirs).unwrap().len()
        );
        let raw = dir.join(format!("qemu-{sub}.raw"));
        run_ok(
            Command::new(imgforge())
                .args(["convert", "-f", "vpc", "-O", "raw"])
                .arg(&theirs)
                .arg(&raw),
        );
        same_bytes(&src, &raw);
    }
}
