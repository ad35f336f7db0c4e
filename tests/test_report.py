"""Report on synthetic results.jsonl files with known numbers: tables, findings, figures, errors."""

import json
import os
import re
import subprocess
import sys
import time

import matplotlib.image
import pytest

from keras_transfer import findings as F
from keras_transfer import paper, report

BASE = {"A": 0.60, "B": 0.62}                                      # base mean 0.61
BNB = {1: 0.61, 2: 0.605, 3: 0.59, 4: 0.58, 5: 0.59, 6: 0.60, 7: 0.61}   # dip at 4
ANB = {1: 0.61, 2: 0.60, 3: 0.59, 4: 0.57, 5: 0.55, 6: 0.53, 7: 0.50}
BNB_PLUS, ANB_PLUS = 0.615, 0.63
NATMM_BASE = {"A": 0.65, "B": 0.54}                                # A natural, B man-made
BASE_ALL, RANDOM = 0.50, {1: 0.40, 2: 0.30, 3: 0.10, 4: 0.05, 5: 0.01, 6: 0.01, 7: 0.01}


def row(net, kind, n, fine_tune, source, target, value, split="random", split_seed=0, seed=0,
        dataset="synthetic"):
    return {"net": net, "kind": kind, "source": source, "target": target, "n": n,
            "fine_tune": fine_tune, "split": split, "split_seed": split_seed,
            "split_fingerprint": "x", "dataset": dataset, "model": "caffenet_small", "seed": seed,
            "top1": value - 0.01, "top1_best10": value, "top5": 0.9, "num_classes": 10,
            "steps": 100, "train_seconds": 1.5, "run_dir": f"runs/{net}", "config_hash": "h",
            "per_class": None, "target_per_class": None, "finished_at": "2024-01-01T00:00:00"}


def random_split_rows(bnb=BNB, anb=ANB, bnb_plus=BNB_PLUS, anb_plus=ANB_PLUS, shift=0.0, **kw):
    """A full A/B sweep; the two directions differ by +-0.01 so a group's std is 0.0141."""
    rows = [row(f"base{h}", "base", 0, False, None, h, BASE[h] + shift, **kw) for h in "AB"]
    for n in F.NS:
        for s, t, d in (("B", "B", 0.01), ("A", "A", -0.01), ("A", "B", 0.01), ("B", "A", -0.01)):
            kind = "selffer" if s == t else "transfer"
            frozen, plus = (bnb[n], bnb_plus) if s == t else (anb[n], anb_plus)
            rows.append(row(f"{s}{n}{t}", kind, n, False, s, t, frozen + d + shift, **kw))
            rows.append(row(f"{s}{n}{t}+", kind, n, True, s, t, plus + d + shift, **kw))
    return rows


def natmm_rows(drop=0.03):
    rows = [row(f"base{h}", "base", 0, False, None, h, NATMM_BASE[h], split="natural_manmade")
            for h in "AB"]
    for n in F.NS:
        for s, t in (("A", "B"), ("B", "A")):
            rows.append(row(f"{s}{n}{t}", "transfer", n, False, s, t, NATMM_BASE[t] - drop * n,
                            split="natural_manmade"))
    return rows


def random_filter_rows():
    return [row("baseAll", "base", 0, False, None, "all", BASE_ALL)] + [
        row(f"random{n}", "random", n, False, None, "all", v) for n, v in RANDOM.items()]


def write_jsonl(path, rows, tail=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def statuses(rows):
    return [f.status for f in F.findings(rows)]


def test_group_tables_are_exact():
    rows = random_split_rows()
    assert F.base_stat(rows).mean == pytest.approx(0.61)
    bnb = F.per_n(rows, "BnB")
    assert bnb[4].mean == pytest.approx(0.58) and bnb[4].count == 2
    assert bnb[4].std == pytest.approx(0.0141421, abs=1e-6)
    assert str(bnb[4]) == "0.5800 ± 0.0141 (2)"
    t1 = F.table1(F.means(F.per_n(rows, "AnB+")), F.means(F.per_n(rows, "BnB+")), 0.61)
    assert t1[("AnB+ - base", "5-7")][0] == pytest.approx(0.02)
    assert t1[("AnB+ - BnB+", "1-3")] == (pytest.approx(0.015), [1, 2, 3])


def test_paper_table1_matches_its_per_n_table():
    t1 = F.table1(paper.per_n("AnB+"), paper.per_n("BnB+"), paper.BASE_MEAN)
    for key, value in paper.TABLE1.items():
        assert t1[key][0] == pytest.approx(value, abs=1e-4)


def test_all_findings_hold_on_the_paper_like_input():
    assert statuses(random_split_rows() + natmm_rows() + random_filter_rows()) == [F.HOLDS] * 5


def test_findings_flip_when_the_input_does():
    flat = dict.fromkeys(F.NS, 0.61)
    rows = random_split_rows(bnb=flat, anb=flat, bnb_plus=0.55, anb_plus=0.55)
    got = statuses(rows + natmm_rows(drop=0.0) + random_filter_rows())
    assert got[:4] == [F.FAILS] * 4
    # Random filters collapse (-0.31 mean) while flat transfer does not: still holds.
    assert got[4] == F.HOLDS
    # Natural/man-made alone: no random split to compare with, no random filters.
    assert statuses(natmm_rows())[3:] == [F.UNMEASURABLE] * 2


def test_report_files_figures_and_tensorboard(tmp_path):
    wd = tmp_path / "wd"
    rows = random_split_rows() + natmm_rows() + random_filter_rows()
    write_jsonl(str(wd / "results.jsonl"), rows)
    start = time.time()
    md_path = report.write_report([str(wd)])
    assert time.time() - start < 30
    assert md_path == str(wd / "report" / "report.md")
    md = open(md_path).read()
    assert "| BnB | — | 0.6100 ± 0.0141 (2) | 0.6050 ± 0.0141 (2) | 0.5900" in md
    assert "| AnB+ - base | 1-7 | +0.0200 | 1,2,3,4,5,6,7 |" in md
    assert "Paper numbers are not shown" in md and "*paper" not in md
    assert md.count("**holds**") == 5
    for name, (w, h) in figures_sizes().items():
        assert matplotlib.image.imread(str(wd / "report" / f"{name}.png")).shape[:2] == (h, w)
        assert (wd / "report" / f"{name}.svg").stat().st_size > 1000
    assert tensorboard_images(str(wd / "report")) == {"transfer", "natural_manmade",
                                                      "random_filters"}
    report.write_report([str(wd)])  # a second report replaces the event file, not adds one
    assert len([f for f in os.listdir(wd / "report") if f.startswith("events")]) == 1


def figures_sizes():
    return {"transfer": (800, 700), "natural_manmade": (700, 700), "random_filters": (700, 700)}


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
    assert "| AnB+ - BnB+ | 5-7 | +0.0150 | 5,6,7 | +0.0176 |" in md
    assert "Paper numbers are not shown" not in md


def test_partial_sweep_lists_missing_nets():
    rows = [r for r in random_split_rows() if r["net"] not in ("A5B", "B7A+", "baseB")]
    missing = F.missing_nets(rows)
    assert missing == {("random", 0, 0): ["baseB", "A5B", "B7A+"]}
    md = report.render_markdown(rows, ["r.jsonl"], [])
    assert "3 missing: baseB, A5B, B7A+" in md
    assert "random filters (baseAll, random1..7) were not run" in md
    # The expected n come from the rows (plan.make_plan over what ran): random filters missing
    # n=3..7 are found because the A/B nets ran n=1..7; a --layers=1,2 sweep is complete.
    only_some = random_filter_rows()[:3]
    got = F.missing_nets(random_split_rows() + only_some)[("random", 0, 0)]
    assert got == [f"random{n}" for n in range(3, 8)]
    assert F.missing_nets(only_some) == {("random", 0, 0): []}


def test_merged_seeds_give_mean_and_std(tmp_path):
    a = write_jsonl(str(tmp_path / "s0" / "results.jsonl"), random_split_rows(seed=0))
    write_jsonl(str(tmp_path / "s1" / "results.jsonl"), random_split_rows(seed=1, shift=0.02))
    md_path = report.write_report([f"{tmp_path}/s0,{tmp_path}/s1", a])  # a: given twice
    assert md_path == str(tmp_path / "report_merged" / "report.md")
    md = open(md_path).read()
    assert "| base (A and B) | 0.6200 ± 0.0163 (4) |" in md  # 0.60, 0.62, 0.62, 0.64
    assert md.count("dropped a duplicate row") == len(random_split_rows())


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
