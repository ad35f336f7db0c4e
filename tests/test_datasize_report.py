"""Dataset-size report on hand-built rows with known numbers: decision table, reduced table,
findings that flip with the input, figures, and no leak into the paper's figures."""

import json
import os
import re

import matplotlib.image
import pytest
from test_report import (
    REP_JITTER,
    REP_SHIFT,
    random_split_rows,
    row,
    tensorboard_images,
    write_jsonl,
)

from keras_transfer import report
from keras_transfer.experiment import plan
from keras_transfer.reporting import datasize, missing
from keras_transfer.reporting import findings as F

ALL = datasize.ALL
LAYERS = (1, 2, 3)
# Target-B numbers per (K, group): a number for base, {n: value} for the copied groups. Other
# target-side nets (BnB, BnB+) and the A-target nets get LOW, so they never win.
LOW = 0.1
RANDOM = {  # best frozen n = 2, 3, 3; gain over scratch 0.14, 0.10, 0.04; AnB+ ahead from K=20
    (5, "base"): 0.20, (5, "AnB"): {1: 0.30, 2: 0.34, 3: 0.32},
    (5, "AnB+"): {1: 0.28, 2: 0.29, 3: 0.31},
    (20, "base"): 0.40, (20, "AnB"): {1: 0.45, 2: 0.46, 3: 0.47},
    (20, "AnB+"): {1: 0.47, 2: 0.48, 3: 0.50},
    (ALL, "base"): 0.60, (ALL, "AnB"): {1: 0.60, 2: 0.60, 3: 0.61},
    (ALL, "AnB+"): {1: 0.62, 2: 0.64, 3: 0.63},
}
NATMM = {  # best frozen n = 1, 2, 1; gain 0.05, 0.05, 0.03; AnB+ ahead from K=20
    (5, "base"): 0.25, (5, "AnB"): {1: 0.30, 2: 0.28, 3: 0.26},
    (5, "AnB+"): dict.fromkeys(LAYERS, 0.27),
    (20, "base"): 0.42, (20, "AnB"): {1: 0.44, 2: 0.45, 3: 0.43},
    (20, "AnB+"): {1: 0.46, 2: 0.47, 3: 0.46},
    (ALL, "base"): 0.55, (ALL, "AnB"): {1: 0.56, 2: 0.52, 3: 0.50},
    (ALL, "AnB+"): {1: 0.58, 2: 0.57, 3: 0.57},
}


def plan_rows(values, split="random", ks=(5, 20), seeds=(0,), spread=0.0, dataset="synthetic",
              replicates=3, experiments=("base", "selffer", "transfer")):
    """A row for every net of the real plan (full data and K-limited); seeds get +-spread.

    Replicate r moves every net by REP_SHIFT[r] and the dependants by REP_JITTER[r] more;
    replicates=None writes one replicate without the field (rows older than replicates)."""
    nets = plan.make_plan(LAYERS, experiments, ("A", "B"), (), ks)
    rows = []
    for rep in range(replicates or 1):
        for i, seed in enumerate(seeds):
            for net in nets:
                group = F.group_of({"kind": net.kind, "target": net.target,
                                    "fine_tune": net.fine_tune})
                k = net.per_class or ALL
                value = values.get((k, group), LOW) if net.target == "B" else LOW
                value = value[net.n] if isinstance(value, dict) else value
                offset = spread * (2 * i - 1) if len(seeds) == 2 else 0.0
                if replicates:
                    offset += REP_SHIFT[rep] + (REP_JITTER[rep] if net.kind != "base" else 0.0)
                r = row(net.name, net.kind, net.n, net.fine_tune, net.source, net.target,
                        value + offset, split=split, seed=seed, dataset=dataset,
                        replicate=rep if replicates else None)
                rows.append({**r, **net.sizes()})
    return rows


def reduced_rows(dataset="synthetic"):
    rows = [row("baseAll", "base", 0, False, None, "all", 0.30, split="none", dataset=dataset)]
    for k, seed, value in ((5, 0, 0.03), (20, 0, 0.04), (20, 1, 0.06), (250, 0, 0.20)):
        rows.append({**row(f"reduced{k:04d}", "reduced", 0, False, None, "all", value,
                           split="none", seed=seed, dataset=dataset),
                     "per_class": k, "num_classes": 40})
    return rows


def statuses(rows):
    return [f.status for f in datasize.findings(rows)]


def test_decision_table_is_exact():
    rows = plan_rows(RANDOM) + plan_rows(NATMM, "natural_manmade")
    md = "\n".join(datasize.markdown(rows))
    # Per replicate the winner is 0.34 + shift + jitter, from scratch 0.20 + shift, so the paired
    # gain is 0.14 + jitter (0.142, 0.138, 0.140); the other mode moves with the winner.
    # 13 target-B nets per K and replicate: baseB and A/B x n=1..3 x frozen/fine-tuned.
    assert ("| `random` | 5 | A2B (n=2, frozen) | 0.3400 ± 0.0228 (3 runs) | "
            "+0.140 [+0.135, +0.145] (3 runs) | +0.030 [+0.030, +0.030] (3 runs) | "
            "A3B+ (n=3, fine-tuned): 0.3100 | 0.2000 ± 0.0248 (3 runs) | 3 / 3 / 3 / 39 |") in md
    assert ("| `random` | 20 | A3B+ (n=3, fine-tuned) | 0.5000 ± 0.0228 (3 runs) | "
            "+0.100 [+0.095, +0.105] (3 runs) | +0.030 [+0.030, +0.030] (3 runs) "
            "| A3B (n=3, frozen): 0.4700 |") in md
    assert ("| `natural_manmade` | all | A1B+ (n=1, fine-tuned) | 0.5800 ± 0.0228 (3 runs) | "
            "+0.030 [+0.025, +0.035] (3 runs) |") in md
    one = "\n".join(datasize.markdown(plan_rows(NATMM, "natural_manmade", replicates=None)))
    assert ("| `natural_manmade` | 5 | A1B (n=1, frozen) | 0.3000 (1 run) | +0.050 (1 run) | "
            "+0.030 (1 run) | A1B+ (n=1, fine-tuned): 0.2700 | 0.2500 (1 run) | 1 / 1 / 1 / 13 |") \
        in one
    # random first, then the other splits; K ascending with "all" last
    order = re.findall(r"^\| `(\w+)` \| (\w+) \|", md, re.M)
    assert order == [("random", "5"), ("random", "20"), ("random", "all"),
                     ("natural_manmade", "5"), ("natural_manmade", "20"),
                     ("natural_manmade", "all")]
    assert [f.status for f in datasize.findings(rows)] == [F.HOLDS] * 3


def test_the_best_strategy_at_each_k_beside_the_papers_modes():
    values = {**RANDOM, (5, "AnB-surgical"): {1: 0.30, 2: 0.40, 3: 0.35}}
    rows = plan_rows(values, experiments=("base", "selffer", "transfer", "surgical"))
    md = "\n".join(datasize.markdown(rows))
    assert "### Which strategy at K images per class" in md
    # K=5: A2B-surgical (0.40) beats the paper's best A2B (0.34) by exactly 0.06 in every
    # replicate (both dependants move by the same jitter) and from scratch by 0.20 + jitter.
    assert ("| `random` | 5 | A2B-surgical (n=2, surgical) | 0.4000 ± 0.0228 (3 runs) | "
            "+0.200 [+0.195, +0.205] (3 runs) | +0.060 [+0.060, +0.060] (3 runs) | "
            "frozen, fine-tuned, surgical |") in md
    # K=20: surgical is low there, so the paper's own best stands, with no second gain.
    assert "| `random` | 20 | A3B+ (n=3, fine-tuned) | 0.5000 ± 0.0228 (3 runs) | " in md
    assert re.search(r"\| `random` \| 20 \| A3B\+ .*\| — \| frozen, fine-tuned, surgical \|",
                     md)
    # The paper's decision table is the same as without the strategy.
    assert ("| `random` | 5 | A2B (n=2, frozen) | 0.3400 ± 0.0228 (3 runs) | "
            "+0.140 [+0.135, +0.145] (3 runs) |") in md
    assert "Which strategy" not in "\n".join(datasize.markdown(plan_rows(RANDOM)))


def test_ties_go_to_the_smaller_n_then_to_frozen():
    values = {(5, "base"): 0.2, (5, "AnB"): dict.fromkeys(LAYERS, 0.3),
              (5, "AnB+"): dict.fromkeys(LAYERS, 0.3)}
    cell = datasize.cells(plan_rows(values, ks=(5,)))["random"][0]
    assert (cell.winner.group, cell.winner.n, cell.other.group, cell.other.n) == ("AnB", 1,
                                                                                 "AnB+", 1)
    assert cell.gain(cell.other).estimate.mean == 0.0


def test_findings_flip_when_the_input_does():
    nm = plan_rows(NATMM, "natural_manmade")
    assert statuses(plan_rows(RANDOM) + nm) == [F.HOLDS] * 3
    # Transfer gains little at K=5 on the random split (0.02 < 0.04 at "all").
    worse = {**RANDOM, (5, "AnB"): {n: v - 0.12 for n, v in RANDOM[(5, "AnB")].items()},
             (5, "AnB+"): {n: v - 0.12 for n, v in RANDOM[(5, "AnB+")].items()}}
    assert statuses(plan_rows(worse) + nm)[0] == F.FAILS
    # Fine-tuning is already ahead at K=5: it does not "overtake".
    ahead = {**RANDOM, (5, "AnB+"): dict.fromkeys(LAYERS, 0.40)}
    assert statuses(plan_rows(ahead) + nm)[1] == F.FAILS
    # The splits swapped: the natural/man-made split now prefers more frozen layers.
    swapped = plan_rows(NATMM) + plan_rows(RANDOM, "natural_manmade")
    assert statuses(swapped)[2] == F.FAILS
    # One split only: the dissimilar comparison needs both; one K only: nothing to compare.
    assert statuses(plan_rows(RANDOM))[2] == F.UNMEASURABLE
    one_k = [r for r in plan_rows(RANDOM, ks=(5,)) if r["target_per_class"] is not None]
    assert statuses(one_k) == [F.UNMEASURABLE] * 3
    # One replicate: every difference is a single value, so nothing is shown either way.
    single = plan_rows(RANDOM, replicates=None) + plan_rows(NATMM, "natural_manmade",
                                                            replicates=None)
    assert statuses(single) == [F.INCONCLUSIVE] * 3
    # A from-scratch base still rising stops "transfer helps most at small K" only.
    late = [{**r, "converged": False, "convergence": {"status": "rising"}}
            if r["net"] == "baseB@k5" and r["replicate"] == 0 else r
            for r in plan_rows(RANDOM) + nm]
    assert statuses(late) == [F.BASES_RISING, F.HOLDS, F.HOLDS]
    # No K-limited rows at all: no section, no findings.
    full = random_split_rows()
    assert datasize.cells(full) == {} and datasize.markdown(full) == []


def test_reduced_table_with_and_without_paper_numbers():
    md = "\n".join(datasize.markdown(reduced_rows()))
    assert "| 20 | 0.0500 ± 0.1271 (2 runs) | 2 |" in md  # seeds 0.04, 0.06: t(1) = 12.71
    assert "| all (baseAll) | 0.3000 (1 run) | 1 |" in md
    assert "Chance is 0.0250" in md and "paper" not in md
    md = "\n".join(datasize.markdown(reduced_rows(dataset="tfds:imagenet2012")))
    assert "| 5 | 0.0300 (1 run) | 1 | *0.0010* |" in md
    assert "| 20 | 0.0500 ± 0.1271 (2 runs) | 2 | — |" in md
    assert "| 250 | 0.2000 (1 run) | 1 | *0.3843* |" in md
    assert "| all (baseAll) | 0.3000 (1 run) | 1 | *0.5518* |" in md


def test_sized_rows_do_not_leak_into_the_paper_figures(tmp_path):
    full = random_split_rows()
    sized = [r for r in plan_rows(RANDOM) if r["target_per_class"] is not None]
    extra = sized + [r for r in reduced_rows() if r["kind"] == "reduced"]
    assert F.transfer_pool(full + extra) == F.transfer_pool(full)
    assert F.findings(full + extra) == F.findings(full)
    for group in ("base", *F.GROUPS):
        assert F.per_n(full + extra, group) == F.per_n(full, group)

    def section(md, title):
        return md.split(title)[1].split("\n## ")[0]
    a = report.render_markdown(full, ["r.jsonl"], [])
    b = report.render_markdown(full + extra, ["r.jsonl"], [])
    for title in ("## Findings", "## Table 1", "## Accuracy per n"):
        assert section(a, title) == section(b, title)
    report.write_report([write_jsonl(str(tmp_path / "a" / "results.jsonl"), full)])
    report.write_report([write_jsonl(str(tmp_path / "b" / "results.jsonl"), full + extra)])
    for name in ("transfer", "natural_manmade", "random_filters"):
        assert (tmp_path / "a" / "report" / f"{name}.png").read_bytes() == \
            (tmp_path / "b" / "report" / f"{name}.png").read_bytes()


def test_missing_nets_know_the_k_names():
    rows = random_split_rows() + [r for r in plan_rows(RANDOM, ks=(5,), replicates=None)
                                  if r["target_per_class"] is not None]
    assert missing.missing_nets(rows) == {("random", 0, 0, 0): [
        f"{s}{n}{t}{p}@k5" for n in range(4, 8) for s, t in (("A", "B"), ("B", "B"))
        for p in ("", "+")]}  # the K nets ran for n=1..3 only; the full ones for n=1..7
    done = [r for r in plan_rows(RANDOM) if (r["net"], r["replicate"]) not in (
        ("baseB@k20", 1), ("A2B+@k5", 1), ("A2B+@k5", 2))]
    order = [net.name for net in plan.make_plan(LAYERS, ("base", "selffer", "transfer"),
                                                 ("A", "B"), (), (5, 20))]
    assert missing.missing_nets(done) == {
        ("random", 0, 0, 0): [],
        ("random", 0, 0, 1): sorted(["A2B+@k5", "baseB@k20"], key=order.index),  # plan order
        ("random", 0, 0, 2): ["A2B+@k5"]}
    # Each (split, split_seed, seed) infers its own plan: seed 1 ran only reduced0020, so it is
    # complete by itself (a k or an experiment no net of that seed reached is not detectable).
    assert missing.missing_nets(reduced_rows()) == {("none", 0, 0, 0): [], ("none", 0, 1, 0): []}


def test_report_writes_the_figures(tmp_path):
    wd = tmp_path / "wd"
    rows = (plan_rows(RANDOM, seeds=(0, 1), spread=0.01, replicates=None)
            + plan_rows(NATMM, "natural_manmade")
            + reduced_rows())
    md = open(report.write_report([write_jsonl(str(wd / "results.jsonl"), rows)])).read()
    out = wd / "report"
    for name in ("datasize", "reduced"):
        assert matplotlib.image.imread(str(out / f"{name}.png")).shape[:2] == (450, 900)
        assert (out / f"{name}.svg").stat().st_size > 1000
        assert f"]({name}.png)" in md
    assert {"figures/datasize", "figures/reduced"} <= tensorboard_images(
        str(wd / "tensorboard" / "report"))
    assert "| reduced0020 | none | 0 | 1 | 0 | 0 | False | k=20 | 0.0600 |" in md
    assert "| A2B+@k5 | random | 0 | 1 | 0 | 2 | True | K=5 | 0.3000 |" in md
    # Rerun on rows without sized nets: the old dataset-size figures go away.
    write_jsonl(str(wd / "results.jsonl"), random_split_rows())
    md = open(report.write_report([str(wd)])).read()
    assert not (out / "datasize.png").exists() and not (out / "reduced.svg").exists()
    assert "datasize.png" not in md and "## Dataset size" not in md


@pytest.mark.parametrize("change, message", [
    ({"target_per_class": "5"}, "target_per_class='5', not a positive integer"),
    ({"per_class": 0}, "per_class=0, not a positive integer"),
    ({"kind": "reduced", "per_class": None}, "has no per_class"),
])
def test_bad_size_columns_raise_report_error(tmp_path, change, message):
    bad = {**row("baseB", "base", 0, False, None, "B", 0.5), **change}
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(report.ReportError, match=re.escape(message)):
        report.read_results(str(path))
    assert os.path.exists(path)
