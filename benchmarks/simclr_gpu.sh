#!/usr/bin/env bash
# SimCLR on CIFAR-10 on one GPU (H100 target): a throughput smoke, then a run timed against
# training wall-clock (default budget 7.5 min, inside the 8-minute target), printing images/s and
# kNN accuracy against time.
# One command, about 9.5 minutes in all on an H100 (decode ~0.5 min, smoke ~1 min including
# compilation, timed run 7.5 min of training + kNN/probe evaluations); the log is tee'd to
# OUT_DIR/log.txt as it goes, so a run cut by a 10-minute limit still leaves its kNN curve.
#
# On the course's device machines (no ../shared there; /data/ is git-ignored, so carry it):
#   mkdir -p data && cp -r ../shared/data/cifar10-jpeg data/
#   run: command='benchmarks/simclr_gpu.sh data/cifar10-jpeg "$OUT"', carry=["data/cifar10-jpeg"],
#        timeout_s=600   (the archives are 19 MB; the 5-minute target as a second call with --budget-min 5)
#
# usage: benchmarks/simclr_gpu.sh [DATA_DIR] [OUT_DIR] [extra options of benchmarks/simclr_gpu.py]
#   DATA_DIR  folder holding cifar10-jpeg-train.tar.gz and cifar10-jpeg-test.tar.gz (or CIFAR-10
#             pickles); default $SSLCOURSE_DATA (or $SSLCOURSE_DATA/cifar10-jpeg)
#   OUT_DIR   where metrics.json / summary.json go; default $OUT (the device's return folder) or
#             runs/simclr_gpu
# e.g. on the device machine, with the archives carried in data/cifar10-jpeg:
#   benchmarks/simclr_gpu.sh data/cifar10-jpeg "$OUT"
#   benchmarks/simclr_gpu.sh data/cifar10-jpeg "$OUT" --budget-min 5     # the 5-minute target
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${1:-${SSLCOURSE_DATA:-}}"
if [[ -n "$DATA" && -d "$DATA/cifar10-jpeg" ]]; then DATA="$DATA/cifar10-jpeg"; fi
if [[ -z "$DATA" || ! -e "$DATA" ]]; then
  echo "simclr_gpu.sh: give the CIFAR-10 folder (the two tar.gz archives) as first argument or in SSLCOURSE_DATA" >&2
  exit 2
fi
OUTDIR="${2:-${OUT:-runs/simclr_gpu}}"
shift $(( $# > 2 ? 2 : $# ))
PY="${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}"

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OWN_CACHE=""
if [[ -z "${SSLCOURSE_CACHE:-}" ]]; then export SSLCOURSE_CACHE="$OUTDIR/cache"; OWN_CACHE=1; fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}"
mkdir -p "$OUTDIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
"$PY" benchmarks/simclr_gpu.py --data "$DATA" --out "$OUTDIR" "$@" 2>&1 | tee "$OUTDIR/log.txt"
if [[ -n "$OWN_CACHE" ]]; then rm -rf "$SSLCOURSE_CACHE"; fi   # the decoded cache need not come back
