#!/usr/bin/env bash
# Fetches the inputs of the example recipes from Debian packages into
# examples/inputs/ (git-ignored), without installing anything:
#   vmlinuz         a kernel from linux-image-6.1.*-amd64
#   BOOTX64.EFI     systemd-boot's EFI binary (systemd-boot-efi)
#   isolinux.bin, ldlinux.c32, isohdpfx.bin   from isolinux/syslinux-common
#   rootfs.tar      a tiny root filesystem: busybox-static and an /init
#   grub-efi-amd64-bin.deb, grub-pc-bin.deb   GRUB's module folders, as packaged
#   initrd.img      the same as a newc initramfs (built by imgforge if on PATH,
#                   else by cpio + gzip)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p inputs
cd inputs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() { # fetch PACKAGE-PATTERN: download the newest matching package and unpack it into $work/x
  local pkg
  pkg=$(apt-cache search --names-only "$1" | awk '{print $1}' | sort -V | tail -n 1)
  [ -n "$pkg" ] || { echo "no package matches $1 (apt-get update?)" >&2; exit 1; }
  (cd "$work" && apt-get download "$pkg" >/dev/null && dpkg-deb -x ./"$pkg"_*.deb x && rm -f ./*.deb)
  echo "fetched $pkg" >&2
}

[ -f vmlinuz ] || { fetch '^linux-image-6\.1\.[0-9.-]*-amd64$'; cp "$work"/x/boot/vmlinuz-* vmlinuz; }
[ -f BOOTX64.EFI ] || { fetch '^systemd-boot-efi$'; cp "$work"/x/usr/lib/systemd/boot/efi/systemd-bootx64.efi BOOTX64.EFI; }
[ -f isolinux.bin ] || { fetch '^isolinux$'; cp "$work"/x/usr/lib/ISOLINUX/isolinux.bin "$work"/x/usr/lib/ISOLINUX/isohdpfx.bin .; }
[ -f ldlinux.c32 ] || { fetch '^syslinux-common$'; cp "$work"/x/usr/lib/syslinux/modules/bios/ldlinux.c32 .; }
# GRUB's module folders as the Debian packages carry them: imgforge reads the
# .deb itself (grub-mkimage -d, grub-install --directory, recipe [grub]).
for g in grub-efi-amd64-bin grub-pc-bin; do
  if [ ! -f "$g.deb" ]; then
    pkg=$(apt-cache policy "$g" | awk '/Candidate:/ {print $2}')
    [ -n "$pkg" ] && [ "$pkg" != "(none)" ] || { echo "no package $g (apt-get update?)" >&2; exit 1; }
    (cd "$work" && apt-get download "$g" >/dev/null && mv ./"$g"_*.deb x-"$g".deb)
    mv "$work/x-$g.deb" "$g.deb"
    echo "fetched $g" >&2
  fi
done
if [ ! -f rootfs.tar ]; then
  fetch '^busybox-static$'
  r="$work/rootfs"
  mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,tmp,root}
  cp "$work"/x/bin/busybox "$r"/bin/busybox
  for a in sh ash ls cat echo mount umount poweroff reboot mkdir uname dmesg sleep; do ln -sf busybox "$r/bin/$a"; done
  cat > "$r"/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
uname -r
echo IMGFORGE-BOOT-OK
poweroff -f
INIT
  chmod 755 "$r"/init
  echo "imgforge" > "$r"/etc/hostname
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -C "$r" -cf rootfs.tar .
fi
if [ ! -f initrd.img ]; then
  if command -v imgforge >/dev/null 2>&1; then
    imgforge initramfs rootfs.tar -o initrd.img
  else
    d="$work/initrd"; mkdir -p "$d"; tar -C "$d" -xf rootfs.tar
    (cd "$d" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9n) > initrd.img
  fi
fi
ls -l
