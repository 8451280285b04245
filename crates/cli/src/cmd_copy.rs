//! `imgforge copy [--sparse] SRC DST`: copies a file like
//! `cp --sparse=always`: with --sparse, all-zero blocks become holes.

use crate::files::{open_source, AtomicOutput};
use crate::progress_bar::Bar;
use anyhow::Result;
use imgforge_core::io::{Progress, Sink};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CopyArgs {
    /// Turn all-zero 4 KiB blocks into holes.
    #[arg(long)]
    pub sparse: bool,
    pub src: PathBuf,
    pub dst: PathBuf,
}

pub fn run(a: CopyArgs) -> Result<()> {
    const BLOCK: usize = 4096;
    const CHUNK: usize = 1 << 20;
    let src = open_source(&a.src)?;
    let mut out = AtomicOutput::create(&a.dst)?;
    out.sparse = a.sparse;
    let bar = Bar::new();
    let total = src.size();
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    while pos < total {
        let n = (total - pos).min(CHUNK as u64) as usize;
        src.read_at(pos, &mut buf[..n])?;
        if a.sparse {
            for b in buf[..n].chunks(BLOCK) {
                if b.iter().all(|&x| x == 0) {
                    out.hole(b.len() as u64)?;
                } else {
                    out.write(b)?;
                }
            }
        } else {
            out.write(&buf[..n])?;
        }
        pos += n as u64;
        bar.step("copying", pos, total)?;
    }
    out.finish()?;
    bar.finish();
    out.commit()?;
    Ok(())
}
