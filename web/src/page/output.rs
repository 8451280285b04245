//! Where a job's output goes, and the page's storage: a file the user
//! picked (`FileSystemWritableFileStream`: chunks written as they come,
//! holes as seeks, patches as positioned writes), chunks gathered for a
//! Blob download, or an OPFS file the worker wrote; the finished output
//! offered as a download; OPFS files of earlier outputs removed.

use super::dom::set_text;
use super::jobs::{finish_job, set_progress, took};
use super::{call, call_async, dom, get, obj, page};
use crate::blob::js_message;
use crate::protocol::{Done, JobError, JobId, OutputKind};
use imgforge_core::size::human;
use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, HtmlAnchorElement, Url};

/// What the job in the page's one job slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Build,
    Inspect,
    /// A file taken out of the inspected image.
    File,
}

/// The job the worker is running for the page.
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    /// The output's (or the inspected image's) file name.
    pub file_name: String,
    pub out: Out,
    /// `performance.now()` when the page sent it.
    pub started: f64,
}

impl Job {
    pub fn new(id: JobId, kind: JobKind, file_name: String, out: Out) -> Job {
        Job {
            id,
            kind,
            file_name,
            out,
            started: super::now_ms(),
        }
    }
}

/// Where the output of the running job goes.
pub enum Out {
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

impl Out {
    /// A picked file's stream.
    pub fn writable(stream: JsValue) -> Out {
        Out::Writable {
            stream,
            pos: 0.0,
            writes: Array::new(),
        }
    }

    /// The next bytes of the output.
    pub fn chunk(&mut self, chunk: Uint8Array) {
        match self {
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

    /// `len` zero bytes.
    pub fn hole(&mut self, len: f64) {
        match self {
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

    /// Bytes to overwrite at `offset`, behind the end.
    pub fn patch(&mut self, offset: f64, bytes: Uint8Array) {
        match self {
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
            // Never asked for (see `patch` in build::start_build).
            Out::Parts(_) | Out::None => {}
        }
    }

    /// The job failed or was stopped: a picked file is left as it was.
    pub fn abort(&self) {
        if let Out::Writable { stream, .. } = self {
            let _ = call(stream, "abort", &[]);
        }
    }
}

/// Queues `step` (bytes, or a `{type: "seek"|"write", ...}` command) on a
/// picked file's writable stream; `complete` awaits `writes`.
fn queue_write(stream: &JsValue, writes: &Array, step: JsValue) {
    if let Ok(pr) = call(stream, "write", &[step]) {
        writes.push(&pr);
    }
}

/// The job ended: close the output, offer it.
pub async fn complete(job: Job, result: Result<Done, JobError>) {
    match job.kind {
        JobKind::Inspect => {
            match result {
                Err(e) => set_text(
                    &dom().inspect_status,
                    &format!("Cannot read {}: {}", job.file_name, e.message),
                ),
                Ok(done) => super::inspect::render_inspect(&job.file_name, done.result),
            }
            finish_job("", false);
        }
        JobKind::File => complete_file(job, result).await,
        JobKind::Build => match result {
            Err(e) => build_failed(&job, &e),
            Ok(done) => complete_build(job, done).await,
        },
    }
}

/// A file taken out of an image: offered as a download.
async fn complete_file(job: Job, result: Result<Done, JobError>) {
    let r: Result<String, String> = async {
        let done = result.map_err(|e| e.message)?;
        let blob = job_blob(&job, &done).await.map_err(|e| js_message(&e))?;
        offer_download(&dom().file_download, &blob, &job.file_name).map_err(|e| js_message(&e))?;
        Ok(format!(
            "Extracted {} ({}).",
            job.file_name,
            human(blob.size() as u64)
        ))
    }
    .await;
    set_text(
        &dom().inspect_status,
        &match r {
            Ok(m) => m,
            Err(e) => format!("Cannot extract {}: {e}", job.file_name),
        },
    );
    finish_job("", false);
}

fn build_failed(job: &Job, e: &JobError) {
    job.out.abort();
    let msg = if e.message.is_empty() {
        "the worker gave no reason".to_string()
    } else if e.is_missing_input() {
        format!(
            "{} (add it under Input files, named as the recipe names it)",
            e.message
        )
    } else {
        e.message.clone()
    };
    finish_job(&format!("Build failed: {msg}"), true);
}

/// A build's output: the picked file closed at its full length, or the
/// Blob (OPFS file or chunks) offered as a download.
async fn complete_build(job: Job, done: Done) {
    let d = dom();
    let size = done.size.unwrap_or(0) as f64;
    set_text(
        &d.build_warnings,
        &done.warnings.clone().unwrap_or_default().join("\n"),
    );
    let result: Result<String, JsValue> = async {
        match &job.out {
            Out::Writable { stream, writes, .. } => {
                JsFuture::from(Promise::all(writes)).await?;
                // Trailing holes: the file gets its full length.
                call_async(stream, "truncate", &[size.into()]).await?;
                call_async(stream, "close", &[]).await?;
                Ok(format!(
                    "Saved {} ({}) in {}.",
                    job.file_name,
                    human(size as u64),
                    took(job.started)
                ))
            }
            Out::Parts(_) => {
                if done.output != Some(OutputKind::Opfs) {
                    set_text(
                        &d.save_note,
                        "Without OPFS or a save dialog the image was held in memory: a browser may refuse to download more than a few hundred MiB held that way; use qcow2 or the command line for big disks.",
                    );
                }
                let blob = job_blob(&job, &done).await?;
                offer_download(&d.download, &blob, &job.file_name)?;
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

/// The output of a finished job as a Blob: the OPFS file the worker wrote
/// or the chunks it posted.
async fn job_blob(job: &Job, done: &Done) -> Result<Blob, JsValue> {
    if done.output == Some(OutputKind::Opfs) {
        let name = done.name.clone().unwrap_or_default();
        // A build's output goes on the next build; files taken out of an
        // image stay until the page is next opened (clean_opfs).
        if job.kind == JobKind::Build {
            page().borrow_mut().last_opfs = Some(name.clone());
        }
        return opfs_file(&name).await;
    }
    match &job.out {
        Out::Parts(parts) => Blob::new_with_u8_array_sequence(parts),
        _ => Blob::new(),
    }
}

/// Points the link `a` at `blob` and clicks it.
fn offer_download(a: &HtmlAnchorElement, blob: &Blob, name: &str) -> Result<(), JsValue> {
    let url = Url::create_object_url_with_blob(blob)?;
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

/// The last build's download link and OPFS file, released.
pub async fn release_last_output() {
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
pub async fn clean_opfs() {
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
