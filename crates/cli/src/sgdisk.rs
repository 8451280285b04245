//! sgdisk's command line, as `imgforge part` takes it: options parsed into
//! the core's [`Script`] (`-o`, `-n`, `-d`, `-t`, `-c`, `-A`, `-u`, `-U`,
//! `-e`, `-g`, `-p`, `-v`, `-P`, `--mbr`, `--sector-size`), and shell-style
//! word splitting for sgdisk lines written as one string. The core applies
//! the script ([`imgforge_core::gpt::edit::apply`]).

use imgforge_core::gpt::edit::{AttrOp, Op, Script};
use imgforge_core::gpt::raw::Guid;
use imgforge_core::size::parse_position;
use imgforge_core::{Error, Result};

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

/// Splits a command line as a POSIX shell would (sgdisk lines as the
/// docs and tests write them): whitespace separates words; '...' and "..." quote (with `\`
/// escaping inside double quotes and outside quotes). An unclosed quote is
/// an error.
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use imgforge_core::gpt::edit::{apply, resize, Applied, ResizeOptions};
    use imgforge_core::gpt::raw::{self, Guid};
    use imgforge_core::io::ReadAt;
    use imgforge_core::{BuildContext, Disk};

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

    /// `imgforge resize --grow-last`.
    fn grow_last() -> ResizeOptions {
        ResizeOptions::default().with_grow_last(true)
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
        let r = imgforge_core::gpt::read::read(&d).unwrap();
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
        let g = imgforge_core::gpt::read::read(&d).unwrap().gpt;
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
        let ga = imgforge_core::gpt::read::read(&a).unwrap().gpt;
        let gc = imgforge_core::gpt::read::read(&c).unwrap().gpt;
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
        let r = imgforge_core::gpt::read::read(&d).unwrap();
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
        let r = imgforge_core::gpt::read::read(&d).unwrap();
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
        let r = imgforge_core::gpt::read::read(&d).unwrap();
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
        resize(&mut d, 128 << 20, grow_last()).unwrap();
        let r = imgforge_core::gpt::read::read(&d).unwrap();
        assert!(r.primary_ok && r.backup_ok, "{:?}", r.warnings);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.gpt.last_usable_lba, (128 << 20) / 512 - 34);
        assert_eq!(r.gpt.partition(2).unwrap().last_lba, r.gpt.last_usable_lba);
        let e = resize(&mut d, 64 << 20, ResizeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--shrink"), "{e}");
        let e = resize(&mut d, 64 << 20, ResizeOptions::default().with_shrink(true))
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
        let r = imgforge_core::mbr::read::read(&d, 512).unwrap();
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
        resize(&mut d, 128 << 20, grow_last()).unwrap();
        let r = imgforge_core::mbr::read::read(&d, 512).unwrap();
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
        let r = imgforge_core::gpt::read::read(&d).unwrap();
        assert!(r.primary_ok && r.backup_ok);
    }

    #[test]
    fn mbr_to_gpt_keeps_partitions() {
        let mut d = Disk::new(256 << 20);
        run(&mut d, "--mbr -o -n 1::+10M -t 1:ef -n 2::+100M", "s").unwrap();
        let e = run(&mut d, "-n 3::+1M", "s").unwrap_err().to_string();
        assert!(e.contains("-g"), "{e}");
        run(&mut d, "-g", "s").unwrap();
        let g = imgforge_core::gpt::read::read(&d).unwrap().gpt;
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
