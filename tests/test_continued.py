"""The budget-matched control: each base continued for one more budget (every layer copied,
classifier included, then fine-tuned: B8B+ on CaffeNet) is in the plan, is its base at step 0,
trains beside the selffers it controls, and enters the report's decomposition and findings."""

import numpy as np
import pytest
from test_report import (
    BASE,
    BNB_PLUS,
    paper_like,
    replicated,
    row,
)

from keras_transfer.experiment import groups, plan
from keras_transfer.nets import alexnet, transfer
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import trust


def test_the_plan_holds_each_base_continued_once_per_replicate():
    nets = plan.make_plan([1, 2], plan.PAPER_EXPERIMENTS, replicates=2, continued_n=8,
                          target_per_class=[10])
    continued = [n for n in nets if n.kind == "continued"]
    assert [n.key for n in continued] == ["r0/A8A+", "r0/B8B+", "r1/A8A+", "r1/B8B+"]
    b8b = continued[1]
    assert (b8b.source, b8b.target, b8b.n, b8b.fine_tune, b8b.mode) == ("B", "B", 8, True,
                                                                        "fine_tune")
    assert b8b.parent_key == "r0/baseB"
    # It trains side by side with the fine-tuned selffers of its base (same data order).
    assert groups.group_key(b8b) == groups.group_key(plan.copied("B", 2, "B", True))
    # Not again on K images per class: from a full base it would be one more BnB+ there.
    assert not [n for n in nets if n.kind == "continued" and n.per_class]
    # Without selffers, or without continued_n (older callers), none.
    assert not [n for n in plan.make_plan([1], ("base", "transfer"), continued_n=8)
                if n.kind == "continued"]
    assert not [n for n in plan.make_plan([1], plan.PAPER_EXPERIMENTS)
                if n.kind == "continued"]


def test_the_continued_base_starts_as_its_base_and_trains_every_layer():
    arch = alexnet.Architecture(num_classes=5, input_size=32, width=0.25, fc_units=64)
    base = alexnet.build(arch)
    net = transfer.build(arch, 8, "fine_tune", source=base)
    assert transfer.weights_checksum(net) == transfer.weights_checksum(base)
    x = np.random.RandomState(0).randn(2, 32, 32, 3).astype("float32") * 50
    np.testing.assert_array_equal(net.predict(x, verbose=0), base.predict(x, verbose=0))
    assert all(layer.trainable for layer in net.layers)
    # n = 8 is the continued base only: frozen or random nets stop at the last cut, 7.
    with pytest.raises(transfer.TransferError, match="n must be in 0..7"):
        transfer.build(arch, 8, "frozen", source=base)


def with_continued(second=0.03, jitter=0.0):
    """paper_like rows plus each base continued: base + `second` (+ jitter in replicate 0)."""
    rows = paper_like()
    extra = []
    for rep in range(3):
        shift = (-0.01, 0.0, 0.01)[rep]
        for h in "AB":
            extra.append(row(f"{h}8{h}+", "continued", 8, True, h, h,
                             BASE[h] + shift + second + (jitter if rep == 0 else 0.0),
                             replicate=rep))
    return rows + extra


def test_the_decomposition_measures_the_second_budget_and_the_matched_control():
    rows = with_continued(second=0.03)
    pool, _ = F.transfer_pool(rows)
    dec = D.decomposition(pool, rows)
    second = dec["second budget (base continued − base)"]
    assert second[1].estimate.mean == pytest.approx(0.03) and second[1].estimate.count == 3
    # BnB+ 0.615 (+-0.01 by direction, pooled 0.615) against the continued base 0.61 + 0.03.
    matched = dec["control, budget-matched (BnB+ − base continued)"]
    assert matched[4].estimate.mean == pytest.approx(BNB_PLUS - 0.61 - 0.03, abs=1e-3)
    # Continued rows are in no other group: Figure 2's groups are unchanged by them.
    assert F.findings(rows)[:7] == F.findings(paper_like())[:7]


def test_the_budget_matched_boost_stands_when_the_control_fails():
    from test_report import random_split_rows
    high = lambda **k: random_split_rows(bnb_plus=0.65, anb_plus=0.67, **k)  # noqa: E731
    got = F.findings(replicated(high))
    assert got[0].status == F.FAILS and got[4].status == F.CONTROL_FAILS
    assert got[-1].name.startswith("AnB+ above BnB+") and got[-1].status == F.HOLDS
    assert got[-1].evidence == "AnB+ − BnB+ over n=1..7: +0.020 [+0.020, +0.020] (3 runs)"
    # The control section says in words which comparisons stand.
    pool, _ = F.transfer_pool(replicated(high))
    text = "\n".join(trust.control_section(got[0], pool, F.MARGIN))
    assert "specificity (BnB − AnB)" in text and "are not judged" in text


def test_the_report_states_each_bases_regime_and_counts_them():
    plateau = {"regime": "overfitting plateau", "reason": "training top-1 0.99, validation "
               "0.71, validation loss lowest at step 450", "sample_top1": 0.99, "val_top1": 0.71}
    fitting = {"regime": "still fitting", "reason": "training top-1 0.80, only +0.10 over "
               "validation (< 0.2)",
               "sample_top1": 0.8, "val_top1": 0.7}
    rows = [{**r, "regime": plateau if r["net"] != "baseB" or r["replicate"] else fitting}
            for r in paper_like()]
    text = "\n".join(trust.regime_section(rows))
    # baseA, baseB and baseAll of 3 replicates and 2 splits (no baseAll on natural/man-made);
    # baseB of replicate 0 still fitting on both splits.
    assert "| base | 15 | 13 | 2 | 0 |" in text
    assert ("| baseB | random/0 | 0 | still fitting | 0.8000 | 0.7000 | training top-1 0.80, "
            "only +0.10 over validation (< 0.2) |") in text
    assert "validation loss lowest at step 450" in text
    # Rows from before the diagnostic are counted as unknown.
    assert "| random | 21 | 21 | 0 | 0 |" in text
    old = "\n".join(trust.regime_section(paper_like()))
    assert "| selffer | 84 | 0 | 0 | 84 |" in old


def test_the_decomposition_figure_draws_every_quantity():
    from keras_transfer.reporting import figures
    assert len(figures.DECOMPOSITION_COLORS) == len(D.QUANTITIES)
    fig = figures.decomposition_figure(with_continued())
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == [name for name, _, _ in D.QUANTITIES]
