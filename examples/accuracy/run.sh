#!/usr/bin/env bash
# The accuracy runs of README "Results: SOAP-BPNN": ethanol-xtb (15 and 30 epochs) and cu-emt
# (30 epochs) with metatrain's default recipe, as ../../../shared/peers/torch_accuracy.md trained
# the PyTorch peer; then the test errors of each best model, beside the peer's. One thread.
# Needs the shared data beside the repository (../shared/data). Usage: bash examples/accuracy/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
OUT=$B/accuracy
mkdir -p "$OUT"
declare -A TEST=([eth15]=ethanol-xtb [eth30]=ethanol-xtb [cu30]=cu-emt)
declare -A PEER=([eth15]="0.819 1.159 34.2 54.3 50" [eth30]="0.590 0.829 27.1 48.4 97" [cu30]="1.827 2.559 15.8 24.2 347")
rows=()
for r in eth15 eth30 cu30; do
  echo "== $r"
  t0=$(date +%s.%N)
  OPENBLAS_NUM_THREADS=1 "$B/atomgrad" train "examples/accuracy/$r.toml" -o "$OUT/$r.ckpt" --run-dir "$OUT/run_$r"
  t1=$(date +%s.%N)
  json=$("$B/atomgrad" eval "$OUT/$r.ckpt" "../shared/data/${TEST[$r]}/test.xyz" -o "$OUT/$r.predictions.xyz" --json)
  rows+=("$r $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') $json ${PEER[$r]}")
done
echo
printf "%-6s | %-27s | %-27s | %-10s\n" run "energy MAE/RMSE meV/atom" "forces MAE/RMSE meV/A" "train s"
printf "%-6s | %-27s | %-27s | %-10s\n" "" "atomgrad (peer)" "atomgrad (peer)" "(peer)"
for row in "${rows[@]}"; do
  name=${row%% *}; rest=${row#* }; secs=${rest%% *}; rest=${rest#* }
  json=${rest%% *}; peer=${rest#* }
  val() { echo "$json" | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
  read -r pe_mae pe_rmse pf_mae pf_rmse ps <<< "$peer"
  printf "%-6s | %.3f / %.3f (%s / %s) | %.1f / %.1f (%s / %s) | %s (%s)\n" "$name" \
    "$(awk "BEGIN{print 1000*$(val energy_mae_per_atom)}")" "$(awk "BEGIN{print 1000*$(val energy_rmse_per_atom)}")" \
    "$pe_mae" "$pe_rmse" \
    "$(awk "BEGIN{print 1000*$(val forces_mae)}")" "$(awk "BEGIN{print 1000*$(val forces_rmse)}")" \
    "$pf_mae" "$pf_rmse" "$secs" "$ps"
done
