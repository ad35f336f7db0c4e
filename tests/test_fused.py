"""Fused groups (frozen heads, fine-tuned nets side by side) train exactly as the same nets
trained one at a time (dropout off)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from keras_transfer.experiment import groups, plan
from keras_transfer.experiment.config import SweepConfig
from keras_transfer.nets import alexnet, transfer
from keras_transfer.nets import fused
from keras_transfer.training import fit
from keras_transfer.training.recipe import TrainConfig, compile_model

ARCH = alexnet.Architecture(num_classes=5, input_size=32, width=0.25, fc_units=32, dropout=0.0)
RECIPE = TrainConfig(steps=4, eval_every=4, batch_size=8, learning_rate=0.05)
SEEDS = {1: 11, 2: 12, 3: 13, 5: 15, 7: 17}


def batches():
    """Four fixed batches; every net in a test sees them in the same order."""
    rng = np.random.RandomState(0)
    x = (rng.randn(32, 32, 32, 3) * 60).astype("float32")
    y = rng.randint(0, 5, 32).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def layer_weights(model, i):
    return alexnet.layer(model, i).get_weights()


def train_fused(nets, source, seeds=SEEDS, cache=None, llrd_decay=None, recipe=RECIPE):
    """Trains the group as train_group does (the previous group's model when it has the same
    shape and `cache` holds it); returns the nets' own models holding the trained weights."""
    models = fused.build_heads(nets, source, ARCH, [seeds[n.n] for n in nets])
    model, inner = groups.compiled_group(nets, models, ARCH, recipe, {} if cache is None else cache,
                                         llrd_decay)
    model.fit(batches().map(lambda x, y: (x, (y,) * len(nets))), epochs=1, verbose=0)
    for target, trained in zip(models, inner):
        target.set_weights(trained.get_weights())
    return models


def train_alone(net, source, llrd_decay=None, recipe=RECIPE):
    import keras
    keras.utils.set_random_seed(SEEDS[net.n])
    model = transfer.build(ARCH, net.n, net.mode, source=source)
    compile_model(model, recipe, ARCH.num_classes, lr_multipliers=(
        transfer.lr_multipliers(model, net.n, llrd_decay) if llrd_decay else None))
    model.fit(batches(), epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def source():
    import keras
    keras.utils.set_random_seed(0)
    return alexnet.build(alexnet.Architecture(num_classes=7, input_size=32, width=0.25,
                                              fc_units=32, dropout=0.0))


def test_fused_heads_equal_separately_trained_nets(source):
    nets = [plan.copied("A", n, "B", False) for n in (2, 5, 7)]
    heads = train_fused(nets, source)
    for net, head in zip(nets, heads):
        alone = train_alone(net, source)
        for i in range(1, net.n + 1):  # frozen: still the source's, bit for bit
            for h, s in zip(layer_weights(head, i), layer_weights(source, i), strict=True):
                np.testing.assert_array_equal(h, s)
        assert_same_updates(net, head, alone, source, range(net.n + 1, alexnet.NUM_LAYERS + 1))


def assert_same_updates(net, fused_model, alone, source, layers):
    """The fused net's weight updates in `layers` equal the separately trained net's."""
    import keras
    keras.utils.set_random_seed(SEEDS[net.n])
    init = transfer.build(ARCH, net.n, net.mode, source=source)  # both started here
    for i in layers:
        for h, a, w0 in zip(layer_weights(fused_model, i), layer_weights(alone, i),
                            layer_weights(init, i), strict=True):
            # Compare the updates, not the weights: at this width Caffe's init makes some
            # updates ~1e-7 of the weights, which a tolerance on weights would not see.
            scale = np.abs(a - w0).max()
            assert scale > 0, f"{net.name} layer {i} did not train"
            np.testing.assert_allclose(h - w0, a - w0, rtol=1e-3, atol=1e-4 * scale,
                                       err_msg=f"{net.name} layer {i}")


def test_random_filter_heads_share_one_random_trunk():
    nets = [plan.random_filters(n) for n in (1, 3, 5)]
    heads = train_fused(nets, None)
    import keras
    keras.utils.set_random_seed(SEEDS[5])
    trunk = transfer.build(ARCH, 5, "random_frozen")  # the largest net's init is the trunk
    for net, head in zip(nets, heads):
        for i in range(1, net.n + 1):
            for h, t in zip(layer_weights(head, i), layer_weights(trunk, i), strict=True):
                np.testing.assert_array_equal(h, t)
        assert [alexnet.layer(head, i).trainable for i in range(1, 9)] == \
            [False] * net.n + [True] * (8 - net.n)
    # Each head's fresh layers came from its own seed: random1's conv2 is not random3's.
    assert not np.array_equal(layer_weights(heads[0], 2)[0], layer_weights(heads[1], 2)[0])


def test_a_members_metrics_are_named_as_a_single_nets():
    logs = {"loss": 3.0, "out3_loss": 1.5, "out3_top1": 0.25, "val_out3_top1": 0.5,
            "out1_top1": 0.1, "val_out1_loss": 2.0}
    assert fit.Member("d", "out3_").metrics(logs) == {"loss": 1.5, "top1": 0.25, "val_top1": 0.5}
    assert fit.Member("d", "out1_").metrics(logs) == {"top1": 0.1, "val_loss": 2.0}
    alone = {"loss": 3.0, "top1": 0.5, "val_top1": 0.25}
    assert fit.Member("d").metrics(alone) == alone


def test_groups_only_frozen_nets_with_same_source_and_target():
    nets = plan.make_plan([1, 2, 3], ("base", "selffer", "transfer", "random_filters"))
    done = {"A2B"}
    is_done = lambda net: net.name in done
    a3b = next(n for n in nets if n.name == "A3B")
    assert [n.name for n in groups.pending_group(a3b, nets, is_done)] == ["A1B", "A3B"]
    rand = next(n for n in nets if n.name == "random2")
    assert [n.name for n in groups.pending_group(rand, nets, is_done)] == \
        ["random1", "random2", "random3"]
    for name in ("baseA", "A2B"):  # base, finished: trained alone
        net = next(n for n in nets if n.name == name)
        assert groups.pending_group(net, nets, is_done) == []


@pytest.mark.slow  # ~40 s on 2 cores: a real sweep (baseAll, then random1 + random2 fused)
def test_fused_sweep_writes_standalone_run_directories(tmp_path):
    import json
    import os

    import keras

    from keras_transfer.experiment import runner

    recipe = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000)
    config = SweepConfig(workdir=str(tmp_path), layers=(1, 2),
                                experiments=("random_filters",), recipe=recipe, export=False)
    rows = {r["net"]: r for r in runner.run_sweep(config)}
    assert sorted(rows) == ["baseAll", "random1", "random2"]
    assert set(rows["random1"]) == set(rows["baseAll"])  # the same row schema as a lone net
    manifests = {n: json.load(open(tmp_path / "runs" / "r0" / n / "manifest.json"))
                 for n in ("random1", "random2")}
    assert manifests["random1"]["fused"]["nets"] == ["random1", "random2"]
    assert "fused" not in json.load(open(tmp_path / "runs" / "r0" / "baseAll" / "manifest.json"))
    history = [json.loads(line) for line in open(tmp_path / "runs" / "r0" / "random2" / "history.jsonl")]
    assert [h["step"] for h in history] == [2, 4] and rows["random2"]["top1"] == \
        history[-1]["val_top1"]
    assert os.listdir(tmp_path / "runs" / "r0" / "random1" / "validation")  # TensorBoard curves
    nets = {n: keras.saving.load_model(tmp_path / "runs" / "r0" / n / "model.keras") for n in rows}
    assert nets["random1"].name == "random1"
    for a, b in zip(layer_weights(nets["random1"], 1), layer_weights(nets["random2"], 1)):
        np.testing.assert_array_equal(a, b)  # one shared random trunk
    assert not os.path.exists(tmp_path / "fused")  # group checkpoints removed when done
    again = runner.run_sweep(config)
    assert [r["finished_at"] for r in again] == [rows[r["net"]]["finished_at"] for r in again]


def test_fused_fine_tuned_nets_equal_separately_trained_nets(source):
    nets = [plan.copied("A", n, "B", True) for n in (1, 3)]
    models = train_fused(nets, source)
    for net, model in zip(nets, models):
        assert all(alexnet.layer(model, i).trainable for i in range(1, 9))
        # every layer trains, the copied ones too
        assert_same_updates(net, model, train_alone(net, source), source,
                            range(1, alexnet.NUM_LAYERS + 1))


def test_fused_lp_ft_nets_each_continue_their_own_parent(source):
    """LP-FT nets side by side: each starts from its own AnB (a parent per member) and trains
    as it would alone."""
    import keras
    nets = [plan.adapted("lp_ft", "A", n, "B") for n in (1, 3)]
    parents = []
    for n in (1, 3):  # stand-ins for A1B and A3B: 5-way nets whose every layer is copied
        keras.utils.set_random_seed(40 + n)
        parents.append(transfer.build(ARCH, n, "frozen", source=source))
    assert groups.group_name(groups.group_key(nets[0])) == "r0-A-B-lp_ft"
    models = train_fused(nets, parents)
    for net, model, parent in zip(nets, models, parents):
        assert_same_updates(net, model, train_alone(net, parent), parent,
                            range(1, alexnet.NUM_LAYERS + 1))


def test_fused_llrd_nets_each_learn_at_their_own_decayed_rates(source):
    """llrd nets side by side share their variables' paths, yet each net's block k learns at
    decay ** (n + 1 - k) of its own n, as it would alone."""
    nets = [plan.adapted("llrd", "A", n, "B") for n in (2, 5)]
    assert groups.group_name(groups.group_key(nets[0])) == "r0-A-B-llrd"
    # 10x the rate: at 0.05 the decayed updates of conv2's biases (1.0) are below float32's
    # resolution there, and the test could not tell a frozen layer from a slow one.
    recipe = dataclasses.replace(RECIPE, learning_rate=0.5)
    models = train_fused(nets, source, llrd_decay=0.7, recipe=recipe)
    for net, model in zip(nets, models):
        alone = train_alone(net, source, llrd_decay=0.7, recipe=recipe)
        assert_same_updates(net, model, alone, source, range(1, alexnet.NUM_LAYERS + 1))
    # The decay is what the test sees: without it, block 1 of A5B-llrd moves 0.7 ** -5 = 6x more.
    plain = train_alone(plan.copied("A", 5, "B", True), source, recipe=recipe)
    moved = lambda model: np.abs(layer_weights(model, 1)[0] - layer_weights(source, 1)[0]).max()
    assert moved(plain) / moved(models[1]) == pytest.approx(0.7 ** -5, rel=0.05)


def test_fine_tuned_nets_group_apart_from_frozen_ones():
    nets = plan.make_plan([1, 2, 3], ("base", "selffer", "transfer"))
    never = lambda net: False
    a2b_plus = next(n for n in nets if n.name == "A2B+")
    assert [n.name for n in groups.pending_group(a2b_plus, nets, never)] == \
        ["A1B+", "A2B+", "A3B+"]
    assert groups.group_name(groups.group_key(a2b_plus)) == "r0-A-B+"
    a2b = next(n for n in nets if n.name == "A2B")
    assert [n.name for n in groups.pending_group(a2b, nets, never)] == ["A1B", "A2B", "A3B"]


def test_a_group_reusing_the_previous_groups_model_trains_as_a_new_one(source):
    nets = [plan.copied("A", n, "B", True) for n in (1, 3)]
    other_seeds = {n: seed + 100 for n, seed in SEEDS.items()}
    cache = {}
    fresh = train_fused(nets, source, other_seeds, cache)  # a new fused model
    first = next(iter(cache.values()))[0]
    train_fused(nets, source, cache=cache)  # the same shape: reuses it, and trains it further
    reused = train_fused(nets, source, other_seeds, cache)  # back to the first seeds, reused
    assert len(cache) == 1 and next(iter(cache.values()))[0] is first  # one model, one trace
    for a, b in zip(fresh, reused):
        for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert [m.name for m in reused] == ["caffenet1", "caffenet3"]  # the nets' own models


def test_a_reused_group_model_starts_from_the_fresh_models_dropout_state(source):
    """With dropout, a reused compiled model must draw the masks a new one would: its seed
    generators are reset with the weights, so no net depends on the groups before it."""
    arch = alexnet.Architecture(num_classes=5, input_size=32, width=0.25, fc_units=32,
                                dropout=0.5)
    nets = [plan.copied("A", n, "B", True) for n in (2, 3)]
    first = fused.build_heads(nets, source, arch, [21, 21])
    cache = {}
    model, inner = groups.compiled_group(nets, first, arch, RECIPE, cache)
    model.fit(batches().map(lambda x, y: (x, (y,) * len(nets))), epochs=1, verbose=0)
    fresh = fused.build_heads(nets, source, arch, [22, 22])
    again, again_inner = groups.compiled_group(nets, fresh, arch, RECIPE, cache)
    assert again is model  # the same shape: reused, not traced again
    from keras_transfer.training import checkpoints
    for reused, new in zip(again_inner, fresh):
        states = checkpoints.rng_states(reused)
        assert states, "dropout layers carry seed-generator state"
        for mine, theirs in zip(states, checkpoints.rng_states(new)):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
