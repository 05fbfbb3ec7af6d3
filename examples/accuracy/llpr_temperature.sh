#!/usr/bin/env bash
# LLPR sigma on frames hotter than the training set (README "LLPR on hotter frames"): a SOAP-BPNN
# trained on the 300 K 32-atom frames of ../shared/data/cu-emt (bulk32_T300, strained32_T300), wrapped
# with LLPR (64 members), evaluated on the 300, 600 and 900 K 32-atom frames of the test file.
# Needs the shared data beside the repository. Usage: bash examples/accuracy/llpr_temperature.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
OUT=$B/accuracy/cu300
mkdir -p "$OUT"
python3 - "$OUT" <<'PY'
import re, sys
out = sys.argv[1]
def frames(path):
    lines = open(path).read().splitlines(); i = 0; fs = []
    while i < len(lines):
        n = int(lines[i]); fs.append(lines[i:i + n + 2]); i += n + 2
    return fs
kind = lambda f: re.search(r'config_type=(\S+)', f[1]).group(1)
def write(name, fs): open(f'{out}/{name}', 'w').write('\n'.join('\n'.join(f) for f in fs) + '\n')
small = lambda f: kind(f).startswith(('bulk32', 'strained32'))
write('train300.xyz', [f for f in frames('../shared/data/cu-emt/train.xyz') if small(f) and kind(f).endswith('_T300')])
test = frames('../shared/data/cu-emt/test.xyz')
for T in ('300', '600', '900'):
    write(f'test{T}.xyz', [f for f in test if small(f) and kind(f).endswith('_T' + T)])
PY
OPENBLAS_NUM_THREADS=1 "$B/atomgrad" train examples/accuracy/cu300.toml -o "$OUT/model.ckpt" --run-dir "$OUT/run"
"$B/atomgrad" train examples/accuracy/cu300_llpr.toml -o "$OUT/llpr.ckpt" --run-dir "$OUT/run_llpr"
printf "%-5s | %-8s | %-22s | %-18s | %-22s | %-10s\n" T frames "E MAE meV/atom" "mean sigma_E meV" "F MAE / mean sigma_F" "E ZMS"
for T in 300 600 900; do
  json=$("$B/atomgrad" eval "$OUT/llpr.ckpt" "$OUT/test$T.xyz" -o "$OUT/pred$T.xyz" --json)
  val() { echo "$json" | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
  printf "%-5s | %-8s | %-22.3f | %-18.1f | %6.1f / %-13.1f | %-10.2f\n" "$T K" "$(grep -c Lattice "$OUT/test$T.xyz")" \
    "$(awk "BEGIN{print 1000*$(val energy_mae_per_atom)}")" "$(awk "BEGIN{print 1000*$(val energy_uncertainty_mean)}")" \
    "$(awk "BEGIN{print 1000*$(val forces_mae)}")" "$(awk "BEGIN{print 1000*$(val forces_uncertainty_mean)}")" "$(val energy_zms)"
done
