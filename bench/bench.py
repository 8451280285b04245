#!/usr/bin/env python3
"""`./build.sh bench`: imgforge side by side with the anchor tools, in one run.

Prints, per job, wall time and peak RSS of imgforge and of the anchor tool
and their ratio. Ratios, not absolute times, are what to read: machines are
noisy. Not a test: nothing here fails on a slow result.

  ./build.sh bench            all jobs
  ./build.sh bench gpt qcow2  only the named groups
"""
import os, shutil, subprocess, sys, tempfile, sysconfig, json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMGFORGE = os.path.join(ROOT, "target", "release", "imgforge")
WORK = os.path.join(ROOT, "target", "bench")
RESULTS = []


def timed(cmd, cwd=None, env=None, shell=False):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS KiB)."""
    fmt = "%e %M"
    full = ["/usr/bin/time", "-f", fmt, "-o", os.path.join(WORK, ".time")]
    full += (["sh", "-c", cmd] if shell else cmd)
    r = subprocess.run(full, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {r.stderr.decode(errors='replace')[-2000:]}")
    sec, rss = open(os.path.join(WORK, ".time")).read().split()[-2:]
    return float(sec), int(rss)


def compare(name, ours, theirs, goal=None, goal_rss_mib=None):
    (ts, tr), (as_, ar) = ours, theirs
    ratio = ts / as_ if as_ > 0 else float("inf")
    line = f"{name:<48} imgforge {ts:7.2f}s {tr/1024:7.1f} MiB | anchor {as_:7.2f}s {ar/1024:7.1f} MiB | ratio {ratio:5.2f}x"
    if goal is not None:
        line += f" (goal <= {goal}x: {'ok' if ratio <= goal else 'MISSED'})"
    if goal_rss_mib is not None:
        line += f" (RSS goal <= {goal_rss_mib} MiB: {'ok' if tr/1024 <= goal_rss_mib else 'MISSED'})"
    print(line, flush=True)
    RESULTS.append({"name": name, "imgforge_s": ts, "imgforge_rss_kib": tr, "anchor_s": as_, "anchor_rss_kib": ar, "ratio": ratio})


def single(name, ours, goal_s=None, goal_rss_mib=None):
    ts, tr = ours
    line = f"{name:<48} imgforge {ts:7.2f}s {tr/1024:7.1f} MiB"
    if goal_s is not None:
        line += f" (goal < {goal_s}s: {'ok' if ts < goal_s else 'MISSED'})"
    if goal_rss_mib is not None:
        line += f" (RSS goal < {goal_rss_mib} MiB: {'ok' if tr/1024 < goal_rss_mib else 'MISSED'})"
    print(line, flush=True)
    RESULTS.append({"name": name, "imgforge_s": ts, "imgforge_rss_kib": tr})


def rm(*paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.remove(p)


def bench_gpt():
    a, b = os.path.join(WORK, "a.img"), os.path.join(WORK, "b.img")
    rm(a, b)
    part = "--clear --new 1::+100M --typecode=1:ef00 --change-name=1:EFI --new 2::-0 --typecode=2:8300 --change-name=2:root"
    ours = timed(f"{IMGFORGE} create {a} 100G && {IMGFORGE} part {part} {a}", shell=True)
    theirs = timed(f"qemu-img create -q -f raw {b} 100G && sgdisk {part} {b}", shell=True)
    compare("create 100 GiB GPT disk, 2 partitions", ours, theirs)
    single("  (goal for imgforge alone)", ours, goal_s=0.5, goal_rss_mib=10)
    rm(a, b)
    ours_setup = f"{IMGFORGE} create {a} 1G && {IMGFORGE} part {part} {a}"
    subprocess.run(ours_setup, shell=True, check=True, stdout=subprocess.DEVNULL)
    shutil.copy(a, b)
    ours = timed([IMGFORGE, "resize", a, "100G"])
    theirs = timed(f"qemu-img resize -q -f raw {b} 100G && sgdisk -e {b}", shell=True)
    compare("grow 1 GiB GPT disk to 100 GiB", ours, theirs)
    rm(a, b)


def stdlib_tree():
    src = sysconfig.get_paths()["stdlib"]
    return src


def bench_fs():
    src = stdlib_tree()
    out_a, out_b = os.path.join(WORK, "ext4-a.img"), os.path.join(WORK, "ext4-b.img")
    rm(out_a, out_b)
    size = "2G"
    ours = timed([IMGFORGE, "mkfs", "ext4", src, "-o", out_a, "--size", size])
    theirs = timed(f"truncate -s {size} {out_b} && mke2fs -q -F -t ext4 -d {src} {out_b}", shell=True)
    compare(f"ext4 from {src}", ours, theirs, goal=0.5, goal_rss_mib=128)
    rm(out_a, out_b)
    ours = timed([IMGFORGE, "mkfs", "fat", src, "-o", out_a, "--size", size])
    theirs = timed(f"truncate -s {size} {out_b} && mkfs.fat -F 32 {out_b} >/dev/null && MTOOLS_SKIP_CHECK=1 mcopy -s -i {out_b} {src}/* ::/", shell=True)
    compare(f"FAT from {src}", ours, theirs)
    rm(out_a, out_b)


def bench_boot():
    src = stdlib_tree()
    a, b = os.path.join(WORK, "a.iso"), os.path.join(WORK, "b.iso")
    rm(a, b)
    ours = timed([IMGFORGE, "mkisofs", "-o", a, "-J", "-R", src])
    theirs = timed(["xorriso", "-as", "mkisofs", "-quiet", "-o", b, "-J", "-R", src])
    compare("ISO (-J -R) of the stdlib tree", ours, theirs, goal=1.0, goal_rss_mib=128)
    rm(a, b)
    ours = timed([IMGFORGE, "initramfs", src, "-o", a, "--level", "6"])
    theirs = timed(f"cd {src} && find . | cpio -o -H newc --quiet | gzip -6 > {b}", shell=True)
    compare("initramfs (gzip -6) of the stdlib tree", ours, theirs, goal=1.0)
    rm(a, b)


def bench_qcow2():
    raw = os.path.join(WORK, "src.raw")
    if not os.path.exists(raw):
        # A 4 GiB raw disk holding an ext4 filesystem with ~the stdlib tree.
        subprocess.run(f"truncate -s 4G {raw} && mke2fs -q -F -t ext4 -d {stdlib_tree()} {raw}", shell=True, check=True)
    a, b = os.path.join(WORK, "a.qcow2"), os.path.join(WORK, "b.qcow2")
    for label, extra, goal in (("raw -> qcow2", [], 1.0), ("raw -> qcow2 -c", ["-c"], 0.5)):
        rm(a, b)
        ours = timed([IMGFORGE, "convert", "-O", "qcow2", *extra, raw, a])
        theirs = timed(["qemu-img", "convert", "-O", "qcow2", *extra, raw, b])
        compare(label, ours, theirs, goal=goal, goal_rss_mib=128)
        print(f"{'':<48} sizes: imgforge {os.path.getsize(a)/2**20:.1f} MiB, qemu-img {os.path.getsize(b)/2**20:.1f} MiB", flush=True)
    ra, rb = os.path.join(WORK, "a.raw"), os.path.join(WORK, "b.raw")
    rm(ra, rb)
    ours = timed([IMGFORGE, "convert", "-O", "raw", b, ra])
    theirs = timed(["qemu-img", "convert", "-O", "raw", b, rb])
    compare("qcow2 -> raw", ours, theirs, goal=1.0, goal_rss_mib=128)
    rm(a, b, ra, rb)


def bench_wasm():
    script = os.path.join(ROOT, "tests", "node", "bench.mjs")
    if not os.path.exists(script):
        print("wasm under node: tests/node/bench.mjs not present")
        return
    r = subprocess.run(["node", script, os.path.join(WORK, "src.raw")], capture_output=True, text=True)
    print(r.stdout.strip() or r.stderr.strip()[-500:], flush=True)


GROUPS = {"gpt": bench_gpt, "fs": bench_fs, "boot": bench_boot, "qcow2": bench_qcow2, "wasm": bench_wasm}


def main():
    os.makedirs(WORK, exist_ok=True)
    want = sys.argv[1:] or list(GROUPS)
    for g in want:
        print(f"== {g}", flush=True)
        try:
            GROUPS[g]()
        except Exception as e:  # a missing command should not hide the other groups
            print(f"   {g}: {e}", flush=True)
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
