//! Decompression of whole streams (gzip, zstd, xz) read from a [`ReadAt`],
//! into memory under a cap, in pure Rust (flate2, ruzstd, lzma-rs).
//!
//! Used for compressed tar inputs and compressed initramfs parts. The caller
//! learns how many input bytes the stream used, so parts that follow it (a
//! concatenated initramfs) can be read too.

use crate::io::ReadAt;
use crate::{Error, Result};
use std::io::{BufRead, Read, Write};

/// A compression format, recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// RFC 1952: `1f 8b`.
    Gzip,
    /// RFC 8878 section 3.1.1: frame magic `28 b5 2f fd`.
    Zstd,
    /// xz file format 1.0.4, section 2.1.1.1: `fd 37 7a 58 5a 00`.
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }
}

/// The compression whose magic starts `head`, if any.
pub fn sniff(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else {
        None
    }
}

/// Reads up to 8 bytes at `offset` (fewer at the end of the input).
pub fn head(src: &dyn ReadAt, offset: u64) -> Result<Vec<u8>> {
    let n = src.size().saturating_sub(offset).min(8) as usize;
    let mut b = vec![0u8; n];
    src.read_at(offset, &mut b)?;
    Ok(b)
}

/// Decompressed bytes as an input, named after where they came from.
pub struct NamedBytes {
    data: Vec<u8>,
    name: String,
}

impl NamedBytes {
    pub fn new(data: Vec<u8>, name: impl Into<String>) -> Self {
        NamedBytes {
            data,
            name: name.into(),
        }
    }
}

impl ReadAt for NamedBytes {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.data.len() as u64 => {
                buf.copy_from_slice(&self.data[offset as usize..end as usize]);
                Ok(())
            }
            _ => Err(Error::Truncated {
                what: self.name.clone(),
                offset: offset.saturating_add(buf.len() as u64),
                size: self.data.len() as u64,
            }),
        }
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A buffered sequential reader over a `ReadAt` that knows exactly how many
/// bytes its user consumed (not merely how many it buffered).
struct CountingReader<'a> {
    src: &'a dyn ReadAt,
    /// Input offset of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a> CountingReader<'a> {
    fn new(src: &'a dyn ReadAt, offset: u64) -> Self {
        CountingReader {
            src,
            base: offset,
            buf: Vec::new(),
            pos: 0,
        }
    }
    fn consumed_to(&self) -> u64 {
        self.base + self.pos as u64
    }
}

impl Read for CountingReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for CountingReader<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.base += self.buf.len() as u64;
            self.pos = 0;
            let n = self.src.size().saturating_sub(self.base).min(64 * 1024) as usize;
            self.buf.resize(n, 0);
            self.src
                .read_at(self.base, &mut self.buf)
                .map_err(std::io::Error::other)?;
        }
        Ok(&self.buf[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

/// A `Write` into memory that refuses to grow past `cap`.
struct CappedVec {
    data: Vec<u8>,
    cap: u64,
    over: bool,
}

impl Write for CappedVec {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.data.len() as u64 + buf.len() as u64 > self.cap {
            self.over = true;
            return Err(std::io::Error::other("decompressed size cap reached"));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses the one `kind` stream that starts at `offset` of `src`,
/// refusing to produce more than `cap` bytes. Returns the data and the input
/// offset just past the stream. `what` names the input in errors.
pub fn decompress(
    src: &dyn ReadAt,
    offset: u64,
    kind: Compression,
    cap: u64,
    what: &str,
) -> Result<(Vec<u8>, u64)> {
    let mut rd = CountingReader::new(src, offset);
    let mut out = CappedVec {
        data: Vec::new(),
        cap,
        over: false,
    };
    let field = format!("{what} at byte {offset}");
    let res: std::result::Result<(), String> = match kind {
        Compression::Gzip => {
            let mut dec = flate2::bufread::GzDecoder::new(&mut rd);
            std::io::copy(&mut dec, &mut out)
                .map(|_| ())
                .map_err(|e| describe_io(&e))
        }
        Compression::Zstd => match ruzstd::decoding::StreamingDecoder::new(&mut rd) {
            Ok(mut dec) => std::io::copy(&mut dec, &mut out)
                .map(|_| ())
                .map_err(|e| describe_io(&e)),
            Err(e) => Err(e.to_string()),
        },
        Compression::Xz => {
            // lzma-rs refuses bytes after the stream, so give it exactly the
            // stream: find its footer first.
            let end = xz_stream_end(src, offset)?;
            let sub = crate::io::SubRange::new(src, offset, end - offset)?;
            let mut xrd = CountingReader::new(&sub, 0);
            let r = lzma_rs::xz_decompress(&mut xrd, &mut out).map_err(|e| match e {
                lzma_rs::error::Error::IoError(e) => describe_io(&e),
                e => e.to_string(),
            });
            rd = CountingReader::new(src, end);
            r
        }
    };
    if out.over {
        return Err(Error::no_space(
            what,
            format!(
                "{} data decompresses to more than the limit of {cap} bytes \
                 (a decompression bomb, or raise the limit)",
                kind.name()
            ),
        ));
    }
    if let Err(msg) = res {
        return Err(Error::corrupt(kind.name(), field, msg));
    }
    let end = rd.consumed_to();
    Ok((out.data, end))
}

/// The end of the xz stream that starts at `offset`: just past the first
/// stream footer (xz file format 1.0.4, section 2.1.2: CRC32, Backward
/// Size, Stream Flags, `YZ`) whose CRC32 is right and whose Stream Flags
/// repeat the header's. A stream without one is truncated.
fn xz_stream_end(src: &dyn ReadAt, offset: u64) -> Result<u64> {
    let size = src.size();
    let mut header = [0u8; 12];
    if offset + 12 > size {
        return Err(Error::corrupt(
            "xz",
            format!("{} at byte {offset}", src.name()),
            "compressed data ends early (truncated)",
        ));
    }
    src.read_at(offset, &mut header)?;
    let flags = [header[6], header[7]];
    // Footers end 4-byte aligned relative to the stream start.
    let mut pos = offset + 24;
    let mut buf = vec![0u8; 64 * 1024];
    let mut buf_start = u64::MAX;
    while pos <= size {
        if buf_start == u64::MAX || pos > buf_start + buf.len() as u64 {
            buf_start = pos - 12;
            let n = (size - buf_start).min(buf.len() as u64) as usize;
            buf.truncate(n);
            buf.resize(n, 0);
            src.read_at(buf_start, &mut buf)?;
            if n < 12 {
                break;
            }
        }
        let rel = (pos - 12 - buf_start) as usize;
        let f = &buf[rel..rel + 12];
        if &f[10..12] == b"YZ"
            && f[8..10] == flags
            && crc32fast::hash(&f[4..10]) == u32::from_le_bytes([f[0], f[1], f[2], f[3]])
        {
            return Ok(pos);
        }
        pos += 4;
    }
    Err(Error::corrupt(
        "xz",
        format!("{} at byte {offset}", src.name()),
        "compressed data ends early (truncated): no stream footer",
    ))
}

fn describe_io(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "compressed data ends early (truncated)".to_string()
    } else {
        format!("compressed data is corrupt: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_round_trip_reports_end() {
        let mut v = gz(b"hello world");
        let n = v.len() as u64;
        v.extend_from_slice(b"TAIL");
        assert_eq!(sniff(&v), Some(Compression::Gzip));
        let (d, end) = decompress(&v, 0, Compression::Gzip, 100, "t").unwrap();
        assert_eq!(d, b"hello world");
        assert_eq!(end, n);
    }

    #[test]
    fn cap_and_truncation_are_errors() {
        let v = gz(&vec![0u8; 100_000]);
        let e = decompress(&v, 0, Compression::Gzip, 1000, "bomb.gz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bomb.gz") && e.contains("limit"), "{e}");
        let t = &v[..v.len() / 2];
        let e = decompress(&t, 0, Compression::Gzip, 1 << 20, "cut.gz")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut.gz") && e.contains("truncated"), "{e}");
    }

    #[test]
    fn xz_and_zstd_report_their_end() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 97) as u8).collect();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &data[..], &mut xz).unwrap();
        let zst = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for (kind, mut v) in [(Compression::Xz, xz), (Compression::Zstd, zst)] {
            let n = v.len() as u64;
            v.extend_from_slice(b"070701TAIL");
            assert_eq!(sniff(&v), Some(kind));
            let (d, end) = decompress(&v, 0, kind, 1 << 20, "t").unwrap();
            assert_eq!(d, data, "{kind:?}");
            assert_eq!(end, n, "{kind:?}");
        }
    }
}
