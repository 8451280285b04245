//! Reading a GRUB image back (`imgforge inspect`): the target, the prefix,
//! the embedded modules' names (each module's `.modname` section), the
//! early config and the memdisk, from an x86_64-efi PE image (its `mods`
//! section) or an i386-pc `core.img` (its LZMA payload).

use super::lzma;
use super::raw::*;
use super::source::Platform;
use crate::io::{read_vec, ReadAt};
use crate::Result;
use serde::Serialize;

/// What a GRUB image holds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GrubImage {
    /// `x86_64-efi` or `i386-pc`.
    pub target: String,
    /// The embedded prefix (`-p`).
    pub prefix: Option<String>,
    /// Embedded modules in image order.
    pub modules: Vec<String>,
    /// The embedded early config (`-c`), as text.
    pub config: Option<String>,
    /// Size of the embedded memdisk (`-m`), padded to 512 bytes.
    pub memdisk_size: Option<u64>,
}

/// The most of an image read to recognise it.
const READ_CAP: u64 = 256 << 20;

/// Recognises a GRUB image; `None` when `src` is not one (never an error
/// for a file that merely looks similar).
pub fn read(src: &dyn ReadAt) -> Result<Option<GrubImage>> {
    let size = src.size();
    if !(512 + 16..=READ_CAP).contains(&size) {
        return Ok(None);
    }
    let mut head = [0u8; 2];
    src.read_at(0, &mut head)?;
    if head == *b"MZ" {
        return Ok(read_efi(&read_vec(src, 0, size, READ_CAP, "GRUB image")?));
    }
    let mut tail = [0u8; BootBlocklist::SIZE];
    src.read_at(512 - BootBlocklist::SIZE as u64, &mut tail)?;
    if BootBlocklist::parse(&tail).segment == I386_PC_KERNEL_SEG + (512 >> 4) {
        return Ok(read_core_img(&read_vec(
            src,
            0,
            size,
            READ_CAP,
            "GRUB image",
        )?));
    }
    Ok(None)
}

fn read_efi(b: &[u8]) -> Option<GrubImage> {
    let pe_at = u32_at(field(b, 0x3c, 4, "").ok()?, 0) as u64;
    if field(b, pe_at, 4, "").ok()? != PE_SIGNATURE {
        return None;
    }
    let coff = CoffHeader::parse(field(b, pe_at + 4, CoffHeader::SIZE as u64, "").ok()?);
    if coff.machine != IMAGE_FILE_MACHINE_AMD64 {
        return None;
    }
    let sec_at = pe_at + 4 + CoffHeader::SIZE as u64 + coff.optional_header_size as u64;
    let mods = (0..coff.num_sections as u64).find_map(|i| {
        let s = SectionTable::parse(field(b, sec_at + 40 * i, 40, "").ok()?);
        (s.name_str() == "mods").then_some(s)
    })?;
    let area = field(
        b,
        mods.raw_data_offset as u64,
        mods.raw_data_size as u64,
        "",
    )
    .ok()?;
    read_area(area, 8, Platform::X86_64Efi)
}

fn read_core_img(b: &[u8]) -> Option<GrubImage> {
    // diskboot.img, then lzma_decompress.img with the stream's sizes at
    // 0x08 and 0x0c, then the stream to the end of the file.
    let dec = field(b, 512, 16, "").ok()?;
    let csize = u32_at(dec, I386_PC_COMPRESSED_SIZE) as u64;
    let usize_ = u32_at(dec, I386_PC_UNCOMPRESSED_SIZE) as u64;
    let stream_at = (b.len() as u64).checked_sub(csize)?;
    if stream_at <= 512 || stream_at - 512 > I386_PC_MAX_DECOMPRESSOR_SIZE || usize_ > 16 << 20 {
        return None;
    }
    let stream = field(b, stream_at, csize, "").ok()?;
    let payload = lzma::decompress(stream, usize_).ok()?;
    // The module info sits right after the kernel: find the one whose
    // size reaches exactly the end of the payload.
    let at = (0..payload.len().saturating_sub(12))
        .step_by(4)
        .find(|&i| {
            let m = ModuleInfo::parse(&payload[i..], 4);
            m.magic == GRUB_MODULE_MAGIC
                && m.offset == 12
                && i as u64 + m.size == payload.len() as u64
        })?;
    read_area(&payload[at..], 4, Platform::I386Pc)
}

/// The objects of a module area that starts with `grub_module_info`.
fn read_area(area: &[u8], pointer: u64, p: Platform) -> Option<GrubImage> {
    let info = ModuleInfo::parse(
        field(area, 0, ModuleInfo::size_for(pointer), "").ok()?,
        pointer,
    );
    if info.magic != GRUB_MODULE_MAGIC {
        return None;
    }
    let end = info.size.min(area.len() as u64);
    let mut img = GrubImage {
        target: p.name().to_string(),
        prefix: None,
        modules: Vec::new(),
        config: None,
        memdisk_size: None,
    };
    let mut off = info.offset;
    while off + ModuleHeader::SIZE as u64 <= end {
        let h = ModuleHeader::parse(field(area, off, 8, "").ok()?);
        if (h.size as usize) < ModuleHeader::SIZE {
            break;
        }
        let body = field(area, off + 8, h.size as u64 - 8, "").ok()?;
        match h.obj_type {
            OBJ_TYPE_ELF => img
                .modules
                .push(module_name(body).unwrap_or_else(|| "?".into())),
            OBJ_TYPE_MEMDISK => img.memdisk_size = Some(body.len() as u64),
            OBJ_TYPE_CONFIG => {
                img.config = Some(String::from_utf8_lossy(c_str(body, 0)).into_owned())
            }
            OBJ_TYPE_PREFIX => {
                img.prefix = Some(String::from_utf8_lossy(c_str(body, 0)).into_owned())
            }
            _ => {}
        }
        off += (h.size as u64).div_ceil(pointer) * pointer;
    }
    Some(img)
}

/// A module's name from its `.modname` section.
fn module_name(elf: &[u8]) -> Option<String> {
    let h = Ehdr::parse(elf, "").ok()?;
    let secs = section_headers(elf, &h, "").ok()?;
    let shstr = secs.get(h.e_shstrndx as usize)?;
    let names = field(elf, shstr.sh_offset, shstr.sh_size, "").ok()?;
    let s = secs
        .iter()
        .find(|s| c_str(names, s.sh_name as u64) == b".modname")?;
    let data = field(elf, s.sh_offset, s.sh_size, "").ok()?;
    Some(String::from_utf8_lossy(c_str(data, 0)).into_owned())
}
