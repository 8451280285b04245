//! `imgforge initramfs SRC -o initrd.gz`: a Linux initramfs (newc cpio,
//! gzip) from a directory or a tar archive.

use crate::files::AtomicOutput;
use crate::tree_dir::{load_source, source_date_epoch};
use anyhow::{Context, Result};
use imgforge_core::cpio::{CpioCompression, CpioOptions};
use imgforge_core::io::NoProgress;
use imgforge_core::BuildContext;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InitramfsArgs {
    /// A directory or a tar archive (.tar, .tar.gz, .tar.zst, .tar.xz).
    pub src: PathBuf,
    /// The initramfs to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// gzip level, 0-9.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,
    /// Write an uncompressed cpio archive.
    #[arg(long)]
    pub no_compress: bool,
    /// A directory or tar written first as an uncompressed archive (early
    /// microcode: kernel/x86/microcode/GenuineIntel.bin).
    #[arg(long, value_name = "DIR_OR_TAR")]
    pub prepend: Option<PathBuf>,
}

pub fn run(a: InitramfsArgs) -> Result<()> {
    let env = source_date_epoch();
    let ctx = BuildContext::resolve(None, None, env.as_deref(), None)?;
    let tree = load_source(&a.src)?;
    let prepend = a.prepend.as_deref().map(load_source).transpose()?;
    let mut opts = CpioOptions::default();
    opts.compression = if a.no_compress {
        CpioCompression::None
    } else {
        CpioCompression::Gzip { level: a.level }
    };
    // SOURCE_DATE_EPOCH means "nothing newer than this".
    opts.clamp_mtime = env.is_some();
    opts.prepend = prepend;
    let mut out = AtomicOutput::create(&a.output)?;
    out.sparse = false;
    imgforge_core::cpio::write(&tree, &opts, &ctx, &mut out, &NoProgress)
        .with_context(|| format!("writing {}", a.output.display()))?;
    out.commit()
}
