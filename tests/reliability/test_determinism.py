"""Determinism on CPU: the same flags and seed give identical results rows and weights."""

import json

import pytest

from keras_transfer.experiment import plan, runner, setup
from keras_transfer.training.recipe import TrainConfig

from .common import assert_same_weights, run_cli, tiny_config

VOLATILE = {"train_seconds", "finished_at"}


def stable(row):
    return {k: v for k, v in row.items() if k not in VOLATILE}


def test_same_seed_same_net_different_seed_different_net(finished_sweep, tmp_path):
    with open(finished_sweep / "runs" / "r0" / "baseB" / "result.json") as f:
        first = json.load(f)  # trained with tiny_config's seed 0
    rows = {}
    for seed in (0, 1):
        recipe = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000, seed=seed)
        ctx = setup.prepare(tiny_config(tmp_path / str(seed), recipe=recipe))
        rows[seed], _ = runner.run_net(ctx, plan.base("B"))
    assert stable(rows[0]) == stable(first)
    assert_same_weights(tmp_path / "0/runs/r0/baseB/model.keras",
                        finished_sweep / "runs/r0/baseB/model.keras")
    assert rows[1]["weights_sha256"] != first["weights_sha256"]


@pytest.mark.slow
def test_cli_with_op_determinism_is_reproducible(tmp_path):
    """`--deterministic` (enable_op_determinism) through the CLI, two sweeps of baseA, baseB."""
    for name in ("one", "two"):
        out = run_cli(tmp_path / name, "--experiments=base", "--noexport", "--deterministic")
        assert out.returncode == 0, out.stderr[-3000:]
    rows = []
    for name in ("one", "two"):
        with open(tmp_path / name / "results.jsonl") as f:
            # Sorted: on 2 workers the two bases finish in either order.
            rows.append(sorted((stable(json.loads(line)) for line in f), key=lambda r: r["net"]))
    assert rows[0] == rows[1] and [r["net"] for r in rows[0]] == ["baseA", "baseB"]
    for net in ("baseA", "baseB"):
        assert_same_weights(tmp_path / "one/runs/r0" / net / "model.keras",
                            tmp_path / "two/runs/r0" / net / "model.keras")
