//! On-disk structures GRUB's images are made of: ELF (the `kernel.img` and
//! `*.mod` files, System V gABI "Object Files"), PE32+ (the EFI image,
//! Microsoft PE/COFF specification), and GRUB's own module area
//! (`include/grub/kernel.h`) and i386-pc offsets (`include/grub/offsets.h`).
//!
//! Every structure parses from a byte slice through [`field`], which checks
//! bounds, and encodes back to bytes; nothing here indexes with a number
//! read from a file.

use crate::{Error, Result};

/// The name errors use for ELF problems.
pub const ELF: &str = "ELF";
/// The name errors use for PE problems.
pub const PE: &str = "PE";

/// `len` bytes of `buf` at `offset`, or an error naming `what`.
pub fn field<'a>(buf: &'a [u8], offset: u64, len: u64, what: &str) -> Result<&'a [u8]> {
    match offset.checked_add(len) {
        Some(end) if end <= buf.len() as u64 => Ok(&buf[offset as usize..end as usize]),
        _ => Err(Error::Truncated {
            what: what.to_string(),
            offset: offset.saturating_add(len),
            size: buf.len() as u64,
        }),
    }
}

/// The same, writable.
pub fn field_mut<'a>(buf: &'a mut [u8], offset: u64, len: u64, what: &str) -> Result<&'a mut [u8]> {
    let size = buf.len() as u64;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(&mut buf[offset as usize..end as usize]),
        _ => Err(Error::Truncated {
            what: what.to_string(),
            offset: offset.saturating_add(len),
            size,
        }),
    }
}

pub fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
pub fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes([
        b[off],
        b[off + 1],
        b[off + 2],
        b[off + 3],
        b[off + 4],
        b[off + 5],
        b[off + 6],
        b[off + 7],
    ])
}

/// A NUL-terminated name at `offset` of a string table.
pub fn c_str(buf: &[u8], offset: u64) -> &[u8] {
    let start = (offset as usize).min(buf.len());
    let rest = &buf[start..];
    let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
    &rest[..end]
}

// ---------------------------------------------------------------- ELF ----

pub const ELFMAG: [u8; 4] = [0x7f, b'E', b'L', b'F'];
pub const ELFCLASS32: u8 = 1;
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const EV_CURRENT: u8 = 1;

pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;

pub const EM_386: u16 = 3;
pub const EM_X86_64: u16 = 62;

pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_RELA: u32 = 4;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_REL: u32 = 9;

pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXECINSTR: u64 = 4;

pub const SHN_UNDEF: u16 = 0;
/// GRUB's `STN_ABS`: symbols with absolute values are left alone.
pub const SHN_ABS: u16 = 0xfff1;

pub const R_X86_64_NONE: u32 = 0;
pub const R_X86_64_64: u32 = 1;
pub const R_X86_64_PC32: u32 = 2;
pub const R_X86_64_PLT32: u32 = 4;
pub const R_X86_64_32: u32 = 10;
pub const R_X86_64_32S: u32 = 11;
pub const R_X86_64_PC64: u32 = 24;

/// The ELF file header (gABI "ELF Header"), both classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ehdr {
    pub class: u8,
    pub e_type: u16,
    pub e_machine: u16,
    pub e_version: u32,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_shoff: u64,
    pub e_flags: u32,
    pub e_ehsize: u16,
    pub e_phentsize: u16,
    pub e_phnum: u16,
    pub e_shentsize: u16,
    pub e_shnum: u16,
    pub e_shstrndx: u16,
}

impl Ehdr {
    /// Parses the header; `what` names the file. Only little-endian,
    /// version-1 ELF is accepted (GRUB's `check_elf_header`).
    pub fn parse(buf: &[u8], what: &str) -> Result<Self> {
        let id = field(buf, 0, 16, what)
            .map_err(|_| Error::corrupt(ELF, what, "not an ELF file (too short)"))?;
        if id[..4] != ELFMAG {
            return Err(Error::corrupt(
                ELF,
                what,
                "not an ELF file (no \\x7fELF magic)",
            ));
        }
        let class = id[4];
        if class != ELFCLASS32 && class != ELFCLASS64 {
            return Err(Error::corrupt(
                ELF,
                what,
                format!("unknown ELF class {class}"),
            ));
        }
        if id[5] != ELFDATA2LSB || id[6] != EV_CURRENT {
            return Err(Error::corrupt(
                ELF,
                what,
                "not a little-endian version-1 ELF file",
            ));
        }
        let h = if class == ELFCLASS64 {
            let b = field(buf, 0, 64, what)?;
            Ehdr {
                class,
                e_type: u16_at(b, 16),
                e_machine: u16_at(b, 18),
                e_version: u32_at(b, 20),
                e_entry: u64_at(b, 24),
                e_phoff: u64_at(b, 32),
                e_shoff: u64_at(b, 40),
                e_flags: u32_at(b, 48),
                e_ehsize: u16_at(b, 52),
                e_phentsize: u16_at(b, 54),
                e_phnum: u16_at(b, 56),
                e_shentsize: u16_at(b, 58),
                e_shnum: u16_at(b, 60),
                e_shstrndx: u16_at(b, 62),
            }
        } else {
            let b = field(buf, 0, 52, what)?;
            Ehdr {
                class,
                e_type: u16_at(b, 16),
                e_machine: u16_at(b, 18),
                e_version: u32_at(b, 20),
                e_entry: u32_at(b, 24) as u64,
                e_phoff: u32_at(b, 28) as u64,
                e_shoff: u32_at(b, 32) as u64,
                e_flags: u32_at(b, 36),
                e_ehsize: u16_at(b, 40),
                e_phentsize: u16_at(b, 42),
                e_phnum: u16_at(b, 44),
                e_shentsize: u16_at(b, 46),
                e_shnum: u16_at(b, 48),
                e_shstrndx: u16_at(b, 50),
            }
        };
        if h.e_version != 1 {
            return Err(Error::corrupt(ELF, what, "e_version is not 1"));
        }
        Ok(h)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&ELFMAG);
        v.extend_from_slice(&[self.class, ELFDATA2LSB, EV_CURRENT]);
        v.resize(16, 0);
        v.extend_from_slice(&self.e_type.to_le_bytes());
        v.extend_from_slice(&self.e_machine.to_le_bytes());
        v.extend_from_slice(&self.e_version.to_le_bytes());
        if self.class == ELFCLASS64 {
            v.extend_from_slice(&self.e_entry.to_le_bytes());
            v.extend_from_slice(&self.e_phoff.to_le_bytes());
            v.extend_from_slice(&self.e_shoff.to_le_bytes());
        } else {
            v.extend_from_slice(&(self.e_entry as u32).to_le_bytes());
            v.extend_from_slice(&(self.e_phoff as u32).to_le_bytes());
            v.extend_from_slice(&(self.e_shoff as u32).to_le_bytes());
        }
        v.extend_from_slice(&self.e_flags.to_le_bytes());
        for x in [
            self.e_ehsize,
            self.e_phentsize,
            self.e_phnum,
            self.e_shentsize,
            self.e_shnum,
            self.e_shstrndx,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }
}

/// A section header (gABI "Sections").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shdr {
    pub sh_name: u32,
    pub sh_type: u32,
    pub sh_flags: u64,
    pub sh_addr: u64,
    pub sh_offset: u64,
    pub sh_size: u64,
    pub sh_link: u32,
    pub sh_info: u32,
    pub sh_addralign: u64,
    pub sh_entsize: u64,
}

impl Shdr {
    pub fn size(class: u8) -> u64 {
        if class == ELFCLASS64 {
            64
        } else {
            40
        }
    }

    pub fn parse(b: &[u8], class: u8) -> Self {
        if class == ELFCLASS64 {
            Shdr {
                sh_name: u32_at(b, 0),
                sh_type: u32_at(b, 4),
                sh_flags: u64_at(b, 8),
                sh_addr: u64_at(b, 16),
                sh_offset: u64_at(b, 24),
                sh_size: u64_at(b, 32),
                sh_link: u32_at(b, 40),
                sh_info: u32_at(b, 44),
                sh_addralign: u64_at(b, 48),
                sh_entsize: u64_at(b, 56),
            }
        } else {
            Shdr {
                sh_name: u32_at(b, 0),
                sh_type: u32_at(b, 4),
                sh_flags: u32_at(b, 8) as u64,
                sh_addr: u32_at(b, 12) as u64,
                sh_offset: u32_at(b, 16) as u64,
                sh_size: u32_at(b, 20) as u64,
                sh_link: u32_at(b, 24),
                sh_info: u32_at(b, 28),
                sh_addralign: u32_at(b, 32) as u64,
                sh_entsize: u32_at(b, 36) as u64,
            }
        }
    }

    pub fn encode(&self, class: u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&self.sh_name.to_le_bytes());
        v.extend_from_slice(&self.sh_type.to_le_bytes());
        if class == ELFCLASS64 {
            for x in [self.sh_flags, self.sh_addr, self.sh_offset, self.sh_size] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend_from_slice(&self.sh_link.to_le_bytes());
            v.extend_from_slice(&self.sh_info.to_le_bytes());
            v.extend_from_slice(&self.sh_addralign.to_le_bytes());
            v.extend_from_slice(&self.sh_entsize.to_le_bytes());
        } else {
            for x in [self.sh_flags, self.sh_addr, self.sh_offset, self.sh_size] {
                v.extend_from_slice(&(x as u32).to_le_bytes());
            }
            v.extend_from_slice(&self.sh_link.to_le_bytes());
            v.extend_from_slice(&self.sh_info.to_le_bytes());
            v.extend_from_slice(&(self.sh_addralign as u32).to_le_bytes());
            v.extend_from_slice(&(self.sh_entsize as u32).to_le_bytes());
        }
        v
    }
}

/// Every section header of an ELF file, bounds-checked against the file.
pub fn section_headers(buf: &[u8], h: &Ehdr, what: &str) -> Result<Vec<Shdr>> {
    let entsize = h.e_shentsize as u64;
    if entsize < Shdr::size(h.class) {
        return Err(Error::corrupt(
            ELF,
            what,
            format!("e_shentsize {entsize} is too small"),
        ));
    }
    let table = field(buf, h.e_shoff, entsize * h.e_shnum as u64, what).map_err(|_| {
        Error::corrupt(
            ELF,
            what,
            format!(
                "the {} section headers at byte {} lie past the end of the file ({} bytes)",
                h.e_shnum,
                h.e_shoff,
                buf.len()
            ),
        )
    })?;
    Ok(table
        .chunks_exact(entsize as usize)
        .map(|c| Shdr::parse(c, h.class))
        .collect())
}

/// A symbol table entry (gABI "Symbol Table").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sym {
    pub st_name: u32,
    pub st_info: u8,
    pub st_other: u8,
    pub st_shndx: u16,
    pub st_value: u64,
    pub st_size: u64,
}

impl Sym {
    pub fn size(class: u8) -> u64 {
        if class == ELFCLASS64 {
            24
        } else {
            16
        }
    }
    pub fn parse(b: &[u8], class: u8) -> Self {
        if class == ELFCLASS64 {
            Sym {
                st_name: u32_at(b, 0),
                st_info: b[4],
                st_other: b[5],
                st_shndx: u16_at(b, 6),
                st_value: u64_at(b, 8),
                st_size: u64_at(b, 16),
            }
        } else {
            Sym {
                st_name: u32_at(b, 0),
                st_value: u32_at(b, 4) as u64,
                st_size: u32_at(b, 8) as u64,
                st_info: b[12],
                st_other: b[13],
                st_shndx: u16_at(b, 14),
            }
        }
    }
    pub fn encode(&self, class: u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        v.extend_from_slice(&self.st_name.to_le_bytes());
        if class == ELFCLASS64 {
            v.extend_from_slice(&[self.st_info, self.st_other]);
            v.extend_from_slice(&self.st_shndx.to_le_bytes());
            v.extend_from_slice(&self.st_value.to_le_bytes());
            v.extend_from_slice(&self.st_size.to_le_bytes());
        } else {
            v.extend_from_slice(&(self.st_value as u32).to_le_bytes());
            v.extend_from_slice(&(self.st_size as u32).to_le_bytes());
            v.extend_from_slice(&[self.st_info, self.st_other]);
            v.extend_from_slice(&self.st_shndx.to_le_bytes());
        }
        v
    }
}

/// A relocation entry (gABI "Relocation"): `Rel` when `r_addend` is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rela {
    pub r_offset: u64,
    pub r_info: u64,
    pub r_addend: Option<i64>,
}

impl Rela {
    pub fn parse(b: &[u8], class: u8, with_addend: bool) -> Self {
        if class == ELFCLASS64 {
            Rela {
                r_offset: u64_at(b, 0),
                r_info: u64_at(b, 8),
                r_addend: with_addend.then(|| u64_at(b, 16) as i64),
            }
        } else {
            Rela {
                r_offset: u32_at(b, 0) as u64,
                r_info: u32_at(b, 4) as u64,
                r_addend: with_addend.then(|| u32_at(b, 8) as i32 as i64),
            }
        }
    }
    pub fn min_size(class: u8, with_addend: bool) -> u64 {
        match (class == ELFCLASS64, with_addend) {
            (true, true) => 24,
            (true, false) => 16,
            (false, true) => 12,
            (false, false) => 8,
        }
    }
    pub fn sym(&self, class: u8) -> u64 {
        if class == ELFCLASS64 {
            self.r_info >> 32
        } else {
            self.r_info >> 8
        }
    }
    pub fn kind(&self, class: u8) -> u32 {
        if class == ELFCLASS64 {
            self.r_info as u32
        } else {
            (self.r_info & 0xff) as u32
        }
    }
    pub fn encode(&self, class: u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        if class == ELFCLASS64 {
            v.extend_from_slice(&self.r_offset.to_le_bytes());
            v.extend_from_slice(&self.r_info.to_le_bytes());
            if let Some(a) = self.r_addend {
                v.extend_from_slice(&a.to_le_bytes());
            }
        } else {
            v.extend_from_slice(&(self.r_offset as u32).to_le_bytes());
            v.extend_from_slice(&(self.r_info as u32).to_le_bytes());
            if let Some(a) = self.r_addend {
                v.extend_from_slice(&(a as i32).to_le_bytes());
            }
        }
        v
    }
}

// ----------------------------------------------------------------- PE ----

/// The MS-DOS stub every PE image starts with (`GRUB_PE32_MSDOS_STUB`):
/// an `MZ` header whose `e_lfanew` (0x3c) points at the PE signature at
/// 0x80, and the program that prints "This program cannot be run in DOS
/// mode".
pub const MSDOS_STUB: [u8; 0x80] = [
    0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
    0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
    0x0e, 0x1f, 0xba, 0x0e, 0x00, 0xb4, 0x09, 0xcd, 0x21, 0xb8, 0x01, 0x4c, 0xcd, 0x21, 0x54, 0x68,
    0x69, 0x73, 0x20, 0x70, 0x72, 0x6f, 0x67, 0x72, 0x61, 0x6d, 0x20, 0x63, 0x61, 0x6e, 0x6e, 0x6f,
    0x74, 0x20, 0x62, 0x65, 0x20, 0x72, 0x75, 0x6e, 0x20, 0x69, 0x6e, 0x20, 0x44, 0x4f, 0x53, 0x20,
    0x6d, 0x6f, 0x64, 0x65, 0x2e, 0x0d, 0x0d, 0x0a, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
pub const PE_SIGNATURE: [u8; 4] = *b"PE\0\0";

pub const IMAGE_FILE_MACHINE_AMD64: u16 = 0x8664;
pub const IMAGE_FILE_MACHINE_I386: u16 = 0x014c;
/// COFF characteristics: executable, line numbers, local symbols and
/// debugging information stripped.
pub const IMAGE_FILE_EXECUTABLE_IMAGE: u16 = 0x0002;
pub const IMAGE_FILE_LINE_NUMS_STRIPPED: u16 = 0x0004;
pub const IMAGE_FILE_LOCAL_SYMS_STRIPPED: u16 = 0x0008;
pub const IMAGE_FILE_DEBUG_STRIPPED: u16 = 0x0200;
pub const PE32PLUS_MAGIC: u16 = 0x20b;
pub const IMAGE_SUBSYSTEM_EFI_APPLICATION: u16 = 10;
pub const IMAGE_NUMBEROF_DIRECTORY_ENTRIES: u32 = 16;
/// Index of the base relocation table among the data directories.
pub const IMAGE_DIRECTORY_ENTRY_BASERELOC: usize = 5;

pub const IMAGE_SCN_CNT_CODE: u32 = 0x0000_0020;
pub const IMAGE_SCN_CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
pub const IMAGE_SCN_MEM_DISCARDABLE: u32 = 0x0200_0000;
pub const IMAGE_SCN_MEM_EXECUTE: u32 = 0x2000_0000;
pub const IMAGE_SCN_MEM_READ: u32 = 0x4000_0000;
pub const IMAGE_SCN_MEM_WRITE: u32 = 0x8000_0000;

/// `IMAGE_REL_BASED_DIR64`: a 64-bit absolute address to rebase.
pub const IMAGE_REL_BASED_DIR64: u16 = 10;

/// GRUB's EFI section and file alignment (`GRUB_PE32_SECTION_ALIGNMENT`,
/// `GRUB_PE32_FILE_ALIGNMENT`: both the EFI page size in GRUB 2.06).
pub const PE_SECTION_ALIGNMENT: u32 = 0x1000;
pub const PE_FILE_ALIGNMENT: u32 = 0x1000;
/// GRUB's `STABLE_EMBEDDING_TIMESTAMP` (2015-01-01T00:00:00Z), the COFF
/// time stamp of every image grub-mkimage writes.
pub const STABLE_EMBEDDING_TIMESTAMP: u32 = 1_420_070_400;

/// The COFF file header (PE/COFF "COFF File Header").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoffHeader {
    pub machine: u16,
    pub num_sections: u16,
    pub time: u32,
    pub symtab_offset: u32,
    pub num_symbols: u32,
    pub optional_header_size: u16,
    pub characteristics: u16,
}

impl CoffHeader {
    pub const SIZE: usize = 20;
    pub fn parse(b: &[u8]) -> Self {
        CoffHeader {
            machine: u16_at(b, 0),
            num_sections: u16_at(b, 2),
            time: u32_at(b, 4),
            symtab_offset: u32_at(b, 8),
            num_symbols: u32_at(b, 12),
            optional_header_size: u16_at(b, 16),
            characteristics: u16_at(b, 18),
        }
    }
    pub fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..2].copy_from_slice(&self.machine.to_le_bytes());
        b[2..4].copy_from_slice(&self.num_sections.to_le_bytes());
        b[4..8].copy_from_slice(&self.time.to_le_bytes());
        b[8..12].copy_from_slice(&self.symtab_offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.num_symbols.to_le_bytes());
        b[16..18].copy_from_slice(&self.optional_header_size.to_le_bytes());
        b[18..20].copy_from_slice(&self.characteristics.to_le_bytes());
        b
    }
}

/// The PE32+ optional header (PE/COFF "Optional Header", magic 0x20b)
/// with its 16 data directories `(rva, size)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pe64OptionalHeader {
    pub magic: u16,
    pub major_linker_version: u8,
    pub minor_linker_version: u8,
    pub code_size: u32,
    pub data_size: u32,
    pub bss_size: u32,
    pub entry_addr: u32,
    pub code_base: u32,
    pub image_base: u64,
    pub section_alignment: u32,
    pub file_alignment: u32,
    pub os_version: [u16; 2],
    pub image_version: [u16; 2],
    pub subsystem_version: [u16; 2],
    pub reserved: u32,
    pub image_size: u32,
    pub header_size: u32,
    pub checksum: u32,
    pub subsystem: u16,
    pub dll_characteristics: u16,
    pub stack_reserve_size: u64,
    pub stack_commit_size: u64,
    pub heap_reserve_size: u64,
    pub heap_commit_size: u64,
    pub loader_flags: u32,
    pub num_data_directories: u32,
    pub data_directories: [(u32, u32); 16],
}

impl Pe64OptionalHeader {
    pub const SIZE: usize = 240;
    pub fn parse(b: &[u8]) -> Self {
        let mut dd = [(0u32, 0u32); 16];
        for (i, d) in dd.iter_mut().enumerate() {
            *d = (u32_at(b, 112 + 8 * i), u32_at(b, 116 + 8 * i));
        }
        Pe64OptionalHeader {
            magic: u16_at(b, 0),
            major_linker_version: b[2],
            minor_linker_version: b[3],
            code_size: u32_at(b, 4),
            data_size: u32_at(b, 8),
            bss_size: u32_at(b, 12),
            entry_addr: u32_at(b, 16),
            code_base: u32_at(b, 20),
            image_base: u64_at(b, 24),
            section_alignment: u32_at(b, 32),
            file_alignment: u32_at(b, 36),
            os_version: [u16_at(b, 40), u16_at(b, 42)],
            image_version: [u16_at(b, 44), u16_at(b, 46)],
            subsystem_version: [u16_at(b, 48), u16_at(b, 50)],
            reserved: u32_at(b, 52),
            image_size: u32_at(b, 56),
            header_size: u32_at(b, 60),
            checksum: u32_at(b, 64),
            subsystem: u16_at(b, 68),
            dll_characteristics: u16_at(b, 70),
            stack_reserve_size: u64_at(b, 72),
            stack_commit_size: u64_at(b, 80),
            heap_reserve_size: u64_at(b, 88),
            heap_commit_size: u64_at(b, 96),
            loader_flags: u32_at(b, 104),
            num_data_directories: u32_at(b, 108),
            data_directories: dd,
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::SIZE);
        v.extend_from_slice(&self.magic.to_le_bytes());
        v.extend_from_slice(&[self.major_linker_version, self.minor_linker_version]);
        for x in [
            self.code_size,
            self.data_size,
            self.bss_size,
            self.entry_addr,
            self.code_base,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&self.image_base.to_le_bytes());
        v.extend_from_slice(&self.section_alignment.to_le_bytes());
        v.extend_from_slice(&self.file_alignment.to_le_bytes());
        for x in self
            .os_version
            .iter()
            .chain(&self.image_version)
            .chain(&self.subsystem_version)
        {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for x in [
            self.reserved,
            self.image_size,
            self.header_size,
            self.checksum,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&self.subsystem.to_le_bytes());
        v.extend_from_slice(&self.dll_characteristics.to_le_bytes());
        for x in [
            self.stack_reserve_size,
            self.stack_commit_size,
            self.heap_reserve_size,
            self.heap_commit_size,
        ] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&self.loader_flags.to_le_bytes());
        v.extend_from_slice(&self.num_data_directories.to_le_bytes());
        for (rva, size) in self.data_directories {
            v.extend_from_slice(&rva.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
        }
        v
    }
}

/// A section table entry (PE/COFF "Section Table").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionTable {
    pub name: [u8; 8],
    pub virtual_size: u32,
    pub virtual_address: u32,
    pub raw_data_size: u32,
    pub raw_data_offset: u32,
    pub relocations_offset: u32,
    pub line_numbers_offset: u32,
    pub num_relocations: u16,
    pub num_line_numbers: u16,
    pub characteristics: u32,
}

impl SectionTable {
    pub const SIZE: usize = 40;
    pub fn parse(b: &[u8]) -> Self {
        let mut name = [0u8; 8];
        name.copy_from_slice(&b[..8]);
        SectionTable {
            name,
            virtual_size: u32_at(b, 8),
            virtual_address: u32_at(b, 12),
            raw_data_size: u32_at(b, 16),
            raw_data_offset: u32_at(b, 20),
            relocations_offset: u32_at(b, 24),
            line_numbers_offset: u32_at(b, 28),
            num_relocations: u16_at(b, 32),
            num_line_numbers: u16_at(b, 34),
            characteristics: u32_at(b, 36),
        }
    }
    pub fn encode(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..8].copy_from_slice(&self.name);
        b[8..12].copy_from_slice(&self.virtual_size.to_le_bytes());
        b[12..16].copy_from_slice(&self.virtual_address.to_le_bytes());
        b[16..20].copy_from_slice(&self.raw_data_size.to_le_bytes());
        b[20..24].copy_from_slice(&self.raw_data_offset.to_le_bytes());
        b[24..28].copy_from_slice(&self.relocations_offset.to_le_bytes());
        b[28..32].copy_from_slice(&self.line_numbers_offset.to_le_bytes());
        b[32..34].copy_from_slice(&self.num_relocations.to_le_bytes());
        b[34..36].copy_from_slice(&self.num_line_numbers.to_le_bytes());
        b[36..40].copy_from_slice(&self.characteristics.to_le_bytes());
        b
    }
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(c_str(&self.name, 0)).into_owned()
    }
}

// ------------------------------------------------- GRUB's module area ----

/// `GRUB_MODULE_MAGIC` ("mimg"), the first field of `grub_module_info`.
pub const GRUB_MODULE_MAGIC: u32 = 0x676d_696d;

/// `OBJ_TYPE_*` of `grub_module_header` (`include/grub/kernel.h`).
pub const OBJ_TYPE_ELF: u32 = 0;
pub const OBJ_TYPE_MEMDISK: u32 = 1;
pub const OBJ_TYPE_CONFIG: u32 = 2;
pub const OBJ_TYPE_PREFIX: u32 = 3;
pub const OBJ_TYPE_PUBKEY: u32 = 4;
pub const OBJ_TYPE_DTB: u32 = 5;
pub const OBJ_TYPE_DISABLE_SHIM_LOCK: u32 = 6;

/// `struct grub_module_header`: each object of the module area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleHeader {
    pub obj_type: u32,
    /// Size of the object including this header.
    pub size: u32,
}

impl ModuleHeader {
    pub const SIZE: usize = 8;
    pub fn parse(b: &[u8]) -> Self {
        ModuleHeader {
            obj_type: u32_at(b, 0),
            size: u32_at(b, 4),
        }
    }
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.obj_type.to_le_bytes());
        b[4..].copy_from_slice(&self.size.to_le_bytes());
        b
    }
}

/// `struct grub_module_info32` / `grub_module_info64`: the module area's
/// header, right after the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    pub magic: u32,
    pub offset: u64,
    pub size: u64,
}

impl ModuleInfo {
    pub fn size_for(pointer_bytes: u64) -> u64 {
        if pointer_bytes == 8 {
            24
        } else {
            12
        }
    }
    pub fn parse(b: &[u8], pointer_bytes: u64) -> Self {
        if pointer_bytes == 8 {
            ModuleInfo {
                magic: u32_at(b, 0),
                offset: u64_at(b, 8),
                size: u64_at(b, 16),
            }
        } else {
            ModuleInfo {
                magic: u32_at(b, 0),
                offset: u32_at(b, 4) as u64,
                size: u32_at(b, 8) as u64,
            }
        }
    }
    pub fn encode(&self, pointer_bytes: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        v.extend_from_slice(&self.magic.to_le_bytes());
        if pointer_bytes == 8 {
            v.extend_from_slice(&[0; 4]);
            v.extend_from_slice(&self.offset.to_le_bytes());
            v.extend_from_slice(&self.size.to_le_bytes());
        } else {
            v.extend_from_slice(&(self.offset as u32).to_le_bytes());
            v.extend_from_slice(&(self.size as u32).to_le_bytes());
        }
        v
    }
}

// ------------------------------------------------------ i386-pc ----

/// `GRUB_KERNEL_I386_PC_LINK_ADDR`: where `kernel.img` is linked to run.
pub const I386_PC_LINK_ADDR: u64 = 0x9000;
/// `GRUB_DECOMPRESSOR_I386_PC_COMPRESSED_SIZE`: offset in
/// `lzma_decompress.img` of the compressed payload's size.
pub const I386_PC_COMPRESSED_SIZE: usize = 0x08;
/// `GRUB_DECOMPRESSOR_I386_PC_UNCOMPRESSED_SIZE`.
pub const I386_PC_UNCOMPRESSED_SIZE: usize = 0x0c;
/// `GRUB_DECOMPRESSOR_I386_PC_MAX_DECOMPRESSOR_SIZE` (0x9000 - 0x8200).
pub const I386_PC_MAX_DECOMPRESSOR_SIZE: u64 = 0x9000 - 0x8200;
/// `GRUB_BOOT_I386_PC_KERNEL_SEG`: the segment boot.img loads diskboot.img to.
pub const I386_PC_KERNEL_SEG: u16 = 0x800;
/// The highest address core.img may reach (mkimage's 0x78000) and the
/// highest the kernel with its .bss may reach (0x68000).
pub const I386_PC_CORE_LIMIT: u64 = 0x78000;
pub const I386_PC_KERNEL_LIMIT: u64 = 0x68000;

/// `struct grub_pc_bios_boot_blocklist`: the last 12 bytes of
/// `diskboot.img`, saying where the rest of core.img is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootBlocklist {
    pub start: u64,
    pub len: u16,
    pub segment: u16,
}

impl BootBlocklist {
    pub const SIZE: usize = 12;
    pub fn parse(b: &[u8]) -> Self {
        BootBlocklist {
            start: u64_at(b, 0),
            len: u16_at(b, 8),
            segment: u16_at(b, 10),
        }
    }
    pub fn encode(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.start.to_le_bytes());
        b[8..10].copy_from_slice(&self.len.to_le_bytes());
        b[10..12].copy_from_slice(&self.segment.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_round_trip() {
        let h = Ehdr {
            class: ELFCLASS64,
            e_type: ET_REL,
            e_machine: EM_X86_64,
            e_version: 1,
            e_entry: 0,
            e_phoff: 0,
            e_shoff: 0x1234,
            e_flags: 0,
            e_ehsize: 64,
            e_phentsize: 0,
            e_phnum: 0,
            e_shentsize: 64,
            e_shnum: 3,
            e_shstrndx: 2,
        };
        let b = h.encode();
        assert_eq!(b.len(), 64);
        assert_eq!(Ehdr::parse(&b, "t").unwrap(), h);
        let h32 = Ehdr {
            class: ELFCLASS32,
            e_machine: EM_386,
            e_ehsize: 52,
            e_shentsize: 40,
            ..h.clone()
        };
        let b = h32.encode();
        assert_eq!(b.len(), 52);
        assert_eq!(Ehdr::parse(&b, "t").unwrap(), h32);

        for class in [ELFCLASS32, ELFCLASS64] {
            let s = Shdr {
                sh_name: 1,
                sh_type: SHT_RELA,
                sh_flags: 0x40,
                sh_addr: 0,
                sh_offset: 0x100,
                sh_size: 0x30,
                sh_link: 5,
                sh_info: 1,
                sh_addralign: 8,
                sh_entsize: 24,
            };
            let b = s.encode(class);
            assert_eq!(b.len() as u64, Shdr::size(class));
            assert_eq!(Shdr::parse(&b, class), s);
            let y = Sym {
                st_name: 7,
                st_info: 0x12,
                st_other: 0,
                st_shndx: 1,
                st_value: 0x40,
                st_size: 9,
            };
            let b = y.encode(class);
            assert_eq!(b.len() as u64, Sym::size(class));
            assert_eq!(Sym::parse(&b, class), y);
            for addend in [None, Some(-4)] {
                let r = Rela {
                    r_offset: 0x10,
                    r_info: if class == ELFCLASS64 {
                        (3 << 32) | 2
                    } else {
                        (3 << 8) | 2
                    },
                    r_addend: addend,
                };
                let b = r.encode(class);
                assert_eq!(b.len() as u64, Rela::min_size(class, addend.is_some()));
                let p = Rela::parse(&b, class, addend.is_some());
                assert_eq!(p, r);
                assert_eq!((p.sym(class), p.kind(class)), (3, 2));
            }
        }
        let c = CoffHeader {
            machine: IMAGE_FILE_MACHINE_AMD64,
            num_sections: 4,
            time: STABLE_EMBEDDING_TIMESTAMP,
            optional_header_size: 240,
            characteristics: 0x20e,
            ..Default::default()
        };
        assert_eq!(CoffHeader::parse(&c.encode()), c);
        let mut o = Pe64OptionalHeader {
            magic: PE32PLUS_MAGIC,
            image_size: 0xbd000,
            stack_reserve_size: 0x10000,
            ..Default::default()
        };
        o.data_directories[5] = (0xbc000, 0x1000);
        let b = o.encode();
        assert_eq!(b.len(), Pe64OptionalHeader::SIZE);
        assert_eq!(Pe64OptionalHeader::parse(&b), o);
        let s = SectionTable {
            name: *b".text\0\0\0",
            virtual_size: 0xc000,
            ..Default::default()
        };
        assert_eq!(SectionTable::parse(&s.encode()), s);
        assert_eq!(s.name_str(), ".text");
        let m = ModuleInfo {
            magic: GRUB_MODULE_MAGIC,
            offset: 24,
            size: 0x9e490,
        };
        assert_eq!(ModuleInfo::parse(&m.encode(8), 8), m);
        assert_eq!(ModuleInfo::parse(&m.encode(4), 4), m);
        let bl = BootBlocklist {
            start: 2,
            len: 55,
            segment: 0x820,
        };
        assert_eq!(BootBlocklist::parse(&bl.encode()), bl);
    }

    #[test]
    fn bad_elf_is_an_error_naming_the_file() {
        let e = Ehdr::parse(b"MZ\x90\0", "x.mod").unwrap_err().to_string();
        assert!(e.contains("x.mod") && e.contains("not an ELF"), "{e}");
        let e = Ehdr::parse(b"\x7fELF\x02\x01\x01", "y.mod")
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.mod"), "{e}");
    }
}
