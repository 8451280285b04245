//! `imgforge build RECIPE -o OUT`: builds what a recipe describes. Input
//! paths resolve relative to the recipe file.

use crate::files::{open_source, AtomicOutput};
use crate::progress_bar::Bar;
use anyhow::{Context, Result};
use imgforge_core::build::Inputs;
use imgforge_core::recipe::{parse, Syntax};
use imgforge_core::tree::Tree;
use imgforge_core::{Error, Source};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The recipe (TOML, or JSON if it starts with '{').
    pub recipe: PathBuf,
    /// Output file.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Override the output format (raw, qcow2, vhd, vhdx, vmdk, ova, box, iso, initramfs).
    #[arg(short = 'O', long = "format")]
    pub format: Option<String>,
    /// Override the recipe's seed.
    #[arg(long)]
    pub seed: Option<String>,
}

/// Input files of a recipe on the local filesystem.
pub struct LocalInputs {
    pub base: PathBuf,
}

impl LocalInputs {
    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
}

impl Inputs for LocalInputs {
    fn file(&self, path: &str) -> imgforge_core::Result<Source> {
        let full = self.path(path);
        open_source(&full).map_err(|e| Error::invalid(path, format!("{e:#}")))
    }
    fn dir(&self, path: &str, tree: &mut Tree, at: &str) -> imgforge_core::Result<()> {
        crate::tree_dir::load_dir(&self.path(path), tree, at)
            .map_err(|e| Error::invalid(path, format!("{e:#}")))
    }
}

pub fn run(a: BuildArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.recipe)
        .with_context(|| format!("cannot read {}", a.recipe.display()))?;
    let mut recipe =
        parse(&text, Syntax::sniff(&text)).with_context(|| a.recipe.display().to_string())?;
    if let Some(f) = a.format {
        recipe.output.format = f;
        recipe.validate()?;
    }
    let base = a.recipe.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let inputs = LocalInputs { base };
    let ctx = imgforge_core::BuildContext::resolve(
        recipe.build.as_ref(),
        None,
        crate::tree_dir::source_date_epoch().as_deref(),
        a.seed.as_deref(),
    )?;
    let mut out = AtomicOutput::create(&a.output)?;
    let bar = Bar::new();
    let built = imgforge_core::build::build(&recipe, &inputs, &ctx, &mut out, &bar)?;
    bar.finish();
    out.commit()?;
    for w in built.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
