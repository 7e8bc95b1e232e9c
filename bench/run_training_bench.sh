#!/usr/bin/env bash
# Training throughput of csss (bench_training: the Trainer of `csss train-eval`) and of PyTorch
# (bench_training.py) on the same architecture, input size and batch, alternating for ROUNDS
# rounds in the same run; prints the medians side by side with the machine.
#
#   bench/run_training_bench.sh [BUILD_DIR] [ROUNDS] [SIZE] [BATCH]
#
# Defaults: build, 3 rounds, 128x128 grayscale, batch 32 (the shipped brain-mri, chest-xray and
# covid-cxr configurations). Run it on an otherwise idle machine.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
rounds=${2:-3}
size=${3:-128}
batch=${4:-32}
python=/usr/bin/python3
bench_bin="$build/bin/bench_training"
if [[ ! -x $bench_bin ]]; then
  echo "run_training_bench.sh: $bench_bin is missing: cmake --build $build --target bench_training" >&2
  exit 1
fi
args=(--classes 4 --channels 1 --size "$size" --batch "$batch" --width 1.0 --warmup 2 --iters 8)
load=$(cut -d" " -f1-3 /proc/loadavg)
rate() { sed -n 's/^[^:]*: \([0-9.]*\) images\/s.*/\1/p' <<<"$1"; }
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
csss_rates=() torch_rates=()
for ((round = 1; round <= rounds; round++)); do
  c=$("$bench_bin" "${args[@]}")
  t=$("$python" "$repo/bench/bench_training.py" "${args[@]}")
  echo "round $round: $c"
  echo "round $round: $t"
  csss_rates+=("$(rate "$c")") torch_rates+=("$(rate "$t")")
done
cm=$(printf '%s\n' "${csss_rates[@]}" | median)
tm=$(printf '%s\n' "${torch_rates[@]}" | median)
echo
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "load average before: $load"
echo "job:     MobileNetV2 (width 1.0), 4 classes, 1x${size}x${size}, batch $batch, Adam +" \
  "cross-entropy, forward and backward; median of $rounds rounds"
printf 'training images/s: csss %s, PyTorch %s, ratio %s\n' "$cm" "$tm" \
  "$(awk -v c="$cm" -v t="$tm" 'BEGIN { printf "%.2f", c / t }')"
