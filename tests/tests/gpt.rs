//! GPT/MBR partition tables, raw images, resize, inspect and copy through
//! the CLI, checked with sgdisk, sfdisk, qemu-img, stat and cmp.
use imgforge_tests::*;
use std::path::Path;
use std::process::{Command, Output};

const SEED_LINE: &[&str] = &[
    "--clear",
    "--new",
    "1::+100M",
    "--typecode=1:ef00",
    "--change-name=1:EFI System",
    "--new",
    "2::-0",
    "--typecode=2:8300",
    "--change-name=2:slim-rootfs",
    "--attributes",
    "1:set:2",
];

fn imgf(args: &[&str]) -> Output {
    run(Command::new(imgforge()).args(args))
}

fn imgf_ok(args: &[&str]) -> String {
    run_ok(Command::new(imgforge()).args(args))
}

fn imgf_err(args: &[&str]) -> String {
    let out = imgf(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `sgdisk -p` partition lines as (number, start, end, code, name).
fn sgdisk_parts(dev: &str) -> Vec<(u32, u64, u64, String, String)> {
    let out = run_ok(tool("sgdisk").args(["-p", dev]));
    let mut v = Vec::new();
    let mut in_table = false;
    for line in out.lines() {
        if line.starts_with("Number") {
            in_table = true;
            continue;
        }
        if !in_table || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        // number start end size unit code name...
        v.push((
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[5].to_string(),
            f[6..].join(" "),
        ));
    }
    v
}

fn sgdisk_verify_clean(dev: &str) {
    let out = run_ok(tool("sgdisk").args(["-v", dev]));
    assert!(out.contains("No problems found"), "{out}");
}

fn seed_image(dir: &Path, size: &str) -> std::path::PathBuf {
    let img = dir.join("disk.img");
    imgf_ok(&["create", s(&img), size]);
    let mut a = vec!["part"];
    a.extend_from_slice(SEED_LINE);
    a.push(s(&img));
    imgf_ok(&a);
    img
}

#[test]
fn seed_line_sgdisk_agrees_512() {
    if !have("sgdisk") {
        return;
    }
    let d = scratch("gpt_seed_512");
    let img = seed_image(&d, "1G");
    sgdisk_verify_clean(s(&img));
    assert_eq!(
        sgdisk_parts(s(&img)),
        vec![
            (1, 2048, 206847, "EF00".into(), "EFI System".into()),
            (2, 206848, 2097118, "8300".into(), "slim-rootfs".into()),
        ]
    );
    let info = run_ok(tool("sgdisk").args(["-i", "1", s(&img)]));
    assert!(info.contains("Attribute flags: 0000000000000004"), "{info}");
    // Only the table sectors are allocated in the sparse file.
    let blocks: u64 = run_ok(tool("stat").args(["-c", "%b", s(&img)]))
        .trim()
        .parse()
        .unwrap();
    assert!(blocks * 512 <= 256 * 1024, "{blocks} blocks");
}

#[test]
fn seed_line_sgdisk_agrees_4096() {
    if !have("sgdisk") || !have("losetup") {
        return;
    }
    let d = scratch("gpt_seed_4096");
    let img = d.join("disk.img");
    imgf_ok(&["create", s(&img), "256M"]);
    let mut a = vec!["part", "--sector-size", "4096"];
    a.extend_from_slice(SEED_LINE);
    a.push(s(&img));
    imgf_ok(&a);
    // sgdisk sees 4096-byte sectors only through a block device.
    let out = run(tool("losetup").args(["--sector-size", "4096", "-f", "--show", s(&img)]));
    if !out.status.success() {
        eprintln!(
            "skipping: losetup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let p = std::panic::catch_unwind(|| {
        sgdisk_verify_clean(&dev);
        let parts = sgdisk_parts(&dev);
        let pr = run_ok(tool("sgdisk").args(["-p", &dev]));
        (parts, pr)
    });
    run(tool("losetup").args(["-d", &dev]));
    let (parts, pr) = p.unwrap();
    assert!(
        pr.contains("4096/4096 bytes") || pr.contains("(logical): 4096"),
        "{pr}"
    );
    assert_eq!(
        parts,
        vec![
            (1, 256, 25855, "EF00".into(), "EFI System".into()),
            (2, 25856, 65530, "8300".into(), "slim-rootfs".into()),
        ]
    );
}

#[test]
fn sfdisk_reads_our_mbr_with_logical_partitions() {
    if !have("sfdisk") {
        return;
    }
    let d = scratch("gpt_mbr_sfdisk");
    let img = d.join("mbr.img");
    imgf_ok(&["create", s(&img), "1G"]);
    imgf_ok(&[
        "part",
        "--mbr",
        "-o",
        "-n",
        "1::+100M",
        "-t",
        "1:ef",
        "-A",
        "1:set:2",
        "-n",
        "2::+200M",
        "-t",
        "2:82",
        "-n",
        "4::-0",
        "-t",
        "4:05",
        "-n",
        "5::+100M",
        "-n",
        "6::+50M",
        "-t",
        "6:0700",
        "-n",
        "7::-0",
        s(&img),
    ]);
    let j: serde_json::Value =
        serde_json::from_str(&run_ok(tool("sfdisk").args(["--json", s(&img)]))).unwrap();
    let parts = j["partitiontable"]["partitions"].as_array().unwrap();
    let got: Vec<(u64, u64, String, bool)> = parts
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap(),
                p["size"].as_u64().unwrap(),
                p["type"].as_str().unwrap().to_string(),
                p["bootable"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let want: Vec<(u64, u64, String, bool)> = [
        (2048, 204800, "ef", true),
        (206848, 409600, "82", false),
        (616448, 1480704, "5", false),
        (618496, 204800, "83", false),
        (825344, 102400, "7", false),
        (929792, 1167360, "83", false),
    ]
    .iter()
    .map(|&(a, b, c, d)| (a, b, c.to_string(), d))
    .collect();
    assert_eq!(got, want);
    let nodes: Vec<&str> = parts.iter().map(|p| p["node"].as_str().unwrap()).collect();
    assert!(nodes[5].ends_with("mbr.img7"), "{nodes:?}");
    let v = run_ok(tool("sfdisk").args(["-V", s(&img)]));
    assert!(v.contains("No errors detected"), "{v}");
    // Our inspect reads the same table back.
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    let t = &r["partition_table"];
    assert_eq!(t["type"], "mbr");
    assert_eq!(t["partitions"][5]["start"], 929792);
    assert_eq!(t["partitions"][5]["logical"], true);
    assert_eq!(t["partitions"][0]["bootable"], true);
}

#[test]
fn qemu_img_sees_raw_image_size() {
    if !have("qemu-img") {
        return;
    }
    let d = scratch("gpt_qemu_info");
    let img = d.join("raw.img");
    imgf_ok(&["create", "-f", "raw", s(&img), "3G"]);
    let j: serde_json::Value = serde_json::from_str(&run_ok(tool("qemu-img").args([
        "info",
        "--output=json",
        s(&img),
    ])))
    .unwrap();
    assert_eq!(j["format"], "raw");
    assert_eq!(j["virtual-size"], 3u64 << 30);
    assert!(j["actual-size"].as_u64().unwrap() < 1 << 20);
    // A raw image without a table grows like qemu-img resize.
    imgf_ok(&["resize", s(&img), "+1G"]);
    let j: serde_json::Value = serde_json::from_str(&run_ok(tool("qemu-img").args([
        "info",
        "--output=json",
        s(&img),
    ])))
    .unwrap();
    assert_eq!(j["virtual-size"], 4u64 << 30);
    // qemu-img rounds sizes up to whole sectors; so do we.
    let odd = d.join("odd.img");
    imgf_ok(&["create", s(&odd), "1000"]);
    assert_eq!(std::fs::metadata(&odd).unwrap().len(), 1024);
}

#[test]
fn inspect_reads_a_gpt_made_by_sgdisk() {
    if !have("sgdisk") {
        return;
    }
    let d = scratch("gpt_inspect_sgdisk");
    let img = d.join("sg.img");
    imgf_ok(&["create", s(&img), "512M"]);
    run_ok(tool("sgdisk").args([
        "-o",
        "-n",
        "1::+64M",
        "-t",
        "1:ef00",
        "-c",
        "1:ESP",
        "-n",
        "3::+100M",
        "-t",
        "3:8304",
        "-c",
        "3:root x86-64",
        "-A",
        "3:set:63",
        "-n",
        "2::-0",
        "-t",
        "2:8e00",
        s(&img),
    ]));
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    let t = &r["partition_table"];
    assert_eq!(t["type"], "gpt");
    assert_eq!(r["warnings"].as_array().unwrap().len(), 0, "{r}");
    let sg = run_ok(tool("sgdisk").args(["-p", s(&img)]));
    assert!(sg.contains(t["disk_guid"].as_str().unwrap()), "{sg}");
    let ours = t["partitions"].as_array().unwrap();
    assert_eq!(ours.len(), 3);
    for p in ours {
        let n = p["number"].as_u64().unwrap().to_string();
        let i = run_ok(tool("sgdisk").args(["-i", &n, s(&img)]));
        let field = |k: &str| {
            i.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(
            field("Partition GUID code:").split(' ').next().unwrap(),
            p["type_guid"].as_str().unwrap()
        );
        assert_eq!(field("Partition unique GUID:"), p["guid"].as_str().unwrap());
        assert_eq!(
            field("First sector:").split(' ').next().unwrap(),
            p["start"].to_string()
        );
        assert_eq!(
            field("Last sector:").split(' ').next().unwrap(),
            p["end"].to_string()
        );
        assert_eq!(
            field("Partition name:"),
            format!("'{}'", p["name"].as_str().unwrap())
        );
        assert_eq!(
            u64::from_str_radix(&field("Attribute flags:"), 16).unwrap(),
            p["attributes"].as_u64().unwrap()
        );
    }
    assert_eq!(ours[2]["type_code"], "8304");
    assert_eq!(ours[2]["attribute_names"][0], "do not automount");
    // The text view looks like sgdisk -p.
    let text = imgf_ok(&["inspect", s(&img)]);
    let table = |x: &str| {
        x.lines()
            .skip_while(|l| !l.starts_with("Number"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(table(&text), table(&sg));
}

#[test]
fn resize_grows_gpt_and_last_partition() {
    if !have("sgdisk") {
        return;
    }
    let d = scratch("gpt_resize");
    let img = seed_image(&d, "1G");
    imgf_ok(&["resize", s(&img), "+1G", "--grow-last"]);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 2 << 30);
    sgdisk_verify_clean(s(&img));
    let p = sgdisk_parts(s(&img));
    assert_eq!(p[0], (1, 2048, 206847, "EF00".into(), "EFI System".into()));
    assert_eq!(p[1].2, (2u64 << 30) / 512 - 34);
    // A plain grow keeps the partitions and still verifies.
    imgf_ok(&["resize", s(&img), "3G"]);
    sgdisk_verify_clean(s(&img));
    assert_eq!(sgdisk_parts(s(&img))[1].2, (2u64 << 30) / 512 - 34);
    let e = imgf_err(&["resize", s(&img), "1G"]);
    assert!(e.contains("--shrink"), "{e}");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 3 << 30);
}

#[test]
fn copy_sparse_makes_holes_and_keeps_bytes() {
    if !have("cmp") || !have("stat") {
        return;
    }
    let d = scratch("gpt_copy_sparse");
    let src = d.join("full.img");
    let dst = d.join("sparse.img");
    // A fully allocated 8 MiB file: zeros written out, some data between.
    let mut data = vec![0u8; 8 << 20];
    data[3 << 20..(3 << 20) + 5000].fill(0xAB);
    data[(8 << 20) - 1] = 1;
    std::fs::write(&src, &data).unwrap();
    imgf_ok(&["copy", "--sparse", s(&src), s(&dst)]);
    run_ok(tool("cmp").args([s(&src), s(&dst)]));
    let blocks = |p: &Path| -> u64 {
        run_ok(tool("stat").args(["-c", "%b", s(p)]))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(blocks(&src) >= 16384, "source should be fully allocated");
    assert!(
        blocks(&dst) < blocks(&src) / 10,
        "{} vs {}",
        blocks(&dst),
        blocks(&src)
    );
    // A failed copy leaves no target.
    let missing = d.join("nope.img");
    let out = d.join("out.img");
    imgf_err(&["copy", "--sparse", s(&missing), s(&out)]);
    assert!(!out.exists());
}

#[test]
fn same_seed_same_bytes_other_seed_other_guids() {
    let d = scratch("gpt_determinism");
    let mk = |name: &str, seed: &str| {
        let img = d.join(name);
        imgf_ok(&["create", s(&img), "128M"]);
        let mut a = vec!["part", "--seed", seed];
        a.extend_from_slice(SEED_LINE);
        a.push(s(&img));
        imgf_ok(&a);
        img
    };
    let a = mk("a.img", "one");
    let b = mk("b.img", "one");
    let c = mk("c.img", "two");
    assert_eq!(sha256_file(&a), sha256_file(&b));
    assert_ne!(sha256_file(&a), sha256_file(&c));
    let guids = |p: &Path| {
        let r: serde_json::Value =
            serde_json::from_str(&imgf_ok(&["inspect", "--json", s(p)])).unwrap();
        let t = &r["partition_table"];
        (t["disk_guid"].clone(), t["partitions"][0]["guid"].clone())
    };
    let (ga, gc) = (guids(&a), guids(&c));
    assert_ne!(ga.0, gc.0);
    assert_ne!(ga.1, gc.1);
}

// ---- bad input: a clear error or warning naming the partition, no panic,
// ---- no partial output.

fn part_err(d: &Path, args: &[&str]) -> String {
    let img = d.join("bad.img");
    let _ = std::fs::remove_file(&img);
    imgf_ok(&["create", s(&img), "256M"]);
    let before = std::fs::read(&img).unwrap();
    let mut a = vec!["part"];
    a.extend_from_slice(args);
    a.push(s(&img));
    let e = imgf_err(&a);
    assert!(
        std::fs::read(&img).unwrap() == before,
        "image changed on error"
    );
    e
}

#[test]
fn bad_overlapping_partitions() {
    let d = scratch("gpt_bad_overlap");
    let e = part_err(&d, &["-o", "-n", "1:2048:+100M", "-n", "2:100000:+10M"]);
    assert!(e.contains("partition 2") && e.contains("not free"), "{e}");
    let e = part_err(&d, &["-o", "-n", "1:2048:+100M", "-n", "2:1024:+10M"]);
    assert!(e.contains("partition 2") && e.contains("overlap"), "{e}");
}

#[test]
fn bad_partition_past_disk_end() {
    let d = scratch("gpt_bad_past_end");
    let e = part_err(&d, &["-o", "-n", "1:2048:+1G"]);
    assert!(
        e.contains("partition 1") && e.contains("past the last usable sector"),
        "{e}"
    );
}

#[test]
fn bad_unknown_type_code() {
    let d = scratch("gpt_bad_type");
    let e = part_err(&d, &["-o", "-n", "1::+1M", "-t", "1:ef99"]);
    assert!(e.contains("partition 1 type") && e.contains("ef99"), "{e}");
}

#[test]
fn bad_disk_too_small_for_table() {
    let d = scratch("gpt_bad_small");
    let img = d.join("tiny.img");
    imgf_ok(&["create", s(&img), "16K"]);
    let e = imgf_err(&["part", "-o", s(&img)]);
    assert!(e.contains("too small"), "{e}");
    assert_eq!(std::fs::read(&img).unwrap(), vec![0u8; 16384]);
}

#[test]
fn bad_size_strings() {
    let d = scratch("gpt_bad_sizes");
    for bad in ["10X", "", "G", "-5G", "1..5G", "99999999999999999999"] {
        let img = d.join("x.img");
        let e = imgf_err(&["create", s(&img), bad]);
        assert!(e.contains("size"), "{bad}: {e}");
        assert!(!img.exists(), "{bad}: partial output left");
    }
    let e = part_err(&d, &["-o", "-n", "1::+1Q"]);
    assert!(e.contains("partition 1 end"), "{e}");
}

#[test]
fn bad_primary_header_crc_reads_backup() {
    let d = scratch("gpt_bad_primary");
    let img = seed_image(&d, "128M");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[512 + 40] ^= 0xff;
    std::fs::write(&img, &bytes).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    let t = &r["partition_table"];
    assert_eq!(t["primary_ok"], false);
    assert_eq!(t["backup_ok"], true);
    let w = r["warnings"].to_string();
    assert!(
        w.contains("primary") && w.contains("bad header CRC") && w.contains("backup"),
        "{w}"
    );
    assert_eq!(t["partitions"][1]["name"], "slim-rootfs");
    if have("sgdisk") {
        // sgdisk agrees the primary is damaged.
        let v = run(tool("sgdisk").args(["-v", s(&img)]));
        let out = String::from_utf8_lossy(&v.stdout);
        assert!(out.contains("corrupt GPT"), "{out}");
    }
}

#[test]
fn bad_backup_disagrees() {
    let d = scratch("gpt_bad_backup");
    let img = seed_image(&d, "128M");
    let mut bytes = std::fs::read(&img).unwrap();
    // Rewrite the backup copy with a different (valid) table.
    let other = d.join("other.img");
    imgf_ok(&["create", s(&other), "128M"]);
    imgf_ok(&["part", "-o", "-n", "1::+10M", s(&other)]);
    let o = std::fs::read(&other).unwrap();
    let tail = bytes.len() - 33 * 512;
    bytes[tail..].copy_from_slice(&o[tail..]);
    std::fs::write(&img, &bytes).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    assert_eq!(r["partition_table"]["backup_ok"], false);
    assert_eq!(r["partition_table"]["primary_ok"], true);
    let w = r["warnings"].to_string();
    assert!(w.contains("disagrees"), "{w}");
    assert_eq!(
        r["partition_table"]["partitions"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn bad_mbr_partition_past_end() {
    let d = scratch("gpt_bad_mbr_end");
    let img = d.join("mbr.img");
    let mut b = vec![0u8; 8 << 20];
    // Partition 2 runs to sector 40000 on a 16384-sector disk.
    let rec = |at: usize, t: u8, start: u32, size: u32, b: &mut Vec<u8>| {
        b[at + 4] = t;
        b[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        b[at + 12..at + 16].copy_from_slice(&size.to_le_bytes());
    };
    rec(446, 0x83, 2048, 4096, &mut b);
    rec(462, 0x83, 8192, 31808, &mut b);
    b[510] = 0x55;
    b[511] = 0xAA;
    std::fs::write(&img, &b).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    let w = r["warnings"].to_string();
    assert!(
        w.contains("partition 2") && w.contains("past the end"),
        "{w}"
    );
    // Editing it as MBR refuses to write the broken table.
    let e = imgf_err(&["part", "--mbr", "-n", "3::+1M", s(&img)]);
    assert!(e.contains("partition 2"), "{e}");
}

#[test]
fn bad_create_leaves_no_file() {
    let d = scratch("gpt_bad_create");
    let img = d.join("never.img");
    imgf_err(&["create", "-f", "nosuch", s(&img), "1G"]);
    assert!(!img.exists());
    imgf_err(&["part", "-o", s(&img)]);
    assert!(!img.exists());
}

#[test]
fn sfdisk_mbr_is_read_and_converted_with_g() {
    if !have("sfdisk") || !have("sgdisk") {
        return;
    }
    let d = scratch("gpt_sfdisk_mbrtogpt");
    let img = d.join("mbr.img");
    imgf_ok(&["create", s(&img), "1G"]);
    let script = "label: dos\nstart=2048, size=204800, type=ef, bootable\nstart=206848, size=400000, type=83\nstart=1000000, size=900000, type=5\nstart=1002048, size=100000, type=82\nstart=1104096, size=50000, type=83\n";
    let mut c = tool("sfdisk");
    c.arg(s(&img))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    let got: Vec<(u64, u64, u64, bool)> = r["partition_table"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["number"].as_u64().unwrap(),
                p["start"].as_u64().unwrap(),
                p["size"].as_u64().unwrap() / 512,
                p["logical"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 2048, 204800, false),
            (2, 206848, 400000, false),
            (3, 1000000, 900000, false),
            (5, 1002048, 100000, true),
            (6, 1104096, 50000, true),
        ]
    );
    // Without -g the MBR is not silently replaced.
    let e = imgf_err(&["part", "-n", "0::+1M", s(&img)]);
    assert!(e.contains("-g"), "{e}");
    imgf_ok(&["part", "-g", s(&img)]);
    sgdisk_verify_clean(s(&img));
    let p = sgdisk_parts(s(&img));
    let brief: Vec<(u32, u64, u64, String)> =
        p.into_iter().map(|(n, a, b, c, _)| (n, a, b, c)).collect();
    assert_eq!(
        brief,
        vec![
            (1, 2048, 206847, "EF00".into()),
            (2, 206848, 606847, "8300".into()),
            (5, 1002048, 1102047, "8200".into()),
            (6, 1104096, 1154095, "8300".into()),
        ]
    );
}

#[test]
fn move_second_header_after_outside_grow() {
    if !have("sgdisk") || !have("truncate") {
        return;
    }
    let d = scratch("gpt_move_second");
    let img = seed_image(&d, "256M");
    run_ok(tool("truncate").args(["-s", "+64M", s(&img)]));
    let r: serde_json::Value =
        serde_json::from_str(&imgf_ok(&["inspect", "--json", s(&img)])).unwrap();
    assert!(
        r["warnings"].to_string().contains("not at the last sector"),
        "{r}"
    );
    imgf_ok(&["part", "-e", s(&img)]);
    sgdisk_verify_clean(s(&img));
    let out = run_ok(tool("sgdisk").args(["-p", s(&img)]));
    let last = (320u64 << 20) / 512 - 34;
    assert!(
        out.contains(&format!("last usable sector is {last}")),
        "{out}"
    );
}

#[test]
fn same_layout_as_sgdisk_for_edit_sequences() {
    if !have("sgdisk") {
        return;
    }
    let d = scratch("gpt_same_as_sgdisk");
    let lines = [
        "-o -n 1::+100M -n 2::+200M -d 1 -n 3::+50M -n 0::-0",
        "-o -n 1:1M:+10M -n 2:100M:+10M -n 3::0 -n 4::+1K",
        "-o -n 1:34:+1M -n 2::+3000 -n 0:0:-100M -t 3:0c01",
        "-o -n 1:2047:+100M -n 2:300000:-0 -n 3:250000:0",
        "-o -n 5::+1M -n 0::+2M -n 128::+1M -n 2:0:+1M",
    ];
    for line in lines {
        let ours = d.join("ours.img");
        let theirs = d.join("theirs.img");
        for p in [&ours, &theirs] {
            let _ = std::fs::remove_file(p);
            imgf_ok(&["create", s(p), "1G"]);
        }
        let args: Vec<&str> = line.split(' ').collect();
        run_ok(tool("sgdisk").args(&args).arg(&theirs));
        let mut a = vec!["part"];
        a.extend_from_slice(&args);
        a.push(s(&ours));
        imgf_ok(&a);
        sgdisk_verify_clean(s(&ours));
        assert_eq!(sgdisk_parts(s(&ours)), sgdisk_parts(s(&theirs)), "{line}");
    }
}

#[test]
fn mbr_and_ebrs_byte_identical_to_sfdisk() {
    if !have("sfdisk") {
        return;
    }
    let d = scratch("gpt_mbr_bytes_sfdisk");
    let ours = d.join("ours.img");
    let theirs = d.join("theirs.img");
    imgf_ok(&["create", s(&ours), "10G"]);
    imgf_ok(&["create", s(&theirs), "10G"]);
    let script = "label: dos\nstart=2048, size=204800, type=ef, bootable\nstart=206848, size=1000000, type=83\nstart=2000896, type=5\nstart=2002944, size=100000, type=83\nstart=2105344, size=50000, type=82\n";
    let mut child = tool("sfdisk")
        .arg(s(&theirs))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    imgf_ok(&[
        "part",
        "--mbr",
        "-o",
        "-n",
        "1:2048:+204800",
        "-t",
        "1:ef",
        "-A",
        "1:set:2",
        "-n",
        "2:206848:+1000000",
        "-n",
        "3:2000896:-0",
        "-t",
        "3:05",
        "-n",
        "5:2002944:+100000",
        "-n",
        "6:2105344:+50000",
        "-t",
        "6:82",
        s(&ours),
    ]);
    let sector = |p: &Path, lba: u64| {
        use std::os::unix::fs::FileExt;
        let mut b = vec![0u8; 512];
        std::fs::File::open(p)
            .unwrap()
            .read_exact_at(&mut b, lba * 512)
            .unwrap();
        b
    };
    // The MBR (but for the disk signature, random in sfdisk) and both EBRs.
    let (mut a, mut b) = (sector(&ours, 0), sector(&theirs, 0));
    a[440..444].fill(0);
    b[440..444].fill(0);
    assert_eq!(a, b, "MBR");
    for ebr in [2000896u64, 2103296] {
        assert_eq!(sector(&ours, ebr), sector(&theirs, ebr), "EBR at {ebr}");
    }
}

#[test]
fn gpt_byte_identical_to_sgdisk_with_same_guids() {
    if !have("sgdisk") {
        return;
    }
    let d = scratch("gpt_bytes_sgdisk");
    let line = "-o -U 11111111-2222-3333-4444-555555555555 -n 1::+100M -t 1:ef00 -c 1:EFI -u 1:AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE -A 1:set:2 -n 2::-0 -u 2:00112233-4455-6677-8899-AABBCCDDEEFF -t 2:8304 -c 2:root";
    let args: Vec<&str> = line.split(' ').collect();
    // 1 GiB: CHS in the protective MBR; 16 GiB: past cylinder 1023.
    for size in ["1G", "16G"] {
        let ours = d.join(format!("ours-{size}.img"));
        let theirs = d.join(format!("theirs-{size}.img"));
        imgf_ok(&["create", s(&ours), size]);
        imgf_ok(&["create", s(&theirs), size]);
        run_ok(tool("sgdisk").args(&args).arg(&theirs));
        let mut a = vec!["part"];
        a.extend_from_slice(&args);
        a.push(s(&ours));
        imgf_ok(&a);
        // Both only write the table sectors: compare the first 34 and
        // last 33 (cmp over 16 GiB of holes takes too long).
        let ends = |p: &Path| {
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::open(p).unwrap();
            let len = f.metadata().unwrap().len();
            let mut head = vec![0u8; 34 * 512];
            let mut tail = vec![0u8; 33 * 512];
            f.read_exact_at(&mut head, 0).unwrap();
            f.read_exact_at(&mut tail, len - 33 * 512).unwrap();
            (head, tail)
        };
        assert!(ends(&ours) == ends(&theirs), "{size}: tables differ");
    }
}
