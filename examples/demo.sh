#!/usr/bin/env bash
# make demo: train an MLP on the bundled sine data, wrap it with a last-layer Laplace
# approximation, and print predictions with uncertainties inside and outside the training range;
# then train a SOAP-BPNN potential on the bundled ethanol frames and print its test errors.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
OUT=$B/demo
rm -rf "$OUT" && mkdir -p "$OUT"
cp examples/sine/train.csv examples/sine/test.csv examples/sine/test_in_range.csv examples/sine/options.toml \
   examples/sine/laplace.toml "$OUT/"

echo "== 1. training an MLP (1-50-50-1, tanh) on 150 noisy points of sin x, x in [0, 8]"
"$B/atomgrad" train "$OUT/options.toml" -o "$OUT/model.ckpt" --run-dir "$OUT/run"
echo
echo "== 2. last-layer Laplace approximation, prior precision by marginal likelihood"
"$B/atomgrad" laplace "$OUT/laplace.toml"
echo
echo "== 3. predictions with uncertainties (true noise standard deviation 0.3)"
"$B/atomgrad" eval "$OUT/model.laplace.ckpt" "$OUT/test.csv" -o "$OUT/predictions.csv" > /dev/null
paste -d, "$OUT/test.csv" "$OUT/predictions.csv" |
  awk -F, 'NR == 1 { printf "%8s %10s %12s %10s %10s   %s\n", "x", "sin(x)", "prediction", "std(y)", "std(f)", ""; next }
           (NR - 2) % 25 == 0 { inside = ($1 >= 0 && $1 <= 8) ? "" : "  <- outside the training range";
             printf "%8.2f %10.4f %12.4f %10.4f %10.4f %s\n", $1, sin($1), $3, sqrt($4), sqrt($5), inside }'
echo
"$B/atomgrad" eval "$OUT/model.laplace.ckpt" "$OUT/test_in_range.csv" -o "$OUT/predictions_in_range.csv" |
  sed 's/^/inside [0, 8]: /'
echo
echo "== 4. SOAP-BPNN potential (metatrain's default hypers) on ethanol: 1000 xtb frames, 900 for training,"
echo "      100 for validation, 15 epochs of energy + force training (examples/ethanol/options.toml)"
"$B/atomgrad" train examples/ethanol/options.toml -o "$OUT/ethanol.ckpt" --run-dir "$OUT/ethanol_run"
echo
echo "== 5. its errors on the 200 held-out test frames (examples/ethanol/test.xyz)"
"$B/atomgrad" eval "$OUT/ethanol.ckpt" examples/ethanol/test.xyz -o "$OUT/ethanol_predictions.xyz" --json |
  tr -d '{}"' | tr ',' '\n' |
  awk -F: '{ v[$1] = $2 }
           END { printf "%d structures, %d atoms\n", v["n_structures"], v["n_atoms"];
                 printf "  energy per atom   RMSE %7.2f meV     MAE %7.2f meV\n", 1e3 * v["energy_rmse_per_atom"], 1e3 * v["energy_mae_per_atom"];
                 printf "  forces            RMSE %7.2f meV/A   MAE %7.2f meV/A\n", 1e3 * v["forces_rmse"], 1e3 * v["forces_mae"];
                 printf "  speed             %.0f atoms/s (energies and forces)\n", v["atoms_per_second"] }'
echo
echo "== 6. LLPR uncertainties for that potential (examples/ethanol/llpr.toml: covariance of the last-layer"
echo "      features over the training frames, alpha calibrated on the validation frames, a 128-member ensemble)"
sed -e "s#^model_checkpoint = \"model.ckpt\"#model_checkpoint = \"$PWD/$OUT/ethanol.ckpt\"#" \
    -e "s#^read_from = \"train.xyz\"#read_from = \"$PWD/examples/ethanol/train.xyz\"#" examples/ethanol/llpr.toml > "$OUT/llpr.toml"
"$B/atomgrad" train "$OUT/llpr.toml" -o "$OUT/ethanol-llpr.ckpt" --run-dir "$OUT/llpr_run" | grep -E "regularizer|alpha|wrap "
"$B/atomgrad" eval "$OUT/ethanol-llpr.ckpt" examples/ethanol/test.xyz -o "$OUT/ethanol_llpr.xyz" --json |
  tr -d '{}"' | tr ',' '\n' |
  awk -F: '{ v[$1] = $2 }
           END { printf "test frames: energy z^2 mean %.2f (1 = calibrated), NLL %.2f, within 1/2/3 sigma %.2f/%.2f/%.2f,\n",
                        v["energy_zms"], v["energy_nll"], v["energy_coverage_1sigma"], v["energy_coverage_2sigma"], v["energy_coverage_3sigma"];
                 printf "             Spearman(|error|, sigma) %.2f; forces z^2 mean %.2f\n", v["energy_spearman"], v["forces_zms"] }'
echo "first test frames (meV per molecule):"
awk 'NR % 11 == 2 && n < 5 { n++; for (k = 1; k <= NF; k++) { split($k, kv, "="); v[kv[1]] = kv[2] }
       printf "   predicted - reference %8.2f   sigma %6.2f\n", 1e3 * (v["energy"] - v["ref_energy"]), 1e3 * v["energy_uncertainty"] }' \
  "$OUT/ethanol_llpr.xyz"
echo
echo "outputs in $OUT: model.ckpt, model.laplace.ckpt (model + posterior), predictions.csv, run/ (log, checkpoints);"
echo "ethanol.ckpt, ethanol_predictions.xyz (predictions in energy/forces, the references in ref_energy/ref_forces), ethanol_run/;"
echo "ethanol-llpr.ckpt, ethanol_llpr.xyz (with energy_uncertainty, energy_ensemble, forces_uncertainty), llpr_run/"
