//! imgforge in the browser: the wasm exports the page and its worker call.
//! JS only holds handles and plain values; Rust owns the state.
//!
//! - [`engine`]: the facade over the core (inspect, build, convert).
//! - [`worker`]: `handle_message`, the Web Worker's entry (www/worker.js).
//! - [`page`]: `start_page`, the main thread's UI (www/index.html).
//! - [`blob`], [`sink`]: `Blob` inputs, OPFS and streamed outputs.
//! - The `*_bytes` exports below: the same engine on plain bytes, for node
//!   (parity tests against the CLI) and for small jobs.

use wasm_bindgen::prelude::*;

pub mod blob;
pub mod engine;
pub mod page;
pub mod recipe;
pub mod sink;
pub mod worker;

use imgforge_core::container::Format;
use imgforge_core::io::{NoProgress, Sink};
use std::sync::Arc;

/// Outputs of the `*_bytes` calls are held in wasm memory: bounded well
/// below wasm32's 2 GiB allocation limit, with an error instead of a panic.
const MEM_OUTPUT_CAP: u64 = 1 << 30;

/// A `Vec` sink that refuses to grow past [`MEM_OUTPUT_CAP`].
struct MemSink(Vec<u8>);

impl MemSink {
    fn reserve(&self, more: u64) -> imgforge_core::Result<usize> {
        match (self.0.len() as u64).checked_add(more) {
            Some(n) if n <= MEM_OUTPUT_CAP => Ok(n as usize),
            _ => Err(imgforge_core::Error::no_space(
                "output",
                "more than 1 GiB does not fit in memory here; use the page (which writes to a file) or the CLI",
            )),
        }
    }
}

impl Sink for MemSink {
    fn write(&mut self, data: &[u8]) -> imgforge_core::Result<()> {
        self.reserve(data.len() as u64)?;
        self.0.extend_from_slice(data);
        Ok(())
    }
    fn hole(&mut self, len: u64) -> imgforge_core::Result<()> {
        let n = self.reserve(len)?;
        self.0.resize(n, 0);
        Ok(())
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The crate's version, to check the page and the CLI match.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// `inspect` on an image held in memory; returns the info as JSON text.
#[wasm_bindgen]
pub fn inspect_bytes(bytes: &[u8]) -> Result<String, JsError> {
    let v = engine::inspect(Arc::new(bytes.to_vec())).map_err(js_err)?;
    Ok(v.to_string())
}

/// Builds a recipe (JSON or TOML text) with input files given as a
/// `Map` of path → `Uint8Array`; returns the output bytes.
#[wasm_bindgen]
pub fn build_bytes(recipe_text: &str, files: &js_sys::Map) -> Result<Vec<u8>, JsError> {
    let r = recipe::parse(recipe_text, recipe::sniff(recipe_text)).map_err(js_err)?;
    let mut map = engine::FileMap::new();
    let mut bad = None;
    files.for_each(
        &mut |value, key| match (key.as_string(), value.dyn_into::<js_sys::Uint8Array>()) {
            (Some(k), Ok(v)) => {
                map.insert(k, Arc::new(v.to_vec()));
            }
            (k, _) => bad = Some(format!("files: entry {k:?} is not path → Uint8Array")),
        },
    );
    if let Some(b) = bad {
        return Err(JsError::new(&b));
    }
    let mut out = MemSink(Vec::new());
    engine::build(&r, &map, &mut out, &NoProgress).map_err(js_err)?;
    Ok(out.0)
}

/// Converts an image in memory to `format`; `opts_json` is `{}` or
/// `{"compress": true, "cluster_size": "64K", "subformat": "...",
/// "options": {...}, "seed": "...", "epoch": 0}`.
#[wasm_bindgen]
pub fn convert_bytes(bytes: &[u8], format: &str, opts_json: &str) -> Result<Vec<u8>, JsError> {
    let format = Format::parse(format).map_err(js_err)?;
    let opts: serde_json::Value = if opts_json.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(opts_json).map_err(js_err)?
    };
    let opts = engine::write_options(&opts, &opts).map_err(js_err)?;
    let mut out = MemSink(Vec::new());
    engine::convert(
        Arc::new(bytes.to_vec()),
        format,
        &opts,
        &mut out,
        &NoProgress,
    )
    .map_err(js_err)?;
    Ok(out.0)
}

/// The presets as `[{id, title, inputs, recipe}]` (for embedders).
#[wasm_bindgen]
pub fn presets() -> JsValue {
    let v: Vec<serde_json::Value> = recipe::PRESETS
        .iter()
        .map(|p| {
            serde_json::json!({"id": p.id, "title": p.title, "inputs": p.inputs, "recipe": (p.recipe)()})
        })
        .collect();
    js_sys::JSON::parse(&serde_json::Value::Array(v).to_string()).unwrap_or(JsValue::NULL)
}
