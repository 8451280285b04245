//! The Build view: presets, the form and the recipe text kept in sync
//! (both edit the one recipe model in [`Page`](super::Page)), the input
//! files (picked, or dropped with their folders), and Build, which sends the
//! recipe and the files to the worker.

use super::dom::{set_text, show, Dom};
use super::jobs::{set_busy, set_progress};
use super::output::{self, Job, JobKind, Out};
use super::{call, call_async, dom, get, obj, on, on_active, page};
use crate::blob::js_message;
use crate::engine::OUTPUT_FORMATS;
use crate::protocol::{self, Input, Output, OutputMode, Request};
use crate::recipe::{self, Form, GrubForm, Loader, PartRow, Syntax, PRESETS};
use imgforge_core::size::human;
use js_sys::{Array, Promise};
use serde_json::Value;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Blob, Document, DragEvent, Element, File, HtmlElement, HtmlInputElement};

/// Above this a raw image is a poor download: the default becomes qcow2.
const RAW_LIMIT: u64 = 2 << 30;

fn doc() -> Document {
    dom().document.clone()
}

/// Fills the preset buttons and the format list, and wires the view.
pub fn wire(d: &Dom) {
    // Presets and output formats come from the Rust lists.
    for pr in PRESETS {
        let Some(b) = d.create("button") else {
            continue;
        };
        b.set_text_content(Some(pr.title));
        let _ = b.set_attribute("type", "button");
        let _ = b.set_attribute("data-preset", pr.id);
        let _ = b.set_attribute("class", "preset");
        let _ = d.presets.append_child(&b);
        let id = pr.id;
        on(&b, "click", move |_| load_preset(id));
    }
    for f in OUTPUT_FORMATS {
        let Some(o) = d.create("option") else {
            continue;
        };
        o.set_text_content(Some(f));
        let _ = o.set_attribute("value", f);
        let _ = d.f_format.append_child(&o);
    }
    wire_form(d);
    wire_recipe(d);
    wire_files(d);
}

/// Form → recipe.
fn wire_form(d: &Dom) {
    on(&d.f_size, "input", |_| form_changed());
    on(&d.f_table, "input", |_| form_changed());
    on(&d.f_format, "change", |_| {
        page().borrow_mut().format_chosen = true;
        form_changed();
    });
    on(&d.f_parts, "input", |_| form_changed());
    on(&d.f_loader, "change", |_| loader_changed());
    on(&d.grub_source, "input", |_| grub_changed());
    on(&d.grub_modules, "input", |_| grub_changed());
    on(&d.grub_cfg, "input", |_| grub_changed());
    for g in [&d.g_image, &d.g_size, &d.g_last] {
        on(g, "input", |_| grow_changed());
    }
    on(&d.f_parts, "click", |e| {
        let t = e.target().and_then(|t| t.dyn_into::<Element>().ok());
        if let Some(i) = t.and_then(|t| t.get_attribute("data-remove")) {
            let mut f = read_form();
            if let Ok(i) = i.parse::<usize>() {
                if i < f.partitions.len() {
                    f.partitions.remove(i);
                }
            }
            write_parts(&f.partitions);
            form_changed();
        }
    });
    on(&d.f_add_part, "click", |_| {
        let mut f = read_form();
        if f.table.is_empty() || f.table == "none" {
            f.table = "gpt".into();
            dom().f_table.set_value("gpt");
        }
        f.partitions.push(PartRow {
            name: format!("part{}", f.partitions.len() + 1),
            kind: "8300".into(),
            size: "rest".into(),
            fs: "ext4".into(),
            label: String::new(),
        });
        write_parts(&f.partitions);
        form_changed();
    });
}

/// Recipe text → form; the syntax radio buttons re-render the text.
fn wire_recipe(d: &Dom) {
    on(&d.recipe, "input", |_| text_changed());
    for radio in [&d.syntax_toml, &d.syntax_json] {
        on(radio, "change", |e| {
            let v = e
                .target()
                .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
                .map(|i| i.value())
                .unwrap_or_default();
            let p = page();
            p.borrow_mut().syntax = Syntax::parse(&v);
            let (r, s) = {
                let p = p.borrow();
                (p.recipe.clone(), p.syntax)
            };
            let d = dom();
            d.recipe.set_value(&recipe::render(&r, s));
            set_text(&d.recipe_error, "");
        });
    }
}

/// Input files: the file and folder inputs, Clear, the drop zone.
fn wire_files(d: &Dom) {
    for input in [&d.files, &d.folder] {
        let input2 = input.clone();
        on(input, "change", move |_| {
            if let Some(list) = input2.files() {
                add_files(
                    (0..list.length())
                        .filter_map(|i| list.get(i))
                        .map(|f| (input_path(&f), f))
                        .collect(),
                );
            }
            input2.set_value("");
        });
    }
    on(&d.clear_files, "click", |_| {
        page().borrow_mut().files.clear();
        render_files();
    });
    drop_zone(&d.drop, add_files);
}

pub fn set_recipe_text(text: &str, syntax: Option<&str>) {
    let syn = syntax
        .map(Syntax::parse)
        .unwrap_or_else(|| recipe::sniff(text));
    page().borrow_mut().syntax = syn;
    dom().recipe.set_value(text);
    text_changed();
    sync_syntax_radio();
}

pub async fn fetch_text(url: &str) -> Result<String, JsValue> {
    let blob = fetch_blob(url).await?;
    call_async(&blob, "text", &[])
        .await?
        .as_string()
        .ok_or_else(|| "not text".into())
}

pub fn sync_syntax_radio() {
    let s = page().borrow().syntax;
    dom().syntax_toml.set_checked(s == Syntax::Toml);
    dom().syntax_json.set_checked(s == Syntax::Json);
}

pub fn load_preset(id: &str) {
    let Some(pr) = recipe::preset(id) else {
        set_text(&dom().recipe_error, &format!("No preset named '{id}'."));
        return;
    };
    let p = page();
    {
        let mut p = p.borrow_mut();
        p.recipe = (pr.recipe)();
        p.format_chosen = false;
        p.preset = Some(pr.id);
    }
    let (r, s) = {
        let p = p.borrow();
        (p.recipe.clone(), p.syntax)
    };
    write_form(&Form::from_recipe(&r));
    let text = recipe::render(&r, s);
    dom().recipe.set_value(&text);
    // A preset the core cannot build yet (the GRUB ISO before
    // grub::mkrescue) says so at once, not only at Build.
    set_text(
        &dom().recipe_error,
        &recipe::check(&text).err().unwrap_or_default(),
    );
    recipe_updated();
    pick_grub_source();
}

fn read_form() -> Form {
    let mut partitions = Vec::new();
    if let Ok(rows) = doc().query_selector_all("#f-parts tbody tr") {
        for i in 0..rows.length() {
            let Some(row) = rows
                .get(i)
                .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
            else {
                continue;
            };
            let field = |f: &str| {
                row.query_selector(&format!("[data-field={f}]"))
                    .ok()
                    .flatten()
                    .map(|e| {
                        e.unchecked_into::<HtmlInputElement>()
                            .value()
                            .trim()
                            .to_string()
                    })
                    .unwrap_or_default()
            };
            partitions.push(PartRow {
                name: field("name"),
                kind: field("type"),
                size: field("size"),
                fs: field("fs"),
                label: field("label"),
            });
        }
    }
    Form {
        size: dom().f_size.value().trim().to_string(),
        table: dom().f_table.value(),
        partitions,
        format: dom().f_format.value(),
    }
}

fn write_form(f: &Form) {
    write_grub();
    dom().f_size.set_value(&f.size);
    dom()
        .f_table
        .set_value(if f.table.is_empty() { "none" } else { &f.table });
    dom().f_format.set_value(&f.format);
    write_parts(&f.partitions);
    let grow = page().borrow().recipe.get("grow").cloned();
    if let Some(g) = grow {
        let text = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        dom().g_image.set_value(&text("image"));
        dom().g_size.set_value(&text("size"));
        dom()
            .g_last
            .set_checked(g.get("grow_last").and_then(Value::as_bool) == Some(true));
    }
}

/// The boot loader choice and the `[grub]` fields, from the recipe.
fn write_grub() {
    let r = page().borrow().recipe.clone();
    let d = dom();
    if let Some(l) = recipe::loader(&r) {
        d.f_loader.set_value(l.name());
    }
    if let Some(g) = GrubForm::from_recipe(&r) {
        d.grub_source.set_value(&g.source);
        d.grub_modules.set_value(&g.modules);
        d.grub_cfg.set_value(&g.config);
    }
}

/// The boot loader choice changed: the recipe switches between a given
/// BOOTX64.EFI (systemd-boot) and `[grub]`, keeping its boot entry.
fn loader_changed() {
    let to = Loader::parse(&dom().f_loader.value());
    let p = page();
    let (r, s) = {
        let mut p = p.borrow_mut();
        recipe::set_loader(&mut p.recipe, to);
        (p.recipe.clone(), p.syntax)
    };
    write_grub();
    dom().recipe.set_value(&recipe::render(&r, s));
    set_text(&dom().recipe_error, "");
    // The GRUB source may already be among the files given.
    if to == Loader::Grub {
        pick_grub_source();
    }
    recipe_updated();
}

/// A `[grub]` field changed: written into the recipe.
fn grub_changed() {
    let d = dom();
    let g = GrubForm {
        source: d.grub_source.value().trim().to_string(),
        modules: d.grub_modules.value(),
        config: d.grub_cfg.value(),
    };
    let p = page();
    let (r, s) = {
        let mut p = p.borrow_mut();
        g.apply(&mut p.recipe);
        (p.recipe.clone(), p.syntax)
    };
    let text = recipe::render(&r, s);
    d.recipe.set_value(&text);
    set_text(
        &d.recipe_error,
        &recipe::check(&text).err().unwrap_or_default(),
    );
    recipe_updated();
}

/// With `[grub]`, a given file that is GRUB's x86_64-efi module source
/// (a grub-efi-amd64-bin .deb, an x86_64-efi tar) becomes the source
/// when the one the recipe names is not given.
fn pick_grub_source() {
    let (named, found) = {
        let p = page();
        let p = p.borrow();
        let Some(g) = GrubForm::from_recipe(&p.recipe) else {
            return;
        };
        let given = |path: &str| p.files.iter().any(|(q, _)| q == path);
        if given(&g.source) {
            return;
        }
        (
            g.source,
            p.files
                .iter()
                .map(|(q, _)| q.clone())
                .find(|q| recipe::is_grub_efi_source(q)),
        )
    };
    if let Some(found) = found.filter(|f| *f != named) {
        dom().grub_source.set_value(&found);
        grub_changed();
    }
}

/// The grow fields changed: written into the recipe's `grow` table.
fn grow_changed() {
    let image = dom().g_image.value().trim().to_string();
    let size = dom().g_size.value().trim().to_string();
    let last = dom().g_last.checked();
    set_grow(|g| {
        g.insert("image".into(), image.into());
        g.insert("size".into(), size.into());
        g.insert("grow_last".into(), last.into());
    });
}

fn set_grow(f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let p = page();
    let (r, s) = {
        let mut p = p.borrow_mut();
        if let Some(Value::Object(g)) = p.recipe.get_mut("grow") {
            f(g);
        }
        (p.recipe.clone(), p.syntax)
    };
    dom().recipe.set_value(&recipe::render(&r, s));
    set_text(&dom().recipe_error, "");
    recipe_updated();
}

fn write_parts(parts: &[PartRow]) {
    let d = doc();
    let body: HtmlElement = match d.query_selector("#f-parts tbody") {
        Ok(Some(b)) => b.unchecked_into(),
        _ => return,
    };
    body.set_text_content(None);
    for (i, p) in parts.iter().enumerate() {
        let Ok(tr) = d.create_element("tr") else {
            return;
        };
        for (field, value, hint) in [
            ("name", &p.name, "name"),
            ("type", &p.kind, "ef00, 8300"),
            ("size", &p.size, "100M, rest"),
            ("fs", &p.fs, "fat, ext4"),
            ("label", &p.label, "label"),
        ] {
            let (Ok(td), Ok(input)) = (d.create_element("td"), d.create_element("input")) else {
                return;
            };
            let input: HtmlInputElement = input.unchecked_into();
            input.set_value(value);
            let _ = input.set_attribute("data-field", field);
            let _ = input.set_attribute("placeholder", hint);
            let _ = input.set_attribute("aria-label", &format!("partition {} {field}", i + 1));
            let _ = td.append_child(&input);
            let _ = tr.append_child(&td);
        }
        if let (Ok(td), Ok(b)) = (d.create_element("td"), d.create_element("button")) {
            b.set_text_content(Some("×"));
            let _ = b.set_attribute("type", "button");
            let _ = b.set_attribute("class", "icon");
            let _ = b.set_attribute("data-remove", &i.to_string());
            let _ = b.set_attribute("aria-label", &format!("remove partition {}", i + 1));
            let _ = td.append_child(&b);
            let _ = tr.append_child(&td);
        }
        let _ = body.append_child(&tr);
    }
    show(&dom().f_parts, !parts.is_empty());
}

/// A form field changed: the form is written into the recipe model and the
/// text re-rendered.
fn form_changed() {
    let mut f = read_form();
    let p = page();
    let chosen = p.borrow().format_chosen;
    if let Ok(size) = imgforge_core::size::parse_size(&f.size, "disk.size") {
        if size > RAW_LIMIT && f.format == "raw" && !chosen {
            f.format = "qcow2".into();
            dom().f_format.set_value("qcow2");
        }
    }
    let (r, s) = {
        let mut p = p.borrow_mut();
        f.apply(&mut p.recipe);
        (p.recipe.clone(), p.syntax)
    };
    dom().recipe.set_value(&recipe::render(&r, s));
    set_text(&dom().recipe_error, "");
    recipe_updated();
}

/// The recipe text changed: parse it and update the form.
fn text_changed() {
    let text = dom().recipe.value();
    let syn = recipe::sniff(&text);
    match recipe::check(&text) {
        Ok(v) => {
            {
                let p = page();
                let mut p = p.borrow_mut();
                p.recipe = v.clone();
                p.syntax = syn;
                if let Some(pr) = p.preset.and_then(recipe::preset) {
                    if (pr.recipe)() != v {
                        p.preset = None;
                    }
                }
            }
            sync_syntax_radio();
            write_form(&Form::from_recipe(&v));
            set_text(&dom().recipe_error, "");
            recipe_updated();
        }
        Err(e) => set_text(&dom().recipe_error, &e),
    }
}

/// Refreshes what depends on the recipe: the command-line box and notes.
fn recipe_updated() {
    let r = page().borrow().recipe.clone();
    let format = r
        .get("output")
        .and_then(|o| o.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("raw")
        .to_string();
    set_text(&dom().cli_cmd, &recipe::cli_command(&r));
    set_text(&dom().cli_toml, &recipe::render(&r, Syntax::Toml));
    let size = recipe::disk_size(&r);
    let note = match size {
        Some(s) if s > RAW_LIMIT && format == "raw" => format!(
            "A raw image of {} is written byte for byte by a download. qcow2 (the default above 2 GiB) stores only the used clusters; qemu-img convert turns it into raw later.",
            human(s)
        ),
        Some(s) if s > RAW_LIMIT && format == "qcow2" => format!(
            "qcow2 is the default above 2 GiB: the {} disk's empty space takes no room in the file.",
            human(s)
        ),
        _ => String::new(),
    };
    set_text(&dom().format_note, &note);
    let grow = r.get("grow").is_some();
    show(&dom().cli_toml, !grow);
    if grow {
        set_text(
            &dom().cli_note,
            "The same bytes from the command line (the grow is done on a raw copy):",
        );
    } else {
        dom().cli_note.set_inner_html(
            "Save the recipe as <code>recipe.toml</code> beside the input files and run:",
        );
    }
    show(&dom().f_disk, r.get("disk").is_some());
    let loader = recipe::loader(&r);
    show(&dom().f_loader_row, loader.is_some());
    if let Some(l) = loader {
        dom().f_loader.set_value(l.name());
    }
    show(&dom().f_grub, r.get("grub").is_some());
    show(&dom().f_grow, grow);
    show(&dom().f_add_part, !grow);
    // The preset stays highlighted (and its hint shown) while the recipe is
    // still the preset.
    let preset = page().borrow().preset;
    if let Ok(list) = doc().query_selector_all("button[data-preset]") {
        for i in 0..list.length() {
            if let Some(b) = list.get(i).and_then(|n| n.dyn_into::<HtmlElement>().ok()) {
                let on = b.get_attribute("data-preset").as_deref() == preset;
                let _ = b.class_list().toggle_with_force("active", on);
            }
        }
    }
    let hint = match preset.and_then(recipe::preset) {
        Some(p) if p.id == "gpt-boot" && recipe::loader(&r) == Some(Loader::Grub) => {
            recipe::GPT_BOOT_GRUB_INPUTS
        }
        Some(p) => p.inputs,
        None => "",
    };
    set_text(&dom().preset_inputs, hint);
    render_needs();
}

/// The files the recipe reads, each marked as given or missing.
fn render_needs() {
    let d = doc();
    let dm = dom();
    let ul = &dm.needs;
    ul.set_text_content(None);
    let p = page();
    let p = p.borrow();
    let needs = recipe::input_paths(&p.recipe);
    for path in &needs {
        let have = p.files.iter().any(|(q, _)| q == path);
        if let Ok(li) = d.create_element("li") {
            let _ = li.set_attribute("class", if have { "have" } else { "missing" });
            li.set_text_content(Some(&format!(
                "{} {path}{}",
                if have { "✓" } else { "✗" },
                if have { "" } else { " — missing" }
            )));
            let _ = ul.append_child(&li);
        }
    }
}

/// A picked file's path: its path under the picked folder, else its name.
fn input_path(f: &File) -> String {
    let rel = get(f, "webkitRelativePath").as_string().unwrap_or_default();
    if rel.is_empty() {
        f.name()
    } else {
        rel
    }
}

fn add_files(list: Vec<(String, File)>) {
    {
        let p = page();
        let mut p = p.borrow_mut();
        for (path, f) in list {
            p.files.retain(|(q, _)| *q != path);
            p.files.push((path, f));
        }
        p.files.sort_by(|a, b| a.0.cmp(&b.0));
    }
    // Growing one image: the file given is the image to grow.
    let (grow_image, files) = {
        let p = page();
        let p = p.borrow();
        let image = p
            .recipe
            .get("grow")
            .and_then(|g| g.get("image"))
            .and_then(Value::as_str)
            .map(String::from);
        (
            image,
            p.files.iter().map(|(q, _)| q.clone()).collect::<Vec<_>>(),
        )
    };
    if let (Some(image), [only]) = (grow_image, files.as_slice()) {
        if image != *only {
            let only = only.clone();
            dom().g_image.set_value(&only);
            set_grow(|g| {
                g.insert("image".into(), only.into());
            });
        }
    }
    pick_grub_source();
    render_files();
}

fn render_files() {
    let d = doc();
    let dm = dom();
    let ul = &dm.file_list;
    ul.set_text_content(None);
    let p = page();
    let p = p.borrow();
    for (path, f) in &p.files {
        if let Ok(li) = d.create_element("li") {
            if let (Ok(name), Ok(size)) = (d.create_element("span"), d.create_element("span")) {
                name.set_text_content(Some(path));
                size.set_text_content(Some(&human(f.size() as u64)));
                let _ = size.set_attribute("class", "size");
                let _ = li.append_child(&name);
                let _ = li.append_child(&size);
            }
            let _ = ul.append_child(&li);
        }
    }
    let total: f64 = p.files.iter().map(|(_, f)| f.size()).sum();
    set_text(
        &dom().file_summary,
        &if p.files.is_empty() {
            "No files yet.".to_string()
        } else {
            format!(
                "{} file{}, {}",
                p.files.len(),
                if p.files.len() == 1 { "" } else { "s" },
                human(total as u64)
            )
        },
    );
    show(&dom().clear_files, !p.files.is_empty());
    drop(p);
    render_needs();
}

/// A drop target taking files and whole folders (walked through
/// `webkitGetAsEntry`; paths are relative to the dropped items).
pub fn drop_zone(zone: &HtmlElement, take: impl Fn(Vec<(String, File)>) + 'static) {
    let z = zone.clone();
    on_active(zone, "dragover", move |e| {
        e.prevent_default();
        let _ = z.class_list().add_1("over");
    });
    let z = zone.clone();
    on(zone, "dragleave", move |_| {
        let _ = z.class_list().remove_1("over");
    });
    let z = zone.clone();
    let take = Rc::new(take);
    on_active(zone, "drop", move |e| {
        e.prevent_default();
        let _ = z.class_list().remove_1("over");
        let Some(e) = e.dyn_ref::<DragEvent>() else {
            return;
        };
        let Some(dt) = e.data_transfer() else { return };
        // Entries must be taken during the event; reading them can wait.
        let items = dt.items();
        let entries: Vec<JsValue> = (0..items.length())
            .filter_map(|i| items.get(i))
            .filter_map(|item| call(&item, "webkitGetAsEntry", &[]).ok())
            .filter(|entry| entry.is_object())
            .collect();
        if entries.is_empty() {
            if let Some(list) = dt.files() {
                take(
                    (0..list.length())
                        .filter_map(|i| list.get(i))
                        .map(|f| (f.name(), f))
                        .collect(),
                );
            }
            return;
        }
        let take = take.clone();
        spawn_local(async move {
            match walk_entries(entries).await {
                Ok(files) => take(files),
                Err(e) => set_text(
                    &dom().status,
                    &format!("Cannot read the dropped files: {}", js_message(&e)),
                ),
            }
        });
    });
}

/// Calls a callback-style entry method (`file`, `readEntries`) as a promise.
async fn entry_call(target: &JsValue, method: &str) -> Result<JsValue, JsValue> {
    let target = target.clone();
    let method = method.to_string();
    let p = Promise::new(&mut |resolve, reject| {
        if let Err(e) = call(&target, &method, &[resolve.into(), reject.clone().into()]) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    });
    JsFuture::from(p).await
}

async fn walk_entries(mut stack: Vec<JsValue>) -> Result<Vec<(String, File)>, JsValue> {
    let mut out = Vec::new();
    while let Some(entry) = stack.pop() {
        if get(&entry, "isFile").as_bool() == Some(true) {
            let file: File = entry_call(&entry, "file").await?.unchecked_into();
            let path = get(&entry, "fullPath")
                .as_string()
                .unwrap_or_else(|| file.name());
            out.push((path.trim_start_matches('/').to_string(), file));
        } else if get(&entry, "isDirectory").as_bool() == Some(true) {
            let reader = call(&entry, "createReader", &[])?;
            // readEntries returns a batch at a time, then an empty one.
            loop {
                let batch = Array::from(&entry_call(&reader, "readEntries").await?);
                if batch.length() == 0 {
                    break;
                }
                stack.extend(batch.iter());
            }
        }
    }
    Ok(out)
}

async fn fetch_blob(url: &str) -> Result<Blob, JsValue> {
    let w = web_sys::window().ok_or("no window")?;
    let resp = JsFuture::from(w.fetch_with_str(url)).await?;
    if !get(&resp, "ok").as_bool().unwrap_or(false) {
        return Err(format!(
            "{url}: HTTP {}",
            get(&resp, "status").as_f64().unwrap_or(0.0)
        )
        .into());
    }
    Ok(call_async(&resp, "blob", &[]).await?.unchecked_into())
}

/// The Build button: checks the recipe, fetches the inputs it names by
/// URL, asks where the output goes and sends the build to the worker.
pub async fn start_build() {
    if page().borrow().job.is_some() {
        return;
    }
    text_changed();
    let d = dom();
    let text = d.recipe.value();
    let syntax = recipe::sniff(&text);
    let r = page().borrow().recipe.clone();
    if let Err(e) = recipe::check(&text) {
        set_text(&d.recipe_error, &e);
        set_text(
            &d.status,
            "Fix the recipe first: the error is shown under the editor.",
        );
        let _ = d.status.class_list().toggle_with_force("error", true);
        return;
    }
    let format = r
        .get("output")
        .and_then(|o| o.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("raw")
        .to_string();
    let file_name = recipe::output_name(&format);
    output::release_last_output().await;
    show(&d.download, false);
    set_text(&d.build_warnings, "");
    set_busy(true);
    set_progress(0.0, 1.0);
    let Some(files) = gather_inputs(&r).await else {
        set_busy(false);
        return;
    };
    let Some(out) = pick_output(&file_name).await else {
        set_busy(false);
        return;
    };
    let p = page();
    let mut pm = p.borrow_mut();
    let id = pm.take_id();
    // A picked file takes "patch" events: qcow2 reads its input once. Blob
    // parts stay a pure stream (two passes, same bytes).
    let picked = matches!(out, Out::Writable { .. });
    let output = Output {
        out: if picked {
            OutputMode::Chunks
        } else {
            OutputMode::Auto
        },
        name: Some(format!("imgforge-out-{id}-{file_name}")),
        patch: picked,
    };
    let out = match out {
        Out::None => Out::Parts(Array::new()),
        out => out,
    };
    pm.job = Some(Job::new(id, JobKind::Build, file_name, out));
    let build = protocol::Build {
        recipe: text,
        syntax: Some(syntax),
        files: Some(files),
        prefetch: None,
    };
    set_text(&d.status, "Building…");
    pm.send(id, &Request::Build(build, output));
}

/// The build's inputs: the files given, and the ones the recipe names by
/// URL, fetched now (the only requests the page makes besides its own
/// assets). `None` if a fetch failed (said in the status line).
async fn gather_inputs(r: &Value) -> Option<Vec<Input>> {
    let mut files: Vec<Input> = page()
        .borrow()
        .files
        .iter()
        .map(|(path, f)| Input(path.clone(), f.clone().into()))
        .collect();
    let status = &dom().status;
    for url in recipe::urls(r) {
        set_text(status, &format!("Fetching {url}…"));
        match fetch_blob(&url).await {
            Ok(b) => files.push(Input(url, b)),
            Err(e) => {
                set_text(status, &format!("Cannot fetch {url}: {}", js_message(&e)));
                return None;
            }
        }
    }
    Some(files)
}

/// Where the output goes: a file picked with showSaveFilePicker gets it
/// streamed into it ([`Out::Writable`]); otherwise ([`Out::None`]) the
/// worker writes to OPFS and the page offers a download. `None` if no
/// file was picked or it cannot be written (said in the status line).
async fn pick_output(file_name: &str) -> Option<Out> {
    let d = dom();
    let window: JsValue = web_sys::window()
        .map(Into::into)
        .unwrap_or(JsValue::UNDEFINED);
    if !get(&window, "showSaveFilePicker").is_function() {
        set_text(
            &d.save_note,
            "This browser cannot stream into a file you pick (no showSaveFilePicker): the image is built in the browser's private storage (OPFS) and then offered as a download.",
        );
        return Some(Out::None);
    }
    let opts = obj(&[("suggestedName", file_name.into())]);
    let handle = match call_async(&window, "showSaveFilePicker", &[opts.into()]).await {
        Ok(h) => h,
        Err(e) => {
            let msg = js_message(&e);
            set_text(
                &d.status,
                &if get(&e, "name").as_string().as_deref() == Some("AbortError") {
                    "No file chosen: nothing built.".to_string()
                } else {
                    format!("Cannot save there: {msg}")
                },
            );
            return None;
        }
    };
    match call_async(&handle, "createWritable", &[]).await {
        Ok(stream) => {
            set_text(&d.save_note, "Streaming into the file you chose.");
            Some(Out::writable(stream))
        }
        Err(e) => {
            set_text(
                &d.status,
                &format!("Cannot write the file: {}", js_message(&e)),
            );
            None
        }
    }
}
