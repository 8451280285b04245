//! `Blob`/`File` as a core [`ReadAt`]: synchronous reads of `Blob.slice()`
//! through `FileReaderSync` (which exists only in workers), with a small
//! LRU cache of 1 MiB blocks so that parsers reading headers and tables a
//! few bytes at a time do not cost one browser round trip per read.

use imgforge_core::io::ReadAt;
use imgforge_core::{Error, Result};
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::{Blob, FileReaderSync};

/// Cache block size.
const BLOCK: u64 = 1 << 20;
/// Cached blocks kept (16 MiB).
const CACHE_BLOCKS: usize = 16;
/// Reads at least this long bypass the cache (bulk data is read once).
const BYPASS: usize = 4 * BLOCK as usize;

pub struct BlobSource {
    blob: Blob,
    reader: FileReaderSync,
    size: u64,
    name: String,
    /// Most recently used first: (block index, bytes).
    cache: RefCell<Vec<(u64, Rc<Vec<u8>>)>>,
}

impl BlobSource {
    /// Fails outside a worker (no `FileReaderSync` on the main thread).
    pub fn new(blob: Blob, name: impl Into<String>) -> Result<Self> {
        let reader =
            FileReaderSync::new().map_err(|e| js_io("FileReaderSync (workers only)", e))?;
        Ok(BlobSource {
            size: blob.size() as u64,
            blob,
            reader,
            name: name.into(),
            cache: RefCell::new(Vec::new()),
        })
    }

    /// Reads `[start, end)` of the blob in one browser call.
    fn read_raw(&self, start: u64, end: u64) -> Result<Vec<u8>> {
        let mut v = vec![0u8; (end - start) as usize];
        self.read_into(start, &mut v)?;
        Ok(v)
    }

    /// Reads `buf.len()` bytes at `start` in one browser call, copied
    /// straight from the `ArrayBuffer` into `buf`.
    fn read_into(&self, start: u64, buf: &mut [u8]) -> Result<()> {
        let end = start + buf.len() as u64;
        let slice = self
            .blob
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(|e| js_io(&format!("slicing {}", self.name), e))?;
        let data = self
            .reader
            .read_as_array_buffer(&slice)
            .map_err(|e| js_io(&format!("reading {}", self.name), e))?;
        let arr = js_sys::Uint8Array::new(&data);
        if arr.length() as u64 != end - start {
            return Err(Error::Truncated {
                what: self.name.clone(),
                offset: start + arr.length() as u64,
                size: self.size,
            });
        }
        arr.copy_to(buf);
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
        let data = Rc::new(self.read_raw(start, end)?);
        let mut cache = self.cache.borrow_mut();
        cache.insert(0, (idx, data.clone()));
        cache.truncate(CACHE_BLOCKS);
        Ok(data)
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
        if buf.len() >= BYPASS {
            return self.read_into(offset, buf);
        }
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

    fn name(&self) -> String {
        self.name.clone()
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
