#!/usr/bin/env bash
# Report rendering: csss (bench_report: libharu PDF + qpdf AES-256, the report of `csss approve`)
# next to the seed stack's Jinja2 + WeasyPrint (bench_report.py) on the same content, in the same
# run; prints both per-report times, their ratio, and the machine.
#
#   bench/run_report_bench.sh [BUILD_DIR] [CSSS_COUNT] [WEASYPRINT_COUNT]
#
# Defaults: build, 200 csss reports, 20 WeasyPrint reports (it is much slower). Needs the Debian
# packages weasyprint and python3-jinja2 (installed here when missing, as root). Run it on an
# otherwise idle machine.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
csss_count=${2:-200}
weasy_count=${3:-20}
. "$repo/scripts/lib/common.sh"
csss_ensure_packages weasyprint python3-jinja2
bench_bin="$build/bin/bench_report"
if [[ ! -x $bench_bin ]]; then
  echo "run_report_bench.sh: $bench_bin is missing: cmake --build $build --target bench_report" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image="$repo/datasets/samples/brain-mri/glioma/Tr-glTr_0000.jpg"
load=$(cut -d" " -f1-3 /proc/loadavg)
c=$("$bench_bin" "$image" --count "$csss_count" --out "$work")
w=$(/usr/bin/python3 "$repo/bench/bench_report.py" "$work" --count "$weasy_count")
ms() { sed -n 's/^[^:]*: \([0-9.]*\) ms\/report.*/\1/p' <<<"$1"; }
echo "$c"
echo "$w"
echo
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "load average before: $load"
echo "job:     one full report (A4, 2 pages: fields, probability chart, scan + Grad-CAM JPEGs," \
  "2,000-character findings, prescription, 3 signature blocks, watermark, page numbers)"
render=$(sed -n 's/.*(render \([0-9.]*\),.*/\1/p' <<<"$c")
awk -v c="$(ms "$c")" -v r="$render" -v w="$(ms "$w")" 'BEGIN {
  printf "csss %.2f ms/report with AES-256 encryption, %.2f ms rendering alone; WeasyPrint %.2f ms/report (no encryption)\n", c, r, w
  printf "csss is %.1fx faster with encryption, %.1fx faster like for like (rendering only)\n", w / c, w / r }'
