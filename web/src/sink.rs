//! Browser outputs as core [`Sink`]s, and progress reported to the page.
//!
//! - [`OpfsSink`]: a file in the origin private file system, written through
//!   a `FileSystemSyncAccessHandle` (workers only; synchronous, so the core's
//!   synchronous writers can use it). Small writes are gathered into 1 MiB
//!   ones; holes are skipped with the write position; `finish` sets the
//!   final length. It can patch (rewrite bytes
//!   already written), so qcow2 is written in one pass.
//! - [`ChunkSink`]: posts the output to the page in 1 MiB `Uint8Array`s (the
//!   buffers are transferred, not copied) and holes as lengths; the page
//!   writes them to a `FileSystemWritableFileStream` from
//!   `showSaveFilePicker` (holes become seeks) or collects them into a Blob.
//!   A page that asks for it (`patch: true`) also gets patches, bytes to
//!   overwrite behind the end.
//!   It cannot patch (the page's Blob fallback only appends), so qcow2 takes
//!   its two-pass path there; the bytes are the same.

use crate::blob::js_io;
use crate::protocol::{self, Event};
use imgforge_core::io::{Progress, Sink};
use imgforge_core::Result;
use js_sys::{Array, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, FileSystemReadWriteOptions, FileSystemSyncAccessHandle};

/// Posts `event` about the request `id` from the worker to the page (no-op
/// outside a worker). The bytes of `chunk` and `patch` events are
/// transferred, not copied.
pub fn post(id: &JsValue, event: &Event) {
    let Ok(scope) = js_sys::global().dyn_into::<DedicatedWorkerGlobalScope>() else {
        return;
    };
    let Ok(msg) = event.encode(id) else {
        return;
    };
    let transfer = match event {
        Event::Chunk(c) => Some(c.data.buffer()),
        Event::Patch(p) => Some(p.data.buffer()),
        _ => None,
    };
    let _ = match transfer {
        Some(t) => scope.post_message_with_transfer(&msg, &Array::of1(&t)),
        None => scope.post_message(&msg),
    };
}

pub struct OpfsSink {
    handle: Option<FileSystemSyncAccessHandle>,
    pos: u64,
    name: String,
    /// Small writes not yet written: they end at `pos`. Each access-handle
    /// call costs ~50 µs, and writers make many small writes (a
    /// filesystem's metadata, a tar of small files).
    pending: Vec<u8>,
}

/// Writes are gathered up to this size; longer ones go straight through.
const GATHER: usize = 1 << 20;

impl OpfsSink {
    pub fn new(handle: FileSystemSyncAccessHandle, name: impl Into<String>) -> Self {
        // Start from an empty file: a retried build reuses the name.
        let _ = handle.truncate_with_f64(0.0);
        OpfsSink {
            handle: Some(handle),
            pos: 0,
            name: name.into(),
            pending: Vec::new(),
        }
    }

    pub fn written(&self) -> u64 {
        self.pos
    }

    fn handle(&self) -> Result<&FileSystemSyncAccessHandle> {
        self.handle.as_ref().ok_or_else(|| {
            imgforge_core::Error::io(
                format!("writing {}", self.name),
                std::io::Error::other("already finished"),
            )
        })
    }
}

impl OpfsSink {
    /// Writes `data` at `at` (the access handle writes at any offset).
    fn write_at(&self, at: u64, data: &[u8]) -> Result<()> {
        let h = self.handle()?;
        let opts = FileSystemReadWriteOptions::new();
        opts.set_at(at as f64);
        let n = h
            .write_with_u8_array_and_options(data, &opts)
            .map_err(|e| {
                let quota = Reflect::get(&e, &"name".into())
                    .ok()
                    .and_then(|n| n.as_string())
                    .is_some_and(|n| n == "QuotaExceededError");
                if quota {
                    // Chromium gives this for a write past what the page's
                    // storage may hold (a raw image of many TiB).
                    no_room(at + data.len() as u64)
                } else {
                    js_io(&format!("writing {}", self.name), e)
                }
            })?;
        if n as usize != data.len() {
            return Err(no_room(at + data.len() as u64));
        }
        Ok(())
    }
}

/// The output does not fit in the page's storage (OPFS).
fn no_room(end: u64) -> imgforge_core::Error {
    imgforge_core::Error::no_space(
        "output",
        format!(
            "the browser's storage for this page cannot hold {} (its quota or the disk is full); qcow2 stores only the used clusters, or build it with the imgforge command line",
            imgforge_core::size::human(end)
        ),
    )
}

impl OpfsSink {
    /// Writes the gathered bytes.
    fn flush_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            let at = self.pos - self.pending.len() as u64;
            self.write_at(at, &self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

impl Sink for OpfsSink {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.pending.len() + data.len() > GATHER {
            self.flush_pending()?;
        }
        if data.len() >= GATHER {
            self.write_at(self.pos, data)?;
        } else {
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact(GATHER);
            }
            self.pending.extend_from_slice(data);
        }
        self.pos += data.len() as u64;
        Ok(())
    }

    fn can_patch(&self) -> bool {
        true
    }

    fn patch(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        imgforge_core::io::check_patch(offset, data.len(), self.pos)?;
        self.flush_pending()?;
        self.write_at(offset, data)
    }

    fn hole(&mut self, len: u64) -> Result<()> {
        self.flush_pending()?;
        self.pos += len;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.flush_pending()?;
        let h = self.handle()?;
        let ctx = format!("finishing {}", self.name);
        h.truncate_with_f64(self.pos as f64)
            .map_err(|e| js_io(&ctx, e))?;
        // No flush(): that is an fsync (5–7 ms for a small image), and
        // close() already makes the bytes visible to getFile(); the file is
        // scratch space the page hands out as a download.
        h.close();
        self.handle = None;
        Ok(())
    }
}

impl Drop for OpfsSink {
    fn drop(&mut self) {
        // An access handle locks the file until closed.
        if let Some(h) = self.handle.take() {
            h.close();
        }
    }
}

const CHUNK: usize = 1 << 20;

pub struct ChunkSink {
    id: JsValue,
    buf: Vec<u8>,
    pos: u64,
    patchable: bool,
}

impl ChunkSink {
    pub fn new(id: JsValue) -> Self {
        ChunkSink {
            id,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            patchable: false,
        }
    }

    /// A receiver that also handles `{type: "patch", offset, data}` (bytes
    /// to overwrite at `offset`, before the current end): writers that can
    /// go back (qcow2 writes its header last) then read their input once.
    pub fn patchable(mut self, yes: bool) -> Self {
        self.patchable = yes;
        self
    }

    pub fn written(&self) -> u64 {
        self.pos
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let data = Uint8Array::from(&self.buf[..]);
        self.buf.clear();
        post(&self.id, &Event::Chunk(protocol::Chunk { data }));
    }
}

impl Sink for ChunkSink {
    fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.pos += data.len() as u64;
        while !data.is_empty() {
            let n = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == CHUNK {
                self.flush();
            }
        }
        Ok(())
    }

    fn hole(&mut self, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.flush();
        self.pos += len;
        post(&self.id, &Event::Hole(protocol::Hole { len }));
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.flush();
        Ok(())
    }

    fn can_patch(&self) -> bool {
        self.patchable
    }

    fn patch(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if !self.patchable {
            return Err(imgforge_core::Error::unsupported(
                "output",
                "this output cannot be rewritten in place",
            ));
        }
        imgforge_core::io::check_patch(offset, data.len(), self.pos)?;
        self.flush();
        let data = Uint8Array::from(data);
        post(&self.id, &Event::Patch(protocol::Patch { offset, data }));
        Ok(())
    }
}

/// Posts `progress` events ([`protocol::Progress`]) at most ~10 times a
/// second (and on every phase change). Cancelling is done by the page
/// terminating the worker, so `cancelled()` stays false.
pub struct WorkerProgress {
    id: JsValue,
    last: Cell<f64>,
    phase: RefCell<String>,
}

impl WorkerProgress {
    pub fn new(id: JsValue) -> Self {
        WorkerProgress {
            id,
            last: Cell::new(f64::NEG_INFINITY),
            phase: RefCell::new(String::new()),
        }
    }
}

impl Progress for WorkerProgress {
    fn report(&self, phase: &str, done: u64, total: u64) {
        let now = js_sys::Date::now();
        let same_phase = *self.phase.borrow() == phase;
        if same_phase && now - self.last.get() < 100.0 && done < total {
            return;
        }
        self.last.set(now);
        if !same_phase {
            *self.phase.borrow_mut() = phase.to_string();
        }
        let phase = phase.to_string();
        post(
            &self.id,
            &Event::Progress(protocol::Progress { phase, done, total }),
        );
    }
}
