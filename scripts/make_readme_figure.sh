#!/usr/bin/env bash
# Makes the README's figures: runs the default sweep if WORKDIR has no results yet, then the
# report, and copies Figure 2 (transfer.png), Figure 3 a (natural_manmade.png) and b, c
# (random_filters.png), the decomposition and the layer diagnostics (cka.png, predictors.png;
# diagnose runs first if the workdir has none) to docs/figures/. With DATASIZE=1 it then runs the dataset-size study
# (flags/datasize.flags, which reuses runs/natural_manmade's nets, so pass that WORKDIR or none)
# and copies its datasize.png and reduced.png.
# Usage: [DATASIZE=1] scripts/make_readme_figure.sh [WORKDIR]   (default: runs/natural_manmade)
# PYTHON picks the interpreter (default: .venv/bin/python as made by scripts/test.sh, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKDIR="${1:-runs/natural_manmade}"
source scripts/python_env.sh
if [ ! -s "$WORKDIR/results.jsonl" ]; then
  echo "no results in $WORKDIR: running the default sweep (long)" >&2
  "$PYTHON" -m keras_transfer.sweep --split=natural_manmade --workdir="$WORKDIR"
fi
if [ ! -s "$WORKDIR/diagnostics/scores.json" ]; then
  "$PYTHON" -m keras_transfer.diagnose --workdir="$WORKDIR" --direction=both
fi
"$PYTHON" -m keras_transfer.report --workdir="$WORKDIR"
mkdir -p docs/figures
cp "$WORKDIR/report/transfer.png" "$WORKDIR/report/natural_manmade.png" \
  "$WORKDIR/report/random_filters.png" "$WORKDIR/report/decomposition.png" \
  "$WORKDIR/report/cka.png" "$WORKDIR/report/predictors.png" docs/figures/
echo "copied transfer.png, natural_manmade.png, random_filters.png, decomposition.png, cka.png and predictors.png from $WORKDIR/report to docs/figures/"
if [ "${DATASIZE:-0}" = 1 ]; then
  # datasize.flags writes runs/random and runs/natural_manmade, merged into runs/report_merged
  "$PYTHON" -m keras_transfer.sweep --flagfile=flags/datasize.flags
  cp runs/report_merged/datasize.png runs/report_merged/reduced.png docs/figures/
  echo "copied datasize.png and reduced.png from runs/report_merged to docs/figures/"
fi
