"""The regime diagnostic: a net that memorises its training images and whose validation loss
turned is on the overfitting plateau; one that cannot fit them is still fitting. Pure rows and
real training through the one training path (fit.fit with a training sample)."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_transfer.training import fit, history, regime
from keras_transfer.training.recipe import TrainConfig, compile_model


def rows(sample_top1, val_loss):
    return [{"step": 10 * (i + 1), "val_top1": 0.5, "val_loss": v, "sample_top1": t,
             "sample_loss": 1 - t} for i, (t, v) in enumerate(zip(sample_top1, val_loss))]


def test_overfit_and_turned_is_the_plateau():
    # Validation loss lowest at evaluation 5 of 10 (step 50), then rising; training top-1
    # 0.9 against validation 0.5.
    found = regime.diagnose(rows([0.5 + 0.05 * i for i in range(9)] + [0.9],
                                 [2.0, 1.8, 1.6, 1.5, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]))
    assert found["regime"] == regime.PLATEAU
    assert found["val_loss_min_step"] == 50 and found["sample_top1"] == 0.9
    assert found["gap"] == 0.4
    assert found["reason"] == ("training top-1 0.90, validation 0.50, validation loss rising "
                               "since step 50")


def test_a_small_gap_or_a_loss_still_falling_is_still_fitting():
    falling = [2.0 - 0.1 * i for i in range(10)]
    found = regime.diagnose(rows([0.6] * 10, falling))
    assert found["regime"] == regime.FITTING
    assert found["reason"] == ("validation loss still falling (lowest at step 100 of 100); "
                               "training top-1 0.60, only +0.10 over validation (< 0.2)")
    # Far better on its sample, but the loss is lowest in the last fifth: that reason only.
    found = regime.diagnose(rows([1.0] * 10, falling))
    assert found["regime"] == regime.FITTING and found["reason"].startswith("validation loss")
    # Turned, but hardly better on its sample than on validation: that reason only.
    turned = [1.0, 0.9, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    found = regime.diagnose(rows([0.55] * 10, turned))
    assert found["regime"] == regime.FITTING and found["reason"].startswith("training top-1")


def test_rows_without_the_sample_or_too_few_are_unknown():
    old = [{"step": 10 * i, "val_top1": 0.5, "val_loss": 1.0} for i in range(12)]
    assert regime.diagnose(old)["regime"] == regime.UNKNOWN
    found = regime.diagnose(rows([1.0] * 5, [1.0] * 5))
    assert found["regime"] == regime.UNKNOWN and found["reason"].startswith("5 evaluations")


def points(count, seed):
    """`count` points in 8 dimensions with random labels of 3 classes: nothing to generalise."""
    rng = np.random.RandomState(seed)
    return rng.randn(count, 8).astype("float32"), rng.randint(0, 3, count).astype("int32")


def train(tmp_path, name, hidden, steps=200, learning_rate=0.2):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    x = inputs if hidden == 0 else keras.layers.Dense(hidden, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    config = TrainConfig(steps=steps, eval_every=steps // 20, batch_size=16,
                         learning_rate=learning_rate, lr_step=10_000)
    compile_model(model, config, 3)
    x_train, y_train = points(16, 0)
    x_val, y_val = points(64, 1)
    train_data = tf.data.Dataset.from_tensor_slices((x_train, y_train)).repeat().batch(16)
    member = fit.Member(str(tmp_path / name))
    os.makedirs(member.run_dir)
    sample = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(16)
    (result,) = fit.fit(model, [member], train_data,
                        tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(64), config,
                        member.run_dir, 3, verbose=0, sample_data=sample)
    return member.run_dir, result


def test_a_net_that_memorises_is_on_the_plateau_and_one_that_cannot_is_not(tmp_path):
    run_dir, result = train(tmp_path, "wide", hidden=256)
    found = result["regime"]
    # 16 random labels memorised; the validation loss (labels it cannot know) rises after.
    assert found["gap"] > 0.5
    assert found["regime"] == regime.PLATEAU and found["sample_top1"] == 1.0
    assert found["val_loss_min_step"] < 200 * 0.8
    rows_written = history.read_history(os.path.join(run_dir, history.HISTORY))
    assert len(rows_written) == 20
    assert {"sample_loss", "sample_top1", "val_loss", "val_top1"} <= set(rows_written[-1])
    # TensorBoard: the sample is a run of its own beside validation, same tags (same card).
    assert os.listdir(os.path.join(run_dir, "train_sample"))
    # A linear model at a small rate cannot fit 16 random labels of 3 classes in its budget.
    run_dir, result = train(tmp_path, "linear", hidden=0, learning_rate=0.001, steps=40)
    assert result["regime"]["regime"] == regime.FITTING
    assert result["regime"]["gap"] < regime.MIN_GAP


def test_a_group_records_each_members_sample(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    outputs = [keras.layers.Dense(3, activation="softmax", name=f"out{i}")(
        keras.layers.Dense(64 * i, activation="relu")(inputs)) for i in (1, 2)]
    model = keras.Model(inputs, outputs)
    config = TrainConfig(steps=20, eval_every=2, batch_size=16, learning_rate=0.2,
                         lr_step=10_000)
    compile_model(model, config, 3)
    x, y = points(16, 0)
    two = lambda ds: ds.map(lambda a, b: (a, (b, b)))  # noqa: E731
    members = [fit.Member(str(tmp_path / f"n{i}"), f"out{i}_") for i in (1, 2)]
    for m in members:
        os.makedirs(m.run_dir)
    fit.fit(model, members, two(tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(16)),
            two(tf.data.Dataset.from_tensor_slices(points(32, 1)).batch(32)), config,
            str(tmp_path / "state"), 3, verbose=0, share=2,
            sample_data=two(tf.data.Dataset.from_tensor_slices((x, y)).batch(16)))
    last = [history.read_history(os.path.join(m.run_dir, history.HISTORY))[-1] for m in members]
    # Each member's own sample metrics, not the group's total loss.
    assert all(0.0 <= row["sample_top1"] <= 1.0 for row in last)
    assert last[0]["sample_loss"] != last[1]["sample_loss"]
    with open(os.path.join(members[0].run_dir, history.HISTORY)) as f:
        assert all("sample_top1" in json.loads(line) for line in f)


def test_a_bases_console_line_names_its_regime():
    from keras_transfer.experiment import plan, runner
    row = {"top1_best10": 0.55, "top1": 0.56, "convergence": {"converged": True},
           "regime": {"regime": regime.PLATEAU}}
    assert runner.result_line(plan.base("B"), row) == (
        "r0/baseB       best-10 0.5500  top1 0.5600  converged, overfitting plateau")
    # Dependants' lines stay as they were: their regime is in the report.
    assert runner.result_line(plan.copied("A", 3, "B", True), row).endswith("converged")
