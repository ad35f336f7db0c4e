"""MirroredStrategy over two logical CPUs gives the same training as one replica.

Runs in a subprocess: logical devices must be configured before TensorFlow initialises.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_transfer.experiment.config import make_strategy
    from keras_transfer.nets import backbones
    from keras_transfer.training import fit, history
    from keras_transfer.training.recipe import TrainConfig, compile_model

    arch = backbones.architecture(sys.argv[1], 5, dropout=0.0)  # no masks to tell apart
    config = TrainConfig(steps=3, eval_every=3, batch_size=8, learning_rate=0.01)
    rng = np.random.RandomState(0)
    x = rng.randn(48, 32, 32, 3).astype("float32") * 60
    y = rng.randint(0, 5, 48).astype("int32")
    keras.utils.set_random_seed(1)
    initial = backbones.build(arch).get_weights()
    out = {}
    for name in ("default", "mirrored"):
        strategy = make_strategy(name)
        with strategy.scope():
            model = backbones.build(arch)
            model.set_weights(initial)
            compile_model(model, config, arch.num_classes)
        run_dir = tempfile.mkdtemp()
        # The global batch is 16 both ways: 1 x 16, or 2 replicas x 8.
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
        fit.fit(model, [fit.Member(run_dir)], data,
                tf.data.Dataset.from_tensor_slices((x[:16], y[:16])).batch(16), config,
                run_dir, arch.num_classes, verbose=0)
        norms = [l for l in backbones.all_layers(model)
                 if isinstance(l, keras.layers.BatchNormalization)]
        out[name] = {"replicas": strategy.num_replicas_in_sync, "norms": len(norms),
                     "loss": history.read_history(run_dir + "/" + history.HISTORY)[-1]["loss"],
                     "synchronized_after": any(l.synchronized for l in norms),
                     "moving": [np.array(l.moving_variance).tolist() for l in norms],
                     "weights": [w.tolist() for w in model.get_weights()[-2:]]}
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.parametrize("model, norms", [("caffenet_small", 0), ("resnet_mini", 15)])
def test_two_replicas_train_as_one_device_for_the_same_global_batch(model, norms):
    """Loss (weight decay included: summed once per global batch), weights and, for a
    BatchNorm net, the moving statistics: each replica sees half the batch, and BatchNorm's
    statistics are synchronized across replicas (fit.replica_batch_norms), so two replicas
    train as one device does. Unsynchronized, resnet_mini's moving variances differed by up
    to 2.5e-3 after these 3 steps."""
    import numpy as np
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, model], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    one, two = out["default"], out["mirrored"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert one["norms"] == two["norms"] == norms
    assert not two["synchronized_after"]  # the trained model saves as a plain one
    assert abs(one["loss"] - two["loss"]) < 1e-4 * max(1.0, abs(one["loss"]))
    for a, b in zip(one["moving"] + one["weights"], two["moving"] + two["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-3, atol=1e-5)


BACKBONE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_transfer.experiment.config import make_strategy, set_precision
    from keras_transfer.nets import backbones, transfer
    from keras_transfer.training.recipe import TrainConfig, compile_model

    model_name = sys.argv[1]
    set_precision(True)  # mixed_bfloat16 on CPU
    arch = backbones.architecture(model_name, 5)
    keras.utils.set_random_seed(0)
    source = backbones.build(arch)
    strategy = make_strategy("mirrored")
    rng = np.random.RandomState(0)
    x = rng.randn(16, 32, 32, 3).astype("float32") * 60
    y = rng.randint(0, 5, 16).astype("int32")
    deltas, factors = {}, None
    for mode in ("fine_tune", "llrd", "frozen"):
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = transfer.build(arch, 3, mode, source)
            if mode == "llrd":
                factors = transfer.lr_multipliers(model, 3, 0.5)
            compile_model(model, TrainConfig(steps=1, eval_every=1, batch_size=8,
                                             learning_rate=0.01), 5,
                          lr_multipliers=factors if mode == "llrd" else None)
        before = {v.path: np.array(v) for v in model.weights}
        sha = transfer.frozen_checksum(model, mode, 3)
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
        deltas[mode] = {p: (np.array(v) - before[p]).tolist() for v in model.trainable_weights
                        for p in [v.path]}
        if mode == "frozen":
            print("FROZEN_SAME", sha == transfer.frozen_checksum(model, mode, 3))
    print("RESULT" + json.dumps({"replicas": strategy.num_replicas_in_sync,
                                 "policy": keras.mixed_precision.global_policy().name,
                                 "factors": factors, "deltas": deltas}))
""")


@pytest.mark.parametrize("model", [
    "resnet_mini", pytest.param("mobilenetv3_mini", marks=pytest.mark.slow)])
def test_batchnorm_backbones_train_mirrored_in_bfloat16_with_layer_wise_decay(model):
    import numpy as np
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", BACKBONE_SCRIPT, model], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FROZEN_SAME True" in proc.stdout  # frozen blocks (BatchNorm too) unchanged
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    assert (out["replicas"], out["policy"]) == (2, "mixed_bfloat16")
    plain, decayed = out["deltas"]["fine_tune"], out["deltas"]["llrd"]
    assert set(out["factors"]) < set(plain) and set(out["factors"].values()) == {
        0.125, 0.25, 0.5}
    # One step from the same weights and batch, each replica's variable (TF names them
    # .../replica_1) moves by its factor times what plain fine-tuning moves it.
    for path, delta in plain.items():
        np.testing.assert_allclose(np.array(decayed[path]),
                                   out["factors"].get(path, 1.0) * np.array(delta),
                                   rtol=2e-3, atol=1e-7, err_msg=path)

