#!/usr/bin/env bash
# make demo: train an MLP on the bundled sine data and print predictions on held-out points.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
OUT=$B/demo
rm -rf "$OUT" && mkdir -p "$OUT"
echo "== training an MLP (1-50-50-1, tanh) on examples/sine/train.csv (150 noisy points of sin x)"
"$B/atomgrad" train examples/sine/options.toml -o "$OUT/model.ckpt" --run-dir "$OUT/run"
echo
echo "== evaluating on examples/sine/test_in_range.csv (inside the training range)"
"$B/atomgrad" eval "$OUT/model.ckpt" examples/sine/test_in_range.csv -o "$OUT/predictions.csv"
echo
echo "== a few predictions (true noise standard deviation 0.3)"
paste -d, examples/sine/test_in_range.csv "$OUT/predictions.csv" |
  awk -F, 'NR == 1 { printf "%10s %12s %12s %12s\n", "x", "y (noisy)", "prediction", "sin(x)"; next }
           (NR - 2) % 22 == 0 { printf "%10.3f %12.4f %12.4f %12.4f\n", $1, $2, $3, sin($1) }'
echo
echo "run folder: $OUT/run (options_restart.toml, train.csv log, checkpoints, model.ckpt)"
