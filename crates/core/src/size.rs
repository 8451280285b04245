//! Sizes as people write them: `10G`, `512M`, `1.5G`, `2048s` (sectors), and
//! sgdisk's partition positions `+100M`, `-0`, `0` (default).
//!
//! Suffixes are binary (K = 1024), as in sgdisk and qemu-img. A bare number is
//! bytes for disk sizes (qemu-img) and sectors for partition positions
//! (sgdisk).

use crate::{Error, Result};

/// An amount in bytes or in logical sectors (resolved once the sector size
/// is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// A number of bytes.
    Bytes(u64),
    /// A number of logical sectors.
    Sectors(u64),
}

impl Amount {
    /// In bytes; `None` on overflow.
    pub fn bytes(self, sector_size: u64) -> Option<u64> {
        match self {
            Amount::Bytes(b) => Some(b),
            Amount::Sectors(s) => s.checked_mul(sector_size),
        }
    }
    /// In sectors, rounding bytes up to a whole sector.
    pub fn sectors(self, sector_size: u64) -> u64 {
        match self {
            Amount::Bytes(b) => b.div_ceil(sector_size),
            Amount::Sectors(s) => s,
        }
    }
}

/// A partition start or end as sgdisk takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// `0` or empty: the default (first free aligned sector / end of the
    /// largest free block).
    Default,
    /// An absolute position.
    At(Amount),
    /// `+N`: N after the start (for ends: the partition size).
    Plus(Amount),
    /// `-N`: N before the end of the free space / disk (`-0` = the end).
    Minus(Amount),
}

fn parse_amount(s: &str, bare_is_sectors: bool, key: &str) -> Result<Amount> {
    let s = s.trim();
    let bad = || {
        Error::invalid(
            key,
            format!("'{s}' is not a size (examples: 10G, 512M, 100K, 2048s, 4096)"),
        )
    };
    if s.is_empty() {
        return Err(bad());
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() {
        return Err(bad());
    }
    let suffix = suffix.trim();
    let mult: Option<u64> = match suffix.to_ascii_lowercase().as_str() {
        "" => None,
        "s" => return num.parse::<u64>().map(Amount::Sectors).map_err(|_| bad()),
        "b" => Some(1),
        "k" | "kb" | "kib" => Some(1 << 10),
        "m" | "mb" | "mib" => Some(1 << 20),
        "g" | "gb" | "gib" => Some(1 << 30),
        "t" | "tb" | "tib" => Some(1 << 40),
        "p" | "pb" | "pib" => Some(1 << 50),
        "e" | "eb" | "eib" => Some(1 << 60),
        _ => return Err(bad()),
    };
    match mult {
        None => {
            let n: u64 = num.parse().map_err(|_| bad())?;
            Ok(if bare_is_sectors {
                Amount::Sectors(n)
            } else {
                Amount::Bytes(n)
            })
        }
        Some(m) => {
            if let Some((int, frac)) = num.split_once('.') {
                let int: u64 = if int.is_empty() {
                    0
                } else {
                    int.parse().map_err(|_| bad())?
                };
                if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let f: u64 = frac.parse().map_err(|_| bad())?;
                let scale = 10u64.pow(frac.len() as u32);
                let whole = int.checked_mul(m).ok_or_else(bad)?;
                let part = (f as u128 * m as u128 / scale as u128) as u64;
                Ok(Amount::Bytes(whole.checked_add(part).ok_or_else(bad)?))
            } else {
                let n: u64 = num.parse().map_err(|_| bad())?;
                Ok(Amount::Bytes(n.checked_mul(m).ok_or_else(|| {
                    Error::invalid(key, format!("'{s}' is too large"))
                })?))
            }
        }
    }
}

/// A size in bytes: `10G`, `512M`, `4096`, `2048s` (512-byte sectors).
pub fn parse_size(s: &str, key: &str) -> Result<u64> {
    match parse_amount(s, false, key)? {
        Amount::Bytes(b) => Ok(b),
        Amount::Sectors(n) => n
            .checked_mul(512)
            .ok_or_else(|| Error::invalid(key, format!("'{s}' is too large"))),
    }
}

/// A size for `resize`: `+1G` grows by, `-1G` shrinks by, `20G` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// `20G`: the new size.
    To(u64),
    /// `+1G`: grow by.
    Grow(u64),
    /// `-1G`: shrink by.
    Shrink(u64),
}

impl Resize {
    /// The new size of an image of `old` bytes. `key` names the setting in
    /// errors.
    pub fn apply(self, old: u64, key: &str) -> Result<u64> {
        match self {
            Resize::To(n) => Ok(n),
            Resize::Grow(n) => old
                .checked_add(n)
                .ok_or_else(|| Error::invalid(key, format!("{old} + {n} bytes is too large"))),
            Resize::Shrink(n) => old.checked_sub(n).ok_or_else(|| {
                Error::invalid(
                    key,
                    format!("cannot shrink a {old}-byte image by {n} bytes"),
                )
            }),
        }
    }

    /// As [`Resize::apply`], for images that only grow: a size below
    /// `old` is an error.
    pub fn grow(self, old: u64, key: &str) -> Result<u64> {
        let new = self.apply(old, key)?;
        if new < old || matches!(self, Resize::Shrink(n) if n > 0) {
            return Err(Error::invalid(
                key,
                format!("shrinking ({old} to {new} bytes) is not supported: growing only (+SIZE or a larger size)"),
            ));
        }
        Ok(new)
    }
}

/// Parses `+SIZE`, `-SIZE` or `SIZE` (see [`parse_size`]).
pub fn parse_resize(s: &str, key: &str) -> Result<Resize> {
    let s = s.trim();
    if let Some(r) = s.strip_prefix('+') {
        Ok(Resize::Grow(parse_size(r, key)?))
    } else if let Some(r) = s.strip_prefix('-') {
        Ok(Resize::Shrink(parse_size(r, key)?))
    } else {
        Ok(Resize::To(parse_size(s, key)?))
    }
}

/// A partition start or end as sgdisk takes it (a bare number is sectors).
pub fn parse_position(s: &str, key: &str) -> Result<Position> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(Position::Default);
    }
    if let Some(r) = s.strip_prefix('+') {
        return Ok(Position::Plus(parse_amount(r, true, key)?));
    }
    if let Some(r) = s.strip_prefix('-') {
        return Ok(Position::Minus(parse_amount(r, true, key)?));
    }
    Ok(Position::At(parse_amount(s, true, key)?))
}

/// `1.5 GiB` style, for messages and `inspect`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10G", "s").unwrap(), 10 << 30);
        assert_eq!(parse_size("512M", "s").unwrap(), 512 << 20);
        assert_eq!(parse_size("2048s", "s").unwrap(), 2048 * 512);
        assert_eq!(parse_size("4096", "s").unwrap(), 4096);
        assert_eq!(parse_size("1.5G", "s").unwrap(), 3 << 29);
        assert_eq!(parse_size("100KiB", "s").unwrap(), 100 << 10);
        for bad in [
            "",
            "G",
            "10X",
            "1..5G",
            "-3",
            "99999999999999999999",
            "16384P",
            "1.G",
        ] {
            assert!(parse_size(bad, "size").is_err(), "{bad}");
        }
        let e = parse_size("ten", "disk.size").unwrap_err().to_string();
        assert!(e.starts_with("disk.size:"), "{e}");
    }

    #[test]
    fn positions() {
        assert_eq!(parse_position("", "p").unwrap(), Position::Default);
        assert_eq!(parse_position("0", "p").unwrap(), Position::Default);
        assert_eq!(
            parse_position("+100M", "p").unwrap(),
            Position::Plus(Amount::Bytes(100 << 20))
        );
        assert_eq!(
            parse_position("-0", "p").unwrap(),
            Position::Minus(Amount::Sectors(0))
        );
        assert_eq!(
            parse_position("2048", "p").unwrap(),
            Position::At(Amount::Sectors(2048))
        );
        assert_eq!(
            parse_position("2048s", "p").unwrap(),
            Position::At(Amount::Sectors(2048))
        );
        assert!(parse_position("+x", "p").is_err());
        assert_eq!(Amount::Sectors(8).bytes(4096), Some(32768));
        assert_eq!(Amount::Bytes(1000).sectors(512), 2);
    }

    #[test]
    fn resize() {
        assert_eq!(parse_resize("+1G", "r").unwrap(), Resize::Grow(1 << 30));
        assert_eq!(parse_resize("-1M", "r").unwrap(), Resize::Shrink(1 << 20));
        assert_eq!(parse_resize("20G", "r").unwrap(), Resize::To(20 << 30));
        assert_eq!(Resize::Grow(5).apply(10, "r").unwrap(), 15);
        assert_eq!(Resize::Shrink(5).apply(10, "r").unwrap(), 5);
        assert!(Resize::Shrink(11).apply(10, "r").is_err());
        assert!(Resize::Grow(u64::MAX).apply(10, "r").is_err());
        assert_eq!(Resize::To(20).grow(10, "r").unwrap(), 20);
        assert_eq!(Resize::Grow(0).grow(10, "r").unwrap(), 10);
        let e = Resize::To(5).grow(10, "size").unwrap_err().to_string();
        assert!(e.starts_with("size: shrinking"), "{e}");
        assert!(Resize::Shrink(1).grow(10, "r").is_err());
    }
}
