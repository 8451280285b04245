//! OVA reader: walks the tar (bounded number of members), reads the OVF's
//! key facts and opens the disk member as a VMDK in place (a [`SubRange`]
//! of the archive, nothing copied).

use crate::image::{Info, Opened};
use crate::io::{read_vec, Source, SubRange};
use crate::ustar::{clean_name, members};
use crate::{Error, Result};
use quick_xml::events::Event;
use std::sync::Arc;

const F: &str = "ova";
/// Largest OVF descriptor read.
pub const OVF_CAP: u64 = 16 << 20;

/// The facts of an OVF descriptor that `info` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OvfFacts {
    /// VirtualSystem id.
    pub name: Option<String>,
    /// VirtualSystemType (`vmx-07`, `virtualbox-2.2`).
    pub system_type: Option<String>,
    /// Virtual CPUs.
    pub cpus: Option<u64>,
    /// Memory in MiB.
    pub memory_mib: Option<u64>,
    /// (file id, href, size)
    pub files: Vec<(String, String, Option<u64>)>,
    /// (disk id, file ref, capacity bytes, format)
    pub disks: Vec<(String, String, Option<u64>, String)>,
    /// Network names.
    pub networks: Vec<String>,
    /// Operating system description.
    pub os: Option<String>,
}

fn units_multiplier(u: &str) -> u64 {
    // "byte", "byte * 2^20", "MegaBytes", "GigaBytes"
    let u = u.trim();
    if let Some(p) = u.split("2^").nth(1) {
        return p
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(|e| 1u64.checked_shl(e))
            .unwrap_or(1);
    }
    match u.to_ascii_lowercase().as_str() {
        "kilobytes" => 1 << 10,
        "megabytes" => 1 << 20,
        "gigabytes" => 1 << 30,
        _ => 1,
    }
}

/// Parses the parts of an OVF that imgforge reports.
pub fn parse_ovf(text: &str) -> Result<OvfFacts> {
    let mut r = quick_xml::Reader::from_str(text);
    let mut f = OvfFacts::default();
    let mut path: Vec<String> = Vec::new();
    let mut item: Vec<(String, String)> = Vec::new();
    let bad = |e: &dyn std::fmt::Display, pos: u64| {
        Error::corrupt(
            F,
            "OVF descriptor",
            format!("not well-formed XML at byte {pos}: {e}"),
        )
    };
    loop {
        let pos = r.buffer_position();
        let ev = r.read_event().map_err(|e| bad(&e, pos))?;
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let local = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                let mut attrs = Vec::new();
                for a in s.attributes().flatten() {
                    let k = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                    let v = a
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    attrs.push((k, v));
                }
                let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                match local.as_str() {
                    "File" => f.files.push((
                        get("id").unwrap_or_default(),
                        get("href").unwrap_or_default(),
                        get("size").and_then(|s| s.parse().ok()),
                    )),
                    "Disk" => {
                        let mult = get("capacityAllocationUnits")
                            .map(|u| units_multiplier(&u))
                            .unwrap_or(1);
                        f.disks.push((
                            get("diskId").unwrap_or_default(),
                            get("fileRef").unwrap_or_default(),
                            get("capacity")
                                .and_then(|c| c.parse::<u64>().ok())
                                .and_then(|c| c.checked_mul(mult)),
                            get("format").unwrap_or_default(),
                        ))
                    }
                    "Network" => f.networks.push(get("name").unwrap_or_default()),
                    "OperatingSystemSection" => f.os = get("id"),
                    "Item" => item.clear(),
                    _ => {}
                }
                if matches!(ev, Event::Start(_)) {
                    if path.len() > 64 {
                        return Err(Error::corrupt(F, "OVF descriptor", "nested too deeply"));
                    }
                    path.push(local);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map(|s| s.into_owned()).unwrap_or_default();
                let parent = path.iter().rev().nth(1).map(String::as_str);
                match (parent, path.last().map(String::as_str)) {
                    (Some("VirtualSystem"), Some("Name")) => f.name = Some(text),
                    (Some("System"), Some("VirtualSystemType")) => f.system_type = Some(text),
                    (Some("OperatingSystemSection"), Some("Description")) => {
                        f.os = Some(match f.os.take() {
                            Some(id) => format!("{id}: {text}"),
                            None => text,
                        })
                    }
                    (Some("Item"), Some(k)) => item.push((k.to_string(), text)),
                    _ => {}
                }
            }
            Event::End(_) => {
                if path.last().map(String::as_str) == Some("Item") {
                    let g = |k: &str| item.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                    let qty = g("VirtualQuantity").and_then(|v| v.parse::<u64>().ok());
                    match g("ResourceType").as_deref() {
                        Some("3") => f.cpus = qty,
                        Some("4") => {
                            let mult = g("AllocationUnits")
                                .map(|u| units_multiplier(&u))
                                .unwrap_or(1 << 20);
                            f.memory_mib = qty.and_then(|q| q.checked_mul(mult)).map(|b| b >> 20);
                        }
                        _ => {}
                    }
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(f)
}

/// Opens an OVA: the first disk the OVF names (or the first .vmdk member)
/// as a VMDK read in place.
pub fn open(src: Source) -> Result<Opened> {
    let list = members(&*src)?;
    let ovf = list
        .iter()
        .find(|m| m.name.to_ascii_lowercase().ends_with(".ovf"))
        .ok_or_else(|| Error::corrupt(F, "archive", "no .ovf descriptor in the tar"))?;
    let text = read_vec(&*src, ovf.offset, ovf.size, OVF_CAP, "OVF descriptor")?;
    let facts = parse_ovf(&String::from_utf8_lossy(&text))?;
    let href = facts
        .disks
        .first()
        .and_then(|(_, fref, _, _)| facts.files.iter().find(|(id, _, _)| id == fref))
        .map(|(_, href, _)| clean_name(href));
    let disk_member = match &href {
        Some(h) => list.iter().find(|m| &m.name == h).ok_or_else(|| {
            Error::corrupt(
                F,
                "References",
                format!("disk file {h} is not in the archive"),
            )
        })?,
        None => list
            .iter()
            .find(|m| m.name.to_ascii_lowercase().ends_with(".vmdk"))
            .ok_or_else(|| Error::corrupt(F, "archive", "no disk (.vmdk) in the OVA"))?,
    };
    if !disk_member.name.to_ascii_lowercase().ends_with(".vmdk") {
        return Err(Error::unsupported(
            F,
            format!("disk member {} is not a .vmdk", disk_member.name),
        ));
    }
    // Source is Arc<dyn ReadAt> by contract; it need not be Send.
    #[allow(clippy::arc_with_non_send_sync)]
    let sub: Source = Arc::new(SubRange::new(
        src.clone(),
        disk_member.offset,
        disk_member.size,
    )?);
    let inner = crate::vmdk::open(sub)?;
    let mut info: Info = inner.info;
    let disk_specific = info.format_specific.take();
    info.format = "ova".into();
    info.format_specific = Some(serde_json::json!({
        "type": "ova",
        "ovf": facts,
        "members": list.iter().map(|m| serde_json::json!({"name": m.name, "size": m.size})).collect::<Vec<_>>(),
        "disk-file": disk_member.name,
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
    use crate::io::{NoProgress, ReadAt};
    use crate::testutil::{exercise, Mutated, XorShift};
    use crate::Disk;

    fn image() -> Arc<Vec<u8>> {
        let mut d = Disk::new(8 << 20);
        d.write(4096, b"inside the ova").unwrap();
        let mut out = Vec::new();
        crate::ova::write(&d, &WriteOptions::default(), &mut out, &NoProgress).unwrap();
        Arc::new(out)
    }

    #[test]
    fn opens_in_place_and_reports_the_ovf() {
        let o = open(image()).unwrap();
        let mut b = [0u8; 14];
        o.disk.read_at(4096, &mut b).unwrap();
        assert_eq!(&b, b"inside the ova");
        let fs = o.info.format_specific.unwrap();
        assert_eq!(fs["ovf"]["cpus"], 1);
        assert_eq!(fs["ovf"]["memory_mib"], 1024);
        assert_eq!(fs["disk-file"], "imgforge-disk1.vmdk");
    }

    #[test]
    fn member_past_the_end_and_missing_disk_are_errors() {
        let base = image();
        let mut m = Mutated::new(base.clone());
        m.len = base.len() as u64 / 2;
        assert!(open(Arc::new(m)).is_err());
        let e = parse_ovf("<Envelope><References>").map(|_| ());
        assert!(e.is_ok() || e.is_err());
        assert!(parse_ovf("<a><b></a>").is_err());
    }

    #[test]
    fn mutated_archives_never_panic() {
        let base = image();
        let n = base.len() as u64;
        let mut rng = XorShift(0xA076_1D64_78BD_642F);
        let areas = [
            (0, 512),
            (512, 4096),
            (0, 8192),
            (n.saturating_sub(4096), 4096),
            (0, n),
        ];
        for i in 0..2000 {
            let mut m = Mutated::new(base.clone());
            m.mutate(&mut rng, &areas, 1 + (i % 6));
            // Keep the first header's checksum right half of the time so the
            // OVF and the VMDK get exercised too.
            if i % 2 == 0 {
                let mut h = m.get(0, 512);
                h[148..156].copy_from_slice(b"        ");
                let sum: u64 = h.iter().map(|&b| b as u64).sum();
                m.set(148, format!("{sum:06o}\0 ").as_bytes());
            }
            if let Ok(o) = open(Arc::new(m)) {
                exercise(&o.disk, &mut rng);
            }
        }
    }
}
