//! The page's main thread: wires www/index.html to the worker.
//!
//! All state lives here in Rust (one [`Page`] per tab); the DOM is only
//! read and written. Long work goes to a module Web Worker (www/worker.js)
//! that runs the same wasm; this side streams the worker's output to a
//! file the user picked (`showSaveFilePicker`), or offers it as a download
//! (an OPFS file, or a Blob assembled from chunks where OPFS is missing).
//! Cancel terminates the worker and starts a fresh one.

use crate::blob::js_message;
use crate::engine::OUTPUT_FORMATS;
use crate::recipe::{self, Form, PartRow, Syntax, PRESETS};
use imgforge_core::size::human;
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    Blob, Document, DragEvent, Event, EventTarget, File, HtmlAnchorElement, HtmlElement,
    HtmlInputElement, HtmlProgressElement, HtmlSelectElement, HtmlTextAreaElement, MessageEvent,
    Url, Worker, WorkerOptions, WorkerType,
};

/// Above this a raw image is a poor download: the default becomes qcow2.
const RAW_LIMIT: u64 = 2 << 30;

/// Where the output of the running job goes.
enum Out {
    /// A `FileSystemWritableFileStream` from `showSaveFilePicker`: chunks
    /// are written as they come, holes are seeks. `writes` holds the
    /// pending write promises (the stream queues them in order).
    Writable {
        stream: JsValue,
        pos: f64,
        writes: Array,
    },
    /// Chunks collected for a Blob download (no OPFS in this browser).
    Parts(Array),
    /// Nothing streamed (inspect, or the worker writes to OPFS).
    None,
}

struct Job {
    id: u32,
    kind: &'static str,
    file_name: String,
    out: Out,
    /// `performance.now()` when the page sent it.
    started: f64,
}

/// Milliseconds since the page loaded (`performance.now()`).
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

struct Page {
    worker: Worker,
    syntax: Syntax,
    recipe: Value,
    files: Vec<(String, File)>,
    job: Option<Job>,
    next_id: u32,
    /// The last output's object URL and OPFS name, released on the next build.
    last_url: Option<String>,
    last_opfs: Option<String>,
    /// The user picked the output format: sizes no longer change it.
    format_chosen: bool,
    /// The preset the recipe still is (highlighted, its hint shown).
    preset: Option<&'static str>,
    /// The image in the Inspect view and the key its filesystems' trees
    /// are cached under in the worker.
    inspected: Option<(File, String)>,
    /// Small requests (directory listings) answered by the worker outside
    /// the job slot, by request id.
    requests: Vec<(u32, Reply)>,
}

/// What to do with a request's answer: `Ok(done message)` or `Err(text)`.
type Reply = Box<dyn FnOnce(Result<JsValue, String>)>;

thread_local! {
    static PAGE: RefCell<Option<Rc<RefCell<Page>>>> = const { RefCell::new(None) };
}

fn page() -> Rc<RefCell<Page>> {
    PAGE.with(|p| p.borrow().clone()).expect("start_page ran")
}

fn doc() -> Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a document")
}

fn el<T: JsCast>(id: &str) -> T {
    doc()
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("index.html has no #{id}"))
        .unchecked_into()
}

fn set_text(id: &str, text: &str) {
    if let Some(e) = doc().get_element_by_id(id) {
        e.set_text_content(Some(text));
    }
}

fn show(id: &str, visible: bool) {
    el::<HtmlElement>(id).set_hidden(!visible);
}

fn on(target: &EventTarget, event: &str, f: impl FnMut(Event) + 'static) {
    let c = Closure::<dyn FnMut(Event)>::new(f);
    let _ = target.add_event_listener_with_callback(event, c.as_ref().unchecked_ref());
    c.forget();
}

fn on_id(id: &str, event: &str, f: impl FnMut(Event) + 'static) {
    on(&el::<EventTarget>(id), event, f);
}

/// Builds a plain JS object from key/value pairs.
fn obj(pairs: &[(&str, JsValue)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(obj, method)
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("{method} is not available in this browser")))?;
    f.apply(obj, &args.iter().cloned().collect::<Array>())
}

async fn call_async(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let p: Promise = call(obj, method, args)?.dyn_into()?;
    JsFuture::from(p).await
}

fn new_worker() -> Worker {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    let w = Worker::new_with_options("./worker.js", &opts).expect("worker.js");
    let c = Closure::<dyn FnMut(MessageEvent)>::new(|e: MessageEvent| on_worker_message(e.data()));
    w.set_onmessage(Some(c.as_ref().unchecked_ref()));
    c.forget();
    let c = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        e.prevent_default();
        let msg = get(&e, "message")
            .as_string()
            .unwrap_or_else(|| "it stopped (out of memory?)".into());
        worker_crashed(&msg);
    });
    w.set_onerror(Some(c.as_ref().unchecked_ref()));
    c.forget();
    w
}

/// Sets up the page: call once after the wasm is initialised.
#[wasm_bindgen]
pub fn start_page() -> Result<(), JsError> {
    let d = doc();
    let p = Page {
        worker: new_worker(),
        syntax: Syntax::Toml,
        recipe: (PRESETS[0].recipe)(),
        files: Vec::new(),
        job: None,
        next_id: 1,
        last_url: None,
        last_opfs: None,
        format_chosen: false,
        preset: None,
        inspected: None,
        requests: Vec::new(),
    };
    PAGE.with(|slot| *slot.borrow_mut() = Some(Rc::new(RefCell::new(p))));

    // Presets and output formats come from the Rust lists.
    let presets = el::<HtmlElement>("presets");
    for pr in PRESETS {
        let b = d
            .create_element("button")
            .map_err(|_| JsError::new("dom"))?;
        b.set_text_content(Some(pr.title));
        let _ = b.set_attribute("type", "button");
        let _ = b.set_attribute("data-preset", pr.id);
        let _ = b.set_attribute("class", "preset");
        let _ = presets.append_child(&b);
        let id = pr.id;
        on(&b, "click", move |_| load_preset(id));
    }
    let fmt = el::<HtmlSelectElement>("f-format");
    for f in OUTPUT_FORMATS {
        let o = d
            .create_element("option")
            .map_err(|_| JsError::new("dom"))?;
        o.set_text_content(Some(f));
        let _ = o.set_attribute("value", f);
        let _ = fmt.append_child(&o);
    }

    // Tabs.
    on_id("tab-build", "click", |_| switch_tab("build"));
    on_id("tab-inspect", "click", |_| switch_tab("inspect"));

    // Form → recipe.
    for id in ["f-size", "f-table"] {
        on_id(id, "input", |_| form_changed());
    }
    on_id("f-format", "change", |_| {
        page().borrow_mut().format_chosen = true;
        form_changed();
    });
    on_id("f-parts", "input", |_| form_changed());
    for id in ["g-image", "g-size", "g-last"] {
        on_id(id, "input", |_| grow_changed());
    }
    on_id("f-parts", "click", |e| {
        let t = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
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
    on_id("f-add-part", "click", |_| {
        let mut f = read_form();
        if f.table.is_empty() || f.table == "none" {
            f.table = "gpt".into();
            el::<HtmlSelectElement>("f-table").set_value("gpt");
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

    // Recipe text → form.
    on_id("recipe", "input", |_| text_changed());
    for id in ["syntax-toml", "syntax-json"] {
        on_id(id, "change", |e| {
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
            el::<HtmlTextAreaElement>("recipe").set_value(&recipe::render(&r, s));
            set_text("recipe-error", "");
        });
    }

    // Input files.
    for id in ["files", "folder"] {
        on_id(id, "change", move |_| {
            let input = el::<HtmlInputElement>(id);
            if let Some(list) = input.files() {
                add_files(
                    (0..list.length())
                        .filter_map(|i| list.get(i))
                        .map(|f| (input_path(&f), f))
                        .collect(),
                );
            }
            input.set_value("");
        });
    }
    on_id("clear-files", "click", |_| {
        page().borrow_mut().files.clear();
        render_files();
    });
    drop_zone("drop", add_files);
    drop_zone("inspect-drop", |files| {
        if let Some((_, f)) = files.into_iter().next() {
            start_inspect(f);
        }
    });
    on_id("inspect-file", "change", |_| {
        let input = el::<HtmlInputElement>("inspect-file");
        if let Some(f) = input.files().and_then(|l| l.get(0)) {
            start_inspect(f);
        }
        input.set_value("");
    });

    on_id("build", "click", |_| spawn_local(start_build()));
    on_id("cancel", "click", |_| cancel());

    // ?preset=…&recipe=…&syntax=…&embed=1 (an embedding page's iframe).
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let params =
        web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| JsError::new("url"))?;
    if params.get("embed").is_some() {
        let _ = d.body().map(|b| b.class_list().add_1("embedded"));
    }
    if let Some(s) = params.get("syntax") {
        page().borrow_mut().syntax = Syntax::parse(&s);
    }
    load_preset(&params.get("preset").unwrap_or_else(|| "raw".into()));
    if let Some(text) = params.get("recipe") {
        let syntax = params.get("syntax");
        if recipe::is_url(&text) {
            // ?recipe=URL: the recipe file is fetched (same origin or https).
            spawn_local(async move {
                match fetch_text(&text).await {
                    Ok(body) => set_recipe_text(&body, syntax.as_deref()),
                    Err(e) => set_text(
                        "recipe-error",
                        &format!("Cannot fetch the recipe {text}: {}", js_message(&e)),
                    ),
                }
            });
        } else {
            set_recipe_text(&text, syntax.as_deref());
        }
    }
    sync_syntax_radio();
    if params.get("view").as_deref() == Some("inspect") {
        switch_tab("inspect");
    }
    spawn_local(clean_opfs());
    set_text("status", "Ready.");
    Ok(())
}

/// Puts recipe text (from the URL) into the editor.
fn set_recipe_text(text: &str, syntax: Option<&str>) {
    let syn = syntax
        .map(Syntax::parse)
        .unwrap_or_else(|| recipe::sniff(text));
    page().borrow_mut().syntax = syn;
    el::<HtmlTextAreaElement>("recipe").set_value(text);
    text_changed();
    sync_syntax_radio();
}

async fn fetch_text(url: &str) -> Result<String, JsValue> {
    let blob = fetch_blob(url).await?;
    call_async(&blob, "text", &[])
        .await?
        .as_string()
        .ok_or_else(|| "not text".into())
}

fn switch_tab(which: &str) {
    show("view-build", which == "build");
    show("view-inspect", which == "inspect");
    for (id, name) in [("tab-build", "build"), ("tab-inspect", "inspect")] {
        let b = el::<HtmlElement>(id);
        let _ = b.class_list().toggle_with_force("active", name == which);
        let _ = b.set_attribute(
            "aria-selected",
            if name == which { "true" } else { "false" },
        );
    }
}

fn sync_syntax_radio() {
    let s = page().borrow().syntax;
    el::<HtmlInputElement>("syntax-toml").set_checked(s == Syntax::Toml);
    el::<HtmlInputElement>("syntax-json").set_checked(s == Syntax::Json);
}

fn load_preset(id: &str) {
    let Some(pr) = recipe::preset(id) else {
        set_text("recipe-error", &format!("No preset named '{id}'."));
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
    el::<HtmlTextAreaElement>("recipe").set_value(&recipe::render(&r, s));
    set_text("recipe-error", "");
    recipe_updated();
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
        size: el::<HtmlInputElement>("f-size").value().trim().to_string(),
        table: el::<HtmlSelectElement>("f-table").value(),
        partitions,
        format: el::<HtmlSelectElement>("f-format").value(),
    }
}

fn write_form(f: &Form) {
    el::<HtmlInputElement>("f-size").set_value(&f.size);
    el::<HtmlSelectElement>("f-table").set_value(if f.table.is_empty() {
        "none"
    } else {
        &f.table
    });
    el::<HtmlSelectElement>("f-format").set_value(&f.format);
    write_parts(&f.partitions);
    let grow = page().borrow().recipe.get("grow").cloned();
    if let Some(g) = grow {
        let text = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        el::<HtmlInputElement>("g-image").set_value(&text("image"));
        el::<HtmlInputElement>("g-size").set_value(&text("size"));
        el::<HtmlInputElement>("g-last")
            .set_checked(g.get("grow_last").and_then(Value::as_bool) == Some(true));
    }
}

/// The grow fields changed: written into the recipe's `grow` table.
fn grow_changed() {
    let image = el::<HtmlInputElement>("g-image").value().trim().to_string();
    let size = el::<HtmlInputElement>("g-size").value().trim().to_string();
    let last = el::<HtmlInputElement>("g-last").checked();
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
    el::<HtmlTextAreaElement>("recipe").set_value(&recipe::render(&r, s));
    set_text("recipe-error", "");
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
    show("f-parts", !parts.is_empty());
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
            el::<HtmlSelectElement>("f-format").set_value("qcow2");
        }
    }
    let (r, s) = {
        let mut p = p.borrow_mut();
        f.apply(&mut p.recipe);
        (p.recipe.clone(), p.syntax)
    };
    el::<HtmlTextAreaElement>("recipe").set_value(&recipe::render(&r, s));
    set_text("recipe-error", "");
    recipe_updated();
}

/// The recipe text changed: parse it and update the form.
fn text_changed() {
    let text = el::<HtmlTextAreaElement>("recipe").value();
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
            set_text("recipe-error", "");
            recipe_updated();
        }
        Err(e) => set_text("recipe-error", &e),
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
    set_text("cli-cmd", &recipe::cli_command(&r));
    set_text("cli-toml", &recipe::render(&r, Syntax::Toml));
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
    set_text("format-note", &note);
    let grow = r.get("grow").is_some();
    show("cli-toml", !grow);
    if grow {
        set_text(
            "cli-note",
            "The same bytes from the command line (the grow is done on a raw copy):",
        );
    } else if let Some(n) = doc().get_element_by_id("cli-note") {
        n.set_inner_html(
            "Save the recipe as <code>recipe.toml</code> beside the input files and run:",
        );
    }
    show("f-disk", r.get("disk").is_some());
    show("f-grow", grow);
    show("f-add-part", !grow);
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
    set_text(
        "preset-inputs",
        preset
            .and_then(recipe::preset)
            .map(|p| p.inputs)
            .unwrap_or(""),
    );
    render_needs();
}

/// The files the recipe reads, each marked as given or missing.
fn render_needs() {
    let d = doc();
    let ul = el::<HtmlElement>("needs");
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
            el::<HtmlInputElement>("g-image").set_value(&only);
            set_grow(|g| {
                g.insert("image".into(), only.into());
            });
        }
    }
    render_files();
}

fn render_files() {
    let d = doc();
    let ul = el::<HtmlElement>("file-list");
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
        "file-summary",
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
    show("clear-files", !p.files.is_empty());
    drop(p);
    render_needs();
}

/// A drop target taking files and whole folders (walked through
/// `webkitGetAsEntry`; paths are relative to the dropped items).
fn drop_zone(id: &str, take: impl Fn(Vec<(String, File)>) + 'static) {
    let zone = el::<HtmlElement>(id);
    let z = zone.clone();
    on(&zone, "dragover", move |e| {
        e.prevent_default();
        let _ = z.class_list().add_1("over");
    });
    let z = zone.clone();
    on(&zone, "dragleave", move |_| {
        let _ = z.class_list().remove_1("over");
    });
    let z = zone.clone();
    let take = Rc::new(take);
    on(&zone, "drop", move |e| {
        e.prevent_default();
        let _ = z.class_list().remove_1("over");
        let Ok(e) = e.dyn_into::<DragEvent>() else {
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
                    "status",
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

fn set_busy(busy: bool) {
    el::<HtmlElement>("build")
        .unchecked_into::<web_sys::HtmlButtonElement>()
        .set_disabled(busy);
    el::<HtmlElement>("cancel")
        .unchecked_into::<web_sys::HtmlButtonElement>()
        .set_disabled(!busy);
    let _ = el::<HtmlElement>("actions")
        .class_list()
        .toggle_with_force("busy", busy);
}

fn set_progress(done: f64, total: f64) {
    let bar = el::<HtmlProgressElement>("progress");
    bar.set_max(total.max(1.0));
    bar.set_value(done);
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

async fn start_build() {
    if page().borrow().job.is_some() {
        return;
    }
    text_changed();
    let (text, syntax, r) = {
        let p = page();
        let p = p.borrow();
        (
            el::<HtmlTextAreaElement>("recipe").value(),
            recipe::sniff(&el::<HtmlTextAreaElement>("recipe").value()),
            p.recipe.clone(),
        )
    };
    if let Err(e) = recipe::check(&text) {
        set_text("recipe-error", &e);
        set_text(
            "status",
            "Fix the recipe first: the error is shown under the editor.",
        );
        let _ = el::<HtmlElement>("status")
            .class_list()
            .toggle_with_force("error", true);
        return;
    }
    let format = r
        .get("output")
        .and_then(|o| o.get("format"))
        .and_then(Value::as_str)
        .unwrap_or("raw")
        .to_string();
    let file_name = recipe::output_name(&format);
    release_last_output().await;
    show("download", false);
    set_text("build-warnings", "");
    set_busy(true);
    set_progress(0.0, 1.0);

    // Files the recipe names by URL are fetched now (the only requests the
    // page makes besides its own assets).
    let files = Array::new();
    for (path, f) in page().borrow().files.iter() {
        files.push(&Array::of2(&path.into(), f));
    }
    for url in recipe::urls(&r) {
        set_text("status", &format!("Fetching {url}…"));
        match fetch_blob(&url).await {
            Ok(b) => {
                files.push(&Array::of2(&url.clone().into(), &b));
            }
            Err(e) => {
                set_text("status", &format!("Cannot fetch {url}: {}", js_message(&e)));
                set_busy(false);
                return;
            }
        }
    }

    // A file picked with showSaveFilePicker gets the output streamed into
    // it; otherwise the worker writes to OPFS and the page offers a download.
    let window: JsValue = web_sys::window()
        .map(Into::into)
        .unwrap_or(JsValue::UNDEFINED);
    let mut out = Out::None;
    let mode;
    if get(&window, "showSaveFilePicker").is_function() {
        let opts = obj(&[("suggestedName", file_name.clone().into())]);
        let handle = match call_async(&window, "showSaveFilePicker", &[opts.into()]).await {
            Ok(h) => h,
            Err(e) => {
                let msg = js_message(&e);
                set_text(
                    "status",
                    &if get(&e, "name").as_string().as_deref() == Some("AbortError") {
                        "No file chosen: nothing built.".to_string()
                    } else {
                        format!("Cannot save there: {msg}")
                    },
                );
                set_busy(false);
                return;
            }
        };
        match call_async(&handle, "createWritable", &[]).await {
            Ok(stream) => {
                out = Out::Writable {
                    stream,
                    pos: 0.0,
                    writes: Array::new(),
                }
            }
            Err(e) => {
                set_text(
                    "status",
                    &format!("Cannot write the file: {}", js_message(&e)),
                );
                set_busy(false);
                return;
            }
        }
        mode = "chunks";
        set_text("save-note", "Streaming into the file you chose.");
    } else {
        mode = "auto";
        set_text(
            "save-note",
            "This browser cannot stream into a file you pick (no showSaveFilePicker): the image is built in the browser's private storage (OPFS) and then offered as a download.",
        );
    }
    let p = page();
    let mut pm = p.borrow_mut();
    let id = pm.next_id;
    pm.next_id += 1;
    let opfs_name = format!("imgforge-out-{id}-{file_name}");
    let picked = matches!(out, Out::Writable { .. });
    if matches!(out, Out::None) {
        out = Out::Parts(Array::new());
    }
    pm.job = Some(Job {
        id,
        kind: "build",
        file_name,
        out,
        started: now_ms(),
    });
    let msg = obj(&[
        ("id", id.into()),
        ("cmd", "build".into()),
        ("recipe", text.into()),
        ("syntax", syntax.name().into()),
        ("files", files.into()),
        ("out", mode.into()),
        // A picked file takes "patch" messages (below): qcow2 reads its
        // input once. Blob parts stay a pure stream (two passes, same bytes).
        ("patch", picked.into()),
        ("name", opfs_name.into()),
    ]);
    set_text("status", "Building…");
    let _ = pm.worker.post_message(&msg);
}

fn start_inspect(f: File) {
    switch_tab("inspect");
    let p = page();
    if p.borrow().job.is_some() {
        set_text("inspect-status", "Wait for the running job (or cancel it).");
        return;
    }
    let mut pm = p.borrow_mut();
    let id = pm.next_id;
    pm.next_id += 1;
    pm.job = Some(Job {
        id,
        kind: "inspect",
        file_name: f.name(),
        out: Out::None,
        started: now_ms(),
    });
    pm.inspected = Some((f.clone(), format!("inspect-{id}")));
    set_text("inspect-status", &format!("Reading {}…", f.name()));
    show("inspect-out", false);
    let msg = obj(&[
        ("id", id.into()),
        ("cmd", "inspect".into()),
        ("file", f.into()),
    ]);
    let _ = pm.worker.post_message(&msg);
}

/// The worker died or panicked: whatever it was doing is lost. A fresh
/// worker takes its place so the page keeps working.
fn worker_crashed(msg: &str) {
    let p = page();
    let (job, requests) = {
        let mut pm = p.borrow_mut();
        pm.worker.terminate();
        pm.worker = new_worker();
        (pm.job.take(), std::mem::take(&mut pm.requests))
    };
    let text = format!("The worker crashed: {msg}. It was restarted; try again.");
    for (_, reply) in requests {
        reply(Err(text.clone()));
    }
    if let Some(job) = job {
        if let Out::Writable { stream, .. } = &job.out {
            let _ = call(stream, "abort", &[]);
        }
        if job.kind != "build" {
            set_text("inspect-status", &text);
        }
    }
    web_sys::console::error_1(&text.clone().into());
    set_progress(0.0, 1.0);
    finish_job(&text, true);
}

fn cancel() {
    let p = page();
    let job = {
        let mut pm = p.borrow_mut();
        // The worker may be deep in a synchronous write: stopping it is the
        // only way to interrupt it. A new worker takes its place.
        pm.worker.terminate();
        pm.worker = new_worker();
        let requests = std::mem::take(&mut pm.requests);
        (pm.job.take(), requests)
    };
    let (job, requests) = job;
    for (_, reply) in requests {
        reply(Err("cancelled".into()));
    }
    if let Some(Job {
        out: Out::Writable { stream, .. },
        ..
    }) = job
    {
        let _ = call(&stream, "abort", &[]);
    }
    set_busy(false);
    set_progress(0.0, 1.0);
    set_text("status", "Cancelled.");
}

fn on_worker_message(data: JsValue) {
    let p = page();
    let id = get(&data, "id").as_f64().unwrap_or(-1.0) as u32;
    let kind = get(&data, "type").as_string().unwrap_or_default();
    let mut pm = p.borrow_mut();
    if kind == "done" || kind == "error" {
        if let Some(i) = pm.requests.iter().position(|(r, _)| *r == id) {
            let (_, reply) = pm.requests.remove(i);
            drop(pm);
            reply(if kind == "done" {
                Ok(data)
            } else {
                Err(get(&data, "message").as_string().unwrap_or_default())
            });
            return;
        }
    }
    if kind == "error" && get(&data, "fatal").as_bool() == Some(true) {
        drop(pm);
        let msg = get(&data, "message").as_string().unwrap_or_default();
        worker_crashed(&msg);
        return;
    }
    let Some(job) = pm.job.as_mut().filter(|j| j.id == id) else {
        return;
    };
    match kind.as_str() {
        "progress" => {
            let done = get(&data, "done").as_f64().unwrap_or(0.0);
            let total = get(&data, "total").as_f64().unwrap_or(0.0);
            let phase = get(&data, "phase").as_string().unwrap_or_default();
            set_progress(done, total);
            set_text(
                "status",
                &format!(
                    "{phase} — {} of {}",
                    human(done as u64),
                    human(total as u64)
                ),
            );
        }
        "chunk" => {
            let chunk: Uint8Array = get(&data, "data").unchecked_into();
            match &mut job.out {
                Out::Writable {
                    stream,
                    pos,
                    writes,
                } => {
                    *pos += chunk.length() as f64;
                    queue_write(stream, writes, chunk.into());
                }
                Out::Parts(parts) => {
                    parts.push(&chunk);
                }
                Out::None => {}
            }
        }
        "hole" => {
            let len = get(&data, "len").as_f64().unwrap_or(0.0);
            match &mut job.out {
                Out::Writable {
                    stream,
                    pos,
                    writes,
                } => {
                    *pos += len;
                    let seek = obj(&[("type", "seek".into()), ("position", (*pos).into())]);
                    queue_write(stream, writes, seek.into());
                }
                Out::Parts(parts) => {
                    // Zeros for the Blob: this is where the no-OPFS download
                    // path is bounded by memory.
                    const MAX: f64 = (64u32 << 20) as f64;
                    let mut left = len;
                    let zeros = Uint8Array::new_with_length(MAX.min(len) as u32);
                    while left > 0.0 {
                        let n = left.min(MAX);
                        parts.push(&zeros.subarray(0, n as u32));
                        left -= n;
                    }
                }
                Out::None => {}
            }
        }
        "patch" => {
            // Bytes to overwrite behind the end (a qcow2 header, written last).
            // Counted on #status (data-patches) for the browser tests.
            if let Some(e) = doc().get_element_by_id("status") {
                let n = e
                    .get_attribute("data-patches")
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0);
                let _ = e.set_attribute("data-patches", &(n + 1).to_string());
            }
            let offset = get(&data, "offset").as_f64().unwrap_or(0.0);
            let bytes: Uint8Array = get(&data, "data").unchecked_into();
            match &mut job.out {
                Out::Writable {
                    stream,
                    pos,
                    writes,
                } => {
                    let at = obj(&[
                        ("type", "write".into()),
                        ("position", offset.into()),
                        ("data", bytes.into()),
                    ]);
                    // A positioned write moves the stream's position: back
                    // to the end for what follows.
                    let back = obj(&[("type", "seek".into()), ("position", (*pos).into())]);
                    queue_write(stream, writes, at.into());
                    queue_write(stream, writes, back.into());
                }
                // Never asked for (see "patch" in start_build).
                Out::Parts(_) | Out::None => {}
            }
        }
        "done" | "error" => {
            let job = pm.job.take();
            drop(pm);
            if let Some(job) = job {
                spawn_local(complete(job, data));
            }
        }
        _ => {}
    }
}

/// Queues `step` (bytes, or a `{type: "seek"|"write", ...}` command) on a
/// picked file's writable stream; `complete` awaits `writes`.
fn queue_write(stream: &JsValue, writes: &Array, step: JsValue) {
    if let Ok(pr) = call(stream, "write", &[step]) {
        writes.push(&pr);
    }
}

/// The job ended (`done` or `error` in `data`): close the output, offer it.
async fn complete(job: Job, data: JsValue) {
    let failed = get(&data, "type").as_string().as_deref() == Some("error");
    if job.kind == "inspect" {
        if failed {
            let msg = get(&data, "message").as_string().unwrap_or_default();
            set_text(
                "inspect-status",
                &format!("Cannot read {}: {msg}", job.file_name),
            );
        } else {
            render_inspect(&job.file_name, &get(&data, "result"));
        }
        finish_job("", false);
        return;
    }
    if job.kind == "file" {
        let r: Result<String, JsValue> = async {
            if failed {
                return Err(get(&data, "message"));
            }
            let blob = job_blob(&job, &data).await?;
            offer_download("file-download", &blob, &job.file_name)?;
            Ok(format!(
                "Extracted {} ({}).",
                job.file_name,
                human(blob.size() as u64)
            ))
        }
        .await;
        set_text(
            "inspect-status",
            &match r {
                Ok(m) => m,
                Err(e) => format!("Cannot extract {}: {}", job.file_name, js_message(&e)),
            },
        );
        finish_job("", false);
        return;
    }
    if failed {
        if let Out::Writable { stream, .. } = &job.out {
            let _ = call(stream, "abort", &[]);
        }
        let msg = get(&data, "message").as_string().unwrap_or_default();
        let msg = if msg.is_empty() {
            "the worker gave no reason".to_string()
        } else if msg.contains("input file not provided") {
            format!("{msg} (add it under Input files, named as the recipe names it)")
        } else {
            msg
        };
        finish_job(&format!("Build failed: {msg}"), true);
        return;
    }
    let size = get(&data, "size").as_f64().unwrap_or(0.0);
    let warnings: Vec<String> = Array::from(&get(&data, "warnings"))
        .iter()
        .filter_map(|w| w.as_string())
        .collect();
    set_text("build-warnings", &warnings.join("\n"));
    let result: Result<String, JsValue> = async {
        match job.out {
            Out::Writable { stream, writes, .. } => {
                JsFuture::from(Promise::all(&writes)).await?;
                // Trailing holes: the file gets its full length.
                call_async(&stream, "truncate", &[size.into()]).await?;
                call_async(&stream, "close", &[]).await?;
                Ok(format!(
                    "Saved {} ({}) in {}.",
                    job.file_name,
                    human(size as u64),
                    took(job.started)
                ))
            }
            Out::Parts(_) => {
                if get(&data, "output").as_string().as_deref() != Some("opfs") {
                    set_text(
                        "save-note",
                        "Without OPFS or a save dialog the image was held in memory: a browser may refuse to download more than a few hundred MiB held that way; use qcow2 or the command line for big disks.",
                    );
                }
                let blob = job_blob(&job, &data).await?;
                offer_download("download", &blob, &job.file_name)?;
                Ok(format!(
                    "Built {} ({}) in {}.",
                    job.file_name,
                    human(size as u64),
                    took(job.started)
                ))
            }
            Out::None => Ok(String::new()),
        }
    }
    .await;
    match result {
        Ok(msg) => {
            set_progress(1.0, 1.0);
            finish_job(&msg, false)
        }
        Err(e) => finish_job(&format!("Cannot save the image: {}", js_message(&e)), true),
    }
}

/// "0.05 s" since `started`; also left in the status line's `data-ms`
/// (benchmarks read it).
fn took(started: f64) -> String {
    let ms = now_ms() - started;
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("status"))
    {
        let _ = el.set_attribute("data-ms", &format!("{ms:.1}"));
    }
    format!("{:.2} s", ms / 1000.0)
}

fn finish_job(msg: &str, error: bool) {
    if let Some(p) = PAGE.with(|p| p.borrow().clone()) {
        if error {
            p.borrow_mut().job = None;
        }
    }
    set_busy(false);
    if !msg.is_empty() {
        set_text("status", msg);
    }
    let _ = el::<HtmlElement>("status")
        .class_list()
        .toggle_with_force("error", error);
}

/// The output of a finished job as a Blob: the OPFS file the worker wrote
/// or the chunks it posted.
async fn job_blob(job: &Job, data: &JsValue) -> Result<Blob, JsValue> {
    if get(data, "output").as_string().as_deref() == Some("opfs") {
        let name = get(data, "name").as_string().unwrap_or_default();
        // A build's output goes on the next build; files taken out of an
        // image stay until the page is next opened (clean_opfs).
        if job.kind == "build" {
            page().borrow_mut().last_opfs = Some(name.clone());
        }
        return opfs_file(&name).await;
    }
    match &job.out {
        Out::Parts(parts) => Blob::new_with_u8_array_sequence(parts),
        _ => Blob::new(),
    }
}

fn offer_download(anchor: &str, blob: &Blob, name: &str) -> Result<(), JsValue> {
    let url = Url::create_object_url_with_blob(blob)?;
    let a = el::<HtmlAnchorElement>(anchor);
    a.set_href(&url);
    a.set_download(name);
    a.set_text_content(Some(&format!(
        "Download {name} ({})",
        human(blob.size() as u64)
    )));
    a.set_hidden(false);
    page().borrow_mut().last_url = Some(url);
    a.click();
    Ok(())
}

async fn opfs_dir() -> Result<JsValue, JsValue> {
    let nav = web_sys::window().ok_or("no window")?.navigator();
    JsFuture::from(nav.storage().get_directory()).await
}

async fn opfs_file(name: &str) -> Result<Blob, JsValue> {
    let dir = opfs_dir().await?;
    let handle = call_async(&dir, "getFileHandle", &[name.into()]).await?;
    Ok(call_async(&handle, "getFile", &[]).await?.unchecked_into())
}

async fn release_last_output() {
    let (url, opfs) = {
        let p = page();
        let mut p = p.borrow_mut();
        (p.last_url.take(), p.last_opfs.take())
    };
    if let Some(u) = url {
        let _ = Url::revoke_object_url(&u);
    }
    if let Some(name) = opfs {
        if let Ok(dir) = opfs_dir().await {
            let _ = call_async(&dir, "removeEntry", &[name.into()]).await;
        }
    }
}

/// Removes outputs an earlier visit left in OPFS (cancelled or never
/// downloaded builds).
async fn clean_opfs() {
    let Ok(dir) = opfs_dir().await else { return };
    let Ok(keys) = call(&dir, "keys", &[]) else {
        return;
    };
    let mut stale = Vec::new();
    while let Ok(step) = call_async(&keys, "next", &[]).await {
        if get(&step, "done").as_bool().unwrap_or(true) {
            break;
        }
        if let Some(k) = get(&step, "value").as_string() {
            if k.starts_with("imgforge-out-") {
                stale.push(k);
            }
        }
    }
    for k in stale {
        let _ = call_async(&dir, "removeEntry", &[k.into()]).await;
    }
}

fn fact(dl: &web_sys::Element, key: &str, value: &str) {
    let d = doc();
    if let (Ok(dt), Ok(dd)) = (d.create_element("dt"), d.create_element("dd")) {
        dt.set_text_content(Some(key));
        dd.set_text_content(Some(value));
        let _ = dl.append_child(&dt);
        let _ = dl.append_child(&dd);
    }
}

fn render_inspect(name: &str, result: &JsValue) {
    let text = js_sys::JSON::stringify_with_replacer_and_space(result, &JsValue::NULL, &2.into())
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    set_text("inspect-json", &text);
    set_text("inspect-status", "");
    set_text("inspect-name", name);
    let dl = el::<web_sys::Element>("facts");
    dl.set_text_content(None);
    let bytes = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .map(|n| format!("{} ({n} bytes)", human(n)))
    };
    if let Some(f) = v.get("format").and_then(Value::as_str) {
        fact(&dl, "Format", f);
    }
    for (k, label) in [
        ("virtual_size", "Virtual size"),
        ("actual_size", "File size"),
        ("allocated_size", "Allocated"),
    ] {
        if let Some(s) = bytes(&v, k) {
            fact(&dl, label, &s);
        }
    }
    let c = v.get("container").cloned().unwrap_or(Value::Null);
    if let Some(s) = bytes(&c, "cluster-size") {
        fact(&dl, "Cluster size", &s);
    }
    if let Some(b) = c.get("backing-filename").and_then(Value::as_str) {
        fact(&dl, "Backing file", b);
    }
    if c.get("dirty-flag").and_then(Value::as_bool) == Some(true) {
        fact(&dl, "Dirty", "yes (not cleanly closed)");
    }
    // qemu-img's format-specific block: {"type": ..., "data": {...}}.
    let specific = c.get("format-specific");
    if let Some(Value::Object(m)) = specific.and_then(|f| f.get("data")).or(specific) {
        for (k, x) in m {
            let s = match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            fact(&dl, k, &s);
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
    set_text("inspect-warnings", &warnings.join("\n"));
    render_partitions(v.get("partition_table").unwrap_or(&Value::Null));
    render_filesystems(&v);
    show("inspect-out", true);
}

/// One expandable file tree per filesystem the report found: each
/// partition's, or the whole disk's (an ISO, a bare FAT or ext4 image).
fn render_filesystems(v: &Value) {
    let d = doc();
    let host = el::<HtmlElement>("tree");
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
fn list_into(part: Option<u32>, path: String, ul: web_sys::Element) {
    let p = page();
    let mut pm = p.borrow_mut();
    let Some((file, key)) = pm.inspected.clone() else {
        return;
    };
    let id = pm.next_id;
    pm.next_id += 1;
    ul.set_text_content(None);
    if let Ok(li) = doc().create_element("li") {
        let _ = li.set_attribute("class", "loading");
        li.set_text_content(Some("Reading…"));
        let _ = ul.append_child(&li);
    }
    let msg = obj(&[
        ("id", id.into()),
        ("cmd", "list_dir".into()),
        ("file", file.into()),
        ("key", key.into()),
        (
            "part",
            part.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
        ),
        ("path", path.clone().into()),
    ]);
    let target = ul.clone();
    pm.requests.push((
        id,
        Box::new(move |r| match r {
            Ok(data) => fill_dir(&target, part, &path, &get(&data, "result")),
            Err(e) => {
                target.set_text_content(None);
                if let Ok(li) = doc().create_element("li") {
                    let _ = li.set_attribute("class", "error");
                    li.set_text_content(Some(&e));
                    let _ = target.append_child(&li);
                }
            }
        }),
    ));
    let _ = pm.worker.post_message(&msg);
}

fn child_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Renders the entries of a directory (engine::list_dir's rows).
fn fill_dir(ul: &web_sys::Element, part: Option<u32>, dir: &str, rows: &JsValue) {
    let d = doc();
    ul.set_text_content(None);
    let rows = Array::from(rows);
    if rows.length() == 0 {
        if let Ok(li) = d.create_element("li") {
            let _ = li.set_attribute("class", "empty");
            li.set_text_content(Some("(empty)"));
            let _ = ul.append_child(&li);
        }
        return;
    }
    for row in rows.iter() {
        let name = get(&row, "name").as_string().unwrap_or_default();
        let kind = get(&row, "kind").as_string().unwrap_or_default();
        let size = get(&row, "size").as_f64().unwrap_or(0.0) as u64;
        let mode = get(&row, "mode").as_string().unwrap_or_default();
        let path = child_path(dir, &name);
        let (Ok(li), Ok(line)) = (d.create_element("li"), d.create_element("div")) else {
            return;
        };
        let _ = li.set_attribute("class", &format!("node {kind}"));
        let _ = li.set_attribute("data-path", &path);
        let _ = li.set_attribute("data-kind", &kind);
        let _ = li.set_attribute("data-size", &size.to_string());
        let _ = li.set_attribute("role", "treeitem");
        let _ = line.set_attribute("class", "line");
        let label = if kind == "dir" {
            let Ok(b) = d.create_element("button") else {
                return;
            };
            let _ = b.set_attribute("type", "button");
            let _ = b.set_attribute("class", "toggle");
            let _ = b.set_attribute("aria-expanded", "false");
            b.set_text_content(Some(&format!("{name}/")));
            let (li2, b2) = (li.clone(), b.clone());
            let path2 = path.clone();
            on(&b, "click", move |_| toggle_dir(&li2, &b2, part, &path2));
            b
        } else {
            let Ok(span) = d.create_element("span") else {
                return;
            };
            let _ = span.set_attribute("class", "name");
            let text = match get(&row, "target").as_string() {
                Some(t) => format!("{name} → {t}"),
                None => name.clone(),
            };
            span.set_text_content(Some(&text));
            span
        };
        let _ = line.append_child(&label);
        let mut cells = vec![("mode", mode.clone())];
        match kind.as_str() {
            "file" => cells.push(("size", human(size))),
            "dir" => cells.push((
                "size",
                match get(&row, "entries").as_f64().unwrap_or(0.0) as u64 {
                    0 => "empty".to_string(),
                    1 => "1 entry".to_string(),
                    n => format!("{n} entries"),
                },
            )),
            _ => cells.push(("size", get(&row, "device").as_string().unwrap_or_default())),
        }
        for (class, text) in cells {
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
                let path2 = path.clone();
                on(&b, "click", move |_| start_read_file(part, &path2));
                let _ = line.append_child(&b);
            }
        }
        let _ = li.append_child(&line);
        let _ = ul.append_child(&li);
    }
}

fn toggle_dir(li: &web_sys::Element, button: &web_sys::Element, part: Option<u32>, path: &str) {
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
        set_text("inspect-status", "Wait for the running job (or cancel it).");
        return;
    }
    let mut pm = p.borrow_mut();
    let Some((file, key)) = pm.inspected.clone() else {
        return;
    };
    let id = pm.next_id;
    pm.next_id += 1;
    let name = path.rsplit('/').next().unwrap_or("file").to_string();
    pm.job = Some(Job {
        id,
        kind: "file",
        file_name: name.clone(),
        out: Out::Parts(Array::new()),
        started: now_ms(),
    });
    set_text("inspect-status", &format!("Reading {path}…"));
    let msg = obj(&[
        ("id", id.into()),
        ("cmd", "read_file".into()),
        ("file", file.into()),
        ("key", key.into()),
        (
            "part",
            part.map(JsValue::from).unwrap_or(JsValue::UNDEFINED),
        ),
        ("path", path.into()),
        ("out", "auto".into()),
        ("name", format!("imgforge-out-{id}-{name}").into()),
    ]);
    let _ = pm.worker.post_message(&msg);
}

/// The partition table of an inspect report (core inspect::PartitionTable).
fn render_partitions(table: &Value) {
    let d = doc();
    let host = el::<HtmlElement>("parts");
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
