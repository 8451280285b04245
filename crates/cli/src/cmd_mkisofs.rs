//! `imgforge mkisofs`: an ISO 9660 image from directories, with the
//! single-dash long options of mkisofs / genisoimage / `xorriso -as mkisofs`.

use crate::files::AtomicOutput;
use crate::tree_dir::load_into;
use anyhow::{bail, Context, Result};
use imgforge_core::io::NoProgress;
use imgforge_core::iso9660::{self, BootImage, Emulation, IsoOptions, RockRidge};
use imgforge_core::tree::Tree;
use imgforge_core::BuildContext;
use std::path::{Path, PathBuf};

/// A boot entry while its options are being collected.
#[derive(Default)]
struct Entry {
    path: Option<String>,
    efi: bool,
    emulation: Option<Emulation>,
    load_size: Option<u16>,
    load_segment: u16,
    boot_info_table: bool,
}

impl Entry {
    fn finish(self, out: &mut Vec<BootImage>) -> Result<()> {
        let Some(path) = self.path else {
            if self.emulation.is_some() || self.load_size.is_some() || self.boot_info_table {
                bail!("boot options given without a boot image (-b or -e)");
            }
            return Ok(());
        };
        let mut b = if self.efi {
            BootImage::efi(&path)
        } else {
            BootImage::bios(&path)
        };
        b.emulation = self.emulation.unwrap_or(if self.efi {
            Emulation::NoEmulation
        } else {
            Emulation::Floppy
        });
        b.load_size = self.load_size;
        b.load_segment = self.load_segment;
        b.boot_info_table = self.boot_info_table;
        out.push(b);
        Ok(())
    }
}

fn usage() -> &'static str {
    "usage: imgforge mkisofs -o OUT.iso [-R|-r] [-J] [-V VOLID] [-b BOOT -c CATALOG -no-emul-boot \
     -boot-load-size N -boot-info-table] [-eltorito-alt-boot -e EFI.img -no-emul-boot] \
     [-isohybrid-mbr FILE [-isohybrid-gpt-basdat]] [-graft-points] PATHSPEC..."
}

pub fn run(args: &[String]) -> Result<()> {
    let mut opts = IsoOptions::default();
    let mut output: Option<PathBuf> = None;
    let mut graft = false;
    let mut specs: Vec<String> = Vec::new();
    let mut cur = Entry::default();
    let mut boots = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let opt = if a.starts_with("--") && a.len() > 2 {
            &a[1..]
        } else {
            a.as_str()
        };
        if !opt.starts_with('-') || opt == "-" {
            specs.push(a.clone());
            continue;
        }
        let mut val = |name: &str| -> Result<String> {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match opt {
            "-o" => output = Some(PathBuf::from(val("-o")?)),
            "-b" | "-eltorito-boot" => {
                if cur.path.is_some() {
                    bail!("a second boot image needs -eltorito-alt-boot before it");
                }
                cur.path = Some(val(opt)?);
            }
            "-e" | "-efi-boot" | "--efi-boot" => {
                if cur.path.is_some() {
                    bail!("a second boot image needs -eltorito-alt-boot before it");
                }
                cur.path = Some(val(opt)?);
                cur.efi = true;
            }
            "-c" | "-eltorito-catalog" => opts.boot_catalog = Some(val(opt)?),
            "-no-emul-boot" => cur.emulation = Some(Emulation::NoEmulation),
            "-hard-disk-boot" => cur.emulation = Some(Emulation::HardDisk),
            "-boot-load-size" => {
                let v = val(opt)?;
                let n: u32 = v
                    .parse()
                    .with_context(|| format!("-boot-load-size: '{v}' is not a number"))?;
                if n == 0 || n > 0xFFFF {
                    bail!("-boot-load-size: {n} is not between 1 and 65535 sectors");
                }
                cur.load_size = Some(n as u16);
            }
            "-boot-load-seg" => {
                let v = val(opt)?;
                let n = if let Some(h) = v.strip_prefix("0x") {
                    u16::from_str_radix(h, 16).ok()
                } else {
                    v.parse().ok()
                };
                cur.load_segment = n.with_context(|| format!("-boot-load-seg: bad value '{v}'"))?;
            }
            "-boot-info-table" => cur.boot_info_table = true,
            "-eltorito-alt-boot" => {
                std::mem::take(&mut cur).finish(&mut boots)?;
            }
            "-J" | "-joliet" => opts.joliet = true,
            "-joliet-long" => {
                opts.joliet = true;
                opts.joliet_long = true;
            }
            "-R" | "-rock" => {
                if opts.rock_ridge == RockRidge::None {
                    opts.rock_ridge = RockRidge::Full
                }
            }
            "-r" | "-rational-rock" => opts.rock_ridge = RockRidge::Rationalized,
            "-V" | "-volid" => opts.volume_id = val(opt)?,
            "-A" | "-appid" => opts.application_id = val(opt)?,
            "-p" | "-preparer" => opts.preparer = val(opt)?,
            "-publisher" | "-P" => opts.publisher = val(opt)?,
            "-sysid" => opts.system_id = val(opt)?,
            "-volset" => opts.volume_set_id = val(opt)?,
            "-isohybrid-mbr" => {
                let f = val(opt)?;
                let data =
                    std::fs::read(&f).with_context(|| format!("cannot read isohybrid MBR {f}"))?;
                if data.len() < 432 || data.len() > 32768 {
                    bail!(
                        "isohybrid MBR {f} is {} bytes; expected 432 to 32768 (isohdpfx.bin)",
                        data.len()
                    );
                }
                opts.isohybrid_mbr = Some(data);
            }
            "-isohybrid-gpt-basdat" => opts.isohybrid_gpt_basdat = true,
            "-graft-points" => graft = true,
            "-iso-level" => {
                let v = val(opt)?;
                opts.level = match v.as_str() {
                    "1" => 1,
                    "2" => 2,
                    "3" | "4" => 3,
                    _ => bail!("-iso-level: '{v}' is not 1, 2 or 3"),
                };
            }
            "-l" | "-full-iso9660-filenames" => opts.long_names = true,
            "-input-charset" | "-output-charset" => {
                let v = val(opt)?;
                if !v.eq_ignore_ascii_case("utf-8") && !v.eq_ignore_ascii_case("utf8") {
                    eprintln!("warning: {opt} {v}: names are read as UTF-8");
                }
            }
            "-no-boot"
            | "-D"
            | "-f"
            | "-follow-links"
            | "-quiet"
            | "-v"
            | "-pad"
            | "-no-pad"
            | "-U"
            | "-untranslated-filenames"
            | "-allow-lowercase"
            | "-N"
            | "-omit-version-number"
            | "-cache-inodes"
            | "-T" => {}
            "-h" | "-help" => {
                println!("{}", usage());
                return Ok(());
            }
            _ => bail!("unknown option {a}\n{}", usage()),
        }
    }
    cur.finish(&mut boots)?;
    opts.boot = boots;
    let output = output.context("no output file (-o)")?;
    if specs.is_empty() {
        bail!("no input directories\n{}", usage());
    }
    let ctx = BuildContext::resolve(
        None,
        None,
        crate::tree_dir::source_date_epoch().as_deref(),
        None,
    )?;
    let mut tree = Tree::new(ctx.epoch);
    for s in &specs {
        let (dst, src) = match (graft, split_graft(s)) {
            (true, Some((d, s))) => (d, s),
            _ => (String::new(), s.clone()),
        };
        let src = Path::new(&src);
        let dst = if dst.is_empty() && !src.is_dir() {
            src.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .context("source has no file name")?
        } else {
            dst.trim_matches('/').to_string()
        };
        load_into(&mut tree, &dst, src)?;
    }
    let mut out = AtomicOutput::create(&output)?;
    let warnings = iso9660::write(&tree, &opts, &ctx, &mut out, &NoProgress)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    out.commit()?;
    Ok(())
}

/// `dst=src` with `\=` escaping a literal '='.
fn split_graft(s: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => {
                let un = |x: &str| x.replace("\\=", "=").replace("\\\\", "\\");
                return Some((un(&s[..i]), un(&s[i + 1..])));
            }
            _ => i += 1,
        }
    }
    None
}
