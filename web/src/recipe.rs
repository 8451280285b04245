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
        id: "grub-iso",
        title: "Bootable ISO (GRUB)",
        inputs: "vmlinuz, initrd.img and GRUB's module packages grub-efi-amd64-bin.deb and grub-pc-bin.deb (or tars of /usr/lib/grub/x86_64-efi and i386-pc): an ISO like grub-mkrescue's, booting on BIOS and UEFI, from a CD or a USB stick.",
        recipe: || {
            json!({
                "build": {"epoch": 1700000000, "seed": "workshop"},
                "output": {"format": "iso"},
                "iso": {"volume_id": "IMGFORGE"},
                "grub": {
                    "targets": ["x86_64-efi", "i386-pc"],
                    "sources": {"x86_64-efi": GRUB_EFI_SOURCE, "i386-pc": GRUB_PC_SOURCE},
                    "config": grub_config(&BootEntry {
                        title: "imgforge live".into(),
                        kernel: "/boot/vmlinuz".into(),
                        initrd: "/boot/initrd.img".into(),
                        options: "console=ttyS0 panic=-1".into(),
                    }),
                },
                "filesystem": {"contents": [
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

/// The module source the GRUB presets name for x86_64-efi: Debian's
/// package as examples/get-inputs.sh fetches it (a tar of the folder works
/// too; docs/grub.md).
pub const GRUB_EFI_SOURCE: &str = "grub-efi-amd64-bin.deb";
/// The same for i386-pc.
pub const GRUB_PC_SOURCE: &str = "grub-pc-bin.deb";
/// The input hint of the bootable disk preset with GRUB chosen.
pub const GPT_BOOT_GRUB_INPUTS: &str = "vmlinuz, initrd.img, rootfs.tar and GRUB's module package grub-efi-amd64-bin.deb, or a tar of /usr/lib/grub/x86_64-efi (examples/get-inputs.sh fetches them). GRUB's BOOTX64.EFI is made from the modules.";
/// The boot directory on the ESP, as the seed's (and the `[grub]` default).
pub const GRUB_PREFIX: &str = "/EFI/BOOT";

/// The seed workshop's grub-mkimage module list (docs/grub.md; the seed
/// names `linuxefi` twice, the page once). Every name is in Debian's
/// grub-efi-amd64-bin 2.06.
pub const GRUB_SEED_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "efi_uga",
    "gptsync",
    "fat",
    "ext2",
    "lvm",
    "iso9660",
    "lsefi",
    "gzio",
    "linux",
    "linuxefi",
    "acpi",
    "normal",
    "cpio",
    "crypto",
    "disk",
    "boot",
    "crc64",
    "search_fs_uuid",
    "tftp",
    "xzio",
    "lzopio",
    "xfs",
    "video",
    "scsi",
    "multiboot",
    "hfsplus",
    "udf",
];

/// The boot loader of a bootable disk: what sits at /EFI/BOOT/BOOTX64.EFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// A `BOOTX64.EFI` input file (systemd-boot) with `/loader/` entries
    /// in the ESP's contents.
    SystemdBoot,
    /// GRUB made and installed by the build (`[grub]`).
    Grub,
}

impl Loader {
    pub fn parse(s: &str) -> Loader {
        if s == "grub" {
            Loader::Grub
        } else {
            Loader::SystemdBoot
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loader::SystemdBoot => "systemd-boot",
            Loader::Grub => "grub",
        }
    }
}

/// One Linux boot entry: what both loaders' configurations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub title: String,
    pub kernel: String,
    pub initrd: String,
    pub options: String,
}

impl BootEntry {
    /// The ESP preset's entry.
    fn esp_default() -> BootEntry {
        BootEntry {
            title: "imgforge Linux".into(),
            kernel: "/EFI/BOOT/vmlinuz".into(),
            initrd: "/EFI/BOOT/initrd".into(),
            options: "console=ttyS0 panic=-1".into(),
        }
    }

    /// Reads a systemd-boot entry (`title`, `linux`, `initrd`, `options`
    /// lines); what it lacks is taken from `base`.
    fn from_systemd_boot(text: &str, base: BootEntry) -> BootEntry {
        let mut e = base;
        for line in text.lines() {
            let line = line.trim();
            let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim().to_string();
            match key {
                "title" => e.title = value,
                "linux" => e.kernel = value,
                "initrd" => e.initrd = value,
                "options" => e.options = value,
                _ => {}
            }
        }
        e
    }

    /// Reads the first menu entry of a grub.cfg (`menuentry "title"`,
    /// `linux`/`linuxefi KERNEL OPTIONS`, `initrd`/`initrdefi`).
    fn from_grub(text: &str, base: BootEntry) -> BootEntry {
        let mut e = base;
        let mut entries = 0;
        for line in text.lines() {
            let line = line.trim();
            let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim();
            match key {
                "menuentry" => {
                    entries += 1;
                    if entries > 1 {
                        break;
                    }
                    let t = value.trim_end_matches('{').trim();
                    let t = t.trim_matches(|c| c == '"' || c == '\'');
                    if !t.is_empty() {
                        e.title = t.to_string();
                    }
                }
                "linux" | "linuxefi" => {
                    let (k, o) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
                    e.kernel = k.to_string();
                    e.options = o.trim().to_string();
                }
                "initrd" | "initrdefi" => e.initrd = value.to_string(),
                _ => {}
            }
        }
        e
    }
}

/// A grub.cfg booting one Linux entry at once.
pub fn grub_config(e: &BootEntry) -> String {
    format!(
        "set timeout=0\nmenuentry \"{}\" {{\n    linux {} {}\n    initrd {}\n}}\n",
        e.title.replace('"', "'"),
        e.kernel,
        e.options,
        e.initrd
    )
}

/// The index of the recipe's EFI System Partition (type EF00 with a
/// filesystem), if it has one.
fn esp_index(r: &Value) -> Option<usize> {
    r.get("partition")?.as_array()?.iter().position(|p| {
        p.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("ef00"))
            && p.get("filesystem").is_some_and(Value::is_object)
    })
}

/// The boot loader choice a recipe offers: `None` for a recipe that is not
/// a disk with an ESP (an ISO with `[grub]` included).
pub fn loader(r: &Value) -> Option<Loader> {
    if r.get("disk").is_none() || esp_index(r).is_none() {
        None
    } else if r.get("grub").is_some() {
        Some(Loader::Grub)
    } else {
        Some(Loader::SystemdBoot)
    }
}

fn at_of(item: &Value) -> &str {
    item.get("at").and_then(Value::as_str).unwrap_or("")
}

/// The folder the recipe's input files are in (`inputs/` for the
/// examples, none for the presets), read off the kernel's `file`.
fn input_dir(contents: &[Value]) -> String {
    contents
        .iter()
        .filter_map(|c| c.get("file").and_then(Value::as_str))
        .find(|f| f.ends_with("vmlinuz"))
        .and_then(|f| f.rsplit_once('/'))
        .map(|(dir, _)| format!("{dir}/"))
        .unwrap_or_default()
}

/// Switches a bootable disk recipe between systemd-boot and GRUB, keeping
/// its boot entry (kernel, initrd, options). GRUB: the ESP loses the
/// `BOOTX64.EFI` file and the `/loader/` files, and a `[grub]` table
/// (x86_64-efi from [`GRUB_EFI_SOURCE`], the seed's modules, prefix
/// `/EFI/BOOT`, a grub.cfg with the entry) takes their place. Back:
/// `[grub]` goes, `BOOTX64.EFI` and the entry come back. Returns false
/// (and changes nothing) for a recipe without an ESP.
pub fn set_loader(r: &mut Value, to: Loader) -> bool {
    let Some(i) = esp_index(r) else {
        return false;
    };
    if loader(r) == Some(to) {
        return true;
    }
    let grub = r.get("grub").cloned();
    let Some(Value::Object(top)) = Some(r) else {
        return false;
    };
    let Some(Value::Object(fs)) = top
        .get_mut("partition")
        .and_then(|p| p.get_mut(i))
        .and_then(|p| p.get_mut("filesystem"))
    else {
        return false;
    };
    let mut contents: Vec<Value> = fs
        .get("contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let dir = input_dir(&contents);
    match to {
        Loader::Grub => {
            let mut entry = BootEntry::esp_default();
            // A grub.cfg already in the ESP's contents is the config (GRUB
            // would read that one), else the systemd-boot entry's.
            let cfg_at = format!("{GRUB_PREFIX}/grub.cfg");
            let cfg = contents
                .iter()
                .find(|c| at_of(c).eq_ignore_ascii_case(&cfg_at))
                .and_then(|c| c.get("text").and_then(Value::as_str))
                .map(String::from);
            if let Some(text) = contents
                .iter()
                .find(|c| at_of(c).starts_with("/loader/entries/"))
                .and_then(|c| c.get("text").and_then(Value::as_str))
            {
                entry = BootEntry::from_systemd_boot(text, entry);
            }
            contents.retain(|c| {
                let at = at_of(c);
                !at.eq_ignore_ascii_case("/EFI/BOOT/BOOTX64.EFI")
                    && !at.starts_with("/loader/")
                    && !at.eq_ignore_ascii_case(&cfg_at)
            });
            fs.insert("contents".into(), Value::Array(contents));
            top.insert(
                "grub".into(),
                json!({
                    "sources": {"x86_64-efi": format!("{dir}{GRUB_EFI_SOURCE}")},
                    "modules": GRUB_SEED_MODULES,
                    "prefix": GRUB_PREFIX,
                    "config": cfg.unwrap_or_else(|| grub_config(&entry)),
                }),
            );
        }
        Loader::SystemdBoot => {
            let config = grub
                .as_ref()
                .and_then(|g| g.get("config"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let e = BootEntry::from_grub(config, BootEntry::esp_default());
            contents.insert(
                0,
                json!({"file": format!("{dir}BOOTX64.EFI"), "at": "/EFI/BOOT/BOOTX64.EFI"}),
            );
            contents.push(
                json!({"text": "default imgforge.conf\ntimeout 0\n", "at": "/loader/loader.conf"}),
            );
            contents.push(json!({
                "text": format!("title {}\nlinux {}\ninitrd {}\noptions {}\n", e.title, e.kernel, e.initrd, e.options),
                "at": "/loader/entries/imgforge.conf"
            }));
            fs.insert("contents".into(), Value::Array(contents));
            top.remove("grub");
        }
    }
    true
}

/// The `[grub]` settings the form shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrubForm {
    /// The x86_64-efi module source (an input file: .deb or tar).
    pub source: String,
    /// Space-separated module names.
    pub modules: String,
    /// grub.cfg text.
    pub config: String,
}

impl GrubForm {
    pub fn from_recipe(r: &Value) -> Option<GrubForm> {
        let g = r.get("grub")?;
        Some(GrubForm {
            source: g
                .get("sources")
                .and_then(|s| s.get("x86_64-efi"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            modules: g
                .get("modules")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
            config: s(g, "config"),
        })
    }

    /// Writes the fields into `r`'s `[grub]` (if it has one); an empty
    /// field removes its key (the default applies).
    pub fn apply(&self, r: &mut Value) {
        let Some(Value::Object(g)) = r.get_mut("grub") else {
            return;
        };
        if let Some(Value::Object(src)) = g.get_mut("sources") {
            set_or_remove(src, "x86_64-efi", &self.source);
        } else if !self.source.is_empty() {
            g.insert("sources".into(), json!({"x86_64-efi": self.source}));
        }
        let modules: Vec<&str> = self.modules.split_whitespace().collect();
        if modules.is_empty() {
            g.remove("modules");
        } else {
            g.insert("modules".into(), json!(modules));
        }
        set_or_remove(g, "config", &self.config);
    }
}

/// Whether a picked input file looks like a GRUB module source for
/// x86_64-efi: Debian's package, or a tar named after the folder.
pub fn is_grub_efi_source(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name.starts_with("grub-efi-amd64-bin") && name.ends_with(".deb"))
        || (name.contains("x86_64-efi") && name.contains(".tar"))
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
    let build = format!("imgforge build recipe.toml -o {out}");
    match r.get("grub") {
        Some(g) if format != "iso" => format!("{build}\n{}", grub_install_lines(g, &out)),
        _ => build,
    }
}

/// What `[grub]` on a disk does, as `imgforge grub-install` runs (one line
/// per target) on the disk built without `[grub]`.
fn grub_install_lines(g: &Value, out: &str) -> String {
    let targets: Vec<&str> = match g.get("targets").and_then(Value::as_array) {
        Some(t) => t.iter().filter_map(Value::as_str).collect(),
        None => vec!["x86_64-efi"],
    };
    let mut text = String::from("# or: build the disk without [grub], then install GRUB on it:");
    if g.get("config").is_some() {
        text.push_str("\n# (grub.cfg holding the recipe's grub.config)");
    }
    for t in targets {
        let mut line = format!("imgforge grub-install --target={t}");
        if let Some(src) = g
            .get("sources")
            .and_then(|s| s.get(t))
            .and_then(Value::as_str)
        {
            line.push_str(&format!(" --directory={}", shell_word(src)));
        }
        if let Some(m) = g.get("modules").and_then(Value::as_array) {
            let m: Vec<&str> = m.iter().filter_map(Value::as_str).collect();
            line.push_str(&format!(" --modules={}", shell_word(&m.join(" "))));
        }
        if let Some(p) = g.get("prefix").and_then(Value::as_str) {
            line.push_str(&format!(" --boot-directory={}", shell_word(p)));
        }
        if g.get("install_modules").and_then(Value::as_bool) == Some(false) {
            line.push_str(" --install-modules=");
        }
        if g.get("config").is_some() {
            line.push_str(" --config=grub.cfg");
        }
        line.push_str(&format!(" {out}"));
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
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
    fn gpt_boot_switches_to_grub_and_back() {
        let preset = (preset("gpt-boot").unwrap().recipe)();
        assert_eq!(loader(&preset), Some(Loader::SystemdBoot));
        let mut v = preset.clone();
        assert!(set_loader(&mut v, Loader::Grub));
        assert_eq!(loader(&v), Some(Loader::Grub));
        let g = &v["grub"];
        assert_eq!(g["sources"]["x86_64-efi"], GRUB_EFI_SOURCE);
        assert_eq!(g["prefix"], "/EFI/BOOT");
        assert_eq!(
            g["modules"].as_array().unwrap().len(),
            GRUB_SEED_MODULES.len()
        );
        assert_eq!(
            g["config"],
            "set timeout=0\nmenuentry \"imgforge Linux\" {\n    linux /EFI/BOOT/vmlinuz console=ttyS0 panic=-1\n    initrd /EFI/BOOT/initrd\n}\n"
        );
        // BOOTX64.EFI is GRUB's now: the systemd-boot file is no input.
        assert_eq!(
            input_paths(&v),
            ["vmlinuz", "initrd.img", "rootfs.tar", GRUB_EFI_SOURCE]
        );
        let esp = v["partition"][0]["filesystem"]["contents"]
            .as_array()
            .unwrap();
        assert_eq!(esp.len(), 2, "{esp:?}");
        // Both spellings hold the grub.cfg text as it is.
        for syn in [Syntax::Json, Syntax::Toml] {
            assert_eq!(parse(&render(&v, syn), syn).unwrap(), v);
        }
        assert!(set_loader(&mut v, Loader::SystemdBoot));
        assert_eq!(v, preset);
    }

    #[test]
    fn an_edited_grub_cfg_goes_back_to_systemd_boot() {
        let mut v = (preset("gpt-boot").unwrap().recipe)();
        set_loader(&mut v, Loader::Grub);
        let mut f = GrubForm::from_recipe(&v).unwrap();
        assert_eq!(f.source, GRUB_EFI_SOURCE);
        assert!(f.modules.starts_with("part_gpt part_msdos efi_uga"));
        f.config = "set timeout=3\nmenuentry 'rescue' {\n  linuxefi /EFI/BOOT/vmlinuz console=ttyS0 single\n  initrdefi /EFI/BOOT/initrd\n}\nmenuentry \"other\" {\n linux /x\n}\n".into();
        f.modules = "part_gpt fat  normal linux".into();
        f.source = "inputs/grub-x86_64-efi.tar.xz".into();
        f.apply(&mut v);
        assert_eq!(
            v["grub"]["modules"],
            json!(["part_gpt", "fat", "normal", "linux"])
        );
        assert_eq!(
            input_paths(&v).last().unwrap(),
            "inputs/grub-x86_64-efi.tar.xz"
        );
        f.modules = "part_gpt fat normal linux".into();
        assert_eq!(GrubForm::from_recipe(&v).unwrap(), f);
        set_loader(&mut v, Loader::SystemdBoot);
        assert_eq!(
            v["partition"][0]["filesystem"]["contents"][4]["text"],
            "title rescue\nlinux /EFI/BOOT/vmlinuz\ninitrd /EFI/BOOT/initrd\noptions console=ttyS0 single\n"
        );
        // No ESP, no choice.
        let mut raw = (preset("raw").unwrap().recipe)();
        assert_eq!(loader(&raw), None);
        assert!(!set_loader(&mut raw, Loader::Grub));
        assert!(is_grub_efi_source(
            "inputs/grub-efi-amd64-bin_2.06-13+deb12u2_amd64.deb"
        ));
        assert!(is_grub_efi_source("grub-x86_64-efi.tar.zst"));
        assert!(!is_grub_efi_source("grub-pc-bin.deb"));
    }

    #[test]
    fn the_example_disk_keeps_its_grub_cfg_and_folder() {
        let text = include_str!("../../examples/bootable-disk.toml");
        let mut v = parse(text, Syntax::Toml).unwrap();
        set_loader(&mut v, Loader::Grub);
        assert_eq!(
            v["grub"]["sources"]["x86_64-efi"],
            "inputs/grub-efi-amd64-bin.deb"
        );
        assert!(v["grub"]["config"]
            .as_str()
            .unwrap()
            .contains("root=PARTLABEL=slim-rootfs"));
        set_loader(&mut v, Loader::SystemdBoot);
        assert_eq!(
            v["partition"][0]["filesystem"]["contents"][0]["file"],
            "inputs/BOOTX64.EFI"
        );
    }

    #[test]
    fn grub_command_lines() {
        let mut v = (preset("gpt-boot").unwrap().recipe)();
        set_loader(&mut v, Loader::Grub);
        let cmd = cli_command(&v);
        let lines: Vec<&str> = cmd.lines().collect();
        assert_eq!(lines[0], "imgforge build recipe.toml -o disk.qcow2");
        assert_eq!(
            lines.last().unwrap(),
            &format!(
                "imgforge grub-install --target=x86_64-efi --directory=grub-efi-amd64-bin.deb --modules='{}' --boot-directory=/EFI/BOOT --config=grub.cfg disk.qcow2",
                GRUB_SEED_MODULES.join(" ")
            )
        );
        let iso = (preset("grub-iso").unwrap().recipe)();
        assert_eq!(cli_command(&iso), "imgforge build recipe.toml -o image.iso");
        assert_eq!(
            input_paths(&iso),
            ["vmlinuz", "initrd.img", GRUB_PC_SOURCE, GRUB_EFI_SOURCE]
        );
        assert_eq!(loader(&iso), None);
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }

    #[test]
    fn check_names_line_and_key() {
        let e = check("[disk]\nsize = \"1G\"\nsizes = 3\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("sizes"), "{e}");
        let e = check("[disk\nsize = 1").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        for p in PRESETS {
            let text = render(&(p.recipe)(), Syntax::Toml);
            if let Err(e) = check(&text) {
                panic!("preset {}: {e}", p.id);
            }
        }
        // The bootable disk with GRUB is a recipe the core takes.
        let mut v = (preset("gpt-boot").unwrap().recipe)();
        set_loader(&mut v, Loader::Grub);
        for syn in [Syntax::Toml, Syntax::Json] {
            check(&render(&v, syn)).unwrap();
        }
    }
}
