//! Local files as core inputs and outputs: [`FileSource`] (pread), and
//! [`AtomicOutput`], a sink that writes a temporary file beside the target,
//! turns holes into sparse holes, and renames it into place only on success.

use anyhow::{Context, Result};
use imgforge_core::io::{check_read, ReadAt, Sink, Source, Spill};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A file opened read-only as a random-access input.
pub struct FileSource {
    file: File,
    size: u64,
    name: String,
}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?
            .len();
        Ok(FileSource {
            file,
            size,
            name: path.display().to_string(),
        })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        check_read(offset, buf.len() as u64, self.size, || self.name.clone())?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| imgforge_core::Error::io(format!("reading {}", self.name), e))
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn data_ranges(&self) -> Option<Vec<(u64, u64)>> {
        data_ranges(&self.file, self.size)
    }
}

/// The data extents of `file` by `SEEK_DATA`/`SEEK_HOLE`, or `None` where
/// the filesystem does not tell (or has too many to be worth listing).
fn data_ranges(file: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    use rustix::fs::{seek, SeekFrom};
    const MAX_RANGES: usize = 1 << 20;
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let start = match seek(file, SeekFrom::Data(pos)) {
            Ok(s) => s,
            // ENXIO: no data after `pos`.
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => return None,
        };
        if start >= size {
            break;
        }
        let end = seek(file, SeekFrom::Hole(start)).ok()?.min(size);
        if end <= start || out.len() >= MAX_RANGES {
            return None;
        }
        out.push((start, end - start));
        pos = end;
    }
    Some(out)
}

/// Opens `path` as a shared [`Source`].
pub fn open_source(path: &Path) -> Result<Source> {
    Ok(Arc::new(FileSource::open(path)?))
}

/// An output file written under a temporary name beside `target` and renamed
/// over it by [`AtomicOutput::commit`]. Dropped without commit, the temporary
/// file is removed, so an error never leaves a half-written image.
///
/// Writes are gathered into [`WRITE_CHUNK`] pieces and written (`pwrite`) by
/// a background thread, so producing the bytes (reading inputs, compressing)
/// overlaps with the kernel copying them into the file. At most
/// [`QUEUED_CHUNKS`] pieces wait, so memory stays bounded.
pub struct AtomicOutput {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    pos: u64,
    /// Bytes not yet handed to the writer thread, and where they go.
    buf: Vec<u8>,
    buf_at: u64,
    tx: Option<SyncSender<(u64, Vec<u8>)>>,
    back: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<std::io::Result<()>>>,
    /// Turn runs of zeros passed as holes into sparse holes (raw images).
    pub sparse: bool,
}

const WRITE_CHUNK: usize = 1 << 20;
const QUEUED_CHUNKS: usize = 4;

impl AtomicOutput {
    pub fn create(target: &Path) -> Result<Self> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file name", target.display()))?;
        let tmp = dir.join(format!(
            ".{}.imgforge-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let wfile = file.try_clone().context("duplicating the output handle")?;
        let (tx, rx) = sync_channel::<(u64, Vec<u8>)>(QUEUED_CHUNKS);
        // Written buffers come back for reuse: no fresh (page-faulting)
        // megabyte per write.
        let (back_tx, back) = sync_channel::<Vec<u8>>(QUEUED_CHUNKS + 2);
        let worker = std::thread::spawn(move || -> std::io::Result<()> {
            for (at, mut data) in rx {
                wfile.write_all_at(&data, at)?;
                data.clear();
                let _ = back_tx.try_send(data);
            }
            Ok(())
        });
        Ok(AtomicOutput {
            file: Some(file),
            tmp,
            target: target.to_path_buf(),
            pos: 0,
            buf: Vec::new(),
            buf_at: 0,
            tx: Some(tx),
            back,
            worker: Some(worker),
            sparse: true,
        })
    }

    fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("output used after commit")
    }

    /// Hands the gathered bytes to the writer thread.
    fn flush_buf(&mut self) -> imgforge_core::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(WRITE_CHUNK));
        let data = std::mem::replace(&mut self.buf, next);
        let sent = match &self.tx {
            Some(tx) => tx.send((self.buf_at, data)).is_ok(),
            None => {
                // Written after finish(): no thread any more, write here.
                let at = self.buf_at;
                return self
                    .file()
                    .write_all_at(&data, at)
                    .map_err(|e| imgforge_core::Error::io("writing output", e));
            }
        };
        if !sent {
            // The writer stopped: its error says why.
            self.drain()?;
            return Err(imgforge_core::Error::io(
                "writing output",
                std::io::Error::other("the output writer stopped"),
            ));
        }
        Ok(())
    }

    /// Waits until everything handed over is written; returns its error.
    fn drain(&mut self) -> imgforge_core::Result<()> {
        drop(self.tx.take());
        match self.worker.take().map(|w| w.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(imgforge_core::Error::io("writing output", e)),
            Some(Err(_)) => Err(imgforge_core::Error::io(
                "writing output",
                std::io::Error::other("the output writer panicked"),
            )),
        }
    }

    /// Sets the final length, flushes and renames into place.
    pub fn commit(mut self) -> Result<()> {
        self.flush_buf()?;
        self.drain()?;
        let pos = self.pos;
        let f = self.file();
        f.set_len(pos).context("setting output length")?;
        f.flush()?;
        drop(self.file.take());
        std::fs::rename(&self.tmp, &self.target).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.tmp.display(),
                self.target.display()
            )
        })?;
        Ok(())
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        let _ = self.drain();
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Sink for AtomicOutput {
    fn write(&mut self, data: &[u8]) -> imgforge_core::Result<()> {
        if self.buf.is_empty() {
            self.buf_at = self.pos;
        }
        self.buf.extend_from_slice(data);
        self.pos += data.len() as u64;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }
    fn hole(&mut self, len: u64) -> imgforge_core::Result<()> {
        if !self.sparse {
            // Default behaviour: write zeros.
            static Z: [u8; 65536] = [0; 65536];
            let mut left = len;
            while left > 0 {
                let n = left.min(Z.len() as u64) as usize;
                self.write(&Z[..n])?;
                left -= n as u64;
            }
            return Ok(());
        }
        // Positioned writes: a hole is only a gap between them.
        self.flush_buf()?;
        self.pos += len;
        Ok(())
    }
    fn can_patch(&self) -> bool {
        true
    }
    fn patch(&mut self, offset: u64, data: &[u8]) -> imgforge_core::Result<()> {
        imgforge_core::io::check_patch(offset, data.len(), self.pos)?;
        let buffered = self.buf_at..self.buf_at + self.buf.len() as u64;
        let end = offset + data.len() as u64;
        if !self.buf.is_empty() && offset >= buffered.start && end <= buffered.end {
            // Not handed over yet: change the gathered bytes.
            let at = (offset - buffered.start) as usize;
            self.buf[at..at + data.len()].copy_from_slice(data);
            return Ok(());
        }
        // The writer thread writes its queue in order, so a patch queued
        // after the gathered bytes lands after every earlier write to the
        // same range.
        // (`write` starts a new gathering at `pos` once `buf` is empty.)
        self.flush_buf()?;
        self.buf_at = offset;
        self.buf.extend_from_slice(data);
        self.flush_buf()
    }
    fn spill(&mut self) -> Option<Box<dyn Spill>> {
        // An unlinked file beside the output: no name left behind, whatever
        // happens; None (slower, same bytes) if it cannot be made.
        let path = self.tmp.with_extension("spill");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .ok()?;
        let _ = std::fs::remove_file(&path);
        Some(Box::new(SpillFile { file, size: 0 }))
    }
    fn finish(&mut self) -> imgforge_core::Result<()> {
        self.flush_buf()?;
        self.drain()?;
        let pos = self.pos;
        self.file()
            .set_len(pos)
            .map_err(|e| imgforge_core::Error::io("setting output length", e))
    }
}

/// Scratch bytes in an unlinked temporary file ([`Sink::spill`]).
struct SpillFile {
    file: File,
    size: u64,
}

impl ReadAt for SpillFile {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        check_read(offset, buf.len() as u64, self.size, || {
            "scratch file".into()
        })?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| imgforge_core::Error::io("reading the scratch file", e))
    }
    fn name(&self) -> String {
        "scratch file".into()
    }
}

impl Spill for SpillFile {
    fn append(&mut self, data: &[u8]) -> imgforge_core::Result<()> {
        self.file
            .write_all_at(data, self.size)
            .map_err(|e| imgforge_core::Error::io("writing the scratch file", e))?;
        self.size += data.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_land_after_queued_writes() {
        let dir = std::env::temp_dir().join(format!("imgforge-patch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.img");
        let mut out = AtomicOutput::create(&target).unwrap();
        let mut want = Vec::new();
        // A hole, then more than the queue holds, so early chunks are on
        // their way to the file when the patches come.
        out.hole(4096).unwrap();
        want.resize(4096, 0);
        for i in 0..(3 * WRITE_CHUNK / 1000) {
            let piece = vec![(i % 251) as u8; 1000];
            out.write(&piece).unwrap();
            want.extend_from_slice(&piece);
        }
        let end = want.len() as u64;
        for (at, bytes) in [
            (0u64, &b"header"[..]),
            (4090, &b"straddles"[..]),
            (end - 5, &b"tail!"[..]),
            (WRITE_CHUNK as u64 + 10, &b"middle"[..]),
        ] {
            out.patch(at, bytes).unwrap();
            want[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        }
        assert!(out.patch(end - 2, b"past").is_err());
        out.finish().unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), want);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
