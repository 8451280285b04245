//! Building what a recipe describes: file trees from the recipe's contents,
//! filesystems from trees, partitions on a sparse disk, and the output
//! container streamed into a sink.

use crate::io::{Progress, Source};
use crate::recipe::{parse_device, parse_mode, Content, Filesystem, GrowSection, Recipe};
use crate::tree::{FileData, Meta, Node, NodeKind, Tree};
use crate::{BuildContext, Error, Result};
use std::collections::BTreeMap;

/// Where a build gets the files a recipe names. The CLI resolves paths
/// relative to the recipe file; the page maps them to dropped `File`s.
pub trait Inputs {
    /// The input file at `path` (as written in the recipe).
    fn file(&self, path: &str) -> Result<Source>;

    /// Loads the local directory `path` into `tree` at `at`. Only the CLI
    /// has directories.
    fn dir(&self, path: &str, tree: &mut Tree, at: &str) -> Result<()> {
        let _ = (tree, at);
        Err(Error::unsupported(
            "recipe",
            format!("directory input '{path}' is only available on the command line"),
        ))
    }
}

/// No inputs at all (recipes with inline contents only).
pub struct NoInputs;
impl Inputs for NoInputs {
    fn file(&self, path: &str) -> Result<Source> {
        Err(Error::invalid(path, "input file not provided"))
    }
}

/// An in-memory map of inputs by recipe path (tests, the page's node API).
#[derive(Default)]
pub struct MapInputs(pub BTreeMap<String, Source>);
impl Inputs for MapInputs {
    fn file(&self, path: &str) -> Result<Source> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| Error::invalid(path, "input file not provided"))
    }
}

/// Builds the tree a filesystem section describes, applying its contents in
/// order. `key` names the section in errors.
pub fn assemble_tree(
    fs: &Filesystem,
    key: &str,
    inputs: &dyn Inputs,
    ctx: &BuildContext,
) -> Result<Tree> {
    let mut tree = Tree::new(ctx.epoch);
    for (i, c) in fs.contents.iter().enumerate() {
        let ck = format!("{key}.contents[{}]", i + 1);
        add_content(&mut tree, c, &ck, inputs, ctx).map_err(|e| match e {
            // Keep errors that already name a file or key; add the recipe key otherwise.
            Error::Invalid { key: k, msg } if k == "recipe" => Error::invalid(ck.clone(), msg),
            other => other,
        })?;
    }
    Ok(tree)
}

fn meta_for(c: &Content, ck: &str, default_mode: u32, ctx: &BuildContext) -> Result<Meta> {
    let mut m = Meta::new(default_mode, ctx.epoch);
    if let Some(mode) = &c.mode {
        m.mode = parse_mode(mode, &format!("{ck}.mode"))?;
    }
    m.uid = c.uid.unwrap_or(0);
    m.gid = c.gid.unwrap_or(0);
    Ok(m)
}

fn add_content(
    tree: &mut Tree,
    c: &Content,
    ck: &str,
    inputs: &dyn Inputs,
    ctx: &BuildContext,
) -> Result<()> {
    let at = c.at.as_deref().unwrap_or("/");
    if let Some(t) = &c.tar {
        let src = inputs.file(t)?;
        return crate::tree::tar::from_tar(src, tree, at);
    }
    if let Some(d) = &c.dir {
        return inputs.dir(d, tree, at);
    }
    if let Some(f) = &c.file {
        let src = inputs.file(f)?;
        let len = crate::io::ReadAt::size(&*src);
        let meta = meta_for(c, ck, 0o644, ctx)?;
        tree.insert(
            at,
            Node {
                kind: NodeKind::File(FileData::Source {
                    src,
                    offset: 0,
                    len,
                }),
                meta,
            },
        )?;
        return Ok(());
    }
    if let Some(t) = &c.text {
        let meta = meta_for(c, ck, 0o644, ctx)?;
        tree.insert(
            at,
            Node {
                kind: NodeKind::File(FileData::from_vec(t.as_bytes().to_vec())),
                meta,
            },
        )?;
        return Ok(());
    }
    if let Some(target) = &c.symlink {
        let meta = meta_for(c, ck, 0o777, ctx)?;
        tree.insert(
            at,
            Node {
                kind: NodeKind::Symlink(target.clone()),
                meta,
            },
        )?;
        return Ok(());
    }
    if c.mkdir {
        let meta = meta_for(c, ck, 0o755, ctx)?;
        tree.insert(
            at,
            Node {
                kind: NodeKind::Dir(BTreeMap::new()),
                meta,
            },
        )?;
        return Ok(());
    }
    if let Some(d) = &c.device {
        let (ch, major, minor) = parse_device(d, &format!("{ck}.device"))?;
        let meta = meta_for(c, ck, 0o600, ctx)?;
        let kind = if ch {
            NodeKind::CharDev { major, minor }
        } else {
            NodeKind::BlockDev { major, minor }
        };
        tree.insert(at, Node { kind, meta })?;
        return Ok(());
    }
    Err(Error::invalid(
        ck,
        "needs exactly one of tar, dir, file, text, symlink, mkdir, device",
    ))
}

/// Reports progress for the phases of a build.
pub(crate) fn phase(progress: &dyn Progress, name: &str) -> Result<()> {
    progress.step(name, 0, 0)
}

/// What a finished build reports (warnings to show the user).
#[derive(Debug, Default, Clone)]
pub struct Built {
    /// Things the user should know (skipped symlinks, a FAT type changed to fit).
    pub warnings: Vec<String>,
}

fn boot_entry(recipe: &Recipe) -> Option<crate::bootcfg::BootEntry> {
    recipe.boot.as_ref().map(|b| crate::bootcfg::BootEntry {
        title: b.title.clone().unwrap_or_else(|| "imgforge".to_string()),
        kernel: b.kernel.clone(),
        initrd: b.initrd.clone(),
        cmdline: b.cmdline.clone().unwrap_or_default(),
        serial: b.serial,
    })
}

/// Adds the loader configs the `[boot]` section asks for to `tree`.
/// `iso_dir` is where isolinux.cfg goes (the directory of the BIOS boot image).
fn add_boot_configs(recipe: &Recipe, tree: &mut Tree, iso_dir: Option<&str>) -> Result<()> {
    let (Some(b), Some(entry)) = (&recipe.boot, boot_entry(recipe)) else {
        return Ok(());
    };
    let entries = [entry];
    for l in &b.loaders {
        match l.as_str() {
            "isolinux" | "syslinux" => {
                let dir = iso_dir.unwrap_or("/isolinux");
                tree.add_file(
                    &format!("{dir}/isolinux.cfg"),
                    crate::bootcfg::isolinux_cfg(&entries).into_bytes(),
                )?;
            }
            "grub" => {
                let cfg = crate::bootcfg::grub_cfg(&entries).into_bytes();
                tree.add_file("/boot/grub/grub.cfg", cfg.clone())?;
                tree.add_file("/EFI/BOOT/grub.cfg", cfg)?;
            }
            "systemd-boot" => {
                for (path, text) in crate::bootcfg::systemd_boot(&entries) {
                    tree.add_file(&path, text.into_bytes())?;
                }
            }
            other => {
                return Err(Error::invalid(
                    "boot.loaders",
                    format!("'{other}' is not isolinux, grub or systemd-boot"),
                ))
            }
        }
    }
    Ok(())
}

/// Builds the filesystem a section describes, `size` bytes (or fitted),
/// `hidden_sectors` before it on its disk.
fn build_fs(
    fs: &Filesystem,
    key: &str,
    tree: &Tree,
    size: Option<u64>,
    hidden_sectors: u64,
    ctx: &BuildContext,
    warnings: &mut Vec<String>,
) -> Result<Option<crate::Disk>> {
    let ty = fs.fs_type.as_deref().unwrap_or("none");
    let size = match (&fs.size, size) {
        (_, Some(s)) => Some(s),
        (Some(s), None) => Some(crate::size::parse_size(s, &format!("{key}.size"))?),
        (None, None) => None,
    };
    let named = |e: Error| match e {
        Error::NoSpace { what, msg } => Error::NoSpace {
            what: format!("{key} ({what})"),
            msg,
        },
        other => other,
    };
    if fs.symlinks.is_some() && !matches!(ty, "fat" | "vfat") {
        return Err(Error::invalid(
            format!("{key}.symlinks"),
            format!("applies to fat filesystems; {ty} stores symlinks as they are"),
        ));
    }
    match ty {
        "fat" | "vfat" => {
            let (follow_symlinks, skip_special) = match fs.symlinks.as_deref() {
                None | Some("follow") => (true, false),
                Some("skip") => (false, true),
                Some("error") => (false, false),
                Some(other) => {
                    return Err(Error::invalid(
                        format!("{key}.symlinks"),
                        format!("'{other}' is not follow, skip or error"),
                    ))
                }
            };
            let opts = crate::fat::write::FatOptions {
                follow_symlinks,
                skip_special,
                size,
                fat_type: match fs.fat_bits {
                    Some(12) => Some(crate::fat::raw::FatType::Fat12),
                    Some(16) => Some(crate::fat::raw::FatType::Fat16),
                    Some(32) => Some(crate::fat::raw::FatType::Fat32),
                    _ => None,
                },
                label: fs.label.clone(),
                hidden_sectors: u32::try_from(hidden_sectors).unwrap_or(u32::MAX),
                ..Default::default()
            };
            let (disk, w) =
                crate::fat::write::build_with_warnings(tree, &opts, ctx).map_err(named)?;
            warnings.extend(w.into_iter().map(|w| format!("{key}: {w}")));
            Ok(Some(disk))
        }
        "ext4" => {
            let mut opts = crate::ext4::write::Ext4Options {
                size,
                label: fs.label.clone(),
                ..Default::default()
            };
            if let Some(j) = fs.journal {
                opts.journal = j;
            }
            if let Some(p) = fs.extra_percent {
                opts.extra_percent = p;
            }
            crate::ext4::write::build(tree, &opts, ctx)
                .map(Some)
                .map_err(named)
        }
        _ => Ok(None),
    }
}

/// Builds a recipe's disk (partition table and filesystems) as a sparse
/// [`crate::Disk`], before any container.
pub fn build_disk(
    recipe: &Recipe,
    inputs: &dyn Inputs,
    ctx: &BuildContext,
    progress: &dyn Progress,
) -> Result<(crate::Disk, Built)> {
    use crate::gpt::edit::{AttrOp, Op, Script};
    use crate::size::{Amount, Position};
    let mut built = Built::default();
    let disk_section = recipe.disk.clone().unwrap_or(crate::recipe::DiskSection {
        size: None,
        table: "gpt".into(),
        sector_size: 512,
    });

    // A bare filesystem, or a disk with table = none: the filesystem is the disk.
    if crate::recipe::Kind::Filesystem == recipe.kind() || disk_section.table == "none" {
        let fs = recipe
            .filesystem
            .as_ref()
            .or_else(|| recipe.partition.first().and_then(|p| p.filesystem.as_ref()))
            .ok_or_else(|| {
                Error::invalid(
                    "filesystem",
                    "nothing to build: no [filesystem] or partition filesystem",
                )
            })?;
        let size = disk_section
            .size
            .as_deref()
            .map(|s| crate::size::parse_size(s, "disk.size"))
            .transpose()?;
        phase(progress, "assembling files")?;
        let mut tree = assemble_tree(fs, "filesystem", inputs, ctx)?;
        add_boot_configs(recipe, &mut tree, None)?;
        phase(progress, "building filesystem")?;
        return match build_fs(fs, "filesystem", &tree, size, 0, ctx, &mut built.warnings)? {
            Some(d) => Ok((d, built)),
            None => Ok((crate::Disk::new(size.unwrap_or(0)), built)),
        };
    }

    let ss = disk_section.sector_size as u64;
    let size = match &disk_section.size {
        Some(s) => crate::size::parse_size(s, "disk.size")?,
        None => {
            // Partitions plus 1 MiB in front and 1 MiB for the backup table.
            let mut total = 2u64 << 20;
            for (i, p) in recipe.partition.iter().enumerate() {
                let s = crate::size::parse_size(&p.size, &format!("partition[{}].size", i + 1))?;
                total = total
                    .checked_add(s.div_ceil(1 << 20) << 20)
                    .ok_or_else(|| Error::invalid("disk.size", "too large"))?;
            }
            total
        }
    };
    if size % ss != 0 {
        return Err(Error::invalid(
            "disk.size",
            format!("{size} bytes is not a whole number of {ss}-byte sectors"),
        ));
    }
    let mut disk = crate::Disk::new(size);
    let mut script = Script {
        mbr: disk_section.table == "mbr",
        sector_size: Some(ss),
        ..Default::default()
    };
    script.ops.push(Op::Clear);
    let mut numbers = Vec::new();
    let mut next = 1u32;
    for (i, p) in recipe.partition.iter().enumerate() {
        let key = format!("partition[{}]", i + 1);
        let number = p.number.unwrap_or(next);
        next = number + 1;
        numbers.push(number);
        let end = if p.size == "rest" {
            Position::Minus(Amount::Sectors(0))
        } else {
            Position::Plus(Amount::Bytes(crate::size::parse_size(
                &p.size,
                &format!("{key}.size"),
            )?))
        };
        script.ops.push(Op::New {
            number,
            start: Position::Default,
            end,
        });
        if let Some(t) = &p.type_code {
            script.ops.push(Op::TypeCode {
                number,
                code: t.clone(),
            });
        }
        if let Some(n) = &p.name {
            script.ops.push(Op::ChangeName {
                number,
                name: n.clone(),
            });
        }
        for &bit in &p.attributes {
            script.ops.push(Op::Attributes {
                number,
                op: AttrOp::Set(bit as u32),
            });
        }
        if p.bootable {
            script.ops.push(Op::Attributes {
                number,
                op: AttrOp::Set(2),
            });
        }
    }
    phase(progress, "partitioning")?;
    crate::gpt::edit::apply(&mut disk, &script, ctx).map_err(|e| match e {
        Error::Invalid { key, msg } => Error::invalid(format!("partition ({key})"), msg),
        other => other,
    })?;
    let (table, warnings) = crate::partitions::read_table(&disk);
    built.warnings.extend(warnings);
    let table = table.ok_or_else(|| {
        Error::invalid("disk.table", "the partition table could not be read back")
    })?;
    for (i, p) in recipe.partition.iter().enumerate() {
        let key = format!("partition[{}]", i + 1);
        let Some(fs) = &p.filesystem else { continue };
        let number = numbers[i];
        let part = table
            .partitions
            .iter()
            .find(|q| q.number == number)
            .ok_or_else(|| Error::invalid(&key, format!("partition {number} was not created")))?;
        let offset = part.start * table.sector_size;
        let len = (part.end + 1 - part.start) * table.sector_size;
        phase(
            progress,
            &format!("assembling files for partition {number}"),
        )?;
        let mut tree = assemble_tree(fs, &format!("{key}.filesystem"), inputs, ctx)?;
        // Loader configs go to the first FAT partition (the ESP).
        if matches!(fs.fs_type.as_deref(), Some("fat" | "vfat"))
            && !recipe.partition[..i].iter().any(|q| {
                matches!(
                    q.filesystem.as_ref().and_then(|f| f.fs_type.as_deref()),
                    Some("fat" | "vfat")
                )
            })
        {
            add_boot_configs(recipe, &mut tree, None)?;
        }
        phase(
            progress,
            &format!("building filesystem for partition {number}"),
        )?;
        if let Some(img) = build_fs(
            fs,
            &format!("{key}.filesystem"),
            &tree,
            Some(len),
            part.start,
            ctx,
            &mut built.warnings,
        )? {
            if img.size() > len {
                return Err(Error::no_space(
                    key,
                    format!(
                        "the filesystem needs {} bytes but the partition has {len}",
                        img.size()
                    ),
                ));
            }
            disk.embed(offset, &img)?;
        }
    }
    if let Some(g) = &recipe.grub {
        install_grub(&mut disk, g, recipe, inputs, ctx, progress, &mut built)?;
    }
    Ok((disk, built))
}

/// `[grub]`: `grub::install` for each target, in order, on the built disk,
/// as `imgforge grub-install --directory SOURCE --modules LIST
/// --boot-directory PREFIX [--config FILE]` does on the image file.
fn install_grub(
    disk: &mut crate::Disk,
    g: &crate::recipe::GrubSection,
    recipe: &Recipe,
    inputs: &dyn Inputs,
    ctx: &BuildContext,
    progress: &dyn Progress,
    built: &mut Built,
) -> Result<()> {
    use crate::grub::install::{install, InstallOptions};
    use crate::grub::ModuleSource;
    let config = match (&g.config, boot_entry(recipe)) {
        (Some(c), _) => Some(c.as_bytes().to_vec()),
        (None, Some(e)) => Some(crate::bootcfg::grub_cfg(&[e]).into_bytes()),
        (None, None) => None,
    };
    for (platform, target) in g.platforms()?.into_iter().zip(&g.targets) {
        phase(progress, &format!("installing GRUB for {target}"))?;
        let key = format!("grub.sources.{target}");
        let path = g
            .sources
            .get(target)
            .ok_or_else(|| Error::invalid(key.as_str(), "missing"))?;
        let src = ModuleSource::from_archive(inputs.file(path)?, Some(platform))?;
        if src.platform() != platform {
            return Err(Error::invalid(
                key,
                format!(
                    "{path} holds {} modules, not {target}",
                    src.platform().name()
                ),
            ));
        }
        let modules = g.modules_for(platform);
        if let Some(m) = modules.iter().find(|m| !src.contains(&format!("{m}.mod"))) {
            return Err(Error::invalid(
                "grub.modules",
                format!("'{m}' is not a {target} module of {path}"),
            ));
        }
        let opts = InstallOptions {
            target: platform,
            modules,
            boot_directory: Some(g.prefix().to_string()),
            config: config.clone(),
            install_modules: match g.install_modules {
                Some(false) => Some(Vec::new()),
                _ => None,
            },
        };
        let done = install(disk, &opts, &src, ctx).map_err(|e| match e {
            // install names grub-install's options; the recipe has keys.
            Error::Invalid { key: k, msg } if k.starts_with("--") => {
                let k = match k.as_str() {
                    "--boot-directory" => "grub.prefix".to_string(),
                    "--directory" => format!("grub.sources.{target}"),
                    _ => format!("grub.targets ({target})"),
                };
                Error::invalid(k, msg)
            }
            other => other,
        })?;
        built.warnings.extend(
            done.notes
                .into_iter()
                .map(|n| format!("grub ({target}): {n}")),
        );
    }
    Ok(())
}

/// Builds a recipe into `sink`: a disk in its container format, a bare
/// filesystem, an initramfs or an ISO.
pub fn build(
    recipe: &Recipe,
    inputs: &dyn Inputs,
    ctx: &BuildContext,
    sink: &mut dyn crate::Sink,
    progress: &dyn Progress,
) -> Result<Built> {
    use crate::recipe::Kind;
    match recipe.kind() {
        Kind::Initramfs => {
            let fs = recipe
                .filesystem
                .as_ref()
                .ok_or_else(|| Error::invalid("filesystem", "missing"))?;
            let mut tree = assemble_tree(fs, "filesystem", inputs, ctx)?;
            add_boot_configs(recipe, &mut tree, None)?;
            let level = recipe.output.level.unwrap_or(6);
            let opts = crate::cpio::write::CpioOptions {
                // An initramfs is always gzip'd, as `cpio | gzip` makes it.
                compression: crate::cpio::write::CpioCompression::Gzip { level },
                clamp_mtime: true,
                prepend: None,
            };
            crate::cpio::write::write(&tree, &opts, ctx, sink, progress)?;
            Ok(Built::default())
        }
        Kind::Iso => {
            let fs = recipe
                .filesystem
                .as_ref()
                .ok_or_else(|| Error::invalid("filesystem", "missing"))?;
            let mut tree = assemble_tree(fs, "filesystem", inputs, ctx)?;
            let mut iso = recipe.iso.clone().unwrap_or_default();
            let mut esp_warnings = Vec::new();
            if let Some(esp) = &iso.efi_image {
                // The UEFI El Torito image: a FAT filesystem built here, with
                // the loader configs, placed in the ISO tree.
                let mut esp_tree = assemble_tree(esp, "iso.efi_image", inputs, ctx)?;
                add_boot_configs(recipe, &mut esp_tree, None)?;
                let mut fat = esp.clone();
                fat.fs_type = Some("fat".into());
                let img = build_fs(
                    &fat,
                    "iso.efi_image",
                    &esp_tree,
                    None,
                    0,
                    ctx,
                    &mut esp_warnings,
                )?
                .ok_or_else(|| Error::invalid("iso.efi_image", "could not build the FAT image"))?;
                let path = iso
                    .efi_boot
                    .clone()
                    .unwrap_or_else(|| "/boot/efi.img".to_string());
                let len = img.size();
                let src: Source = std::sync::Arc::new(img);
                tree.insert(
                    &path,
                    Node {
                        kind: NodeKind::File(FileData::Source {
                            src,
                            offset: 0,
                            len,
                        }),
                        meta: Meta::new(0o644, ctx.epoch),
                    },
                )?;
                iso.efi_boot = Some(path);
            }
            let iso_dir = iso
                .bios_boot
                .as_deref()
                .and_then(|p| p.rsplit_once('/'))
                .map(|(d, _)| if d.is_empty() { "/" } else { d })
                .map(str::to_string);
            add_boot_configs(recipe, &mut tree, iso_dir.as_deref())?;
            let mut opts = crate::iso9660::write::IsoOptions {
                volume_id: iso.volume_id.clone().unwrap_or_else(|| "IMGFORGE".into()),
                joliet: iso.joliet.unwrap_or(true),
                joliet_long: iso.joliet_long.unwrap_or(false),
                rock_ridge: if iso.rock_ridge.unwrap_or(true) {
                    crate::iso9660::write::RockRidge::Full
                } else {
                    crate::iso9660::write::RockRidge::None
                },
                boot_catalog: iso.boot_catalog.clone(),
                isohybrid_gpt_basdat: iso.isohybrid_gpt_basdat,
                ..Default::default()
            };
            if let Some(b) = &iso.bios_boot {
                opts.boot.push(crate::iso9660::write::BootImage {
                    path: b.clone(),
                    platform: crate::iso9660::raw::PLATFORM_X86,
                    emulation: crate::iso9660::write::Emulation::NoEmulation,
                    load_size: Some(iso.boot_load_size.unwrap_or(4)),
                    load_segment: 0,
                    boot_info_table: iso.boot_info_table.unwrap_or(true),
                });
            }
            if let Some(e) = &iso.efi_boot {
                opts.boot.push(crate::iso9660::write::BootImage {
                    path: e.clone(),
                    platform: crate::iso9660::raw::PLATFORM_EFI,
                    emulation: crate::iso9660::write::Emulation::NoEmulation,
                    load_size: None,
                    load_segment: 0,
                    boot_info_table: false,
                });
            }
            if !opts.boot.is_empty() && opts.boot_catalog.is_none() {
                opts.boot_catalog = Some("/boot.catalog".into());
            }
            if let Some(m) = &iso.isohybrid_mbr {
                let src = inputs.file(m)?;
                opts.isohybrid_mbr = Some(crate::io::read_vec(
                    &*src,
                    0,
                    crate::io::ReadAt::size(&*src).min(512),
                    512,
                    m,
                )?);
            }
            let mut warnings = esp_warnings;
            warnings.extend(crate::iso9660::write::write(
                &tree, &opts, ctx, sink, progress,
            )?);
            Ok(Built { warnings })
        }
        Kind::Disk | Kind::Filesystem => {
            let (disk, built) = build_disk(recipe, inputs, ctx, progress)?;
            let format = crate::container::Format::parse(&recipe.output.format)?;
            let opts = recipe.output.write_options(ctx)?;
            crate::container::write(format, &disk, &opts, sink, progress)?;
            Ok(built)
        }
        Kind::Grow => {
            let g = recipe
                .grow
                .as_ref()
                .ok_or_else(|| Error::invalid("grow", "missing"))?;
            let format = crate::container::Format::parse(&recipe.output.format)?;
            let opts = recipe.output.write_options(ctx)?;
            grow(inputs.file(&g.image)?, g, format, &opts, sink, progress)?;
            Ok(Built::default())
        }
    }
}

/// What `imgforge resize [--grow-last] IMAGE SIZE` does, to a copy of the
/// image streamed into a new image of `format`: the virtual disk grows, a
/// GPT's backup table moves to the new end (`sgdisk -e`) so the guest sees
/// the space and, with `grow_last`, the last partition fills it
/// (`growpart`).
pub fn grow(
    src: Source,
    g: &GrowSection,
    format: crate::container::Format,
    opts: &crate::container::WriteOptions,
    sink: &mut dyn crate::Sink,
    progress: &dyn Progress,
) -> Result<()> {
    let mut disk = crate::container::open(src, None)?.disk;
    let new = crate::size::parse_resize(&g.size, "grow.size")?.grow(disk.size(), "grow.size")?;
    let resize = crate::gpt::edit::ResizeOptions {
        grow_last: g.grow_last,
        ..Default::default()
    };
    crate::gpt::edit::resize(&mut disk, new, resize)?;
    crate::container::write(format, &disk, opts, sink, progress)
}
