//! The Inspect view: an image dropped or picked is inspected by the
//! worker; the page shows its facts, its partition table and, for each
//! filesystem found, a file tree whose directories are listed when
//! expanded and whose files can be downloaded.

use super::dom::{set_text, show};
use super::output::{Job, JobKind, Out};
use super::{dom, on, page, switch_tab};
use crate::protocol::{DirEntry, Inspect, JobError, Json, ListDir, Output, OutputMode, Request};
use imgforge_core::size::human;
use js_sys::Array;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event, File};

/// Wires the view's drop zone, file input and file trees.
pub fn wire(d: &super::Dom) {
    super::build::drop_zone(&d.inspect_drop, |files| {
        if let Some((_, f)) = files.into_iter().next() {
            start_inspect(f);
        }
    });
    on(&d.inspect_file, "change", |_| {
        let input = &dom().inspect_file;
        if let Some(f) = input.files().and_then(|l| l.get(0)) {
            start_inspect(f);
        }
        input.set_value("");
    });
    on(&d.tree, "click", on_tree_click);
}

fn doc() -> Document {
    dom().document.clone()
}

fn start_inspect(f: File) {
    switch_tab("inspect");
    let p = page();
    if p.borrow().job.is_some() {
        set_text(
            &dom().inspect_status,
            "Wait for the running job (or cancel it).",
        );
        return;
    }
    let mut pm = p.borrow_mut();
    let id = pm.take_id();
    pm.job = Some(Job::new(id, JobKind::Inspect, f.name(), Out::None));
    pm.inspected = Some((f.clone(), format!("inspect-{id}")));
    set_text(&dom().inspect_status, &format!("Reading {}…", f.name()));
    show(&dom().inspect_out, false);
    pm.send(id, &Request::Inspect(Inspect { file: f.into() }));
}

fn fact(dl: &Element, key: &str, value: &str) {
    let d = doc();
    if let (Ok(dt), Ok(dd)) = (d.create_element("dt"), d.create_element("dd")) {
        dt.set_text_content(Some(key));
        dd.set_text_content(Some(value));
        let _ = dl.append_child(&dt);
        let _ = dl.append_child(&dd);
    }
}

/// Shows an inspect report (`done.result` of `inspect`).
pub fn render_inspect(name: &str, result: Option<Json>) {
    let text = result.map(|r| r.pretty()).unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let d = dom();
    set_text(&d.inspect_json, &text);
    set_text(&d.inspect_status, "");
    set_text(&d.inspect_name, name);
    let dl = &d.facts;
    dl.set_text_content(None);
    let bytes = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .map(|n| format!("{} ({n} bytes)", human(n)))
    };
    if let Some(f) = v.get("format").and_then(Value::as_str) {
        fact(dl, "Format", f);
    }
    for (k, label) in [
        ("virtual_size", "Virtual size"),
        ("actual_size", "File size"),
        ("allocated_size", "Allocated"),
    ] {
        if let Some(s) = bytes(&v, k) {
            fact(dl, label, &s);
        }
    }
    let c = v.get("container").cloned().unwrap_or(Value::Null);
    if let Some(s) = bytes(&c, "cluster-size") {
        fact(dl, "Cluster size", &s);
    }
    if let Some(b) = c.get("backing-filename").and_then(Value::as_str) {
        fact(dl, "Backing file", b);
    }
    if c.get("dirty-flag").and_then(Value::as_bool) == Some(true) {
        fact(dl, "Dirty", "yes (not cleanly closed)");
    }
    // qemu-img's format-specific block: {"type": ..., "data": {...}}.
    let specific = c.get("format-specific");
    if let Some(Value::Object(m)) = specific.and_then(|f| f.get("data")).or(specific) {
        for (k, x) in m {
            let s = match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fact(dl, k, &s);
        }
    }
    let mut warnings: Vec<String> = v
        .get("warnings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    // Any file opens as "raw": say when nothing in it was recognised.
    if v.get("format").and_then(Value::as_str) == Some("raw")
        && v.get("partition_table").is_none_or(Value::is_null)
        && v.get("filesystem").is_none_or(Value::is_null)
    {
        warnings.push(
            "No partition table and no filesystem found: this is an empty disk, or not a disk image imgforge knows (it reads raw, qcow2, VHD, VHDX, VMDK, OVA and Vagrant box images holding GPT or MBR disks, FAT, ext2/3/4, ISO 9660 and cpio).".into(),
        );
    }
    set_text(&dom().inspect_warnings, &warnings.join("\n"));
    render_partitions(v.get("partition_table").unwrap_or(&Value::Null));
    render_filesystems(&v);
    show(&dom().inspect_out, true);
}

/// One expandable file tree per filesystem the report found: each
/// partition's, or the whole disk's (an ISO, a bare FAT or ext4 image).
fn render_filesystems(v: &Value) {
    let d = doc();
    let dm = dom();
    let host = &dm.tree;
    host.set_text_content(None);
    let mut found: Vec<(Option<u32>, String, Value)> = Vec::new();
    if let Some(parts) = v
        .get("partition_table")
        .and_then(|t| t.get("partitions"))
        .and_then(Value::as_array)
    {
        for p in parts {
            let Some(fs) = p.get("filesystem").filter(|f| f.is_object()) else {
                continue;
            };
            let n = p.get("number").and_then(Value::as_u64).unwrap_or(0) as u32;
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let title = if name.is_empty() {
                format!("Partition {n}")
            } else {
                format!("Partition {n} · {name}")
            };
            found.push((Some(n), title, fs.clone()));
        }
    }
    if let Some(fs) = v.get("filesystem").filter(|f| f.is_object()) {
        found.insert(0, (None, "Whole disk".to_string(), fs.clone()));
    }
    if found.is_empty() {
        host.set_text_content(Some(
            "No filesystem found (imgforge reads FAT, ext2/3/4, ISO 9660 and cpio).",
        ));
        return;
    }
    for (part, title, fs) in found {
        let (Ok(sec), Ok(h), Ok(ul)) = (
            d.create_element("section"),
            d.create_element("h3"),
            d.create_element("ul"),
        ) else {
            return;
        };
        let _ = sec.set_attribute("class", "fs");
        let kind = fs.get("type").and_then(Value::as_str).unwrap_or("?");
        let mut text = format!("{title} — {kind}");
        if let Some(l) = fs
            .get("label")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
        {
            text += &format!(" “{}”", l.trim());
        }
        if let (Some(size), Some(used)) = (
            fs.get("size").and_then(Value::as_u64),
            fs.get("used").and_then(Value::as_u64),
        ) {
            text += &format!(", {} of {} used", human(used), human(size));
        }
        h.set_text_content(Some(&text));
        let _ = sec.append_child(&h);
        if let Some(e) = fs.get("error").and_then(Value::as_str) {
            if let Ok(p) = d.create_element("p") {
                let _ = p.set_attribute("class", "error");
                p.set_text_content(Some(e));
                let _ = sec.append_child(&p);
            }
        }
        let _ = ul.set_attribute("class", "tree");
        let _ = ul.set_attribute("role", "tree");
        let part_attr = part.map(|n| n.to_string()).unwrap_or_default();
        let _ = ul.set_attribute("data-part", &part_attr);
        let _ = sec.append_child(&ul);
        let _ = host.append_child(&sec);
        list_into(part, "/".into(), ul);
    }
}

/// Asks the worker for the entries of `path` and fills `ul` with them.
fn list_into(part: Option<u32>, path: String, ul: Element) {
    let p = page();
    let mut pm = p.borrow_mut();
    let Some((file, key)) = pm.inspected.clone() else {
        return;
    };
    let id = pm.take_id();
    ul.set_text_content(None);
    if let Ok(li) = doc().create_element("li") {
        let _ = li.set_attribute("class", "loading");
        li.set_text_content(Some("Reading…"));
        let _ = ul.append_child(&li);
    }
    let request = Request::ListDir(ListDir {
        file: file.into(),
        key,
        part,
        path: Some(path.clone()),
    });
    let target = ul.clone();
    pm.requests.push((
        id,
        Box::new(move |r| {
            let rows = r.and_then(|done| {
                let rows = done.result.map_or(JsValue::UNDEFINED, |j| j.0);
                serde_wasm_bindgen::from_value::<Vec<DirEntry>>(rows)
                    .map_err(|e| JobError::request(format!("list_dir: {e}")))
            });
            match rows {
                Ok(rows) => fill_dir(&target, &path, &rows),
                Err(e) => {
                    target.set_text_content(None);
                    if let Ok(li) = doc().create_element("li") {
                        let _ = li.set_attribute("class", "error");
                        li.set_text_content(Some(&e.message));
                        let _ = target.append_child(&li);
                    }
                }
            }
        }),
    ));
    pm.send(id, &request);
}

fn child_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Renders the entries of a directory (engine::list_dir's rows).
fn fill_dir(ul: &Element, dir: &str, rows: &[DirEntry]) {
    let d = doc();
    ul.set_text_content(None);
    if rows.is_empty() {
        if let Ok(li) = d.create_element("li") {
            let _ = li.set_attribute("class", "empty");
            li.set_text_content(Some("(empty)"));
            let _ = ul.append_child(&li);
        }
        return;
    }
    for row in rows {
        let path = child_path(dir, &row.name);
        let (Ok(li), Some(line)) = (d.create_element("li"), entry_line(&d, row, &path)) else {
            return;
        };
        let kind = &row.kind;
        let _ = li.set_attribute("class", &format!("node {kind}"));
        let _ = li.set_attribute("data-path", &path);
        let _ = li.set_attribute("data-kind", kind);
        let _ = li.set_attribute("data-size", &(row.size as u64).to_string());
        let _ = li.set_attribute("role", "treeitem");
        let _ = li.append_child(&line);
        let _ = ul.append_child(&li);
    }
}

/// One entry's line: its name (a directory's a toggle button), mode and
/// size, and a file's Download button (clicks handled by [`on_tree_click`]).
fn entry_line(d: &Document, row: &DirEntry, path: &str) -> Option<Element> {
    let (name, kind, size) = (&row.name, row.kind.as_str(), row.size as u64);
    let line = d.create_element("div").ok()?;
    let _ = line.set_attribute("class", "line");
    let label = if kind == "dir" {
        let b = d.create_element("button").ok()?;
        let _ = b.set_attribute("type", "button");
        let _ = b.set_attribute("class", "toggle");
        let _ = b.set_attribute("aria-expanded", "false");
        b.set_text_content(Some(&format!("{name}/")));
        b
    } else {
        let span = d.create_element("span").ok()?;
        let _ = span.set_attribute("class", "name");
        let text = match &row.target {
            Some(t) => format!("{name} → {t}"),
            None => name.clone(),
        };
        span.set_text_content(Some(&text));
        span
    };
    let _ = line.append_child(&label);
    let size_text = match kind {
        "file" => human(size),
        "dir" => match row.entries.unwrap_or(0.0) as u64 {
            0 => "empty".to_string(),
            1 => "1 entry".to_string(),
            n => format!("{n} entries"),
        },
        _ => row.device.clone().unwrap_or_default(),
    };
    for (class, text) in [("mode", row.mode.clone()), ("size", size_text)] {
        if let Ok(span) = d.create_element("span") {
            let _ = span.set_attribute("class", class);
            span.set_text_content(Some(&text));
            if class == "size" && kind == "file" {
                let _ = span.set_attribute("title", &format!("{size} bytes"));
            }
            let _ = line.append_child(&span);
        }
    }
    if kind == "file" {
        if let Ok(b) = d.create_element("button") {
            let _ = b.set_attribute("type", "button");
            let _ = b.set_attribute("class", "get secondary");
            let _ = b.set_attribute("aria-label", &format!("download {path}"));
            b.set_text_content(Some("Download"));
            let _ = line.append_child(&b);
        }
    }
    Some(line)
}

/// A click in the file trees: a directory's toggle, or a file's Download.
/// One listener for all the trees: rows come and go with every image.
fn on_tree_click(e: &Event) {
    let Some(target) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    let Some(button) = target.closest("button.toggle, button.get").ok().flatten() else {
        return;
    };
    let (Some(li), Some(tree)) = (
        button.closest("li[data-path]").ok().flatten(),
        button.closest("ul.tree").ok().flatten(),
    ) else {
        return;
    };
    let path = li.get_attribute("data-path").unwrap_or_default();
    let part = tree
        .get_attribute("data-part")
        .and_then(|p| p.parse::<u32>().ok());
    if button.class_list().contains("toggle") {
        toggle_dir(&li, &button, part, &path);
    } else {
        start_read_file(part, &path);
    }
}

fn toggle_dir(li: &Element, button: &Element, part: Option<u32>, path: &str) {
    let open = button.get_attribute("aria-expanded").as_deref() == Some("true");
    let _ = button.set_attribute("aria-expanded", if open { "false" } else { "true" });
    let existing = li.query_selector(":scope > ul").ok().flatten();
    match (open, existing) {
        (true, Some(ul)) => {
            let _ = ul.set_attribute("hidden", "");
        }
        (false, Some(ul)) => {
            let _ = ul.remove_attribute("hidden");
        }
        (_, None) => {
            let Ok(ul) = doc().create_element("ul") else {
                return;
            };
            let _ = ul.set_attribute("role", "group");
            let _ = li.append_child(&ul);
            list_into(part, path.to_string(), ul);
        }
    }
}

/// Takes one file out of the inspected image: the worker reads it in
/// chunks (to OPFS where it can) and the page offers it as a download.
fn start_read_file(part: Option<u32>, path: &str) {
    let p = page();
    if p.borrow().job.is_some() {
        set_text(
            &dom().inspect_status,
            "Wait for the running job (or cancel it).",
        );
        return;
    }
    let mut pm = p.borrow_mut();
    let Some((file, key)) = pm.inspected.clone() else {
        return;
    };
    let id = pm.take_id();
    let name = path.rsplit('/').next().unwrap_or("file").to_string();
    let out_name = format!("imgforge-out-{id}-{name}");
    pm.job = Some(Job::new(id, JobKind::File, name, Out::Parts(Array::new())));
    set_text(&dom().inspect_status, &format!("Reading {path}…"));
    let at = ListDir {
        file: file.into(),
        key,
        part,
        path: Some(path.to_string()),
    };
    let output = Output {
        out: OutputMode::Auto,
        name: Some(out_name),
        patch: false,
    };
    pm.send(id, &Request::ReadFile(at, output));
}

/// The partition table of an inspect report (core inspect::PartitionTable).
fn render_partitions(table: &Value) {
    let d = doc();
    let dm = dom();
    let host = &dm.parts;
    host.set_text_content(None);
    if table.is_null() {
        host.set_text_content(Some("No partition table found."));
        return;
    }
    let kind = table.get("type").and_then(Value::as_str).unwrap_or("?");
    let guid = table
        .get("disk_guid")
        .or_else(|| table.get("disk_signature"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Ok(p) = d.create_element("p") {
        p.set_text_content(Some(&format!("{} {guid}", kind.to_uppercase())));
        let _ = host.append_child(&p);
    }
    let list = table
        .get("partitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cols = [
        ("number", "#"),
        ("name", "Name"),
        ("type_code", "Code"),
        ("type_name", "Type"),
        ("start", "Start"),
        ("end", "End"),
        ("size", "Size"),
    ];
    let Ok(t) = d.create_element("table") else {
        return;
    };
    if let Ok(tr) = d.create_element("tr") {
        for (_, label) in cols {
            if let Ok(th) = d.create_element("th") {
                th.set_text_content(Some(label));
                let _ = tr.append_child(&th);
            }
        }
        let _ = t.append_child(&tr);
    }
    for p in &list {
        if let Ok(tr) = d.create_element("tr") {
            for (k, _) in cols {
                if let Ok(td) = d.create_element("td") {
                    let s = match (k, p.get(k)) {
                        ("size", Some(Value::Number(n))) => human(n.as_u64().unwrap_or(0)),
                        (_, Some(Value::String(s))) => s.clone(),
                        (_, Some(Value::Null)) | (_, None) => String::new(),
                        (_, Some(x)) => x.to_string(),
                    };
                    td.set_text_content(Some(&s));
                    let _ = tr.append_child(&td);
                }
            }
            let _ = t.append_child(&tr);
        }
    }
    let _ = host.append_child(&t);
}
