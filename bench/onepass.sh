#!/bin/bash
# Times raw → vhd / vhdx / vmdk: two imgforge binaries and qemu-img,
# interleaved, REPEATS times (docs/benchmarks.md, "VHD, VHDX and VMDK in one
# pass"). Prints: repeat tool format wall user sys maxrss_kb load.
#   OLD=… NEW=… SRC=… OUT=… bench/onepass.sh REPEATS
SRC=${SRC:-target/bench/src.raw}
OUT=${OUT:-target/bench-onepass}
OLD=${OLD:-target/release/imgforge}
NEW=${NEW:-target/release/imgforge}
mkdir -p "$OUT"
for r in $(seq 1 "${1:-3}"); do
  for fmt in vhd vhdx vmdk; do
    case $fmt in vhd) q=vpc ;; *) q=$fmt ;; esac
    for tool in old new qemu; do
      o=$OUT/$tool.$fmt
      rm -f "$o"
      sync
      case $tool in
        old) cmd=("$OLD" convert -O "$fmt" "$SRC" "$o") ;;
        new) cmd=("$NEW" convert -O "$fmt" "$SRC" "$o") ;;
        qemu) cmd=(qemu-img convert -f raw -O "$q" "$SRC" "$o") ;;
      esac
      /usr/bin/time -o "$OUT/time.txt" -f "%e %U %S %M" "${cmd[@]}" >/dev/null 2>&1
      echo "$r $tool $fmt $(tail -1 "$OUT/time.txt") $(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
