//! Vagrant box reader. A gzip stream cannot be read at random, so for a
//! gzip'd box the disk member is inflated into memory, up to
//! [`DISK_CAP`] bytes (larger boxes: `tar xzf` them and open the disk file
//! directly). An uncompressed tar box is read in place, nothing copied.

use super::raw::*;
use crate::image::{Format, Info, Opened};
use crate::io::{ReadAtReader, Source, SubRange};
use crate::ustar::{clean_name, padding, parse_header, pax_path, BLOCK, MAX_MEMBERS};
use crate::{Error, Result};
use std::io::Read;
use std::sync::Arc;

const F: &str = "box";
/// Largest disk member inflated into memory.
pub const DISK_CAP: u64 = 2 << 30;
/// Largest small member (metadata.json, Vagrantfile, box.ovf) kept.
const SMALL_CAP: u64 = 16 << 20;

fn is_disk(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".img")
        || n.ends_with(".vmdk")
        || n.ends_with(".qcow2")
        || n.ends_with(".vhd")
        || n.ends_with(".vhdx")
        || n.ends_with(".raw")
}

fn read_exact(r: &mut dyn Read, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::corrupt(F, what.to_string(), "archive ends inside it")
        } else {
            Error::corrupt(F, what.to_string(), e)
        }
    })
}

/// Members: (name, bytes) of small members and of the first disk member;
/// or, for an uncompressed tar, the disk as a range of `src`.
struct Contents {
    small: Vec<(String, Vec<u8>)>,
    disk: Option<(String, Source)>,
}

fn walk(src: &Source, r: &mut dyn Read, in_place: bool) -> Result<Contents> {
    let mut c = Contents {
        small: Vec::new(),
        disk: None,
    };
    let mut pos = 0u64;
    let mut long_name: Option<String> = None;
    for _ in 0..MAX_MEMBERS {
        let mut h = [0u8; 512];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(c),
            Err(e) => return Err(Error::corrupt(F, "archive", e)),
        }
        let Some((name, size, typeflag)) = parse_header(&h, pos)? else {
            return Ok(c);
        };
        pos += BLOCK;
        let pad = padding(size);
        let name = long_name.take().unwrap_or(name);
        let name = clean_name(&name);
        let keep_small = matches!(typeflag, b'x' | b'L')
            || (typeflag == b'0' || typeflag == 0) && !is_disk(&name);
        let want_disk = (typeflag == b'0' || typeflag == 0) && is_disk(&name) && c.disk.is_none();
        if want_disk && in_place {
            // Source is Arc<dyn ReadAt> by contract; it need not be Send.
            #[allow(clippy::arc_with_non_send_sync)]
            let sub: Source = Arc::new(SubRange::new(src.clone(), pos, size)?);
            c.disk = Some((name.clone(), sub));
            skip(r, size + pad, &name)?;
        } else if want_disk {
            if size > DISK_CAP {
                return Err(Error::no_space(
                    format!("box member {name}"),
                    format!("{size} bytes is more than the {DISK_CAP}-byte limit for a gzip'd box; extract it with tar and open the disk file"),
                ));
            }
            let mut v = Vec::new();
            r.take(size)
                .read_to_end(&mut v)
                .map_err(|e| Error::corrupt(F, format!("member {name}"), e))?;
            if v.len() as u64 != size {
                return Err(Error::corrupt(
                    F,
                    format!("member {name}"),
                    "archive ends inside it",
                ));
            }
            skip(r, pad, &name)?;
            c.disk = Some((name.clone(), Arc::new(v)));
        } else if keep_small && size <= SMALL_CAP {
            let mut v = vec![0u8; size as usize];
            read_exact(r, &mut v, &format!("member {name}"))?;
            skip(r, pad, &name)?;
            match typeflag {
                b'x' => long_name = pax_path(&v),
                b'L' => {
                    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                    long_name = Some(String::from_utf8_lossy(&v[..end]).into_owned());
                }
                _ => c.small.push((name, v)),
            }
        } else {
            skip(r, size + pad, &name)?;
        }
        pos += size + pad;
    }
    Err(Error::no_space(
        "box",
        format!("more than {MAX_MEMBERS} members"),
    ))
}

fn skip(r: &mut dyn Read, n: u64, name: &str) -> Result<()> {
    let got = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| Error::corrupt(F, format!("member {name}"), e))?;
    if got != n {
        return Err(Error::corrupt(
            F,
            format!("member {name}"),
            "archive ends inside it",
        ));
    }
    Ok(())
}

/// Opens the disk member of a box, in whichever disk format it is.
fn open_disk(src: Source) -> Result<Opened> {
    match Format::detect(&*src)? {
        Format::Raw => crate::raw_image::read::open(src),
        Format::Qcow2 => crate::qcow2::read::open(src),
        Format::Vhd => crate::vhd::read::open(src),
        Format::Vhdx => crate::vhdx::read::open(src),
        Format::Vmdk => crate::vmdk::read::open(src),
        f @ (Format::Ova | Format::Box) => Err(Error::unsupported(
            F,
            format!("the disk member is itself an {} archive", f.qemu_name()),
        )),
    }
}

/// Opens a Vagrant box (tar or tar.gz): reports the provider and opens the
/// disk (box.img as qcow2, or the VirtualBox VMDK).
pub fn open(src: Source) -> Result<Opened> {
    let mut magic = [0u8; 2];
    if src.size() >= 2 {
        src.read_at(0, &mut magic)?;
    }
    let c = if magic == [0x1f, 0x8b] {
        let mut gz = flate2::read::MultiGzDecoder::new(ReadAtReader::new(src.clone()));
        let c = walk(&src, &mut gz, false)?;
        // Read on to the gzip trailer (bounded) so its CRC-32 and length
        // are checked: a cut or damaged box is an error, not silently short.
        std::io::copy(&mut (&mut gz).take(16 << 20), &mut std::io::sink())
            .map_err(|e| Error::corrupt(F, "gzip stream", e))?;
        c
    } else {
        let mut r = ReadAtReader::new(src.clone());
        walk(&src, &mut r, true)?
    };
    let meta = c
        .small
        .iter()
        .find(|(n, _)| n == METADATA_JSON)
        .ok_or_else(|| Error::corrupt(F, "archive", "no metadata.json"))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&meta.1).map_err(|e| Error::corrupt(F, "metadata.json", e))?;
    let provider = meta
        .get("provider")
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    let (disk_name, disk_src) = c.disk.ok_or_else(|| {
        Error::corrupt(
            F,
            "archive",
            format!("no disk image for provider '{provider}'"),
        )
    })?;
    let inner = open_disk(disk_src)?;
    let mut info: Info = inner.info;
    let disk_specific = info.format_specific.take();
    let disk_format = std::mem::replace(&mut info.format, "box".into());
    info.format_specific = Some(serde_json::json!({
        "type": "box",
        "provider": provider,
        "metadata": meta,
        "disk-file": disk_name,
        "disk-format": disk_format,
        "members": c.small.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        "disk": disk_specific,
    }));
    Ok(Opened {
        disk: inner.disk,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::WriteOptions;
    use crate::io::NoProgress;
    use crate::io::ReadAt;
    use crate::testutil::{exercise, Mutated, XorShift};
    use crate::Disk;

    fn image() -> Arc<Vec<u8>> {
        let mut d = Disk::new(4 << 20);
        d.write(0, b"boxed").unwrap();
        let opts = WriteOptions {
            subformat: Some("virtualbox".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        crate::vagrant::write(&d, &opts, &mut out, &NoProgress).unwrap();
        Arc::new(out)
    }

    #[test]
    fn virtualbox_box_opens() {
        let o = open(image()).unwrap();
        let mut b = [0u8; 5];
        o.disk.read_at(0, &mut b).unwrap();
        assert_eq!(&b, b"boxed");
        assert_eq!(o.info.format_specific.unwrap()["provider"], "virtualbox");
    }

    #[test]
    fn truncated_and_mutated_boxes_never_panic() {
        let base = image();
        let n = base.len() as u64;
        for len in [0u64, 1, 2, 10, n / 2, n - 1] {
            let mut m = Mutated::new(base.clone());
            m.len = len;
            assert!(open(Arc::new(m)).is_err(), "len {len}");
        }
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        for i in 0..1000 {
            let mut m = Mutated::new(base.clone());
            m.mutate(&mut rng, &[(0, 64), (0, n)], 1 + (i % 3));
            if let Ok(o) = open(Arc::new(m)) {
                exercise(&o.disk, &mut rng);
            }
        }
    }
}
