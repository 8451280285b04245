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
use crate::size::{Amount, Position};
use crate::{BuildContext, Disk, Error, Result};

/// What `-A N:...` does to the attribute bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrOp {
    /// `set`: set bit N.
    Set(u32),
    /// `clear`: clear bit N.
    Clear(u32),
    /// `toggle`: flip bit N.
    Toggle(u32),
    /// `=`: replace with this mask.
    Assign(u64),
    /// `or`: set the mask's bits.
    Or(u64),
    /// `nand`: clear the mask's bits.
    Nand(u64),
    /// `xor`: flip the mask's bits.
    Xor(u64),
}

/// One sgdisk operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `-o`, `--clear`: a new empty table.
    Clear,
    /// `-n N:start:end`, `--new`.
    New {
        /// Partition number (0: the first free one).
        number: u32,
        /// First sector.
        start: Position,
        /// Last sector (or `+size`).
        end: Position,
    },
    /// `-d N`, `--delete`.
    Delete(u32),
    /// `-t N:code`, `--typecode` (code as given: hex code, MBR byte or GUID).
    /// `-t N:code`, `--typecode` (code as given: hex code, MBR byte or GUID).
    TypeCode {
        /// The partition.
        number: u32,
        /// The type, as given.
        code: String,
    },
    /// `-c N:name`, `--change-name`.
    /// `-c N:name`, `--change-name`.
    ChangeName {
        /// The partition.
        number: u32,
        /// The new name.
        name: String,
    },
    /// `-A N:set:bit`, `--attributes`.
    /// `-A N:...`, `--attributes`.
    Attributes {
        /// The partition.
        number: u32,
        /// What to do to its attribute bits.
        op: AttrOp,
    },
    /// `-u N:guid`, `--partition-guid`.
    /// `-u N:guid`, `--partition-guid`.
    PartitionGuid {
        /// The partition.
        number: u32,
        /// Its new unique GUID.
        guid: Guid,
    },
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
    /// The operations, in the order given.
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
    /// A GPT.
    Gpt(Gpt),
    /// An MBR.
    Mbr(Mbr),
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The table as written.
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
#[non_exhaustive]
pub struct ResizeOptions {
    /// `--shrink`: allow a smaller size (as qemu-img requires).
    pub shrink: bool,
    /// `--grow-last`: grow the partition that ends last to fill the disk.
    pub grow_last: bool,
}

impl ResizeOptions {
    /// With `--shrink` set to `on`.
    pub fn with_shrink(mut self, on: bool) -> Self {
        self.shrink = on;
        self
    }

    /// With `--grow-last` set to `on`.
    pub fn with_grow_last(mut self, on: bool) -> Self {
        self.grow_last = on;
        self
    }
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
