"""The adaptation strategies beside the paper's: truncate, surgical, LP-FT and layer-wise
learning-rate decay nets (what is copied, what trains and how fast, on CaffeNet and on
MobileNetV3 with BatchNorm), their plan names and groups, and the report's strategy section on
results with known numbers."""

import keras
import numpy as np
import pytest
from few_steps import check_fused_heads, changed, fit_a_few_steps, weights_by_layer
from test_report import REP_JITTER, REP_SHIFT, T2, random_split_rows, row

from keras_transfer import catalog, report
from keras_transfer.experiment import groups, plan
from keras_transfer.nets import backbones, transfer
from keras_transfer.reporting import strategies
from keras_transfer.training.recipe import TrainConfig, compile_model

CAFFENET = backbones.architecture("caffenet_small", 5, dropout=0.0)
MOBILENET = backbones.architecture("mobilenetv3_mini", 5, dropout=0.0)


@pytest.fixture(scope="module")
def sources():
    keras.utils.set_random_seed(0)
    return {"caffenet": backbones.build(backbones.architecture("caffenet_small", 7)),
            "mobilenet": backbones.build(backbones.architecture("mobilenetv3_mini", 7))}


def test_truncate_keeps_blocks_1_to_n_frozen_under_a_new_linear_classifier(sources):
    model = transfer.build(CAFFENET, 3, "truncate", sources["caffenet"])
    weighted = [layer.name for layer in model.layers if layer.get_weights()]
    assert weighted == ["conv1", "conv2", "conv3", "probe"]  # conv4..fc8 are dropped
    assert [w.shape for w in model.get_layer("probe").get_weights()] == [(96, 5), (5,)]
    assert model.output_shape == (None, 5)
    assert transfer.weights_checksum(model, 3) == transfer.weights_checksum(sources["caffenet"], 3)
    assert [v.path for v in model.trainable_weights] == ["probe/kernel", "probe/bias"]
    before = weights_by_layer(model)
    fit_a_few_steps(model)
    assert changed(before, weights_by_layer(model)) == ["probe"]
    fc = transfer.build(CAFFENET, 7, "truncate", sources["caffenet"])  # fc7: 512 features
    assert fc.get_layer("probe").get_weights()[0].shape == (512, 5)
    assert "probe_pool" not in [layer.name for layer in fc.layers]


def test_surgical_copies_every_block_and_trains_only_block_n(sources):
    source = sources["caffenet"]
    model = transfer.build(CAFFENET, 3, "surgical", source)
    assert transfer.weights_checksum(model, 7) == transfer.weights_checksum(source, 7)
    before = weights_by_layer(model)
    fit_a_few_steps(model)
    assert changed(before, weights_by_layer(model)) == ["conv3", "fc8"]
    with pytest.raises(transfer.TransferError, match="needs n >= 1"):
        transfer.build(CAFFENET, 0, "surgical", source)


def test_surgical_on_batchnorm_trains_one_block_and_its_statistics(sources):
    source = sources["mobilenet"]
    model = transfer.build(MOBILENET, 3, "surgical", source)  # blocks 1-2
    before = weights_by_layer(model)
    fit_a_few_steps(model)
    moved = changed(before, weights_by_layer(model))
    assert moved == sorted([f"expanded_conv_{b}_{part}" for b in (1, 2) for part in (
        "expand", "expand_bn", "depthwise", "depthwise_bn", "project", "project_bn")]
        + ["classifier"])
    frozen = {layer.name for layer in transfer.frozen_layers(model, "surgical", 3)
              if layer.get_weights()}
    assert frozen.isdisjoint(moved) and len(frozen) == 56  # 68 copied weighted layers - 12
    assert transfer.frozen_checksum(model, "surgical", 3) == transfer.frozen_checksum(
        transfer.build(MOBILENET, 3, "surgical", source), "surgical", 3)


def test_truncated_heads_on_one_trunk_compute_what_each_net_does(sources):
    for arch, source in ((CAFFENET, sources["caffenet"]), (MOBILENET, sources["mobilenet"])):
        nets = [plan.adapted("truncate", "A", n, "B") for n in (2, 5, 7)]
        check_fused_heads(nets, source, arch, ["t2", "t5", "t7"])


def test_plan_names_kinds_and_groups_of_the_adaptation_kinds():
    nets = plan.make_plan([2, 5], ["base", "transfer", "truncate", "surgical"])
    names = [net.name for net in nets if net.kind in catalog.ADAPTATION_KINDS]
    assert names == ["B2A-truncate", "B2A-surgical", "A2B-truncate", "A2B-surgical",
                     "B5A-truncate", "B5A-surgical", "A5B-truncate", "A5B-surgical"]
    net = next(net for net in nets if net.name == "A5B-surgical")
    assert (net.mode, net.parent, net.hparams()["strategy"]) == ("surgical", "baseA", "surgical")
    assert groups.group_name(groups.group_key(net)) == "r0-A-B-surgical"
    truncated = next(net for net in nets if net.name == "A2B-truncate")
    assert groups.group_name(groups.group_key(truncated)) == "r0-A-B-truncate"
    # The paper's groups keep their names (their checkpoints and fused/ directories).
    assert groups.group_name(groups.group_key(plan.copied("A", 2, "B", True))) == "r0-A-B+"
    assert groups.group_name(groups.group_key(plan.random_filters(2))) == "r0-random-all"
    # Selffers have no adaptation kinds: the strategies answer "from a source to a target".
    assert not [net for net in plan.make_plan([2], ["selffer", "surgical"])
                if net.kind == "surgical" and net.source == net.target]


SURGICAL = {1: 0.60, 2: 0.66, 3: 0.64, 4: 0.63, 5: 0.60, 6: 0.60, 7: 0.60}  # AnB+ is 0.63
EXTRA = (0.002, -0.002, 0.001)  # per replicate: the paired differences vary, so intervals exist
TRUNCATE = {n: 0.50 for n in range(1, 8)}


def strategy_rows():
    rows = []
    for r in range(3):
        shift, jitter = REP_SHIFT[r], REP_JITTER[r]
        rows += random_split_rows(shift=shift, jitter=jitter, replicate=r)
        for n in range(1, 8):
            for s, t, d in (("A", "B", 0.01), ("B", "A", -0.01)):
                for kind, values in (("surgical", SURGICAL), ("truncate", TRUNCATE)):
                    rows.append(row(f"{s}{n}{t}-{kind}", kind, n, False, s, t,
                                    values[n] + d + shift + jitter + EXTRA[r], replicate=r))
    return rows


def test_the_report_judges_each_strategy_against_fine_tuning(tmp_path):
    rows = strategy_rows()
    found = strategies.curves(rows)
    assert list(found) == ["frozen", "fine_tune", "truncate", "surgical"]
    assert found["surgical"][2].mean == pytest.approx(0.66 + np.mean(EXTRA))
    best = strategies.best(found)
    assert best[:2] == ("surgical", 2)
    paired = strategies.against_reference(rows)["surgical"][2].estimate
    # surgical − AnB+ per replicate: 0.66 − 0.63 + extra − 0 (AnB+ has no extra)
    diffs = [0.03 + e for e in EXTRA]
    assert paired.mean == pytest.approx(np.mean(diffs))
    assert paired.high - paired.low == pytest.approx(2 * T2 * np.std(diffs, ddof=1) / 3 ** 0.5)
    lines = strategies.verdicts(rows)
    assert lines[0].startswith("- **truncate** − fine-tuned AnB+: is below it at n = 1, 2, 3, "
                               "4, 5, 6, 7.")
    assert lines[1].startswith("- **surgical** − fine-tuned AnB+: beats full fine-tuning at "
                               "n = 2, 3; is below it at n = 1, 5, 6, 7; not told apart at "
                               "n = 4.")
    one_run = strategies.verdicts([r for r in rows if r["replicate"] == 0])
    assert one_run[1].startswith("- **surgical** − fine-tuned AnB+: not judged at n = 1, 2, 3, "
                                 "4, 5, 6, 7 (one run: no interval). n=1: ")
    text = report.render_markdown(rows, ["x"], [])
    assert "## Adaptation strategies on the same n axis" in text
    assert "Best (strategy, n) by mean: **surgical, n=2**" in text
    assert text.count("![strategies](strategies.png)") == 1
    figures = report.figures.draw_all(rows)
    assert "strategies" in figures
    assert figures["strategies"].axes[0].get_ylabel() == "top-1 (top1_best10), 95 % CI"
    one_run = report.figures.strategies_figure([r for r in rows if r["replicate"] == 0])
    assert one_run.axes[0].get_ylabel() == "top-1 (top1_best10), one run: no CI"
    figure_2 = report.figures.transfer_figure([r for r in rows if r["replicate"] == 0])
    assert figure_2.axes[1].get_ylabel() == "mean top-1 (one run: no CI)"
    assert figures["transfer"].axes[1].get_ylabel() == "mean top-1 (95 % CI)"
    assert "strategies" not in report.figures.draw_all(random_split_rows())


def test_adaptation_kinds_need_two_halves():
    with pytest.raises(ValueError, match="truncate, surgical, lp_ft, llrd experiments need a "
                       "split with two halves"):
        plan.make_plan([2], ["base", "surgical"], halves=())


def test_lp_ft_starts_from_its_trained_anb_and_fine_tunes_every_layer(sources):
    nets = plan.make_plan([2, 5], ["base", "transfer", "lp_ft"], replicates=2)
    lp_ft = [net for net in nets if net.kind == "lp_ft"]
    assert [net.key for net in lp_ft] == ["r0/B2A-lp_ft", "r0/A2B-lp_ft", "r0/B5A-lp_ft",
                                          "r0/A5B-lp_ft", "r1/B2A-lp_ft", "r1/A2B-lp_ft",
                                          "r1/B5A-lp_ft", "r1/A5B-lp_ft"]
    order = [net.key for net in nets]
    for net in lp_ft:  # its parent, the frozen AnB of the same replicate, trains before it
        assert net.parent_key == f"r{net.replicate}/{net.name.replace('-lp_ft', '')}"
        assert order.index(net.parent_key) < order.index(net.key)
        # side by side with the other n of its replicate and direction, a parent each
        assert groups.group_key(net) == (net.source, net.target, None, "lp_ft", net.replicate)
    sized = plan.make_plan([2], ["base", "transfer", "lp_ft"], target_per_class=[10])
    assert next(n for n in sized if n.name == "A2B-lp_ft@k10").parent == "A2B@k10"
    with pytest.raises(ValueError, match="add transfer to --experiments"):
        plan.make_plan([2], ["base", "lp_ft"])
    anb = transfer.build(CAFFENET, 3, "frozen", sources["caffenet"])
    fit_a_few_steps(anb)  # the linear-probe phase (here: AnB's head)
    model = transfer.build(CAFFENET, 3, "lp_ft", anb)
    assert transfer.weights_checksum(model) == transfer.weights_checksum(anb)  # fc8 too
    assert all(layer.trainable for layer in model.layers)
    before = weights_by_layer(model)
    fit_a_few_steps(model)
    assert changed(before, weights_by_layer(model)) == sorted(before)  # every layer trains


def one_step_deltas(model, lr_multipliers=None):
    """Each weighted layer's kernel change after one SGD step on a fixed batch."""
    before = {v.path: np.array(v) for v in model.trainable_weights}
    compile_model(model, TrainConfig(steps=1, eval_every=1, learning_rate=0.01), 5,
                  lr_multipliers=lr_multipliers)
    rng = np.random.RandomState(0)
    x = (rng.randn(16, 32, 32, 3) * 50 + 20).astype("float32")
    model.fit(x, rng.randint(0, 5, 16), batch_size=16, epochs=1, verbose=0, shuffle=False)
    return {v.path: np.array(v) - before[v.path] for v in model.trainable_weights}


@pytest.mark.parametrize("family", ["caffenet", "mobilenet"])
def test_layer_wise_decay_scales_each_copied_blocks_step_by_its_factor(sources, family):
    arch = CAFFENET if family == "caffenet" else MOBILENET
    keras.utils.set_random_seed(1)  # both nets draw the same fresh layers
    model = transfer.build(arch, 3, "llrd", sources[family])
    factors = transfer.lr_multipliers(model, 3, 0.5)
    blocks = {k: {v.path for layer in backbones.block_layers(model, k)
                  for v in layer.trainable_weights} for k in (1, 2, 3)}
    assert set(factors) == blocks[3]  # only the copied blocks; the fresh layers keep the rate
    assert {factors[p] for p in blocks[1]} == {0.125}  # block 1: 0.5 ** 3, the lowest
    assert {factors[p] for p in blocks[2] - blocks[1]} == {0.25}
    assert {factors[p] for p in blocks[3] - blocks[2]} == {0.5}
    if family == "caffenet":
        assert factors == {f"conv{i}/{w}": 0.5 ** (4 - i) for i in (1, 2, 3)
                           for w in ("kernel", "bias")}
    # One step from the same weights on the same batch: each variable moves by its factor
    # times what plain fine-tuning (AnB+) moves it.
    keras.utils.set_random_seed(1)
    plain = one_step_deltas(transfer.build(arch, 3, "fine_tune", sources[family]))
    decayed = one_step_deltas(model, factors)
    moved = 0
    for path, delta in plain.items():
        if np.abs(delta).max() > 0:
            moved += 1
            np.testing.assert_allclose(decayed[path], factors.get(path, 1.0) * delta,
                                       rtol=2e-3, atol=1e-7)  # float32 w1 - w0
    assert moved == len(plain)
    assert transfer.lr_multipliers(model, 3, 1.0) == dict.fromkeys(factors, 1.0)


def test_layer_wise_decay_is_saved_with_the_optimizer(sources, tmp_path):
    model = transfer.build(CAFFENET, 2, "llrd", sources["caffenet"])
    factors = transfer.lr_multipliers(model, 2, 0.7)
    compile_model(model, TrainConfig(steps=1, eval_every=1), 5, lr_multipliers=factors)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.lr_multipliers == pytest.approx(factors)
    assert loaded.optimizer.get_config()["lr_multipliers"]["conv1/kernel"] == pytest.approx(0.49)


def test_llrd_nets_are_named_grouped_by_direction_and_carry_their_decay():
    nets = plan.make_plan([2, 5], ["base", "transfer", "llrd"])
    llrd = [net for net in nets if net.kind == "llrd"]
    assert [net.name for net in llrd] == ["B2A-llrd", "A2B-llrd", "B5A-llrd", "A5B-llrd"]
    assert {(net.mode, net.parent, net.hparams()["strategy"]) for net in llrd} == {
        ("llrd", "baseB", "llrd"), ("llrd", "baseA", "llrd")}
    assert {groups.group_name(groups.group_key(net)) for net in llrd} == {
        "r0-B-A-llrd", "r0-A-B-llrd"}  # side by side, each with its own rates (test_fused)
    with pytest.raises(transfer.TransferError, match="needs n >= 1"):
        transfer.build(CAFFENET, 0, "llrd", None)
