//! `imgforge info`, like `qemu-img info`: the same field names, in JSON or
//! in qemu-img's human layout.

use crate::files::open_source;
use anyhow::{bail, Context, Result};
use clap::Args;
use imgforge_core::container::{self, Format};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

#[derive(Args)]
pub struct InfoArgs {
    /// Image format; detected from magic bytes when not given.
    #[arg(short = 'f')]
    pub format: Option<String>,
    /// `human` (default) or `json`.
    #[arg(long = "output", default_value = "human")]
    pub output: String,
    pub image: PathBuf,
}

/// qemu's size_to_str: three significant digits and a binary unit.
fn qemu_size(n: u64) -> String {
    const U: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut i = 0;
    let mut v = n as f64;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        return format!("{n} B");
    }
    let s = format!("{v:.3}");
    // Keep three significant digits, drop trailing zeros.
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{:.*}", digits, s.parse::<f64>().unwrap_or(v));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} {}", U[i])
}

pub fn run(a: InfoArgs) -> Result<()> {
    let fmt = a.format.as_deref().map(Format::parse).transpose()?;
    let src = open_source(&a.image)?;
    let opened =
        container::open(src, fmt).with_context(|| format!("cannot open {}", a.image.display()))?;
    let actual = std::fs::metadata(&a.image)
        .with_context(|| format!("cannot stat {}", a.image.display()))?
        .blocks()
        * 512;
    let info = &opened.info;
    match a.output.as_str() {
        "json" => {
            let mut v = serde_json::to_value(info)?;
            if let Some(m) = v.as_object_mut() {
                m.insert("filename".into(), a.image.display().to_string().into());
                m.insert("actual-size".into(), actual.into());
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        "human" => {
            println!("image: {}", a.image.display());
            println!("file format: {}", info.format);
            println!(
                "virtual size: {} ({} bytes)",
                qemu_size(info.virtual_size),
                info.virtual_size
            );
            println!("disk size: {}", qemu_size(actual));
            if let Some(cs) = info.cluster_size {
                println!("cluster_size: {cs}");
            }
            if let Some(b) = &info.backing_filename {
                println!("backing file: {b}");
            }
            if let Some(b) = &info.backing_format {
                println!("backing file format: {b}");
            }
            if info.dirty {
                println!("dirty flag: true");
            }
            if let Some(data) = info
                .format_specific
                .as_ref()
                .and_then(|f| f.get("data"))
                .and_then(|d| d.as_object())
            {
                println!("Format specific information:");
                for (k, v) in data {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    println!("    {}: {v}", k.replace('-', " "));
                }
            }
        }
        other => bail!("--output: '{other}' is not human or json"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_as_qemu_prints_them() {
        assert_eq!(super::qemu_size(1 << 30), "1 GiB");
        assert_eq!(super::qemu_size(200 << 20), "200 MiB");
        assert_eq!(super::qemu_size(196 * 1024), "196 KiB");
        assert_eq!(super::qemu_size(1536 << 20), "1.5 GiB");
        assert_eq!(super::qemu_size(100), "100 B");
    }
}
