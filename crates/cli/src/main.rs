//! The `imgforge` command line: the same core as the page, on local files.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd_mkisofs;
mod files;
mod tree_dir;

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
    /// Build an ISO 9660 image (mkisofs options: -o, -R, -J, -b, -c, -e, ...).
    #[command(disable_help_flag = true)]
    Mkisofs {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
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
        Command::Mkisofs { args } => cmd_mkisofs::run(&args),
    }
}
