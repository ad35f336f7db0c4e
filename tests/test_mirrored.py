"""MirroredStrategy over two logical CPUs gives the same training as one replica.

Runs in a subprocess: logical devices must be configured before TensorFlow initialises.
"""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_transfer.experiment.config import make_strategy
    from keras_transfer.nets import alexnet
    from keras_transfer.training.recipe import TrainConfig, compile_model

    arch = alexnet.Architecture(num_classes=5, input_size=32, width=0.25, fc_units=32,
                                dropout=0.0, init="he", input_scale=1 / 64)
    config = TrainConfig(steps=3, eval_every=3, batch_size=8, learning_rate=0.01)
    rng = np.random.RandomState(0)
    x = rng.randn(48, 32, 32, 3).astype("float32") * 60
    y = rng.randint(0, 5, 48).astype("int32")
    keras.utils.set_random_seed(1)
    initial = alexnet.build(arch).get_weights()
    out = {}
    for name in ("default", "mirrored"):
        strategy = make_strategy(name)
        global_batch = config.batch_size * strategy.num_replicas_in_sync
        with strategy.scope():
            model = alexnet.build(arch)
            model.set_weights(initial)
            compile_model(model, config, arch.num_classes)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16 if name == "default" else global_batch)
        history = model.fit(data, epochs=1, steps_per_epoch=3, verbose=0)
        out[name] = {"replicas": strategy.num_replicas_in_sync,
                     "loss": history.history["loss"][-1],
                     "weights": [w.tolist() for w in model.get_weights()[-2:]]}
    print("RESULT" + json.dumps(out))
""")


def test_two_replicas_match_one_replica_for_the_same_global_batch():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    # global batch 16 both ways: 1 x 16 and 2 replicas x 8; loss includes weight decay
    assert abs(out["default"]["loss"] - out["mirrored"]["loss"]) < 1e-4 * max(
        1.0, abs(out["default"]["loss"]))
    import numpy as np
    for a, b in zip(out["default"]["weights"], out["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)
