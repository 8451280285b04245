//! Determinism: everything that would otherwise come from the clock or a
//! random number generator is derived from the build epoch and seed here.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `[build]`: what stands in for the clock and for randomness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// Seconds since 1970 for every timestamp (SOURCE_DATE_EPOCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// Seed for UUIDs, GUIDs, serials and hash seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// What every build takes in place of the clock and randomness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    /// Seconds since 1970-01-01 UTC used for every timestamp written
    /// (SOURCE_DATE_EPOCH semantics).
    pub epoch: i64,
    /// The seed from which UUIDs, GUIDs, serials and hash seeds are derived.
    pub seed: String,
}

impl Default for BuildContext {
    fn default() -> Self {
        // 2024-01-01T00:00:00Z: a fixed, documented default.
        BuildContext {
            epoch: 1_704_067_200,
            seed: "imgforge".to_string(),
        }
    }
}

impl BuildContext {
    /// A context with this epoch and seed.
    pub fn new(epoch: i64, seed: impl Into<String>) -> Self {
        BuildContext {
            epoch,
            seed: seed.into(),
        }
    }

    /// The context of a build, from the strongest source to the weakest:
    /// `epoch` (a command line's `--epoch`), then `source_date_epoch` (the
    /// value of the SOURCE_DATE_EPOCH environment variable, which the
    /// caller reads: the core has no environment), then the recipe's
    /// `[build]` table, then the default; `seed` likewise wins over the
    /// recipe's. SOURCE_DATE_EPOCH is only parsed when it is used.
    pub fn resolve(
        recipe: Option<&BuildSection>,
        epoch: Option<i64>,
        source_date_epoch: Option<&str>,
        seed: Option<&str>,
    ) -> Result<BuildContext> {
        let mut ctx = BuildContext::default();
        if let Some(b) = recipe {
            if let Some(e) = b.epoch {
                ctx.epoch = e;
            }
            if let Some(s) = &b.seed {
                ctx.seed = s.clone();
            }
        }
        if let Some(e) = epoch {
            ctx.epoch = e;
        } else if let Some(v) = source_date_epoch {
            ctx.epoch = parse_source_date_epoch(v)?;
        }
        if let Some(s) = seed {
            ctx.seed = s.to_string();
        }
        Ok(ctx)
    }

    /// 32 bytes derived from the seed and a purpose label; the same label
    /// always gives the same bytes for the same seed.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"imgforge-seed\0");
        h.update(self.seed.as_bytes());
        h.update(b"\0");
        h.update(purpose.as_bytes());
        h.finalize().into()
    }

    /// A random-looking (version 4, RFC 4122 variant) UUID in big-endian byte
    /// order, derived from the seed and `purpose`.
    pub fn uuid(&self, purpose: &str) -> [u8; 16] {
        let d = self.derive(purpose);
        let mut u = [0u8; 16];
        u.copy_from_slice(&d[..16]);
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        u
    }

    /// A 32-bit value (volume serials, FAT volume IDs) from the seed.
    pub fn u32(&self, purpose: &str) -> u32 {
        let d = self.derive(purpose);
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }
}

/// Parses a SOURCE_DATE_EPOCH value: decimal seconds since 1970, surrounding
/// blanks allowed (reproducible-builds.org's specification).
pub fn parse_source_date_epoch(value: &str) -> Result<i64> {
    value.trim().parse().map_err(|_| {
        Error::invalid(
            "SOURCE_DATE_EPOCH",
            format!("'{value}' is not a number of seconds since 1970"),
        )
    })
}

/// Formats a big-endian UUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_depends_on_seed_and_purpose() {
        let a = BuildContext::new(0, "a");
        let b = BuildContext::new(0, "b");
        assert_ne!(a.uuid("disk"), b.uuid("disk"));
        assert_ne!(a.uuid("disk"), a.uuid("part1"));
        assert_eq!(a.uuid("disk"), BuildContext::new(5, "a").uuid("disk"));
        let u = a.uuid("x");
        assert_eq!(u[6] >> 4, 4);
        assert_eq!(u[8] >> 6, 2);
        assert_eq!(format_uuid(&u).len(), 36);
    }

    #[test]
    fn resolve_takes_the_strongest_source() {
        let recipe = BuildSection {
            epoch: Some(10),
            seed: Some("r".into()),
        };
        let c = BuildContext::resolve(Some(&recipe), None, None, None).unwrap();
        assert_eq!(c, BuildContext::new(10, "r"));
        let c = BuildContext::resolve(Some(&recipe), None, Some(" 20\n"), Some("s")).unwrap();
        assert_eq!(c, BuildContext::new(20, "s"));
        let c = BuildContext::resolve(Some(&recipe), Some(30), Some("junk"), None).unwrap();
        assert_eq!(c, BuildContext::new(30, "r"));
        assert_eq!(
            BuildContext::resolve(None, None, None, None).unwrap(),
            BuildContext::default()
        );
        let e = BuildContext::resolve(None, None, Some("yesterday"), None).unwrap_err();
        assert!(e.to_string().starts_with("SOURCE_DATE_EPOCH: "), "{e}");
    }
}
