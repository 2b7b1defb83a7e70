#!/usr/bin/env bash
# Two builds' instructions per hot hit, interleaved run for run (the count moves by about ±1 %
# with the runtime's timer and parking work), and the ratio of their medians.
# Usage: bench/hit-path/compare.sh <before binary> <after binary> [runs, default 5]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
before=$1; after=$2; runs=${3:-5}
b=(); a=()
for i in $(seq "$runs"); do
    b+=("$("$here/callgrind.sh" "$before" 18391 | cut -d' ' -f1)")
    a+=("$("$here/callgrind.sh" "$after" 18392 | cut -d' ' -f1)")
    echo "run $i: before ${b[-1]}, after ${a[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
mb=$(median "${b[@]}"); ma=$(median "${a[@]}")
echo "median before $mb, after $ma: after/before = $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.4f", a / b}')"
