#!/usr/bin/env bash
# Retrains the shipped models (models/<name>/) with csss train-eval from ../shared/datasets, one
# after another, each from its configuration in pipelines/<name>.yaml. An interrupted run is
# continued (--resume) when the script is started again.
#   scripts/train-models.sh                 # all four
#   scripts/train-models.sh brain-mri       # some
# Environment: CSSS_BIN (default build/bin/csss), MODELS_DIR (default models/).
set -euo pipefail
cd "$(dirname "$0")/.."
CSSS_BIN=${CSSS_BIN:-build/bin/csss}
MODELS_DIR=${MODELS_DIR:-models}
if [[ ! -x $CSSS_BIN ]]; then
  echo "train-models: $CSSS_BIN not found; build first (scripts/demo.sh or cmake --build build)" >&2
  exit 2
fi
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  names=(pneumoniamnist covid-cxr chest-xray brain-mri)
fi
for name in "${names[@]}"; do
  out="$MODELS_DIR/$name"
  if [[ -f $out/checkpoint/state.json ]]; then
    echo "== $name: resuming $out"
    "$CSSS_BIN" train-eval train --out "$out" --resume
  else
    echo "== $name: training into $out"
    "$CSSS_BIN" train-eval train --config "pipelines/$name.yaml" --out "$out" --force
  fi
done
