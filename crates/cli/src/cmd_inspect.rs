//! `imgforge inspect [--json] IMAGE`: container, sizes, partition table.

use crate::files::open_source;
use anyhow::{Context, Result};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Print JSON (schema: docs/inspect-json.md).
    #[arg(long)]
    pub json: bool,
    pub image: PathBuf,
}

pub fn run(a: InspectArgs) -> Result<()> {
    let src = open_source(&a.image)?;
    let mut report = imgforge_core::inspect::inspect(src)?;
    let meta = std::fs::metadata(&a.image)
        .with_context(|| format!("cannot stat {}", a.image.display()))?;
    report.actual_size = Some(meta.blocks() * 512);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            imgforge_core::inspect::render_text(&report, &a.image.display().to_string())
        );
    }
    Ok(())
}
