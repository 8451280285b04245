//! Recipe text (JSON or TOML, one schema, two spellings), the presets the
//! Build view offers, and the small form kept in sync with the text.
//! Pure Rust: tested natively, used by the page.

use serde_json::{json, Map, Value};

/// How a recipe is spelled (the core's: `Syntax::parse("json")`,
/// `.name()`).
pub use imgforge_core::recipe::Syntax;

/// Guesses the spelling: JSON starts with `{` (the core's sniffer).
pub fn sniff(text: &str) -> Syntax {
    Syntax::sniff(text)
}

/// Parses recipe text into the JSON value model both spellings share.
pub fn parse(text: &str, syntax: Syntax) -> Result<Value, String> {
    match syntax {
        Syntax::Json => serde_json::from_str(text).map_err(|e| format!("JSON: {e}")),
        Syntax::Toml => {
            // toml's message starts "TOML parse error at line N, column M".
            let t: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
            serde_json::to_value(t).map_err(|e| format!("TOML: {e}"))
        }
    }
    .and_then(|v: Value| {
        if v.is_object() {
            Ok(v)
        } else {
            Err("a recipe is a table of settings".to_string())
        }
    })
}

/// Parses recipe text and checks it against the recipe schema (the core's
/// parser, as the CLI does), so that a mistake shows next to the editor
/// with its line and key before anything is built.
pub fn check(text: &str) -> Result<Value, String> {
    let syntax = sniff(text);
    let v = parse(text, syntax)?;
    imgforge_core::recipe::parse(text, syntax).map_err(|e| e.to_string())?;
    Ok(v)
}

/// Renders a recipe in `syntax` (TOML has no null: null entries are left out).
pub fn render(v: &Value, syntax: Syntax) -> String {
    match syntax {
        Syntax::Json => serde_json::to_string_pretty(v).unwrap_or_default() + "\n",
        Syntax::Toml => {
            let v = strip_nulls(v);
            toml::to_string_pretty(&v).unwrap_or_else(|e| format!("# cannot show as TOML: {e}\n"))
        }
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => {
            Value::Array(a.iter().filter(|v| !v.is_null()).map(strip_nulls).collect())
        }
        other => other.clone(),
    }
}

/// A preset of the Build view.
pub struct Preset {
    pub id: &'static str,
    pub title: &'static str,
    /// What input files it wants, for the hint under the drop zone.
    pub inputs: &'static str,
    pub recipe: fn() -> Value,
}

// The recipe schema is docs/recipe.md (core recipe.rs): input paths are the
// names of the files the user drops.
pub const PRESETS: &[Preset] = &[
    Preset {
        id: "raw",
        title: "Sparse raw disk",
        inputs: "No input files: an empty GPT disk of the size you choose, one unformatted partition filling it.",
        recipe: || {
            json!({
                "output": {"format": "raw"},
                "disk": {"size": "2G", "table": "gpt"},
                "partition": [{"type": "8300", "name": "data", "size": "rest"}]
            })
        },
    },
    Preset {
        id: "gpt-boot",
        title: "Bootable GPT disk (ESP + ext4)",
        inputs: "BOOTX64.EFI (systemd-boot), vmlinuz, initrd.img and rootfs.tar (examples/get-inputs.sh fetches them).",
        recipe: || {
            json!({
                "build": {"epoch": 1700000000, "seed": "workshop"},
                "output": {"format": "qcow2"},
                "disk": {"size": "1G", "table": "gpt"},
                "partition": [
                    {"number": 1, "type": "ef00", "name": "EFI System", "size": "100M",
                     "filesystem": {"type": "fat", "label": "ESP", "contents": [
                        {"file": "BOOTX64.EFI", "at": "/EFI/BOOT/BOOTX64.EFI"},
                        {"file": "vmlinuz", "at": "/EFI/BOOT/vmlinuz"},
                        {"file": "initrd.img", "at": "/EFI/BOOT/initrd"},
                        {"text": "default imgforge.conf\ntimeout 0\n", "at": "/loader/loader.conf"},
                        {"text": "title imgforge Linux\nlinux /EFI/BOOT/vmlinuz\ninitrd /EFI/BOOT/initrd\noptions console=ttyS0 panic=-1\n",
                         "at": "/loader/entries/imgforge.conf"}
                     ]}},
                    {"number": 2, "type": "8300", "name": "rootfs", "size": "rest",
                     "filesystem": {"type": "ext4", "label": "rootfs", "contents": [{"tar": "rootfs.tar"}]}}
                ]
            })
        },
    },
    Preset {
        id: "initramfs",
        title: "Initramfs from files",
        inputs: "init (the first program) and busybox (a static build).",
        recipe: || {
            json!({
                "output": {"format": "initramfs", "level": 9},
                "filesystem": {"contents": [
                    {"file": "init", "at": "/init", "mode": "0755"},
                    {"file": "busybox", "at": "/bin/busybox", "mode": "0755"},
                    {"symlink": "busybox", "at": "/bin/sh"},
                    {"mkdir": true, "at": "/dev"},
                    {"device": "c 5 1", "at": "/dev/console", "mode": "0600"}
                ]}
            })
        },
    },
    Preset {
        id: "iso",
        title: "Bootable ISO (isolinux)",
        inputs: "isolinux.bin, ldlinux.c32, vmlinuz and initrd.img.",
        recipe: || {
            json!({
                "output": {"format": "iso"},
                "iso": {"volume_id": "IMGFORGE", "bios_boot": "/isolinux/isolinux.bin",
                        "boot_catalog": "/isolinux/boot.cat", "boot_load_size": 4, "boot_info_table": true},
                "boot": {"title": "imgforge live", "kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img",
                         "cmdline": "panic=-1", "serial": true, "loaders": ["isolinux"]},
                "filesystem": {"contents": [
                    {"file": "isolinux.bin", "at": "/isolinux/isolinux.bin"},
                    {"file": "ldlinux.c32", "at": "/isolinux/ldlinux.c32"},
                    {"file": "vmlinuz", "at": "/boot/vmlinuz"},
                    {"file": "initrd.img", "at": "/boot/initrd.img"}
                ]}
            })
        },
    },
    Preset {
        id: "grow",
        title: "Grow a cloud image",
        inputs: "The cloud image (qcow2 or raw). The page does what `imgforge resize --grow-last` does to a copy (`imgforge build` takes the same recipe), so the guest sees the new space (no more \"No space left on device\").",
        recipe: || {
            json!({
                "grow": {"image": "cloud.qcow2", "size": "+10G", "grow_last": true},
                "output": {"format": "qcow2"}
            })
        },
    },
];

pub fn preset(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}

/// One row of the partitions list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartRow {
    pub name: String,
    /// sgdisk type code (`ef00`, `8300`) or GUID; MBR: a type byte.
    pub kind: String,
    pub size: String,
    /// `filesystem.type`: fat, ext4, none.
    pub fs: String,
    /// `filesystem.label`.
    pub label: String,
}

/// The form beside the recipe text: the few settings most recipes change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub size: String,
    pub table: String,
    pub partitions: Vec<PartRow>,
    pub format: String,
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

impl Form {
    pub fn from_recipe(r: &Value) -> Form {
        let disk = r.get("disk").cloned().unwrap_or(Value::Null);
        let partitions = r
            .get("partition")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let fs = p.get("filesystem").cloned().unwrap_or(Value::Null);
                        PartRow {
                            name: s(p, "name"),
                            kind: s(p, "type"),
                            size: s(p, "size"),
                            fs: s(&fs, "type"),
                            label: s(&fs, "label"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Form {
            size: s(&disk, "size"),
            // docs/recipe.md: the table defaults to gpt.
            table: if disk.is_object() {
                let t = s(&disk, "table");
                if t.is_empty() {
                    "gpt".into()
                } else {
                    t
                }
            } else {
                String::new()
            },
            partitions,
            format: r
                .get("output")
                .map(|o| s(o, "format"))
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "raw".into()),
        }
    }

    /// Writes the form's settings into `r`, keeping every other key.
    pub fn apply(&self, r: &mut Value) {
        let Value::Object(top) = r else { return };
        let out = top
            .entry("output")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(o) = out {
            o.insert("format".into(), json!(self.format));
        }
        // An initramfs or ISO recipe has no disk: the form leaves it alone
        // until a size is given.
        if self.size.is_empty() && self.partitions.is_empty() && !top.contains_key("disk") {
            return;
        }
        let disk = top
            .entry("disk")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(d) = disk {
            set_or_remove(d, "size", &self.size);
            set_or_remove(d, "table", &self.table);
        }
        if self.partitions.is_empty() {
            top.remove("partition");
            return;
        }
        let old = top
            .get("partition")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let rows = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut m = match old.get(i) {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                set_or_remove(&mut m, "name", &p.name);
                set_or_remove(&mut m, "type", &p.kind);
                set_or_remove(&mut m, "size", &p.size);
                let mut fs = match m.get("filesystem") {
                    Some(Value::Object(f)) => f.clone(),
                    _ => Map::new(),
                };
                set_or_remove(&mut fs, "type", &p.fs);
                set_or_remove(&mut fs, "label", &p.label);
                if fs.is_empty() {
                    m.remove("filesystem");
                } else {
                    m.insert("filesystem".into(), Value::Object(fs));
                }
                Value::Object(m)
            })
            .collect();
        top.insert("partition".into(), Value::Array(rows));
    }
}

fn set_or_remove(m: &mut Map<String, Value>, k: &str, v: &str) {
    if v.is_empty() {
        m.remove(k);
    } else {
        m.insert(k.into(), json!(v));
    }
}

/// The file name the CLI command and the download use for a format.
pub fn output_name(format: &str) -> String {
    match format {
        "raw" => "disk.img".into(),
        "iso" => "image.iso".into(),
        "initramfs" => "initramfs.cpio.gz".into(),
        "" => "disk.img".into(),
        f => format!("disk.{f}"),
    }
}

/// The command that builds the same bytes on the command line.
pub fn cli_command(r: &Value) -> String {
    let format = r
        .get("output")
        .and_then(|o| o.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("raw");
    let out = output_name(format);
    if let Some(g) = r.get("grow") {
        let image = g
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("cloud.qcow2");
        let size = g.get("size").and_then(Value::as_str).unwrap_or("+10G");
        let last = if g.get("grow_last").and_then(Value::as_bool) == Some(true) {
            " --grow-last"
        } else {
            ""
        };
        // `imgforge resize` moves a GPT and grows the last partition on a
        // raw image, so the grow happens on a raw copy (the bytes are the
        // page's: tests/node/parity-cases.json checks both ways).
        if format == "raw" {
            return format!(
                "imgforge convert -O raw {image} {out}\nimgforge resize{last} {out} {size}"
            );
        }
        return format!(
            "imgforge convert -O raw {image} grown.img\nimgforge resize{last} grown.img {size}\nimgforge convert -O {format} grown.img {out}"
        );
    }
    format!("imgforge build recipe.toml -o {out}")
}

/// The disk size a recipe names, in bytes, if it names a plain one.
pub fn disk_size(r: &Value) -> Option<u64> {
    match r.get("disk")?.get("size")? {
        Value::String(s) if !s.starts_with('+') => {
            imgforge_core::size::parse_size(s, "disk.size").ok()
        }
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Whether a `?recipe=` value is the address of a recipe rather than its
/// text: one line, an https URL or a path ending in .toml or .json.
pub fn is_url(s: &str) -> bool {
    let s = s.trim();
    !s.contains('\n')
        && !s.contains(' ')
        && (s.starts_with("https://") || s.ends_with(".toml") || s.ends_with(".json"))
}

/// The input files a recipe reads, by the paths it names them with (URLs
/// left out: the page fetches those), in the order they appear.
pub fn input_paths(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("file" | "tar" | "dir" | "isohybrid_mbr", Value::String(s))
                            if !s.starts_with("https://") && !out.contains(s) =>
                        {
                            out.push(s.clone())
                        }
                        _ => walk(x, out),
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(Value::String(s)) = v.get("grow").and_then(|g| g.get("image")) {
        out.push(s.clone());
    }
    walk(v, &mut out);
    // `[grub]`'s module sources, one input file per target.
    if let Some(Value::Object(m)) = v.get("grub").and_then(|g| g.get("sources")) {
        for x in m.values() {
            if let Value::String(s) = x {
                if !s.starts_with("https://") && !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
    }
    out
}

/// Every `https://` URL a recipe names (inputs the page fetches before a
/// build; the page makes no other request).
pub fn urls(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.starts_with("https://") && !out.contains(s) => {
                out.push(s.clone())
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_round_trips_through_toml_and_json() {
        for p in PRESETS {
            let v = (p.recipe)();
            for syn in [Syntax::Json, Syntax::Toml] {
                let text = render(&v, syn);
                assert_eq!(parse(&text, syn).unwrap(), v, "{} as {}", p.id, syn.name());
                assert_eq!(sniff(&text), syn);
            }
        }
    }

    #[test]
    fn form_edits_keep_other_keys() {
        let mut v = (preset("gpt-boot").unwrap().recipe)();
        let mut f = Form::from_recipe(&v);
        assert_eq!(f.partitions.len(), 2);
        assert_eq!(f.partitions[1].fs, "ext4");
        assert_eq!(f.table, "gpt");
        f.size = "8G".into();
        f.partitions[0].label = "EFI".into();
        f.partitions.pop();
        f.format = "vhdx".into();
        f.apply(&mut v);
        assert_eq!(v["disk"]["size"], "8G");
        assert_eq!(v["build"]["seed"], "workshop");
        assert_eq!(v["partition"].as_array().unwrap().len(), 1);
        assert_eq!(v["partition"][0]["filesystem"]["label"], "EFI");
        assert_eq!(
            v["partition"][0]["filesystem"]["contents"][0]["file"],
            "BOOTX64.EFI"
        );
        assert_eq!(v["output"]["format"], "vhdx");
        assert_eq!(Form::from_recipe(&v), f);
        assert_eq!(cli_command(&v), "imgforge build recipe.toml -o disk.vhdx");
    }

    #[test]
    fn sizes_and_urls() {
        let v = json!({"disk": {"size": "3G", "from": "https://example.org/a.qcow2"}});
        assert_eq!(disk_size(&v), Some(3 << 30));
        assert_eq!(urls(&v), vec!["https://example.org/a.qcow2".to_string()]);
        assert!(parse("[1]", Syntax::Json).is_err());
        assert!(parse("disk = ", Syntax::Toml).is_err());
    }

    #[test]
    fn recipe_urls_and_texts() {
        assert!(is_url("https://example.org/r.toml"));
        assert!(is_url("recipes/disk.toml"));
        assert!(!is_url("[disk]\nsize = \"1G\"\n"));
        assert!(!is_url("{\"disk\": {\"size\": \"1G\"}}"));
    }

    #[test]
    fn input_paths_of_presets() {
        let v = (preset("gpt-boot").unwrap().recipe)();
        assert_eq!(
            input_paths(&v),
            ["BOOTX64.EFI", "vmlinuz", "initrd.img", "rootfs.tar"]
        );
        let v = (preset("grow").unwrap().recipe)();
        assert_eq!(input_paths(&v), ["cloud.qcow2"]);
        let v: Value = serde_json::from_str(
            r#"{"grub": {"sources": {"x86_64-efi": "inputs/efi.deb", "i386-pc": "inputs/pc.deb"}},
                "partition": [{"size": "1M", "filesystem": {"contents": [{"file": "inputs/efi.deb", "at": "/x"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(input_paths(&v), ["inputs/efi.deb", "inputs/pc.deb"]);
    }

    #[test]
    fn check_names_line_and_key() {
        let e = check("[disk]\nsize = \"1G\"\nsizes = 3\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("sizes"), "{e}");
        let e = check("[disk\nsize = 1").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        for p in PRESETS {
            let text = render(&(p.recipe)(), Syntax::Toml);
            check(&text).unwrap_or_else(|e| panic!("preset {}: {e}", p.id));
        }
    }
}
