//! The worker side: `www/worker.js` passes every message to
//! [`handle_message`], which runs one job on the engine and posts
//! `progress`, `chunk`/`hole` (output streamed to the page), then `done` or
//! `error` back, all tagged with the request's `id`.
//!
//! Requests:
//! - `{id, cmd: "inspect", file: Blob}` → `done.result` = the info object
//! - `{id, cmd: "build", recipe: string, syntax?: "json"|"toml",
//!   files: [[path, Blob], ...], out: "auto"|"opfs"|"chunks", name?,
//!   prefetch?: bytes}` (inputs up to `prefetch` bytes, 32 MiB by default,
//!   are read whole before the build starts, the others on demand;
//!   `done.prefetched` = how many were read whole)
//! - `{id, cmd: "convert", file: Blob, format, opts?: string (JSON), out, name?}`;
//!   a raw image to qcow2 into an output that can patch is read by
//!   parallel reader workers (crate::readers) and `done.readers` says how
//!   many
//! - `{id, cmd: "list_dir", file: Blob, key: string, part?: number, path}`
//!   → `done.result` = the entries (engine::list_dir); the filesystem's tree
//!   is kept per (`key`, `part`) for the next requests
//! - `{id, cmd: "read_file", file, key, part?, path, out, name?}`: the
//!   file's bytes, as a build's output
//!
//! With `out: "opfs"` (or `"auto"` where OPFS works) the output is written to
//! the OPFS file `name` and `done` carries `{output: "opfs", name, size}`;
//! otherwise it comes as `chunk`/`hole` messages and `done` carries
//! `{output: "chunks", size}`.
//!
//! Cancelling: the page terminates the worker and starts a new one (a
//! shared cancel flag would need a SharedArrayBuffer, hence COOP/COEP
//! headers the page cannot count on). An OPFS file left half-written is
//! removed by the page the next time it starts.

use crate::blob::{js_message, BlobSource};
use crate::engine::{self, FileMap};
use crate::readers::{self, ReaderPool};
use crate::recipe::{self, Syntax};
use crate::sink::{obj, post, ChunkSink, OpfsSink, WorkerProgress};
use imgforge_core::container::Format;
use imgforge_core::io::{Progress, Sink, Source};
use imgforge_core::tree::{FileData, Tree};
use js_sys::{Array, Reflect, Uint8Array};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetFileOptions,
    FileSystemSyncAccessHandle, WorkerGlobalScope,
};

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn get_str(v: &JsValue, k: &str) -> Option<String> {
    get(v, k).as_string()
}

/// Runs one request and posts its answer. Never throws.
#[wasm_bindgen]
pub async fn handle_message(msg: JsValue) {
    let id = get(&msg, "id");
    match run(&msg, &id).await {
        Ok(done) => {
            let _ = Reflect::set(&done, &"id".into(), &id);
            let _ = Reflect::set(&done, &"type".into(), &"done".into());
            post(&done, None);
        }
        Err(message) => post(
            &obj(&[
                ("id", id),
                ("type", "error".into()),
                ("message", message.into()),
            ]),
            None,
        ),
    }
}

// The core shares inputs as `Arc<dyn ReadAt>`; a Blob is not Send, and
// does not need to be: the worker is single-threaded.
#[allow(clippy::arc_with_non_send_sync)]
fn blob_source(v: &JsValue, what: &str) -> Result<Source, String> {
    let blob: Blob = v
        .clone()
        .dyn_into()
        .map_err(|_| format!("{what}: not a File or Blob"))?;
    let name = get_str(v, "name").unwrap_or_else(|| what.to_string());
    Ok(Arc::new(
        BlobSource::new(blob, name).map_err(|e| e.to_string())?,
    ))
}

fn json_to_js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap_or(JsValue::NULL)
}

async fn run(msg: &JsValue, id: &JsValue) -> Result<js_sys::Object, String> {
    let cmd = get_str(msg, "cmd").unwrap_or_default();
    match cmd.as_str() {
        "inspect" => {
            let src = blob_source(&get(msg, "file"), "image")?;
            let v = engine::inspect(src).map_err(|e| e.to_string())?;
            Ok(obj(&[("result", json_to_js(&v))]))
        }
        "list_dir" => {
            let tree = cached_tree(msg)?;
            let path = get_str(msg, "path").unwrap_or_else(|| "/".into());
            let v = engine::list_dir(&tree, &path).map_err(|e| e.to_string())?;
            Ok(obj(&[("result", json_to_js(&v))]))
        }
        "read_file" => {
            let tree = cached_tree(msg)?;
            let path = get_str(msg, "path").unwrap_or_default();
            let data = engine::file_data(&tree, &path).map_err(|e| e.to_string())?;
            with_output(msg, id, |sink, progress| {
                copy_file(&data, &path, sink, progress)
            })
            .await
        }
        "build" => {
            let text = get_str(msg, "recipe").ok_or("build: no recipe")?;
            let syntax = get_str(msg, "syntax")
                .map(|s| Syntax::parse(&s))
                .unwrap_or_else(|| recipe::sniff(&text));
            let recipe = recipe::parse(&text, syntax)?;
            let mut inputs = Vec::new();
            let list = get(msg, "files");
            if !list.is_undefined() && !list.is_null() {
                for pair in Array::from(&list).iter() {
                    let pair = Array::from(&pair);
                    let path = pair
                        .get(0)
                        .as_string()
                        .ok_or("build: file without a path")?;
                    inputs.push((path, pair.get(1)));
                }
            }
            // The inputs are being read while the output is opened.
            // Only what the recipe names (the page sends its whole file list).
            let named = recipe::input_paths(&recipe);
            let wanted = |path: &str| {
                named.iter().any(|n| {
                    path == n
                        || path
                            .strip_prefix(n.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                })
            };
            let reads = Prefetch::start(inputs, get(msg, "prefetch").as_f64(), wanted)?;
            let prefetched = reads.wanted.len();
            let out = open_output(msg, id).await?;
            let files = reads.finish().await?;
            let mut warnings = Vec::new();
            let done = run_output(out, id, |sink, progress| {
                warnings = engine::build(&recipe, &files, sink, progress)?;
                Ok(())
            })?;
            let list: Array = warnings.iter().map(|w| JsValue::from_str(w)).collect();
            let _ = Reflect::set(&done, &"warnings".into(), &list);
            let _ = Reflect::set(&done, &"prefetched".into(), &(prefetched as f64).into());
            Ok(done)
        }
        "convert" => {
            let src = blob_source(&get(msg, "file"), "image")?;
            let format = Format::parse(&get_str(msg, "format").unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let opts: Value = match get_str(msg, "opts") {
                Some(s) if !s.is_empty() => {
                    serde_json::from_str(&s).map_err(|e| format!("convert options: {e}"))?
                }
                _ => Value::Object(Default::default()),
            };
            let opts = engine::write_options(&opts).map_err(|e| e.to_string())?;
            if format == Format::Qcow2 {
                if let Some(done) = convert_in_parallel(msg, id, &src, &opts).await? {
                    return Ok(done);
                }
            }
            with_output(msg, id, |sink, progress| {
                engine::convert(src.clone(), format, &opts, sink, progress)
            })
            .await
        }
        // The page's crash recovery is tested with a real panic.
        "panic" => panic!("a panic the browser test asked for"),
        other => Err(format!("unknown command '{other}'")),
    }
}

/// Inputs up to this size are read whole before a build starts...
const PREFETCH_FILE: f64 = (32u64 << 20) as f64;
/// ...as long as all of them together stay under this (JS memory held for
/// the build); bigger inputs are read on demand through [`BlobSource`].
const PREFETCH_TOTAL: f64 = (128u64 << 20) as f64;
/// The browser reads these pieces concurrently.
const PREFETCH_PIECE: f64 = (2u64 << 20) as f64;

/// The build's inputs, being read. A build reads its small inputs
/// (kernels, initrds, tars of a workshop's size) whole, and in Chromium one
/// `FileReaderSync` call after another costs 1–4 ms each before data
/// moves: so the small ones are read up front, all at once, with the
/// browser's asynchronous reads in 2 MiB pieces in flight together (for the
/// 11 MB of inputs of examples/bootable-disk.toml, ~25 ms instead of ~45).
struct Prefetch {
    inputs: Vec<(String, JsValue)>,
    /// Inputs read whole: (index in `inputs`, their bytes).
    wanted: Vec<(usize, Uint8Array)>,
    /// Promises of the pieces' `ArrayBuffer`s...
    pieces: Array,
    /// ...and where each goes: (index in `wanted`, offset).
    placed: Vec<(usize, f64)>,
}

impl Prefetch {
    /// Starts the reads (a JS promise starts its work when made) of the
    /// inputs `named` says the recipe reads. `max`: the largest input read
    /// up front (the request's `prefetch`; default [`PREFETCH_FILE`], 0
    /// reads everything on demand).
    fn start(
        inputs: Vec<(String, JsValue)>,
        max: Option<f64>,
        named: impl Fn(&str) -> bool,
    ) -> Result<Prefetch, String> {
        let max = max
            .filter(|m| m.is_finite() && *m >= 0.0)
            .map_or(PREFETCH_FILE, |m| m.min(PREFETCH_TOTAL));
        let mut total = 0.0;
        let mut wanted = Vec::new();
        let pieces = Array::new();
        let mut placed = Vec::new();
        for (i, (path, v)) in inputs.iter().enumerate() {
            let blob: Blob = v
                .clone()
                .dyn_into()
                .map_err(|_| format!("{path}: not a File or Blob"))?;
            let size = blob.size();
            if size > max || size == 0.0 || total + size > PREFETCH_TOTAL || !named(path) {
                continue;
            }
            total += size;
            wanted.push((i, Uint8Array::new_with_length(size as u32)));
            let mut at = 0.0;
            while at < size {
                let end = (at + PREFETCH_PIECE).min(size);
                let piece = blob
                    .slice_with_f64_and_f64(at, end)
                    .map_err(|e| format!("{path}: {}", js_message(&e)))?;
                pieces.push(&piece.array_buffer());
                placed.push((wanted.len() - 1, at));
                at = end;
            }
        }
        Ok(Prefetch {
            inputs,
            wanted,
            pieces,
            placed,
        })
    }

    /// Waits for the reads; the inputs as sources (the big ones read on
    /// demand through [`BlobSource`]).
    async fn finish(self) -> Result<FileMap, String> {
        let Prefetch {
            inputs,
            wanted,
            pieces,
            placed,
        } = self;
        if !wanted.is_empty() {
            let got = match JsFuture::from(js_sys::Promise::all(&pieces)).await {
                Ok(got) => Array::from(&got),
                Err(e) => {
                    // Name the file: the first piece that failed (all settled).
                    for (k, (w, _)) in placed.iter().enumerate() {
                        let p: js_sys::Promise = pieces.get(k as u32).unchecked_into();
                        if let Err(e) = JsFuture::from(p).await {
                            let path = &inputs[wanted[*w].0].0;
                            return Err(format!("{path}: {}", js_message(&e)));
                        }
                    }
                    return Err(format!("reading the inputs: {}", js_message(&e)));
                }
            };
            for (k, (w, at)) in placed.iter().enumerate() {
                wanted[*w]
                    .1
                    .set(&Uint8Array::new(&got.get(k as u32)), *at as u32);
            }
        }
        let mut files = FileMap::new();
        let mut wanted = wanted.into_iter().peekable();
        for (i, (path, v)) in inputs.into_iter().enumerate() {
            let src: Source = match wanted.next_if(|(w, _)| *w == i) {
                Some((_, bytes)) => Arc::new(crate::node::JsBytes::named(bytes, path.clone())),
                None => blob_source(&v, &path)?,
            };
            files.insert(path, src);
        }
        Ok(files)
    }
}

/// Convert of a raw image to qcow2 with the input read by parallel readers
/// (crate::readers), when the worker has them and the output can patch
/// (OPFS; chunks with `patch: true`); `None` to take the one-reader path.
/// `done` carries `readers`: how many read in parallel.
async fn convert_in_parallel(
    msg: &JsValue,
    id: &JsValue,
    src: &Source,
    opts: &imgforge_core::container::WriteOptions,
) -> Result<Option<js_sys::Object>, String> {
    // The same detection as engine::convert's container::open (the header
    // read through the one-reader BlobSource).
    if imgforge_core::container::detect(&**src).ok() != Some(Format::Raw) {
        return Ok(None);
    }
    let out = get_str(msg, "out").unwrap_or_else(|| "auto".into());
    let patch = get(msg, "patch").as_bool().unwrap_or(false);
    if out == "chunks" && !patch {
        return Ok(None);
    }
    let Some(pool) = ReaderPool::start(&get(msg, "file"))? else {
        return Ok(None);
    };
    let progress = WorkerProgress::new(id.clone());
    let mut output = open_output(msg, id).await?;
    let name = src.name();
    if !output.sink().can_patch() {
        drop(pool);
        engine::convert(src.clone(), Format::Qcow2, opts, output.sink(), &progress)
            .map_err(|e| e.to_string())?;
        return Ok(Some(output.done()));
    }
    readers::raw_to_qcow2(&pool, &name, src.size(), opts, output.sink(), &progress).await?;
    let done = output.done();
    let _ = Reflect::set(&done, &"readers".into(), &pool.readers().into());
    Ok(Some(done))
}

/// An output opened as the request asks ([`with_output`]'s choice).
enum Output {
    Opfs(OpfsSink, String),
    Chunks(ChunkSink),
}

impl Output {
    fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Output::Opfs(s, _) => s,
            Output::Chunks(s) => s,
        }
    }

    /// The `done` message's fields for this output.
    fn done(self) -> js_sys::Object {
        match self {
            Output::Opfs(s, name) => obj(&[
                ("output", "opfs".into()),
                ("name", name.into()),
                ("size", (s.written() as f64).into()),
            ]),
            Output::Chunks(s) => obj(&[
                ("output", "chunks".into()),
                ("size", (s.written() as f64).into()),
            ]),
        }
    }
}

/// Opens the output `{out, name, patch}` names: the OPFS file `name`
/// (`out: "opfs"`, or `"auto"` where OPFS works), else chunks posted to
/// the page.
async fn open_output(msg: &JsValue, id: &JsValue) -> Result<Output, String> {
    let out = get_str(msg, "out").unwrap_or_else(|| "auto".into());
    let name = get_str(msg, "name").unwrap_or_else(|| "imgforge-out.bin".into());
    if out != "chunks" {
        match open_opfs(&name).await {
            Ok(h) => return Ok(Output::Opfs(OpfsSink::new(h, name.clone()), name)),
            Err(e) if out == "opfs" => return Err(format!("OPFS: {e}")),
            Err(_) => {}
        }
    }
    let patch = get(msg, "patch").as_bool().unwrap_or(false);
    Ok(Output::Chunks(ChunkSink::new(id.clone()).patchable(patch)))
}

/// Trees of the filesystems the page is browsing, by (`key`, partition):
/// opened once per dropped image and partition, so expanding a directory
/// or downloading a file does not read the filesystem's metadata again.
/// The few most recent are kept (most recent first).
type TreeCache = Vec<(String, Option<u32>, Rc<Tree>)>;
const TREES_KEPT: usize = 4;

thread_local! {
    static TREES: RefCell<TreeCache> = const { RefCell::new(Vec::new()) };
}

/// The tree for `{file, key, part}`: from the cache, or opened now.
fn cached_tree(msg: &JsValue) -> Result<Rc<Tree>, String> {
    let key = get_str(msg, "key").unwrap_or_default();
    let part = get(msg, "part").as_f64().map(|p| p as u32);
    let hit = TREES.with(|c| {
        let mut c = c.borrow_mut();
        let pos = c
            .iter()
            .position(|(k, p, _)| !key.is_empty() && *k == key && *p == part)?;
        let e = c.remove(pos);
        let tree = e.2.clone();
        c.insert(0, e);
        Some(tree)
    });
    if let Some(t) = hit {
        return Ok(t);
    }
    let src = blob_source(&get(msg, "file"), "image")?;
    let tree = Rc::new(engine::open_tree(src, part).map_err(|e| match part {
        Some(n) => format!("partition {n}: {e}"),
        None => e.to_string(),
    })?);
    if !key.is_empty() {
        TREES.with(|c| {
            let mut c = c.borrow_mut();
            c.insert(0, (key, part, tree.clone()));
            c.truncate(TREES_KEPT);
        });
    }
    Ok(tree)
}

/// Streams a file from inside an image to `sink`, 1 MiB at a time.
fn copy_file(
    data: &FileData,
    path: &str,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> imgforge_core::Result<()> {
    const STEP: u64 = 1 << 20;
    let len = data.len();
    let mut buf = vec![0u8; STEP.min(len) as usize];
    let mut pos = 0;
    while pos < len {
        let n = STEP.min(len - pos) as usize;
        data.read_at(pos, &mut buf[..n]).map_err(|e| {
            imgforge_core::Error::io(path.to_string(), std::io::Error::other(e.to_string()))
        })?;
        sink.write(&buf[..n])?;
        pos += n as u64;
        progress.step("reading", pos, len)?;
    }
    sink.finish()
}

/// Opens the output the request asks for and runs `job` into it.
async fn with_output(
    msg: &JsValue,
    id: &JsValue,
    job: impl FnOnce(&mut dyn Sink, &WorkerProgress) -> imgforge_core::Result<()>,
) -> Result<js_sys::Object, String> {
    let out = open_output(msg, id).await?;
    run_output(out, id, job)
}

/// Runs `job` into an output [`open_output`] gave; the `done` fields.
fn run_output(
    mut out: Output,
    id: &JsValue,
    job: impl FnOnce(&mut dyn Sink, &WorkerProgress) -> imgforge_core::Result<()>,
) -> Result<js_sys::Object, String> {
    let progress = WorkerProgress::new(id.clone());
    job(out.sink(), &progress).map_err(|e| e.to_string())?;
    Ok(out.done())
}

async fn open_opfs(name: &str) -> Result<FileSystemSyncAccessHandle, String> {
    let scope: WorkerGlobalScope = js_sys::global()
        .dyn_into()
        .map_err(|_| "not in a worker".to_string())?;
    let storage = scope.navigator().storage();
    let dir: FileSystemDirectoryHandle = JsFuture::from(storage.get_directory())
        .await
        .map_err(|e| js_message(&e))?
        .unchecked_into();
    let opts = FileSystemGetFileOptions::new();
    opts.set_create(true);
    let file: FileSystemFileHandle = JsFuture::from(dir.get_file_handle_with_options(name, &opts))
        .await
        .map_err(|e| js_message(&e))?
        .unchecked_into();
    let handle = JsFuture::from(file.create_sync_access_handle())
        .await
        .map_err(|e| js_message(&e))?;
    Ok(handle.unchecked_into())
}
