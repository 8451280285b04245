//! `imgforge convert`, like `qemu-img convert`: any container to any other.

use crate::files::{open_source, AtomicOutput};
use crate::progress_bar::Bar;
use anyhow::{bail, Context, Result};
use clap::Args;
use imgforge_core::container::{self, Format, WriteOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct ConvertArgs {
    /// Input format (raw, qcow2, vhd/vpc, vhdx, vmdk, ova, box); detected
    /// from magic bytes when not given.
    #[arg(short = 'f')]
    pub input_format: Option<String>,
    /// Output format (default raw).
    #[arg(short = 'O', default_value = "raw")]
    pub output_format: String,
    /// Compress (qcow2 deflate clusters).
    #[arg(short = 'c')]
    pub compress: bool,
    /// Format options: cluster_size=64K, subformat=fixed|dynamic, ...
    #[arg(short = 'o')]
    pub options: Vec<String>,
    /// Show a progress bar.
    #[arg(short = 'p')]
    pub progress: bool,
    /// Build epoch for timestamps (seconds since 1970; default
    /// SOURCE_DATE_EPOCH or 2024-01-01).
    #[arg(long)]
    pub epoch: Option<i64>,
    /// Seed for UUIDs.
    #[arg(long)]
    pub seed: Option<String>,
    pub input: PathBuf,
    pub output: PathBuf,
}

/// Parses qemu-img style `-o key=value,key=value` into [`WriteOptions`].
pub fn parse_options(opts: &[String], o: &mut WriteOptions) -> Result<()> {
    for group in opts {
        o.set_all(group)?;
    }
    Ok(())
}

pub fn run(a: ConvertArgs) -> Result<()> {
    let in_fmt = a.input_format.as_deref().map(Format::parse).transpose()?;
    let out_fmt = Format::parse(&a.output_format)?;
    let mut opts = WriteOptions::default();
    opts.compress = a.compress;
    opts.ctx = imgforge_core::BuildContext::resolve(
        None,
        a.epoch,
        crate::tree_dir::source_date_epoch().as_deref(),
        a.seed.as_deref(),
    )?;
    parse_options(&a.options, &mut opts)?;
    if opts.compress
        && !matches!(
            out_fmt,
            Format::Qcow2 | Format::Vmdk | Format::Ova | Format::Box
        )
    {
        bail!("-c: {} output cannot be compressed", out_fmt.qemu_name());
    }
    let src = open_source(&a.input)?;
    let opened = container::open(src, in_fmt)
        .with_context(|| format!("cannot open {}", a.input.display()))?;
    let mut out = AtomicOutput::create(&a.output)?;
    // Holes become sparse holes in every format: zeros read back the same.
    out.sparse = true;
    let bar = Bar::when(a.progress);
    container::write(out_fmt, &opened.disk, &opts, &mut out, &bar)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    bar.finish();
    out.commit()
}
