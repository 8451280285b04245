//! `imgforge convert`, like `qemu-img convert`: any container to any other.

use crate::files::{open_source, AtomicOutput};
use anyhow::{bail, Context, Result};
use clap::Args;
use imgforge_core::container::{self, Format, WriteOptions};
use imgforge_core::io::Progress;
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
        for kv in group.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("-o {kv}: expected key=value"))?;
            match k {
                "cluster_size" | "block_size" => {
                    o.cluster_size = Some(imgforge_core::size::parse_size(v, &format!("-o {k}"))?)
                }
                "subformat" => o.subformat = Some(v.to_string()),
                _ => o.extra.push((k.to_string(), v.to_string())),
            }
        }
    }
    Ok(())
}

/// A progress bar over the core's [`Progress`].
pub struct Bar(pub Option<indicatif::ProgressBar>);

impl Bar {
    pub fn new(show: bool) -> Bar {
        Bar(show.then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>14} [{bar:40}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        }))
    }
    pub fn done(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn report(&self, phase: &str, done: u64, total: u64) {
        if let Some(b) = &self.0 {
            if b.message() != phase {
                b.set_message(phase.to_string());
            }
            b.set_length(total);
            b.set_position(done);
        }
    }
}

pub fn build_context(
    epoch: Option<i64>,
    seed: Option<String>,
) -> Result<imgforge_core::BuildContext> {
    let mut ctx = imgforge_core::BuildContext::default();
    if let Some(e) = epoch {
        ctx.epoch = e;
    } else if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        ctx.epoch = s
            .trim()
            .parse()
            .context("SOURCE_DATE_EPOCH is not a number")?;
    }
    if let Some(s) = seed {
        ctx.seed = s;
    }
    Ok(ctx)
}

pub fn run(a: ConvertArgs) -> Result<()> {
    let in_fmt = a.input_format.as_deref().map(Format::parse).transpose()?;
    let out_fmt = Format::parse(&a.output_format)?;
    let mut opts = WriteOptions {
        compress: a.compress,
        ctx: build_context(a.epoch, a.seed)?,
        ..WriteOptions::default()
    };
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
    let bar = Bar::new(a.progress);
    container::write(out_fmt, &opened.disk, &opts, &mut out, &bar)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    bar.done();
    out.commit()
}
