#!/usr/bin/env python3
"""`./build.sh bench`: imgforge side by side with the anchor tools, in one run.

Prints, per job, wall time, CPU time (user+sys) and peak RSS of imgforge and
of the anchor tool, and their ratio of wall times. Ratios, not absolute
times, are what to read: machines are noisy. Not a test: nothing here fails
on a slow result, and a missing anchor tool only skips its comparison.

  ./build.sh bench            all jobs
  ./build.sh bench gpt qcow2  only the named groups
  BENCH_REPEAT=3 ...          run each command 3 times and keep the fastest

Every timed command starts after a `sync`, so one command's dirty pages are
not written back on the next one's clock.
"""
import hashlib, os, shlex, shutil, subprocess, sys, tempfile, sysconfig, json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMGFORGE = os.path.join(ROOT, "target", "release", "imgforge")
WORK = os.path.join(ROOT, "target", "bench")
RESULTS = []
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "1")))


class Missing(Exception):
    """An anchor tool is not installed: its comparison is skipped."""


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise Missing(", ".join(missing))


def timed(cmd, cwd=None, env=None, shell=False, before=None, repeat=None):
    """Runs cmd under /usr/bin/time (`repeat` or REPEAT times, keeping the
    fastest); returns (wall seconds, peak RSS KiB, CPU seconds). `before`
    (a callable) runs untimed before each run, e.g. to remove the output."""
    best = None
    for _ in range(repeat or REPEAT):
        if before:
            before()
        os.sync()
        tf = os.path.join(WORK, ".time")
        full = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", tf]
        full += (["sh", "-c", cmd] if shell else cmd)
        r = subprocess.run(full, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            shown = cmd if shell else " ".join(cmd)
            raise RuntimeError(f"{shown} failed: {r.stderr.decode(errors='replace')[-2000:]}")
        sec, rss, usr, sys_ = open(tf).read().split()[-4:]
        run = (float(sec), int(rss), float(usr) + float(sys_))
        if best is None or run[0] < best[0]:
            best = run
    return best


def fmt(t):
    sec, rss, cpu = t
    return f"{sec:7.2f}s (cpu {cpu:6.2f}s) {rss/1024:7.1f} MiB"


def verdict(ok):
    return "ok" if ok else "MISSED"


def compare(name, ours, theirs, goal=None, goal_rss_mib=None):
    ratio = ours[0] / theirs[0] if theirs[0] > 0 else float("inf")
    cpu_ratio = f"{ours[2] / theirs[2]:5.2f}x" if theirs[2] >= 0.05 else "  n/a"
    print(f"{name}", flush=True)
    line = f"    imgforge {fmt(ours)} | anchor {fmt(theirs)} | ratio {ratio:5.2f}x (cpu {cpu_ratio})"
    if goal is not None:
        line += f" [time goal <= {goal}x: {verdict(ratio <= goal)}]"
    if goal_rss_mib is not None:
        line += f" [RSS goal <= {goal_rss_mib} MiB: {verdict(ours[1]/1024 <= goal_rss_mib)}]"
    print(line, flush=True)
    RESULTS.append({"name": name, "imgforge_s": ours[0], "imgforge_cpu_s": ours[2], "imgforge_rss_kib": ours[1],
                    "anchor_s": theirs[0], "anchor_cpu_s": theirs[2], "anchor_rss_kib": theirs[1], "ratio": ratio})


def single(name, ours, goal_s=None, goal_rss_mib=None, note=""):
    print(f"{name}", flush=True)
    line = f"    imgforge {fmt(ours)}"
    if goal_s is not None:
        line += f" [goal < {goal_s}s: {verdict(ours[0] < goal_s)}]"
    if goal_rss_mib is not None:
        line += f" [RSS goal < {goal_rss_mib} MiB: {verdict(ours[1]/1024 < goal_rss_mib)}]"
    if note:
        line += f" ({note})"
    print(line, flush=True)
    RESULTS.append({"name": name, "imgforge_s": ours[0], "imgforge_cpu_s": ours[2], "imgforge_rss_kib": ours[1]})


def versus(name, ours_cmd, anchor_tools, anchor_cmd, goal=None, goal_rss_mib=None, ours_kw=None, anchor_kw=None):
    """Times imgforge, then the anchor (if its tools are installed)."""
    ours = timed(ours_cmd, **(ours_kw or {}))
    try:
        need(*anchor_tools)
    except Missing as e:
        single(name, ours, goal_rss_mib=goal_rss_mib, note=f"anchor not run: {e} missing")
        return ours, None
    theirs = timed(anchor_cmd, **(anchor_kw or {}))
    compare(name, ours, theirs, goal=goal, goal_rss_mib=goal_rss_mib)
    return ours, theirs


def rm(*paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.remove(p)


def bench_gpt():
    a, b = os.path.join(WORK, "a.img"), os.path.join(WORK, "b.img")
    part = "--clear --new 1::+100M --typecode=1:ef00 --change-name=1:EFI --new 2::-0 --typecode=2:8300 --change-name=2:root"
    ours, _ = versus("create 100 GiB GPT disk, 2 partitions (vs qemu-img create + sgdisk)",
                     f"{IMGFORGE} create {a} 100G && {IMGFORGE} part {part} {a}", ["qemu-img", "sgdisk"],
                     f"qemu-img create -q -f raw {b} 100G && sgdisk {part} {b} >/dev/null",
                     ours_kw={"shell": True, "before": lambda: rm(a)},
                     anchor_kw={"shell": True, "before": lambda: rm(b)})
    single("  the same, goal for imgforge alone", ours, goal_s=0.5, goal_rss_mib=10)
    rm(a, b)

    base = os.path.join(WORK, "base.img")
    rm(base)
    subprocess.run(f"{IMGFORGE} create {base} 1G && {IMGFORGE} part {part} {base}", shell=True, check=True,
                   stdout=subprocess.DEVNULL)

    def copy_base(to):
        rm(to)
        subprocess.run(["cp", "--sparse=always", base, to], check=True)
    versus("grow 1 GiB GPT disk to 100 GiB (vs qemu-img resize + sgdisk -e)",
           [IMGFORGE, "resize", a, "100G"], ["qemu-img", "sgdisk"],
           f"qemu-img resize -q -f raw {b} 100G && sgdisk -e {b} >/dev/null",
           ours_kw={"before": lambda: copy_base(a)}, anchor_kw={"shell": True, "before": lambda: copy_base(b)})
    rm(a, b, base)


def stdlib_tree():
    """The benchmark tree: this Python's standard library (~50,000 files)."""
    src = sysconfig.get_paths()["stdlib"]
    files = links = size = 0
    for dirpath, dirnames, filenames in os.walk(src):
        for n in filenames + dirnames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                links += 1
            elif os.path.isfile(p):
                files += 1
                size += os.path.getsize(p)
    return src, files, links, size


TREE = None


def tree():
    global TREE
    if TREE is None:
        TREE = stdlib_tree()
        src, files, links, size = TREE
        print(f"   tree: {src}: {files} files, {links} symlinks, {size/1e6:.0f} MB", flush=True)
    return TREE[0]


def bench_fs():
    src = tree()
    a, b = os.path.join(WORK, "fs-a.img"), os.path.join(WORK, "fs-b.img")
    size = "2G"
    versus("ext4 of the tree, 2 GiB (vs mke2fs -t ext4 -d)",
           [IMGFORGE, "mkfs", "ext4", src, "-o", a, "--size", size], ["mke2fs"],
           f"truncate -s {size} {b} && mke2fs -q -F -t ext4 -d {src} {b}",
           goal=0.5, goal_rss_mib=128, ours_kw={"before": lambda: rm(a)},
           anchor_kw={"shell": True, "before": lambda: rm(b)})
    rm(a, b)
    # Both follow symlinks (FAT has none); like for like when the links
    # stay inside the tree (imgforge resolves them there).
    versus("FAT32 of the tree, 2 GiB (vs mkfs.fat + mcopy -s)",
           [IMGFORGE, "mkfs", "fat", src, "-o", a, "--size", size], ["mkfs.fat", "mcopy"],
           f"truncate -s {size} {b} && mkfs.fat -F 32 {b} >/dev/null && MTOOLS_SKIP_CHECK=1 mcopy -s -i {b} {src}/* ::/",
           ours_kw={"before": lambda: rm(a)}, anchor_kw={"shell": True, "before": lambda: rm(b)})
    rm(a, b)


def bench_boot():
    src = tree()
    a, b = os.path.join(WORK, "a.iso"), os.path.join(WORK, "b.iso")
    versus("ISO 9660 (-J -R) of the tree (vs xorriso -as mkisofs)",
           [IMGFORGE, "mkisofs", "-o", a, "-J", "-R", src], ["xorriso"],
           ["xorriso", "-as", "mkisofs", "-quiet", "-o", b, "-J", "-R", src],
           goal=1.0, goal_rss_mib=128, ours_kw={"before": lambda: rm(a)}, anchor_kw={"before": lambda: rm(b)})
    rm(a, b)
    versus("initramfs, gzip -6, of the tree (vs find | cpio -o -H newc | gzip -6)",
           [IMGFORGE, "initramfs", src, "-o", a, "--level", "6"], ["cpio", "gzip"],
           f"cd {src} && find . | cpio -o -H newc --quiet | gzip -6 > {b}",
           goal=1.0, ours_kw={"before": lambda: rm(a)}, anchor_kw={"shell": True, "before": lambda: rm(b)})
    if os.path.exists(a) and os.path.exists(b):
        print(f"    sizes: imgforge {os.path.getsize(a)/2**20:.1f} MiB, anchor {os.path.getsize(b)/2**20:.1f} MiB", flush=True)
    rm(a, b)


GRUB_MODULES = ("part_gpt part_msdos efi_uga gptsync fat ext2 lvm iso9660 lsefi gzio linux linuxefi acpi normal "
                "cpio crypto disk boot crc64 search_fs_uuid tftp xzio lzopio xfs video scsi multiboot hfsplus udf "
                "linuxefi").split()


def bench_grub():
    """Issue 11: grub-mkimage (x86_64-efi, the issue's module list; i386-pc
    core.img with LZMA) beside GRUB's own tool. Small jobs: best of 5."""
    need("grub-mkimage")
    a, b = os.path.join(WORK, "a.efi"), os.path.join(WORK, "b.efi")
    efi = ["-d", "/usr/lib/grub/x86_64-efi", "-O", "x86_64-efi", "-p", "/EFI/BOOT"] + GRUB_MODULES
    # One image takes ~10 ms, under /usr/bin/time's resolution: time 20.
    loop = lambda tool: "for i in $(seq 20); do " + " ".join(shlex.quote(x) for x in tool + efi) + " || exit 1; done"
    versus("grub-mkimage -O x86_64-efi, 29 modules, 20 times (vs grub-mkimage)",
           loop([IMGFORGE, "grub-mkimage", "-o", a]), ["grub-mkimage"], loop(["grub-mkimage", "-o", b]),
           goal=1.0, ours_kw={"shell": True, "repeat": 3}, anchor_kw={"shell": True, "repeat": 3})
    if os.path.exists(a) and os.path.exists(b):
        print(f"    identical bytes: {open(a, 'rb').read() == open(b, 'rb').read()}", flush=True)
    rm(a, b)
    a, b = os.path.join(WORK, "a.img"), os.path.join(WORK, "b.img")
    pc = ["-d", "/usr/lib/grub/i386-pc", "-O", "i386-pc", "-p", "(hd0,msdos1)/boot/grub",
          "biosdisk", "part_msdos", "part_gpt", "ext2", "fat", "normal", "linux", "search"]
    versus("grub-mkimage -O i386-pc core.img, LZMA (vs grub-mkimage)",
           [IMGFORGE, "grub-mkimage", "-o", a] + pc, ["grub-mkimage"], ["grub-mkimage", "-o", b] + pc,
           goal=1.0, ours_kw={"repeat": 5}, anchor_kw={"repeat": 5})
    if os.path.exists(a) and os.path.exists(b):
        print(f"    core.img sizes: imgforge {os.path.getsize(a)} bytes, grub-mkimage {os.path.getsize(b)} bytes", flush=True)
    rm(a, b)


def bench_qcow2():
    need("mke2fs")
    raw = os.path.join(WORK, "src.raw")
    if not os.path.exists(raw):
        # A sparse 4 GiB raw disk holding an ext4 filesystem with the tree.
        subprocess.run(f"truncate -s 4G {raw}.tmp && mke2fs -q -F -t ext4 -d {tree()} {raw}.tmp && mv {raw}.tmp {raw}",
                       shell=True, check=True)
    a, b = os.path.join(WORK, "a.qcow2"), os.path.join(WORK, "b.qcow2")
    for label, extra, goal in (("raw -> qcow2", [], 1.0), ("raw -> qcow2 -c", ["-c"], 0.5)):
        versus(f"{label} (4 GiB raw, ext4 with the tree; vs qemu-img convert)",
               [IMGFORGE, "convert", "-O", "qcow2", *extra, raw, a], ["qemu-img"],
               ["qemu-img", "convert", "-O", "qcow2", *extra, raw, b],
               goal=goal, goal_rss_mib=128, ours_kw={"before": lambda: rm(a)}, anchor_kw={"before": lambda: rm(b)})
        if os.path.exists(b):
            sa, sb = os.path.getsize(a), os.path.getsize(b)
            line = f"    sizes: imgforge {sa/2**20:.1f} MiB, qemu-img {sb/2**20:.1f} MiB ({sa/sb:.3f}x"
            if extra:
                line += f"; size goal <= 1.0x: {verdict(sa <= sb)}"
            print(line + ")", flush=True)
    # qcow2 -> raw from qemu-img's own qcow2 when there is one.
    qc = b if os.path.exists(b) else a
    ra, rb = os.path.join(WORK, "a.raw"), os.path.join(WORK, "b.raw")
    versus("qcow2 -c -> raw (vs qemu-img convert)",
           [IMGFORGE, "convert", "-O", "raw", qc, ra], ["qemu-img"],
           ["qemu-img", "convert", "-O", "raw", qc, rb],
           goal=1.0, goal_rss_mib=128, ours_kw={"before": lambda: rm(ra)}, anchor_kw={"before": lambda: rm(rb)})
    rm(a, b, ra, rb)


def bench_wasm():
    script = os.path.join(ROOT, "tests", "node", "bench.mjs")
    if not os.path.exists(script):
        print("   wasm under node: tests/node/bench.mjs not present", flush=True)
        return
    need("node")
    r = subprocess.run(["node", script, os.path.join(WORK, "src.raw")], capture_output=True, text=True)
    print(r.stdout.strip() or r.stderr.strip()[-500:], flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bench_wasm_ext4():
    """Issue 3: the ext4 job built by the wasm core under node vs natively,
    from a tar of the bench tree (the page gets trees as tars or files).
    Both write the image to a file: `imgforge build -o` natively, and
    tests/node/bench-ext4.mjs (`build_files`: the tar read on demand, the
    image written at positions) under node; whole processes are timed.
    The in-memory `build_bytes` path is timed too, for comparison, and an
    older wasm build's if target/wasm-node-before holds one."""
    need("node")
    tar = os.path.join(WORK, "tree.tar")
    if not os.path.exists(tar):
        subprocess.run(["tar", "-C", tree(), "-cf", tar, "."], check=True)
    recipe = os.path.join(WORK, "ext4-tar.toml")
    with open(recipe, "w") as f:
        # No size: fit the content (+20 %), which stays under the 1 GiB cap
        # of build_bytes' in-memory output.
        f.write('[filesystem]\ntype = "ext4"\ncontents = [{ tar = "tree.tar" }]\n')
    out = os.path.join(WORK, "ext4-native.img")
    wout = os.path.join(WORK, "ext4-wasm.img")
    script = os.path.join(ROOT, "tests", "node", "bench-ext4.mjs")

    def warm(path):
        # Every run starts with the tar in the page cache: on a shared
        # machine it is otherwise evicted between runs, and reading it from
        # the disk swamps what is measured.
        rm(path)
        with open(tar, "rb") as f:
            while f.read(1 << 20):
                pass
    # The runs are interleaved (native, wasm, native, wasm, ...) so that both
    # sides meet the same moments of the shared machine's load.
    before_dir = os.path.join(ROOT, "target", "wasm-node-before")
    jobs = {"native": ([IMGFORGE, "build", recipe, "-o", out], out, None),
            "wasm": (["node", script, recipe, tar, wout], wout, None),
            "bytes": (["node", script, "--bytes", recipe, tar, wout], wout, None)}
    if os.path.exists(os.path.join(before_dir, "imgforge_web.js")):
        # An older build of the wasm kept there, for a before/after
        # comparison in one run (docs/benchmarks.md says how it was made).
        jobs["before"] = (["node", script, "--bytes", recipe, tar, wout], wout,
                          {**os.environ, "IMGFORGE_WASM_NODE": before_dir})
    best, same = {}, {}
    for _ in range(REPEAT):
        for name, (cmd, path, env) in jobs.items():
            t = timed(cmd, env=env, before=lambda p=path: warm(p), repeat=1)
            if name != "native" and name not in same:
                same[name] = sha256_file(wout)
            if name not in best or t[0] < best[name][0]:
                best[name] = t
    native = best["native"]
    want = sha256_file(out)

    def line(name, job, goal=None):
        t = best[job]
        ratio, cpu_ratio = t[0] / native[0], t[2] / native[2]
        ok = same[job] == want
        print(name, flush=True)
        print(f"    wasm {fmt(t)} | native {fmt(native)} | ratio {ratio:5.2f}x (cpu {cpu_ratio:5.2f}x)"
              + (f" [goal <= {goal}x: {verdict(ratio <= goal)}]" if goal else "") + f"; same bytes: {ok}", flush=True)
        RESULTS.append({"name": name, "wasm_s": t[0], "wasm_cpu_s": t[2], "wasm_rss_kib": t[1], "native_s": native[0],
                        "native_cpu_s": native[2], "native_rss_kib": native[1], "ratio": ratio, "same": ok})
    line("ext4 from a tar: wasm (build_files) under node vs native", "wasm", goal=1.5)
    line("  the same with build_bytes (the tar in a Uint8Array, the image in wasm memory)", "bytes")
    if "before" in best:
        line("  the same with build_bytes of target/wasm-node-before", "before")
    rm(out, wout)


def bench_grub_install():
    """grub-install (both targets, hybrid) into a 10 GiB sparse GPT disk
    (BIOS boot, ESP by mkfs.fat, Linux). The real grub-install needs root
    and a loop device, so the anchor is what it does without them:
    grub-mkimage for each target, mcopy of the images, grub.cfg and the
    module folders (*.mod, *.lst) into the ESP, dd of boot.img and core.img
    (without grub-bios-setup's patching)."""
    need("sgdisk", "mkfs.fat")
    base = os.path.join(WORK, "grub-base.img")
    a, b = os.path.join(WORK, "grub-a.img"), os.path.join(WORK, "grub-b.img")
    cfg = os.path.join(WORK, "grub.cfg")
    with open(cfg, "w") as f:
        f.write("set timeout=0\nmenuentry x {\n\tlinux /EFI/BOOT/vmlinuz console=ttyS0\n}\n")
    rm(base)
    subprocess.run(f"{IMGFORGE} create {base} 10G && sgdisk -n 1:0:+1M -t 1:ef02 -n 2:0:+100M -t 2:ef00 -n 3:0:0 {base}"
                   f" && mkfs.fat -F 32 -s 1 --offset 4096 {base} {100 * 1024}", shell=True, check=True,
                   stdout=subprocess.DEVNULL)

    def copy_base(to):
        rm(to)
        subprocess.run(["cp", "--sparse=always", base, to], check=True)
    efi_mods = ("part_gpt part_msdos fat ext2 normal configfile linux echo search search_fs_uuid search_label "
                "test ls cat reboot halt serial terminal gzio linuxefi")
    pc_mods = "biosdisk " + efi_mods.replace(" linuxefi", "")
    w = WORK
    anchor = (f"grub-mkimage -O x86_64-efi -p /EFI/BOOT -o {w}/x.efi {efi_mods}"
              f" && grub-mkimage -O i386-pc -p '(,gpt2)/EFI/BOOT' -o {w}/core.img {pc_mods}"
              f" && mmd -i {b}@@2097152 ::/EFI ::/EFI/BOOT && mcopy -i {b}@@2097152 {w}/x.efi ::/EFI/BOOT/BOOTX64.EFI"
              f" && mcopy -i {b}@@2097152 {cfg} ::/EFI/BOOT/grub.cfg"
              f" && mmd -i {b}@@2097152 ::/EFI/BOOT/x86_64-efi ::/EFI/BOOT/i386-pc"
              f" && mcopy -i {b}@@2097152 /usr/lib/grub/x86_64-efi/*.mod /usr/lib/grub/x86_64-efi/*.lst ::/EFI/BOOT/x86_64-efi/"
              f" && mcopy -i {b}@@2097152 /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst ::/EFI/BOOT/i386-pc/"
              f" && dd if=/usr/lib/grub/i386-pc/boot.img of={b} bs=440 count=1 conv=notrunc status=none"
              f" && dd if={w}/core.img of={b} bs=512 seek=2048 conv=notrunc status=none")
    ours = (f"{IMGFORGE} grub-install --target=x86_64-efi --config {cfg} {a}"
            f" && {IMGFORGE} grub-install --target=i386-pc {a}")
    versus("grub-install x86_64-efi + i386-pc into a 10 GiB sparse GPT disk (vs grub-mkimage x2 + mcopy + dd)",
           ours, ["grub-mkimage", "mcopy", "mmd"], anchor, goal=1.0,
           ours_kw={"shell": True, "before": lambda: copy_base(a)},
           anchor_kw={"shell": True, "before": lambda: copy_base(b)})
    for p in (a, b):
        if os.path.exists(p):
            print(f"    {os.path.basename(p)}: {os.stat(p).st_blocks * 512 / 2**20:.1f} MiB allocated", flush=True)
    rm(a, b, base, cfg, os.path.join(w, "x.efi"), os.path.join(w, "core.img"))


GROUPS = {"gpt": bench_gpt, "fs": bench_fs, "boot": bench_boot, "grub": bench_grub, "grub-install": bench_grub_install,
          "qcow2": bench_qcow2, "wasm": bench_wasm, "wasm-ext4": bench_wasm_ext4}


def main():
    os.makedirs(WORK, exist_ok=True)
    want = sys.argv[1:] or list(GROUPS)
    unknown = [g for g in want if g not in GROUPS]
    if unknown:
        sys.exit(f"bench: unknown group(s) {', '.join(unknown)}; groups: {' '.join(GROUPS)}")
    if not os.path.exists(IMGFORGE):
        sys.exit(f"bench: {IMGFORGE} is missing; run cargo build --release -p imgforge-cli")
    for g in want:
        print(f"== {g}", flush=True)
        try:
            GROUPS[g]()
        except Missing as e:
            print(f"   {g} skipped: {e} missing", flush=True)
        except Exception as e:  # one failing job should not hide the other groups
            print(f"   {g}: {e}", flush=True)
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
