"""The residual family on the layer axis: resnet_mini (ours) and ResNet-50 (keras.applications)
have the shapes and parameter counts of their definitions, and copying, frozen BatchNorm
(the shortcuts' too), surgical and layer-wise decay work on residual blocks."""

import json

import keras
import pytest
from few_steps import (check_fused_heads, changed, check_saved_model_serves, fit_a_few_steps,
                       weights_by_layer)

from keras_transfer import catalog
from keras_transfer.experiment import plan
from keras_transfer.nets import backbones, transfer
from keras_transfer.training.recipe import TrainConfig

MODEL = "resnet_mini"
ARCH = backbones.architecture(MODEL, 5)


@pytest.fixture(scope="module")
def source():
    keras.utils.set_random_seed(0)
    model = backbones.build(backbones.architecture(MODEL, 7), "source")
    fit_a_few_steps(model)  # moving statistics away from their init
    return model


def test_resnet_mini_has_its_definitions_shapes_and_parameters(source):
    assert catalog.layer_axis(MODEL) == catalog.RESNET_MINI_LAYERS
    model = backbones.build(backbones.architecture(MODEL, 20))
    # stem 3x3x3x16 (stride 2) + BN; stage 1: 2 blocks of two 3x3x16x16 convs; stage 2: 3x3x16x32,
    # 3x3x32x32, a 1x1x16x32 shortcut, then 2 x 3x3x32x32; stage 3 likewise at 64; BN 4 per
    # channel; classifier 64x20 + 20.
    assert model.count_params() == 496 + 2 * 4736 + 14720 + 18688 + 58112 + 74240 + 1300
    shapes = [tuple(backbones.cut_tensor(model, n).shape[1:]) for n in range(1, 9)]
    assert shapes == [(16, 16, 16)] * 3 + [(8, 8, 32)] * 2 + [(4, 4, 64)] * 2 + [(20,)]
    counts = [len(backbones.block_layers(source, n)) for n in range(9)]
    assert counts == sorted(counts) and len(set(counts)) == 9
    assert counts[8] == len(source.layers) - 2  # every layer but the input and the softmax
    # Block 4 (stage2_block1) holds its two convs, its shortcut and their BatchNorms.
    block4 = {layer.name for layer in backbones.block_layers(source, 4)} - {
        layer.name for layer in backbones.block_layers(source, 3)}
    assert block4 == {f"stage2_block1{part}" for part in (
        "_1_conv", "_1_bn", "_1_relu", "_2_conv", "_2_bn", "_shortcut_conv", "_shortcut_bn",
        "_add", "")}
    assert len(model.losses) == 16  # L2 on 15 convs and the classifier, none on BatchNorm
    assert backbones.family_of(model) == "resnet_mini"


def test_resnet50_is_keras_resnet50_cut_at_its_stages():
    model = backbones.build(backbones.architecture("resnet50", 1000))
    assert model.count_params() == 25_636_712  # keras.applications.ResNet50 with its top
    shapes = [tuple(backbones.cut_tensor(model, n).shape[1:]) for n in range(1, 8)]
    assert shapes == [(56, 56, 64), (56, 56, 256), (28, 28, 512), (28, 28, 512),
                      (14, 14, 1024), (14, 14, 1024), (7, 7, 2048)]
    assert backbones.family_of(model) == "resnet50"
    assert catalog.max_n("resnet50") == 7


def test_frozen_residual_blocks_keep_every_batchnorm_bitwise(source):
    keras.utils.set_random_seed(1)
    model = transfer.build(ARCH, 4, "frozen", source)
    assert transfer.weights_checksum(model, 4) == transfer.weights_checksum(source, 4)
    frozen = {layer.name for layer in backbones.block_layers(model, 4)}
    before = weights_by_layer(model)  # BatchNorm's moving statistics are among its weights
    fit_a_few_steps(model, seed=1)
    moved = changed(before, weights_by_layer(model))
    assert not frozen & set(moved)
    assert "stage2_block1_shortcut_bn" in frozen
    assert set(moved) == {name for name in before if name not in frozen}  # everything above


def test_surgical_and_layer_wise_decay_on_residual_blocks(source):
    keras.utils.set_random_seed(1)
    model = transfer.build(ARCH, 4, "surgical", source)
    before = weights_by_layer(model)
    fit_a_few_steps(model)
    assert changed(before, weights_by_layer(model)) == sorted(
        [f"stage2_block1_{p}" for p in ("1_bn", "1_conv", "2_bn", "2_conv", "shortcut_bn",
                                        "shortcut_conv")] + ["classifier"])
    llrd = transfer.build(ARCH, 2, "llrd", source)
    factors = transfer.lr_multipliers(llrd, 2, 0.5)
    assert factors["stem_conv/kernel"] == 0.25 and factors["stage1_block1_2_bn/gamma"] == 0.5
    assert "stage1_block2_1_conv/kernel" not in factors  # block 3: fresh, full rate


def test_fused_frozen_heads_on_a_residual_trunk_compute_what_each_net_does(source):
    nets = [plan.copied("A", n, "B", False) for n in (1, 4, 7)]
    check_fused_heads(nets, source, ARCH, ["a1", "a4", "a7"])


@pytest.mark.slow
def test_a_resnet_sweep_with_every_strategy_runs_and_serves(tmp_path):
    from keras_transfer.experiment import runner
    from keras_transfer.experiment.config import SweepConfig

    config = SweepConfig(workdir=str(tmp_path), model=MODEL, layers=(2, 5),
                         experiments=("base", "transfer", *catalog.ADAPTATION_KINDS),
                         recipe=TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000))
    rows = {r["net"]: r for r in runner.run_sweep(config)}
    assert sorted(rows) == sorted(["baseA", "baseB"] + [
        f"{s}{n}{t}{suffix}" for s, t in (("A", "B"), ("B", "A")) for n in (2, 5)
        for suffix in ("", "+", "-truncate", "-surgical", "-lp_ft", "-llrd")])
    assert {r["model"] for r in rows.values()} == {MODEL}
    run = tmp_path / "runs" / "r0"
    base = keras.saving.load_model(str(run / "baseA" / "model.keras"))
    frozen = keras.saving.load_model(str(run / "A2B" / "model.keras"))
    assert transfer.weights_checksum(frozen, 2) == transfer.weights_checksum(base, 2)
    # LP-FT nets side by side, each from its own AnB's every weight
    lp_ft = json.loads((run / "A5B-lp_ft" / "manifest.json").read_text())
    assert lp_ft["fused"]["group"] == "r0-A-B-lp_ft" and lp_ft["fused"]["trunk_net"] is None
    anb = keras.saving.load_model(str(run / "A5B" / "model.keras"))
    assert lp_ft["copied_weights_sha256"] == transfer.weights_checksum(
        anb, backbones.num_cuts(anb))
    plus = run / "A2B-llrd"
    check_saved_model_serves(plus)
