"""The one training path: one net and a group of nets go through the same `fit`, which records
each member's history and result, and stops for divergence only when every member blew up."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_transfer.training import fit, history
from keras_transfer.training.recipe import TrainConfig, compile_model

CONFIG = TrainConfig(steps=6, eval_every=2, batch_size=8, learning_rate=0.05, lr_step=1000)


def batches():
    rng = np.random.RandomState(0)
    x = rng.randn(32, 8).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")  # 3 learnable classes
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def head(x, name, poisoned=False):
    logits = keras.layers.Dense(3)(x)
    if poisoned:  # a head whose loss is NaN from the first batch: it diverges, alone
        logits = keras.layers.Lambda(lambda t: t + float("nan"))(logits)
    return keras.layers.Softmax(name=name, dtype="float32")(logits)


def group(poisoned):
    keras.utils.set_random_seed(0)
    image = keras.Input((8,))
    outputs = [head(image, "out1", poisoned == 1), head(image, "out2", poisoned == 2)]
    model = keras.Model(image, outputs)
    compile_model(model, CONFIG, 3)
    return model


def two_outputs(data):
    return data.map(lambda x, y: (x, (y, y)))


def test_a_group_records_each_member_and_a_diverged_head_does_not_stop_the_others(tmp_path):
    members = [fit.Member(str(tmp_path / "a"), "out1_"), fit.Member(str(tmp_path / "b"), "out2_")]
    for m in members:
        os.makedirs(m.run_dir)
    results = fit.fit(group(poisoned=2), members, two_outputs(batches().repeat()),
                      two_outputs(batches()), CONFIG, str(tmp_path / "state"), 3, verbose=0,
                      share=2)
    healthy, diverged = results
    assert healthy["status"] == "ok" and 0.0 <= healthy["top1"] <= 1.0
    assert diverged["status"] == "diverged" and diverged["diverged_at_step"] == 1
    assert diverged["top1"] is None and not np.isfinite(diverged["diverged_loss"])
    # The healthy head trained the whole budget: three evaluations, in its own history.
    rows = history.read_history(os.path.join(members[0].run_dir, history.HISTORY))
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert set(rows[0]) >= {"loss", "top1", "val_loss", "val_top1"}  # named as a single net's
    assert not any(k.startswith("out") for k in rows[0])
    # TensorBoard curves in each member's own run directory.
    assert os.listdir(os.path.join(members[0].run_dir, "validation"))
    assert os.path.isdir(tmp_path / "state" / fit.CHECKPOINTS)


def test_training_stops_once_every_member_has_diverged(tmp_path):
    keras.utils.set_random_seed(0)
    image = keras.Input((8,))
    model = keras.Model(image, head(image, "out", poisoned=True))
    compile_model(model, CONFIG, 3)
    alone = fit.Member(str(tmp_path / "net"))
    os.makedirs(alone.run_dir)
    (result,) = fit.fit(model, [alone], batches().repeat(), batches(), CONFIG, alone.run_dir, 3,
                        verbose=0)
    assert result["status"] == "diverged" and result["diverged_at_step"] == 1
    # Stopped in the first interval: nothing of the remaining budget ran or was recorded.
    assert history.read_history(os.path.join(alone.run_dir, history.HISTORY)) == []
    assert json.loads(json.dumps(result["convergence"]))["status"] == "too short"
