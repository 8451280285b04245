//! `imgforge grub-mkimage`: GRUB's image maker with its options, from a
//! module folder, a tar of one, or the Debian package.

use crate::files::{open_source, AtomicOutput, FileSource};
use anyhow::{bail, Context, Result};
use imgforge_core::grub::{self, MkimageOptions, ModuleSource, Platform};
use imgforge_core::io::Sink;
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
    let mut out = AtomicOutput::create(output)?;
    out.sparse = false;
    out.write(&image)
        .with_context(|| format!("writing {}", output.display()))?;
    out.commit()
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
        if !std::fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let f = FileSource::open(&p)?;
        let len = imgforge_core::io::ReadAt::size(&f);
        files.push((
            name,
            FileData::Source {
                src: Arc::new(f),
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
