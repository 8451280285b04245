//! `moddep.lst`: which modules each module needs, and the order
//! grub-mkimage puts modules in (`util/resolve.c`).
//!
//! GRUB reads the file into a list built by prepending, so when a module has
//! two lines the last one wins, and a line's dependencies are visited from
//! the last to the first. Each module is placed after everything it needs
//! (depth first); a module already placed is skipped.

use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// One line of moddep.lst: `name: dep dep ...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModDeps {
    /// Module name to its dependencies, in file order.
    pub deps: BTreeMap<String, Vec<String>>,
}

/// Deepest dependency chain followed before giving up (GRUB itself would
/// recurse until its stack overflows on a cycle).
const MAX_DEPTH: usize = 256;

impl ModDeps {
    /// Parses moddep.lst. A line without `:` is an error, as in GRUB.
    pub fn parse(text: &[u8], what: &str) -> Result<Self> {
        let mut deps = BTreeMap::new();
        let text = String::from_utf8_lossy(text);
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let Some((name, rest)) = line.split_once(':') else {
                return Err(Error::corrupt(
                    "moddep.lst",
                    format!("{what} line {}", i + 1),
                    format!("invalid line format: {:?}", line.trim_end()),
                ));
            };
            let list: Vec<String> = rest.split_ascii_whitespace().map(str::to_string).collect();
            // The last line for a name wins.
            deps.insert(name.to_string(), list);
        }
        Ok(ModDeps { deps })
    }

    /// The modules to embed for `wanted`, in grub-mkimage's order, each with
    /// the module that asked for it (`None`: asked for on the command line).
    pub fn resolve(&self, wanted: &[String]) -> Result<Vec<Resolved>> {
        let mut out = Vec::new();
        let mut placed = BTreeSet::new();
        let mut path = Vec::new();
        for w in wanted {
            self.add(w, None, &mut placed, &mut path, &mut out)?;
        }
        Ok(out)
    }

    fn add(
        &self,
        given: &str,
        needed_by: Option<&str>,
        placed: &mut BTreeSet<String>,
        path: &mut Vec<String>,
        out: &mut Vec<Resolved>,
    ) -> Result<()> {
        let name = module_name(given);
        if placed.contains(&name) {
            return Ok(());
        }
        if path.contains(&name) {
            return Err(Error::corrupt(
                "moddep.lst",
                name.clone(),
                format!("dependency cycle: {} -> {name}", path.join(" -> ")),
            ));
        }
        if path.len() >= MAX_DEPTH {
            return Err(Error::corrupt(
                "moddep.lst",
                name,
                "dependency chain is too deep",
            ));
        }
        if let Some(deps) = self.deps.get(&name) {
            path.push(name.clone());
            for d in deps.iter().rev() {
                self.add(d, Some(&name), placed, path, out)?;
            }
            path.pop();
        }
        placed.insert(name.clone());
        out.push(Resolved {
            file: module_file(given),
            name,
            needed_by: needed_by.map(str::to_string),
        });
        Ok(())
    }
}

/// One module to embed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Module name (`part_gpt`).
    pub name: String,
    /// File name in the folder (`part_gpt.mod`).
    pub file: String,
    /// The module whose dependency it is; `None` when asked for directly.
    pub needed_by: Option<String>,
}

/// GRUB's `get_module_name`: the base name without a `.mod` suffix.
pub fn module_name(s: &str) -> String {
    let base = s.rsplit('/').next().unwrap_or(s);
    base.strip_suffix(".mod").unwrap_or(base).to_string()
}

/// The file a module name refers to in the folder: `name.mod` (a path
/// given on the command line is looked up by its base name).
fn module_file(s: &str) -> String {
    let base = s.rsplit('/').next().unwrap_or(s);
    if base.ends_with(".mod") {
        base.to_string()
    } else {
        format!("{base}.mod")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: &[Resolved]) -> Vec<&str> {
        r.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn dependencies_come_first_last_listed_first() {
        let d = ModDeps::parse(
            b"normal: crypto terminal gettext boot extcmd bufio\nterminal:\ncrypto:\nextcmd:\ngettext:\nboot:\nbufio:\nfat: fshelp\nfshelp:\n",
            "t",
        )
        .unwrap();
        let r = d
            .resolve(&["fat".into(), "normal.mod".into(), "fshelp".into()])
            .unwrap();
        assert_eq!(
            names(&r),
            [
                "fshelp", "fat", "bufio", "extcmd", "boot", "gettext", "terminal", "crypto",
                "normal"
            ]
        );
        assert_eq!(r[0].needed_by.as_deref(), Some("fat"));
        assert_eq!(r[1].needed_by, None);
        assert_eq!(r[8].file, "normal.mod");
    }

    #[test]
    fn last_line_wins_and_unknown_modules_have_no_deps() {
        let d = ModDeps::parse(b"a: b\na: c\n", "t").unwrap();
        assert_eq!(
            names(&d.resolve(&["a".into(), "z".into()]).unwrap()),
            ["c", "a", "z"]
        );
    }

    #[test]
    fn bad_lines_and_cycles_are_errors() {
        let e = ModDeps::parse(b"a: b\nno colon\n", "moddep.lst").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let d = ModDeps::parse(b"a: b\nb: a\n", "t").unwrap();
        let e = d.resolve(&["a".into()]).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
}
