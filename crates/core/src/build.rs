//! Building what a recipe describes: file trees from the recipe's contents,
//! filesystems from trees, partitions on a sparse disk, and the output
//! container streamed into a sink.

use crate::io::{Progress, Source};
use crate::recipe::{parse_device, parse_mode, Content, Filesystem, Recipe};
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
        Err(Error::unsupported("recipe", format!("directory input '{path}' is only available on the command line")))
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
        self.0.get(path).cloned().ok_or_else(|| Error::invalid(path, "input file not provided"))
    }
}

/// The build context a recipe asks for, with `epoch`/`seed` overrides
/// (the CLI's SOURCE_DATE_EPOCH) taking precedence.
pub fn context(recipe: &Recipe, epoch: Option<i64>, seed: Option<&str>) -> BuildContext {
    let mut ctx = BuildContext::default();
    if let Some(b) = &recipe.build {
        if let Some(e) = b.epoch {
            ctx.epoch = e;
        }
        if let Some(s) = &b.seed {
            ctx.seed = s.clone();
        }
    }
    if let Some(e) = epoch {
        ctx.epoch = e;
    }
    if let Some(s) = seed {
        ctx.seed = s.to_string();
    }
    ctx
}

/// Builds the tree a filesystem section describes, applying its contents in
/// order. `key` names the section in errors.
pub fn assemble_tree(fs: &Filesystem, key: &str, inputs: &dyn Inputs, ctx: &BuildContext) -> Result<Tree> {
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

fn add_content(tree: &mut Tree, c: &Content, ck: &str, inputs: &dyn Inputs, ctx: &BuildContext) -> Result<()> {
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
        tree.insert(at, Node { kind: NodeKind::File(FileData::Source { src, offset: 0, len }), meta })?;
        return Ok(());
    }
    if let Some(t) = &c.text {
        let meta = meta_for(c, ck, 0o644, ctx)?;
        tree.insert(at, Node { kind: NodeKind::File(FileData::from_vec(t.as_bytes().to_vec())), meta })?;
        return Ok(());
    }
    if let Some(target) = &c.symlink {
        let meta = meta_for(c, ck, 0o777, ctx)?;
        tree.insert(at, Node { kind: NodeKind::Symlink(target.clone()), meta })?;
        return Ok(());
    }
    if c.mkdir {
        let meta = meta_for(c, ck, 0o755, ctx)?;
        tree.insert(at, Node { kind: NodeKind::Dir(BTreeMap::new()), meta })?;
        return Ok(());
    }
    if let Some(d) = &c.device {
        let (ch, major, minor) = parse_device(d, &format!("{ck}.device"))?;
        let meta = meta_for(c, ck, 0o600, ctx)?;
        let kind = if ch { NodeKind::CharDev { major, minor } } else { NodeKind::BlockDev { major, minor } };
        tree.insert(at, Node { kind, meta })?;
        return Ok(());
    }
    Err(Error::invalid(ck, "needs exactly one of tar, dir, file, text, symlink, mkdir, device"))
}

/// Reports progress for the phases of a build.
pub(crate) fn phase(progress: &dyn Progress, name: &str) -> Result<()> {
    progress.step(name, 0, 0)
}
