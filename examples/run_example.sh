#!/usr/bin/env bash
# Runs one tabular example end to end: train, evaluate, wrap with a last-layer Laplace
# approximation, evaluate again, and draw the pictures (SVG, written by atomgrad itself).
# usage: examples/run_example.sh sine|moons|digits   (from the repository root, after `make`)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: examples/run_example.sh sine|moons|digits}
B=${B:-build}
ex=examples/$name
test_file=$ex/test.csv
[ "$name" = sine ] && test_file=$ex/test_in_range.csv
echo "== $name: training ($ex/options.toml)"
"$B/atomgrad" train "$ex/options.toml" -o "$ex/model.ckpt" --run-dir "$ex/outputs/run"
echo
echo "== $name: the trained network alone"
"$B/atomgrad" eval "$ex/model.ckpt" "$test_file" -o "$ex/outputs/predictions.csv" --plot "$ex/plots/before"
echo
echo "== $name: last-layer Laplace ($ex/laplace.toml)"
"$B/atomgrad" laplace "$ex/laplace.toml"
echo
echo "== $name: the wrapped model (network + posterior)"
"$B/atomgrad" eval "$ex/model.laplace.ckpt" "$test_file" -o "$ex/outputs/predictions_laplace.csv" --plot "$ex/plots/laplace"
if [ "$name" = sine ]; then
  # the band over the whole grid, 5 units beyond the training range on each side
  "$B/atomgrad" eval "$ex/model.laplace.ckpt" "$ex/test.csv" -o "$ex/outputs/predictions_grid.csv" --plot "$ex/plots/grid" |
    grep plot
fi
