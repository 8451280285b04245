//! Parallel reading of a big input in the worker: a handle on the reader
//! pool that www/worker.js puts on the worker's global scope
//! (`self.imgforgeReaders(file, opts)`: several www/reader.js workers read
//! interleaved chunks of the File with FileReaderSync, faster together than
//! one `BlobSource`), and the convert of a raw image to qcow2 fed from it
//! through the core's [`PushWriter`].
//!
//! Rust awaits each chunk (a JS promise) and pushes it; the readers read
//! ahead meanwhile, a bounded number of chunks each. Where the pool is
//! missing (node, wasm-bindgen-test, a browser without nested workers) the
//! worker keeps its one-reader path; the bytes are the same.

use crate::blob::js_message;
use crate::protocol::JobError;
use imgforge_core::container::WriteOptions;
use imgforge_core::io::{Progress, Sink};
use imgforge_core::qcow2::PushWriter;
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// Bytes copied from a chunk into wasm memory (and pushed) at a time.
const PIECE: usize = 4 << 20;

/// A running pool of readers over one File; closed (its workers ended)
/// when dropped, whichever way the job ends.
pub struct ReaderPool {
    handle: Object,
    next: Function,
    readers: u32,
}

impl ReaderPool {
    /// Starts readers over `file` if the worker has a pool (`None` if not).
    pub fn start(file: &Blob) -> Result<Option<ReaderPool>, JobError> {
        let Ok(f) = Reflect::get(&js_sys::global(), &"imgforgeReaders".into()) else {
            return Ok(None);
        };
        let Some(f) = f.dyn_ref::<Function>() else {
            return Ok(None);
        };
        let handle: Object = f
            .call1(&JsValue::UNDEFINED, file)
            .map_err(|e| {
                JobError::browser(format!("starting the file readers: {}", js_message(&e)))
            })?
            .dyn_into()
            .map_err(|_| JobError::browser("the file readers: not an object"))?;
        let next: Function = Reflect::get(&handle, &"next".into())
            .ok()
            .and_then(|v| v.dyn_into().ok())
            .ok_or_else(|| JobError::browser("the file readers: no next()"))?;
        let readers = Reflect::get(&handle, &"readers".into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as u32;
        Ok(Some(ReaderPool {
            handle,
            next,
            readers,
        }))
    }

    /// How many readers work in parallel.
    pub fn readers(&self) -> u32 {
        self.readers
    }

    /// The next chunk in file order, `None` at the end.
    async fn next(&self) -> Result<Option<Chunk>, JobError> {
        let js = |e: JsValue| JobError::browser(js_message(&e));
        let p: Promise = self
            .next
            .call0(&self.handle)
            .map_err(js)?
            .dyn_into()
            .map_err(|_| JobError::browser("the file readers: next() is not a promise"))?;
        let v = JsFuture::from(p).await.map_err(js)?;
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        let offset = Reflect::get(&v, &"offset".into())
            .ok()
            .and_then(|o| o.as_f64())
            .ok_or_else(|| JobError::browser("the file readers: a chunk without an offset"))?;
        let data: Uint8Array = Reflect::get(&v, &"data".into())
            .ok()
            .and_then(|d| d.dyn_into().ok())
            .ok_or_else(|| JobError::browser("the file readers: a chunk without data"))?;
        let len = data.length() as u64;
        // The parts of the chunk that hold data (by default all of it).
        let ranges = match Reflect::get(&v, &"ranges".into()) {
            Ok(r) if js_sys::Array::is_array(&r) => {
                let r: Vec<u64> = js_sys::Array::from(&r)
                    .iter()
                    .map(|x| x.as_f64().unwrap_or(f64::NAN) as u64)
                    .collect();
                let ok = r.len().is_multiple_of(2)
                    && r.windows(2).all(|w| w[0] <= w[1])
                    && r.last().is_none_or(|&e| e <= len);
                if !ok {
                    return Err(JobError::browser("the file readers: bad data ranges"));
                }
                r.chunks(2).map(|p| (p[0], p[1])).collect()
            }
            _ => vec![(0, len)],
        };
        Ok(Some(Chunk {
            offset: offset as u64,
            data,
            ranges,
        }))
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        if let Ok(close) = Reflect::get(&self.handle, &"close".into()) {
            if let Some(close) = close.dyn_ref::<Function>() {
                let _ = close.call0(&self.handle);
            }
        }
    }
}

/// A chunk of the file: its bytes at `offset` (a JS array, outside wasm
/// memory) and the ranges of them, relative to `offset`, that may hold
/// non-zero bytes (the rest are zeros).
struct Chunk {
    offset: u64,
    data: Uint8Array,
    ranges: Vec<(u64, u64)>,
}

/// Converts a raw image of `size` bytes, read by `pool`, to qcow2 in
/// `sink` (which must be able to patch): the same bytes as
/// `container::write(Format::Qcow2, ..)` of the same disk. `name` names
/// the input in errors.
pub async fn raw_to_qcow2(
    pool: &ReaderPool,
    name: &str,
    size: u64,
    opts: &WriteOptions,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<(), JobError> {
    let mut w = PushWriter::new(size, opts, sink)?;
    let mut buf = vec![0u8; (PIECE as u64).min(size) as usize];
    let mut expect = 0u64;
    while let Some(Chunk {
        offset,
        data,
        ranges,
    }) = pool.next().await?
    {
        let len = data.length() as u64;
        if offset != expect || offset + len > size || len == 0 {
            return Err(JobError::browser(format!(
                "reading {name}: a chunk of {len} bytes at offset {offset} where offset {expect} was due"
            )));
        }
        // Only the parts with data are copied into wasm memory and pushed;
        // the writer reads the gaps as zeros.
        for (start, end) in ranges {
            let mut at = start;
            while at < end {
                let n = (PIECE as u64).min(end - at) as usize;
                data.subarray(at as u32, (at as usize + n) as u32)
                    .copy_to(&mut buf[..n]);
                w.push_at(offset + at, &buf[..n])?;
                at += n as u64;
            }
        }
        expect = offset + len;
        progress.step("writing qcow2", expect, size)?;
    }
    if expect != size {
        return Err(JobError::browser(format!(
            "reading {name}: the readers stopped at offset {expect} of {size}"
        )));
    }
    Ok(w.finish()?)
}
