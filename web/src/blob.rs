//! `Blob`/`File` as a core [`ReadAt`]: synchronous reads of `Blob.slice()`
//! through `FileReaderSync` (which exists only in workers).
//!
//! Two caches, for the two ways the core reads an input:
//! - front to back in small pieces (a container writer reading 64 KiB
//!   clusters through `Disk::read_at`, a tar walked file by file): once a
//!   run of forward reads is seen, one browser call reads a window of up
//!   to [`READ_AHEAD`] bytes ahead and the next reads are copied out of it.
//!   The window is the `ArrayBuffer` the browser returned, so each byte is
//!   copied into wasm memory once, straight into the caller's buffer. In
//!   Chromium a `FileReaderSync` call costs 1–1.5 ms before any data moves,
//!   and 64 MiB reads reach 700–1000 MB/s where 1 MiB reads got 200–300
//!   (docs/benchmarks.md, "Reading a File in a worker");
//! - anywhere, a few bytes at a time (parsers reading headers and tables):
//!   a small LRU cache of 1 MiB blocks.

use imgforge_core::io::ReadAt;
use imgforge_core::{Error, Result};
use js_sys::Uint8Array;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use web_sys::{Blob, FileReaderSync};

/// Cache block size.
const BLOCK: u64 = 1 << 20;
/// Cached blocks kept (16 MiB).
const CACHE_BLOCKS: usize = 16;
/// Reads at least this long bypass the block cache (bulk data is read once).
const BYPASS: usize = 4 * BLOCK as usize;
/// The largest read-ahead window: one browser call (and the memory of one
/// `ArrayBuffer`) per this many bytes of a sequential read. On a quiet
/// machine 64 MiB reads were 15–30% faster than 32 MiB in Chromium.
pub const READ_AHEAD: u64 = 64 << 20;

/// Detects sequential reads and sizes the read-ahead window: after
/// [`Stream::MIN_RUN`] bytes read front to back, windows start at
/// [`Stream::FIRST`] and double up to the maximum. Short gaps (as a writer
/// skipping zero clusters makes) keep the window growing; a jump forward
/// of more than [`Stream::FIRST`] starts it small again; a read backwards
/// starts over.
#[derive(Debug, Clone)]
struct Stream {
    max: u64,
    /// End of the last read.
    next: u64,
    /// Bytes read in the current forward run.
    run: u64,
    /// Size of the next window.
    window: u64,
}

impl Stream {
    /// Bytes read front to back before read-ahead starts, so that parsing
    /// a header does not load a whole window.
    const MIN_RUN: u64 = 256 << 10;
    /// The first window of a run.
    const FIRST: u64 = 1 << 20;

    fn new(max: u64) -> Self {
        let max = max.max(1);
        Stream {
            max,
            next: 0,
            run: 0,
            window: Self::FIRST.min(max),
        }
    }

    /// Records a read of `len` bytes at `offset`; true if it continues a
    /// forward run long enough to be served by read-ahead.
    fn note(&mut self, offset: u64, len: u64) -> bool {
        if offset >= self.next {
            self.run = self.run.saturating_add(len);
            if offset - self.next > Self::FIRST {
                // A long jump forward: the run goes on, but the window
                // starts small again, so that sparse forward reads cost
                // about what the 1 MiB block cache would.
                self.window = Self::FIRST.min(self.max);
            }
        } else {
            self.run = len;
            self.window = Self::FIRST.min(self.max);
        }
        self.next = offset + len;
        self.run >= Self::MIN_RUN
    }

    /// The size of the window to read now (at least `need` bytes, at most
    /// the maximum unless `need` is larger); the next one is twice as long.
    fn take_window(&mut self, need: u64) -> u64 {
        let w = self.window.max(need);
        self.window = (self.window * 2).min(self.max);
        w
    }

    fn max(&self) -> u64 {
        self.max
    }
}

/// The last read-ahead window: `[start, start + data.length())`.
struct Window {
    start: u64,
    data: Uint8Array,
}

pub struct BlobSource {
    blob: Blob,
    reader: FileReaderSync,
    size: u64,
    name: String,
    /// Most recently used first: (block index, bytes).
    cache: RefCell<Vec<(u64, Rc<Vec<u8>>)>>,
    stream: RefCell<Stream>,
    window: RefCell<Option<Window>>,
    /// Browser reads made and bytes they returned (for tests and benchmarks).
    calls: Cell<u64>,
    bytes: Cell<u64>,
}

impl BlobSource {
    /// Fails outside a worker (no `FileReaderSync` on the main thread).
    pub fn new(blob: Blob, name: impl Into<String>) -> Result<Self> {
        Self::with_read_ahead(blob, name, READ_AHEAD)
    }

    /// [`BlobSource::new`] with a read-ahead window of at most `max` bytes
    /// (tests use small ones).
    pub fn with_read_ahead(blob: Blob, name: impl Into<String>, max: u64) -> Result<Self> {
        let reader =
            FileReaderSync::new().map_err(|e| js_io("FileReaderSync (workers only)", e))?;
        Ok(BlobSource {
            size: blob.size() as u64,
            blob,
            reader,
            name: name.into(),
            cache: RefCell::new(Vec::new()),
            stream: RefCell::new(Stream::new(max)),
            window: RefCell::new(None),
            calls: Cell::new(0),
            bytes: Cell::new(0),
        })
    }

    /// How many times the browser was asked for bytes so far.
    pub fn browser_reads(&self) -> u64 {
        self.calls.get()
    }

    /// How many bytes the browser was asked for so far.
    pub fn browser_bytes(&self) -> u64 {
        self.bytes.get()
    }

    /// Bytes held by the read-ahead window (0 when there is none).
    pub fn window_bytes(&self) -> u64 {
        self.window
            .borrow()
            .as_ref()
            .map_or(0, |w| w.data.length() as u64)
    }

    /// Reads `[start, end)` of the blob in one browser call, as the
    /// `Uint8Array` over the `ArrayBuffer` the browser returned.
    fn read_js(&self, start: u64, end: u64) -> Result<Uint8Array> {
        let slice = self
            .blob
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(|e| js_io(&format!("slicing {}", self.name), e))?;
        self.calls.set(self.calls.get() + 1);
        self.bytes.set(self.bytes.get() + (end - start));
        let data = self
            .reader
            .read_as_array_buffer(&slice)
            .map_err(|e| js_io(&format!("reading {}", self.name), e))?;
        let arr = Uint8Array::new(&data);
        if arr.length() as u64 != end - start {
            return Err(Error::Truncated {
                what: self.name.clone(),
                offset: start + arr.length() as u64,
                size: self.size,
            });
        }
        Ok(arr)
    }

    /// Reads `buf.len()` bytes at `start` in one browser call, copied
    /// straight from the `ArrayBuffer` into `buf`.
    fn read_into(&self, start: u64, buf: &mut [u8]) -> Result<()> {
        self.read_js(start, start + buf.len() as u64)?.copy_to(buf);
        Ok(())
    }

    fn block(&self, idx: u64) -> Result<Rc<Vec<u8>>> {
        let mut cache = self.cache.borrow_mut();
        if let Some(pos) = cache.iter().position(|(i, _)| *i == idx) {
            let hit = cache.remove(pos);
            let data = hit.1.clone();
            cache.insert(0, hit);
            return Ok(data);
        }
        drop(cache);
        let start = idx * BLOCK;
        let end = (start + BLOCK).min(self.size);
        let mut data = vec![0u8; (end - start) as usize];
        self.read_into(start, &mut data)?;
        let data = Rc::new(data);
        let mut cache = self.cache.borrow_mut();
        cache.insert(0, (idx, data.clone()));
        cache.truncate(CACHE_BLOCKS);
        Ok(data)
    }

    /// Copies what the window holds of `[pos, pos + buf.len())` from `pos`
    /// on into `buf`; returns how many bytes (0 if `pos` is outside it).
    fn copy_from_window(&self, pos: u64, buf: &mut [u8]) -> usize {
        let window = self.window.borrow();
        let Some(w) = window.as_ref() else { return 0 };
        let len = w.data.length() as u64;
        if pos < w.start || pos >= w.start + len {
            return 0;
        }
        let a = pos - w.start;
        let n = (len - a).min(buf.len() as u64);
        w.data
            .subarray(a as u32, (a + n) as u32)
            .copy_to(&mut buf[..n as usize]);
        n as usize
    }

    /// Small reads through the block cache.
    fn read_blocks(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset + buf.len() as u64;
        let mut pos = offset;
        while pos < end {
            let idx = pos / BLOCK;
            let block = self.block(idx)?;
            let in_block = (pos - idx * BLOCK) as usize;
            let n = ((end - pos) as usize).min(block.len() - in_block);
            let at = (pos - offset) as usize;
            buf[at..at + n].copy_from_slice(&block[in_block..in_block + n]);
            pos += n as u64;
        }
        Ok(())
    }
}

impl ReadAt for BlobSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.size => end,
            _ => {
                return Err(Error::Truncated {
                    what: self.name.clone(),
                    offset: offset.saturating_add(buf.len() as u64),
                    size: self.size,
                })
            }
        };
        if buf.is_empty() {
            return Ok(());
        }
        let r = self.read_span(offset, end, buf);
        if end == self.size {
            // Read to the last byte: a stream is over, so its window goes
            // (a build keeps all its inputs open; each would hold one).
            self.window.borrow_mut().take();
        }
        r
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

impl BlobSource {
    /// [`ReadAt::read_at`] of a non-empty `buf` ending at `end`, in bounds.
    fn read_span(&self, offset: u64, end: u64, buf: &mut [u8]) -> Result<()> {
        let sequential = self.stream.borrow_mut().note(offset, buf.len() as u64);
        // The part the current window holds.
        let done = self.copy_from_window(offset, buf);
        if done == buf.len() {
            return Ok(());
        }
        let (pos, rest) = (offset + done as u64, &mut buf[done..]);
        let max = self.stream.borrow().max();
        if rest.len() as u64 >= max {
            // Longer than any window: one call straight into `buf`.
            return self.read_into(pos, rest);
        }
        if sequential {
            let want = self.stream.borrow_mut().take_window(rest.len() as u64);
            let wend = (pos + want).min(self.size).max(end);
            let data = self.read_js(pos, wend)?;
            *self.window.borrow_mut() = Some(Window { start: pos, data });
            let n = self.copy_from_window(pos, rest);
            debug_assert_eq!(n, rest.len());
            return Ok(());
        }
        if rest.len() >= BYPASS {
            return self.read_into(pos, rest);
        }
        self.read_blocks(pos, rest)
    }
}

/// A JS exception as a core I/O error.
pub fn js_io(context: &str, e: wasm_bindgen::JsValue) -> Error {
    Error::io(context, std::io::Error::other(js_message(&e)))
}

/// The message of a JS error value.
pub fn js_message(e: &wasm_bindgen::JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
