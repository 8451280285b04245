//! The engine facade: the few calls the browser (page, worker, node exports)
//! makes into the core, all on core types. Nothing here knows about JS, so
//! the bodies can be swapped for the real core calls as the formats land.

use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::io::{Progress, Sink, Source};
use imgforge_core::{BuildContext, Disk, Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Input files of a build, by the path the recipe names them with.
/// A BTreeMap so that iteration order (and so output) is deterministic.
pub type FileMap = BTreeMap<String, Source>;

/// What the page shows about an image: the container's `qemu-img info`
/// fields plus the partition table.
pub fn inspect(src: Source) -> Result<Value> {
    let format = container::detect(&*src)?;
    let file_size = src.size();
    let opened = container::open(src, Some(format))?;
    let mut v = serde_json::to_value(&opened.info)
        .map_err(|e| Error::invalid("inspect", format!("cannot serialize info: {e}")))?;
    if let Value::Object(m) = &mut v {
        m.insert("actual-size".into(), json!(file_size));
        m.insert(
            "allocated-bytes".into(),
            json!(opened.disk.allocated_bytes()),
        );
        // LEAD: switch to imgforge_core::inspect::inspect, which reads the
        // GPT/MBR of `opened.disk` and the filesystems of its partitions.
        m.insert("partitions".into(), Value::Null);
    }
    Ok(v)
}

/// Lists a directory of the filesystem in partition `part` (None: the whole
/// disk is one filesystem) of an image, for the page's file tree.
pub fn list_dir(src: Source, part: Option<u32>, path: &str) -> Result<Value> {
    // LEAD: open the container, find the partition with the core's
    // partition readers, read_tree() the filesystem and list `path`:
    // [{"name", "kind": "dir"|"file"|"symlink"|..., "size", "mode"}].
    let _ = (src, part, path);
    Err(Error::unsupported(
        "inspect",
        "listing files needs the filesystem readers (not merged yet)",
    ))
}

/// The output formats the page offers: the containers plus the two
/// formats that are not disks.
pub const OUTPUT_FORMATS: &[&str] = &[
    "raw",
    "qcow2",
    "vhd",
    "vhdx",
    "vmdk",
    "ova",
    "box",
    "iso",
    "initramfs",
];

/// Builds what `recipe` describes from `files` into `sink`.
pub fn build(
    recipe: &Value,
    files: &FileMap,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = files;
    let out = recipe.get("output").unwrap_or(&Value::Null);
    let format = out.get("format").and_then(Value::as_str).unwrap_or("raw");
    let disk_spec = recipe.get("disk").unwrap_or(&Value::Null);
    let table = disk_spec
        .get("table")
        .and_then(Value::as_str)
        .unwrap_or("none");
    let has_partitions = disk_spec
        .get("partitions")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if !disk_spec.is_object() || table != "none" || has_partitions {
        // LEAD: the real recipe build goes here:
        //   let recipe = imgforge_core::recipe::Recipe::from_value(recipe)?;
        //   imgforge_core::build::build(&recipe, files, sink, progress)
        // (partition tables, filesystems from `files`, iso, initramfs).
        return Err(Error::unsupported(
            "recipe",
            "only an empty disk (table = \"none\", no partitions) can be built until the recipe builder is merged",
        ));
    }
    let size = match disk_spec.get("size") {
        Some(Value::String(s)) => imgforge_core::size::parse_size(s, "disk.size")?,
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| Error::invalid("disk.size", "must be a positive number of bytes"))?,
        _ => return Err(Error::invalid("disk.size", "missing (example: \"10G\")")),
    };
    let format = Format::parse(format).map_err(|_| {
        Error::unsupported(
            "recipe",
            format!("output format '{format}' is built by the recipe builder (not merged yet)"),
        )
    })?;
    let opts = write_options(out, recipe)?;
    progress.step("preparing", 0, size)?;
    let disk = Disk::new(size);
    container::write(format, &disk, &opts, sink, progress)
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

/// Writer options from a recipe's `output` table (or a convert options
/// object): `compress`, `cluster_size`, `subformat`, `options` (other
/// `-o key=value` pairs), `vm`, and the recipe's `epoch`/`seed`.
pub fn write_options(out: &Value, top: &Value) -> Result<WriteOptions> {
    let mut o = WriteOptions::default();
    if let Some(c) = out.get("compress") {
        o.compress = c
            .as_bool()
            .ok_or_else(|| Error::invalid("output.compress", "must be true or false"))?;
    }
    match out.get("cluster_size") {
        None => {}
        Some(Value::String(s)) => {
            o.cluster_size = Some(imgforge_core::size::parse_size(s, "output.cluster_size")?)
        }
        Some(v) => {
            o.cluster_size = Some(v.as_u64().ok_or_else(|| {
                Error::invalid("output.cluster_size", "must be a size such as \"64K\"")
            })?)
        }
    }
    if let Some(s) = out.get("subformat") {
        o.subformat = Some(
            s.as_str()
                .ok_or_else(|| Error::invalid("output.subformat", "must be a string"))?
                .to_string(),
        );
    }
    if let Some(Value::Object(m)) = out.get("options") {
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            o.extra.push((k.clone(), v));
        }
    }
    if let Some(vm) = out.get("vm") {
        if let Some(n) = vm.get("name").and_then(Value::as_str) {
            o.vm.name = n.to_string();
        }
        if let Some(n) = vm.get("cpus").and_then(Value::as_u64) {
            o.vm.cpus =
                u32::try_from(n).map_err(|_| Error::invalid("output.vm.cpus", "too large"))?;
        }
        if let Some(n) = vm.get("memory").and_then(Value::as_u64) {
            o.vm.memory_mib = n;
        }
    }
    o.ctx = context(top)?;
    Ok(o)
}

/// The build's epoch and seed from the recipe's top level.
pub fn context(top: &Value) -> Result<BuildContext> {
    let mut ctx = BuildContext::default();
    if let Some(e) = top.get("epoch") {
        ctx.epoch = e
            .as_i64()
            .ok_or_else(|| Error::invalid("epoch", "must be seconds since 1970 (an integer)"))?;
    }
    if let Some(s) = top.get("seed") {
        ctx.seed = s
            .as_str()
            .ok_or_else(|| Error::invalid("seed", "must be a string"))?
            .to_string();
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgforge_core::io::NoProgress;
    use std::sync::Arc;

    #[test]
    fn builds_an_empty_raw_disk_as_holes() {
        let r = json!({"disk": {"size": "1M", "table": "none"}, "output": {"format": "raw"}});
        let mut out = Vec::new();
        build(&r, &FileMap::new(), &mut out, &NoProgress).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn refuses_what_it_cannot_build_yet() {
        let r = json!({"disk": {"size": "1M", "table": "gpt"}, "output": {"format": "raw"}});
        let e = build(&r, &FileMap::new(), &mut Vec::new(), &NoProgress).unwrap_err();
        assert!(e.to_string().contains("recipe"), "{e}");
        let r = json!({"disk": {"size": "nope"}, "output": {"format": "raw"}});
        let e = build(&r, &FileMap::new(), &mut Vec::new(), &NoProgress).unwrap_err();
        assert!(e.to_string().contains("disk.size"), "{e}");
    }

    #[test]
    fn inspects_a_raw_image() {
        let v = inspect(Arc::new(vec![0u8; 4096])).unwrap();
        assert_eq!(v["format"], "raw");
        assert_eq!(v["virtual-size"], 4096);
        assert!(v["partitions"].is_null());
    }
}
