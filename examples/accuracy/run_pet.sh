#!/usr/bin/env bash
# The accuracy runs of README "Results: NanoPET and PET": the small NanoPET and PET models of the
# examples on ../shared/data/ethanol-xtb (150 epochs) and cu-emt (30 epochs), two runs at a time on
# one thread each; then the test errors of each best model, and each model wrapped with LLPR
# (64 members, absolute_residuals on the validation split) with its UQ metrics on the test file.
# Needs the shared data beside the repository. Usage: bash examples/accuracy/run_pet.sh
# (REUSE=1 keeps the models already in build/accuracy and redoes only the LLPR wraps and tables;
# LONG=1 adds the 500-epoch ethanol runs, about 15-20 min each).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
OUT=$B/accuracy
mkdir -p "$OUT"
declare -A TEST=([eth_nanopet]=ethanol-xtb [eth_pet]=ethanol-xtb [cu_nanopet]=cu-emt [cu_pet]=cu-emt
                 [eth_nanopet_long]=ethanol-xtb [eth_pet_long]=ethanol-xtb)
RUNS="eth_nanopet eth_pet cu_nanopet cu_pet"
PAIRS=("eth_nanopet eth_pet" "cu_nanopet cu_pet")
if [ "${LONG:-0}" = 1 ]; then RUNS="$RUNS eth_nanopet_long eth_pet_long"; PAIRS+=("eth_nanopet_long eth_pet_long"); fi
run() {
  local r=$1 t0 t1
  if [ "${REUSE:-0}" = 1 ] && [ -f "$OUT/$r.ckpt" ]; then return; fi   # REUSE=1: keep trained models
  t0=$(date +%s.%N)
  OPENBLAS_NUM_THREADS=1 ATOMGRAD_NUM_THREADS=1 "$B/atomgrad" train "examples/accuracy/$r.toml" -o "$OUT/$r.ckpt" \
    --run-dir "$OUT/run_$r" > "$OUT/$r.log" 2>&1
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.0f\n", $2 - $1}' > "$OUT/$r.seconds"
  "$B/atomgrad" eval "$OUT/$r.ckpt" "../shared/data/${TEST[$r]}/test.xyz" -o "$OUT/$r.predictions.xyz" --json > "$OUT/$r.json"
}
for pair in "${PAIRS[@]}"; do
  for r in $pair; do echo "== $r"; run "$r" & done
  wait
done
declare -A DATA=([eth]=ethanol-xtb [cu]=cu-emt)
for r in $RUNS; do
  data=$(cd ../shared/data/${DATA[${r%%_*}]} && pwd)
  cat > "$OUT/${r}_llpr.toml" <<TOML
seed = 7
validation_set = 0.1
[architecture]
name = "llpr"
[architecture.model.num_ensemble_members]
energy = 64
[architecture.training]
model_checkpoint = "$(pwd)/$OUT/$r.ckpt"
batch_size = 16
calibration_method = "absolute_residuals"
[training_set.systems]
read_from = "$data/train.xyz"
[training_set.targets.energy]
key = "energy"
forces = true
TOML
  "$B/atomgrad" train "$OUT/${r}_llpr.toml" -o "$OUT/${r}_llpr.ckpt" --run-dir "$OUT/run_${r}_llpr" > "$OUT/${r}_llpr.log" 2>&1
  "$B/atomgrad" eval "$OUT/${r}_llpr.ckpt" "$data/test.xyz" -o "$OUT/${r}_llpr.predictions.xyz" --json > "$OUT/${r}_llpr.json"
done
echo
printf "%-12s | %-16s | %-16s | %-8s\n" run "E MAE/RMSE meV/atom" "F MAE/RMSE meV/A" "train s"
for r in $RUNS; do
  json=$(cat "$OUT/$r.json")
  val() { echo "$json" | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
  printf "%-12s | %.3f / %.3f | %.1f / %.1f | %s\n" "$r" \
    "$(awk "BEGIN{print 1000*$(val energy_mae_per_atom)}")" "$(awk "BEGIN{print 1000*$(val energy_rmse_per_atom)}")" \
    "$(awk "BEGIN{print 1000*$(val forces_mae)}")" "$(awk "BEGIN{print 1000*$(val forces_rmse)}")" "$(cat "$OUT/$r.seconds")"
done
echo
printf "%-12s | %-9s | %-9s | %-9s | %-22s | %-9s | %-9s\n" "LLPR" "E ZMS" "E Spearman" "E cov 1/2/3" "" "F ZMS" "F Spearman"
for r in $RUNS; do
  json=$(cat "$OUT/${r}_llpr.json")
  val() { echo "$json" | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
  printf "%-12s | %-9.2f | %-10.2f | %.2f/%.2f/%.2f | %-9s | %-9.2f | %-9.2f\n" "$r" "$(val energy_zms)" "$(val energy_spearman)" \
    "$(val energy_coverage_1sigma)" "$(val energy_coverage_2sigma)" "$(val energy_coverage_3sigma)" "" "$(val forces_zms)" "$(val forces_spearman)"
done
