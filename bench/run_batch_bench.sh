#!/usr/bin/env bash
# Batch import speed: `csss batch import` (an importer's token, a 224x224 MobileNetV2 imported
# from TorchScript, its default batches and threads) next to bench/batch_import.py (PIL, the same
# TorchScript model frozen and optimised, batches of 16, one SQLite transaction per batch) on the
# same COUNT images of DATA, with the model's own throughput on the same images decoded and
# preprocessed beforehand (bench_inference --images), and both programs' peak memory
# (/usr/bin/time). The model alone runs as csss runs it (2 threads with batches of 4, one LibTorch
# thread each), just before and just after each import (their mean is the round's reference), and
# as the Python script does (1 thread, batches of 16, LibTorch on every core).
# They alternate for ROUNDS rounds, each import on a fresh store; the medians are the figures, and
# the ratios are also printed per round with their medians (the machine's speed drifts). Two more
# views of the same runs come with them: each program's best round (a neighbour only ever slows a
# run down, so the fastest is the least disturbed), and images per CPU-second, which tells work
# done from waiting (csss: its whole run's user + system time, start-up included; the model alone:
# the CPU time of its timed batches). Both load the model through the prepared-model cache
# (inference/prepared.hpp), made before the first round: csss's by `csss model import`, as in any
# store that has a model, the model alone's by a first run of bench_inference --cache.
#
#   bench/run_batch_bench.sh [BUILD_DIR] [DATA_DIR] [COUNT] [ROUNDS]
#
# Defaults: build, ../shared/datasets/brain-mri, 2000 images, 3 rounds. csss's rate is the whole
# run's (its summary: from the start of the import, loading LibTorch and the model included); the
# Python script's starts after its model is loaded (as it prints it); the model alone's is printed
# two ways: its throughput once loaded, and COUNT images over the time to load LibTorch and the
# model and run them (the same job as the import's, without decoding and storing). Run it on an
# idle machine.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
data=${2:-$repo/../shared/datasets/brain-mri}
count=${3:-2000}
rounds=${4:-3}
python=/usr/bin/python3
csss="$build/bin/csss"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

# The same COUNT images for both (hard links when possible), and csss's manifest (50 patients).
mkdir -p "$work/in"
n=0
while read -r f; do
  n=$((n + 1))
  ln "$f" "$work/in/$n-$(basename "$f")" 2>/dev/null || cp "$f" "$work/in/$n-$(basename "$f")"
  echo "$n-$(basename "$f"),BENCH-$((n % 50))" >>"$work/manifest.csv"
  [[ $n -lt $count ]] || break
done < <(find "$data" -type f \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.png' \) | sort)
images=$(find "$work/in" -type f | wc -l)

"$python" "$repo/examples/export_mobilenet_v2.py" "$work/model.pt" --classes 4 >/dev/null

# A fresh store, an importer account and its token (the admin's code read from the outbox).
export CSSS_DATA_DIR="$work/data" CSSS_SESSION="$work/admin.session"
unset CSSS_CONFIG CSSS_SMTP_URL CSSS_TOKEN_FILE
"$csss" init --admin-email admin@bench.local --password-stdin <<<"Bench#Admin2026" >/dev/null
"$csss" login --email admin@bench.local --password-stdin <<<"Bench#Admin2026" >/dev/null
code=$(grep -ohE 'sign-in code is [0-9]{6}' "$work"/data/outbox/*.eml | tail -n 1 | grep -oE '[0-9]{6}')
"$csss" login --email admin@bench.local --otp "$code" >/dev/null
"$csss" model import "$work/model.pt" --name bench224 --classes glioma,meningioma,notumor,pituitary \
  --risk glioma=high,meningioma=high,notumor=low,pituitary=high --input-size 224 --channels 3 \
  --modality MR --body-part BRAIN >/dev/null
"$csss" user add --role importer --email importer@bench.local --name "Bench importer" >/dev/null
"$csss" --json token create --user importer@bench.local | sed -n 's/.*"token": "\([^"]*\)".*/\1/p' \
  >"$work/token"
chmod 600 "$work/token"
load=$(cut -d" " -f1-3 /proc/loadavg)
cp -a "$work/data" "$work/data.fresh"

# Each round's store is a new directory, all removed at the end: deleting thousands of files just
# before creating as many makes ext4 search past the recently deleted inodes, which is the
# benchmark's cost, not the import's.
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
cs="" ps="" ms="" js="" ss="" cm="" pm="" start="" rs="" rj="" ab="" cc="" mc="" rc=""
alone() {
  "$build/bin/bench_inference" "$work/model.pt" --classes 4 --size 224 --images "$work/in" \
    --cache "$work/alone-cache" "$@"
}
alone --batch 1 --warmup 0 --iters 1 >/dev/null  # keeps the prepared model
# The model alone as csss runs it: 2 threads, batches of 4, every image once.
alone_as_csss() { alone --streams 2 --batch 4 --iters $(((images + 7) / 8)); }
rate_of() { sed -n 's/^csss: \([0-9.]*\) images\/s.*/\1/p' <<<"$1"; }
cpu_rate_of() { sed -n 's/^cpu: .*, \([0-9.]*\) images per CPU-second$/\1/p' <<<"$1"; }
cpu_seconds() { awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"; }
for round in $(seq "$rounds"); do
  rm -f "$work/python.db"*
  cp -a "$work/data.fresh" "$work/data.$round"
  # The model alone as csss runs it, just before and just after the import: their mean is the
  # round's reference, so a slow or fast spell of the machine weighs on both sides alike.
  before=$(alone_as_csss)
  CSSS_DATA_DIR="$work/data.$round" CSSS_TOKEN_FILE="$work/token" \
    /usr/bin/time -v -o "$work/csss.time" \
    "$csss" --json batch import "$work/in" --manifest "$work/manifest.csv" --model bench224 \
    >"$work/csss.json"
  c=$(sed -n 's/.*"images_per_second": \([0-9.]*\).*/\1/p' "$work/csss.json")
  m=$(alone_as_csss)
  mr=$(awk -v a="$(rate_of "$before")" -v b="$(rate_of "$m")" 'BEGIN { printf "%.2f", (a + b) / 2 }')
  ab="$ab $(rate_of "$before") $(rate_of "$m")"
  # Images per CPU-second: csss over its whole run, the model alone over its timed batches.
  ccr=$(awk -v n="$images" -v t="$(cpu_seconds "$work/csss.time")" 'BEGIN { printf "%.2f", n / t }')
  mcr=$(awk -v a="$(cpu_rate_of "$before")" -v b="$(cpu_rate_of "$m")" 'BEGIN { printf "%.2f", (a + b) / 2 }')
  cc="$cc $ccr" mc="$mc $mcr" rc="$rc $(awk -v c="$ccr" -v m="$mcr" 'BEGIN { printf "%.1f", 100 * c / m }')"
  start=$(sed -n 's/^start: //p' <<<"$m")
  /usr/bin/time -v -o "$work/python.time" \
    "$python" "$repo/bench/batch_import.py" "$work/in" "$work/model.pt" "$work/python.db" >"$work/python.txt"
  p=$(sed -n 's/^python: \([0-9.]*\) images\/s.*/\1/p' "$work/python.txt")
  # The same job: loading LibTorch and the model, then every image.
  mj=$(awk -v n="$images" -v r="$mr" -v s="$start" 'BEGIN { split(s, a, " ");
    printf "%.2f", n / (a[1] + a[6] + n / r) }')
  m1=$(alone --streams 1 --batch 16 --iters $(((images + 15) / 16)))
  m1r=$(rate_of "$m1")
  cm="$cm $(peak "$work/csss.time")" pm="$pm $(peak "$work/python.time")"
  printf 'round %d: csss %.2f, python %.2f, model alone %.2f (%.2f before csss, %.2f after; same job with start-up %.2f; as python runs it %.2f) images/s; per CPU-second csss %.2f, model alone %.2f; peak memory csss %s MiB, python %s MiB\n' \
    "$round" "$c" "$p" "$mr" "$(rate_of "$before")" "$(rate_of "$m")" "$mj" "$m1r" "$ccr" "$mcr" "$(peak "$work/csss.time")" "$(peak "$work/python.time")"
  cs="$cs $c" ps="$ps $p" ms="$ms $mr" js="$js $mj" ss="$ss $m1r"
  # Each round's own ratios too: the machine's speed drifts between rounds.
  rs="$rs $(awk -v c="$c" -v m="$mr" 'BEGIN { printf "%.1f", 100 * c / m }')"
  rj="$rj $(awk -v c="$c" -v j="$mj" 'BEGIN { printf "%.1f", 100 * c / j }')"
done
c=$(median <<<"$cs") p=$(median <<<"$ps") mr=$(median <<<"$ms") mj=$(median <<<"$js")
m1r=$(median <<<"$ss")

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "load average before: $load"
echo "job:     $images images of $data, MobileNetV2 224x224 (TorchScript, 4 classes)"
echo "medians of $rounds rounds:"
printf 'csss batch import: %.2f images/s, peak memory %s MiB\n' "$c" "$(median <<<"$cm")"
printf 'python script:     %.2f images/s, peak memory %s MiB\n' "$p" "$(median <<<"$pm")"
printf 'model alone:       %.2f images/s on pre-decoded images (2 threads, batches of 4; last start-up: %s)\n' "$mr" "$start"
printf '                   %.2f images/s for the same job, start-up included\n' "$mj"
printf '                   %.2f images/s as the python script runs it (1 thread, batches of 16)\n' "$m1r"
awk -v c="$c" -v p="$p" -v m="$mr" -v j="$mj" 'BEGIN {
  printf "csss / python = %.2fx (goal 1.5x)\n", c / p
  printf "csss / model alone = %.0f%% of its throughput, %.0f%% of the same job (goal >= 85%%)\n", 100 * c / m, 100 * c / j }'
printf 'per round:          csss / model alone %s %%; csss / same job %s %% (medians %s%%, %s%%)\n' \
  "$(tr ' ' '/' <<<"${rs# }")" "$(tr ' ' '/' <<<"${rj# }")" "$(median <<<"$rs")" "$(median <<<"$rj")"
best() { tr ' ' '\n' | sed '/^$/d' | sort -g | tail -n 1; }
awk -v c="$(best <<<"$cs")" -v m="$(best <<<"$ab")" -v n="$rounds" 'BEGIN {
  printf "best round:         csss %.2f, model alone %.2f images/s (best of %d runs): %.0f%%\n", c, m, 2 * n, 100 * c / m }'
awk -v c="$(median <<<"$cc")" -v m="$(median <<<"$mc")" -v r="$(tr ' ' '/' <<<"${rc# }")" -v mr="$(median <<<"$rc")" 'BEGIN {
  printf "per CPU-second:     csss %.2f, model alone %.2f images (medians): %.0f%%; per round %s %% (median %s%%)\n", c, m, 100 * c / m, r, mr }'
