//! `imgforge grub-mkimage`: GRUB's image maker with its options, from a
//! module folder, a tar of one, or the Debian package.

use crate::files::open_source;
use anyhow::{bail, Context, Result};
use imgforge_core::grub::{self, MkimageOptions, ModuleSource, Platform};
use imgforge_core::io::ReadAt;
use imgforge_core::tree::FileData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct GrubMkimageArgs {
    /// GRUB's module folder (/usr/lib/grub/<format>), a tar (.tar, .tar.gz,
    /// .tar.xz, .tar.zst) of it, or the Debian package (grub-efi-amd64-bin,
    /// grub-pc-bin). Default: /usr/lib/grub/<format>.
    #[arg(short = 'd', long = "directory", value_name = "DIR|TAR|DEB", action = clap::ArgAction::Append)]
    pub directory: Vec<PathBuf>,
    /// The image format: x86_64-efi, i386-pc or i386-pc-eltorito.
    #[arg(short = 'O', long = "format", value_name = "FORMAT", required = true, action = clap::ArgAction::Append)]
    pub format: Vec<String>,
    /// The image to write.
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true, action = clap::ArgAction::Append)]
    pub output: Vec<PathBuf>,
    /// The directory GRUB reads modules and grub.cfg from at boot.
    #[arg(short = 'p', long = "prefix", value_name = "DIR", action = clap::ArgAction::Append)]
    pub prefix: Vec<String>,
    /// Embed FILE as an early config.
    #[arg(short = 'c', long = "config", value_name = "FILE", action = clap::ArgAction::Append)]
    pub config: Vec<PathBuf>,
    /// Embed FILE as a memdisk (sets the prefix to (memdisk)/boot/grub
    /// unless -p comes after it).
    #[arg(short = 'm', long = "memdisk", value_name = "FILE", action = clap::ArgAction::Append)]
    pub memdisk: Vec<PathBuf>,
    /// Add an ELF note (IEEE1275 images only; no effect on these formats).
    #[arg(short = 'n', long = "note")]
    pub note: bool,
    /// Modules to embed; their dependencies are added from moddep.lst.
    #[arg(value_name = "MODULES")]
    pub modules: Vec<String>,
}

pub fn run(a: GrubMkimageArgs, matches: &clap::ArgMatches) -> Result<()> {
    // As grub-mkimage (argp), an option given twice takes its last value.
    // i386-pc-eltorito: the i386-pc image behind cdboot.img.
    let format_name = a.format.last().map_or("", String::as_str);
    let eltorito = format_name == "i386-pc-eltorito";
    let format = if eltorito {
        Platform::I386Pc
    } else {
        Platform::parse(format_name)?
    };
    let output = a.output.last().context("no output (use -o)")?;
    // grub-mkimage: -m sets the prefix to (memdisk)/boot/grub; whichever
    // of -m and -p comes last wins.
    let sub = matches.subcommand_matches("grub-mkimage");
    let last_index = |id: &str| {
        sub.and_then(|m| m.indices_of(id))
            .and_then(|mut i| i.next_back())
    };
    let prefix = match (a.prefix.last(), a.memdisk.last()) {
        (Some(p), Some(_)) if last_index("prefix") > last_index("memdisk") => p.clone(),
        (_, Some(_)) => "(memdisk)/boot/grub".to_string(),
        (Some(p), None) => p.clone(),
        (None, None) => bail!("prefix not specified (use the -p option)"),
    };
    let dir = a
        .directory
        .last()
        .cloned()
        .unwrap_or_else(|| PathBuf::from(format!("/usr/lib/grub/{}", format.name())));
    let src = load(&dir, format)?;
    let mut opts = MkimageOptions::new(format, prefix, a.modules.clone());
    opts.note = a.note;
    opts.config = a
        .config
        .last()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    opts.memdisk = a
        .memdisk
        .last()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    let image = if eltorito {
        grub::mkimage_eltorito(&src, &opts)?
    } else {
        grub::mkimage(&src, &opts)?
    };
    write_atomically(output, &image)
}

/// Writes a small image (under a few MiB, already in memory) to a
/// temporary file beside `target` and renames it into place; on error the
/// temporary file is removed. `AtomicOutput`'s writer thread and buffer
/// cost more than the write itself here.
fn write_atomically(target: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
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
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(data)
            .with_context(|| format!("writing {}", target.display()))?;
        drop(f);
        std::fs::rename(&tmp, target)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), target.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file opened only when read: a module folder has ~300 files and an
/// image needs a few dozen of them.
struct LazyFile {
    path: PathBuf,
    len: u64,
}

impl ReadAt for LazyFile {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> imgforge_core::Result<()> {
        use std::os::unix::fs::FileExt;
        imgforge_core::io::check_read(offset, buf.len() as u64, self.len, || self.name())?;
        let f = std::fs::File::open(&self.path).map_err(|e| {
            imgforge_core::Error::io(format!("cannot open {}", self.path.display()), e)
        })?;
        f.read_exact_at(buf, offset)
            .map_err(|e| imgforge_core::Error::io(format!("reading {}", self.path.display()), e))
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// A module folder read lazily (its regular files, not its subfolders), or
/// an archive.
pub fn load(path: &Path, want: Platform) -> Result<ModuleSource> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(ModuleSource::from_archive(open_source(path)?, Some(want))?);
    }
    let mut files = Vec::new();
    for e in std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))? {
        let e = e?;
        let p = e.path();
        // One stat per file: the directory entry says what it is, except
        // for symbolic links, which are followed.
        let meta = match e.file_type()? {
            t if t.is_symlink() => std::fs::metadata(&p).ok(),
            t if t.is_file() => Some(e.metadata()?),
            _ => None,
        };
        let Some(meta) = meta.filter(|m| m.is_file()) else {
            continue;
        };
        let name = e.file_name().to_string_lossy().into_owned();
        let len = meta.len();
        files.push((
            name,
            FileData::Source {
                src: Arc::new(LazyFile { path: p, len }),
                offset: 0,
                len,
            },
        ));
    }
    let folder = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    Ok(ModuleSource::from_files(
        path.display().to_string(),
        folder.as_deref(),
        files,
    )?)
}
