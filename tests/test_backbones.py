"""The layer axis of a backbone with BatchNorm and residual blocks (MobileNetV3-Small):
cut points, copying by name, frozen BatchNorm, fused heads, and the errors of a bad source."""

import keras
import numpy as np
import pytest
from few_steps import check_fused_heads, check_saved_model_serves, fit_a_few_steps

from keras_transfer import catalog
from keras_transfer.experiment import plan
from keras_transfer.nets import backbones, transfer
from keras_transfer.training.recipe import TrainConfig

MODEL = "mobilenetv3_mini"
ARCH = backbones.architecture(MODEL, 5, dropout=0.0)


def batchnorms(layers):
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def statistics(layers):
    return [(np.array(bn.moving_mean.numpy()), np.array(bn.moving_variance.numpy()))
            for bn in batchnorms(layers)]


@pytest.fixture(scope="module")
def source():
    keras.utils.set_random_seed(0)
    model = backbones.build(backbones.architecture(MODEL, 7, dropout=0.0), "source")
    fit_a_few_steps(model)  # moving statistics away from their init (0, 1)
    return model


def test_cut_points_are_named_nested_blocks(source):
    assert catalog.layer_axis(MODEL) == catalog.MOBILENET_LAYERS
    assert catalog.max_n(MODEL) == 7
    counts = [len(backbones.block_layers(source, n)) for n in range(9)]
    assert counts[0] == 0 and counts == sorted(counts) and len(set(counts)) == 9
    assert counts[8] == len(source.layers) - 2  # every layer but the input and the softmax
    for n in range(1, 8):  # blocks 1..n are a prefix of blocks 1..n+1
        inner = {id(layer) for layer in backbones.block_layers(source, n)}
        assert inner < {id(layer) for layer in backbones.block_layers(source, n + 1)}
    shapes = [tuple(backbones.cut_tensor(source, n).shape[1:]) for n in range(1, 8)]
    assert shapes == [(16, 16, 16), (8, 8, 16), (4, 4, 24), (2, 2, 32), (2, 2, 40),
                      (1, 1, 72), (1, 1, 432)]
    assert backbones.first_conv(source).name == "conv"
    with pytest.raises(ValueError, match="cut point must be 1..8"):
        backbones.cut_tensor(source, 9)


def test_copied_blocks_equal_the_source_and_the_rest_is_fresh(source):
    keras.utils.set_random_seed(1)
    model = transfer.build(ARCH, 3, "frozen", source)
    assert transfer.weights_checksum(model, 3) == transfer.weights_checksum(source, 3)
    copied = {layer.name for layer in backbones.block_layers(model, 3)}
    for layer in model.layers:
        if not layer.get_weights() or layer.name == "classifier":  # 5 vs 7 classes
            continue
        same = all(np.array_equal(a, b) for a, b in
                   zip(layer.get_weights(), source.get_layer(layer.name).get_weights()))
        assert same == (layer.name in copied), layer.name
        assert layer.trainable == (layer.name not in copied), layer.name
    fresh = batchnorms(layer for layer in model.layers if layer.name not in copied)
    assert all(np.array_equal(bn.moving_variance.numpy(), np.ones(bn.moving_variance.shape))
               for bn in fresh)  # each layer's own initializer, not the source's values


def test_frozen_batchnorm_keeps_its_statistics_bitwise(source):
    keras.utils.set_random_seed(1)
    model = transfer.build(ARCH, 4, "frozen", source)
    frozen, sha = backbones.block_layers(model, 4), transfer.weights_checksum(model, 4)
    before = statistics(frozen)
    above = [layer for layer in model.layers if layer not in frozen]
    above_before = statistics(above)
    assert len(before) == 18 and len(above_before) == 16  # stem 1, block0 2, 1-5 3 each
    fit_a_few_steps(model, seed=1)
    after = statistics(frozen)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(before, after))
    assert transfer.weights_checksum(model, 4) == sha
    # BatchNorm above the cut trains and updates its statistics.
    assert all(not np.array_equal(a[0], b[0]) for a, b in zip(above_before, statistics(above)))


def test_fine_tuned_batchnorm_updates_its_statistics(source):
    keras.utils.set_random_seed(1)
    model = transfer.build(ARCH, 4, "fine_tune", source)
    copied = backbones.block_layers(model, 4)
    before = statistics(copied)
    fit_a_few_steps(model, seed=1)
    assert all(not np.array_equal(a[0], b[0]) for a, b in zip(before, statistics(copied)))


def test_weight_decay_on_conv_and_dense_kernels_only():
    model = backbones.build(ARCH)
    decayed = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D,
               keras.layers.Dense)) and type(layer) is not keras.layers.DepthwiseConv2D]
    assert len(model.losses) == len(decayed) == 24  # stem, 11 blocks, conv_1, classifier
    assert backbones.build(backbones.architecture(MODEL, 5, weight_decay=0.0)).losses == []
    # The regularizer survives a save and load (the layer's config holds it).
    config = model.get_layer("classifier").get_config()
    assert config["kernel_regularizer"]["config"]["l2"] == pytest.approx(2.5e-4)


def test_fused_frozen_heads_compute_what_the_standalone_nets_do(source):
    nets = [plan.copied("A", n, "B", False) for n in (1, 3, 7)]
    check_fused_heads(nets, source, ARCH, ["a1", "a3", "a7"])


def test_a_source_of_another_model_names_the_first_mismatch(source):
    wide = backbones.build(backbones.architecture(MODEL, 5, alpha=1.0))
    # Widths round to multiples of 8: x1.0 and x0.75 first differ in block 3's projection.
    with pytest.raises(transfer.TransferError, match=r"cannot copy layer 'expanded_conv_3_"
                       r"project': source shapes \[\(1, 1, 96, 40\)\] != target shapes "
                       r"\[\(1, 1, 96, 32\)\].*same --model"):
        transfer.build(ARCH, 7, "frozen", wide)
    caffenet = backbones.build(backbones.architecture("caffenet_mini", 5))
    with pytest.raises(transfer.TransferError, match="has no layer of that name"):
        transfer.build(ARCH, 1, "frozen", caffenet)


@pytest.mark.slow
def test_a_mobilenet_sweep_runs_end_to_end_and_serves(tmp_path):
    import json

    from keras_transfer.experiment import runner
    from keras_transfer.experiment.config import SweepConfig

    config = SweepConfig(workdir=str(tmp_path), model=MODEL, layers=(1, 4),
                         experiments=("base", "transfer"), recipe=TrainConfig(
                             steps=4, eval_every=2, batch_size=16, lr_step=1000))
    rows = {r["net"]: r for r in runner.run_sweep(config)}
    assert sorted(rows) == sorted(["baseA", "baseB", "A1B", "A1B+", "A4B", "A4B+",
                                   "B1A", "B1A+", "B4A", "B4A+"])
    assert {r["model"] for r in rows.values()} == {MODEL}
    run = tmp_path / "runs" / "r0" / "A4B"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["fused"]["nets"] == ["A1B", "A4B"]  # heads on one frozen trunk
    base = keras.saving.load_model(str(tmp_path / "runs" / "r0" / "baseA" / "model.keras"))
    frozen = keras.saving.load_model(str(run / "model.keras"))
    # The frozen blocks (BatchNorm statistics included) are baseA's, bit for bit.
    assert transfer.weights_checksum(frozen, 4) == transfer.weights_checksum(base, 4) == \
        manifest["copied_weights_sha256"]
    plus = tmp_path / "runs" / "r0" / "A4B+"
    check_saved_model_serves(plus)
