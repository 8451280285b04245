//! The page's main thread: wires www/index.html to the worker.
//!
//! All state lives here in Rust (one [`Page`] per tab); the DOM is only
//! read and written. Long work goes to a module Web Worker (www/worker.js)
//! that runs the same wasm; this side streams the worker's output to a
//! file the user picked (`showSaveFilePicker`), or offers it as a download
//! (an OPFS file, or a Blob assembled from chunks where OPFS is missing).
//! Cancel terminates the worker and starts a fresh one.
//!
//! - [`dom`]: the page's elements, looked up once at start;
//! - [`build`]: the Build view (presets, form, recipe text, input files);
//! - [`inspect`]: the Inspect view (facts, partitions, file trees);
//! - [`jobs`]: the worker, the requests sent to it and its events;
//! - [`output`]: where a job's output goes (a picked file, OPFS, a Blob
//!   download) and the page's OPFS storage.

mod build;
mod dom;
mod inspect;
mod jobs;
mod output;

use crate::protocol::JobId;
use crate::recipe::{Syntax, PRESETS};
use dom::{set_text, show, Dom};
use gloo::events::{EventListener, EventListenerOptions};
use js_sys::{Array, Function, Promise, Reflect};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Event, EventTarget, File};

/// The page's state.
struct Page {
    /// The worker and its listeners (`None` if a new one could not start).
    worker: Option<jobs::Connection>,
    syntax: Syntax,
    recipe: Value,
    files: Vec<(String, File)>,
    job: Option<output::Job>,
    next_id: JobId,
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
    requests: Vec<(JobId, jobs::Reply)>,
}

impl Page {
    /// A new request id.
    fn take_id(&mut self) -> JobId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

thread_local! {
    static PAGE: RefCell<Option<Rc<RefCell<Page>>>> = const { RefCell::new(None) };
    static DOM: RefCell<Option<Rc<Dom>>> = const { RefCell::new(None) };
}

/// The page's state. Every caller runs from a listener [`start_page`] added
/// after it set the state up, so it is always there.
fn page() -> Rc<RefCell<Page>> {
    PAGE.with(|p| p.borrow().clone())
        .expect("page state is set before any listener is added")
}

/// The page's elements (set up with the state).
fn dom() -> Rc<Dom> {
    DOM.with(|d| d.borrow().clone())
        .expect("elements are looked up before any listener is added")
}

/// Milliseconds since the page loaded (`performance.now()`).
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

/// Builds a plain JS object from key/value pairs.
fn obj(pairs: &[(&str, JsValue)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

/// Calls `obj.method(...args)`, a method this browser may lack.
fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(obj, method)
        .dyn_into()
        .map_err(|_| JsValue::from_str(&format!("{method} is not available in this browser")))?;
    f.apply(obj, &args.iter().cloned().collect::<Array>())
}

/// [`call`] of a method that returns a promise, awaited.
async fn call_async(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let p: Promise = call(obj, method, args)?.dyn_into()?;
    JsFuture::from(p).await
}

/// Runs `f` on every `event` on `target`, for the page's lifetime.
fn on(target: &EventTarget, event: &'static str, mut f: impl FnMut(&Event) + 'static) {
    EventListener::new(target, event, move |e| f(e)).forget();
}

/// [`on`] for a handler that calls `preventDefault()` (gloo's listeners
/// are passive unless told).
fn on_active(target: &EventTarget, event: &'static str, mut f: impl FnMut(&Event) + 'static) {
    let opts = EventListenerOptions::enable_prevent_default();
    EventListener::new_with_options(target, event, opts, move |e| f(e)).forget();
}

/// Sets up the page: call once after the wasm is initialised. Fails (and
/// the page does nothing) if index.html lacks an element it needs.
#[wasm_bindgen]
pub fn start_page() -> Result<(), JsError> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsError::new("start_page: not in a page with a document"))?;
    let d = Rc::new(Dom::lookup(document)?);
    let worker = jobs::Connection::start().map_err(|e| {
        JsError::new(&format!(
            "cannot start worker.js: {}",
            crate::blob::js_message(&e)
        ))
    })?;
    let p = Page {
        worker: Some(worker),
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
    DOM.with(|slot| *slot.borrow_mut() = Some(d.clone()));

    on(&d.tab_build, "click", |_| switch_tab("build"));
    on(&d.tab_inspect, "click", |_| switch_tab("inspect"));
    build::wire(&d);
    inspect::wire(&d);
    on(&d.build, "click", |_| spawn_local(build::start_build()));
    on(&d.cancel, "click", |_| jobs::cancel());
    apply_url(&d)?;
    spawn_local(output::clean_opfs());
    set_text(&d.status, "Ready.");
    Ok(())
}

/// `?preset=…&recipe=…&syntax=…&view=…&embed=1` (an embedding page's
/// iframe; docs/embedding.md).
fn apply_url(d: &Dom) -> Result<(), JsError> {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let params =
        web_sys::UrlSearchParams::new_with_str(&search).map_err(|_| JsError::new("url"))?;
    if params.get("embed").is_some() {
        let _ = d.document.body().map(|b| b.class_list().add_1("embedded"));
    }
    if let Some(s) = params.get("syntax") {
        page().borrow_mut().syntax = Syntax::parse(&s);
    }
    build::load_preset(&params.get("preset").unwrap_or_else(|| "raw".into()));
    if let Some(text) = params.get("recipe") {
        let syntax = params.get("syntax");
        if crate::recipe::is_url(&text) {
            // ?recipe=URL: the recipe file is fetched (same origin or https).
            spawn_local(async move {
                match build::fetch_text(&text).await {
                    Ok(body) => build::set_recipe_text(&body, syntax.as_deref()),
                    Err(e) => set_text(
                        &dom().recipe_error,
                        &format!(
                            "Cannot fetch the recipe {text}: {}",
                            crate::blob::js_message(&e)
                        ),
                    ),
                }
            });
        } else {
            build::set_recipe_text(&text, syntax.as_deref());
        }
    }
    build::sync_syntax_radio();
    if params.get("view").as_deref() == Some("inspect") {
        switch_tab("inspect");
    }
    Ok(())
}

fn switch_tab(which: &str) {
    let d = dom();
    show(&d.view_build, which == "build");
    show(&d.view_inspect, which == "inspect");
    for (b, name) in [(&d.tab_build, "build"), (&d.tab_inspect, "inspect")] {
        let _ = b.class_list().toggle_with_force("active", name == which);
        let _ = b.set_attribute(
            "aria-selected",
            if name == which { "true" } else { "false" },
        );
    }
}
