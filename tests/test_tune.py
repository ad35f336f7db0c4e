"""keras_transfer.tune: a 2-trial search on tiny nets writes a flagfile the sweep takes."""

import os
import subprocess
import sys

import pytest

from keras_transfer import tune
from keras_transfer.experiment.config import SweepConfig, architecture, set_precision
from keras_transfer.nets import alexnet
from keras_transfer.training.recipe import TrainConfig


def test_search_writes_best_flags_and_tensorboard_trials(tmp_path):
    from tensorboard.backend.event_processing import event_multiplexer
    config = tune.TuneConfig(
        sweep=SweepConfig(workdir=str(tmp_path), recipe=TrainConfig(
            steps=4, eval_every=2, batch_size=16, lr_step=1000)),
        algorithm="random", max_trials=2, batch_sizes=(8, 16))
    best = tune.search(config)
    assert 1e-4 <= best["learning_rate"] <= 0.1 and 1e-5 <= best["weight_decay"] <= 1e-2
    assert best["batch_size"] in (8, 16)
    text = (tmp_path / tune.BEST_FLAGFILE).read_text()
    assert f"--batch_size={best['batch_size']}" in text and "--weight_decay=" in text

    # the sweep's own flags take the file
    check = ("import sys; from keras_transfer import sweep; f = sweep.FLAGS; "
             "f(['sweep', '--flagfile=' + sys.argv[1]]); "
             "print(f.learning_rate, f.weight_decay, f.batch_size)")
    out = subprocess.run([sys.executable, "-c", check, str(tmp_path / tune.BEST_FLAGFILE)],
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert float(out[0]) == pytest.approx(best["learning_rate"], rel=1e-5)
    assert float(out[1]) == pytest.approx(best["weight_decay"], rel=1e-5)
    assert int(out[2]) == best["batch_size"]

    mux = event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path / "tensorboard"))
    mux.Reload()
    trials = {run.split("/")[0] for run in mux.PluginRunToTagToContent("hparams")}
    assert len(trials) == 2                                   # one HParams session per trial
    assert any("epoch_top1" in mux.GetAccumulator(r).Tags()["tensors"] for r in mux.Runs())

    # a second call resumes the finished search: no new trials, same answer
    assert tune.search(config) == best
    assert len([d for d in os.listdir(tmp_path / "search") if d.startswith("trial_")]) == 2


def test_sweep_weight_decay_overrides_the_architecture():
    default = SweepConfig(workdir="w")
    tuned = SweepConfig(workdir="w", weight_decay=1e-3)
    assert architecture(default, 20).weight_decay == alexnet.CAFFE_WEIGHT_DECAY
    assert architecture(tuned, 20).weight_decay == 1e-3


def test_trials_train_with_the_recipe_flags_give():
    """A trial's net has the sweep's recipe: dropout, lr policy, warm-up and dtype policy."""
    import keras
    import keras_tuner

    from keras_transfer import data
    config = tune.TuneConfig(sweep=SweepConfig(
        workdir="unused", model="caffenet_mini", dropout=0.0, mixed_precision=True,
        recipe=TrainConfig(steps=300, eval_every=20, lr_policy="poly", warmup_steps=50)))
    try:
        set_precision(config.sweep.mixed_precision)
        source = data.open_dataset("synthetic")
        model = tune.hypermodel(config, source, [0, 1, 2]).build(keras_tuner.HyperParameters())
        schedule = model.optimizer.get_config()["learning_rate"]["config"]
        assert (schedule["policy"], schedule["warmup_steps"], schedule["max_steps"]) == \
            ("poly", 50, 300)
        rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
        assert rates and all(rate == 0.0 for rate in rates)
        assert alexnet.layer(model, 1).dtype_policy.name == "mixed_bfloat16"
        assert model.output_shape == (None, 3)
    finally:
        set_precision(False)
