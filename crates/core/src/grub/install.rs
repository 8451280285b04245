//! `grub-install` into a disk image: the habits of GRUB's grub-install on a
//! [`Disk`] (a raw or qcow2 image opened for editing in place), without a
//! loop device or root.
//!
//! - `x86_64-efi`: `BOOTX64.EFI` at the removable-media path
//!   `/EFI/BOOT/BOOTX64.EFI` of the EFI System Partition (FAT), its prefix
//!   the boot directory; UEFI firmware finds it without an NVRAM entry.
//! - `i386-pc`: `boot.img` into the first sector and `core.img` into the BIOS
//!   boot partition (GPT) or the gap after the MBR ([`super::embed`]), its
//!   prefix `(,gptN)/dir` or `(,msdosN)/dir`: the partition on the drive the
//!   BIOS booted from.
//!
//! The boot directory (where `grub.cfg` is) is `/EFI/BOOT` on the ESP when
//! there is one, for both targets, so one `grub.cfg` serves BIOS and UEFI;
//! else `/boot/grub` on the first partition holding a filesystem GRUB reads
//! (FAT, ext2/3/4). The images themselves come from an [`Images`] maker
//! (grub-mkimage's job); the modules GRUB needs to read the boot directory
//! and boot Linux are built in, so nothing is loaded from the disk but
//! `grub.cfg`.
//!
//! Nothing is written to the image here: the changes are writes to the
//! [`Disk`], made only after every check passed; the caller writes the
//! disk's changed extents into the file.

use super::embed;
use super::{mkimage, MkimageOptions, ModuleSource, Platform};
use crate::fat::edit::Editor;
use crate::gpt::edit::{load, Table};
use crate::gpt::Guid;
use crate::io::SubRange;
use crate::{BuildContext, Disk, Error, Result};

/// The modules built into the image by default: the disk, partition and
/// filesystem drivers to find the boot directory (grub-install's choice),
/// and what a `grub.cfg` needs to boot Linux without loading modules from
/// the disk.
pub fn default_modules(p: Platform) -> &'static [&'static str] {
    match p {
        Platform::X86_64Efi => &[
            "part_gpt",
            "part_msdos",
            "fat",
            "ext2",
            "normal",
            "configfile",
            "linux",
            "echo",
            "search",
            "search_fs_uuid",
            "search_label",
            "test",
            "ls",
            "cat",
            "reboot",
            "halt",
            "serial",
            "terminal",
            "gzio",
        ],
        Platform::I386Pc => &[
            "biosdisk",
            "part_gpt",
            "part_msdos",
            "fat",
            "ext2",
            "normal",
            "configfile",
            "linux",
            "echo",
            "search",
            "search_fs_uuid",
            "search_label",
            "test",
            "ls",
            "cat",
            "reboot",
            "halt",
            "serial",
            "terminal",
            "gzio",
        ],
    }
}

/// What the installer asks an [`Images`] maker for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRequest {
    /// The platform of the image.
    pub target: Platform,
    /// grub-mkimage's `-p`: where GRUB looks for `grub.cfg`.
    pub prefix: String,
    /// The modules built into the image (grub-mkimage's module list).
    pub modules: Vec<String>,
}

/// Makes GRUB's images for one platform: [`mkimage`] over a
/// [`ModuleSource`].
pub trait Images {
    /// BOOTX64.EFI (x86_64-efi) or core.img (i386-pc).
    fn make(&self, req: &ImageRequest) -> Result<Vec<u8>>;
    /// A file of the platform's folder (`boot.img`).
    fn file(&self, name: &str) -> Result<Vec<u8>>;
    /// True if the platform has `module` (Debian's `linuxefi`).
    fn has_module(&self, module: &str) -> bool;
    /// The files grub-install copies into `BOOTDIR/PLATFORM/`: every
    /// `*.mod` and `*.lst`, or with `only` those modules (and what they
    /// need) and the `*.lst` files.
    fn module_files(&self, only: Option<&[String]>) -> Result<Vec<(String, Vec<u8>)>> {
        let _ = only;
        Ok(Vec::new())
    }
}

impl Images for ModuleSource {
    fn make(&self, req: &ImageRequest) -> Result<Vec<u8>> {
        if self.platform() != req.target {
            return Err(Error::invalid(
                "--directory",
                format!(
                    "{} holds {} modules, not {}",
                    self.name(),
                    self.platform().name(),
                    req.target.name()
                ),
            ));
        }
        mkimage(
            self,
            &MkimageOptions::new(req.target, req.prefix.clone(), req.modules.clone()),
        )
    }
    fn file(&self, name: &str) -> Result<Vec<u8>> {
        self.read(name)
    }
    fn has_module(&self, module: &str) -> bool {
        self.contains(&format!("{module}.mod"))
    }
    fn module_files(&self, only: Option<&[String]>) -> Result<Vec<(String, Vec<u8>)>> {
        let mut names: Vec<String> = match only {
            None => self
                .names()
                .filter(|n| n.ends_with(".mod"))
                .map(str::to_string)
                .collect(),
            Some(list) => {
                let deps = super::moddep::ModDeps::parse(&self.read("moddep.lst")?, self.name())?;
                deps.resolve(list)?.into_iter().map(|r| r.file).collect()
            }
        };
        names.extend(
            self.names()
                .filter(|n| n.ends_with(".lst"))
                .map(str::to_string),
        );
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|n| Ok((n.clone(), self.read(&n)?)))
            .collect()
    }
}

/// How to install (grub-install's options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// `--target`.
    pub target: Platform,
    /// Modules built in besides [`Platform::default_modules`].
    pub modules: Vec<String>,
    /// `--boot-directory`: `/path` on the default filesystem, or `N:/path`
    /// on partition N.
    pub boot_directory: Option<String>,
    /// `grub.cfg` to write into the boot directory; `None` leaves one there
    /// as it is.
    pub config: Option<Vec<u8>>,
    /// Modules copied into `BOOTDIR/PLATFORM/` for `insmod` at run time
    /// (grub-install's `--install-modules`): `None` all of them, a list
    /// those and what they need, an empty list none.
    pub install_modules: Option<Vec<String>>,
}

/// What [`install`] did, in lines for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// What was written, one line each.
    pub done: Vec<String>,
    /// Notes for the user (what was left as it was, and why).
    pub notes: Vec<String>,
}

/// A partition as the installer sees it.
#[derive(Clone, Debug)]
struct Part {
    number: u32,
    offset: u64,
    len: u64,
    esp: bool,
}

const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

fn partitions(table: &Table) -> (Vec<Part>, &'static str) {
    match table {
        Table::Gpt(g) => {
            let esp = Guid::parse(ESP_GUID).unwrap_or_default();
            let ss = g.sector_size;
            (
                g.partitions
                    .iter()
                    .map(|p| Part {
                        number: p.number,
                        offset: p.first_lba * ss,
                        len: p.sectors() * ss,
                        esp: p.type_guid == esp,
                    })
                    .collect(),
                "gpt",
            )
        }
        Table::Mbr(m) => (
            m.partitions
                .iter()
                .filter(|p| !p.is_extended())
                .map(|p| Part {
                    number: p.number,
                    offset: p.first_lba * m.sector_size,
                    len: p.sectors * m.sector_size,
                    esp: p.os_type == 0xEF,
                })
                .collect(),
            "msdos",
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fs {
    Fat,
    Ext,
}

fn probe(disk: &Disk, p: &Part) -> Option<Fs> {
    let sub = SubRange::new(disk, p.offset, p.len).ok()?;
    if crate::fat::read::probe(&sub) {
        Some(Fs::Fat)
    } else if crate::ext4::read::probe(&sub) {
        Some(Fs::Ext)
    } else {
        None
    }
}

fn describe(p: &Part) -> String {
    if p.esp {
        format!("ESP (partition {})", p.number)
    } else {
        format!("partition {}", p.number)
    }
}

/// Checks a path inside a filesystem: absolute, no `.`/`..`, no empty parts.
fn check_path(key: &str, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(Error::invalid(
            key,
            format!("'{path}' is not an absolute path"),
        ));
    }
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(Error::invalid(key, format!("'{path}' has . or .. in it")));
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '(' || c == ')' || c == ' ')
    {
        return Err(Error::invalid(
            key,
            format!("'{path}' has a character GRUB's prefix cannot hold"),
        ));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Installs GRUB for `opts.target` onto `disk`; see the module
/// documentation. Every check (partition table, ESP, embedding area, image
/// sizes, free space) comes before the first write to `disk`.
pub fn install(
    disk: &mut Disk,
    opts: &InstallOptions,
    images: &dyn Images,
    ctx: &BuildContext,
) -> Result<Installed> {
    let mut out = Installed::default();
    let table = load(disk, &mut out.notes)?.ok_or_else(|| {
        Error::invalid(
            "image",
            "has no GPT or MBR partition table (GRUB is installed into a partitioned disk)",
        )
    })?;
    let (parts, scheme) = partitions(&table);
    let esp = parts.iter().find(|p| p.esp).cloned();

    // Where grub.cfg is.
    let (boot_part, boot_dir) = match &opts.boot_directory {
        Some(spec) => {
            let (part, path) = match spec.split_once(':') {
                Some((n, path)) => {
                    let n: u32 = n.parse().map_err(|_| {
                        Error::invalid(
                            "--boot-directory",
                            format!("'{spec}': expected /PATH or N:/PATH (N a partition number)"),
                        )
                    })?;
                    let p = parts.iter().find(|p| p.number == n).cloned().ok_or_else(|| {
                        Error::invalid(
                            "--boot-directory",
                            format!(
                                "the prefix names partition {n}, which does not exist on this disk (partitions: {})",
                                parts
                                    .iter()
                                    .map(|p| p.number.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                    (Some(p), path)
                }
                None => (None, spec.as_str()),
            };
            (part, check_path("--boot-directory", path)?)
        }
        None => (
            None,
            if esp.is_some() {
                "/EFI/BOOT"
            } else {
                "/boot/grub"
            }
            .to_string(),
        ),
    };
    let boot_part = match boot_part {
        Some(p) => p,
        None => match &esp {
            Some(e) => e.clone(),
            None => parts
                .iter()
                .find(|p| probe(disk, p).is_some())
                .cloned()
                .ok_or_else(|| {
                    Error::invalid(
                        "--boot-directory",
                        "no partition holds a filesystem GRUB reads (FAT, ext2/3/4) for the boot directory",
                    )
                })?,
        },
    };
    let boot_fs = probe(disk, &boot_part).ok_or_else(|| {
        Error::invalid(
            "--boot-directory",
            format!(
                "{} holds no filesystem GRUB reads (FAT, ext2/3/4)",
                describe(&boot_part)
            ),
        )
    })?;
    if opts.config.is_some() && boot_fs != Fs::Fat {
        return Err(Error::unsupported(
            "grub",
            format!(
                "writing grub.cfg into the ext4 filesystem of {} in place; put the boot directory on a FAT partition (the ESP)",
                describe(&boot_part)
            ),
        ));
    }

    let mut modules: Vec<String> = Vec::new();
    for m in default_modules(opts.target)
        .iter()
        .map(|s| s.to_string())
        .chain(
            (opts.target == Platform::X86_64Efi && images.has_module("linuxefi"))
                .then(|| "linuxefi".to_string()),
        )
        .chain(opts.modules.iter().cloned())
    {
        if !modules.contains(&m) {
            modules.push(m);
        }
    }

    // FAT edits, by partition number: (partition, path, bytes).
    let mut files: Vec<(Part, String, Vec<u8>)> = Vec::new();
    match opts.target {
        Platform::X86_64Efi => {
            let esp = esp.clone().ok_or_else(|| {
                Error::invalid(
                    "--target=x86_64-efi",
                    "this disk has no EFI System Partition (type EF00)",
                )
            })?;
            if probe(disk, &esp) != Some(Fs::Fat) {
                return Err(Error::invalid(
                    "--target=x86_64-efi",
                    format!("{} holds no FAT filesystem", describe(&esp)),
                ));
            }
            let prefix = if boot_part.number == esp.number {
                boot_dir.clone()
            } else {
                format!("(,{scheme}{}){boot_dir}", boot_part.number)
            };
            let image = images.make(&ImageRequest {
                target: opts.target,
                prefix: prefix.clone(),
                modules: modules.clone(),
            })?;
            out.done.push(format!(
                "/EFI/BOOT/BOOTX64.EFI on {} ({} bytes, prefix {prefix})",
                describe(&esp),
                image.len()
            ));
            files.push((esp, "/EFI/BOOT/BOOTX64.EFI".into(), image));
        }
        Platform::I386Pc => {
            let area = embed::area(&table)?;
            let prefix = format!("(,{scheme}{}){boot_dir}", boot_part.number);
            let core = images.make(&ImageRequest {
                target: opts.target,
                prefix: prefix.clone(),
                modules: modules.clone(),
            })?;
            let boot = images.file("boot.img")?;
            embed::check(&area, &boot, &core)?;
            out.done.push(format!(
                "boot.img into the MBR, core.img ({} bytes, prefix {prefix}) into {}",
                core.len(),
                area.name
            ));
            // The FAT edits below are checked before the embedding writes.
            let files = boot_dir_files(&boot_part, &boot_dir, boot_fs, opts, images, &mut out)?;
            let patches = fat_patches(disk, &files, ctx)?;
            embed::setup(disk, &table, &boot, &core)?;
            apply(disk, patches)?;
            finish_notes(disk, &boot_part, &boot_dir, boot_fs, opts, ctx, &mut out)?;
            return Ok(out);
        }
    }
    files.extend(boot_dir_files(
        &boot_part, &boot_dir, boot_fs, opts, images, &mut out,
    )?);
    let patches = fat_patches(disk, &files, ctx)?;
    apply(disk, patches)?;
    finish_notes(disk, &boot_part, &boot_dir, boot_fs, opts, ctx, &mut out)?;
    Ok(out)
}

/// grub.cfg (with `--config`) and the module files for the boot
/// directory, when it is on FAT (ext4 is not written in place: a note).
fn boot_dir_files(
    boot_part: &Part,
    boot_dir: &str,
    boot_fs: Fs,
    opts: &InstallOptions,
    images: &dyn Images,
    out: &mut Installed,
) -> Result<Vec<(Part, String, Vec<u8>)>> {
    let dir = boot_dir.trim_end_matches('/');
    let mut files = Vec::new();
    if let Some(cfg) = &opts.config {
        files.push((boot_part.clone(), format!("{dir}/grub.cfg"), cfg.clone()));
    }
    let copy = match &opts.install_modules {
        Some(l) if l.is_empty() => None,
        Some(l) => Some(Some(l.as_slice())),
        None => Some(None),
    };
    if let Some(only) = copy {
        if boot_fs == Fs::Fat {
            let mods = images.module_files(only)?;
            let bytes: usize = mods.iter().map(|m| m.1.len()).sum();
            if !mods.is_empty() {
                out.done.push(format!(
                    "{} module files ({bytes} bytes) into {dir}/{}/",
                    mods.len(),
                    opts.target.name()
                ));
            }
            for (name, data) in mods {
                files.push((
                    boot_part.clone(),
                    format!("{dir}/{}/{name}", opts.target.name()),
                    data,
                ));
            }
        } else {
            out.notes.push(format!(
                "modules not copied into {dir}/{} on {}: imgforge does not write ext4 in place (the image holds the modules it needs)",
                opts.target.name(),
                describe(boot_part)
            ));
        }
    }
    Ok(files)
}

/// The byte patches (disk offsets) of writing `files` into their FAT
/// partitions, one edit per partition.
fn fat_patches(
    disk: &Disk,
    files: &[(Part, String, Vec<u8>)],
    ctx: &BuildContext,
) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut numbers: Vec<u32> = files.iter().map(|f| f.0.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    for n in numbers {
        let Some(part) = files.iter().find(|f| f.0.number == n).map(|f| f.0.clone()) else {
            continue;
        };
        let sub = SubRange::new(disk, part.offset, part.len)?;
        let mut ed = Editor::open(&sub, &describe(&part), ctx.epoch)?;
        for (_, path, bytes) in files.iter().filter(|f| f.0.number == n) {
            ed.write_file(path, bytes)?;
        }
        out.extend(ed.finish()?.into_iter().map(|(o, b)| (part.offset + o, b)));
    }
    Ok(out)
}

fn apply(disk: &mut Disk, patches: Vec<(u64, Vec<u8>)>) -> Result<()> {
    for (o, b) in patches {
        disk.write_vec(o, b)?;
    }
    Ok(())
}

fn finish_notes(
    disk: &Disk,
    boot_part: &Part,
    boot_dir: &str,
    boot_fs: Fs,
    opts: &InstallOptions,
    ctx: &BuildContext,
    out: &mut Installed,
) -> Result<()> {
    let cfg = format!("{}/grub.cfg", boot_dir.trim_end_matches('/'));
    if opts.config.is_some() {
        out.done.push(format!("{cfg} on {}", describe(boot_part)));
    } else if boot_fs == Fs::Fat {
        let sub = SubRange::new(disk, boot_part.offset, boot_part.len)?;
        let mut ed = Editor::open(&sub, &describe(boot_part), ctx.epoch)?;
        if !ed.exists(&cfg)? {
            out.notes.push(format!(
                "no {cfg} on {}: GRUB will stop at its prompt (give one with --config)",
                describe(boot_part)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ReadAt;

    /// Images as grub-mkimage would make them, but small and recognisable:
    /// the prefix, then filler; boot.img is 0xB0 bytes with 0x55AA.
    struct Fake;
    impl Images for Fake {
        fn make(&self, req: &ImageRequest) -> Result<Vec<u8>> {
            let mut v = req.prefix.as_bytes().to_vec();
            v.resize(40_000, 0xC0);
            // diskboot.img's empty blocklist at the end of the first sector.
            v[476..512].fill(0);
            Ok(v)
        }
        fn file(&self, name: &str) -> Result<Vec<u8>> {
            assert_eq!(name, "boot.img");
            let mut b = vec![0xB0u8; 512];
            b[510] = 0x55;
            b[511] = 0xAA;
            Ok(b)
        }
        fn has_module(&self, _: &str) -> bool {
            false
        }
    }

    /// A 64 MiB GPT disk: `parts` as sgdisk options; partition `esp` gets
    /// a FAT16 volume.
    fn disk(parts: &[&str], esp: Option<u32>) -> Disk {
        let mut d = Disk::new(64 << 20);
        let mut args = vec!["--clear".to_string()];
        args.extend(parts.iter().map(|s| s.to_string()));
        // The sgdisk argv parser lives in the CLI; these tests only need
        // `--clear`, `--new=N:S:E` and `--typecode=N:CODE`.
        let mut script = crate::gpt::edit::Script::default();
        for a in &args {
            use crate::gpt::edit::Op;
            if a == "--clear" {
                script.ops.push(Op::Clear);
            } else if let Some(v) = a.strip_prefix("--new=") {
                let f: Vec<&str> = v.split(':').collect();
                script.ops.push(Op::New {
                    number: f[0].parse().unwrap(),
                    start: crate::size::parse_position(f[1], "start").unwrap(),
                    end: crate::size::parse_position(f[2], "end").unwrap(),
                });
            } else if let Some(v) = a.strip_prefix("--typecode=") {
                let (n, code) = v.split_once(':').unwrap();
                script.ops.push(Op::TypeCode {
                    number: n.parse().unwrap(),
                    code: code.to_string(),
                });
            } else {
                panic!("test helper: unknown option {a}");
            }
        }
        crate::gpt::edit::apply(&mut d, &script, &BuildContext::default()).unwrap();
        if let Some(n) = esp {
            let t = load(&d, &mut Vec::new()).unwrap().unwrap();
            let (ps, _) = partitions(&t);
            let p = ps.iter().find(|p| p.number == n).unwrap();
            let opts = crate::fat::FatOptions {
                size: Some(p.len),
                ..Default::default()
            };
            let fat =
                crate::fat::build(&crate::tree::Tree::new(0), &opts, &BuildContext::default())
                    .unwrap();
            d.embed(p.offset, &fat).unwrap();
        }
        d
    }

    fn opts(target: Platform) -> InstallOptions {
        InstallOptions {
            target,
            modules: Vec::new(),
            boot_directory: None,
            config: Some(b"set timeout=0\n".to_vec()),
            install_modules: None,
        }
    }

    #[test]
    fn hybrid_install_in_memory() {
        let mut d = disk(
            &[
                "--new=1:0:+1M",
                "--typecode=1:ef02",
                "--new=2:0:0",
                "--typecode=2:ef00",
            ],
            Some(2),
        );
        let ctx = BuildContext::default();
        install(&mut d, &opts(Platform::I386Pc), &Fake, &ctx).unwrap();
        install(&mut d, &opts(Platform::X86_64Efi), &Fake, &ctx).unwrap();
        let mut s0 = [0u8; 512];
        d.read_at(0, &mut s0).unwrap();
        assert_eq!(
            &s0[embed::KERNEL_SECTOR..embed::KERNEL_SECTOR + 8],
            &2048u64.to_le_bytes()
        );
        // The protective MBR's table stays.
        assert_eq!(s0[0x1c2], 0xEE);
        let mut core = vec![0u8; 16];
        d.read_at(2048 * 512, &mut core).unwrap();
        assert_eq!(&core, b"(,gpt2)/EFI/BOOT");
        let t = load(&d, &mut Vec::new()).unwrap().unwrap();
        let (ps, _) = partitions(&t);
        let esp = ps.iter().find(|p| p.esp).unwrap();
        let sub = SubRange::new(&d, esp.offset, esp.len).unwrap();
        let mut ed = Editor::open(&sub, "ESP", 0).unwrap();
        assert!(ed.exists("/EFI/BOOT/BOOTX64.EFI").unwrap());
        assert!(ed.exists("/EFI/BOOT/grub.cfg").unwrap());
    }

    #[test]
    fn refusals_leave_the_disk_as_it_was() {
        let ctx = BuildContext::default();
        let cases: Vec<(Disk, InstallOptions, &str)> = vec![
            (
                disk(&["--new=1:0:0", "--typecode=1:ef00"], Some(1)),
                opts(Platform::I386Pc),
                "no BIOS boot partition (type EF02)",
            ),
            (
                disk(&["--new=1:0:0", "--typecode=1:8300"], Some(1)),
                opts(Platform::X86_64Efi),
                "no EFI System Partition (type EF00)",
            ),
            (
                disk(
                    &[
                        "--new=1:2048:2050",
                        "--typecode=1:ef02",
                        "--new=2:0:0",
                        "--typecode=2:ef00",
                    ],
                    Some(2),
                ),
                opts(Platform::I386Pc),
                "add a BIOS boot partition of 1 MiB",
            ),
            (
                disk(&["--new=1:0:0", "--typecode=1:ef00"], Some(1)),
                InstallOptions {
                    boot_directory: Some("3:/boot/grub".into()),
                    ..opts(Platform::X86_64Efi)
                },
                "partition 3, which does not exist",
            ),
        ];
        for (mut d, o, want) in cases {
            let before = d.allocated_ranges();
            let bytes_before = d.allocated_bytes();
            let e = install(&mut d, &o, &Fake, &ctx).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            assert_eq!(d.allocated_ranges(), before);
            assert_eq!(d.allocated_bytes(), bytes_before);
        }
    }

    #[test]
    fn paths_and_targets() {
        assert_eq!(check_path("k", "/EFI//BOOT/").unwrap(), "/EFI/BOOT");
        assert!(check_path("k", "boot/grub").is_err());
        assert!(check_path("k", "/boot/../x").is_err());
        assert!(Platform::parse("arm64-efi").is_err());
        assert_eq!(Platform::parse("i386-pc").unwrap().name(), "i386-pc");
    }
}
