//! `imgforge part [sgdisk options] IMAGE`: edits the partition table of a
//! raw or qcow2 image in place, taking sgdisk's options as written
//! (`--new=1::+100M`, `-n 1::+100M`, `-t 1:ef00`, `-A 1:set:2`, `--mbr`...).
//! Only the sectors that change are written.

use crate::files::open_source;
use anyhow::{bail, Context, Result};
use imgforge_core::container::{self, Format};
use imgforge_core::disk::Data;
use imgforge_core::gpt::edit;
use imgforge_core::{BuildContext, Disk};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct PartArgs {
    /// sgdisk options and the image, e.g. `--clear --new 1::+100M
    /// --typecode=1:ef00 disk.img`; `--mbr` writes an MBR table;
    /// `--seed S` sets the seed GUIDs are derived from.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

/// Opens a raw image as a lazy [`Disk`] for in-place editing.
pub fn open_raw(path: &Path) -> Result<Disk> {
    let src = open_source(path)?;
    let f = container::detect(&*src)?;
    if f != Format::Raw {
        bail!(
            "{} is a {} image; editing in place works on raw images only (convert it first)",
            path.display(),
            f.qemu_name()
        );
    }
    Ok(Disk::from_whole(src)?)
}

/// Writes the extents of `disk` that hold new bytes (not the file's own
/// data) into the file, after setting its length to the disk's size.
pub fn write_changes(path: &Path, disk: &Disk) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} for writing", path.display()))?;
    file.set_len(disk.size())
        .with_context(|| format!("cannot resize {}", path.display()))?;
    let mut buf = Vec::new();
    for e in disk.extents() {
        if let Data::Bytes { .. } = e.data {
            buf.resize(e.len as usize, 0);
            e.data.read(0, &mut buf)?;
            file.write_all_at(&buf, e.offset)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(())
}

/// Pulls imgforge's own `--seed S` / `--seed=S` out of the sgdisk options.
fn take_seed(args: &mut Vec<String>) -> Result<Option<String>> {
    let mut seed = None;
    let mut i = 0;
    while i < args.len() {
        if let Some(v) = args[i].strip_prefix("--seed=") {
            seed = Some(v.to_string());
            args.remove(i);
        } else if args[i] == "--seed" {
            if i + 1 >= args.len() {
                bail!("--seed needs a value");
            }
            seed = Some(args.remove(i + 1));
            args.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(seed)
}

const HELP: &str = "\
Usage: imgforge part [OPTIONS] IMAGE
Edits a raw or qcow2 image's partition table in place, with sgdisk's options, applied in order:
  -o, --clear                  new empty table
  -n, --new=N:START:END        new partition (N=0: next free; START/END: 0 = default,
                               +100M, -0, 2048, 2048s)
  -d, --delete=N               delete partition N
  -t, --typecode=N:CODE        type: sgdisk hex code (ef00, 8300, 8304...) or GUID;
                               with --mbr a type byte (83, 82, ef, 0c, 05)
  -c, --change-name=N:NAME     partition name (GPT)
  -A, --attributes=N:set|clear|toggle:BIT or N:=|or|nand|xor:HEXMASK
                               (bit 2 = legacy BIOS bootable; MBR: active flag)
  -u, --partition-guid=N:GUID  -U, --disk-guid=GUID
  -e, --move-second-header     move the backup GPT to the end of the disk
  -g, --mbrtogpt               convert an MBR table to GPT
  -p, --print  -v, --verify  -P, --pretend
      --mbr                    write an MBR table (partitions 1-4 primary, 5+ logical)
      --sector-size 512|4096   logical sector size of a new table
      --seed S                 seed the disk and partition GUIDs derive from
";

pub fn run(a: PartArgs) -> Result<()> {
    if a.args.iter().any(|x| x == "--help" || x == "-?") {
        print!("{HELP}");
        return Ok(());
    }
    let mut args = a.args;
    let seed = take_seed(&mut args)?;
    let (script, positional) = crate::sgdisk::parse_args(&args)?;
    let image = match positional.as_slice() {
        [one] => PathBuf::from(one),
        [] => bail!("no image given (usage: imgforge part [sgdisk options] IMAGE)"),
        more => bail!("more than one image given: {}", more.join(" ")),
    };
    let ctx = BuildContext::resolve(None, None, None, seed.as_deref())?;
    let (mut disk, qcow2) = crate::cmd_resize_qcow2::open_for_edit(&image)?;
    let modifies = !script.ops.is_empty() || script.mbr;
    if modifies {
        let applied = edit::apply(&mut disk, &script, &ctx)?;
        for n in &applied.notes {
            eprintln!("note: {n}");
        }
        if !script.pretend {
            match &qcow2 {
                Some(src) => crate::cmd_resize_qcow2::write_changes(&image, &**src, None, &disk)?,
                None => write_changes(&image, &disk)?,
            }
        }
    }
    if script.print || script.verify {
        let (table, warnings) = imgforge_core::partitions::read_table(&disk);
        if script.print {
            let report = imgforge_core::inspect::Report {
                format: if qcow2.is_some() { "qcow2" } else { "raw" }.into(),
                virtual_size: Some(disk.size()),
                allocated_size: None,
                actual_size: None,
                container: None,
                partition_table: table,
                filesystem: None,
                grub: None,
                grub_installed: Vec::new(),
                warnings: warnings.clone(),
            };
            print!(
                "{}",
                imgforge_core::inspect::render_text(&report, &image.display().to_string())
            );
        }
        if script.verify && !script.print {
            if warnings.is_empty() {
                println!("No problems found.");
            } else {
                for w in &warnings {
                    println!("problem: {w}");
                }
                bail!("{} problem(s) found", warnings.len());
            }
        }
    }
    Ok(())
}
