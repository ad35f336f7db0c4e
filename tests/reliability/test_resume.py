"""Kill and resume: a resumed net continues from its last checkpoint with the same data order,
and ends with the weights of an uninterrupted run."""

import json
import os
import signal

import keras
import numpy as np
import pytest

from keras_transfer import data
from keras_transfer.experiment import plan, runner, setup
from keras_transfer.experiment.config import Context
from keras_transfer.training import fit
from keras_transfer.training.recipe import TrainConfig, compile_model

from .common import assert_same_weights, tiny_config

RECIPE = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000)


class Crash(Exception):
    pass


class CrashAfterEpoch(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (after its checkpoint, which an earlier callback
    writes): a process dying between two intervals."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash()


class CrashMidEpoch(keras.callbacks.Callback):
    """Raises in the middle of epoch `epoch`: the partial interval must be redone."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 0:
            raise Crash()


def context(workdir):
    ctx = setup.prepare(tiny_config(workdir))
    return Context(tiny_config(workdir, recipe=RECIPE), ctx.data, ctx.split,
                          ctx.strategy)


def with_callbacks(kwargs, callbacks):
    """fit's keyword arguments with `callbacks` added to the runner's own (the console's)."""
    return {**kwargs, "extra_callbacks": [*kwargs.get("extra_callbacks", ()), *callbacks]}


def run_with(ctx, net, callbacks, monkeypatch):
    original = fit.fit
    monkeypatch.setattr(fit, "fit", lambda *a, **k: original(*a, **with_callbacks(k, callbacks)))
    try:
        with pytest.raises(Crash):
            runner.run_net(ctx, net)
    finally:
        monkeypatch.setattr(fit, "fit", original)


def history(run):
    with open(os.path.join(run, "history.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """baseA trained without interruption: (its results row, its run directory)."""
    workdir = tmp_path_factory.mktemp("clean")
    row, _ = runner.run_net(context(workdir), plan.base("A"))
    return row, workdir / "runs" / "r0" / "baseA"


@pytest.mark.parametrize("crash", [
    pytest.param(CrashAfterEpoch(0), id="after-checkpoint"),
    pytest.param(CrashMidEpoch(1), id="mid-interval", marks=pytest.mark.slow),  # ~ SIGTERM's
])
def test_resumed_net_equals_an_uninterrupted_one(tmp_path, monkeypatch, clean, crash):
    clean_row, clean_run = clean
    net = plan.base("A")
    ctx = context(tmp_path)
    run_with(ctx, net, [crash], monkeypatch)
    run = tmp_path / "runs" / "r0" / "baseA"
    assert not (run / "result.json").exists()
    assert sorted(os.listdir(run / "checkpoints")) == ["ckpt-000001.json", "ckpt-000001.weights.h5"]
    assert [h["step"] for h in history(run)] == [2]
    row, trained = runner.run_net(ctx, net)

    assert trained and row["steps"] == 4
    assert row["weights_sha256"] == clean_row["weights_sha256"]
    assert_same_weights(run / "model.keras", clean_run / "model.keras")
    resumed = history(run)
    assert [h["step"] for h in resumed] == [2, 4]
    for a, b in zip(resumed, history(clean_run)):
        assert {k: v for k, v in a.items() if k != "seconds"} == \
            {k: v for k, v in b.items() if k != "seconds"}
    assert row["top1"] == clean_row["top1"] and row["top1_best10"] == clean_row["top1_best10"]


class SigtermMidEpoch(CrashMidEpoch):
    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_stops_cleanly_and_resumes_to_the_same_weights(tmp_path, monkeypatch, clean):
    """SIGTERM mid-interval: training stops after the batch, the cut-short interval is neither
    checkpointed nor logged (Keras still calls on_epoch_end for it), and a rerun redoes it."""
    clean_row, clean_run = clean
    net = plan.base("A")
    ctx = context(tmp_path)
    original = fit.fit
    monkeypatch.setattr(fit, "fit", lambda *a, **k: original(
        *a, **with_callbacks(k, [SigtermMidEpoch(1)])))
    with pytest.raises(fit.Interrupted, match="stopped by SIGTERM after the checkpoint of "
                                                "step 2; rerun the same command") as stopped:
        runner.run_net(ctx, net)
    monkeypatch.setattr(fit, "fit", original)
    assert stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler given back
    run = tmp_path / "runs" / "r0" / "baseA"
    assert sorted(os.listdir(run / "checkpoints")) == ["ckpt-000001.json", "ckpt-000001.weights.h5"]
    assert [h["step"] for h in history(run)] == [2]
    row, _ = runner.run_net(ctx, net)
    assert row["weights_sha256"] == clean_row["weights_sha256"]
    assert [h["val_top1"] for h in history(run)] == [h["val_top1"] for h in history(clean_run)]


def test_resumed_stream_is_the_uninterrupted_stream_from_that_batch():
    source = data.open_dataset("synthetic")
    classes = list(range(20))  # 5200 records: batch 400 of 16 starts in the second epoch
    full = list(source.train(classes, 16, 32, seed=7).take(330).as_numpy_iterator())
    for start in (1, 5, 325):
        resumed = list(source.train(classes, 16, 32, seed=7, start_batch=start)
                       .take(3).as_numpy_iterator())
        for (x, y), (fx, fy) in zip(resumed, full[start:start + 3]):
            np.testing.assert_array_equal(x, fx)
            np.testing.assert_array_equal(y, fy)


def test_checkpoint_keeps_dropout_rng_state(tmp_path):
    """Keras weight files leave out seed-generator states; without them a resumed run draws the
    first steps' dropout masks again and diverges."""
    from keras_transfer.nets import alexnet
    from keras_transfer.training import checkpoints
    model = alexnet.build(alexnet.architecture("caffenet_small", 4))
    compile_model(model, RECIPE, 4)
    states = checkpoints.rng_states(model)
    assert len(states) == 2  # drop6, drop7
    for v, value in zip(states, ([11, 5], [12, 7])):
        v.assign(value)
    saver = checkpoints.Checkpointer(str(tmp_path))
    saver.set_model(model)
    saver.on_epoch_end(0)
    fresh = alexnet.build(alexnet.architecture("caffenet_small", 4))
    compile_model(fresh, RECIPE, 4)
    assert checkpoints.Checkpointer(str(tmp_path)).restore(fresh) == 1
    assert [list(np.asarray(v)) for v in checkpoints.rng_states(fresh)] == [[11, 5], [12, 7]]


def test_sparse_checkpoints_resume_from_the_last_one_to_the_same_weights(
        tmp_path, monkeypatch, clean):
    """--checkpoint_seconds: a crash after an interval that was not checkpointed redoes it
    from the checkpoint before (here: none, so from the start) and ends the same."""
    clean_row, clean_run = clean
    net = plan.base("A")
    base = context(tmp_path)
    config = tiny_config(tmp_path, recipe=RECIPE, checkpoint_seconds=3600.0)
    ctx = Context(config, base.data, base.split, base.strategy)
    run_with(ctx, net, [CrashAfterEpoch(0)], monkeypatch)
    run = tmp_path / "runs" / "r0" / "baseA"
    assert not (run / "checkpoints").exists() or os.listdir(run / "checkpoints") == []
    assert [h["step"] for h in history(run)] == [2]  # logged, but not checkpointed
    row, trained = runner.run_net(ctx, net)
    assert trained and [h["step"] for h in history(run)] == [2, 4]
    assert row["weights_sha256"] == clean_row["weights_sha256"]
    assert row["top1"] == clean_row["top1"]
