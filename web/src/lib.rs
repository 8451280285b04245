//! imgforge in the browser: the wasm exports the page and its worker call.
//! JS only holds handles and plain values; Rust owns the state.
//!
//! - [`engine`]: the facade over the core (inspect, build, convert).
//! - [`protocol`]: the messages between the page and the worker, as types
//!   (docs/protocol.md).
//! - [`worker`]: `handle_message`, the Web Worker's entry (www/worker.js).
//! - [`page`]: `start_page`, the main thread's UI (www/index.html).
//! - [`blob`], [`sink`]: `Blob` inputs, OPFS and streamed outputs;
//!   [`readers`]: a big input read by parallel reader workers.
//! - The `*_bytes` exports below: the same engine on plain bytes, for node
//!   (parity tests against the CLI) and for small jobs; the `*_stream`
//!   exports read and write through JS callbacks, for images of any size
//!   (tests/node/bench.mjs converts a 4 GiB raw with them).
//!
//! Of gloo only `gloo::events` is used: the page's listeners (removed with
//! the worker they listen to, or kept for the page's life). The rest does
//! not fit: the worker reads Files synchronously (`FileReaderSync`, which
//! gloo-file does not wrap) and prefetches with `Blob.arrayBuffer()`
//! promises; gloo-worker brings its own message format and loader, where
//! this worker needs transferred buffers, nested reader workers and
//! termination as the way to cancel; and nothing here waits on a timer.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub mod blob;
pub mod engine;
pub mod node;
pub mod page;
pub mod protocol;
pub mod readers;
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
    fn can_patch(&self) -> bool {
        true
    }
    fn patch(&mut self, offset: u64, data: &[u8]) -> imgforge_core::Result<()> {
        self.0.patch(offset, data)
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

/// Input files given as a `Map` of path → `Uint8Array`.
fn file_map(files: &js_sys::Map) -> Result<engine::FileMap, JsError> {
    let mut map = engine::FileMap::new();
    let mut bad = None;
    files.for_each(
        &mut |value, key| match (key.as_string(), value.dyn_into::<js_sys::Uint8Array>()) {
            (Some(k), Ok(v)) => {
                map.insert(k, Arc::new(node::JsBytes::new(v)));
            }
            (k, _) => bad = Some(format!("files: entry {k:?} is not path → Uint8Array")),
        },
    );
    match bad {
        Some(b) => Err(JsError::new(&b)),
        None => Ok(map),
    }
}

/// Builds a recipe (JSON or TOML text) with input files given as a
/// `Map` of path → `Uint8Array`; returns the output bytes.
#[wasm_bindgen]
pub fn build_bytes(recipe_text: &str, files: &js_sys::Map) -> Result<Vec<u8>, JsError> {
    let r = recipe::parse(recipe_text, recipe::sniff(recipe_text)).map_err(js_err)?;
    let map = file_map(files)?;
    let mut out = MemSink(Vec::new());
    engine::build(&r, &map, &mut out, &NoProgress).map_err(js_err)?;
    Ok(out.0)
}

/// An input read through a JS function `read(offset, length, into)` (node:
/// `fs.readSync` on a file), so that images larger than wasm memory can be
/// converted. `into` is a `Uint8Array` of `length` bytes over the caller's
/// buffer in wasm memory: the function fills it and returns the number of
/// bytes read, so the input lands in wasm memory with no copy of its own
/// (`fs.readSync(fd, into, 0, length, offset)`); or, as before, it returns
/// a `Uint8Array` of its own, which is copied. Read-ahead into a larger
/// window was measured and did not pay here: a 64 KiB `pread` into the
/// caller's buffer costs less than copying the same bytes out of a 1–16
/// MiB window (docs/benchmarks.md, issue 6).
struct JsReader {
    read: js_sys::Function,
    size: u64,
}

impl JsReader {
    /// Fills `buf` from `offset` with one call of `read`.
    fn fill(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        let len = buf.len();
        let truncated = || imgforge_core::Error::Truncated {
            what: "input".into(),
            offset: offset.saturating_add(len as u64),
            size: self.size,
        };
        // A view of `buf` in wasm memory, for the function to fill: it
        // lives only during the call, which runs no wasm code that could
        // grow (and so detach) the memory.
        let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
        let into = js_sys::Uint8Array::new_with_byte_offset_and_length(
            &memory.buffer(),
            buf.as_mut_ptr() as usize as u32,
            len as u32,
        );
        let got = self
            .read
            .call3(
                &JsValue::NULL,
                &(offset as f64).into(),
                &(len as f64).into(),
                &into,
            )
            .map_err(|e| blob::js_io("reading the input", e))?;
        if let Some(n) = got.as_f64() {
            if n as usize != len {
                return Err(truncated());
            }
            return Ok(());
        }
        let arr: js_sys::Uint8Array = got.dyn_into().map_err(|_| {
            blob::js_io(
                "reading the input",
                "read() returned neither a byte count nor a Uint8Array".into(),
            )
        })?;
        if arr.length() as usize != len {
            return Err(truncated());
        }
        arr.copy_to(buf);
        Ok(())
    }
}

impl imgforge_core::io::ReadAt for JsReader {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.size)
        {
            return Err(imgforge_core::Error::Truncated {
                what: "input".into(),
                offset: offset.saturating_add(buf.len() as u64),
                size: self.size,
            });
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.fill(offset, buf)
    }
}

/// An output handed to a JS function `write(chunk, holeLength)`: `chunk` a
/// `Uint8Array` of up to 1 MiB (a copy, the callee may keep it) or `null`
/// for `holeLength` zero bytes.
struct JsWriter {
    write: js_sys::Function,
    buf: Vec<u8>,
    written: u64,
}

impl JsWriter {
    const CHUNK: usize = 1 << 20;
    fn new(write: &js_sys::Function) -> Self {
        JsWriter {
            write: write.clone(),
            buf: Vec::with_capacity(Self::CHUNK),
            written: 0,
        }
    }
    fn flush(&mut self) -> imgforge_core::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let arr = js_sys::Uint8Array::from(&self.buf[..]);
        self.buf.clear();
        self.write
            .call2(&JsValue::NULL, &arr, &0.into())
            .map_err(|e| blob::js_io("writing the output", e))?;
        Ok(())
    }
}

impl Sink for JsWriter {
    fn write(&mut self, mut data: &[u8]) -> imgforge_core::Result<()> {
        self.written += data.len() as u64;
        while !data.is_empty() {
            let n = (Self::CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == Self::CHUNK {
                self.flush()?;
            }
        }
        Ok(())
    }
    fn hole(&mut self, len: u64) -> imgforge_core::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.flush()?;
        self.written += len;
        self.write
            .call2(&JsValue::NULL, &JsValue::NULL, &(len as f64).into())
            .map_err(|e| blob::js_io("writing the output", e))?;
        Ok(())
    }
    fn finish(&mut self) -> imgforge_core::Result<()> {
        self.flush()
    }
}

/// [`build_bytes`] streamed: the output goes to `write(chunk, holeLength)`
/// (see the `*_stream` notes in docs/embedding.md); returns its size.
#[wasm_bindgen]
pub fn build_stream(
    recipe_text: &str,
    files: &js_sys::Map,
    write: &js_sys::Function,
) -> Result<f64, JsError> {
    let r = recipe::parse(recipe_text, recipe::sniff(recipe_text)).map_err(js_err)?;
    let map = file_map(files)?;
    let mut out = JsWriter::new(write);
    engine::build(&r, &map, &mut out, &NoProgress).map_err(js_err)?;
    out.flush().map_err(js_err)?;
    Ok(out.written as f64)
}

/// [`convert_bytes`] on an image of `size` bytes read through
/// `read(offset, length) → Uint8Array`, written to `write(chunk,
/// holeLength)`: images of any size, in bounded memory. Returns the
/// output's size.
#[wasm_bindgen]
pub fn convert_stream(
    size: f64,
    read: &js_sys::Function,
    format: &str,
    opts_json: &str,
    write: &js_sys::Function,
) -> Result<f64, JsError> {
    let format = Format::parse(format).map_err(js_err)?;
    let opts = convert_options(opts_json)?;
    let src = Arc::new(JsReader {
        read: read.clone(),
        size: size as u64,
    });
    let mut out = JsWriter::new(write);
    engine::convert(src, format, &opts, &mut out, &NoProgress).map_err(js_err)?;
    out.flush().map_err(js_err)?;
    Ok(out.written as f64)
}

pub(crate) fn convert_options(
    opts_json: &str,
) -> Result<imgforge_core::container::WriteOptions, JsError> {
    let opts: serde_json::Value = if opts_json.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(opts_json).map_err(js_err)?
    };
    engine::write_options(&opts).map_err(js_err)
}

/// Converts an image in memory to `format`; `opts_json` is `{}` or
/// `{"compress": true, "cluster_size": "64K", "subformat": "...",
/// "options": {...}, "seed": "...", "epoch": 0}`.
#[wasm_bindgen]
pub fn convert_bytes(bytes: &[u8], format: &str, opts_json: &str) -> Result<Vec<u8>, JsError> {
    let format = Format::parse(format).map_err(js_err)?;
    let opts = convert_options(opts_json)?;
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
