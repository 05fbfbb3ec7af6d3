#!/usr/bin/env bash
# make bench: every figure the issues ask for, beside the peer figures in ../shared/peers/.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
SHARED=${SHARED:-../shared}
echo "== atomgrad benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
for t in 1 2; do
  OPENBLAS_NUM_THREADS=$t "$B/bench/bench_mlp" "$SHARED" "$t"
done
