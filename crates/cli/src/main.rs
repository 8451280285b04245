//! The `imgforge` command line: the same core as the page, on local files.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd_convert;
mod cmd_info;
mod cmd_resize;
mod files;

/// Build and inspect virtual machine images: raw, GPT/MBR, FAT, ext4,
/// initramfs, ISO 9660, qcow2, VHD, VHDX, VMDK, OVA and Vagrant boxes.
#[derive(Parser)]
#[command(name = "imgforge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the bytes of nothing (placeholder until the first command lands).
    Version,
    /// Convert a disk image between formats, like qemu-img convert.
    Convert(cmd_convert::ConvertArgs),
    /// Show what an image holds, like qemu-img info.
    Info(cmd_info::InfoArgs),
    /// Grow a raw or qcow2 image, like qemu-img resize.
    Resize(cmd_resize::ResizeArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Version => {
            println!("imgforge {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Convert(a) => cmd_convert::run(a),
        Command::Info(a) => cmd_info::run(a),
        Command::Resize(a) => cmd_resize::run(a),
    }
}
