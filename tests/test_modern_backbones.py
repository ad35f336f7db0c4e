"""ResNet-18, the ViTs, EfficientNetV2-B0 and ConvNeXt-Tiny on the layer axis: the shapes and
parameter counts of their definitions, cut points that are not CaffeNet's eight, and freezing
that keeps LayerNorm, attention, BatchNorm and nested layers bitwise; the report's n axis
follows the rows' model."""

import keras
import numpy as np
import pytest
from few_steps import changed, check_saved_model_serves, fit_a_few_steps, weights_by_layer

from keras_transfer import catalog, report
from keras_transfer.nets import backbones, transfer
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.training.recipe import TrainConfig


def test_resnet18_is_he_et_al_imagenet_resnet18():
    model = backbones.build(backbones.architecture("resnet18", 1000))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 11_689_512  # torchvision's resnet18 (BatchNorm statistics aside)
    shapes = [tuple(backbones.cut_tensor(model, n).shape[1:]) for n in range(1, 10)]
    assert shapes == [(56, 56, 64)] * 3 + [(28, 28, 128)] * 2 + [(14, 14, 256)] * 2 + \
        [(7, 7, 512)] * 2
    assert backbones.family_of(model) == "resnet18" and catalog.max_n("resnet18") == 9
    assert backbones.num_cuts(model) == len(catalog.layer_axis("resnet18")) == 10


def test_vit_tiny_is_vit_ti16_with_average_pooling():
    model = backbones.build(backbones.architecture("vit_tiny", 1000))
    # ViT-Ti/16 (timm's vit_tiny_patch16_224: 5,717,416) less the class token and its
    # position embedding, 2 x 192: tokens are average-pooled instead.
    assert model.count_params() == 5_717_416 - 2 * 192
    assert backbones.num_cuts(model) == 14 and catalog.max_n("vit_tiny") == 13
    shapes = {tuple(backbones.cut_tensor(model, n).shape[1:]) for n in range(1, 14)}
    assert shapes == {(196, 192)}
    mini = backbones.build(backbones.architecture("vit_mini", 10))
    assert backbones.num_cuts(mini) == len(catalog.VIT_MINI_LAYERS) == 8
    assert backbones.family_of(mini) == "vit"


@pytest.mark.parametrize("model_name, ctor, width", [
    ("efficientnetv2_b0", keras.applications.EfficientNetV2B0, 1280),
    ("convnext_tiny", keras.applications.ConvNeXtTiny, 768)])
def test_keras_applications_trunks_with_our_head(model_name, ctor, width):
    model = backbones.build(backbones.architecture(model_name, 1000, input_size=64))
    trunk = ctor(include_top=False, weights=None, input_shape=(64, 64, 3),
                 include_preprocessing=False)
    assert model.count_params() == trunk.count_params() + width * 1000 + 1000
    axis = catalog.layer_axis(model_name)
    assert backbones.num_cuts(model) == len(axis)
    sizes = [backbones.cut_tensor(model, n).shape[1] for n in range(1, len(axis))]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == (32 if width == 1280 else 16)


def test_frozen_vit_blocks_keep_layernorm_and_attention_bitwise():
    keras.utils.set_random_seed(0)
    source = backbones.build(backbones.architecture("vit_mini", 7), "source")
    fit_a_few_steps(source)
    keras.utils.set_random_seed(1)
    arch = backbones.architecture("vit_mini", 5)
    model = transfer.build(arch, 3, "frozen", source)
    frozen = {layer.name for layer in backbones.block_layers(model, 3)}
    assert {"embed", "block2_norm1", "block2_attention", "block2"} <= frozen
    assert "block3_norm1" not in frozen
    before = weights_by_layer(model)
    fit_a_few_steps(model, seed=1)
    moved = changed(before, weights_by_layer(model))
    assert set(moved) == {name for name in before if name not in frozen}
    # Surgical at n = 4 trains block 3 (cut 4) and the head; truncate reads the tokens.
    surgical = transfer.build(arch, 4, "surgical", source)
    before = weights_by_layer(surgical)
    fit_a_few_steps(surgical)
    assert changed(before, weights_by_layer(surgical)) == sorted(
        [f"block3_{p}" for p in ("attention", "mlp1", "mlp2", "norm1", "norm2")]
        + ["classifier", "head_norm"])
    probe = transfer.build(arch, 2, "truncate", source)
    assert probe.get_layer("probe_pool").input.shape[1:] == (64, 64)
    assert len(probe.layers) < len(model.layers)


def test_frozen_efficientnet_blocks_keep_batchnorm_and_drop_nothing():
    arch = backbones.architecture("efficientnetv2_b0", 5, input_size=32)
    keras.utils.set_random_seed(0)
    source = backbones.build(backbones.architecture("efficientnetv2_b0", 7, input_size=32))
    fit_a_few_steps(source, steps=2)
    model = transfer.build(arch, 4, "frozen", source)
    frozen = backbones.block_layers(model, 4)
    drops = [layer for layer in frozen if isinstance(layer, keras.layers.Dropout)]
    assert drops and all(layer.rate == 0.0 for layer in drops)  # stochastic depth off
    live = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)
            and layer not in frozen and layer.name != "drop"]
    assert live and all(layer.rate > 0 for layer in live)  # above the cut it stays
    before = weights_by_layer(model)
    fit_a_few_steps(model, steps=2, seed=1)
    moved = set(changed(before, weights_by_layer(model)))
    assert not moved & {layer.name for layer in frozen}
    assert "block4a_expand_bn" in moved  # the first block above the cut trains


def test_convnext_freezes_its_nested_stem_and_decays_it():
    arch = backbones.architecture("convnext_tiny", 5, input_size=32)
    model = backbones.build(arch)
    stem = model.get_layer("convnext_tiny_stem")
    assert isinstance(stem, keras.Sequential)
    assert stem.layers[0].kernel_regularizer is not None  # L2 reaches into nested models
    assert stem in backbones.block_layers(model, 1)


def resnet18_rows():
    """A resnet18 sweep's rows (9 cut points), three replicates: bases, and frozen BnB equal
    to the base and AnB 0.01 n below it at n = 1..9, both directions."""
    rows = []
    for rep in range(3):
        common = dict(split="random", split_seed=0, seed=0, replicate=rep, model="resnet18",
                      per_class=None, target_per_class=None, converged=True)
        for target, other in ("AB", "BA"):
            rows.append(dict(common, net=f"base{target}", kind="base", n=0, fine_tune=False,
                             source=None, target=target, top1_best10=0.60 + 0.01 * rep))
            for n in range(1, 10):
                for kind, source, drop in (("selffer", target, 0.0),
                                           ("transfer", other, 0.01 * n)):
                    rows.append(dict(common, net=f"{source}{n}{target}", kind=kind, n=n,
                                     fine_tune=False, source=source, target=target,
                                     top1_best10=0.60 + 0.01 * rep - drop))
    return rows


def test_the_report_axis_and_the_papers_ranges_follow_the_model():
    rows = resnet18_rows()
    assert D.top_n(rows) == 9 and D.axis(rows) == tuple(range(1, 10))
    assert D.top_n([dict(r, model="caffenet_mini") for r in rows]) == 7
    assert D.paper_range(5, 7, 7) == (5, 6, 7) and D.paper_range(5, 7, 9) == (6, 7, 8, 9)
    assert F.ranges(9) == {"1-9": tuple(range(1, 10)), "1-4": (1, 2, 3, 4),
                           "4-9": (4, 5, 6, 7, 8, 9), "6-9": (6, 7, 8, 9)}
    pool, _ = F.transfer_pool(rows)
    drop = F.specificity_drop(pool)
    # BnB − AnB over n = 6..9 is exactly the mean of 0.01 n there: 0.075.
    assert "n=6..9" in drop.name and drop.status == F.HOLDS
    assert "+0.075" in drop.evidence
    tables = "\n".join(report.per_n_tables(rows, comparable=False))
    assert "| n=8 | n=9 |" in tables


@pytest.mark.slow
def test_a_vit_sweep_runs_and_its_fine_tuned_net_serves(tmp_path):
    from keras_transfer.experiment import runner
    from keras_transfer.experiment.config import SweepConfig

    config = SweepConfig(workdir=str(tmp_path), model="vit_mini", layers=(2, 7),
                         experiments=("base", "transfer"),
                         recipe=TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000))
    rows = {r["net"]: r for r in runner.run_sweep(config)}
    assert {"A7B", "A7B+", "B2A+"} <= set(rows) and len(rows) == 10
    run = tmp_path / "runs" / "r0"
    base = keras.saving.load_model(str(run / "baseA" / "model.keras"))
    frozen = keras.saving.load_model(str(run / "A7B" / "model.keras"))
    assert transfer.weights_checksum(frozen, 7) == transfer.weights_checksum(base, 7)
    check_saved_model_serves(run / "A2B+")


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["efficientnetv2_b0", "convnext_tiny"])
def test_a_keras_applications_sweep_runs_fused_in_bfloat16_and_serves(tmp_path, monkeypatch,
                                                                      model_name):
    """The keras.applications families at their own 224 px through the whole product: bases,
    frozen heads fused on one trunk, fine-tuned nets side by side, mixed precision, export."""
    import json

    from images import jpeg

    from keras_transfer.experiment import runner
    from keras_transfer.experiment.config import SweepConfig

    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path / "cache"))
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220),
               "grey": (128, 128, 128)}
    for name, colour in colours.items():
        for split, count in (("train", 4), ("val", 2)):
            (tmp_path / "data" / split / name).mkdir(parents=True)
            for j in range(count):
                (tmp_path / "data" / split / name / f"{j}.JPEG").write_bytes(jpeg(colour))
    (tmp_path / "split.json").write_text(json.dumps({"A": ["red", "green"],
                                                     "B": ["blue", "grey"]}))
    config = SweepConfig(workdir=str(tmp_path / "work"), dataset=f"folder:{tmp_path / 'data'}",
                         split=str(tmp_path / "split.json"), model=model_name, layers=(2, 5),
                         experiments=("base", "transfer"), mixed_precision=True,
                         recipe=TrainConfig(steps=2, eval_every=2, batch_size=4, lr_step=1000))
    rows = {r["net"]: r for r in runner.run_sweep(config)}
    assert sorted(rows) == sorted(["baseA", "baseB", "A2B", "A5B", "A2B+", "A5B+",
                                   "B2A", "B5A", "B2A+", "B5A+"])
    assert {r["steps"] for r in rows.values()} == {2}
    run = tmp_path / "work" / "runs" / "r0"
    manifest = json.loads((run / "A5B" / "manifest.json").read_text())
    assert manifest["fused"]  # A2B and A5B trained as two heads on one frozen trunk
    base = keras.saving.load_model(str(run / "baseA" / "model.keras"))
    frozen = keras.saving.load_model(str(run / "A5B" / "model.keras"))
    assert transfer.weights_checksum(frozen, 5) == transfer.weights_checksum(base, 5)
    check_saved_model_serves(run / "A2B+", size=224, atol=1e-4)
