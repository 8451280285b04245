//! The engine facade: the few calls the browser (page, worker, node exports)
//! makes into the core, all on core types. Nothing here knows about JS, so
//! the bodies can be swapped for the real core calls as the formats land.

use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::io::{Progress, Sink, Source};
use imgforge_core::recipe::ConvertOptions;
use imgforge_core::tree::{FileData, NodeKind, Tree};
use imgforge_core::{BuildContext, Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Input files of a build, by the path the recipe names them with.
/// A BTreeMap so that iteration order (and so output) is deterministic.
pub type FileMap = BTreeMap<String, Source>;

/// What the page shows about an image, in the shape of the core's
/// `inspect::Report` (docs/inspect-json.md): `format`, `virtual_size`,
/// `allocated_size`, `actual_size`, `container` (qemu-img info fields),
/// `partition_table`, `warnings`.
pub fn inspect(src: Source) -> Result<Value> {
    let mut report = imgforge_core::inspect::inspect(src.clone())?;
    // The browser cannot see the file's allocation: its length stands in.
    report.actual_size = Some(src.size());
    if report.format == "raw" {
        if let Some(name) = foreign_format(&*src) {
            report.warnings.insert(
                0,
                format!("this looks like a {name} image, which imgforge does not read: it is shown as raw bytes; `qemu-img convert -O qcow2` turns it into one imgforge reads"),
            );
        }
    }
    serde_json::to_value(&report).map_err(|e| Error::invalid("inspect", e))
}

/// Names disk image formats that imgforge does not read, from their magic
/// (each format's header, as qemu's block drivers probe them).
pub fn foreign_format(src: &dyn imgforge_core::io::ReadAt) -> Option<&'static str> {
    let mut head = [0u8; 72];
    if src.size() >= head.len() as u64 {
        src.read_at(0, &mut head).ok()?;
        // VirtualBox VDI: signature 0xbeda107f at byte 64 (qemu block/vdi.c).
        if head[64..68] == 0xbeda_107fu32.to_le_bytes() {
            return Some("VirtualBox VDI");
        }
        if &head[..4] == b"QED\0" {
            return Some("QED");
        }
        if &head[..16] == b"WithoutFreeSpace" || &head[..16] == b"WithouFreSpacExt" {
            return Some("Parallels");
        }
        if &head[..4] == b"QFI\xfb" {
            return Some("qcow (version 1)");
        }
    }
    // Apple DMG: the "koly" trailer in the last 512 bytes.
    if src.size() >= 512 {
        let mut koly = [0u8; 4];
        src.read_at(src.size() - 512, &mut koly).ok()?;
        if &koly == b"koly" {
            return Some("Apple DMG");
        }
    }
    None
}

/// Opens the filesystem in partition `part` (None: the whole disk is one
/// filesystem) of an image (any container) as a tree. File data stays in
/// the image: listing and reading go through lazy ranges of `src`.
pub fn open_tree(src: Source, part: Option<u32>) -> Result<Tree> {
    imgforge_core::fs::open_tree(src, part)
}

/// Lists the directory `path` of `tree` for the page's file tree:
/// `[{"name", "kind": "dir"|"file"|"symlink"|"chardev"|"blockdev"|"fifo"|
/// "socket", "size", "mode": "drwxr-xr-x", "uid", "gid", "mtime",
/// "target"?: link target, "entries"?: a directory's entry count,
/// "device"?: "major,minor"}]`, directories first, then by name.
pub fn list_dir(tree: &Tree, path: &str) -> Result<Value> {
    let id = tree
        .lookup(path)
        .ok_or_else(|| Error::invalid(path.to_string(), "no such file or directory"))?;
    if !matches!(tree.node(id).kind, NodeKind::Dir(_)) {
        return Err(Error::invalid(path.to_string(), "not a directory"));
    }
    let mut rows: Vec<(bool, Value)> = tree
        .children(id)
        .map(|(name, child)| {
            let n = tree.node(child);
            let (kind, size) = match &n.kind {
                NodeKind::Dir(_) => ("dir", 0),
                NodeKind::File(d) => ("file", d.len()),
                NodeKind::Symlink(t) => ("symlink", t.len() as u64),
                NodeKind::CharDev { .. } => ("chardev", 0),
                NodeKind::BlockDev { .. } => ("blockdev", 0),
                NodeKind::Fifo => ("fifo", 0),
                NodeKind::Socket => ("socket", 0),
            };
            let mut v = json!({
                "name": name,
                "kind": kind,
                "size": size,
                "mode": mode_string(n.kind.type_bits() | n.meta.mode),
                "uid": n.meta.uid,
                "gid": n.meta.gid,
                "mtime": n.meta.mtime,
            });
            match &n.kind {
                NodeKind::Symlink(t) => v["target"] = json!(t),
                NodeKind::Dir(m) => v["entries"] = json!(m.len()),
                NodeKind::CharDev { major, minor } | NodeKind::BlockDev { major, minor } => {
                    v["device"] = json!(format!("{major},{minor}"))
                }
                _ => {}
            }
            (kind != "dir", v)
        })
        .collect();
    // Directories first; children() is already in name order.
    rows.sort_by_key(|(not_dir, _)| *not_dir);
    Ok(Value::Array(rows.into_iter().map(|(_, v)| v).collect()))
}

/// The regular file at `path` in `tree` (its data is read lazily).
pub fn file_data(tree: &Tree, path: &str) -> Result<FileData> {
    let id = tree
        .lookup(path)
        .ok_or_else(|| Error::invalid(path.to_string(), "no such file"))?;
    match &tree.node(id).kind {
        NodeKind::File(d) => Ok(d.clone()),
        _ => Err(Error::invalid(path.to_string(), "not a regular file")),
    }
}

pub use imgforge_core::tree::mode_string;

/// The output formats the page offers: the recipe's `output.format` values.
pub use imgforge_core::recipe::OUTPUT_FORMATS;

/// Builds what `recipe` (docs/recipe.md, as JSON) describes from `files`
/// into `sink`; returns the build's warnings. A `[grow]` recipe grows an
/// input image instead (the core's `build::grow`).
pub fn build(
    recipe: &Value,
    files: &FileMap,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let r = imgforge_core::recipe::parse(&recipe.to_string(), imgforge_core::recipe::Syntax::Json)?;
    // The page has no environment: the recipe's [build] table decides.
    let ctx = BuildContext::resolve(r.build.as_ref(), None, None, None)?;
    let inputs = imgforge_core::build::MapInputs(files.clone());
    Ok(imgforge_core::build::build(&r, &inputs, &ctx, sink, progress)?.warnings)
}

/// Rewrites the image `src` as `format`.
pub fn convert(
    src: Source,
    format: Format,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let opened = container::open(src, None)?;
    container::write(format, &opened.disk, opts, sink, progress)
}

/// Writer options from a convert options object: the recipe's `output`
/// keys (`compress`, `cluster_size`, `subformat`, `options`, `vm`) and
/// `epoch`/`seed` (the core's `recipe::ConvertOptions`).
pub fn write_options(opts: &Value) -> Result<WriteOptions> {
    let o: ConvertOptions =
        serde_json::from_value(opts.clone()).map_err(|e| Error::invalid("convert options", e))?;
    o.write_options()
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgforge_core::io::NoProgress;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn builds_a_sparse_gpt_disk() {
        let r = json!({"output": {"format": "raw"}, "disk": {"size": "1M", "table": "gpt"},
                       "partition": [{"type": "8300", "name": "data", "size": "rest"}]});
        let mut out = Vec::new();
        build(&r, &FileMap::new(), &mut out, &NoProgress).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert_eq!(&out[512..520], b"EFI PART");
    }

    #[test]
    fn inspects_a_raw_image() {
        let v = inspect(Arc::new(vec![0u8; 4096])).unwrap();
        assert_eq!(v["format"], "raw");
        assert_eq!(v["virtual_size"], 4096);
        assert_eq!(v["warnings"], json!([]));
    }

    #[test]
    fn lists_a_directory_dirs_first_with_modes_and_targets() {
        let mut t = Tree::new(0);
        t.add_file("/etc/hostname", b"imgforge\n".to_vec()).unwrap();
        t.add_dir("/etc/ssh").unwrap();
        t.add_symlink("/etc/localtime", "/usr/share/zoneinfo/UTC")
            .unwrap();
        let v = list_dir(&t, "/etc").unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ssh", "hostname", "localtime"]);
        assert_eq!(v[1]["size"], 9);
        assert_eq!(v[1]["kind"], "file");
        assert_eq!(v[2]["target"], "/usr/share/zoneinfo/UTC");
        assert_eq!(v[0]["mode"], "drwxr-xr-x");
        assert!(list_dir(&t, "/etc/hostname").is_err());
        assert!(list_dir(&t, "/nope").is_err());
        let d = file_data(&t, "/etc/hostname").unwrap();
        let mut b = [0u8; 3];
        d.read_at(6, &mut b).unwrap();
        assert_eq!(&b, b"ge\n");
    }

    #[test]
    fn names_formats_it_does_not_read() {
        let mut vdi = vec![0u8; 4096];
        vdi[64..68].copy_from_slice(&0xbeda_107fu32.to_le_bytes());
        assert_eq!(foreign_format(&vdi), Some("VirtualBox VDI"));
        let v = inspect(Arc::new(vdi)).unwrap();
        assert!(v["warnings"][0].as_str().unwrap().contains("VDI"), "{v}");
        assert_eq!(foreign_format(&vec![0u8; 4096]), None);
    }

    #[test]
    fn grows_a_raw_image() {
        let mut img = vec![0u8; 4096];
        img[10] = 7;
        let mut files = FileMap::new();
        files.insert("cloud.img".into(), Arc::new(img) as Source);
        let r = json!({"grow": {"image": "cloud.img", "size": "+4K"}, "output": {"format": "raw"}});
        let mut out = Vec::new();
        build(&r, &files, &mut out, &NoProgress).unwrap();
        assert_eq!(out.len(), 8192);
        assert_eq!(out[10], 7);
        let r = json!({"grow": {"image": "cloud.img", "size": "-1K"}, "output": {"format": "raw"}});
        assert!(build(&r, &files, &mut Vec::new(), &NoProgress).is_err());
    }
}
