#!/usr/bin/env bash
# Throughput of the default sweep's kinds of unit in one process against two worker processes
# side by side (BENCHMARKS.md "Workers"): a base (one net) and a fused group of 7 fine-tuned
# nets, caffenet_mini, batch 128, the real tf.data pipeline. Alternates the settings twice.
# Run from anywhere after scripts/test.sh has made .venv; prints one JSON line per process.
cd "$(dirname "$0")/.."
bench() {  # threads: intra inter; then the case's flags
  local intra=$1 inter=$2; shift 2
  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m keras_transfer.bench --model=caffenet_mini \
    --batch=128 --mixed_precision --pipeline=synthetic --seconds=8 --json \
    --intra_op_threads="$intra" --inter_op_threads="$inter" "$@" 2>/dev/null | tail -1
}
for round in 1 2; do
  for case in "--frozen_layers=0" "--fused --fine_tune --frozen_layers=1,2,3,4,5,6,7"; do
    echo "== round $round, $case: one process, 1 intra-op thread, TensorFlow's inter-op"
    bench 1 0 $case
    for inter in 1 2; do
      echo "== round $round, $case: two processes side by side, 1 intra-op, $inter inter-op"
      bench 1 "$inter" $case & bench 1 "$inter" $case; wait
    done
  done
done
