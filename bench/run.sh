#!/usr/bin/env bash
# make bench: the figures each issue asks for, beside the peer figures in ../shared/peers/.
# When PyTorch is installed (apt-get install python3-torch), its harness runs here first, so the
# ratios compare two programs measured minutes apart on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
SHARED=${SHARED:-../shared}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "== atomgrad benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
have_torch=no
if /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=yes; fi
for t in 1 2; do
  live=""
  if [ "$have_torch" = yes ]; then
    echo "(running the PyTorch MLP peer, $t thread(s), about a minute)"
    if OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE \
       /usr/bin/python3 "$SHARED/peers/torch_mlp.py" worker --threads "$t" > "$TMP/torch_$t.json" 2>/dev/null; then
      live="$TMP/torch_$t.json"
    fi
  fi
  OPENBLAS_NUM_THREADS=$t "$B/bench/bench_mlp" "$SHARED" "$t" $live
done
[ "$have_torch" = yes ] || echo "(PyTorch not installed: only the recorded peer figures are shown)"

# Last-layer Laplace: laplace-torch's timing workload (10,000 x 256 features, Full/Kron/Diag,
# regression and 10 classes) beside its recorded figures in ../shared/peers/laplace_torch_timing.json.
# The Full classification row dominates the run time (its 100-step prior optimisation).
for t in 1 2; do
  OPENBLAS_NUM_THREADS=$t "$B/bench/bench_laplace" "$SHARED" "$t"
done

# SOAP (specs/soap.md defaults): values and values + force VJP on the 1000 ethanol training frames
# and on the first 100 periodic Cu frames, beside librascal (../shared/peers/soap_peer.md) and the
# PyTorch peer (../shared/peers/torch_results.md). Batches of 8 frames go through the library's
# threaded Soap::compute_many / SoapJacobian::transpose_apply_many (same bits on any thread count).
for t in 1 2; do
  OPENBLAS_NUM_THREADS=1 "$B/bench/bench_soap" "$SHARED" "$t"
done

# SOAP-BPNN training step (default hypers, ethanol, batch 8 over 64 frames, one thread, one graph
# per batch): forward, energy + forces, and the energy + force training step.
OPENBLAS_NUM_THREADS=1 "$B/bench/bench_bpnn_step" "$SHARED"

# One real training epoch (nn::bpnn::train_soap_bpnn: 1000 ethanol frames, batch 8, energies +
# forces; also 900 trained + 100 validated) on 1 and 2 threads (forward_backward's chunks), beside
# the PyTorch peer's epoch, and the peak RSS of a process running one epoch.
OPENBLAS_NUM_THREADS=1 "$B/bench/bench_bpnn_epoch" "$SHARED"

# NanoPET and PET (default hypers, untrained): the trainer's training step with forces
# (forward_backward, batch 16, 1 and 2 threads) -> projected 1000-frame epoch, and inference
# (energies + forces, batch 16) in atoms/s, on ethanol and on 32-atom periodic Cu cells; printed
# right after the SOAP-BPNN epoch rows above (the PyTorch peer has no PET figures). A few minutes: the Cu
# batches (~40 neighbours per atom) are ~20x ethanol's work.
OPENBLAS_NUM_THREADS=1 "$B/bench/bench_pet" "$SHARED"

# LLPR building blocks (default hypers, untrained model, seed 0): last-layer features of the 1000
# ethanol training frames, F^T F, the factorisation, the 200 test frames' features and
# uncertainties, on 1 and 2 threads beside the PyTorch peer's "e." table (W = 32); and 128 members'
# energies + forces (+ sigma) on the test frames against one force evaluation.
OPENBLAS_NUM_THREADS=1 "$B/bench/bench_llpr" "$SHARED"

