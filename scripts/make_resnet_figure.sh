#!/usr/bin/env bash
# Makes the README's figures of the resnet_mini sweep with every adaptation strategy
# (flags/resnet.flags): runs it into WORKDIR (a finished one trains nothing; more replicates
# than WORKDIR holds train only the new ones), writes its report, and copies strategies.png and
# transfer.png to docs/figures/ as strategies_resnet.png and transfer_resnet.png.
# Usage: [REPLICATES=1] scripts/make_resnet_figure.sh [WORKDIR]   (default: the sweep's own,
# runs/resnet_mini/natural_manmade;
# one replicate is 122 nets, ~1.5 h on 2 cores: BENCHMARKS.md "The resnet_mini sweep")
# PYTHON picks the interpreter (default: .venv/bin/python as made by scripts/test.sh, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKDIR="${1:-runs/resnet_mini/natural_manmade}"
source scripts/python_env.sh
"$PYTHON" -m keras_transfer.sweep --flagfile=flags/resnet.flags --split=natural_manmade \
  --replicates="${REPLICATES:-1}" --workdir="$WORKDIR"
mkdir -p docs/figures
cp "$WORKDIR/report/strategies.png" docs/figures/strategies_resnet.png
cp "$WORKDIR/report/transfer.png" docs/figures/transfer_resnet.png
echo "copied strategies_resnet.png and transfer_resnet.png from $WORKDIR/report to docs/figures/"
