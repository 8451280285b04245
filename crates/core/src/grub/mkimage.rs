//! grub-mkimage: the kernel (`kernel.img`) laid out and relocated as
//! `util/grub-mkimagexx.c` does, the module area after it (modules in
//! `moddep.lst` order, memdisk, config, prefix), wrapped as a PE32+ EFI
//! application (`x86_64-efi`, byte-identical to GRUB 2.06's tool) or as a
//! BIOS `core.img` (`i386-pc`: diskboot.img + lzma_decompress.img + our own
//! LZMA stream of the same payload).

use super::lzma;
use super::moddep::ModDeps;
use super::raw::{self, *};
use super::source::{ModuleSource, Platform};
use crate::{Error, Result};

/// What to build; the fields mirror grub-mkimage's options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MkimageOptions {
    /// `-O`.
    pub format: Platform,
    /// `-p`: where GRUB finds its modules and grub.cfg at run time.
    pub prefix: String,
    /// `-c`: an early config embedded in the image.
    pub config: Option<Vec<u8>>,
    /// `-m`: a memdisk (usually a tar) embedded in the image.
    pub memdisk: Option<Vec<u8>>,
    /// The modules to embed (dependencies are added from moddep.lst).
    pub modules: Vec<String>,
    /// `-n`: an ELF note for IEEE1275 images; like grub-mkimage, it has no
    /// effect on x86_64-efi and i386-pc images.
    pub note: bool,
}

impl MkimageOptions {
    /// Options for `grub-mkimage -O FORMAT -p PREFIX MODULES…`, without
    /// `-c`, `-m` or `-n`.
    pub fn new(format: Platform, prefix: impl Into<String>, modules: Vec<String>) -> Self {
        MkimageOptions {
            format,
            prefix: prefix.into(),
            config: None,
            memdisk: None,
            modules,
            note: false,
        }
    }
}

/// The largest image made (memdisks included): every size field of the
/// formats is 32 bits.
const IMAGE_CAP: u64 = 1 << 30;

/// The most a kernel's sections may span once laid out (GRUB's kernels
/// take ~110 KiB with .bss): checked before the layout is allocated.
const KERNEL_CAP: u64 = 16 << 20;

/// The most kernel + module area an i386-pc core.img is compressed from.
const PC_PAYLOAD_CAP: u64 = 16 << 20;

fn align_up(x: u64, a: u64) -> u64 {
    if a <= 1 {
        x
    } else {
        x.div_ceil(a) * a
    }
}

/// Per-target constants of grub-mkimage's `image_targets` table.
struct Target {
    platform: Platform,
    pointer_bytes: u64,
    section_align: u64,
    vaddr_offset: u64,
    link_addr: u64,
    relocatable: bool,
    efi: bool,
}

impl Target {
    fn of(p: Platform) -> Target {
        match p {
            Platform::X86_64Efi => Target {
                platform: p,
                pointer_bytes: 8,
                section_align: PE_SECTION_ALIGNMENT as u64,
                vaddr_offset: efi64_header_size(),
                link_addr: 0,
                relocatable: true,
                efi: true,
            },
            Platform::I386Pc => Target {
                platform: p,
                pointer_bytes: 4,
                section_align: 1,
                vaddr_offset: 0,
                link_addr: I386_PC_LINK_ADDR,
                relocatable: false,
                efi: false,
            },
        }
    }
    fn align_addr(&self, x: u64) -> u64 {
        align_up(x, self.pointer_bytes)
    }
}

/// `EFI64_HEADER_SIZE`: stub, signature, COFF and PE32+ headers and four
/// section headers, rounded to the file alignment.
fn efi64_header_size() -> u64 {
    align_up(
        (MSDOS_STUB.len()
            + PE_SIGNATURE.len()
            + CoffHeader::SIZE
            + Pe64OptionalHeader::SIZE
            + 4 * SectionTable::SIZE) as u64,
        PE_FILE_ALIGNMENT as u64,
    )
}

/// Builds the image grub-mkimage would: a PE32+ EFI application for
/// `x86_64-efi`, a `core.img` for `i386-pc`.
pub fn mkimage(src: &ModuleSource, opts: &MkimageOptions) -> Result<Vec<u8>> {
    if src.platform() != opts.format {
        return Err(Error::invalid(
            src.name().to_string(),
            format!(
                "holds GRUB modules for {}, not for {} (-O {}): give the {} folder",
                src.platform(),
                opts.format,
                opts.format,
                opts.format
            ),
        ));
    }
    let t = Target::of(opts.format);
    let modules = load_modules(src, opts, &t)?;

    // The module area: grub_module_info, then each object behind a
    // grub_module_header.
    let mut total_module_size = raw::ModuleInfo::size_for(t.pointer_bytes);
    let memdisk_size = opts.memdisk.as_ref().map(|m| align_up(m.len() as u64, 512));
    if let Some(m) = memdisk_size {
        total_module_size += m + ModuleHeader::SIZE as u64;
    }
    let config_size = opts
        .config
        .as_ref()
        .map(|c| t.align_addr(c.len() as u64 + 1));
    if let Some(c) = config_size {
        total_module_size += c + ModuleHeader::SIZE as u64;
    }
    let prefix_size = t.align_addr(opts.prefix.len() as u64 + 1);
    total_module_size += prefix_size + ModuleHeader::SIZE as u64;
    for (_, data) in &modules {
        total_module_size += t.align_addr(data.len() as u64) + ModuleHeader::SIZE as u64;
    }
    if total_module_size > IMAGE_CAP {
        return Err(Error::no_space(
            "GRUB image",
            format!("the modules, memdisk and config take {total_module_size} bytes, more than the limit of {IMAGE_CAP}"),
        ));
    }

    let kernel = src.read("kernel.img")?;
    let kernel_what = format!("{}: kernel.img", src.name());
    let mut layout = load_kernel(&kernel, &kernel_what, &t)?;
    let kernel_size = layout.kernel_size;
    let img = &mut layout.image;
    img.resize((kernel_size + total_module_size) as usize, 0);

    let info = ModuleInfo {
        magic: GRUB_MODULE_MAGIC,
        offset: ModuleInfo::size_for(t.pointer_bytes),
        size: total_module_size,
    };
    let mut off = kernel_size as usize;
    put(img, &mut off, &info.encode(t.pointer_bytes));
    let object = |img: &mut Vec<u8>, off: &mut usize, obj_type, data: &[u8], size: u64| {
        let h = ModuleHeader {
            obj_type,
            size: (size + ModuleHeader::SIZE as u64) as u32,
        };
        put(img, off, &h.encode());
        img[*off..*off + data.len()].copy_from_slice(data);
        *off += size as usize;
    };
    for (_, data) in &modules {
        object(
            img,
            &mut off,
            OBJ_TYPE_ELF,
            data,
            t.align_addr(data.len() as u64),
        );
    }
    if let (Some(m), Some(size)) = (&opts.memdisk, memdisk_size) {
        object(img, &mut off, OBJ_TYPE_MEMDISK, m, size);
    }
    if let (Some(c), Some(size)) = (&opts.config, config_size) {
        object(img, &mut off, OBJ_TYPE_CONFIG, c, size);
    }
    object(
        img,
        &mut off,
        OBJ_TYPE_PREFIX,
        opts.prefix.as_bytes(),
        prefix_size,
    );
    debug_assert_eq!(off as u64, kernel_size + total_module_size);

    match opts.format {
        Platform::X86_64Efi => Ok(pe_image(&layout, total_module_size)),
        Platform::I386Pc => core_img(src, &layout, total_module_size),
    }
}

/// grub-mkimage `-O i386-pc-eltorito`: the i386-pc `core.img` behind
/// `cdboot.img` (GRUB's `mkimage.c` writes cdboot.img first and otherwise
/// builds the image as for i386-pc). A BIOS El Torito no-emulation image:
/// the firmware loads cdboot.img, which reads the rest of the file (length
/// and place from the boot info table) and starts diskboot.img's successor.
pub fn mkimage_eltorito(src: &ModuleSource, opts: &MkimageOptions) -> Result<Vec<u8>> {
    if opts.format != Platform::I386Pc {
        return Err(Error::invalid(
            "format",
            format!("i386-pc-eltorito is an i386-pc image, not {}", opts.format),
        ));
    }
    let core = mkimage(src, opts)?;
    let cdboot = src.read("cdboot.img")?;
    // cdboot.S is one 2048-byte CD sector; core.img's diskboot.img must
    // start at the next one (xorriso's --grub2-boot-info patches it there).
    if cdboot.len() != CDBOOT_SIZE {
        return Err(Error::corrupt(
            "GRUB",
            format!("{}: cdboot.img", src.name()),
            format!(
                "is {} bytes; GRUB's cdboot.img is {CDBOOT_SIZE}",
                cdboot.len()
            ),
        ));
    }
    let mut out = cdboot;
    out.extend_from_slice(&core);
    Ok(out)
}

/// Size of `cdboot.img` (one CD sector).
pub const CDBOOT_SIZE: usize = 2048;

fn put(img: &mut [u8], off: &mut usize, data: &[u8]) {
    img[*off..*off + data.len()].copy_from_slice(data);
    *off += data.len();
}

/// The modules in order, each checked to be a GRUB module for the target.
fn load_modules(
    src: &ModuleSource,
    opts: &MkimageOptions,
    t: &Target,
) -> Result<Vec<(String, Vec<u8>)>> {
    let deps_text = src.read("moddep.lst")?;
    let deps = ModDeps::parse(&deps_text, &format!("{}: moddep.lst", src.name()))?;
    let list = deps.resolve(&opts.modules)?;
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        if !src.contains(&m.file) {
            let why = match &m.needed_by {
                Some(by) => format!("needed by module `{by}`"),
                None => "asked for on the command line".to_string(),
            };
            return Err(Error::invalid(
                src.name().to_string(),
                format!(
                    "module `{}` ({}) is not in the GRUB folder ({why})",
                    m.name, m.file
                ),
            ));
        }
        let data = src.read(&m.file)?;
        check_module(&data, &format!("{}: {}", src.name(), m.file), t.platform)?;
        out.push((m.name, data));
    }
    Ok(out)
}

/// A module must be a relocatable ELF object for the target's machine.
/// (grub-mkimage copies any file; GRUB would refuse it at boot.)
pub fn check_module(data: &[u8], what: &str, p: Platform) -> Result<()> {
    let h = Ehdr::parse(data, what).map_err(|e| match e {
        Error::Corrupt { msg, .. } | Error::Truncated { what: msg, .. } => {
            Error::corrupt("GRUB", what, format!("not a GRUB module: {msg}"))
        }
        e => e,
    })?;
    let (class, machine) = p.elf();
    if h.class != class || h.e_machine != machine {
        return Err(Error::corrupt(
            "GRUB",
            what,
            format!(
                "a GRUB module for another machine ({}, ELF machine {}), not for {p}",
                if h.class == ELFCLASS64 {
                    "64-bit"
                } else {
                    "32-bit"
                },
                h.e_machine
            ),
        ));
    }
    if h.e_type != ET_REL {
        return Err(Error::corrupt(
            "GRUB",
            what,
            "not a GRUB module: not a relocatable ELF object",
        ));
    }
    Ok(())
}

/// The kernel laid out in memory (grub-mkimagexx.c's `grub_mkimage_layout`
/// and the image `grub_mkimage_load_image` returns).
struct Layout {
    image: Vec<u8>,
    kernel_size: u64,
    exec_size: u64,
    bss_size: u64,
    start_address: u64,
    reloc_section: Vec<u8>,
}

fn is_text(s: &Shdr, t: &Target) -> bool {
    if !t.relocatable && s.sh_type != SHT_PROGBITS {
        return false;
    }
    s.sh_flags & (SHF_EXECINSTR | SHF_ALLOC) == SHF_EXECINSTR | SHF_ALLOC
}
fn is_data(s: &Shdr, t: &Target) -> bool {
    if !t.relocatable && s.sh_type != SHT_PROGBITS {
        return false;
    }
    s.sh_flags & (SHF_EXECINSTR | SHF_ALLOC) == SHF_ALLOC && s.sh_type != SHT_NOBITS
}
fn is_bss(s: &Shdr, t: &Target) -> bool {
    t.relocatable
        && s.sh_flags & (SHF_EXECINSTR | SHF_ALLOC) == SHF_ALLOC
        && s.sh_type == SHT_NOBITS
}
fn is_kept(s: &Shdr, t: &Target) -> bool {
    is_text(s, t) || is_data(s, t) || (is_bss(s, t) && (t.efi || !t.relocatable))
}

struct Elf<'a> {
    buf: &'a [u8],
    what: &'a str,
    h: Ehdr,
    sections: Vec<Shdr>,
    shstrtab: &'a [u8],
}

impl<'a> Elf<'a> {
    fn section_name(&self, s: &Shdr) -> &'a [u8] {
        raw::c_str(self.shstrtab, s.sh_name as u64)
    }
    /// `is_kept_reloc_section`: `.rela.X`/`.rel.X` is kept when section
    /// `.X` is; other relocation sections always are.
    fn is_kept_reloc(&self, s: &Shdr, t: &Target) -> bool {
        let name = self.section_name(s);
        let target = if let Some(r) = name.strip_prefix(b".rela") {
            if !r.starts_with(b".") {
                return true;
            }
            r
        } else if let Some(r) = name.strip_prefix(b".rel") {
            if !r.starts_with(b".") {
                return true;
            }
            r
        } else {
            return true;
        };
        self.sections
            .iter()
            .find(|x| self.section_name(x) == target)
            .is_some_and(|x| is_kept(x, t))
    }
}

/// `grub_mkimage_load_image`: lays the kernel's sections out, resolves its
/// symbols and relocations (EFI), and returns the image and its layout.
fn load_kernel(buf: &[u8], what: &str, t: &Target) -> Result<Layout> {
    let h = Ehdr::parse(buf, what)?;
    let (class, machine) = t.platform.elf();
    if h.class != class || h.e_machine != machine {
        return Err(Error::corrupt(
            "GRUB",
            what,
            format!(
                "not a {} GRUB kernel (wrong ELF class or machine)",
                t.platform
            ),
        ));
    }
    let sections = section_headers(buf, &h, what)?;
    let shstr = sections
        .get(h.e_shstrndx as usize)
        .ok_or_else(|| Error::corrupt(ELF, what, "e_shstrndx names no section"))?;
    let shstrtab = field(buf, shstr.sh_offset, shstr.sh_size, what)?;
    let elf = Elf {
        buf,
        what,
        h,
        sections,
        shstrtab,
    };
    let n = elf.sections.len();
    let mut addrs = vec![0u64; n];
    let mut vaddrs = vec![0u64; n];

    // locate_sections: code first, then data, then .bss.
    let put_section = |s: &Shdr, cur: u64| -> Result<u64> {
        let mut cur = cur;
        if s.sh_addralign != 0 {
            cur = align_up(cur + t.vaddr_offset, s.sh_addralign) - t.vaddr_offset;
        }
        if !t.relocatable {
            cur = s.sh_addr.checked_sub(t.link_addr).ok_or_else(|| {
                Error::corrupt(
                    ELF,
                    what,
                    format!("a section at 0x{:x}, below the link address", s.sh_addr),
                )
            })?;
        }
        Ok(cur)
    };
    let mut kernel_size = 0u64;
    for (i, s) in elf.sections.iter().enumerate() {
        if is_text(s, t) {
            let at = put_section(s, kernel_size)?;
            addrs[i] = at;
            kernel_size = add(at, s.sh_size, what)?;
            if !t.relocatable && s.sh_addr != t.link_addr {
                return Err(Error::corrupt(
                    ELF,
                    what,
                    format!(
                        "miscompiled: its start address is 0x{:x} instead of 0x{:x}",
                        s.sh_addr, t.link_addr
                    ),
                ));
            }
        }
    }
    kernel_size = align_up(kernel_size + t.vaddr_offset, t.section_align) - t.vaddr_offset;
    let exec_size = kernel_size;
    for (i, s) in elf.sections.iter().enumerate() {
        if is_data(s, t) {
            let at = put_section(s, kernel_size)?;
            addrs[i] = at;
            kernel_size = add(at, s.sh_size, what)?;
        }
    }
    let bss_start = kernel_size;
    let mut end = kernel_size;
    for (i, s) in elf.sections.iter().enumerate() {
        if is_bss(s, t) {
            let at = put_section(s, end)?;
            addrs[i] = at;
            end = add(at, s.sh_size, what)?;
        }
        vaddrs[i] = addrs[i] + t.vaddr_offset;
    }
    end = align_up(end + t.vaddr_offset, t.section_align) - t.vaddr_offset;
    if t.efi || !t.relocatable {
        kernel_size = end;
    }

    let mut bss_size = 0;
    if !t.relocatable {
        let mut cur = kernel_size;
        for s in elf.sections.iter().filter(|s| s.sh_type == SHT_NOBITS) {
            cur = add(put_section(s, cur)?, s.sh_size, what)?;
        }
        cur = align_up(cur + t.vaddr_offset, t.section_align) - t.vaddr_offset;
        bss_size = cur.saturating_sub(kernel_size);
    }
    if t.efi {
        kernel_size = align_up(kernel_size, PE_FILE_ALIGNMENT as u64);
    }
    if kernel_size > IMAGE_CAP {
        return Err(Error::corrupt(
            ELF,
            what,
            "the kernel's sections span more than 1 GiB",
        ));
    }

    let mut work = buf.to_vec();
    let mut start_address = 0;
    let mut reloc_section = Vec::new();
    if t.relocatable {
        let symtab_idx = elf
            .sections
            .iter()
            .position(|s| s.sh_type == SHT_SYMTAB)
            .ok_or_else(|| Error::corrupt(ELF, what, "no symbol table"))?;
        let values = relocate_symbols(&elf, symtab_idx, &vaddrs, bss_start, end)?;
        start_address = values.start;
        relocate_addrs(&elf, &mut work, symtab_idx, &values.values, &addrs, t)?;
        reloc_section = make_reloc_section(&elf, &vaddrs, t)?;
    }

    let mut image = vec![0u8; kernel_size as usize];
    for (i, s) in elf.sections.iter().enumerate() {
        if !is_kept(s, t) {
            continue;
        }
        let dst = field_mut(&mut image, addrs[i], s.sh_size, what)?;
        if s.sh_type == SHT_NOBITS {
            dst.fill(0);
        } else {
            dst.copy_from_slice(field(&work, s.sh_offset, s.sh_size, what)?);
        }
    }
    Ok(Layout {
        image,
        kernel_size,
        exec_size,
        bss_size,
        start_address,
        reloc_section,
    })
}

fn add(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_add(b)
        .filter(|&x| x <= KERNEL_CAP)
        .ok_or_else(|| Error::corrupt(ELF, what, "section sizes overflow"))
}

struct SymbolValues {
    values: Vec<u64>,
    start: u64,
}

/// `relocate_symbols`: each symbol's value becomes its address in the
/// image (`__bss_start` and `_end` are given); the start address is the
/// first `_start` or `start`.
fn relocate_symbols(
    elf: &Elf,
    symtab_idx: usize,
    vaddrs: &[u64],
    bss_start: u64,
    end: u64,
) -> Result<SymbolValues> {
    let what = elf.what;
    let symtab = &elf.sections[symtab_idx];
    let strtab_sec = elf
        .sections
        .get(symtab.sh_link as usize)
        .ok_or_else(|| Error::corrupt(ELF, what, "the symbol table's string table is missing"))?;
    let strtab = field(elf.buf, strtab_sec.sh_offset, strtab_sec.sh_size, what)?;
    let entsize = symtab.sh_entsize;
    if entsize < Sym::size(elf.h.class) || entsize > u16::MAX as u64 {
        return Err(Error::corrupt(
            ELF,
            what,
            "symbol entries have an impossible size",
        ));
    }
    let table = field(elf.buf, symtab.sh_offset, symtab.sh_size, what)?;
    let mut values = Vec::new();
    let mut start = None;
    for c in table.chunks_exact(entsize as usize) {
        let sym = Sym::parse(c, elf.h.class);
        let name = raw::c_str(strtab, sym.st_name as u64);
        let value = match sym.st_shndx {
            SHN_ABS => {
                values.push(sym.st_value);
                continue;
            }
            SHN_UNDEF => {
                if sym.st_name != 0 && name == b"__bss_start" {
                    bss_start
                } else if sym.st_name != 0 && name == b"_end" {
                    end
                } else if sym.st_name != 0 {
                    return Err(Error::corrupt(
                        ELF,
                        what,
                        format!("undefined symbol {}", String::from_utf8_lossy(name)),
                    ));
                } else {
                    values.push(sym.st_value);
                    continue;
                }
            }
            i => {
                let base = vaddrs.get(i as usize).ok_or_else(|| {
                    Error::corrupt(ELF, what, format!("section {i} does not exist"))
                })?;
                sym.st_value.wrapping_add(*base)
            }
        };
        if start.is_none() && (name == b"_start" || name == b"start") {
            start = Some(value);
        }
        values.push(value);
    }
    Ok(SymbolValues {
        values,
        start: start.ok_or_else(|| Error::corrupt(ELF, what, "start symbol is not defined"))?,
    })
}

/// Relocation sections that apply to kept sections, as
/// `(section index, entries)`.
fn reloc_entries<'a>(
    elf: &'a Elf,
    t: &'a Target,
) -> impl Iterator<Item = Result<(usize, Vec<Rela>)>> + 'a {
    elf.sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.sh_type == SHT_REL || s.sh_type == SHT_RELA)
        .filter(|(_, s)| elf.is_kept_reloc(s, t))
        .map(move |(i, s)| {
            let rela = s.sh_type == SHT_RELA;
            if s.sh_entsize < Rela::min_size(elf.h.class, rela) || s.sh_entsize > u16::MAX as u64 {
                return Err(Error::corrupt(
                    ELF,
                    elf.what,
                    format!("relocation section {i}: entries have an impossible size"),
                ));
            }
            let table = field(elf.buf, s.sh_offset, s.sh_size, elf.what)?;
            let v = table
                .chunks_exact(s.sh_entsize as usize)
                .map(|c| Rela::parse(c, elf.h.class, rela))
                .collect();
            Ok((i, v))
        })
}

/// `relocate_addrs` for x86_64: resolves every relocation in the kernel's
/// bytes, relative to the image's virtual addresses.
fn relocate_addrs(
    elf: &Elf,
    work: &mut [u8],
    _symtab_idx: usize,
    values: &[u64],
    addrs: &[u64],
    t: &Target,
) -> Result<()> {
    let what = elf.what;
    for entry in reloc_entries(elf, t) {
        let (i, relocs) = entry?;
        let s = &elf.sections[i];
        let target_idx = s.sh_info as usize;
        let target_sec = elf.sections.get(target_idx).ok_or_else(|| {
            Error::corrupt(
                ELF,
                what,
                format!("relocation section {i} applies to no section"),
            )
        })?;
        let target_addr = addrs[target_idx];
        for r in relocs {
            let sym_addr = *values.get(r.sym(elf.h.class) as usize).ok_or_else(|| {
                Error::corrupt(
                    ELF,
                    what,
                    format!(
                        "relocation names symbol {} past the symbol table",
                        r.sym(elf.h.class)
                    ),
                )
            })?;
            let addend = r.r_addend.unwrap_or(0) as u64;
            let at = target_sec.sh_offset.wrapping_add(r.r_offset);
            let pc = target_addr
                .wrapping_add(r.r_offset)
                .wrapping_add(t.vaddr_offset);
            match r.kind(elf.h.class) {
                R_X86_64_NONE => {}
                R_X86_64_64 => {
                    let b = field_mut(work, at, 8, what)?;
                    let v = u64_at(b, 0).wrapping_add(addend).wrapping_add(sym_addr);
                    b.copy_from_slice(&v.to_le_bytes());
                }
                R_X86_64_PC32 | R_X86_64_PLT32 => {
                    let b = field_mut(work, at, 4, what)?;
                    let v = (u32_at(b, 0) as u64)
                        .wrapping_add(addend)
                        .wrapping_add(sym_addr)
                        .wrapping_sub(pc);
                    b.copy_from_slice(&(v as u32).to_le_bytes());
                }
                R_X86_64_PC64 => {
                    let b = field_mut(work, at, 8, what)?;
                    let v = u64_at(b, 0)
                        .wrapping_add(addend)
                        .wrapping_add(sym_addr)
                        .wrapping_sub(pc);
                    b.copy_from_slice(&v.to_le_bytes());
                }
                R_X86_64_32 | R_X86_64_32S => {
                    let b = field_mut(work, at, 4, what)?;
                    let v = (u32_at(b, 0) as u64)
                        .wrapping_add(addend)
                        .wrapping_add(sym_addr);
                    b.copy_from_slice(&(v as u32).to_le_bytes());
                }
                k => {
                    return Err(Error::unsupported(
                        "GRUB",
                        format!("{what}: relocation 0x{k:x} is not implemented yet"),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// `make_reloc_section`: the PE base relocation table (`.reloc`) for the
/// kernel's absolute addresses, in GRUB's blocks and padding.
fn make_reloc_section(elf: &Elf, vaddrs: &[u64], t: &Target) -> Result<Vec<u8>> {
    let mut fx = Fixups::default();
    for entry in reloc_entries(elf, t) {
        let (i, relocs) = entry?;
        let section_address = *vaddrs
            .get(elf.sections[i].sh_info as usize)
            .ok_or_else(|| {
                Error::corrupt(
                    ELF,
                    elf.what,
                    format!("relocation section {i} applies to no section"),
                )
            })?;
        for r in relocs {
            let addr = section_address.wrapping_add(r.r_offset);
            match r.kind(elf.h.class) {
                R_X86_64_32 | R_X86_64_32S => {
                    return Err(Error::unsupported(
                        "GRUB",
                        format!("{}: can't add fixup entry for R_X86_64_32(S)", elf.what),
                    ))
                }
                R_X86_64_64 => fx.add(IMAGE_REL_BASED_DIR64, addr),
                _ => {}
            }
        }
    }
    Ok(fx.finish(t.section_align))
}

/// PE base relocation blocks as grub-mkimagexx.c's `add_fixup_entry`
/// writes them: a new block whenever an address leaves the current 4 KiB
/// page; a block is padded with zero entries to a multiple of 8 bytes, the
/// last one so that the table ends on a section boundary.
#[derive(Default)]
struct Fixups {
    out: Vec<u8>,
    page_rva: u64,
    entries: Vec<u16>,
    open: bool,
}

impl Fixups {
    fn add(&mut self, kind: u16, addr: u64) {
        if self.open && (addr < self.page_rva || self.page_rva + 0x1000 <= addr) {
            while (8 + 2 * self.entries.len()) & 7 != 0 {
                self.entries.push(0);
            }
            self.flush_block();
        }
        if !self.open {
            self.open = true;
            self.page_rva = addr & !0xfff;
        }
        self.entries
            .push((kind << 12) | ((addr - self.page_rva) as u16 & 0xfff));
    }

    fn flush_block(&mut self) {
        let size = 8 + 2 * self.entries.len();
        self.out
            .extend_from_slice(&(self.page_rva as u32).to_le_bytes());
        self.out.extend_from_slice(&(size as u32).to_le_bytes());
        for e in self.entries.drain(..) {
            self.out.extend_from_slice(&e.to_le_bytes());
        }
        self.open = false;
    }

    fn finish(mut self, section_align: u64) -> Vec<u8> {
        if self.open {
            let next = self.out.len() as u64 + 8 + 2 * self.entries.len() as u64;
            let pad = (align_up(next, section_align) - next) / 2;
            self.entries.resize(self.entries.len() + pad as usize, 0);
            self.flush_block();
        }
        self.out
    }
}

/// The PE32+ EFI application around the kernel and modules
/// (`grub_install_generate_image`, `IMAGE_EFI`).
fn pe_image(layout: &Layout, total_module_size: u64) -> Vec<u8> {
    let header_size = efi64_header_size();
    let fa = PE_FILE_ALIGNMENT as u64;
    let sa = PE_SECTION_ALIGNMENT as u64;
    let core = &layout.image;
    let core_size = core.len() as u64;
    let reloc_size = layout.reloc_section.len() as u64;
    let pe_size = align_up(header_size + core_size, fa) + align_up(reloc_size, fa);
    let mut pe = vec![0u8; pe_size as usize];
    pe[header_size as usize..(header_size + core_size) as usize].copy_from_slice(core);

    let mut sec = Placer {
        sections: Vec::new(),
        vma: header_size,
        raw_data: header_size,
        align: sa,
    };
    let code_base = sec.vma;
    sec.add(
        b".text",
        layout.exec_size,
        layout.exec_size,
        IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ,
    );
    let data_raw = layout.kernel_size - layout.exec_size;
    let data_vsz = align_up(data_raw, fa);
    let data_size = data_vsz + align_up(total_module_size, fa);
    sec.add(
        b".data",
        data_vsz,
        data_raw,
        IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE,
    );
    let mods_raw = pe_size - reloc_size - sec.raw_data;
    sec.add(
        b"mods",
        align_up(mods_raw, fa),
        mods_raw,
        IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE,
    );
    let reloc_vsz = align_up(reloc_size, fa);
    let reloc_rva = sec.vma;
    let reloc_at = sec.raw_data as usize;
    pe[reloc_at..reloc_at + layout.reloc_section.len()].copy_from_slice(&layout.reloc_section);
    sec.add(
        b".reloc",
        reloc_vsz,
        reloc_size,
        IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_DISCARDABLE | IMAGE_SCN_MEM_READ,
    );
    let sections = sec.sections;

    let coff = CoffHeader {
        machine: IMAGE_FILE_MACHINE_AMD64,
        num_sections: 4,
        time: STABLE_EMBEDDING_TIMESTAMP,
        optional_header_size: Pe64OptionalHeader::SIZE as u16,
        characteristics: IMAGE_FILE_EXECUTABLE_IMAGE
            | IMAGE_FILE_LINE_NUMS_STRIPPED
            | IMAGE_FILE_LOCAL_SYMS_STRIPPED
            | IMAGE_FILE_DEBUG_STRIPPED,
        ..Default::default()
    };
    let mut opt = Pe64OptionalHeader {
        magic: PE32PLUS_MAGIC,
        code_size: layout.exec_size as u32,
        data_size: data_size as u32,
        entry_addr: layout.start_address as u32,
        code_base: code_base as u32,
        section_alignment: PE_SECTION_ALIGNMENT,
        file_alignment: PE_FILE_ALIGNMENT,
        image_size: pe_size as u32,
        header_size: header_size as u32,
        subsystem: IMAGE_SUBSYSTEM_EFI_APPLICATION,
        stack_reserve_size: 0x10000,
        stack_commit_size: 0x10000,
        heap_reserve_size: 0x10000,
        heap_commit_size: 0x10000,
        num_data_directories: IMAGE_NUMBEROF_DIRECTORY_ENTRIES,
        ..Default::default()
    };
    opt.data_directories[IMAGE_DIRECTORY_ENTRY_BASERELOC] = (reloc_rva as u32, reloc_vsz as u32);

    let mut off = 0;
    put(&mut pe, &mut off, &MSDOS_STUB);
    put(&mut pe, &mut off, &PE_SIGNATURE);
    put(&mut pe, &mut off, &coff.encode());
    put(&mut pe, &mut off, &opt.encode());
    for s in &sections {
        put(&mut pe, &mut off, &s.encode());
    }
    pe
}

/// `init_pe_section`: section headers placed one after another, virtual
/// addresses aligned to the section alignment, file offsets not.
struct Placer {
    sections: Vec<SectionTable>,
    vma: u64,
    raw_data: u64,
    align: u64,
}

impl Placer {
    fn add(&mut self, name: &[u8], vsz: u64, rsz: u64, characteristics: u32) {
        let mut n = [0u8; 8];
        n[..name.len()].copy_from_slice(name);
        self.sections.push(SectionTable {
            name: n,
            virtual_size: vsz as u32,
            virtual_address: self.vma as u32,
            raw_data_size: rsz as u32,
            raw_data_offset: self.raw_data as u32,
            characteristics,
            ..Default::default()
        });
        self.vma = align_up(self.vma + vsz, self.align);
        self.raw_data += rsz;
    }
}

/// `core.img` for i386-pc: diskboot.img (its blocklist length set to the
/// sectors that follow), lzma_decompress.img (its size fields set), and the
/// LZMA stream of kernel + module area.
fn core_img(src: &ModuleSource, layout: &Layout, total_module_size: u64) -> Result<Vec<u8>> {
    let payload = &layout.image;
    let name = src.name();
    // core.img must fit below 0x78000 compressed; a payload this large
    // never does, so refuse it before spending time compressing it.
    if payload.len() as u64 > PC_PAYLOAD_CAP {
        return Err(Error::no_space(
            "GRUB core.img",
            format!(
                "core image is too big: {} bytes of kernel and modules before compression",
                payload.len()
            ),
        ));
    }
    let compressed = lzma::compress(payload);
    let mut decompressor = src.read("lzma_decompress.img")?;
    if decompressor.len() as u64 > I386_PC_MAX_DECOMPRESSOR_SIZE {
        return Err(Error::corrupt(
            "GRUB",
            format!("{name}: lzma_decompress.img"),
            "Decompressor is too big",
        ));
    }
    if decompressor.len() < I386_PC_UNCOMPRESSED_SIZE + 4 {
        return Err(Error::corrupt(
            "GRUB",
            format!("{name}: lzma_decompress.img"),
            "too short to be GRUB's decompressor",
        ));
    }
    decompressor[I386_PC_COMPRESSED_SIZE..I386_PC_COMPRESSED_SIZE + 4]
        .copy_from_slice(&(compressed.len() as u32).to_le_bytes());
    decompressor[I386_PC_UNCOMPRESSED_SIZE..I386_PC_UNCOMPRESSED_SIZE + 4]
        .copy_from_slice(&((layout.kernel_size + total_module_size) as u32).to_le_bytes());
    let core_size = (decompressor.len() + compressed.len()) as u64;
    if I386_PC_LINK_ADDR + core_size > I386_PC_CORE_LIMIT || core_size > 0xffff << 9 {
        return Err(Error::no_space(
            "GRUB core.img",
            format!(
                "core image is too big (0x{:x} > 0x{:x})",
                I386_PC_LINK_ADDR + core_size,
                I386_PC_CORE_LIMIT
            ),
        ));
    }
    if layout.kernel_size + layout.bss_size + I386_PC_LINK_ADDR > I386_PC_KERNEL_LIMIT {
        return Err(Error::no_space(
            "GRUB core.img",
            format!(
                "kernel image is too big (0x{:x} > 0x{:x})",
                layout.kernel_size + layout.bss_size + I386_PC_LINK_ADDR,
                I386_PC_KERNEL_LIMIT
            ),
        ));
    }
    let mut diskboot = src.read("diskboot.img")?;
    if diskboot.len() != 512 {
        return Err(Error::corrupt(
            "GRUB",
            format!("{name}: diskboot.img"),
            "diskboot.img size must be 512 bytes",
        ));
    }
    let at = 512 - BootBlocklist::SIZE;
    let mut block = BootBlocklist::parse(&diskboot[at..]);
    if block.segment != I386_PC_KERNEL_SEG + (512 >> 4) {
        return Err(Error::corrupt(
            "GRUB",
            format!("{name}: diskboot.img"),
            "its blocklist does not load to segment 0x820: not GRUB's diskboot.img",
        ));
    }
    block.len = core_size.div_ceil(512) as u16;
    diskboot[at..].copy_from_slice(&block.encode());
    let mut out = diskboot;
    out.extend_from_slice(&decompressor);
    out.extend_from_slice(&compressed);
    Ok(out)
}
