//! Builds for node that never hold an input or the image whole: inputs are
//! read on demand straight into wasm memory (`fs.readSync` on a file
//! descriptor) and the image is written at positions (`fs.writeSync`), as
//! `imgforge build` reads its input files and writes its output file.
//!
//! Why not [`crate::build_bytes`] for big jobs: it collects the image in one
//! growing `Vec` and copies that into a JS `Uint8Array` at the end (and it
//! used to copy every input into wasm memory first, which `JsBytes` now
//! avoids). For a 645 MB tar giving a 962 MB ext4 image those copies, and
//! the page faults of the 5 GB they touched, took 4× the time of the build
//! itself (docs/benchmarks.md, "wasm under node").

use crate::blob::js_io;
use imgforge_core::io::{NoProgress, ReadAt, Sink, Source};
use std::cell::RefCell;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// `{size, read(buf, position) → bytesRead}`: an input file.
    type JsReadable;
    /// wasm-bindgen passes a `&mut [u8]` to JS as a view of wasm memory:
    /// the bytes land in `buf` with no copy.
    #[wasm_bindgen(method, catch, js_name = read)]
    fn read_into(this: &JsReadable, buf: &mut [u8], position: f64) -> Result<f64, JsValue>;

    /// A `write(buf, position) → bytesWritten` function, called as a
    /// method of this type so that `buf` is a view of wasm memory.
    type JsWritable;
    #[wasm_bindgen(method, catch, js_name = call)]
    fn write_from(
        this: &JsWritable,
        this_arg: &JsValue,
        buf: &[u8],
        position: f64,
    ) -> Result<f64, JsValue>;
}

/// An input read through `read(buf, position) → bytesRead`, where `buf` is a
/// `Uint8Array` view of wasm memory to fill, valid only during the call.
struct JsFile {
    read: JsReadable,
    size: u64,
    name: String,
    /// The last [`JsFile::WINDOW`] bytes read for a small read, and where
    /// they start.
    window: RefCell<(u64, Vec<u8>)>,
}

impl JsFile {
    /// Reads up to this size go through the window: a tar's 512-byte
    /// headers and small files sit a few KiB apart, and one call into JS and
    /// the kernel costs as much as copying several KiB.
    const SMALL: usize = 4096;
    const WINDOW: usize = 16384;

    fn fill(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        imgforge_core::io::check_read(offset, buf.len() as u64, self.size, || self.name.clone())?;
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            let want = rest.len();
            let n = self
                .read
                .read_into(rest, (offset + done as u64) as f64)
                .map_err(|e| js_io(&format!("reading {}", self.name), e))?;
            if !(n >= 1.0 && n <= want as f64) {
                // The file is shorter than its stated size.
                return Err(imgforge_core::Error::Truncated {
                    what: self.name.clone(),
                    offset: offset + buf.len() as u64,
                    size: self.size,
                });
            }
            done += n as usize;
        }
        Ok(())
    }
}

impl ReadAt for JsFile {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        if buf.len() > Self::SMALL {
            return self.fill(offset, buf);
        }
        let mut window = self.window.borrow_mut();
        let (at, bytes) = &mut *window;
        let end = offset.checked_add(buf.len() as u64);
        let inside = offset >= *at && end.is_some_and(|e| e <= *at + bytes.len() as u64);
        if !inside {
            let len = (Self::WINDOW as u64).min(self.size.saturating_sub(offset)) as usize;
            if len < buf.len() {
                return self.fill(offset, buf); // past the end: its error
            }
            bytes.resize(len, 0);
            if let Err(e) = self.fill(offset, bytes) {
                bytes.clear();
                return Err(e);
            }
            *at = offset;
        }
        let from = (offset - *at) as usize;
        buf.copy_from_slice(&bytes[from..from + buf.len()]);
        Ok(())
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// An output written through `write(buf, position) → bytesWritten`, where
/// `buf` is a `Uint8Array` view of wasm memory of up to 1 MiB, valid only
/// during the call. Holes are not written: the file's final length is set
/// by the caller from the size [`build_files`] returns.
struct JsFileWriter {
    write: JsWritable,
    buf: Vec<u8>,
    buf_at: u64,
    pos: u64,
}

impl JsFileWriter {
    const CHUNK: usize = 1 << 20;

    fn flush(&mut self) -> imgforge_core::Result<()> {
        let mut done = 0;
        while done < self.buf.len() {
            let rest = &self.buf[done..];
            let n = self
                .write
                .write_from(&JsValue::NULL, rest, (self.buf_at + done as u64) as f64)
                .map_err(|e| js_io("writing the output", e))?;
            if !(n >= 1.0 && n <= rest.len() as f64) {
                return Err(js_io(
                    "writing the output",
                    "write() did not return the number of bytes written".into(),
                ));
            }
            done += n as usize;
        }
        self.buf.clear();
        Ok(())
    }
}

impl Sink for JsFileWriter {
    fn write(&mut self, data: &[u8]) -> imgforge_core::Result<()> {
        if !self.buf.is_empty() && self.buf.len() + data.len() > Self::CHUNK {
            self.flush()?;
        }
        if self.buf.is_empty() {
            self.buf_at = self.pos;
        }
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        if self.buf.len() >= Self::CHUNK {
            self.flush()?;
        }
        Ok(())
    }
    fn hole(&mut self, len: u64) -> imgforge_core::Result<()> {
        // Zero runs that hold no whole 4 KiB block (the tails of files'
        // last blocks in an ext4 image: 44k of them for the bench tree)
        // cannot leave a block of the output file unallocated: they are
        // written as zeros, so writes stay 1 MiB long instead of one
        // write call per file. Longer runs are skipped (holes).
        let first_block = self.pos.div_ceil(SPARSE_BLOCK) * SPARSE_BLOCK;
        let holds_block = first_block + SPARSE_BLOCK <= self.pos + len;
        let fits = self.buf.len() as u64 + len <= Self::CHUNK as u64;
        if !self.buf.is_empty() && !holds_block && fits {
            self.buf.resize(self.buf.len() + len as usize, 0);
            self.pos += len;
            if self.buf.len() == Self::CHUNK {
                self.flush()?;
            }
            return Ok(());
        }
        self.flush()?;
        self.pos += len;
        Ok(())
    }
    fn finish(&mut self) -> imgforge_core::Result<()> {
        self.flush()
    }
    // The file is written at positions, so a writer can go back (qcow2
    // writes its header last and reads its input once).
    fn can_patch(&self) -> bool {
        true
    }
    fn patch(&mut self, offset: u64, data: &[u8]) -> imgforge_core::Result<()> {
        imgforge_core::io::check_patch(offset, data.len(), self.pos)?;
        self.flush()?;
        let (buf_at, pos) = (self.buf_at, self.pos);
        self.buf_at = offset;
        self.buf.extend_from_slice(data);
        let r = self.flush();
        (self.buf_at, self.pos) = (buf_at, pos);
        r
    }
}

/// The block size of the file systems outputs are written to (ext4, xfs,
/// btrfs: 4 KiB): the unit in which a file can be sparse.
const SPARSE_BLOCK: u64 = 4096;

/// Input files as a `Map` of path → `Uint8Array` or `{size, read}` (read on
/// demand, see [`build_files`]).
fn input_map(files: &js_sys::Map) -> Result<crate::engine::FileMap, JsError> {
    let mut map = crate::engine::FileMap::new();
    let mut bad = None;
    files.for_each(&mut |value, key| {
        let Some(k) = key.as_string() else {
            bad = Some("files: a key is not a path".to_string());
            return;
        };
        if let Ok(bytes) = value.clone().dyn_into::<js_sys::Uint8Array>() {
            map.insert(k, Arc::new(JsBytes::new(bytes)) as Source);
            return;
        }
        let size = js_sys::Reflect::get(&value, &"size".into())
            .ok()
            .and_then(|v| v.as_f64());
        let read = js_sys::Reflect::get(&value, &"read".into())
            .ok()
            .filter(|v| v.is_function())
            .map(|_| value.clone().unchecked_into::<JsReadable>());
        match (size, read) {
            (Some(size), Some(read)) if size >= 0.0 && size.fract() == 0.0 => {
                let name = k.clone();
                map.insert(
                    k,
                    Arc::new(JsFile {
                        read,
                        size: size as u64,
                        name,
                        window: RefCell::new((0, Vec::new())),
                    }),
                );
            }
            _ => {
                bad = Some(format!(
                    "files: {k:?} is neither a Uint8Array nor {{size, read(buf, position)}}"
                ))
            }
        }
    });
    match bad {
        Some(b) => Err(JsError::new(&b)),
        None => Ok(map),
    }
}

/// Builds a recipe (JSON or TOML text) with inputs read on demand and the
/// image written at positions, for images of any size in little memory.
///
/// `files`: a `Map` of the paths the recipe names → a `Uint8Array`, or
/// `{size, read(buf, position) → bytesRead}` (node:
/// `(b, p) => fs.readSync(fd, b, 0, b.length, p)`).
/// `write(buf, position) → bytesWritten` (node:
/// `(b, p) => fs.writeSync(fd, b, 0, b.length, p)`) gets every non-zero
/// run of the image; zero runs are skipped (holes of a sparse file).
/// `buf` in both callbacks is a view of wasm memory: use it before
/// returning, do not keep it. Returns the image's size: the caller sets
/// the file's length to it (`fs.ftruncateSync(fd, size)`), which also
/// makes a trailing hole.
#[wasm_bindgen]
pub fn build_files(
    recipe_text: &str,
    files: &js_sys::Map,
    write: &js_sys::Function,
) -> Result<f64, JsError> {
    let r = crate::recipe::parse(recipe_text, crate::recipe::sniff(recipe_text))
        .map_err(crate::js_err)?;
    let map = input_map(files)?;
    let mut out = JsFileWriter {
        write: write.clone().unchecked_into(),
        buf: Vec::with_capacity(JsFileWriter::CHUNK),
        buf_at: 0,
        pos: 0,
    };
    crate::engine::build(&r, &map, &mut out, &NoProgress).map_err(crate::js_err)?;
    out.flush().map_err(crate::js_err)?;
    Ok(out.pos as f64)
}

/// An input held in a JS `Uint8Array`, read where it is: copying a big
/// input into wasm memory first costs a copy, a `memory.grow` and its page
/// faults, and keeps it twice in memory.
pub(crate) struct JsBytes(js_sys::Uint8Array, Option<String>);

impl JsBytes {
    pub(crate) fn new(bytes: js_sys::Uint8Array) -> Self {
        JsBytes(bytes, None)
    }

    /// Bytes that came from the file `name` (the name errors give).
    pub(crate) fn named(bytes: js_sys::Uint8Array, name: String) -> Self {
        JsBytes(bytes, Some(name))
    }
}

impl ReadAt for JsBytes {
    fn size(&self) -> u64 {
        self.0.length() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        imgforge_core::io::check_read(offset, buf.len() as u64, self.size(), || self.name())?;
        // The end is <= length, a u32: both fit.
        let end = offset + buf.len() as u64;
        self.0.subarray(offset as u32, end as u32).copy_to(buf);
        Ok(())
    }
    fn name(&self) -> String {
        self.1.clone().unwrap_or_else(|| "input".to_string())
    }
}

/// Converts an image read on demand to `format`, written at positions, for
/// images of any size in little memory: `input` is `{size, read(buf,
/// position) → bytesRead}` and `write(buf, position) → bytesWritten` as in
/// [`build_files`]; `opts_json` as in [`crate::convert_bytes`]. Because the
/// output is written at positions, a qcow2 is written in one pass over the
/// input (its header last). Returns the output's size (the caller sets the
/// file's length to it).
#[wasm_bindgen]
pub fn convert_files(
    input: &JsValue,
    format: &str,
    opts_json: &str,
    write: &js_sys::Function,
) -> Result<f64, JsError> {
    let format = imgforge_core::container::Format::parse(format).map_err(crate::js_err)?;
    let opts = crate::convert_options(opts_json)?;
    let files = js_sys::Map::new();
    files.set(&"input".into(), input);
    let src = input_map(&files)?
        .remove("input")
        .ok_or_else(|| JsError::new("input: missing"))?;
    let mut out = JsFileWriter {
        write: write.clone().unchecked_into(),
        buf: Vec::with_capacity(JsFileWriter::CHUNK),
        buf_at: 0,
        pos: 0,
    };
    crate::engine::convert(src, format, &opts, &mut out, &NoProgress).map_err(crate::js_err)?;
    out.flush().map_err(crate::js_err)?;
    Ok(out.pos as f64)
}
