"""The model code (CaffeNet, the transfer builder, Caffe's SGD) also runs under KERAS_BACKEND=jax.

A Keras backend is chosen once per process, so the checks run in a subprocess. jax is in the
test extras; without it (a bare install) the test is skipped.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("jax")

SCRIPT = textwrap.dedent("""
    import json
    import keras
    import numpy as np
    from keras_transfer.nets import alexnet, transfer
    from keras_transfer.training.recipe import TrainConfig, compile_model

    out = {"backend": keras.backend.backend()}
    arch = alexnet.Architecture(num_classes=5, input_size=32, width=0.25, fc_units=64)
    rng = np.random.RandomState(0)
    x = rng.randn(16, 32, 32, 3).astype("float32") * 50
    y = np.arange(16) % 5
    config = TrainConfig(steps=2, eval_every=2, learning_rate=0.05, momentum=0.0)

    keras.utils.set_random_seed(0)
    source = transfer.build(arch, 0, "fine_tune")
    compile_model(source, config, 5)
    source.fit(x, y, batch_size=8, epochs=1, verbose=0)

    def layer_weights(model, n):
        return [np.asarray(w) for w in alexnet.layer(model, n).get_weights()]

    def equal(a, b):
        return all(np.array_equal(p, q) for p, q in zip(a, b))

    for mode in ("frozen", "fine_tune", "random_frozen"):
        net = transfer.build(arch, 3, mode, source=None if mode == "random_frozen" else source)
        copied = equal(layer_weights(net, 2), layer_weights(source, 2))
        before = [layer_weights(net, n) for n in (2, 5)]
        compile_model(net, config, 5)
        net.fit(x, y, batch_size=8, epochs=1, verbose=0)
        out[mode] = {"copied": copied,
                     "conv2_unchanged": equal(before[0], layer_weights(net, 2)),
                     "conv5_unchanged": equal(before[1], layer_weights(net, 5)),
                     "probs": np.asarray(net.predict(x[:2], verbose=0)).sum(axis=1).tolist()}

    # Caffe's lr_mult 2 on biases: one momentum-free step moves fc8's bias twice as far.
    deltas = {}
    for multiplier in (1.0, 2.0):
        keras.utils.set_random_seed(1)
        net = transfer.build(arch, 0, "fine_tune")
        start = layer_weights(net, 8)
        compile_model(net, TrainConfig(steps=1, eval_every=1, learning_rate=0.05,
                                                   momentum=0.0,
                                                   bias_lr_multiplier=multiplier), 5)
        net.train_on_batch(x[:8], y[:8])
        deltas[multiplier] = [w - s for w, s in zip(layer_weights(net, 8), start)]
    out["kernel_step_equal"] = bool(np.allclose(deltas[1.0][0], deltas[2.0][0], atol=1e-7))
    out["bias_step_ratio"] = float(np.abs(deltas[2.0][1]).sum() / np.abs(deltas[1.0][1]).sum())

    path = "model.keras"
    net.save(path)
    again = keras.saving.load_model(path)
    out["reload_max_diff"] = float(np.abs(np.asarray(again.predict(x[:4], verbose=0))
                                          - np.asarray(net.predict(x[:4], verbose=0))).max())
    print("RESULT " + json.dumps(out))
""")


def test_model_code_runs_under_jax(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["backend"] == "jax"
    assert out["frozen"] == {**out["frozen"], "copied": True, "conv2_unchanged": True,
                             "conv5_unchanged": False}
    assert out["fine_tune"] == {**out["fine_tune"], "copied": True, "conv2_unchanged": False}
    assert out["random_frozen"] == {**out["random_frozen"], "copied": False,
                                    "conv2_unchanged": True, "conv5_unchanged": False}
    for mode in ("frozen", "fine_tune", "random_frozen"):
        assert out[mode]["probs"] == pytest.approx([1.0, 1.0], abs=1e-4)
    assert out["kernel_step_equal"]
    assert out["bias_step_ratio"] == pytest.approx(2.0, rel=1e-3)
    assert out["reload_max_diff"] < 1e-6
