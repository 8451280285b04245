//! sgdisk command lines applied to a [`Disk`]: `-o`, `-n`, `-d`, `-t`, `-c`,
//! `-A`, `-u`, `-U`, `-e`, `-g`, in the order given, like `sgdisk`; `--mbr`
//! writes an MBR (sfdisk-style) table from the same options instead.
//!
//! Defaults follow gptfdisk: a new partition starts at the first aligned
//! sector of the largest free block; `+N` ends are relative to the start,
//! `-N` to the end of the free block; `0` means the default; partition
//! number 0 means the first free slot.

use super::raw::{self, Guid};
use super::{Gpt, GptPartition};
use crate::mbr::{Mbr, MbrPartition};
use crate::size::{parse_position, Amount, Position};
use crate::{BuildContext, Disk, Error, Result};

/// What `-A N:...` does to the attribute bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrOp {
    Set(u32),
    Clear(u32),
    Toggle(u32),
    /// `=`: replace with this mask.
    Assign(u64),
    Or(u64),
    Nand(u64),
    Xor(u64),
}

/// One sgdisk operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `-o`, `--clear`: a new empty table.
    Clear,
    /// `-n N:start:end`, `--new`.
    New {
        number: u32,
        start: Position,
        end: Position,
    },
    /// `-d N`, `--delete`.
    Delete(u32),
    /// `-t N:code`, `--typecode` (code as given: hex code, MBR byte or GUID).
    TypeCode { number: u32, code: String },
    /// `-c N:name`, `--change-name`.
    ChangeName { number: u32, name: String },
    /// `-A N:set:bit`, `--attributes`.
    Attributes { number: u32, op: AttrOp },
    /// `-u N:guid`, `--partition-guid`.
    PartitionGuid { number: u32, guid: Guid },
    /// `-U guid`, `--disk-guid`.
    DiskGuid(Guid),
    /// `-e`, `--move-second-header`.
    MoveSecondHeader,
    /// `-g`, `--mbrtogpt`.
    MbrToGpt,
}

/// A parsed `sgdisk` command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub ops: Vec<Op>,
    /// `--mbr`: write an MBR table instead of a GPT.
    pub mbr: bool,
    /// `-p`, `--print`: print the table afterwards.
    pub print: bool,
    /// `-v`, `--verify`.
    pub verify: bool,
    /// `-P`, `--pretend`: apply in memory, write nothing.
    pub pretend: bool,
    /// `--sector-size N` (imgforge): the logical sector size for a new
    /// table (512 or 4096; default: the existing table's, else 512).
    pub sector_size: Option<u64>,
}

fn num(s: &str, opt: &str) -> Result<u32> {
    s.trim()
        .parse::<u32>()
        .map_err(|_| Error::invalid(opt, format!("'{s}' is not a partition number")))
}

/// Parses sgdisk's options as written: `--new=1::+100M`, `--new 1::+100M`,
/// `-n 1::+100M`, `-n1::+100M`, `-o`. Returns the script and the positional
/// arguments (the image).
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<(Script, Vec<String>)> {
    let mut sc = Script::default();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().map(|s| s.as_ref().to_string()));
            break;
        }
        let (name, inline): (String, Option<String>) = if let Some(l) = a.strip_prefix("--") {
            match l.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (l.to_string(), None),
            }
        } else if a.len() >= 2
            && a.starts_with('-')
            && !a[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            let mut cs = a[1..].chars();
            let c = cs.next().unwrap_or('?');
            let rest: String = cs.collect();
            (c.to_string(), (!rest.is_empty()).then_some(rest))
        } else {
            positional.push(a.to_string());
            continue;
        };
        let long = match name.as_str() {
            "o" | "clear" => "clear",
            "n" | "new" => "new",
            "d" | "delete" => "delete",
            "t" | "typecode" => "typecode",
            "c" | "change-name" => "change-name",
            "A" | "attributes" => "attributes",
            "u" | "partition-guid" => "partition-guid",
            "U" | "disk-guid" => "disk-guid",
            "e" | "move-second-header" => "move-second-header",
            "g" | "mbrtogpt" => "mbrtogpt",
            "p" | "print" => "print",
            "v" | "verify" => "verify",
            "P" | "pretend" => "pretend",
            "mbr" => "mbr",
            "sector-size" => "sector-size",
            other => {
                return Err(Error::invalid(
                    "part",
                    format!("unknown option '{a}' (-{other}); supported: -o -n -d -t -c -A -u -U -e -g -p -v -P --mbr --sector-size"),
                ))
            }
        };
        let takes_value = !matches!(
            long,
            "clear" | "move-second-header" | "mbrtogpt" | "print" | "verify" | "pretend" | "mbr"
        );
        let opt = format!("--{long}");
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].as_ref().to_string()
                }
                None => return Err(Error::invalid(&opt, "needs a value")),
            }
        } else {
            if inline.is_some() {
                return Err(Error::invalid(&opt, format!("takes no value ('{a}')")));
            }
            String::new()
        };
        let (n, rest) = value.split_once(':').unwrap_or((value.as_str(), ""));
        match long {
            "clear" => sc.ops.push(Op::Clear),
            "move-second-header" => sc.ops.push(Op::MoveSecondHeader),
            "mbrtogpt" => sc.ops.push(Op::MbrToGpt),
            "print" => sc.print = true,
            "verify" => sc.verify = true,
            "pretend" => sc.pretend = true,
            "mbr" => sc.mbr = true,
            "sector-size" => {
                let ss: u64 = value
                    .parse()
                    .ok()
                    .filter(|s| *s == 512 || *s == 4096)
                    .ok_or_else(|| Error::invalid(&opt, format!("'{value}' is not 512 or 4096")))?;
                sc.sector_size = Some(ss);
            }
            "new" => {
                let parts: Vec<&str> = value.split(':').collect();
                if parts.len() != 3 {
                    return Err(Error::invalid(
                        &opt,
                        format!("'{value}' is not partnum:start:end (like 1::+100M)"),
                    ));
                }
                let number = num(parts[0], &opt)?;
                let key = format!("partition {number}");
                sc.ops.push(Op::New {
                    number,
                    start: parse_position(parts[1], &format!("{key} start"))?,
                    end: parse_position(parts[2], &format!("{key} end"))?,
                });
            }
            "delete" => sc.ops.push(Op::Delete(num(&value, &opt)?)),
            "typecode" => sc.ops.push(Op::TypeCode {
                number: num(n, &opt)?,
                code: rest.to_string(),
            }),
            "change-name" => sc.ops.push(Op::ChangeName {
                number: num(n, &opt)?,
                name: rest.to_string(),
            }),
            "partition-guid" => sc.ops.push(Op::PartitionGuid {
                number: num(n, &opt)?,
                guid: Guid::parse(rest)
                    .ok_or_else(|| Error::invalid(&opt, format!("'{rest}' is not a GUID")))?,
            }),
            "disk-guid" => {
                sc.ops.push(Op::DiskGuid(Guid::parse(&value).ok_or_else(|| {
                    Error::invalid(&opt, format!("'{value}' is not a GUID"))
                })?))
            }
            "attributes" => {
                let number = num(n, &opt)?;
                let (verb, arg) = rest.split_once(':').unwrap_or((rest, ""));
                let bit = || -> Result<u32> {
                    arg.parse::<u32>().ok().filter(|b| *b < 64).ok_or_else(|| {
                        Error::invalid(&opt, format!("'{arg}' is not a bit number 0-63"))
                    })
                };
                let mask = || -> Result<u64> {
                    u64::from_str_radix(arg.trim_start_matches("0x"), 16)
                        .map_err(|_| Error::invalid(&opt, format!("'{arg}' is not a hex mask")))
                };
                let op = match verb {
                    "set" => AttrOp::Set(bit()?),
                    "clear" => AttrOp::Clear(bit()?),
                    "toggle" => AttrOp::Toggle(bit()?),
                    "=" => AttrOp::Assign(mask()?),
                    "or" => AttrOp::Or(mask()?),
                    "nand" => AttrOp::Nand(mask()?),
                    "xor" => AttrOp::Xor(mask()?),
                    _ => {
                        return Err(Error::invalid(
                            &opt,
                            format!(
                            "'{value}' is not N:set|clear|toggle:bit or N:=|or|nand|xor:hexmask"
                        ),
                        ))
                    }
                };
                sc.ops.push(Op::Attributes { number, op });
            }
            _ => unreachable!("every long name is handled"),
        }
    }
    Ok((sc, positional))
}

/// Splits a command line as a POSIX shell would for sgdisk options in a
/// recipe: whitespace separates words; '...' and "..." quote (with `\`
/// escaping inside double quotes and outside quotes). An unclosed quote is
/// an error.
pub fn split_words(line: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(Error::invalid("sgdisk line", "unclosed ' quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err(Error::invalid("sgdisk line", "unclosed \" quote")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(Error::invalid("sgdisk line", "unclosed \" quote")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Free-space bookkeeping shared by the GPT and MBR editors, following
/// gptfdisk's FindFirstInLargest / FindLastInFree / Align.
struct Space {
    first: u64,
    last: u64,
    /// Used ranges (inclusive).
    used: Vec<(u64, u64)>,
    align: u64,
}

impl Space {
    fn is_free(&self, s: u64) -> bool {
        s >= self.first && s <= self.last && !self.used.iter().any(|&(a, b)| s >= a && s <= b)
    }

    /// Free blocks (inclusive ranges) in order.
    fn blocks(&self) -> Vec<(u64, u64)> {
        let mut used = self.used.clone();
        used.sort();
        let mut out = Vec::new();
        let mut pos = self.first;
        for (a, b) in used {
            if a > pos && pos <= self.last {
                out.push((pos, (a - 1).min(self.last)));
            }
            pos = pos.max(b.saturating_add(1));
        }
        if pos <= self.last {
            out.push((pos, self.last));
        }
        out
    }

    fn first_in_largest(&self) -> Option<u64> {
        let mut best: Option<(u64, u64)> = None;
        for (a, b) in self.blocks() {
            if best.map(|(x, y)| b - a > y - x).unwrap_or(true) {
                best = Some((a, b));
            }
        }
        best.map(|(a, _)| a)
    }

    fn last_in_free(&self, s: u64) -> u64 {
        self.blocks()
            .into_iter()
            .find(|&(a, b)| s >= a && s <= b)
            .map(|(_, b)| b)
            .unwrap_or(s)
    }

    /// Moves `s` to an alignment boundary: back if every sector between is
    /// free and usable, else forward.
    fn align(&self, s: u64) -> u64 {
        if s.checked_rem(self.align) == Some(0) {
            return s;
        }
        let earlier = s / self.align * self.align;
        if earlier >= self.first && (earlier..s).all(|x| self.is_free(x)) {
            return earlier;
        }
        let later = earlier + self.align;
        if later <= self.last && (s..=later).all(|x| self.is_free(x)) {
            return later;
        }
        s
    }

    /// Resolves `-n`'s start and end like gptfdisk's IeeeToInt.
    fn place(&self, number: u32, start: Position, end: Position, ss: u64) -> Result<(u64, u64)> {
        let key = format!("partition {number}");
        let low = self.first_in_largest().ok_or_else(|| {
            Error::no_space(&key, "no free space left on the disk for a new partition")
        })?;
        let low = self.align(low);
        let high = self.last_in_free(low);
        let sectors = |a: Amount| -> u64 {
            match a {
                Amount::Sectors(n) => n,
                // gptfdisk divides by the sector size, rounding down.
                Amount::Bytes(b) => b / ss,
            }
        };
        let resolve = |p: Position, def: u64, rel: u64, is_end: bool| -> Result<u64> {
            Ok(match p {
                Position::Default => def,
                Position::At(a) if sectors(a) == 0 => def,
                Position::At(a) => sectors(a),
                Position::Plus(a) if sectors(a) == 0 => def,
                Position::Plus(a) => (if is_end { rel.saturating_sub(1) } else { def })
                    .checked_add(sectors(a))
                    .ok_or_else(|| Error::invalid(&key, "size is too large"))?,
                Position::Minus(a) if sectors(a) == 0 => def,
                Position::Minus(a) => high.checked_sub(sectors(a)).ok_or_else(|| {
                    Error::no_space(&key, "'-' size is larger than the free space")
                })?,
            })
        };
        // As gptfdisk: the end is resolved from the start as given, and only
        // then is the start aligned (so `-n 1:34:+1M` ends at sector 2081).
        let given = resolve(start, low, low, false)?;
        let end = resolve(end, high, given, true)?;
        let start = self.align(given);
        if !self.is_free(start) {
            return Err(Error::no_space(
                &key,
                format!(
                    "start sector {start} is not free (it is outside sectors {}-{} or inside another partition)",
                    self.first, self.last
                ),
            ));
        }
        if end < start {
            return Err(Error::invalid(
                &key,
                format!("ends (sector {end}) before it starts (sector {start})"),
            ));
        }
        let free_end = self.last_in_free(start);
        if end > free_end {
            return Err(Error::no_space(
                &key,
                if end > self.last {
                    format!(
                        "sectors {start}-{end} go past the last usable sector {} of the disk",
                        self.last
                    )
                } else {
                    format!(
                        "sectors {start}-{end} overlap another partition (free space ends at sector {free_end})"
                    )
                },
            ));
        }
        Ok((start, end))
    }
}

/// gptfdisk's ComputeAlignment: 1 MiB, lowered to the largest power of two
/// that divides every existing partition's start (at least 8).
fn alignment<'a>(ss: u64, starts: impl Iterator<Item = &'a u64>) -> u64 {
    let mut align = (1 << 20) / ss;
    for &s in starts {
        while align > 1 && s % align != 0 {
            align /= 2;
        }
    }
    align.max(8)
}

/// The table being edited.
#[derive(Debug, Clone)]
pub enum Table {
    Gpt(Gpt),
    Mbr(Mbr),
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub table: Table,
    /// Notes on what was found (a damaged copy that was repaired...).
    pub notes: Vec<String>,
}

fn no_partition(number: u32) -> Error {
    Error::invalid(format!("partition {number}"), "no such partition")
}

fn new_gpt(size: u64, ss: u64, ctx: &BuildContext) -> Result<Gpt> {
    Gpt::new(size, ss, Guid(ctx.uuid("gpt-disk")))
}

fn part_guid(ctx: &BuildContext, number: u32) -> Guid {
    Guid(ctx.uuid(&format!("gpt-part-{number}")))
}

/// The table currently on `disk`, if any: a GPT (sector size found), a DOS
/// MBR with partitions, or none.
pub fn load(disk: &Disk, notes: &mut Vec<String>) -> Result<Option<Table>> {
    if super::read::detect_sector_size(disk).is_some() {
        let r = super::read::read(disk)?;
        notes.extend(r.warnings);
        return Ok(Some(Table::Gpt(r.gpt)));
    }
    if crate::mbr::read::has_boot_signature(disk) {
        if let Ok(r) = crate::mbr::read::read(disk, 512) {
            if !r.mbr.partitions.is_empty() && r.mbr.partitions.iter().all(|p| p.os_type != 0xEE) {
                notes.extend(r.warnings);
                return Ok(Some(Table::Mbr(r.mbr)));
            }
        }
    }
    Ok(None)
}

/// sgdisk's `-g`: MBR partitions (not the extended container) become GPT
/// entries with the same numbers; type byte T becomes code T*0x100.
fn mbr_to_gpt(mbr: &Mbr, size: u64, ctx: &BuildContext) -> Result<Gpt> {
    let mut g = new_gpt(size, mbr.sector_size, ctx)?;
    for p in mbr.partitions.iter().filter(|p| !p.is_extended()) {
        let t = raw::type_by_code((p.os_type as u16) << 8)
            .or_else(|| raw::type_by_code(raw::DEFAULT_TYPE_CODE))
            .map(|t| t.guid)
            .unwrap_or_default();
        g.partitions.push(GptPartition {
            number: p.number,
            type_guid: t,
            unique_guid: part_guid(ctx, p.number),
            first_lba: p.first_lba,
            last_lba: p.last_lba(),
            attributes: if p.bootable { 4 } else { 0 },
            name: String::new(),
        });
    }
    g.partitions.sort_by_key(|p| p.number);
    super::write::check(&g)?;
    Ok(g)
}

/// Applies `script` to the table on `disk` and writes the result (GPT, or
/// MBR with `--mbr`) onto `disk`. Nothing is written if any operation fails.
pub fn apply(disk: &mut Disk, script: &Script, ctx: &BuildContext) -> Result<Applied> {
    let mut notes = Vec::new();
    let size = disk.size();
    let starts_with_clear = script.ops.first() == Some(&Op::Clear);
    let loaded = match load(disk, &mut notes) {
        Ok(t) => t,
        // `-o` replaces a table that cannot be read at all.
        Err(e) if starts_with_clear => {
            notes.push(format!("replacing an unreadable table: {e}"));
            None
        }
        Err(e) => return Err(e),
    };
    let wants_g = script.ops.contains(&Op::MbrToGpt);
    let ss_of = |t: &Option<Table>| match t {
        Some(Table::Gpt(g)) => g.sector_size,
        Some(Table::Mbr(m)) => m.sector_size,
        None => 512,
    };
    let ss = script.sector_size.unwrap_or_else(|| ss_of(&loaded));
    let mut table = if script.mbr {
        match loaded {
            Some(Table::Mbr(m)) if !starts_with_clear => Table::Mbr(m),
            Some(Table::Gpt(_)) if !starts_with_clear => {
                return Err(Error::invalid(
                    "--mbr",
                    "the disk has a GPT; start with --clear to replace it with an MBR table",
                ))
            }
            _ => Table::Mbr(empty_mbr(size, ss, ctx)),
        }
    } else {
        match loaded {
            Some(Table::Gpt(mut g)) if !starts_with_clear && g.sector_size == ss => {
                // A table read from a shrunk disk is laid out again.
                if g.last_usable_lba + 1 + g.array_sectors() >= g.disk_sectors {
                    g.relayout()?;
                }
                Table::Gpt(g)
            }
            Some(Table::Mbr(m)) if !starts_with_clear => {
                if !wants_g {
                    return Err(Error::invalid(
                        "part",
                        "the disk has an MBR partition table; add -g (--mbrtogpt) to convert it to GPT, --mbr to edit it as MBR, or --clear to replace it",
                    ));
                }
                Table::Gpt(mbr_to_gpt(&m, size, ctx)?)
            }
            _ => Table::Gpt(new_gpt(size, ss, ctx)?),
        }
    };
    for op in &script.ops {
        match &mut table {
            Table::Gpt(g) => gpt_op(g, op, size, ctx)?,
            Table::Mbr(m) => mbr_op(m, op, size, ctx)?,
        }
    }
    match &table {
        Table::Gpt(g) => super::write::write(g, disk)?,
        Table::Mbr(m) => {
            let grain = alignment(m.sector_size, std::iter::empty());
            crate::mbr::write::write(m, disk, grain)?;
            wipe_gpt(disk, m.sector_size)?;
        }
    }
    Ok(Applied { table, notes })
}

/// Zeroes GPT headers left from an older table so tools do not find them
/// beside a new MBR.
fn wipe_gpt(disk: &mut Disk, ss: u64) -> Result<()> {
    use crate::io::ReadAt;
    let n = disk.size() / ss;
    for lba in [1, n.saturating_sub(1)] {
        let mut sig = [0u8; 8];
        if lba > 0 && disk.read_at(lba * ss, &mut sig).is_ok() && &sig == raw::GPT_SIGNATURE {
            disk.write_vec(lba * ss, vec![0u8; ss as usize])?;
        }
    }
    Ok(())
}

fn empty_mbr(size: u64, ss: u64, ctx: &BuildContext) -> Mbr {
    Mbr {
        sector_size: ss,
        disk_sectors: size / ss,
        disk_signature: ctx.u32("mbr-disk-signature"),
        partitions: Vec::new(),
    }
}

fn gpt_op(g: &mut Gpt, op: &Op, size: u64, ctx: &BuildContext) -> Result<()> {
    let need = |g: &mut Gpt, n: u32| -> Result<()> {
        if g.partition(n).is_none() {
            return Err(no_partition(n));
        }
        Ok(())
    };
    match op {
        Op::Clear => {
            *g = new_gpt(size, g.sector_size, ctx)?;
        }
        Op::MbrToGpt => {}
        Op::MoveSecondHeader => {
            g.disk_sectors = size / g.sector_size;
            g.relayout()?;
        }
        Op::DiskGuid(guid) => g.disk_guid = *guid,
        Op::New { number, start, end } => {
            let number = if *number == 0 {
                (1..=g.num_entries)
                    .find(|n| g.partition(*n).is_none())
                    .ok_or_else(|| Error::no_space("gpt", "every partition entry is used"))?
            } else {
                *number
            };
            let key = format!("partition {number}");
            if number > g.num_entries {
                return Err(Error::invalid(
                    &key,
                    format!("the table holds only {} entries", g.num_entries),
                ));
            }
            if g.partition(number).is_some() {
                return Err(Error::invalid(
                    &key,
                    "already exists (delete it first with -d)",
                ));
            }
            let space = Space {
                first: g.first_usable_lba,
                last: g.last_usable_lba,
                used: g
                    .partitions
                    .iter()
                    .map(|p| (p.first_lba, p.last_lba))
                    .collect(),
                align: alignment(g.sector_size, g.partitions.iter().map(|p| &p.first_lba)),
            };
            let (first, last) = space.place(number, *start, *end, g.sector_size)?;
            let type_guid = raw::type_by_code(raw::DEFAULT_TYPE_CODE)
                .map(|t| t.guid)
                .unwrap_or_default();
            g.partitions.push(GptPartition {
                number,
                type_guid,
                unique_guid: part_guid(ctx, number),
                first_lba: first,
                last_lba: last,
                attributes: 0,
                name: String::new(),
            });
            g.partitions.sort_by_key(|p| p.number);
        }
        Op::Delete(n) => {
            need(g, *n)?;
            g.partitions.retain(|p| p.number != *n);
        }
        Op::TypeCode { number, code } => {
            need(g, *number)?;
            let t = raw::parse_type(code, &format!("partition {number} type"))?;
            if let Some(p) = g.partition_mut(*number) {
                p.type_guid = t;
            }
        }
        Op::ChangeName { number, name } => {
            need(g, *number)?;
            raw::encode_name(name, &format!("partition {number} name"))?;
            if let Some(p) = g.partition_mut(*number) {
                p.name = name.clone();
            }
        }
        Op::PartitionGuid { number, guid } => {
            need(g, *number)?;
            if let Some(p) = g.partition_mut(*number) {
                p.unique_guid = *guid;
            }
        }
        Op::Attributes { number, op } => {
            need(g, *number)?;
            if let Some(p) = g.partition_mut(*number) {
                p.attributes = match *op {
                    AttrOp::Set(b) => p.attributes | (1 << b),
                    AttrOp::Clear(b) => p.attributes & !(1 << b),
                    AttrOp::Toggle(b) => p.attributes ^ (1 << b),
                    AttrOp::Assign(m) => m,
                    AttrOp::Or(m) => p.attributes | m,
                    AttrOp::Nand(m) => p.attributes & !m,
                    AttrOp::Xor(m) => p.attributes ^ m,
                };
            }
        }
    }
    Ok(())
}

/// An MBR type from `-t`: one or two hex digits (`83`, `ef`, `5`), a
/// four-digit sgdisk code (its high byte: `8300` is 0x83), or a GPT type
/// GUID sgdisk knows.
fn mbr_type(code: &str, key: &str) -> Result<u8> {
    let c = code.trim().trim_start_matches("0x");
    let bad = || {
        Error::invalid(
            key,
            format!("unknown partition type code '{code}' (an MBR type byte like 83, 82, ef, 0c, 05, or an sgdisk code like 8300)"),
        )
    };
    if c.len() <= 2 {
        return u8::from_str_radix(c, 16)
            .ok()
            .filter(|b| *b != 0)
            .ok_or_else(bad);
    }
    if c.len() == 4 {
        let v = u16::from_str_radix(c, 16).map_err(|_| bad())?;
        if raw::type_by_code(v).is_some() || v & 0xff == 0 {
            return Ok((v >> 8) as u8).and_then(|b| if b == 0 { Err(bad()) } else { Ok(b) });
        }
        return Err(bad());
    }
    let g = raw::parse_type(c, key)?;
    raw::type_by_guid(&g)
        .map(|t| (t.code >> 8) as u8)
        .filter(|b| *b != 0)
        .ok_or_else(bad)
}

fn mbr_op(m: &mut Mbr, op: &Op, size: u64, ctx: &BuildContext) -> Result<()> {
    let ss = m.sector_size;
    match op {
        Op::Clear => *m = empty_mbr(size, ss, ctx),
        Op::New { number, start, end } => {
            let number = if *number == 0 {
                (1..=4)
                    .find(|n| !m.partitions.iter().any(|p| p.number == *n))
                    .ok_or_else(|| Error::no_space("mbr", "all four primary partitions are used"))?
            } else {
                *number
            };
            let key = format!("partition {number}");
            if m.partitions.iter().any(|p| p.number == number) {
                return Err(Error::invalid(
                    &key,
                    "already exists (delete it first with -d)",
                ));
            }
            let logical = number > 4;
            let align = alignment(ss, std::iter::empty());
            let space = if logical {
                let e = m.extended().ok_or_else(|| {
                    Error::invalid(
                        &key,
                        "a logical partition (5 and up) needs an extended partition first (like --new 4::-0 --typecode 4:05)",
                    )
                })?;
                // Each logical partition is preceded by its EBR sector.
                Space {
                    first: e.first_lba + 1,
                    last: e.last_lba(),
                    used: m
                        .partitions
                        .iter()
                        .filter(|p| p.logical)
                        .map(|p| (p.first_lba.saturating_sub(1), p.last_lba() + 1))
                        .collect(),
                    align,
                }
            } else {
                Space {
                    first: align.min(m.disk_sectors.saturating_sub(1)),
                    last: m.disk_sectors.saturating_sub(1),
                    used: m
                        .partitions
                        .iter()
                        .filter(|p| !p.logical)
                        .map(|p| (p.first_lba, p.last_lba()))
                        .collect(),
                    align,
                }
            };
            let (first, last) = space.place(number, *start, *end, ss)?;
            m.partitions.push(MbrPartition {
                number,
                bootable: false,
                os_type: 0x83,
                first_lba: first,
                sectors: last - first + 1,
                logical,
            });
            m.partitions.sort_by_key(|p| p.number);
        }
        Op::Delete(n) => {
            if !m.partitions.iter().any(|p| p.number == *n) {
                return Err(no_partition(*n));
            }
            m.partitions.retain(|p| p.number != *n);
        }
        Op::TypeCode { number, code } => {
            let t = mbr_type(code, &format!("partition {number} type"))?;
            let p = m
                .partitions
                .iter_mut()
                .find(|p| p.number == *number)
                .ok_or_else(|| no_partition(*number))?;
            p.os_type = t;
        }
        Op::Attributes { number, op } => {
            // Bit 2 (legacy BIOS bootable) is the MBR active flag.
            let p = m
                .partitions
                .iter_mut()
                .find(|p| p.number == *number)
                .ok_or_else(|| no_partition(*number))?;
            let cur = if p.bootable { 4u64 } else { 0 };
            let new = match *op {
                AttrOp::Set(b) => cur | (1 << b),
                AttrOp::Clear(b) => cur & !(1 << b),
                AttrOp::Toggle(b) => cur ^ (1 << b),
                AttrOp::Assign(x) => x,
                AttrOp::Or(x) => cur | x,
                AttrOp::Nand(x) => cur & !x,
                AttrOp::Xor(x) => cur ^ x,
            };
            if new & !4 != 0 {
                return Err(Error::unsupported(
                    "mbr",
                    format!("partition {number}: an MBR partition has only the bootable flag (attribute bit 2)"),
                ));
            }
            p.bootable = new & 4 != 0;
        }
        Op::ChangeName { number, .. } | Op::PartitionGuid { number, .. } => {
            return Err(Error::unsupported(
                "mbr",
                format!("partition {number}: MBR partitions have no names or GUIDs"),
            ))
        }
        Op::DiskGuid(_) => return Err(Error::unsupported("mbr", "an MBR disk has no GUID")),
        Op::MoveSecondHeader | Op::MbrToGpt => {}
    }
    Ok(())
}

/// Options of [`resize`] (`qemu-img resize` plus `growpart`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResizeOptions {
    /// `--shrink`: allow a smaller size (as qemu-img requires).
    pub shrink: bool,
    /// `--grow-last`: grow the partition that ends last to fill the disk.
    pub grow_last: bool,
}

/// Resizes a disk like `qemu-img resize`; on a GPT disk then moves the
/// backup header and array to the new end (`sgdisk -e`) and, with
/// `grow_last`, grows the last partition to the last usable sector
/// (`growpart`). Returns notes on what was done.
pub fn resize(disk: &mut Disk, new_size: u64, opts: ResizeOptions) -> Result<Vec<String>> {
    let old = disk.size();
    let mut notes = Vec::new();
    if new_size < old && !opts.shrink {
        return Err(Error::invalid(
            "resize",
            format!(
                "{new_size} bytes is smaller than the current {old} bytes; use --shrink to shrink the image (data past the new end is lost)"
            ),
        ));
    }
    let table = load(disk, &mut notes)?;
    match table {
        Some(Table::Gpt(mut g)) => {
            let ss = g.sector_size;
            if new_size.checked_rem(ss) != Some(0) {
                return Err(Error::invalid(
                    "resize",
                    format!("{new_size} bytes is not a whole number of {ss}-byte sectors"),
                ));
            }
            g.disk_sectors = new_size / ss;
            g.relayout()?;
            if opts.grow_last {
                let last_usable = g.last_usable_lba;
                match g.partitions.iter_mut().max_by_key(|p| p.last_lba) {
                    Some(p) => {
                        if p.last_lba < last_usable {
                            notes.push(format!(
                                "partition {} grown from {} to {} sectors",
                                p.number,
                                p.sectors(),
                                (last_usable + 1).saturating_sub(p.first_lba)
                            ));
                            p.last_lba = last_usable;
                        }
                    }
                    None => notes.push("no partition to grow".into()),
                }
            }
            if let Some(p) = g.partitions.iter().find(|p| p.last_lba > g.last_usable_lba) {
                return Err(Error::no_space(
                    format!("partition {}", p.number),
                    format!(
                        "ends at sector {}, past the last usable sector {} of the {new_size}-byte disk; shrink the partition first",
                        p.last_lba, g.last_usable_lba
                    ),
                ));
            }
            disk.set_size(new_size);
            super::write::write(&g, disk)?;
            notes.push(format!("moved the backup GPT to sector {}", g.backup_lba()));
        }
        Some(Table::Mbr(mut m)) => {
            let ss = m.sector_size;
            m.disk_sectors = new_size / ss;
            if opts.grow_last {
                let last = m.disk_sectors - 1;
                match m.partitions.iter_mut().max_by_key(|p| p.last_lba()) {
                    Some(p) if p.logical || p.is_extended() => {
                        return Err(Error::unsupported(
                            "mbr",
                            format!("partition {}: growing a logical or extended partition is not supported", p.number),
                        ))
                    }
                    Some(p) => {
                        notes.push(format!("partition {} grown to the end of the disk", p.number));
                        p.sectors = (last + 1).saturating_sub(p.first_lba);
                    }
                    None => notes.push("no partition to grow".into()),
                }
            }
            if let Some(p) = m.problems().into_iter().next() {
                return Err(Error::no_space("mbr", p));
            }
            disk.set_size(new_size);
            if opts.grow_last {
                let grain = alignment(ss, std::iter::empty());
                crate::mbr::write::write(&m, disk, grain)?;
            }
        }
        None => {
            if opts.grow_last {
                return Err(Error::invalid(
                    "resize",
                    "--grow-last: the disk has no partition table",
                ));
            }
            disk.set_size(new_size);
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ReadAt;

    const SEED_LINE: &str = "--clear --new 1::+100M --typecode=1:ef00 --change-name=1:EFI System --new 2::-0 --typecode=2:8300 --change-name=2:slim-rootfs --attributes 1:set:2";

    fn args(s: &str) -> Vec<String> {
        // Split on " --" / " -" so names with spaces stay whole.
        let mut out: Vec<String> = Vec::new();
        for w in s.split(' ') {
            if w.starts_with('-') || out.is_empty() {
                out.push(w.to_string());
            } else if out
                .last()
                .map(|l| l.contains('=') || l.contains(':'))
                .unwrap_or(false)
            {
                let l = out.last_mut().unwrap();
                l.push(' ');
                l.push_str(w);
            } else {
                out.push(w.to_string());
            }
        }
        out
    }

    fn run(disk: &mut Disk, line: &str, seed: &str) -> Result<Applied> {
        let (sc, pos) = parse_args(&args(line))?;
        assert!(pos.is_empty(), "{pos:?}");
        apply(disk, &sc, &BuildContext::new(0, seed))
    }

    fn bytes(d: &Disk) -> Vec<u8> {
        let mut v = Vec::new();
        for (off, len) in d.allocated_ranges() {
            let mut b = vec![0u8; len as usize];
            d.read_at(off, &mut b).unwrap();
            v.extend_from_slice(&off.to_le_bytes());
            v.extend_from_slice(&b);
        }
        v
    }

    #[test]
    fn splits_shell_words() {
        let w = split_words(r#"sgdisk --change-name=1:'EFI System' -c "2:a \"b\"" x\ y"#).unwrap();
        assert_eq!(
            w,
            vec![
                "sgdisk",
                "--change-name=1:EFI System",
                "-c",
                "2:a \"b\"",
                "x y"
            ]
        );
        assert!(split_words("-c '1:open").is_err());
        let (sc, pos) =
            parse_args(&split_words(&SEED_LINE.replace("EFI System", "'EFI System'")).unwrap()[..])
                .unwrap();
        assert!(pos.is_empty());
        assert_eq!(sc.ops.len(), 8);
    }

    #[test]
    fn parses_sgdisk_forms() {
        let (sc, pos) = parse_args(&[
            "--new=1::+100M",
            "-n",
            "2:0:-0",
            "-t2:8304",
            "--typecode",
            "1:ef00",
            "-c",
            "1:EFI System",
            "-A",
            "1:set:2",
            "-o",
            "-e",
            "-p",
            "disk.img",
        ])
        .unwrap();
        assert_eq!(pos, vec!["disk.img"]);
        assert!(sc.print);
        assert_eq!(sc.ops.len(), 8);
        assert_eq!(
            sc.ops[5],
            Op::Attributes {
                number: 1,
                op: AttrOp::Set(2)
            }
        );
        assert_eq!(
            sc.ops[4],
            Op::ChangeName {
                number: 1,
                name: "EFI System".into()
            }
        );
        for bad in [
            &["--frobnicate"][..],
            &["-n"],
            &["-n", "1:2"],
            &["-A", "1:set:99"],
            &["-n", "1::+1Q"],
        ] {
            assert!(parse_args(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seed_line_layout_and_round_trip() {
        let mut d = Disk::new(1 << 30);
        run(&mut d, SEED_LINE, "s").unwrap();
        let r = super::super::read::read(&d).unwrap();
        assert!(r.primary_ok && r.backup_ok, "{:?}", r.warnings);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let g = r.gpt;
        assert_eq!((g.first_usable_lba, g.last_usable_lba), (34, 2097118));
        let p1 = g.partition(1).unwrap();
        assert_eq!(
            (p1.first_lba, p1.last_lba, p1.attributes),
            (2048, 206847, 4)
        );
        assert_eq!(p1.name, "EFI System");
        assert_eq!(raw::type_by_guid(&p1.type_guid).unwrap().code, 0xef00);
        let p2 = g.partition(2).unwrap();
        assert_eq!((p2.first_lba, p2.last_lba), (206848, 2097118));
        assert_eq!(p2.name, "slim-rootfs");
        assert_eq!(
            p2.unique_guid,
            Guid(BuildContext::new(0, "s").uuid("gpt-part-2"))
        );
        // Only table sectors are allocated.
        assert!(d.allocated_bytes() <= 512 * 68);
    }

    #[test]
    fn sector_size_4096() {
        let mut d = Disk::new(64 << 20);
        run(&mut d, "--sector-size 4096 -o -n 1::+8M -n 2::-0", "s").unwrap();
        let g = super::super::read::read(&d).unwrap().gpt;
        assert_eq!(g.sector_size, 4096);
        assert_eq!((g.first_usable_lba, g.last_usable_lba), (6, 16378));
        assert_eq!(g.partition(1).unwrap().first_lba, 256);
        assert_eq!(g.partition(1).unwrap().last_lba, 2303);
        assert_eq!(g.partition(2).unwrap().first_lba, 2304);
    }

    #[test]
    fn deterministic_by_seed() {
        let mut a = Disk::new(1 << 30);
        let mut b = Disk::new(1 << 30);
        let mut c = Disk::new(1 << 30);
        run(&mut a, SEED_LINE, "one").unwrap();
        run(&mut b, SEED_LINE, "one").unwrap();
        run(&mut c, SEED_LINE, "two").unwrap();
        assert_eq!(bytes(&a), bytes(&b));
        let ga = super::super::read::read(&a).unwrap().gpt;
        let gc = super::super::read::read(&c).unwrap().gpt;
        assert_ne!(ga.disk_guid, gc.disk_guid);
        assert_ne!(ga.partitions[0].unique_guid, gc.partitions[0].unique_guid);
        assert_eq!(ga.partitions[0].first_lba, gc.partitions[0].first_lba);
    }

    #[test]
    fn bad_requests_name_the_partition() {
        let mut d = Disk::new(1 << 30);
        let cases = [
            ("-o -n 1:2048:+100M -n 2:4096:+10M", "partition 2"),
            ("-o -n 1:2048:4000000", "partition 1"),
            ("-o -n 1::+100M -t 1:zz99", "partition 1 type"),
            ("-o -n 1::+100M -t 1:ef99", "partition 1 type"),
            ("-o -t 3:8300", "partition 3"),
            ("-o -n 1::+100M -n 1::+100M", "partition 1"),
            (
                "-o -n 1::+100M -c 1:this-name-is-far-too-long-for-a-gpt-entry",
                "partition 1 name",
            ),
        ];
        for (line, want) in cases {
            let before = bytes(&d);
            let e = run(&mut d, line, "s").unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
            assert_eq!(bytes(&d), before, "{line}: disk unchanged on error");
        }
        let mut tiny = Disk::new(16 * 1024);
        let e = run(&mut tiny, "-o", "s").unwrap_err().to_string();
        assert!(e.contains("too small"), "{e}");
    }

    #[test]
    fn damaged_primary_falls_back_to_backup() {
        let small = SEED_LINE.replace("+100M", "+10M");
        let mut d = Disk::new(64 << 20);
        run(&mut d, &small, "s").unwrap();
        let mut h = [0u8; 512];
        d.read_at(512, &mut h).unwrap();
        h[40] ^= 0xff; // FirstUsableLBA: header CRC now wrong
        d.write(512, &h).unwrap();
        let r = super::super::read::read(&d).unwrap();
        assert!(!r.primary_ok && r.backup_ok);
        assert!(
            r.warnings[0].contains("primary") && r.warnings[0].contains("bad header CRC"),
            "{:?}",
            r.warnings
        );
        assert_eq!(r.gpt.partition(2).unwrap().name, "slim-rootfs");

        // Damaged entries of the primary.
        let mut d = Disk::new(64 << 20);
        run(&mut d, &small, "s").unwrap();
        d.write(1024 + 60, &[0x41]).unwrap();
        let r = super::super::read::read(&d).unwrap();
        assert!(!r.primary_ok);
        assert!(
            r.warnings[0].contains("bad entries CRC"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn backup_disagreeing_is_reported() {
        let mut d = Disk::new(64 << 20);
        run(&mut d, &SEED_LINE.replace("+100M", "+10M"), "s").unwrap();
        let mut other = Disk::new(64 << 20);
        run(&mut other, "-o -n 1::+10M", "s").unwrap();
        // Put the other table's backup copy (array and header) at the end.
        let n = (64 << 20) / 512u64;
        let mut tail = vec![0u8; 33 * 512];
        other.read_at((n - 33) * 512, &mut tail).unwrap();
        d.write((n - 33) * 512, &tail).unwrap();
        let r = super::super::read::read(&d).unwrap();
        assert!(r.primary_ok && !r.backup_ok);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("disagrees") && w.contains("partition entries")),
            "{:?}",
            r.warnings
        );
        assert_eq!(r.gpt.partitions.len(), 2);
    }

    #[test]
    fn grow_moves_backup_and_grows_last() {
        let mut d = Disk::new(64 << 20);
        run(&mut d, SEED_LINE.replace("+100M", "+10M").as_str(), "s").unwrap();
        resize(
            &mut d,
            128 << 20,
            ResizeOptions {
                shrink: false,
                grow_last: true,
            },
        )
        .unwrap();
        let r = super::super::read::read(&d).unwrap();
        assert!(r.primary_ok && r.backup_ok, "{:?}", r.warnings);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.gpt.last_usable_lba, (128 << 20) / 512 - 34);
        assert_eq!(r.gpt.partition(2).unwrap().last_lba, r.gpt.last_usable_lba);
        let e = resize(&mut d, 64 << 20, ResizeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--shrink"), "{e}");
        let e = resize(
            &mut d,
            64 << 20,
            ResizeOptions {
                shrink: true,
                grow_last: false,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("partition 2"), "{e}");
    }

    #[test]
    fn mbr_with_logical_partitions_round_trips() {
        let mut d = Disk::new(1 << 30);
        run(
            &mut d,
            "--mbr -o -n 1::+100M -t 1:ef -A 1:set:2 -n 2::+200M -t 2:82 -n 4::-0 -t 4:05 -n 5::+100M -n 6::+50M -t 6:0700 -n 7::-0",
            "s",
        )
        .unwrap();
        let r = crate::mbr::read::read(&d, 512).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let got: Vec<(u32, u64, u64, u8, bool, bool)> = r
            .mbr
            .partitions
            .iter()
            .map(|p| {
                (
                    p.number,
                    p.first_lba,
                    p.sectors,
                    p.os_type,
                    p.bootable,
                    p.logical,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 2048, 204800, 0xef, true, false),
                (2, 206848, 409600, 0x82, false, false),
                (4, 616448, 1480704, 0x05, false, false),
                (5, 618496, 204800, 0x83, false, true),
                (6, 825344, 102400, 0x07, false, true),
                (7, 929792, 1167360, 0x83, false, true),
            ]
        );
        let e = run(&mut Disk::new(1 << 30), "--mbr -o -n 5::+1M", "s")
            .unwrap_err()
            .to_string();
        assert!(e.contains("partition 5") && e.contains("extended"), "{e}");
    }

    #[test]
    fn grow_mbr_last_primary() {
        let mut d = Disk::new(64 << 20);
        run(&mut d, "--mbr -o -n 1::+10M -n 2::+10M", "s").unwrap();
        resize(
            &mut d,
            128 << 20,
            ResizeOptions {
                shrink: false,
                grow_last: true,
            },
        )
        .unwrap();
        let r = crate::mbr::read::read(&d, 512).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.mbr.partitions[1].last_lba(), (128 << 20) / 512 - 1);
        assert_eq!(d.size(), 128 << 20);
    }

    #[test]
    fn clear_replaces_an_unreadable_gpt() {
        let mut d = Disk::new(64 << 20);
        run(&mut d, "-o -n 1::+1M", "s").unwrap();
        let n = (64u64 << 20) / 512;
        d.write(512 + 40, &[0xff]).unwrap();
        d.write((n - 1) * 512 + 40, &[0xff]).unwrap();
        let e = run(&mut d, "-n 2::+1M", "s").unwrap_err().to_string();
        assert!(e.contains("no valid GPT"), "{e}");
        let a = run(&mut d, "-o -n 1::+2M", "s").unwrap();
        assert!(a.notes[0].contains("unreadable"), "{:?}", a.notes);
        let r = super::super::read::read(&d).unwrap();
        assert!(r.primary_ok && r.backup_ok);
    }

    #[test]
    fn mbr_to_gpt_keeps_partitions() {
        let mut d = Disk::new(256 << 20);
        run(&mut d, "--mbr -o -n 1::+10M -t 1:ef -n 2::+100M", "s").unwrap();
        let e = run(&mut d, "-n 3::+1M", "s").unwrap_err().to_string();
        assert!(e.contains("-g"), "{e}");
        run(&mut d, "-g", "s").unwrap();
        let g = super::super::read::read(&d).unwrap().gpt;
        assert_eq!(g.partitions.len(), 2);
        assert_eq!(
            raw::type_by_guid(&g.partitions[0].type_guid).unwrap().code,
            0xef00
        );
        assert_eq!(g.partitions[1].first_lba, 22528);
        // An MBR partition reaching the last sectors leaves no room for
        // the backup GPT.
        let mut d = Disk::new(256 << 20);
        run(&mut d, "--mbr -o -n 1::+10M -n 2::-0", "s").unwrap();
        let e = run(&mut d, "-g", "s").unwrap_err().to_string();
        assert!(e.contains("partition 2"), "{e}");
    }
}
