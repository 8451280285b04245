//! Random-access inputs ([`ReadAt`]), streamed outputs ([`Sink`]) and
//! progress/cancellation ([`Progress`]). The CLI implements these for files,
//! the web crate for `Blob`s and `FileSystemWritableFileStream`s.

use crate::{Error, Result};
use std::sync::Arc;

/// A random-access input of known size: a slice in tests, a file in the CLI,
/// a `Blob` in the browser. Reads take `&self` (pread semantics) so one input
/// can be shared by many extents and readers.
pub trait ReadAt {
    /// Size of the input in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` from `offset`. Reading past the end is an error
    /// ([`Error::Truncated`]), never a short read.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// A name for error messages (a file name, "memory").
    fn name(&self) -> String {
        "input".to_string()
    }

    /// The ranges `(offset, len)` that may hold non-zero bytes, in order,
    /// when the input knows them cheaply (a sparse file's data extents, as
    /// `SEEK_DATA` gives them); every byte outside reads as zero. `None`:
    /// any byte may be non-zero. Only a speed-up: readers that ignore it
    /// produce the same output.
    fn data_ranges(&self) -> Option<Vec<(u64, u64)>> {
        None
    }
}

/// A shared, cheaply clonable input.
pub type Source = Arc<dyn ReadAt>;

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        match end {
            Some(end) if end <= self.len() as u64 => {
                buf.copy_from_slice(&self[offset as usize..end as usize]);
                Ok(())
            }
            _ => Err(truncated("memory", offset, buf.len(), self.len() as u64)),
        }
    }
    fn name(&self) -> String {
        "memory".to_string()
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.as_slice().read_at(offset, buf)
    }
    fn name(&self) -> String {
        "memory".to_string()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn data_ranges(&self) -> Option<Vec<(u64, u64)>> {
        (**self).data_ranges()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn data_ranges(&self) -> Option<Vec<(u64, u64)>> {
        (**self).data_ranges()
    }
}

fn truncated(what: &str, offset: u64, len: usize, size: u64) -> Error {
    Error::Truncated {
        what: what.to_string(),
        offset: offset.saturating_add(len as u64),
        size,
    }
}

/// The check every `ReadAt` makes first: `len` bytes at `offset` lie
/// inside an input of `size` bytes; otherwise [`Error::Truncated`] naming
/// `what()`.
pub fn check_read(offset: u64, len: u64, size: u64, what: impl FnOnce() -> String) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::Truncated {
            what: what(),
            offset: offset.saturating_add(len),
            size,
        }),
    }
}

/// True if every byte of `b` is zero. Word-wise, so the compiler
/// vectorises it (a byte-wise `all` with an early exit is not): every
/// container writer scans whole disks with it.
pub fn is_zero(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(64);
    for c in &mut chunks {
        let acc = c.chunks_exact(8).fold(0u64, |a, w| {
            a | u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
        });
        if acc != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&x| x == 0)
}

/// Wraps bytes as a [`Source`].
pub fn source_from_vec(v: Vec<u8>) -> Source {
    Arc::new(v)
}

/// A window `[offset, offset+len)` of another input, itself an input
/// (a partition of a disk, a file inside a tar).
#[derive(Clone)]
pub struct SubRange<R> {
    inner: R,
    offset: u64,
    len: u64,
}

impl<R: ReadAt> SubRange<R> {
    /// Fails if the window does not lie inside `inner`.
    pub fn new(inner: R, offset: u64, len: u64) -> Result<Self> {
        check_read(offset, len, inner.size(), || inner.name())?;
        Ok(SubRange { inner, offset, len })
    }
}

impl<R: ReadAt> ReadAt for SubRange<R> {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len => self.inner.read_at(self.offset + offset, buf),
            _ => Err(truncated(&self.inner.name(), offset, buf.len(), self.len)),
        }
    }
    fn name(&self) -> String {
        self.inner.name()
    }
}

/// Reads `len` bytes at `offset` into a new buffer, refusing lengths over
/// `cap` or past the end of the input *before* allocating. This is the one
/// helper readers use for sizes taken from an image.
pub fn read_vec(
    r: &(impl ReadAt + ?Sized),
    offset: u64,
    len: u64,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>> {
    if len > cap {
        return Err(Error::no_space(
            what,
            format!("{len} bytes is more than the limit of {cap} bytes"),
        ));
    }
    check_read(offset, len, r.size(), || what.to_string())?;
    let mut v = vec![0u8; len as usize];
    r.read_at(offset, &mut v)?;
    Ok(v)
}

/// Where an encoder writes its output, front to back. Encoders never seek:
/// runs of zeros they do not store are passed as [`Sink::hole`], which a file
/// sink turns into a sparse hole and a stream sink into zeros.
pub trait Sink {
    /// Appends `data` at the current position.
    fn write(&mut self, data: &[u8]) -> Result<()>;

    /// `len` zero bytes. The default writes zeros in bounded chunks.
    fn hole(&mut self, len: u64) -> Result<()> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(ZEROS.len() as u64) as usize;
            self.write(&ZEROS[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Called once at the end; a file sink sets its final length here.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    /// Scratch storage the writer may use for bytes it must produce
    /// before it can place them (qcow2 `-c` keeps compressed clusters
    /// between its two passes), or `None`. Only a speed-up: the output is
    /// the same with or without it.
    fn spill(&mut self) -> Option<Box<dyn Spill>> {
        None
    }

    /// True if [`Sink::patch`] works: the output can be rewritten in place
    /// (a file, OPFS, memory), not only appended to (a pipe, a download
    /// stream, a tar or gzip member). Writers that must place something
    /// before the bytes it describes (qcow2's header before its tables) then
    /// leave a hole, write everything else and patch the hole at the end,
    /// reading their input once instead of twice. Only a speed-up: the
    /// output is the same with or without it. Default: false.
    fn can_patch(&self) -> bool {
        false
    }

    /// Overwrites `data.len()` bytes at `offset` with `data`. The range must
    /// lie inside what was already written or passed as a hole
    /// (`offset + data.len()` at most the current length); the write
    /// position does not move. Only called when [`Sink::can_patch`] is true;
    /// the default returns [`Error::Unsupported`].
    fn patch(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let _ = (offset, data);
        Err(Error::unsupported(
            "output",
            "this output cannot be rewritten in place",
        ))
    }
}

/// The check every [`Sink::patch`] makes: `[offset, offset + len)` lies
/// inside the `written` bytes.
pub fn check_patch(offset: u64, len: usize, written: u64) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= written => Ok(()),
        _ => Err(Error::invalid(
            "output",
            format!("a patch of {len} bytes at {offset} is past the {written} bytes written"),
        )),
    }
}

/// Append-only scratch storage read back at random (a temporary file in
/// the CLI); see [`Sink::spill`].
pub trait Spill: ReadAt {
    /// Appends `data` to the spilled bytes.
    fn append(&mut self, data: &[u8]) -> Result<()>;
}

/// An output held in memory. Growing it past what the address space allows
/// (2 GiB on wasm32: a `Vec` holds at most `isize::MAX` bytes) or past what
/// the allocator gives is an error, never a panic or a wrapped length.
impl Sink for Vec<u8> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        vec_reserve(self, data.len() as u64)?;
        self.extend_from_slice(data);
        Ok(())
    }
    fn hole(&mut self, len: u64) -> Result<()> {
        let new_len = vec_reserve(self, len)?;
        self.resize(new_len, 0);
        Ok(())
    }
    fn can_patch(&self) -> bool {
        true
    }
    fn patch(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_patch(offset, data.len(), self.len() as u64)?;
        self[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// Reserves room for `more` bytes in `v`; returns the new length.
fn vec_reserve(v: &mut Vec<u8>, more: u64) -> Result<usize> {
    let want = (v.len() as u64).saturating_add(more);
    let too_large = || {
        Error::no_space(
            "output",
            format!("{want} bytes do not fit in memory here; write to a file instead"),
        )
    };
    let new_len = (v.len() as u64)
        .checked_add(more)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(too_large)?;
    v.try_reserve(new_len - v.len()).map_err(|_| too_large())?;
    Ok(new_len)
}

/// A [`Sink`] over any `std::io::Write`, counting what passes through.
pub struct WriteSink<W: std::io::Write> {
    /// The writer.
    pub inner: W,
    /// Bytes written so far (holes included).
    pub written: u64,
}

impl<W: std::io::Write> WriteSink<W> {
    /// A sink over `inner`, at position 0.
    pub fn new(inner: W) -> Self {
        WriteSink { inner, written: 0 }
    }
}

impl<W: std::io::Write> Sink for WriteSink<W> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.inner
            .write_all(data)
            .map_err(|e| Error::io("writing output", e))?;
        self.written += data.len() as u64;
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        self.inner
            .flush()
            .map_err(|e| Error::io("writing output", e))
    }
}

/// Counts bytes written, discards them (sizes, hashes of layouts).
#[derive(Default)]
pub struct CountSink(pub u64);

impl Sink for CountSink {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.0 += data.len() as u64;
        Ok(())
    }
    fn hole(&mut self, len: u64) -> Result<()> {
        self.0 += len;
        Ok(())
    }
}

/// A `std::io::Write` adaptor over a [`Sink`] (to put flate2 or tar
/// encoders in front of a sink).
pub struct SinkWriter<'a>(pub &'a mut dyn Sink);

impl std::io::Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sequential `std::io::Read` over a [`ReadAt`] (to feed tar or a
/// decompressor from a random-access input).
pub struct ReadAtReader<R> {
    inner: R,
    pos: u64,
}

impl<R: ReadAt> ReadAtReader<R> {
    /// A reader at the start of `inner`.
    pub fn new(inner: R) -> Self {
        ReadAtReader { inner, pos: 0 }
    }
    /// The position of the next read.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

impl<R: ReadAt> std::io::Read for ReadAtReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.inner.size().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.inner
            .read_at(self.pos, &mut buf[..n])
            .map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Progress and cancellation for long jobs. `report` is called with the
/// current phase, bytes done and bytes total; returning from
/// [`Progress::cancelled`] with true makes the job stop with
/// [`Error::Cancelled`].
pub trait Progress {
    /// Called with the phase and how far it is (`done` of `total` bytes; `total` 0 when unknown).
    fn report(&self, _phase: &str, _done: u64, _total: u64) {}
    /// True once the user asked to stop; long loops check it through [`Progress::step`].
    fn cancelled(&self) -> bool {
        false
    }
    /// Reports and returns `Err(Cancelled)` if the user cancelled.
    fn step(&self, phase: &str, done: u64, total: u64) -> Result<()> {
        self.report(phase, done, total);
        if self.cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// No progress display, never cancelled.
pub struct NoProgress;
impl Progress for NoProgress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_sink_refuses_impossible_sizes() {
        let mut v = vec![1u8];
        assert!(matches!(v.hole(u64::MAX), Err(Error::NoSpace { .. })));
        assert!(matches!(v.hole(1 << 62), Err(Error::NoSpace { .. })));
        assert_eq!(v, [1]);
        v.hole(3).unwrap();
        v.write(&[2]).unwrap();
        assert_eq!(v, [1, 0, 0, 0, 2]);
        assert!(v.can_patch());
        v.patch(1, &[7, 8]).unwrap();
        v.patch(4, &[9]).unwrap();
        assert_eq!(v, [1, 7, 8, 0, 9]);
        assert!(v.patch(4, &[1, 1]).is_err());
        assert!(v.patch(u64::MAX, &[1]).is_err());
        assert!(!CountSink(0).can_patch());
        assert!(CountSink(0).patch(0, &[]).is_err());
    }

    #[test]
    fn slice_reads_are_bounds_checked() {
        let v = vec![1u8, 2, 3, 4];
        let mut b = [0u8; 2];
        v.read_at(2, &mut b).unwrap();
        assert_eq!(b, [3, 4]);
        assert!(v.read_at(3, &mut b).is_err());
        assert!(v.read_at(u64::MAX, &mut b).is_err());
    }

    #[test]
    fn read_vec_refuses_before_allocating() {
        let v = vec![0u8; 16];
        assert!(read_vec(&v, 0, 1 << 40, 1 << 20, "table").is_err());
        assert!(read_vec(&v, 8, 16, 1 << 20, "table").is_err());
        assert_eq!(read_vec(&v, 8, 8, 1 << 20, "table").unwrap().len(), 8);
    }

    #[test]
    fn subrange_stays_inside() {
        let v: Source = Arc::new(vec![9u8; 10]);
        assert!(SubRange::new(v.clone(), 5, 6).is_err());
        let s = SubRange::new(v, 5, 5).unwrap();
        let mut b = [0u8; 5];
        s.read_at(0, &mut b).unwrap();
        assert!(s.read_at(1, &mut b).is_err());
    }
}
