#!/usr/bin/env bash
# Training throughput of each backbone (one in-memory batch; BENCHMARKS.md "Backbone sizes").
# Run from anywhere after scripts/test.sh has made .venv; extra arguments go to every bench run.
cd "$(dirname "$0")/.."
extra=("$@")
for spec in "caffenet_mini 128 --mixed_precision" "resnet_mini 128 --mixed_precision" \
            "vit_mini 128 --nomixed_precision" "vit_mini 128 --mixed_precision" \
            "caffenet 32 --mixed_precision" "resnet18 32 --mixed_precision" \
            "resnet18 32 --nomixed_precision" "vit_tiny 32 --mixed_precision" \
            "vit_tiny 32 --nomixed_precision" "efficientnetv2_b0 32 --nomixed_precision" \
            "convnext_tiny 32 --mixed_precision" "convnext_tiny 32 --nomixed_precision"; do
  set -- $spec
  echo "== $1 batch $2 $3"
  TF_CPP_MIN_LOG_LEVEL=2 timeout 300 .venv/bin/python -m keras_transfer.bench --model="$1" \
    --batch="$2" --num_classes=20 "$3" --seconds=8 --json "${extra[@]}" 2>/dev/null | tail -1
done
