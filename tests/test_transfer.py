import numpy as np
import pytest

from keras_transfer.nets import alexnet, transfer
from keras_transfer.training.recipe import CaffeSGD, TrainConfig, compile_model

ARCH = alexnet.Architecture(num_classes=5, input_size=32, width=0.25, fc_units=64)


def weights(model, n):
    return alexnet.layer(model, n).get_weights()


def equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def source():
    return alexnet.build(alexnet.Architecture(num_classes=7, input_size=32, width=0.25,
                                              fc_units=64))


def fit_a_few_steps(model, steps=3):
    compile_model(model, TrainConfig(steps=steps, eval_every=steps,
                                                 learning_rate=0.05), 5)
    rng = np.random.RandomState(0)
    x = rng.randn(16, 32, 32, 3).astype("float32") * 50
    y = rng.randint(0, 5, 16)
    model.fit(x, y, batch_size=8, epochs=1, steps_per_epoch=steps, verbose=0)


def test_copied_layers_equal_source_bitwise_rest_fresh(source):
    model = transfer.build(ARCH, 3, "frozen", source)
    for n in (1, 2, 3):
        assert equal(weights(model, n), weights(source, n))
    for n in (4, 5, 6, 7):
        assert not equal(weights(model, n), weights(source, n))
    assert [alexnet.layer(model, n).trainable for n in range(1, 9)] == [False] * 3 + [True] * 5


def test_frozen_layers_unchanged_after_training(source):
    model = transfer.build(ARCH, 2, "frozen", source)
    before = {n: weights(model, n) for n in range(1, 9)}
    fit_a_few_steps(model)
    assert equal(weights(model, 1), before[1]) and equal(weights(model, 2), before[2])
    for n in range(3, 9):
        assert not equal(weights(model, n), before[n]), f"layer {n} did not train"


def test_fine_tune_changes_every_layer(source):
    model = transfer.build(ARCH, 4, "fine_tune", source)
    assert all(alexnet.layer(model, n).trainable for n in range(1, 9))
    before = {n: weights(model, n) for n in range(1, 9)}
    fit_a_few_steps(model)
    for n in range(1, 9):
        assert not equal(weights(model, n), before[n]), f"layer {n} did not train"


def test_random_frozen_keeps_random_init_frozen():
    model = transfer.build(ARCH, 3, "random_frozen")
    before = weights(model, 3)
    fit_a_few_steps(model)
    assert equal(weights(model, 3), before)
    assert not alexnet.layer(model, 3).trainable and alexnet.layer(model, 4).trainable


def test_checksum_tracks_copied_layers(source):
    model = transfer.build(ARCH, 5, "frozen", source)
    assert transfer.weights_checksum(model, 5) == transfer.weights_checksum(source, 5)
    assert transfer.weights_checksum(model, 6) != transfer.weights_checksum(source, 6)


@pytest.mark.parametrize("n, message", [(8, "n must be in 0..7 .* got 8"), (-1, "0..7"),
                                        (2.5, "must be an integer"), (True, "must be an integer")])
def test_bad_n_is_a_clear_error(source, n, message):
    with pytest.raises(transfer.TransferError, match=message):
        transfer.build(ARCH, n, "frozen", source)


def test_missing_source_and_bad_mode(tmp_path):
    with pytest.raises(transfer.TransferError, match="needs a source"):
        transfer.build(ARCH, 2, "frozen")
    with pytest.raises(transfer.TransferError, match="unknown mode"):
        transfer.build(ARCH, 2, "thaw")
    with pytest.raises(transfer.TransferError, match="missing.keras' does not exist. Train its"):
        transfer.build(ARCH, 2, "frozen", str(tmp_path / "missing.keras"))
    (tmp_path / "garbage.keras").write_bytes(b"not a zip")
    with pytest.raises(transfer.TransferError, match="exists but cannot be loaded"):
        transfer.build(ARCH, 2, "frozen", str(tmp_path / "garbage.keras"))


def test_mismatched_shapes_are_a_clear_error():
    wide = alexnet.build(alexnet.Architecture(num_classes=5, input_size=32, width=0.5,
                                              fc_units=64))
    with pytest.raises(transfer.TransferError, match="conv1.*shape"):
        transfer.build(ARCH, 1, "frozen", wide)


def test_source_from_keras_file(tmp_path, source):
    path = str(tmp_path / "base.keras")
    source.save(path)
    model = transfer.build(ARCH, 2, "fine_tune", path)
    assert equal(weights(model, 2), weights(source, 2))


def test_bias_learning_rate_is_doubled():
    # One SGD step without momentum: the bias moves twice as far per unit gradient.
    import keras
    opt = CaffeSGD(learning_rate=0.1, momentum=0.0, bias_lr_multiplier=2.0)
    kernel = keras.Variable(np.ones((2,), "float32"), name="kernel")
    bias = keras.Variable(np.ones((2,), "float32"), name="bias")
    opt.apply([np.ones(2, "float32"), np.ones(2, "float32")], [kernel, bias])
    np.testing.assert_allclose(np.asarray(kernel), 0.9)
    np.testing.assert_allclose(np.asarray(bias), 0.8)
