"""A net whose loss blows up stops there and is recorded as diverged, never as a result."""

import json

import pytest

from keras_transfer.experiment import plan, results, rundir, runner, setup
from keras_transfer.training.history import blown_up
from keras_transfer.training.recipe import TrainConfig

from .common import tiny_config


def test_a_blown_up_net_stops_and_is_recorded_as_diverged(tmp_path):
    # lr 1e4: the loss leaves every sane range within the first steps.
    recipe = TrainConfig(steps=40, eval_every=2, batch_size=16, lr_step=1000,
                               learning_rate=1e4)
    config = tiny_config(tmp_path, recipe=recipe)
    ctx = setup.prepare(config)
    row, trained = runner.run_net(ctx, plan.base("A"))
    assert trained and row["status"] == "diverged"
    assert row["top1"] is None and row["top1_best10"] is None
    assert 1 <= row["diverged_at_step"] < 40  # stopped, not trained to the end
    assert blown_up(row["diverged_loss"])
    written = json.loads((tmp_path / "runs" / "r0" / "baseA" / "result.json").read_text())
    assert written["status"] == "diverged"
    assert [r["status"] for r in results.read_results(str(tmp_path))] == ["diverged"]
    # Its dependants cannot copy from it: one clear error, nothing trained for them.
    with pytest.raises(rundir.RunDirError, match="which diverged"):
        runner.run_net(ctx, next(n for n in plan.make_plan((1,), ("transfer",))
                                 if n.parent == "baseA"))
    # A rerun does not retrain it.
    assert runner.run_net(ctx, plan.base("A"))[1] is False
