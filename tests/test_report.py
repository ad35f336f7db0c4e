"""Report on synthetic results.jsonl files with known numbers: tables, findings, figures, errors."""

import json
import os
import re
import subprocess
import sys

import matplotlib.image
import pytest

from keras_transfer import catalog, report
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import missing as M
from keras_transfer.reporting import paper
from keras_transfer.reporting import trust

BASE = {"A": 0.60, "B": 0.62}                                      # base mean 0.61
BNB = {1: 0.61, 2: 0.605, 3: 0.59, 4: 0.58, 5: 0.59, 6: 0.60, 7: 0.61}   # dip at 4
ANB = {1: 0.61, 2: 0.60, 3: 0.59, 4: 0.57, 5: 0.55, 6: 0.53, 7: 0.50}
BNB_PLUS, ANB_PLUS = 0.615, 0.63
NATMM_BASE = {"A": 0.65, "B": 0.54}                                # A natural, B man-made
BASE_ALL, RANDOM = 0.50, {1: 0.40, 2: 0.30, 3: 0.10, 4: 0.05, 5: 0.01, 6: 0.01, 7: 0.01}


REP_SHIFT = (-0.01, 0.0, 0.01)     # replicate r moves every net of it by this
REP_JITTER = (0.002, -0.002, 0.0)  # and its dependants by this more: paired differences vary
T2 = 4.302652729911275             # t quantile (97.5 %, df 2): intervals over three replicates


def row(net, kind, n, fine_tune, source, target, value, split="random", split_seed=0, seed=0,
        dataset="synthetic", replicate=None):
    """A results row; replicate=None leaves the field out, as rows written before replicates."""
    out = {"net": net, "kind": kind, "source": source, "target": target, "n": n,
           "fine_tune": fine_tune, "split": split, "split_seed": split_seed,
           "split_fingerprint": "x", "dataset": dataset, "model": "caffenet_small", "seed": seed,
           "top1": value - 0.01, "top1_best10": value, "top5": 0.9, "num_classes": 10,
           "steps": 100, "train_seconds": 1.5, "run_dir": f"runs/{net}", "config_hash": "h",
           "per_class": None, "target_per_class": None, "finished_at": "2024-01-01T00:00:00"}
    if replicate is not None:
        out.update(replicate=replicate, run_dir=f"runs/r{replicate}/{net}")
    return out


def random_split_rows(bnb=BNB, anb=ANB, bnb_plus=BNB_PLUS, anb_plus=ANB_PLUS, shift=0.0,
                      jitter=0.0, **kw):
    """A full A/B sweep; the two directions differ by +-0.01; dependants move by jitter more."""
    rows = [row(f"base{h}", "base", 0, False, None, h, BASE[h] + shift, **kw) for h in "AB"]
    for n in catalog.NS:
        for s, t, d in (("B", "B", 0.01), ("A", "A", -0.01), ("A", "B", 0.01), ("B", "A", -0.01)):
            kind = "selffer" if s == t else "transfer"
            frozen, plus = (bnb[n], bnb_plus) if s == t else (anb[n], anb_plus)
            d += shift + jitter
            rows.append(row(f"{s}{n}{t}", kind, n, False, s, t, frozen + d, **kw))
            rows.append(row(f"{s}{n}{t}+", kind, n, True, s, t, plus + d, **kw))
    return rows


def natmm_rows(drop=0.03, shift=0.0, jitter=0.0, **kw):
    kw = {"split": "natural_manmade", **kw}
    rows = [row(f"base{h}", "base", 0, False, None, h, NATMM_BASE[h] + shift, **kw)
            for h in "AB"]
    for n in catalog.NS:
        for s, t in (("A", "B"), ("B", "A")):
            rows.append(row(f"{s}{n}{t}", "transfer", n, False, s, t,
                            NATMM_BASE[t] - drop * n + shift + jitter, **kw))
    return rows


def random_filter_rows(shift=0.0, jitter=0.0, **kw):
    return [row("baseAll", "base", 0, False, None, "all", BASE_ALL + shift, **kw)] + [
        row(f"random{n}", "random", n, False, None, "all", v + shift + jitter, **kw)
        for n, v in RANDOM.items()]


def replicated(*makers, jitter=REP_JITTER, **kw):
    """Three replicates of each maker's rows, moved by REP_SHIFT and (dependants) `jitter`."""
    return [r for rep, (sh, jit) in enumerate(zip(REP_SHIFT, jitter)) for make in makers
            for r in make(shift=sh, jitter=jit, replicate=rep, **kw)]


def paper_like(**kw):
    return replicated(random_split_rows, natmm_rows, random_filter_rows, **kw)


def rising(r):
    """The row with a convergence diagnostic saying it was still rising."""
    return {**r, "converged": False, "convergence": {"status": "rising", "converged": False,
                                                      "tail_gain": 0.05, "evaluations": 20}}


def write_jsonl(path, rows, tail=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def statuses(rows):
    return [f.status for f in F.findings(rows)]


def test_group_tables_are_exact():
    rows, _ = F.transfer_pool(paper_like())  # the random split's A/B nets
    assert F.base_stat(rows).mean == pytest.approx(0.61)
    bnb = F.per_n(rows, "BnB")
    # Per replicate block: 0.58 + shift + jitter = 0.572, 0.578, 0.590 (directions averaged).
    assert bnb[4].mean == pytest.approx(0.58) and bnb[4].count == 3
    assert bnb[4].half_width == pytest.approx(T2 * 0.0091652 / 3 ** 0.5, abs=1e-6)
    assert bnb[4].pm() == "0.5800 ± 0.0228 (3 runs)"
    t1 = F.table1(F.means(F.per_n(rows, "AnB+")), F.means(F.per_n(rows, "BnB+")), 0.61)
    assert t1[("AnB+ - base", "5-7")][0] == pytest.approx(0.02)
    assert t1[("AnB+ - BnB+", "1-3")] == (pytest.approx(0.015), [1, 2, 3])
    # Paired, AnB+ - base per replicate is 0.02 + jitter: 0.022, 0.018, 0.020.
    paired, used = F.table1_paired(rows)[("AnB+ - base", "1-7")]
    assert used == list(catalog.NS) and paired.estimate.mean == pytest.approx(0.02)
    assert paired.estimate.half_width == pytest.approx(T2 * 0.002 / 3 ** 0.5)


def test_paper_table1_matches_its_per_n_table():
    t1 = F.table1(paper.per_n("AnB+"), paper.per_n("BnB+"), paper.BASE_MEAN)
    for key, value in paper.TABLE1.items():
        assert t1[key][0] == pytest.approx(value, abs=1e-4)


def test_all_findings_hold_on_the_paper_like_input():
    assert statuses(paper_like()) == [F.HOLDS] * 8


def test_one_replicate_is_inconclusive_however_large_the_difference():
    rows = random_split_rows() + natmm_rows() + random_filter_rows()  # old rows: replicate 0
    assert statuses(rows) == [F.INCONCLUSIVE] * 8


def test_findings_flip_when_the_input_does():
    # BnB and AnB above base, AnB+ below (BnB+ at base, so the control holds): no dip, no
    # specificity, no fine-tuning gain, no boost.
    flat = random_split_rows
    worse = lambda **k: flat(bnb=dict.fromkeys(catalog.NS, 0.63), anb=dict.fromkeys(catalog.NS, 0.65),  # noqa
                             bnb_plus=0.61, anb_plus=0.55, **k)
    rising_nm = lambda **k: natmm_rows(drop=-0.02, **k)  # noqa: E731  natural/man-made gains
    got = statuses(replicated(worse, rising_nm, random_filter_rows))
    # Random filters collapse (-0.35 mean) while transfer does not: still holds.
    # AnB+ 0.55 below BnB+ 0.61: the budget-matched boost fails too.
    assert got == [F.HOLDS] + [F.FAILS] * 5 + [F.HOLDS] + [F.FAILS]
    # Natural/man-made alone: no random split to compare with, no random filters, no BnB+.
    assert statuses(replicated(natmm_rows))[5:] == [F.UNMEASURABLE] * 3


def test_noisy_replicates_are_inconclusive():
    # Dependants' replicate jitter of +-0.03 swamps the +0.02 boost and the +0.005 control.
    got = statuses(paper_like(jitter=(0.03, -0.03, 0.0)))
    assert got[0] == F.INCONCLUSIVE and got[4] == F.INCONCLUSIVE
    boost = F.findings(paper_like(jitter=(0.03, -0.03, 0.0)))[4].evidence
    assert boost == "AnB+ − base over n=1..7: +0.020 [\u22120.055, +0.095] (3 runs)"


def test_control_does_not_hold_when_bnb_plus_is_far_from_base():
    high = lambda **k: random_split_rows(bnb_plus=0.65, **k)  # noqa: E731  +0.04 +- 0.005
    control = F.findings(replicated(high))[0]
    assert control.status == F.FAILS
    assert control.evidence == "BnB+ − base over n=1..7: +0.040 [+0.035, +0.045] (3 runs)"


def test_a_failed_control_stops_every_base_relative_finding():
    # BnB+ 0.04 above base: the bases are short of what more training reaches, so base - BnB,
    # AnB+ - base and the drops relative to base measure that shortfall; they are not judged.
    high = lambda **k: random_split_rows(bnb_plus=0.65, **k)  # noqa: E731
    got = F.findings(replicated(high, natmm_rows, random_filter_rows))
    # AnB+ 0.63 below BnB+ 0.65: the budget-matched boost, judged, does not hold.
    assert [f.status for f in got] == [F.FAILS, F.CONTROL_FAILS, F.HOLDS, F.HOLDS,
                                       F.CONTROL_FAILS, F.CONTROL_FAILS, F.CONTROL_FAILS,
                                       F.FAILS]
    assert got[4].evidence.startswith("BnB+ − base over n=1..7: +0.040 [+0.035, +0.045] (3 runs) "
                                      "(BnB+ should equal base); unjudged: holds, AnB+ − base")


def test_a_rising_base_makes_base_comparisons_unmeasurable():
    rows = [rising(r) if (r["net"], r.get("replicate"), r["split"]) == ("baseB", 1, "random")
            else r for r in paper_like()]
    got = dict(zip(["control", "coadapt", "specificity", "finetune", "boost", "dissimilar",
                    "random"], F.findings(rows)))
    for name in ("coadapt", "boost", "dissimilar", "random"):
        assert got[name].status == F.BASES_RISING == "not measurable: bases still rising"
        assert "baseB (r1, rising, tail gain 0.05)" in got[name].evidence
    # The control is still judged (it tests whether the bases are done), naming the base.
    assert got["control"].status == F.HOLDS
    assert "baseB (r1, rising, tail gain 0.05)" in got["control"].evidence
    # BnB - AnB and fine-tuned - frozen use no base: still judged.
    assert got["specificity"].status == got["finetune"].status == F.HOLDS
    # The all-class base rising stops only the random-filter finding.
    rows = [rising(r) if r["net"] == "baseAll" and r["replicate"] == 0 else r
            for r in paper_like()]
    assert statuses(rows) == [F.HOLDS] * 6 + [F.BASES_RISING, F.HOLDS]
    # A base with no diagnostic (older rows) is unknown, not rising.
    assert statuses([{**r, "converged": None} for r in paper_like()]) == [F.HOLDS] * 8
    # A base whose curve fell (or was too short to judge) is named for what it is.
    fell = [{**r, "converged": False, "convergence": {"status": "falling", "converged": False}}
            if r["net"] == "baseA" else r for r in paper_like()]
    assert statuses(fell)[1] == F.BASES_UNCONVERGED == "not measurable: bases not converged"


def test_diverged_rows_are_excluded_and_listed(tmp_path):
    rows = paper_like()
    # The diagnostic may still call a diverged curve flat: it counts as diverged only.
    bad = {**row("B3B+", "selffer", 3, True, "B", "B", 0.0, replicate=1), "status": "diverged",
           "top1_best10": None, "top1": None, "converged": True}
    assert F.findings(rows + [bad]) == F.findings(rows)
    assert F.per_n(rows + [bad], "BnB+") == F.per_n(rows, "BnB+")
    got, _ = report.read_results(write_jsonl(str(tmp_path / "results.jsonl"), rows + [bad]))
    md = report.render_markdown(got, ["r.jsonl"], [])
    assert "- diverged (excluded from every mean): B3B+ (random/0, seed 0, r1)" in md
    assert ("| B3B+ | random | 0 | 0 | 1 | 3 | True | all | — | — | 0.9000 | 100 | 1.5 | "
            "diverged |") in md
    assert "| selffer | 85 | 0 | 0 | 84 | 1 |" in md  # 84 old-style rows plus the diverged one


def test_report_leads_with_the_control_and_convergence():
    rows = [{**r, "converged": True, "convergence": {"status": "flat", "tail_gain": 0.001}}
            for r in paper_like()]
    rows[0] = rising(rows[0])  # baseA of the random split, replicate 0
    md = report.render_markdown(rows, ["r.jsonl"], [])
    order = [md.index(h) for h in ("## The control", "## Convergence", "## Decomposition",
                                   "## Findings", "## Table 1", "## Accuracy per n",
                                   "## Every net")]
    assert order == sorted(order)
    assert "; replicates: 3 (r0, r1, r2)\n" in md
    # The control is judged even so, naming the rising base (it is what the control tests).
    assert "Within ±0.02 of base: **holds**" in md and "baseA (r0, rising" in md
    assert "| base | 15 | 14 | 1 | 0 | 0 |" in md  # 3 replicates x (2 random + 2 natmm + baseAll)
    assert "| baseA | random/0 | 0 | 0 | no (rising) | +0.0500 |" in md
    assert "- not converged: baseA (random/0, seed 0, r0) (rising, tail gain +0.0500)" in md
    # Decomposition: co-adaptation loss at n=4 is base - BnB = 0.03 - jitter in each unit.
    assert ("| **co-adaptation loss (base − BnB)** | +0.000 [\u22120.005, +0.005] (3 runs) | "
            "+0.005 [+0.000, +0.010] (3 runs) |") in md
    assert "| into A | +0.000 [\u22120.005, +0.005] (3 runs) |" in md
    assert "| **random-filter drop (random − baseAll)** | \u22120.100 [" in md


def test_report_files_figures_and_tensorboard(tmp_path):
    wd = tmp_path / "wd"
    rows = paper_like()
    rows[0] = rising(rows[0])  # drawn hollow in Figure 2; the figure's size does not change
    write_jsonl(str(wd / "results.jsonl"), rows)
    md_path = report.write_report([str(wd)])
    assert md_path == str(wd / "report" / "report.md")
    md = open(md_path).read()
    assert "| BnB | — | 0.6100 ± 0.0228 (3 runs) | 0.6050 ± 0.0228 (3 runs) | 0.5900" in md
    assert "| AnB+ - base | 1-7 | +0.020 [+0.015, +0.025] (3 runs) | 1,2,3,4,5,6,7 |" in md
    assert "Paper numbers are not shown" in md and "*paper" not in md
    # The rising random-split baseA stops the four findings that compare with a base (the
    # control is still judged).
    assert md.count("**not measurable: bases still rising**") == 4
    assert md.count("- **holds**") == 4  # the control, specificity, fine-tuning, AnB+ - BnB+
    for name, (w, h) in figures_sizes().items():
        assert matplotlib.image.imread(str(wd / "report" / f"{name}.png")).shape[:2] == (h, w)
        assert (wd / "report" / f"{name}.svg").stat().st_size > 1000
    images = wd / "tensorboard" / "report"  # the workdir's TensorBoard view, run "report"
    assert tensorboard_images(str(images)) == {
        f"figures/{name}" for name in ("transfer", "natural_manmade", "random_filters",
                                       "decomposition")}
    report.write_report([str(wd)])  # a second report replaces the event file, not adds one
    assert len([f for f in os.listdir(images) if f.startswith("events")]) == 1
    assert not [f for f in os.listdir(wd / "report") if f.startswith("events")]


def figures_sizes():
    return {"transfer": (800, 700), "natural_manmade": (700, 450), "random_filters": (700, 700),
            "decomposition": (800, 500)}


def tensorboard_images(logdir):
    import tensorflow as tf

    tags = set()
    for name in os.listdir(logdir):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "images":
                        tags.add(value.tag)
    return tags


def test_paper_columns_for_imagenet():
    rows = random_split_rows(dataset="tfds:imagenet2012")
    md = report.render_markdown(rows, ["r.jsonl"], [])
    assert "| *paper AnB* | — | *0.6282* |" in md
    assert "| AnB+ - BnB+ | 5-7 | +0.015 (1 run) | 5,6,7 | +0.0176 |" in md
    assert "Paper numbers are not shown" not in md


def test_paper_table1_only_beside_random_splits():
    # Natural/man-made alone on ImageNet: its per-n paper rows are shown, Table 1 (random
    # splits in the paper) is not; its split has no seed to print.
    rows = natmm_rows(dataset="tfds:imagenet2012", split_seed=None)
    md = report.render_markdown(rows, ["r.jsonl"], [])
    assert "*paper transfer to natural*" in md
    table1 = md.split("## Table 1 analogue")[1].split("##")[0]
    assert "| comparison | n range | this run | n used |" in table1 and "paper" not in table1
    assert "- splits: natural_manmade;" in md and "natural_manmade/" not in md
    assert "### Split `natural_manmade`\n" in md and "None" not in md


def test_partial_sweep_lists_missing_nets():
    rows = [r for r in random_split_rows() if r["net"] not in ("A5B", "B7A+", "baseB")]
    missing = M.missing_nets(rows)
    assert missing == {("random", 0, 0, 0): ["baseB", "A5B", "B7A+"]}
    md = report.render_markdown(rows, ["r.jsonl"], [])
    assert "split random/0, seed 0, replicate 0: 3 missing: baseB, A5B, B7A+" in md
    assert "random filters (baseAll, random1..7) were not run" in md
    # The expected n come from the rows (plan.make_plan over what ran): random filters missing
    # n=3..7 are found because the A/B nets ran n=1..7; a --layers=1,2 sweep is complete.
    only_some = random_filter_rows()[:3]
    got = M.missing_nets(random_split_rows() + only_some)[("random", 0, 0, 0)]
    assert got == [f"random{n}" for n in range(3, 8)]
    assert M.missing_nets(only_some) == {("random", 0, 0, 0): []}


def test_missing_nets_per_replicate():
    # Replicate 1 lacks A5B; replicate 2 has not started its A/B nets (only baseA ran): each is
    # held to the plan the key's replicates show together.
    rows = [r for r in replicated(random_split_rows)
            if (r["net"], r["replicate"]) != ("A5B", 1)
            and (r["replicate"] != 2 or r["net"] == "baseA")]
    missing = M.missing_nets(rows)
    assert missing[("random", 0, 0, 0)] == [] and missing[("random", 0, 0, 1)] == ["A5B"]
    assert len(missing[("random", 0, 0, 2)]) == len(random_split_rows()) - 1


def test_merged_seeds_give_mean_and_interval(tmp_path):
    a = write_jsonl(str(tmp_path / "s0" / "results.jsonl"), replicated(random_split_rows, seed=0))
    write_jsonl(str(tmp_path / "s1" / "results.jsonl"),
                [{**r, "seed": 1} for r in replicated(random_split_rows)])
    md_path = report.write_report([f"{tmp_path}/s0,{tmp_path}/s1", a])  # a: given twice
    assert md_path == str(tmp_path / "report_merged" / "report.md")
    md = open(md_path).read()
    # 2 seeds x 3 replicates = 6 blocks, each with base mean 0.61 + shift: -0.01, 0, +0.01 twice.
    half = 2.570582 * 0.0089443 / 6 ** 0.5  # t(0.975, 5) * sample std / sqrt(6)
    assert f"| base (A and B) | 0.6100 ± {half:.4f} (6 runs) |" in md
    # Identical rows given twice (the same replicate's file) are kept once.
    assert md.count("the same run (same weights) as in") == 3 * len(random_split_rows())
    assert "(348 nets)" in md  # 2 seeds x 3 replicates x 58


def test_a_copied_workdir_counts_once_by_weights_checksum(tmp_path):
    rows = [{**r, "weights_sha256": f"w{i}"} for i, r in enumerate(replicated(random_split_rows))]
    write_jsonl(str(tmp_path / "a" / "results.jsonl"), rows)
    # The copy's rows differ in text (a later finished_at, another run_dir root) but not in weights.
    copy = [{**r, "finished_at": "2025-01-01T00:00:00", "run_dir": "elsewhere/" + r["run_dir"]}
            for r in rows]
    write_jsonl(str(tmp_path / "b" / "results.jsonl"), copy)
    got, warnings = report.load_rows([str(tmp_path / d / "results.jsonl") for d in "ab"])
    assert len(got) == len(rows) and len(warnings) == len(rows)
    assert "elsewhere/runs/r0/baseA" in warnings[0] and str(tmp_path / "a") in warnings[0]


def test_rows_of_different_recipes_are_refused_unless_pooled(tmp_path):
    def tagged(steps):
        return [{**r, "recipe_hash": f"h{steps}", "recipe": {"steps": steps, "model": "m"},
                 "weights_sha256": f"{steps}-{i}"}
                for i, r in enumerate(replicated(random_split_rows))]
    write_jsonl(str(tmp_path / "a" / "results.jsonl"), tagged(1200))
    write_jsonl(str(tmp_path / "b" / "results.jsonl"), tagged(2400))
    both = [str(tmp_path / "a"), str(tmp_path / "b")]
    nets = len(replicated(random_split_rows))
    with pytest.raises(report.ReportError, match=re.escape(
            f"recipe h1200: {nets} nets (steps=1200); recipe h2400: {nets} nets (steps=2400)")):
        report.write_report(both)
    assert not (tmp_path / "report_merged").exists()
    md = open(report.write_report(both, pool_recipes=True)).read()
    assert "pooled different recipes (--pool_recipes)" in md
    assert f"({2 * nets} nets)" in md
    report.write_report([str(tmp_path / "a")])  # one recipe: no question asked


def test_half_written_last_line_is_skipped(tmp_path):
    path = write_jsonl(str(tmp_path / "results.jsonl"), random_split_rows(), tail='{"net": "A7')
    rows, warnings = report.read_results(path)
    assert len(rows) == len(random_split_rows())
    assert len(warnings) == 1 and "half-written" in warnings[0]


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "is empty"),
    ("\n\n", "is empty"),
    ('{"net": "A7', "is empty"),
    ('not json\n' + json.dumps(row("baseA", "base", 0, False, None, "A", 0.6)) + "\n",
     ":1: not a JSON object"),
    (json.dumps({"net": "baseA", "kind": "base"}) + "\n", "lacks ['n', 'fine_tune'"),
])
def test_unusable_results_raise_report_error(tmp_path, content, message):
    path = tmp_path / "results.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(report.ReportError, match=re.escape(message)) as info:
        report.write_report([str(tmp_path)])
    assert str(path) in str(info.value)


def test_cli_prints_the_error_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "keras_transfer.report",
                           f"--workdir={tmp_path}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "run the sweep first" in proc.stderr and "Traceback" not in proc.stderr


def test_a_tight_interval_around_zero_does_not_hold():
    # BnB flat at its base at every n: base - BnB and BnB(1) - BnB are 0 +- 0.005, so a dip as
    # large as the margin (0.02) is excluded: "does not hold", and the evidence says why.
    flat = lambda **k: random_split_rows(bnb=dict.fromkeys(catalog.NS, 0.61), **k)  # noqa: E731
    dip = F.findings(replicated(flat))[1]
    assert dip.status == F.FAILS
    assert dip.evidence.count("(within ±0.02: no effect that large)") == 2


def test_the_net_table_says_how_many_images_per_class_a_net_trained_on():
    capped = {**row("B3B+", "selffer", 3, True, "B", "B", 0.6, replicate=0),
              "recipe": {"train_per_class": 50}}
    reduced = {**row("reduced0010", "reduced", 0, False, None, "all", 0.3, replicate=0),
               "per_class": 10}
    sized = {**row("A2B@k10", "transfer", 2, False, "A", "B", 0.4, replicate=0),
             "target_per_class": 10}
    table = "\n".join(trust.net_table([capped, reduced, sized, row("baseA", "base", 0, False,
                                                                      None, "A", 0.6)]))
    assert "| B3B+ | random | 0 | 0 | 0 | 3 | True | 50 | 0.6000 |" in table
    assert "| reduced0010 | random | 0 | 0 | 0 | 0 | False | k=10 |" in table
    assert "| A2B@k10 | random | 0 | 0 | 0 | 2 | False | K=10 |" in table
    assert "| baseA | random | 0 | 0 | 0 | 0 | False | all |" in table
