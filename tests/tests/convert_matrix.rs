//! `imgforge convert` between every pair of container formats (input format
//! detected), checked by `qemu-img compare`; `info --output=json` field names;
//! `inspect` and `ls -l IMAGE:2:/` through every container; recipes with
//! `output.format` = each container equal `convert` of the raw build.
use imgforge_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

struct Fmt {
    name: &'static str,
    /// `imgforge convert` options selecting this format.
    args: &'static [&'static str],
    /// qemu-img's name when qemu-img reads the file itself.
    qemu: Option<&'static str>,
    /// `format` in `imgforge info`.
    info: &'static str,
    /// The `[output]` section of a recipe asking for this format.
    recipe: &'static str,
}

const FORMATS: &[Fmt] = &[
    Fmt {
        name: "raw",
        args: &["-O", "raw"],
        qemu: Some("raw"),
        info: "raw",
        recipe: "format = \"raw\"",
    },
    Fmt {
        name: "qcow2",
        args: &["-O", "qcow2"],
        qemu: Some("qcow2"),
        info: "qcow2",
        recipe: "format = \"qcow2\"",
    },
    Fmt {
        name: "qcow2c",
        args: &["-O", "qcow2", "-c"],
        qemu: Some("qcow2"),
        info: "qcow2",
        recipe: "format = \"qcow2\"\ncompress = true",
    },
    Fmt {
        name: "vhd-fixed",
        args: &["-O", "vpc", "-o", "subformat=fixed"],
        qemu: Some("vpc"),
        info: "vpc",
        recipe: "format = \"vhd\"\nsubformat = \"fixed\"",
    },
    Fmt {
        name: "vhd-dynamic",
        args: &["-O", "vhd", "-o", "subformat=dynamic"],
        qemu: Some("vpc"),
        info: "vpc",
        recipe: "format = \"vpc\"\nsubformat = \"dynamic\"",
    },
    Fmt {
        name: "vhdx",
        args: &["-O", "vhdx"],
        qemu: Some("vhdx"),
        info: "vhdx",
        recipe: "format = \"vhdx\"",
    },
    Fmt {
        name: "vmdk-sparse",
        args: &["-O", "vmdk", "-o", "subformat=monolithicSparse"],
        qemu: Some("vmdk"),
        info: "vmdk",
        recipe: "format = \"vmdk\"\nsubformat = \"monolithicSparse\"",
    },
    Fmt {
        name: "vmdk-stream",
        args: &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        qemu: Some("vmdk"),
        info: "vmdk",
        recipe: "format = \"vmdk\"\nsubformat = \"streamOptimized\"",
    },
    Fmt {
        name: "ova",
        args: &["-O", "ova"],
        qemu: None,
        info: "ova",
        recipe: "format = \"ova\"",
    },
    Fmt {
        name: "box-libvirt",
        args: &["-O", "box", "-o", "subformat=libvirt"],
        qemu: None,
        info: "box",
        recipe: "format = \"box\"\nsubformat = \"libvirt\"",
    },
    Fmt {
        name: "box-virtualbox",
        args: &["-O", "box", "-o", "subformat=virtualbox"],
        qemu: None,
        info: "box",
        recipe: "format = \"box\"\nsubformat = \"virtualbox\"",
    },
];

const DISK: &str = r#"
[disk]
size = "48M"
[[partition]]
type = "ef00"
name = "EFI System"
size = "16M"
[partition.filesystem]
type = "fat"
contents = [{ text = "hello fat\n", at = "/EFI/BOOT/grub.cfg" }, { file = "data.bin", at = "/EFI/data.bin" }]
[[partition]]
type = "8300"
name = "root"
size = "rest"
[partition.filesystem]
type = "ext4"
contents = [{ text = "hello ext4\n", at = "/etc/hostname" }, { symlink = "hostname", at = "/etc/link" }, { file = "data.bin", at = "/data.bin", mode = "0640", uid = 7, gid = 9 }]
"#;

/// Deterministic incompressible-ish bytes, so compressed and plain clusters
/// both occur.
fn data() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..300_000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 4096 < 1024 {
                0
            } else {
                x as u8
            }
        })
        .collect()
}

/// The source: a 48 MiB raw GPT disk with FAT and ext4, built once.
fn source() -> &'static (PathBuf, PathBuf) {
    static SRC: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    SRC.get_or_init(|| {
        let d = scratch("convert-matrix-src");
        std::fs::write(d.join("data.bin"), data()).unwrap();
        let r = d.join("disk.toml");
        std::fs::write(&r, DISK).unwrap();
        let img = d.join("src.img");
        run_ok(
            Command::new(imgforge())
                .arg("build")
                .arg(&r)
                .arg("-o")
                .arg(&img),
        );
        (d, img)
    })
}

fn convert(input: &Path, output: &Path, args: &[&str]) {
    run_ok(
        Command::new(imgforge())
            .arg("convert")
            .args(args)
            .arg(input)
            .arg(output),
    );
}

/// Asserts that `img` (format `f`) holds exactly the bytes of the raw `src`
/// (beyond its end only zeros: VHD rounds the size up to a CHS geometry).
fn assert_same(src: &Path, img: &Path, f: &Fmt, work: &Path) {
    match f.qemu {
        Some(q) => {
            let out = run_ok(
                tool("qemu-img")
                    .args(["compare", "-f", "raw", "-F", q])
                    .arg(src)
                    .arg(img),
            );
            assert!(out.contains("Images are identical"), "{}: {out}", f.name);
            if matches!(q, "qcow2" | "vhdx" | "vmdk") {
                run_ok(tool("qemu-img").args(["check", "-f", q]).arg(img));
            }
        }
        None => {
            // The disk inside the tar is what a hypervisor imports.
            let x = work.join(format!("x-{}", img.file_name().unwrap().to_string_lossy()));
            let _ = std::fs::remove_dir_all(&x);
            std::fs::create_dir_all(&x).unwrap();
            run_ok(tool("tar").arg("-xf").arg(img).arg("-C").arg(&x));
            let disk = std::fs::read_dir(&x)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    let n = p.file_name().unwrap().to_string_lossy().into_owned();
                    n.ends_with(".vmdk") || n == "box.img"
                })
                .unwrap_or_else(|| panic!("{}: no disk in {}", f.name, img.display()));
            let q = if disk.ends_with("box.img") {
                "qcow2"
            } else {
                "vmdk"
            };
            let out = run_ok(
                tool("qemu-img")
                    .args(["compare", "-f", "raw", "-F", q])
                    .arg(src)
                    .arg(&disk),
            );
            assert!(out.contains("Images are identical"), "{}: {out}", f.name);
            // And back to raw through imgforge: the same bytes (cmp).
            let back = work.join("back.raw");
            convert(img, &back, &["-O", "raw"]);
            let a = std::fs::read(src).unwrap();
            let b = std::fs::read(&back).unwrap();
            assert!(b.len() >= a.len(), "{}: raw back is shorter", f.name);
            assert!(a == b[..a.len()], "{}: raw back differs", f.name);
            assert!(b[a.len()..].iter().all(|&x| x == 0), "{}", f.name);
            std::fs::remove_file(&back).unwrap();
        }
    }
}

/// `imgforge info --output=json` uses qemu-img's field names and agrees
/// with qemu-img where it reads the format.
fn check_info(img: &Path, f: &Fmt) {
    let out = run_ok(
        Command::new(imgforge())
            .args(["info", "--output=json"])
            .arg(img),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], f.info, "{}: {out}", f.name);
    let vsize = v["virtual-size"].as_u64().expect("virtual-size");
    assert!(
        (50331648..50331648 + 64 * 1024).contains(&vsize),
        "{}: {vsize}",
        f.name
    );
    assert!(v["actual-size"].as_u64().is_some(), "{}: {out}", f.name);
    assert_eq!(v["dirty-flag"], false, "{}: {out}", f.name);
    // qemu-img shows no cluster-size for raw and fixed VHD either.
    if !matches!(f.name, "raw" | "vhd-fixed") {
        assert!(
            v["cluster-size"].as_u64().is_some(),
            "{}: no cluster-size: {out}",
            f.name
        );
    }
    if !matches!(f.info, "raw" | "vpc") {
        assert!(
            v["format-specific"]["type"].is_string(),
            "{}: no format-specific: {out}",
            f.name
        );
    }
    if let Some(q) = f.qemu {
        let qo = run_ok(
            tool("qemu-img")
                .args(["info", "--output=json", "-f", q])
                .arg(img),
        );
        let qv: serde_json::Value = serde_json::from_str(&qo).unwrap();
        for k in ["virtual-size", "cluster-size", "dirty-flag"] {
            assert_eq!(v[k], qv[k], "{}: {k} differs from qemu-img: {qo}", f.name);
        }
        if q != "raw" {
            assert_eq!(v["format"], qv["format"], "{}", f.name);
        }
        if qv.get("format-specific").is_some() {
            assert_eq!(
                v["format-specific"]["type"], qv["format-specific"]["type"],
                "{}",
                f.name
            );
        }
        // qemu-img's format-specific data fields, with its values.
        if let Some(qd) = qv["format-specific"]["data"].as_object() {
            let od = &v["format-specific"]["data"];
            for (k, qx) in qd {
                if k == "extents" {
                    let (qe, oe) = (qx.as_array().unwrap(), od[k].as_array());
                    let oe = oe.unwrap_or_else(|| panic!("{}: no extents: {out}", f.name));
                    assert_eq!(qe.len(), oe.len(), "{}: {out}", f.name);
                    for (q, o) in qe.iter().zip(oe) {
                        for ek in ["virtual-size", "cluster-size", "compressed"] {
                            assert_eq!(q[ek], o[ek], "{}: extent {ek}: {out}", f.name);
                        }
                    }
                } else {
                    assert_eq!(&od[k], qx, "{}: format-specific {k}: {out}", f.name);
                }
            }
        }
    }
}

/// `inspect` and `ls -l` see the partitions and files inside the container.
fn check_sees_through(img: &Path, f: &Fmt) {
    let out = run_ok(Command::new(imgforge()).arg("inspect").arg(img));
    assert!(
        out.contains("EFI System") && out.contains("root"),
        "{}: {out}",
        f.name
    );
    assert!(
        out.contains("Partition 1: fat") && out.contains("Partition 2: ext4"),
        "{}: {out}",
        f.name
    );
    let ls = run_ok(
        Command::new(imgforge())
            .args(["ls", "-l"])
            .arg(format!("{}:2:/", img.display())),
    );
    assert!(
        ls.lines().any(|l| l.starts_with("-rw-r-----")
            && l.contains(" 300000 ")
            && l.ends_with("data.bin")),
        "{}: {ls}",
        f.name
    );
    let ls = run_ok(
        Command::new(imgforge())
            .args(["ls", "-l"])
            .arg(format!("{}:2:/etc", img.display())),
    );
    assert!(ls.contains("link -> hostname"), "{}: {ls}", f.name);
    let cat = run_ok(
        Command::new(imgforge())
            .arg("cat")
            .arg(format!("{}:1:/EFI/BOOT/grub.cfg", img.display())),
    );
    assert_eq!(cat, "hello fat\n", "{}", f.name);
}

fn matrix_from(name: &str) {
    if !have("qemu-img") || !have("tar") {
        return;
    }
    let (_, src) = source();
    let from = FORMATS.iter().find(|f| f.name == name).unwrap();
    let d = scratch(&format!("convert-matrix-{name}"));
    let input = d.join(format!("in.{name}"));
    convert(src, &input, from.args);
    assert_same(src, &input, from, &d);
    check_info(&input, from);
    check_sees_through(&input, from);
    for to in FORMATS {
        let out = d.join(format!("out.{}", to.name));
        // No -f: the input format is detected.
        convert(&input, &out, to.args);
        assert_same(src, &out, to, &d);
        let v: serde_json::Value = serde_json::from_str(&run_ok(
            Command::new(imgforge())
                .args(["info", "--output=json"])
                .arg(&out),
        ))
        .unwrap();
        assert_eq!(v["format"], to.info, "{name} -> {}", to.name);
        std::fs::remove_file(&out).unwrap();
    }
}

macro_rules! matrix_tests {
    ($($t:ident => $n:literal),* $(,)?) => {
        $( #[test] fn $t() { matrix_from($n) } )*
    };
}

matrix_tests! {
    convert_from_raw => "raw",
    convert_from_qcow2 => "qcow2",
    convert_from_qcow2_compressed => "qcow2c",
    convert_from_vhd_fixed => "vhd-fixed",
    convert_from_vhd_dynamic => "vhd-dynamic",
    convert_from_vhdx => "vhdx",
    convert_from_vmdk_sparse => "vmdk-sparse",
    convert_from_vmdk_stream => "vmdk-stream",
    convert_from_ova => "ova",
    convert_from_box_libvirt => "box-libvirt",
    convert_from_box_virtualbox => "box-virtualbox",
}

/// Issue 5 item 8: a recipe whose `output.format` is a container gives the
/// bytes `imgforge convert` gives from the raw build of the same recipe.
#[test]
fn recipe_output_format_equals_convert() {
    let (sd, src) = source();
    let d = scratch("convert-matrix-recipes");
    std::fs::copy(sd.join("data.bin"), d.join("data.bin")).unwrap();
    for f in FORMATS {
        let r = d.join(format!("{}.toml", f.name));
        std::fs::write(&r, format!("[output]\n{}\n{DISK}", f.recipe)).unwrap();
        let built = d.join(format!("built.{}", f.name));
        run_ok(
            Command::new(imgforge())
                .arg("build")
                .arg(&r)
                .arg("-o")
                .arg(&built),
        );
        let conv = d.join(format!("conv.{}", f.name));
        convert(src, &conv, f.args);
        assert_eq!(
            sha256_file(&built),
            sha256_file(&conv),
            "{}: recipe output differs from convert of the raw build",
            f.name
        );
    }
}

/// Images made by `qemu-img convert` from the same disk: detected without
/// -f, read to the same bytes, and seen through to partitions and files.
#[test]
fn qemu_made_images_read_back() {
    if !have("qemu-img") {
        return;
    }
    let (_, src) = source();
    let d = scratch("convert-matrix-qemu-made");
    let a = std::fs::read(src).unwrap();
    for (name, qargs, ours) in [
        ("qcow2", &["-O", "qcow2"][..], "qcow2"),
        ("qcow2c", &["-c", "-O", "qcow2"], "qcow2"),
        ("qcow2-v2", &["-O", "qcow2", "-o", "compat=0.10"], "qcow2"),
        (
            "vpc-dynamic",
            &["-O", "vpc", "-o", "subformat=dynamic"],
            "vpc",
        ),
        ("vpc-fixed", &["-O", "vpc", "-o", "subformat=fixed"], "vpc"),
        ("vhdx", &["-O", "vhdx"], "vhdx"),
        (
            "vmdk-sparse",
            &["-O", "vmdk", "-o", "subformat=monolithicSparse"],
            "vmdk",
        ),
        (
            "vmdk-stream",
            &["-O", "vmdk", "-o", "subformat=streamOptimized"],
            "vmdk",
        ),
    ] {
        let img = d.join(format!("q.{name}"));
        run_ok(
            tool("qemu-img")
                .arg("convert")
                .args(qargs)
                .arg(src)
                .arg(&img),
        );
        let v: serde_json::Value = serde_json::from_str(&run_ok(
            Command::new(imgforge())
                .args(["info", "--output=json"])
                .arg(&img),
        ))
        .unwrap();
        assert_eq!(v["format"], ours, "{name}");
        let back = d.join("back.raw");
        convert(&img, &back, &["-O", "raw"]);
        let b = std::fs::read(&back).unwrap();
        assert!(
            b.len() >= a.len() && a == b[..a.len()],
            "{name}: bytes differ"
        );
        assert!(b[a.len()..].iter().all(|&x| x == 0), "{name}");
        let f = Fmt {
            name,
            args: &[],
            qemu: None,
            info: ours,
            recipe: "",
        };
        check_sees_through(&img, &f);
    }
}
