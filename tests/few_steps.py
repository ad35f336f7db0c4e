"""What the backbone and strategy tests share: a few SGD steps on a fixed batch, each layer's
weights before and after, and the check that a fused group computes what its nets do."""

import numpy as np

from keras_transfer.nets import fused, transfer
from keras_transfer.training.recipe import TrainConfig, compile_model


def fit_a_few_steps(model, steps=3, seed=0):
    """`steps` SGD steps of 16 images (5 classes; a non-zero mean, so BatchNorm moves)."""
    compile_model(model, TrainConfig(steps=steps, eval_every=steps, learning_rate=0.05), 5)
    rng = np.random.RandomState(seed)
    x = (rng.randn(16 * steps, 32, 32, 3) * 50 + 20).astype("float32")
    model.fit(x, rng.randint(0, 5, 16 * steps), batch_size=16, epochs=1, steps_per_epoch=steps,
              verbose=0)


def weights_by_layer(model):
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers
            if layer.get_weights()}


def changed(before, after):
    """The layers whose weights differ between two `weights_by_layer` snapshots."""
    return sorted(name for name in before if not all(
        np.array_equal(a, b) for a, b in zip(before[name], after[name])))


def check_fused_heads(nets, source, arch, names):
    """The fused model of `nets` (frozen heads on one trunk) predicts what each net does alone,
    and each head's blocks 1..n are the source's."""
    models = fused.build_heads(nets, source, arch, list(range(1, len(nets) + 1)), names)
    joined = fused.model(nets, models)
    x = np.random.RandomState(2).randn(4, 32, 32, 3).astype("float32") * 50
    for alone, together in zip(models, joined.predict(x, verbose=0)):
        np.testing.assert_allclose(alone.predict(x, verbose=0), together, rtol=1e-5, atol=1e-6)
    for net, model in zip(nets, models):
        assert transfer.weights_checksum(model, net.n) == transfer.weights_checksum(source, net.n)


def check_saved_model_serves(run_dir, size=32, atol=1e-6):
    """The run's SavedModel gives, on uint8 images, what its model.keras computes on them (to
    `atol`: a bfloat16 net's two graphs may round differently, ~1e-5 at 224 px)."""
    import json

    import keras
    import tensorflow as tf

    from keras_transfer import data
    model = keras.saving.load_model(str(run_dir / "model.keras"))
    served = tf.saved_model.load(str(run_dir / "saved_model"))
    mean = json.loads((run_dir / "manifest.json").read_text())["data"]["mean"]
    images = np.random.RandomState(0).randint(0, 256, (3, size, size, 3)).astype("uint8")
    expected = model(data.serving_preprocess(images, size, mean), training=False).numpy()
    np.testing.assert_allclose(served.serving_default(images).numpy(), expected,
                               rtol=1e-5, atol=atol)
