//! The `imgforge` command line: the same core as the page, on local files.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd_build;
mod cmd_convert;
mod cmd_copy;
mod cmd_create;
mod cmd_files;
mod cmd_grub_install;
mod cmd_grub_mkimage;
mod cmd_grub_mkrescue;
mod cmd_info;
mod cmd_initramfs;
mod cmd_inspect;
mod cmd_mkfs;
mod cmd_mkisofs;
mod cmd_part;
mod cmd_resize;
mod cmd_resize_qcow2;
mod files;
mod progress_bar;
mod sgdisk;
mod tree_dir;

/// Build and inspect virtual machine images: raw, GPT/MBR, FAT, ext4,
/// initramfs, ISO 9660, qcow2, VHD, VHDX, VMDK, OVA and Vagrant boxes.
#[derive(Parser)]
#[command(name = "imgforge", version, about = "Build and inspect virtual machine images: raw, GPT/MBR, FAT, ext4, initramfs, ISO 9660, qcow2, VHD, VHDX, VMDK, OVA and Vagrant boxes", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an empty image (sparse raw file by default), like qemu-img create.
    Create(cmd_create::CreateArgs),
    /// Grow a raw or qcow2 image (--shrink: raw); on GPT disks move the backup table to the end.
    Resize(cmd_resize::ResizeArgs),
    /// Edit a raw or qcow2 image's partition table with sgdisk's options (--mbr for MBR).
    Part(cmd_part::PartArgs),
    /// Install GRUB into a raw or qcow2 disk image in place (x86_64-efi, i386-pc).
    GrubInstall(cmd_grub_install::GrubInstallArgs),
    /// Show an image's format, sizes and partitions.
    Inspect(cmd_inspect::InspectArgs),
    /// Copy a file; --sparse turns zero blocks into holes.
    Copy(cmd_copy::CopyArgs),
    /// Build a Linux initramfs (newc cpio, gzip) from a directory or tar.
    Initramfs(cmd_initramfs::InitramfsArgs),
    /// Build an ISO 9660 image (mkisofs options: -o, -R, -J, -b, -c, -e, ...).
    #[command(disable_help_flag = true)]
    Mkisofs {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Build the image a recipe describes (TOML or JSON).
    Build(cmd_build::BuildArgs),
    /// Make a FAT or ext4 filesystem image from a directory or tar.
    Mkfs(cmd_mkfs::MkfsArgs),
    /// List files in a filesystem image, initramfs or ISO: IMAGE[:PARTNUM][:/path].
    Ls {
        /// Long listing: mode, links, uid, gid, size, time, link target.
        #[arg(short = 'l')]
        long: bool,
        /// List the whole subtree.
        #[arg(short = 'R')]
        recursive: bool,
        spec: String,
    },
    /// Print a file from inside an image: IMAGE[:PARTNUM]:/path.
    Cat { spec: String },
    /// Extract files from an image into DIR: IMAGE[:PARTNUM][:/path] DIR.
    Extract {
        spec: String,
        dir: std::path::PathBuf,
    },
    /// Convert a disk image between formats, like qemu-img convert.
    Convert(cmd_convert::ConvertArgs),
    /// Show what an image holds, like qemu-img info.
    Info(cmd_info::InfoArgs),
    /// Make a GRUB image (x86_64-efi BOOTX64.EFI, i386-pc core.img) like grub-mkimage.
    GrubMkimage(cmd_grub_mkimage::GrubMkimageArgs),
    /// Make a bootable GRUB rescue ISO (BIOS and UEFI, CD and USB) like grub-mkrescue.
    GrubMkrescue(cmd_grub_mkrescue::GrubMkrescueArgs),
}

fn main() {
    quiet_stdout_panics();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Err(e) = run(cli, &matches) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `println!` panics when stdout is closed (`imgforge info X | head -0`);
/// report that as the one error line every other failure gets.
fn quiet_stdout_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") {
            eprintln!("error: {msg}");
            std::process::exit(1);
        }
        default(info)
    }));
}

fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<()> {
    match cli.command {
        Command::Create(a) => cmd_create::run(a),
        Command::Resize(a) => cmd_resize::run(a),
        Command::Part(a) => cmd_part::run(a),
        Command::GrubInstall(a) => cmd_grub_install::run(a),
        Command::Inspect(a) => cmd_inspect::run(a),
        Command::Copy(a) => cmd_copy::run(a),
        Command::Initramfs(a) => cmd_initramfs::run(a),
        Command::Mkisofs { args } => cmd_mkisofs::run(&args),
        Command::Build(a) => cmd_build::run(a),
        Command::Mkfs(a) => cmd_mkfs::run(a),
        Command::Ls {
            long,
            recursive,
            spec,
        } => cmd_files::ls(&spec, long, recursive),
        Command::Cat { spec } => cmd_files::cat(&spec),
        Command::Extract { spec, dir } => cmd_files::extract(&spec, &dir),
        Command::Convert(a) => cmd_convert::run(a),
        Command::Info(a) => cmd_info::run(a),
        Command::GrubMkimage(a) => cmd_grub_mkimage::run(a, matches),
        Command::GrubMkrescue(a) => cmd_grub_mkrescue::run(a),
    }
}
