//! The worker side: `www/worker.js` passes every message to
//! [`handle_message`], which decodes it as a [`Request`], runs the job on
//! the engine and posts [`Event`]s back: `progress`, `chunk`/`hole`/`patch`
//! (an output streamed to the page), then `done` or `error`, all tagged
//! with the request's `id`. The messages are described in
//! [`crate::protocol`] and docs/protocol.md.
//!
//! - `inspect`: `done.result` = the info object.
//! - `build`: inputs up to `prefetch` bytes (32 MiB by default) are read
//!   whole before the build starts, the others on demand;
//!   `done.prefetched` = how many were read whole.
//! - `convert`: a raw image to qcow2 into an output that can patch is read
//!   by parallel reader workers (crate::readers) and `done.readers` says
//!   how many.
//! - `list_dir`: `done.result` = the entries (engine::list_dir); the
//!   filesystem's tree is kept per (`key`, `part`) for the next requests.
//! - `read_file`: the file's bytes, as a build's output.
//!
//! With `out: "opfs"` (or `"auto"` where OPFS works) the output is written to
//! the OPFS file `name` and `done` carries `{output: "opfs", name, size}`;
//! otherwise it comes as `chunk`/`hole` events and `done` carries
//! `{output: "chunks", size}`.
//!
//! Cancelling: the page terminates the worker and starts a new one (a
//! shared cancel flag would need a SharedArrayBuffer, hence COOP/COEP
//! headers the page cannot count on). An OPFS file left half-written is
//! removed by the page the next time it starts.

use crate::blob::{js_message, BlobSource};
use crate::engine::{self, FileMap};
use crate::protocol::{
    self, Build, Convert, Done, Event, Input, JobError, Json, ListDir, Output, OutputKind,
    OutputMode, Request,
};
use crate::readers::{self, ReaderPool};
use crate::recipe;
use crate::sink::{post, ChunkSink, OpfsSink, WorkerProgress};
use imgforge_core::container::{Format, WriteOptions};
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

/// Runs one request and posts its answer. Never throws.
#[wasm_bindgen]
pub async fn handle_message(msg: JsValue) {
    // The answer carries the id as it came, even one that is no JobId.
    let id = Reflect::get(&msg, &"id".into()).unwrap_or(JsValue::UNDEFINED);
    let (_, request) = Request::decode(&msg);
    let result = match request {
        Ok(r) => run(r, &id).await,
        Err(e) => Err(e.into()),
    };
    let event = match result {
        Ok(done) => Event::Done(done),
        Err(e) => Event::Error(e),
    };
    post(&id, &event);
}

// The core shares inputs as `Arc<dyn ReadAt>`; a Blob is not Send, and
// does not need to be: the worker is single-threaded.
#[allow(clippy::arc_with_non_send_sync)]
fn blob_source(blob: &Blob, what: &str) -> Result<Source, JobError> {
    let name = Reflect::get(blob, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| what.to_string());
    Ok(Arc::new(BlobSource::new(blob.clone(), name)?))
}

async fn run(request: Request, id: &JsValue) -> Result<Done, JobError> {
    match request {
        Request::Inspect(r) => {
            let src = blob_source(&r.file, "image")?;
            let v = engine::inspect(src)?;
            Ok(answer(&v))
        }
        Request::ListDir(r) => {
            let tree = cached_tree(&r)?;
            let path = r.path.as_deref().unwrap_or("/");
            let v = engine::list_dir(&tree, path)?;
            Ok(answer(&v))
        }
        Request::ReadFile(r, output) => {
            let tree = cached_tree(&r)?;
            let path = r.path.unwrap_or_default();
            let data = engine::file_data(&tree, &path)?;
            let out = open_output(&output, id).await?;
            run_output(out, id, |sink, progress| {
                copy_file(&data, &path, sink, progress)
            })
        }
        Request::Build(r, output) => build(r, &output, id).await,
        Request::Convert(r, output) => convert(r, &output, id).await,
        // The page's crash recovery is tested with a real panic.
        Request::Panic => panic!("a panic the browser test asked for"),
    }
}

/// `done.result` = `v`.
fn answer(v: &Value) -> Done {
    Done {
        result: Some(Json::from_value(v)),
        ..Done::default()
    }
}

async fn build(r: Build, output: &Output, id: &JsValue) -> Result<Done, JobError> {
    let syntax = r.syntax.unwrap_or_else(|| recipe::sniff(&r.recipe));
    let recipe = recipe::parse(&r.recipe, syntax)
        .map_err(|e| JobError::new(protocol::ErrorKind::Invalid, e))?;
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
    let reads = Prefetch::start(r.files.unwrap_or_default(), r.prefetch, wanted)?;
    let prefetched = reads.wanted.len() as u32;
    let out = open_output(output, id).await?;
    let files = reads.finish().await?;
    let mut warnings = Vec::new();
    let done = run_output(out, id, |sink, progress| {
        warnings = engine::build(&recipe, &files, sink, progress)?;
        Ok(())
    })?;
    Ok(Done {
        warnings: Some(warnings),
        prefetched: Some(prefetched),
        ..done
    })
}

async fn convert(r: Convert, output: &Output, id: &JsValue) -> Result<Done, JobError> {
    let src = blob_source(&r.file, "image")?;
    let format = Format::parse(&r.format)?;
    let opts: Value = match r.opts.as_deref() {
        Some(s) if !s.is_empty() => serde_json::from_str(s).map_err(|e| {
            JobError::new(
                protocol::ErrorKind::Invalid,
                format!("convert options: {e}"),
            )
        })?,
        _ => Value::Object(Default::default()),
    };
    let opts = engine::write_options(&opts)?;
    if format == Format::Qcow2 {
        if let Some(done) = convert_in_parallel(&r.file, output, id, &src, &opts).await? {
            return Ok(done);
        }
    }
    let out = open_output(output, id).await?;
    run_output(out, id, |sink, progress| {
        engine::convert(src.clone(), format, &opts, sink, progress)
    })
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
    inputs: Vec<Input>,
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
        inputs: Vec<Input>,
        max: Option<f64>,
        named: impl Fn(&str) -> bool,
    ) -> Result<Prefetch, JobError> {
        let max = max
            .filter(|m| m.is_finite() && *m >= 0.0)
            .map_or(PREFETCH_FILE, |m| m.min(PREFETCH_TOTAL));
        let mut total = 0.0;
        let mut wanted = Vec::new();
        let pieces = Array::new();
        let mut placed = Vec::new();
        for (i, Input(path, blob)) in inputs.iter().enumerate() {
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
                    .map_err(|e| JobError::browser(format!("{path}: {}", js_message(&e))))?;
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
    async fn finish(self) -> Result<FileMap, JobError> {
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
                            return Err(JobError::browser(format!("{path}: {}", js_message(&e))));
                        }
                    }
                    return Err(JobError::browser(format!(
                        "reading the inputs: {}",
                        js_message(&e)
                    )));
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
        for (i, Input(path, blob)) in inputs.into_iter().enumerate() {
            let src: Source = match wanted.next_if(|(w, _)| *w == i) {
                Some((_, bytes)) => Arc::new(crate::node::JsBytes::named(bytes, path.clone())),
                None => blob_source(&blob, &path)?,
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
    file: &Blob,
    output: &Output,
    id: &JsValue,
    src: &Source,
    opts: &WriteOptions,
) -> Result<Option<Done>, JobError> {
    // The same detection as engine::convert's container::open (the header
    // read through the one-reader BlobSource).
    if imgforge_core::container::detect(&**src).ok() != Some(Format::Raw) {
        return Ok(None);
    }
    if output.out == OutputMode::Chunks && !output.patch {
        return Ok(None);
    }
    let Some(pool) = ReaderPool::start(file)? else {
        return Ok(None);
    };
    let progress = WorkerProgress::new(id.clone());
    let mut out = open_output(output, id).await?;
    let name = src.name();
    if !out.sink().can_patch() {
        drop(pool);
        engine::convert(src.clone(), Format::Qcow2, opts, out.sink(), &progress)?;
        return Ok(Some(out.done()));
    }
    readers::raw_to_qcow2(&pool, &name, src.size(), opts, out.sink(), &progress).await?;
    Ok(Some(Done {
        readers: Some(pool.readers()),
        ..out.done()
    }))
}

/// An output opened as the request asks ([`open_output`]'s choice).
enum Opened {
    Opfs(OpfsSink, String),
    Chunks(ChunkSink),
}

impl Opened {
    fn sink(&mut self) -> &mut dyn Sink {
        match self {
            Opened::Opfs(s, _) => s,
            Opened::Chunks(s) => s,
        }
    }

    /// The `done` event's fields for this output.
    fn done(self) -> Done {
        match self {
            Opened::Opfs(s, name) => Done {
                output: Some(OutputKind::Opfs),
                name: Some(name),
                size: Some(s.written()),
                ..Done::default()
            },
            Opened::Chunks(s) => Done {
                output: Some(OutputKind::Chunks),
                size: Some(s.written()),
                ..Done::default()
            },
        }
    }
}

/// Opens the output `{out, name, patch}` names: the OPFS file `name`
/// (`out: "opfs"`, or `"auto"` where OPFS works), else chunks posted to
/// the page.
async fn open_output(output: &Output, id: &JsValue) -> Result<Opened, JobError> {
    let name = output.file_name().to_string();
    if output.out != OutputMode::Chunks {
        match open_opfs(&name).await {
            Ok(h) => return Ok(Opened::Opfs(OpfsSink::new(h, name.clone()), name)),
            Err(e) if output.out == OutputMode::Opfs => {
                return Err(JobError::browser(format!("OPFS: {e}")))
            }
            Err(_) => {}
        }
    }
    Ok(Opened::Chunks(
        ChunkSink::new(id.clone()).patchable(output.patch),
    ))
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
fn cached_tree(r: &ListDir) -> Result<Rc<Tree>, JobError> {
    let (key, part) = (&r.key, r.part);
    let hit = TREES.with(|c| {
        let mut c = c.borrow_mut();
        let pos = c
            .iter()
            .position(|(k, p, _)| !key.is_empty() && k == key && *p == part)?;
        let e = c.remove(pos);
        let tree = e.2.clone();
        c.insert(0, e);
        Some(tree)
    });
    if let Some(t) = hit {
        return Ok(t);
    }
    let src = blob_source(&r.file, "image")?;
    let tree = Rc::new(engine::open_tree(src, part).map_err(|e| match part {
        Some(n) => JobError::from(e).context(format!("partition {n}")),
        None => JobError::from(e),
    })?);
    if !key.is_empty() {
        TREES.with(|c| {
            let mut c = c.borrow_mut();
            c.insert(0, (key.clone(), part, tree.clone()));
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

/// Runs `job` into an output [`open_output`] opened; the `done` fields.
fn run_output(
    mut out: Opened,
    id: &JsValue,
    job: impl FnOnce(&mut dyn Sink, &WorkerProgress) -> imgforge_core::Result<()>,
) -> Result<Done, JobError> {
    let progress = WorkerProgress::new(id.clone());
    job(out.sink(), &progress)?;
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
