"""The training recipe's pieces that are not the paper's: warm-up, sparse checkpoints, the
caffenet_mini variant, the dtype policy across nets."""

import os

import keras
import numpy as np
import pytest

from keras_transfer.experiment.config import SweepConfig, fresh_session
from keras_transfer.nets import alexnet, transfer
from keras_transfer.training import fit
from keras_transfer.training.history import read_history
from keras_transfer.training.recipe import CaffeSchedule, TrainConfig, compile_model


def test_schedule_warms_up_linearly_then_steps():
    schedule = CaffeSchedule(0.1, lr_step=10, lr_gamma=0.1, warmup_steps=4)
    lrs = [float(schedule(step)) for step in (0, 1, 2, 3, 4, 9, 10, 19, 20)]
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001],
                               rtol=1e-6)


def test_schedule_without_warmup_is_caffes_step_policy():
    schedule = CaffeSchedule(0.02, lr_step=5, lr_gamma=0.5)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 4, 5, 11)],
                               [0.02, 0.02, 0.01, 0.005], rtol=1e-6)


def test_schedule_round_trips_through_a_keras_file(tmp_path):
    model = alexnet.build(alexnet.Architecture(num_classes=5, input_size=32, width=0.25,
                                               fc_units=16))
    compile_model(model, TrainConfig(steps=10, eval_every=5, warmup_steps=3,
                                                 learning_rate=0.3, lr_step=7), 5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.1)  # step 0: 0.3 / 3
    loaded.optimizer.iterations.assign(8)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.03)  # past lr_step 7


def test_poly_policy_decays_linearly_to_zero():
    schedule = CaffeSchedule(0.2, lr_step=1, lr_gamma=0.1, warmup_steps=2,
                                   policy="poly", max_steps=10)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 1, 5, 9, 10)],
                               [0.1 * 1.0, 0.2 * 0.9, 0.2 * 0.5, 0.2 * 0.1, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="lr_policy"):
        TrainConfig(steps=10, eval_every=5, lr_policy="cosine")


@pytest.mark.parametrize("warmup", [-1, 10, 11])
def test_warmup_must_be_shorter_than_training(warmup):
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(steps=10, eval_every=5, warmup_steps=warmup)


def tiny_fit(run_dir, checkpoint_seconds):
    model = alexnet.build(alexnet.Architecture(num_classes=3, input_size=32, width=0.25,
                                               fc_units=16))
    rng = np.random.RandomState(0)
    x, y = rng.randn(8, 32, 32, 3).astype("float32"), rng.randint(0, 3, 8)
    import tensorflow as tf
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    config = TrainConfig(steps=6, eval_every=2, batch_size=4, lr_step=100)
    compile_model(model, config, 3)
    (result,) = fit.fit(model, [fit.Member(str(run_dir))], data.repeat(), data, config,
                        str(run_dir), 3, verbose=0, checkpoint_seconds=checkpoint_seconds)
    return result, sorted(os.listdir(run_dir / "checkpoints")) if (
        run_dir / "checkpoints").exists() else []


def test_checkpoints_every_evaluation_by_default(tmp_path):
    result, files = tiny_fit(tmp_path, 0)
    assert result["steps"] == 6
    assert files == ["ckpt-000002.json", "ckpt-000002.weights.h5",  # keep=2 of 3, each
                     "ckpt-000003.json", "ckpt-000003.weights.h5"]  # with its owner record


def test_checkpoint_seconds_skips_checkpoints_of_short_intervals(tmp_path):
    result, files = tiny_fit(tmp_path, 3600)
    # Three evaluations, none an hour after the start: only the last interval, which is
    # always kept (a fused group that finished then needs no retraining on resume).
    assert files == ["ckpt-000003.json", "ckpt-000003.weights.h5"]
    assert len(read_history(str(tmp_path / "history.jsonl"))) == 3


def test_caffenet_mini_keeps_the_eight_layers_at_a_quarter_of_the_maps():
    mini = alexnet.build(alexnet.architecture("caffenet_mini", 20))
    small = alexnet.build(alexnet.architecture("caffenet_small", 20))
    assert [alexnet.layer(mini, n).name for n in range(1, 9)] == list(
        alexnet.LAYER_NAMES.values())
    assert mini.get_layer("conv1").output.shape[1:3] == (16, 16)
    assert small.get_layer("conv1").output.shape[1:3] == (32, 32)
    assert mini.get_layer("pool5").output.shape[1:] == (1, 1, 64)
    # Same conv kernels; only fc6's input shrinks (1x1x64 instead of 3x3x64).
    for n in range(1, 6):
        assert (alexnet.layer(mini, n).kernel.shape == alexnet.layer(small, n).kernel.shape)
    assert alexnet.layer(mini, 6).kernel.shape == (64, 512)
    assert alexnet.caffenet(10).get_layer("conv1").strides == (4, 4)  # 227 px: Caffe's stride


def test_fresh_session_keeps_the_mixed_precision_policy(tmp_path):
    config = SweepConfig(workdir=str(tmp_path), mixed_precision=True)
    try:
        fresh_session(config)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        model = transfer.build(alexnet.architecture("caffenet_mini", 4), 0, "fine_tune")
        assert model.get_layer("conv1").compute_dtype == "bfloat16"
        assert model.output.dtype == "float32"
        fresh_session(SweepConfig(workdir=str(tmp_path)))
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
