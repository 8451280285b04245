//! Where GRUB's files come from: one platform folder (`x86_64-efi`,
//! `i386-pc`, as Debian's `grub-efi-amd64-bin` / `grub-pc-bin` install it
//! in `/usr/lib/grub/`), given as files, as a tar (plain, gzip, xz, zstd)
//! holding such a folder, or as the Debian package itself.

use super::raw::{self, Ehdr, EM_386, EM_X86_64, ET_EXEC, ET_REL};
use crate::decompress;
use crate::io::{ReadAt, Source, SubRange};
use crate::tree::{self, FileData, NodeKind, Tree};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The largest single file of a module folder read into memory (the biggest
/// GRUB module is a few hundred KiB).
pub const FILE_CAP: u64 = 32 << 20;

/// A GRUB target: the `-O` of grub-mkimage and the folder name of its
/// modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// `x86_64-efi`: a PE32+ EFI application.
    X86_64Efi,
    /// `i386-pc`: BIOS `core.img` (LZMA-compressed).
    I386Pc,
}

impl Platform {
    /// Every platform imgforge makes images for.
    pub const ALL: [Platform; 2] = [Platform::X86_64Efi, Platform::I386Pc];

    /// The name GRUB gives it (`-O`, the folder name).
    pub fn name(self) -> &'static str {
        match self {
            Platform::X86_64Efi => "x86_64-efi",
            Platform::I386Pc => "i386-pc",
        }
    }

    /// `(target_cpu, platform)` as `modinfo.sh` spells them.
    fn modinfo(self) -> (&'static str, &'static str) {
        match self {
            Platform::X86_64Efi => ("x86_64", "efi"),
            Platform::I386Pc => ("i386", "pc"),
        }
    }

    /// ELF class and machine of its kernel and modules.
    pub fn elf(self) -> (u8, u16) {
        match self {
            Platform::X86_64Efi => (raw::ELFCLASS64, EM_X86_64),
            Platform::I386Pc => (raw::ELFCLASS32, EM_386),
        }
    }

    /// Bytes of a target pointer (`voidp_sizeof`).
    pub fn pointer_bytes(self) -> u64 {
        match self {
            Platform::X86_64Efi => 8,
            Platform::I386Pc => 4,
        }
    }

    /// Parses a `-O` name.
    pub fn parse(s: &str) -> Result<Self> {
        Platform::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "format",
                    format!(
                        "unknown GRUB target `{s}` (supported: {})",
                        Platform::ALL.map(Platform::name).join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Platform::parse(s)
    }
}

/// One GRUB platform folder: its files by name (`kernel.img`,
/// `moddep.lst`, `normal.mod`, `boot.img`, ...) and the platform they are
/// for.
#[derive(Clone, Debug)]
pub struct ModuleSource {
    platform: Platform,
    files: BTreeMap<String, FileData>,
    name: String,
}

impl ModuleSource {
    /// A folder given as its files (names without directories; entries in
    /// subfolders such as `monolithic/` are ignored by the caller). `name`
    /// says where they came from in errors (the directory). The platform is
    /// read from `modinfo.sh`, else from `folder` (the folder's own name),
    /// else from `kernel.img`.
    pub fn from_files(
        name: impl Into<String>,
        folder: Option<&str>,
        files: impl IntoIterator<Item = (String, FileData)>,
    ) -> Result<Self> {
        let name = name.into();
        let files: BTreeMap<String, FileData> = files.into_iter().collect();
        if !files.contains_key("moddep.lst") && !files.contains_key("kernel.img") {
            return Err(Error::invalid(
                name.clone(),
                "not a GRUB module folder: it has no moddep.lst and no kernel.img",
            ));
        }
        let platform = detect_platform(&name, folder, &files)?;
        Ok(ModuleSource {
            platform,
            files,
            name,
        })
    }

    /// A folder from bytes in memory (tests, the page's small inputs).
    pub fn from_bytes(
        name: impl Into<String>,
        folder: Option<&str>,
        files: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Self> {
        Self::from_files(
            name,
            folder,
            files.into_iter().map(|(n, b)| (n, FileData::from_vec(b))),
        )
    }

    /// A folder inside an archive: a Debian package (`ar` with
    /// `data.tar.{xz,zst,gz}`, the folder at `usr/lib/grub/<platform>/`)
    /// or a tar (plain, gzip, xz, zstd) holding the folder's files at its
    /// root or in one folder. When the archive holds several platforms,
    /// `want` picks one.
    pub fn from_archive(src: Source, want: Option<Platform>) -> Result<Self> {
        let name = src.name();
        let mut t = Tree::new(0);
        let is_deb = read_deb_data(&src, &mut t)?;
        if !is_deb {
            tree::tar::from_tar_capped(src.clone(), &mut t, "", 512 << 20).map_err(
                |e| match e {
                    Error::Corrupt { .. } => Error::invalid(
                        name.clone(),
                        format!("not a GRUB module folder, tar archive or Debian package ({e})"),
                    ),
                    e => e,
                },
            )?;
        }
        // Every folder that holds moddep.lst or kernel.img is a candidate.
        let mut found: Vec<ModuleSource> = Vec::new();
        for (path, id) in t.walk() {
            if !matches!(t.node(id).kind, NodeKind::Dir(_)) {
                continue;
            }
            let has = |f: &str| t.children(id).any(|(n, _)| n == f);
            if !has("moddep.lst") && !has("kernel.img") {
                continue;
            }
            let files: Vec<(String, FileData)> = t
                .children(id)
                .filter_map(|(n, c)| match &t.node(c).kind {
                    NodeKind::File(d) => Some((n.to_string(), d.clone())),
                    _ => None,
                })
                .collect();
            let folder = path.rsplit('/').next().filter(|s| !s.is_empty());
            let label = if path.is_empty() {
                name.clone()
            } else {
                format!("{name}:{path}")
            };
            found.push(ModuleSource::from_files(label, folder, files)?);
        }
        if found.is_empty() {
            let what = if is_deb {
                "a Debian package without GRUB modules (no usr/lib/grub/<platform>/ folder with moddep.lst)"
            } else {
                "an archive without GRUB modules (no folder with moddep.lst or kernel.img)"
            };
            return Err(Error::invalid(name, what));
        }
        if found.len() == 1 {
            return Ok(found.remove(0));
        }
        if let Some(w) = want {
            if let Some(i) = found.iter().position(|s| s.platform == w) {
                return Ok(found.swap_remove(i));
            }
        }
        Err(Error::invalid(
            name,
            format!(
                "holds GRUB modules for several platforms ({}); say which with -O",
                found
                    .iter()
                    .map(|s| s.platform.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }

    /// [`ModuleSource::from_archive`] over bytes in memory; `name` (the
    /// file name) is used in errors.
    pub fn from_archive_bytes(
        name: impl Into<String>,
        bytes: Vec<u8>,
        want: Option<Platform>,
    ) -> Result<Self> {
        Self::from_archive(Arc::new(decompress::NamedBytes::new(bytes, name)), want)
    }

    /// The platform the modules are for.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Where the files came from, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of the files, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Whether the source has a file of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The bytes of file `name` (`boot.img`, `cdboot.img`, `normal.mod`),
    /// if the folder has it and it can be read.
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        self.read(name).ok()
    }

    /// The size of file `name`.
    pub fn file_size(&self, name: &str) -> Option<u64> {
        self.files.get(name).map(FileData::len)
    }

    /// The bytes of file `name`, or an error naming it and the folder.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let d = self.files.get(name).ok_or_else(|| {
            Error::invalid(
                self.name.clone(),
                format!("{name} is not in the GRUB folder"),
            )
        })?;
        d.to_vec(FILE_CAP).map_err(|e| match e {
            Error::NoSpace { msg, .. } => Error::no_space(format!("{}: {name}", self.name), msg),
            e => e,
        })
    }
}

/// The platform of a folder: `modinfo.sh` says it (`grub_modinfo_target_cpu`
/// and `grub_modinfo_platform`); else the folder's name; else the ELF
/// header of `kernel.img`.
fn detect_platform(
    name: &str,
    folder: Option<&str>,
    files: &BTreeMap<String, FileData>,
) -> Result<Platform> {
    if let Some(d) = files.get("modinfo.sh") {
        if let Ok(text) = d.to_vec(1 << 20) {
            let text = String::from_utf8_lossy(&text);
            let var = |k: &str| {
                text.lines()
                    .find_map(|l| l.trim().strip_prefix(k)?.strip_prefix('='))
                    .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            };
            if let (Some(cpu), Some(plat)) =
                (var("grub_modinfo_target_cpu"), var("grub_modinfo_platform"))
            {
                return Platform::ALL
                    .into_iter()
                    .find(|p| p.modinfo() == (cpu.as_str(), plat.as_str()))
                    .ok_or_else(|| {
                        Error::unsupported(
                            "GRUB",
                            format!(
                                "{name} holds GRUB modules for {cpu}-{plat}; imgforge makes images for {}",
                                Platform::ALL.map(Platform::name).join(", ")
                            ),
                        )
                    });
            }
        }
    }
    if let Some(p) = folder.and_then(|f| Platform::ALL.into_iter().find(|p| p.name() == f)) {
        return Ok(p);
    }
    if let Some(d) = files.get("kernel.img") {
        let head = {
            let n = d.len().min(64) as usize;
            let mut b = vec![0u8; n];
            d.read_at(0, &mut b)?;
            b
        };
        let what = format!("{name}: kernel.img");
        let h = Ehdr::parse(&head, &what)?;
        let found = match (h.class, h.e_machine, h.e_type) {
            (raw::ELFCLASS64, EM_X86_64, ET_REL) => Some(Platform::X86_64Efi),
            (raw::ELFCLASS32, EM_386, ET_EXEC) if h.e_entry == raw::I386_PC_LINK_ADDR => {
                Some(Platform::I386Pc)
            }
            _ => None,
        };
        return found.ok_or_else(|| {
            Error::unsupported(
                "GRUB",
                format!("{what}: a kernel for a GRUB platform imgforge does not know"),
            )
        });
    }
    Err(Error::invalid(
        name,
        "cannot tell which GRUB platform this folder is for (no modinfo.sh, no kernel.img)",
    ))
}

/// If `src` is an `ar` archive (a Debian package), adds the files of its
/// `data.tar*` member to `t` and returns true.
fn read_deb_data(src: &Source, t: &mut Tree) -> Result<bool> {
    const MAGIC: &[u8] = b"!<arch>\n";
    let name = src.name();
    if src.size() < MAGIC.len() as u64 {
        return Ok(false);
    }
    let mut m = [0u8; 8];
    src.read_at(0, &mut m)?;
    if m != MAGIC {
        return Ok(false);
    }
    // ar(5): 60-byte member headers (name 16, mtime 12, uid 6, gid 6,
    // mode 8, size 10, "`\n"), data padded to an even offset.
    let mut pos = MAGIC.len() as u64;
    let size = src.size();
    while pos + 60 <= size {
        let mut h = [0u8; 60];
        src.read_at(pos, &mut h)?;
        if &h[58..60] != b"`\n" {
            return Err(Error::corrupt(
                "deb",
                format!("{name}: ar member header at byte {pos}"),
                "bad header terminator",
            ));
        }
        let member = String::from_utf8_lossy(&h[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let len: u64 = String::from_utf8_lossy(&h[48..58])
            .trim()
            .parse()
            .map_err(|_| {
                Error::corrupt(
                    "deb",
                    format!("{name}: {member}"),
                    "member size is not a number",
                )
            })?;
        let data = pos + 60;
        if member.starts_with("data.tar") {
            let sub: Source = Arc::new(Named {
                inner: SubRange::new(src.clone(), data, len)?,
                name: format!("{name}: {member}"),
            });
            if member != "data.tar" && decompress::sniff(&decompress::head(&*sub, 0)?).is_none() {
                return Err(Error::unsupported(
                    "deb",
                    format!("{name}: {member}: compression imgforge cannot read (gzip, xz and zstd can be)"),
                ));
            }
            tree::tar::from_tar_capped(sub, t, "", 512 << 20)?;
            return Ok(true);
        }
        pos = data
            .checked_add(len)
            .and_then(|p| p.checked_add(len & 1))
            .ok_or_else(|| Error::corrupt("deb", name.clone(), "member size overflows"))?;
    }
    Err(Error::invalid(
        name,
        "a Debian package (ar archive) without a data.tar member",
    ))
}

/// A window of an input with its own name for errors.
struct Named {
    inner: SubRange<Source>,
    name: String,
}

impl ReadAt for Named {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}
