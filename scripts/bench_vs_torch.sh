#!/usr/bin/env bash
# Keras (python -m keras_transfer.bench) and the PyTorch peer (../shared/bench/pytorch_caffenet.py)
# side by side, interleaved A B A B per case, so both see the same machine load. Prints one
# RESULT line per run and a summary of the median ratio per case. Figures go to BENCHMARKS.md.
#
#   python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch==2.13.0 numpy  # the peer
#   scripts/bench_vs_torch.sh                  # WIN=10 s windows, 2 rounds: ~15 min on 2 cores
#   ROUNDS=3 WIN=15 EXTRA=--mixed_precision scripts/bench_vs_torch.sh   # BENCHMARKS.md, 2026-12-02
#   WIN=20 ROUNDS=3 CASES="small" scripts/bench_vs_torch.sh
#   EXTRA="--weight_decay=0" scripts/bench_vs_torch.sh   # Keras flags appended to every case
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}  # the README's venv
TORCH_PY=${TORCH_PY:-/tmp/torch-venv/bin/python}
PEER=${PEER:-../shared/bench/pytorch_caffenet.py}
WIN=${WIN:-10}
ROUNDS=${ROUNDS:-2}
CASES=${CASES:-"full frozen5 small"}
EXTRA=${EXTRA:-}
LOG=${LOG:-/tmp/bench_vs_torch.$$.log}
export WIN TF_CPP_MIN_LOG_LEVEL=2

args() {  # case -> "size batch frozen" (peer) and keras flags
  case $1 in
    full)    echo "227 64 0|--model=caffenet --batch=64 --frozen_layers=0" ;;
    frozen5) echo "227 64 5|--model=caffenet --batch=64 --frozen_layers=5" ;;
    small)   echo "32 128 0|--model=caffenet_small --batch=128 --frozen_layers=0" ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
  esac
}

: > "$LOG"
for c in $CASES; do
  IFS='|' read -r peer keras <<< "$(args "$c")"
  for r in $(seq "$ROUNDS"); do
    t=$($TORCH_PY "$PEER" $peer 2>/dev/null | grep RESULT)
    k=$($PY -m keras_transfer.bench $keras --seconds="$WIN" $EXTRA 2>/dev/null | grep RESULT)
    echo "case=$c round=$r $t" | tee -a "$LOG"
    echo "case=$c round=$r $k" | tee -a "$LOG"
  done
done
echo "--- keras / torch (median over rounds of each round's ratio); log: $LOG"
python3 - "$LOG" <<'PY'
import re, sys, statistics, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    m = re.search(r"case=(\S+) round=(\d+) RESULT (\S+) .*train_img_s=([\d.]+)", line)
    if m:
        rows[(m[1], m[2])][m[3]] = float(m[4])
cases = collections.defaultdict(list)
for (c, r), v in rows.items():
    if len(v) == 2:
        cases[c].append((v["keras"], v["torch"], v["keras"] / v["torch"]))
for c, vals in cases.items():
    print(f"{c:8s} keras {statistics.median(v[0] for v in vals):8.1f}  torch "
          f"{statistics.median(v[1] for v in vals):8.1f}  ratio {statistics.median(v[2] for v in vals):.2f} "
          f"(per round: {', '.join(f'{v[2]:.2f}' for v in vals)})")
PY
