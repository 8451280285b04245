//! Recipe text (JSON or TOML, one schema, two spellings), the presets the
//! Build view offers, and the small form kept in sync with the text.
//! Pure Rust: tested natively, used by the page.

use serde_json::{json, Map, Value};

/// How a recipe is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Toml,
}

impl Syntax {
    pub fn parse(s: &str) -> Syntax {
        if s.eq_ignore_ascii_case("json") {
            Syntax::Json
        } else {
            Syntax::Toml
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Syntax::Json => "json",
            Syntax::Toml => "toml",
        }
    }
}

/// Guesses the spelling: JSON starts with `{`.
pub fn sniff(text: &str) -> Syntax {
    if text.trim_start().starts_with('{') {
        Syntax::Json
    } else {
        Syntax::Toml
    }
}

/// Parses recipe text into the JSON value model both spellings share.
pub fn parse(text: &str, syntax: Syntax) -> Result<Value, String> {
    match syntax {
        Syntax::Json => serde_json::from_str(text).map_err(|e| format!("JSON: {e}")),
        Syntax::Toml => {
            let t: toml::Table = toml::from_str(text).map_err(|e| format!("TOML: {e}"))?;
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

// LEAD: these recipes follow the schema the page assumes (disk.size,
// disk.table, disk.partitions[{name,type,size,fs,from}], output.format);
// align them with the real recipe schema when it lands.
pub const PRESETS: &[Preset] = &[
    Preset {
        id: "raw",
        title: "Sparse raw disk",
        inputs: "No input files.",
        recipe: || {
            json!({
                "disk": {"size": "2G", "table": "none"},
                "output": {"format": "raw"}
            })
        },
    },
    Preset {
        id: "gpt-boot",
        title: "Bootable GPT disk (ESP + ext4)",
        inputs: "rootfs.tar (the root filesystem) and the EFI files under efi/ (e.g. efi/EFI/BOOT/BOOTX64.EFI).",
        recipe: || {
            json!({
                "disk": {"size": "4G", "table": "gpt", "partitions": [
                    {"name": "esp", "type": "esp", "size": "+256M", "fs": "fat", "from": "efi/"},
                    {"name": "root", "type": "linux", "size": "-0", "fs": "ext4", "from": "rootfs.tar"}
                ]},
                "output": {"format": "qcow2"}
            })
        },
    },
    Preset {
        id: "initramfs",
        title: "Initramfs from files",
        inputs: "The files of the initramfs, at least an executable init.",
        recipe: || {
            json!({
                "initramfs": {"from": "./", "compress": "gzip"},
                "output": {"format": "initramfs"}
            })
        },
    },
    Preset {
        id: "iso",
        title: "Bootable ISO (isolinux)",
        inputs: "isolinux/isolinux.bin, isolinux/ldlinux.c32, isolinux/isolinux.cfg, the kernel and initrd.",
        recipe: || {
            json!({
                "iso": {"volume_id": "IMGFORGE", "from": "./",
                        "boot": {"isolinux": "isolinux/isolinux.bin", "catalog": "isolinux/boot.cat"}},
                "output": {"format": "iso"}
            })
        },
    },
    Preset {
        id: "grow",
        title: "Grow a cloud image",
        inputs: "The cloud image (qcow2 or raw), named cloud.qcow2 in the recipe.",
        recipe: || {
            json!({
                "disk": {"from": "cloud.qcow2", "size": "+10G", "grow_partition": "last"},
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
    pub kind: String,
    pub size: String,
    pub fs: String,
    pub from: String,
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
        let partitions = disk
            .get("partitions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| PartRow {
                        name: s(p, "name"),
                        kind: s(p, "type"),
                        size: s(p, "size"),
                        fs: s(p, "fs"),
                        from: s(p, "from"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Form {
            size: s(&disk, "size"),
            table: if disk.is_object() {
                let t = s(&disk, "table");
                if t.is_empty() {
                    "none".into()
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
        if self.size.is_empty() && self.table.is_empty() && !top.contains_key("disk") {
            return;
        }
        let disk = top
            .entry("disk")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(d) = disk else { return };
        set_or_remove(d, "size", &self.size);
        set_or_remove(d, "table", &self.table);
        if self.partitions.is_empty() {
            d.remove("partitions");
        } else {
            let old = d
                .get("partitions")
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
                    set_or_remove(&mut m, "fs", &p.fs);
                    set_or_remove(&mut m, "from", &p.from);
                    Value::Object(m)
                })
                .collect();
            d.insert("partitions".into(), Value::Array(rows));
        }
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
pub fn cli_command(format: &str) -> String {
    format!("imgforge build recipe.toml -o {}", output_name(format))
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
        v["seed"] = json!("abc");
        let mut f = Form::from_recipe(&v);
        assert_eq!(f.partitions.len(), 2);
        assert_eq!(f.partitions[1].fs, "ext4");
        f.size = "8G".into();
        f.partitions.pop();
        f.format = "vhdx".into();
        f.apply(&mut v);
        assert_eq!(v["disk"]["size"], "8G");
        assert_eq!(v["seed"], "abc");
        assert_eq!(v["disk"]["partitions"].as_array().unwrap().len(), 1);
        assert_eq!(v["output"]["format"], "vhdx");
        assert_eq!(Form::from_recipe(&v), f);
    }

    #[test]
    fn sizes_and_urls() {
        let v = json!({"disk": {"size": "3G", "from": "https://example.org/a.qcow2"}});
        assert_eq!(disk_size(&v), Some(3 << 30));
        assert_eq!(urls(&v), vec!["https://example.org/a.qcow2".to_string()]);
        assert!(parse("[1]", Syntax::Json).is_err());
        assert!(parse("disk = ", Syntax::Toml).is_err());
    }
}
