//! grub-mkimage on small hand-built kernels and modules: the PE layout,
//! relocations and base relocation blocks, the module area, core.img's
//! fields and payload, archives, and every refusal.

use super::lzma;
use super::raw::*;
use super::*;
use crate::io::source_from_vec;
use crate::Error;
use std::io::Write;

/// A section: (name, sh_type, sh_flags, sh_addr, sh_addralign, data,
/// NOBITS size).
type SectionSpec = (&'static str, u32, u64, u64, u64, Vec<u8>, u64);

/// A minimal ELF: `sections` as (name, type, flags, align, data or NOBITS
/// size), a symbol table and relocations as given. Returns the file.
struct ElfSpec {
    class: u8,
    machine: u16,
    e_type: u16,
    entry: u64,
    sections: Vec<SectionSpec>,
    /// (name, section index (0 = undefined), value)
    symbols: Vec<(&'static str, u16, u64)>,
    /// (target section index, offset, symbol index, type, addend)
    relocs: Vec<(u32, u64, u64, u32, i64)>,
}

fn build_elf(s: &ElfSpec) -> Vec<u8> {
    let class = s.class;
    let ehsize = if class == ELFCLASS64 { 64 } else { 52 };
    let mut body = vec![0u8; ehsize];
    let mut shstr = vec![0u8];
    let mut headers = vec![Shdr::default()];
    let name_of = |shstr: &mut Vec<u8>, n: &str| {
        let at = shstr.len() as u32;
        shstr.extend_from_slice(n.as_bytes());
        shstr.push(0);
        at
    };
    for (name, t, flags, addr, align, data, nobits) in &s.sections {
        while body.len() % 32 != 0 {
            body.push(0);
        }
        let off = body.len() as u64;
        body.extend_from_slice(data);
        headers.push(Shdr {
            sh_name: name_of(&mut shstr, name),
            sh_type: *t,
            sh_flags: *flags,
            sh_addr: *addr,
            sh_offset: off,
            sh_size: if *t == SHT_NOBITS {
                *nobits
            } else {
                data.len() as u64
            },
            sh_addralign: *align,
            ..Default::default()
        });
    }
    if !s.symbols.is_empty() {
        let mut strtab = vec![0u8];
        let mut syms = Sym::default().encode(class);
        for (name, shndx, value) in &s.symbols {
            let at = strtab.len() as u32;
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
            syms.extend(
                Sym {
                    st_name: at,
                    st_info: 0x10,
                    st_shndx: *shndx,
                    st_value: *value,
                    ..Default::default()
                }
                .encode(class),
            );
        }
        let symtab_idx = headers.len() as u32;
        let strtab_idx = symtab_idx + 1;
        let off = body.len() as u64;
        body.extend_from_slice(&syms);
        headers.push(Shdr {
            sh_name: name_of(&mut shstr, ".symtab"),
            sh_type: SHT_SYMTAB,
            sh_offset: off,
            sh_size: syms.len() as u64,
            sh_link: strtab_idx,
            sh_entsize: Sym::size(class),
            sh_addralign: 8,
            ..Default::default()
        });
        let off = body.len() as u64;
        body.extend_from_slice(&strtab);
        headers.push(Shdr {
            sh_name: name_of(&mut shstr, ".strtab"),
            sh_type: 3,
            sh_offset: off,
            sh_size: strtab.len() as u64,
            ..Default::default()
        });
        let mut by_target: std::collections::BTreeMap<u32, Vec<u8>> = Default::default();
        for (target, off, sym, kind, addend) in &s.relocs {
            let info = if class == ELFCLASS64 {
                (sym << 32) | *kind as u64
            } else {
                (sym << 8) | *kind as u64
            };
            by_target.entry(*target).or_default().extend(
                Rela {
                    r_offset: *off,
                    r_info: info,
                    r_addend: Some(*addend),
                }
                .encode(class),
            );
        }
        for (target, data) in by_target {
            let name = format!(".rela{}", s.sections[target as usize - 1].0);
            let off = body.len() as u64;
            body.extend_from_slice(&data);
            headers.push(Shdr {
                sh_name: name_of(&mut shstr, &name),
                sh_type: SHT_RELA,
                sh_offset: off,
                sh_size: data.len() as u64,
                sh_link: symtab_idx,
                sh_info: target,
                sh_entsize: Rela::min_size(class, true),
                sh_addralign: 8,
                ..Default::default()
            });
        }
    }
    let shstrndx = headers.len() as u16;
    let name = name_of(&mut shstr, ".shstrtab");
    let off = body.len() as u64;
    body.extend_from_slice(&shstr);
    headers.push(Shdr {
        sh_name: name,
        sh_type: 3,
        sh_offset: off,
        sh_size: shstr.len() as u64,
        ..Default::default()
    });
    while body.len() % 8 != 0 {
        body.push(0);
    }
    let shoff = body.len() as u64;
    for h in &headers {
        body.extend(h.encode(class));
    }
    let eh = Ehdr {
        class,
        e_type: s.e_type,
        e_machine: s.machine,
        e_version: 1,
        e_entry: s.entry,
        e_phoff: 0,
        e_shoff: shoff,
        e_flags: 0,
        e_ehsize: ehsize as u16,
        e_phentsize: 0,
        e_phnum: 0,
        e_shentsize: Shdr::size(class) as u16,
        e_shnum: headers.len() as u16,
        e_shstrndx: shstrndx,
    };
    body[..ehsize].copy_from_slice(&eh.encode());
    body
}

const AX: u64 = SHF_ALLOC | SHF_EXECINSTR;
const WA: u64 = SHF_ALLOC | 1;

/// An x86_64-efi kernel: .text (0x30 bytes) with an R_X86_64_64 to .data
/// at 0x8 and a PC32 to `_start` at 0x10, .data (0x10 bytes) with an
/// R_X86_64_64 to `_end`, .bss 0x40 bytes.
fn efi_kernel() -> Vec<u8> {
    build_elf(&ElfSpec {
        class: ELFCLASS64,
        machine: EM_X86_64,
        e_type: ET_REL,
        entry: 0,
        sections: vec![
            (".text", SHT_PROGBITS, AX, 0, 16, vec![0; 0x30], 0),
            (".data", SHT_PROGBITS, WA, 0, 32, vec![0; 0x10], 0),
            (".bss", SHT_NOBITS, WA, 0, 32, vec![], 0x40),
        ],
        symbols: vec![("_start", 1, 0x4), ("table", 2, 0x8), ("_end", 0, 0)],
        relocs: vec![
            (1, 0x8, 2, R_X86_64_64, 0),
            (1, 0x10, 1, R_X86_64_PC32, -4),
            (2, 0x0, 3, R_X86_64_64, 0),
        ],
    })
}

fn module(class: u8, machine: u16, tag: u8) -> Vec<u8> {
    build_elf(&ElfSpec {
        class,
        machine,
        e_type: ET_REL,
        entry: 0,
        sections: vec![
            (".text", SHT_PROGBITS, AX, 0, 1, vec![tag; 13], 0),
            (
                ".modname",
                SHT_PROGBITS,
                0,
                0,
                1,
                format!("mod{tag}\0").into_bytes(),
                0,
            ),
        ],
        symbols: vec![],
        relocs: vec![],
    })
}

fn efi_folder() -> Vec<(String, Vec<u8>)> {
    vec![
        ("kernel.img".into(), efi_kernel()),
        (
            "moddep.lst".into(),
            b"fat: fshelp\nfshelp:\nnormal: fat crypto\ncrypto:\n".to_vec(),
        ),
        ("fat.mod".into(), module(ELFCLASS64, EM_X86_64, 1)),
        ("fshelp.mod".into(), module(ELFCLASS64, EM_X86_64, 2)),
        ("normal.mod".into(), module(ELFCLASS64, EM_X86_64, 3)),
        ("crypto.mod".into(), module(ELFCLASS64, EM_X86_64, 4)),
        (
            "modinfo.sh".into(),
            b"grub_modinfo_target_cpu=x86_64\ngrub_modinfo_platform=efi\n".to_vec(),
        ),
    ]
}

fn efi_source() -> ModuleSource {
    ModuleSource::from_bytes("efi-folder", None, efi_folder()).unwrap()
}

/// The module area objects of an image: (type, payload).
fn objects(area: &[u8], pointer: u64) -> Vec<(u32, Vec<u8>)> {
    let info = ModuleInfo::parse(area, pointer);
    assert_eq!(info.magic, GRUB_MODULE_MAGIC);
    let mut off = info.offset as usize;
    let mut out = Vec::new();
    while off < info.size as usize {
        let h = ModuleHeader::parse(&area[off..]);
        out.push((h.obj_type, area[off + 8..off + h.size as usize].to_vec()));
        off += (h.size as usize).div_ceil(pointer as usize) * pointer as usize;
    }
    assert_eq!(off, info.size as usize);
    out
}

#[test]
fn efi_image_layout_relocations_and_modules() {
    let src = efi_source();
    assert_eq!(src.platform(), Platform::X86_64Efi);
    let mut opts = MkimageOptions::new(Platform::X86_64Efi, "/EFI/BOOT", vec!["normal".into()]);
    opts.config = Some(b"set a=b".to_vec());
    opts.memdisk = Some(vec![0xaa; 700]);
    let pe = mkimage(&src, &opts).unwrap();

    assert_eq!(pe[..0x80], MSDOS_STUB);
    assert_eq!(&pe[0x80..0x84], b"PE\0\0");
    let coff = CoffHeader::parse(&pe[0x84..]);
    assert_eq!(
        (coff.machine, coff.num_sections, coff.characteristics),
        (0x8664, 4, 0x20e)
    );
    let opt = Pe64OptionalHeader::parse(&pe[0x98..]);
    let secs: Vec<SectionTable> = (0..4)
        .map(|i| SectionTable::parse(&pe[0x188 + 40 * i..]))
        .collect();
    let names: Vec<String> = secs.iter().map(SectionTable::name_str).collect();
    assert_eq!(names, [".text", ".data", "mods", ".reloc"]);
    // .text: one page at RVA 0x1000; .data holds .data and .bss (kernel
    // size rounded to a page); start = _start + 0x1000.
    assert_eq!(
        (secs[0].virtual_address, secs[0].virtual_size),
        (0x1000, 0x1000)
    );
    assert_eq!(
        (secs[1].virtual_address, secs[1].virtual_size),
        (0x2000, 0x1000)
    );
    assert_eq!(opt.entry_addr, 0x1004);
    assert_eq!(opt.image_size as usize, pe.len());
    assert_eq!(pe.len() % 0x1000, 0);

    // Relocations: .text+8 holds table's address (0x2008), .text+0x10 the
    // PC-relative distance to _start, .data+0 holds _end (the layout's end,
    // without the header offset, as GRUB does).
    let text = &pe[0x1000..0x2000];
    assert_eq!(u64_at(text, 8), 0x2008);
    assert_eq!(u32_at(text, 0x10) as i32, 0x1004 - 4 - (0x1000 + 0x10));
    let data = &pe[0x2000..0x3000];
    assert_eq!(u64_at(data, 0), 0x2000);
    // .reloc: two blocks (pages 0x1000 and 0x2000), the first padded to 8
    // bytes, the last padded so the table ends on a page.
    let r = &pe[secs[3].raw_data_offset as usize..];
    assert_eq!((u32_at(r, 0), u32_at(r, 4)), (0x1000, 16));
    assert_eq!(u16_at(r, 8), 0xa008);
    assert_eq!(u16_at(r, 10), 0);
    assert_eq!(u32_at(r, 16), 0x2000);
    assert_eq!(u32_at(r, 20) as usize + 16, 0x1000);
    assert_eq!(u16_at(r, 24), 0xa000);
    assert_eq!(opt.data_directories[5], (secs[3].virtual_address, 0x1000));

    // The module area: modules in GRUB's order, memdisk padded to 512,
    // config NUL-terminated, prefix last.
    let kernel_end = 0x1000 + 0x2000;
    let objs = objects(&pe[kernel_end..], 8);
    let types: Vec<u32> = objs.iter().map(|o| o.0).collect();
    assert_eq!(types, [0, 0, 0, 0, 1, 2, 3]);
    let tags: Vec<u8> = objs[..4].iter().map(|o| o.1[0x40]).collect();
    assert_eq!(tags, [4, 2, 1, 3], "crypto, fshelp, fat, normal");
    assert_eq!(objs[4].1.len(), 1024);
    assert_eq!(&objs[5].1[..8], b"set a=b\0");
    assert_eq!(&objs[6].1[..10], b"/EFI/BOOT\0");
    // Same inputs, same bytes.
    assert_eq!(mkimage(&src, &opts).unwrap(), pe);
    // Read back as inspect does.
    let g = info::read(&pe).unwrap().unwrap();
    assert_eq!(g.target, "x86_64-efi");
    assert_eq!(g.prefix.as_deref(), Some("/EFI/BOOT"));
    assert_eq!(g.modules, ["mod4", "mod2", "mod1", "mod3"]);
    assert_eq!(g.config.as_deref(), Some("set a=b"));
    assert_eq!(g.memdisk_size, Some(1024));
}

fn pc_folder() -> Vec<(String, Vec<u8>)> {
    let kernel = build_elf(&ElfSpec {
        class: ELFCLASS32,
        machine: EM_386,
        e_type: ET_EXEC,
        entry: 0x9000,
        sections: vec![
            (
                ".text",
                SHT_PROGBITS,
                AX,
                0x9000,
                1,
                (0..0x300).map(|i| i as u8).collect(),
                0,
            ),
            (".data", SHT_PROGBITS, WA, 0x9320, 32, vec![7; 0x20], 0),
            (".bss", SHT_NOBITS, WA, 0x9340, 32, vec![], 0x100),
        ],
        symbols: vec![],
        relocs: vec![],
    });
    let mut diskboot = vec![0u8; 512];
    diskboot[510..512].copy_from_slice(&0x820u16.to_le_bytes());
    vec![
        ("kernel.img".into(), kernel),
        ("moddep.lst".into(), b"biosdisk:\n".to_vec()),
        ("biosdisk.mod".into(), module(ELFCLASS32, EM_386, 9)),
        ("lzma_decompress.img".into(), vec![0xdd; 100]),
        ("diskboot.img".into(), diskboot),
        ("boot.img".into(), vec![0xbb; 512]),
    ]
}

#[test]
fn i386_pc_core_img_fields_and_payload() {
    let src = ModuleSource::from_bytes("pc", Some("i386-pc"), pc_folder()).unwrap();
    assert_eq!(src.platform(), Platform::I386Pc);
    assert_eq!(src.file("boot.img").unwrap(), vec![0xbb; 512]);
    let opts = MkimageOptions::new(Platform::I386Pc, "(hd0)/boot/grub", vec!["biosdisk".into()]);
    let core = mkimage(&src, &opts).unwrap();
    let dec = &core[512..612];
    let csize = u32_at(dec, 8) as usize;
    let usize_ = u32_at(dec, 12) as usize;
    assert_eq!(512 + 100 + csize, core.len());
    assert_eq!(u16_at(&core, 508) as usize, (100 + csize).div_ceil(512));
    let mut with_header = vec![lzma::PROPS_BYTE];
    with_header.extend_from_slice(&lzma::DICT_SIZE.to_le_bytes());
    with_header.extend_from_slice(&(usize_ as u64).to_le_bytes());
    with_header.extend_from_slice(&core[612..]);
    let mut payload = Vec::new();
    lzma_rs::lzma_decompress(&mut &with_header[..], &mut payload).unwrap();
    // .text at 0, .data at 0x320, kernel ends at 0x340 (no .bss), then
    // the 32-bit module info and the objects.
    assert_eq!(
        payload[..0x300],
        (0..0x300).map(|i| i as u8).collect::<Vec<_>>()[..]
    );
    assert_eq!(payload[0x320..0x340], [7; 0x20]);
    let objs = objects(&payload[0x340..], 4);
    assert_eq!(objs.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 3]);
    assert_eq!(&objs[1].1[..16], b"(hd0)/boot/grub\0");
    let g = info::read(&core).unwrap().unwrap();
    assert_eq!(
        (g.target.as_str(), g.modules.as_slice()),
        ("i386-pc", &["mod9".to_string()][..])
    );
    assert_eq!(g.prefix.as_deref(), Some("(hd0)/boot/grub"));
    // Not GRUB images: no answer, no error, no panic on damaged ones.
    assert_eq!(info::read(&vec![0u8; 4096]).unwrap(), None);
    let mut rng = crate::testutil::XorShift(3);
    for _ in 0..200 {
        let mut c = core.clone();
        for _ in 0..3 {
            let i = rng.below(c.len() as u64) as usize;
            c[i] = rng.next() as u8;
        }
        let _ = info::read(&c);
        c.truncate(rng.below(c.len() as u64) as usize);
        let _ = info::read(&c);
    }
}

#[test]
fn refusals_name_the_problem() {
    let msg = |files: Vec<(String, Vec<u8>)>, mods: &[&str]| -> String {
        let src = ModuleSource::from_bytes("f", None, files).unwrap();
        let opts = MkimageOptions::new(
            Platform::X86_64Efi,
            "/",
            mods.iter().map(|s| s.to_string()).collect(),
        );
        mkimage(&src, &opts).unwrap_err().to_string()
    };
    let without = |name: &str| {
        efi_folder()
            .into_iter()
            .filter(|(n, _)| n != name)
            .collect()
    };
    let e = msg(without("fshelp.mod"), &["normal"]);
    assert!(
        e.contains("module `fshelp`") && e.contains("needed by module `fat`"),
        "{e}"
    );
    let e = msg(efi_folder(), &["nosuch"]);
    assert!(e.contains("`nosuch`") && e.contains("command line"), "{e}");
    let mut f = without("fat.mod");
    f.push(("fat.mod".into(), b"#!/bin/sh\n".to_vec()));
    let e = msg(f, &["fat"]);
    assert!(
        e.contains("fat.mod") && e.contains("not a GRUB module"),
        "{e}"
    );
    let mut f = without("fat.mod");
    f.push(("fat.mod".into(), module(ELFCLASS32, EM_386, 1)));
    let e = msg(f, &["fat"]);
    assert!(
        e.contains("fat.mod") && e.contains("another machine"),
        "{e}"
    );
    // A folder for i386-pc used with -O x86_64-efi.
    let pc = ModuleSource::from_bytes("pcdir", None, pc_folder()).unwrap();
    let e = mkimage(&pc, &MkimageOptions::new(Platform::X86_64Efi, "/", vec![]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("i386-pc") && e.contains("x86_64-efi") && e.contains("pcdir"),
        "{e}"
    );
    // Truncated and hostile kernels are errors, not panics.
    let k = efi_kernel();
    for cut in [10, 64, k.len() / 2, k.len() - 1] {
        let mut f = without("kernel.img");
        f.push(("kernel.img".into(), k[..cut].to_vec()));
        let src = ModuleSource::from_bytes("f", Some("x86_64-efi"), f).unwrap();
        let opts = MkimageOptions::new(Platform::X86_64Efi, "/", vec![]);
        assert!(mkimage(&src, &opts).is_err(), "cut at {cut}");
    }
    let mut rng = crate::testutil::XorShift(7);
    for _ in 0..300 {
        let mut k = efi_kernel();
        for _ in 0..4 {
            let i = rng.below(k.len() as u64) as usize;
            k[i] = rng.next() as u8;
        }
        let mut f = without("kernel.img");
        f.push(("kernel.img".into(), k));
        if let Ok(src) = ModuleSource::from_bytes("f", None, f) {
            let _ = mkimage(
                &src,
                &MkimageOptions::new(Platform::X86_64Efi, "/", vec!["fat".into()]),
            );
        }
    }
}

fn tar_of(files: &[(String, Vec<u8>)], dir: &str) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (n, d) in files {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, format!("{dir}{n}"), &d[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut v = b"!<arch>\n".to_vec();
    for (name, data) in members {
        v.extend(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                100644,
                data.len()
            )
            .bytes(),
        );
        v.extend_from_slice(data);
        if data.len() % 2 == 1 {
            v.push(b'\n');
        }
    }
    v
}

fn gz(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

#[test]
fn archives_give_the_same_image() {
    let opts = MkimageOptions::new(Platform::X86_64Efi, "/EFI/BOOT", vec!["normal".into()]);
    let want = mkimage(&efi_source(), &opts).unwrap();
    let folder = efi_folder();
    let deb = ar(&[
        ("debian-binary", b"2.0\n".to_vec()),
        (
            "control.tar.gz",
            gz(&tar_of(
                &[("control".into(), b"Package: x\n".to_vec())],
                "./",
            )),
        ),
        (
            "data.tar.gz",
            gz(&tar_of(&folder, "./usr/lib/grub/x86_64-efi/")),
        ),
    ]);
    for bytes in [
        tar_of(&folder, ""),
        gz(&tar_of(&folder, "x86_64-efi/")),
        deb,
    ] {
        let src =
            ModuleSource::from_archive(source_from_vec(bytes), Some(Platform::X86_64Efi)).unwrap();
        assert_eq!(mkimage(&src, &opts).unwrap(), want);
    }
    // Two platforms in one tar: -O picks one, none is an error naming both.
    let mut both = folder
        .iter()
        .map(|(n, d)| (format!("x86_64-efi/{n}"), d.clone()))
        .collect::<Vec<_>>();
    both.extend(
        pc_folder()
            .into_iter()
            .map(|(n, d)| (format!("i386-pc/{n}"), d)),
    );
    let t = tar_of(&both, "");
    let src =
        ModuleSource::from_archive(source_from_vec(t.clone()), Some(Platform::I386Pc)).unwrap();
    assert_eq!(src.platform(), Platform::I386Pc);
    let e = ModuleSource::from_archive(source_from_vec(t), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("i386-pc") && e.contains("x86_64-efi"), "{e}");
    // A package without GRUB modules; bytes that are no archive.
    let deb = ar(&[
        ("debian-binary", b"2.0\n".to_vec()),
        (
            "data.tar.gz",
            gz(&tar_of(
                &[("README".into(), b"hi".to_vec())],
                "./usr/share/doc/x/",
            )),
        ),
    ]);
    let e = ModuleSource::from_archive(source_from_vec(deb), None).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }));
    assert!(
        e.to_string()
            .contains("Debian package without GRUB modules"),
        "{e}"
    );
    let e = ModuleSource::from_archive_bytes("junk.bin", vec![3u8; 2000], None).unwrap_err();
    assert!(e.to_string().contains("not a GRUB module folder"), "{e}");
    assert!(e.to_string().contains("junk.bin"), "{e}");
}

#[test]
fn lzma_codes_every_distance_slot() {
    // Repeats at distances 1 .. 64 KiB (every position slot) and lengths
    // 2 .. 273 (every length coder range).
    let mut rng = crate::testutil::XorShift(99);
    let mut data: Vec<u8> = (0..70_000).map(|_| rng.next() as u8).collect();
    let mut pos = 1000;
    let mut dist = 1usize;
    while pos + 300 < data.len() {
        let len = 2 + (rng.below(272) as usize);
        if dist <= pos {
            for k in 0..len {
                data[pos + k] = data[pos + k - dist];
            }
        }
        pos += len + rng.below(40) as usize;
        dist = (dist * 3 / 2 + 1) % 65_536 + 1;
    }
    let c = lzma::compress(&data);
    let mut with_header = vec![lzma::PROPS_BYTE];
    with_header.extend_from_slice(&lzma::DICT_SIZE.to_le_bytes());
    with_header.extend_from_slice(&(data.len() as u64).to_le_bytes());
    with_header.extend_from_slice(&c);
    let mut out = Vec::new();
    lzma_rs::lzma_decompress(&mut &with_header[..], &mut out).unwrap();
    assert!(out == data);
}
