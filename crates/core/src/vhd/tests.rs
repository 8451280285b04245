//! VHD writer/reader round trips, qemu's size rules, hostile images and a
//! mutation loop.

use super::raw::*;
use super::*;
use crate::image::WriteOptions;
use crate::io::{NoProgress, ReadAt};
use crate::Disk;
use std::sync::Arc;

fn all(r: &dyn ReadAt) -> Vec<u8> {
    let mut v = vec![0u8; r.size() as usize];
    r.read_at(0, &mut v).unwrap();
    v
}

fn image(d: &Disk, sub: &str) -> Vec<u8> {
    let opts = WriteOptions {
        subformat: Some(sub.into()),
        ..Default::default()
    };
    let mut out = Vec::new();
    write(d, &opts, &mut out, &NoProgress).unwrap();
    out
}

fn sample() -> Disk {
    let mut d = crate::qcow2::tests::sample_disk(5 * 1024 * 1024 + 777);
    d.write(2 << 20, &[0u8; 100_000]).unwrap();
    d
}

#[test]
fn round_trips_fixed_and_dynamic() {
    let d = sample();
    let (sectors, _) = size_for(d.size());
    assert!(sectors * 512 >= d.size());
    let mut want = all(&d);
    want.resize((sectors * 512) as usize, 0);
    for sub in ["fixed", "dynamic"] {
        let img = image(&d, sub);
        let o = open(Arc::new(img.clone())).unwrap();
        assert_eq!(o.info.format, "vpc");
        assert_eq!(o.info.virtual_size, sectors * 512, "{sub}");
        assert_eq!(all(&o.disk), want, "{sub}");
        if sub == "fixed" {
            assert_eq!(img.len() as u64, sectors * 512 + 512);
        } else {
            // Footer copy at the front equals the footer at the end.
            assert_eq!(img[..512], img[img.len() - 512..]);
        }
    }
}

#[test]
fn empty_blocks_are_not_stored() {
    let mut d = Disk::new(64 << 20);
    d.write_vec(0, vec![0; 8 << 20]).unwrap();
    d.write(10 << 20, b"x").unwrap();
    let img = image(&d, "dynamic");
    let entries = (size_for(64 << 20).0 * 512).div_ceil(2 << 20);
    let bat = (entries * 4).next_multiple_of(512);
    assert_eq!(img.len() as u64, 1536 + bat + 512 + (2 << 20) + 512);
    let o = open(Arc::new(img)).unwrap();
    assert_eq!(o.disk.allocated_ranges(), vec![(10 << 20, 2 << 20)]);
}

fn dynamic(block: u64) -> impl Fn(&Disk, &mut dyn crate::io::Sink) -> crate::Result<()> {
    move |d, sink| {
        let opts = WriteOptions {
            subformat: Some("dynamic".into()),
            cluster_size: Some(block),
            ..Default::default()
        };
        write(d, &opts, sink, &NoProgress)
    }
}

#[test]
fn one_pass_and_two_passes_give_the_same_bytes() {
    use crate::testutil::{one_pass_disks, same_one_and_two_passes};
    for block in [4096u64, 64 << 10, 2 << 20] {
        let mut disks = one_pass_disks(block);
        // A BAT of more than one patched piece (64 KiB: 16384 entries).
        let mut wide = Disk::new(100 << 20);
        for at in [0u64, 5 << 20, 70 << 20, (100 << 20) - 4] {
            wide.write(at, b"data").unwrap();
        }
        disks.push(("wide", wide));
        disks.push(("size 0", Disk::new(0)));
        for (name, d) in &disks {
            let what = format!("{name}, block {block}");
            let img = same_one_and_two_passes(&what, d, &dynamic(block)).unwrap();
            let o = open(Arc::new(img)).unwrap();
            let mut want = all(d);
            want.resize(o.disk.size() as usize, 0);
            assert!(all(&o.disk) == want, "{what}");
        }
    }
}

#[test]
fn a_patchable_sink_reads_the_disk_once() {
    for block in [4096u64, 2 << 20] {
        let d = &one_pass_disks_mixed(block);
        let (one, two, allocated) = crate::testutil::bytes_read(d, &dynamic(block));
        assert_eq!(one, allocated, "block {block}");
        assert!(two > allocated, "block {block}: {two}");
    }
}

fn one_pass_disks_mixed(block: u64) -> Disk {
    let mut v = crate::testutil::one_pass_disks(block);
    v.swap_remove(2).1
}

#[test]
fn geometry_matches_qemu() {
    // What `qemu-img create -f vpc IMG SIZE; qemu-img info` reports.
    for (asked, qemu) in [
        (100u64 << 20, 104_865_792u64),
        (1 << 30, 1_073_995_776),
        (10 << 20, 10_514_432),
        (1 << 20, 1_079_296),
        (5 << 20, 5_257_216),
    ] {
        assert_eq!(size_for(asked).0 * 512, qemu, "{asked}");
    }
    // Over the maximum geometry the size is kept.
    let big = 200u64 << 30;
    let (s, g) = size_for(big);
    assert_eq!(s * 512, big);
    assert_eq!(g, (65535, 16, 255));
}

#[test]
fn size_follows_creator_app_as_qemu() {
    let d = Disk::new(10 << 20);
    let mut img = image(&d, "fixed");
    let n = img.len();
    let mut f = [0u8; 512];
    f.copy_from_slice(&img[n - 512..]);
    let mut foot = Footer::parse(&f).unwrap();
    foot.current_size = 9 << 20;
    img[n - 512..].copy_from_slice(&foot.to_bytes().unwrap());
    // Our creator: geometry wins.
    let chs = foot.chs_sectors() * 512;
    assert_eq!(open(Arc::new(img.clone())).unwrap().info.virtual_size, chs);
    // Hyper-V: current_size wins.
    foot.creator_application = *b"win ";
    img[n - 512..].copy_from_slice(&foot.to_bytes().unwrap());
    assert_eq!(open(Arc::new(img)).unwrap().info.virtual_size, 9 << 20);
}

#[test]
fn timestamp_and_uuid_come_from_the_context() {
    let d = Disk::new(1 << 20);
    let a = image(&d, "fixed");
    let f = Footer::parse(a[a.len() - 512..].try_into().unwrap()).unwrap();
    let ctx = crate::BuildContext::default();
    assert_eq!(f.time_stamp as i64, ctx.epoch - VHD_EPOCH);
    assert_eq!(f.unique_id, ctx.uuid("vhd-uuid"));
    assert_eq!(&f.creator_application, b"imgf");
    assert_eq!(a, image(&d, "fixed"));
}

fn err_text(v: Vec<u8>) -> String {
    match open(Arc::new(v)) {
        Ok(o) => match o.disk.read_at(0, &mut vec![0u8; o.disk.size() as usize]) {
            Ok(()) => panic!("damaged image was accepted"),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    }
}

#[test]
fn hostile_images_are_refused() {
    let mut d = Disk::new(8 << 20);
    d.write(3 << 20, b"data").unwrap();
    let img = image(&d, "dynamic");
    let n = img.len();
    // Bad footer checksum.
    let mut v = img.clone();
    v[40] ^= 1;
    assert!(err_text(v).contains("checksum"));
    // Dynamic header checksum.
    let mut v = img.clone();
    v[512 + 30] ^= 1;
    assert!(err_text(v).contains("checksum"));
    // BAT larger than the file: patch max_table_entries and re-checksum.
    let mut v = img.clone();
    let mut hb = [0u8; 1024];
    hb.copy_from_slice(&v[512..1536]);
    let mut h = DynHeader::parse(&hb).unwrap();
    h.max_table_entries = 1 << 28;
    v[512..1536].copy_from_slice(&h.to_bytes().unwrap());
    assert!(err_text(v).contains("past the end"));
    // Block offsets past EOF.
    let mut v = img.clone();
    v[1536 + 4..1536 + 8].copy_from_slice(&0x0100_0000u32.to_be_bytes());
    assert!(err_text(v).contains("past the end"));
    // Truncated (the footer copy at the front is still there).
    let v = img[..n - 600].to_vec();
    assert!(!err_text(v).is_empty());
    // Differencing disks.
    let mut v = img.clone();
    let mut f = Footer::parse(v[..512].try_into().unwrap()).unwrap();
    f.disk_type = DISK_DIFFERENCING;
    v[..512].copy_from_slice(&f.to_bytes().unwrap());
    assert!(err_text(v).contains("differencing"));
    // Not a VHD.
    assert!(err_text(vec![0u8; 4096]).contains("cookie"));
    assert!(err_text(vec![0u8; 10]).contains("end of input"));
    // A fixed disk claiming more than the file holds.
    let mut v = image(&d, "fixed");
    let m = v.len();
    let mut f = Footer::parse(v[m - 512..].try_into().unwrap()).unwrap();
    f.cylinders = 60000;
    v[m - 512..].copy_from_slice(&f.to_bytes().unwrap());
    assert!(err_text(v).contains("does not fit"));
}

#[test]
fn bad_options_are_refused() {
    let d = Disk::new(1 << 20);
    for (sub, bs) in [
        ("sparse", None),
        ("dynamic", Some(1000)),
        ("fixed", Some(1 << 21)),
    ] {
        let opts = WriteOptions {
            subformat: Some(sub.into()),
            cluster_size: bs,
            ..Default::default()
        };
        assert!(write(&d, &opts, &mut Vec::new(), &NoProgress).is_err());
    }
}

#[test]
fn mutated_images_never_panic() {
    let mut d = Disk::new(6 << 20);
    d.write(100, &[1u8; 5000]).unwrap();
    d.write(5 << 20, &[2u8; 5000]).unwrap();
    let dynamic = image(&d, "dynamic");
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let mut v = dynamic.clone();
        for _ in 0..1 + next() % 6 {
            let r = next();
            let at = match r % 3 {
                0 => (r >> 8) % 2048,
                1 => v.len() as u64 - 512 + (r >> 8) % 512,
                _ => (r >> 8) % v.len() as u64,
            };
            v[at as usize] = (r >> 40) as u8;
        }
        // Keep the checksums right half of the time, so the parser behind
        // them is exercised too.
        if next() % 2 == 0 {
            let c = checksum(&v[..512], 64);
            v[64..68].copy_from_slice(&c.to_be_bytes());
            let c = checksum(&v[512..1536], 36);
            v[512 + 36..512 + 40].copy_from_slice(&c.to_be_bytes());
        }
        if next() % 16 == 0 {
            let l = (next() % v.len() as u64) as usize;
            v.truncate(l);
        }
        if let Ok(o) = open(Arc::new(v)) {
            let mut b = vec![0u8; 4096];
            for (off, len) in o.disk.allocated_ranges().into_iter().take(64) {
                let n = len.min(4096) as usize;
                let _ = o.disk.read_at(off, &mut b[..n]);
            }
        }
    }
}
