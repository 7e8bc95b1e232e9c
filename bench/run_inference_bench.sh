#!/usr/bin/env bash
# Inference throughput of csss (the LibTorch backend, bench_inference) and of PyTorch
# (bench_inference.py) on the same TorchScript MobileNetV2, same input shape, batch and
# iterations, in the same run, printed side by side with the machine.
#
#   bench/run_inference_bench.sh [BUILD_DIR] [ROUNDS]
#
# BUILD_DIR (default: build) must hold bin/bench_inference and lib/libcsss_torch.so
# (ninja -C BUILD_DIR bench_inference). The two programs alternate for ROUNDS rounds (default 5)
# so that a passing load on the machine hits both; the median and the best round of each are
# printed, and the best single batch (what the machine does when nothing else runs on it).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
rounds=${2:-5}
python=/usr/bin/python3
batch=16 warmup=3 iters=10 classes=1000 size=224

bench_bin="$build/bin/bench_inference"
if [[ ! -x $bench_bin ]]; then
  echo "run_inference_bench.sh: $bench_bin is missing: ninja -C $build bench_inference" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model="$tmp/mobilenet_v2.pt"
"$python" "$repo/bench/bench_inference.py" --export "$model" --classes "$classes"

load=$(cut -d" " -f1-3 /proc/loadavg)
args=(--classes "$classes" --size "$size" --batch "$batch" --warmup "$warmup" --iters "$iters")
rate() { sed -n 's/^[^:]*: \([0-9.]*\) images\/s.*/\1/p' <<<"$1"; }
best_batch() { sed -n 's/.*(best batch \([0-9.]*\);.*/\1/p' <<<"$1"; }
# The median and the maximum of the numbers on stdin.
stats() { sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                                             printf "%.2f %.2f\n", m, v[NR] }'; }
csss_rates=() csss_batches=() torch_rates=() torch_batches=()
for ((round = 1; round <= rounds; round++)); do
  csss_line=$("$bench_bin" "$model" "${args[@]}")
  torch_line=$("$python" "$repo/bench/bench_inference.py" "$model" "${args[@]}")
  echo "round $round: $csss_line"
  echo "round $round: $torch_line"
  csss_rates+=("$(rate "$csss_line")") csss_batches+=("$(best_batch "$csss_line")")
  torch_rates+=("$(rate "$torch_line")") torch_batches+=("$(best_batch "$torch_line")")
done
read -r csss_median csss_best < <(printf '%s\n' "${csss_rates[@]}" | stats)
read -r torch_median torch_best < <(printf '%s\n' "${torch_rates[@]}" | stats)
read -r _ csss_batch < <(printf '%s\n' "${csss_batches[@]}" | stats)
read -r _ torch_batch < <(printf '%s\n' "${torch_batches[@]}" | stats)

echo
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "load average before: $load"
echo "model:   torchvision MobileNetV2 as TorchScript, $classes classes, 3x${size}x${size}; batch" \
  "$batch, $iters timed batches after $warmup warm-up ones; $rounds rounds"
printf '%-8s %16s %16s %16s\n' "images/s" "median round" "best round" "best batch"
printf '%-8s %16.2f %16.2f %16.2f\n' csss "$csss_median" "$csss_best" "$csss_batch" \
  PyTorch "$torch_median" "$torch_best" "$torch_batch"
awk -v cm="$csss_median" -v tm="$torch_median" -v c="$csss_best" -v t="$torch_best" \
  'BEGIN { printf "csss / PyTorch: %.3f (median round), %.3f (best round)\n", cm / tm, c / t }'
