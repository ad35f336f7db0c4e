"""Layer diagnostics: features at every cut point, the scores of each layer, the grading of a
score against measured curves, and (slow) `python -m keras_transfer.diagnose` on a tiny sweep."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats as scipy_stats

from keras_transfer import diagnose
from keras_transfer.diagnostics import features as F
from keras_transfer.diagnostics import layer_scores
from keras_transfer.nets import backbones
from keras_transfer.reporting import predictors
from keras_transfer.training.recipe import TrainConfig, compile_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = 4
# caffenet_small's width at each cut point: conv1..conv5 (width 0.25 of 96, 256, 384, 384,
# 256), fc6 and fc7 (512), fc8 (the classes).
WIDTHS = {1: 24, 2: 64, 3: 96, 4: 96, 5: 64, 6: 512, 7: 512, 8: CLASSES}


def tiny_net():
    return backbones.build(backbones.architecture("caffenet_small", CLASSES), name="tiny")


def coloured_images(count, seed):
    """`count` 32 px images whose class sets their colour, plus noise: separable classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    colours = np.array([[60, -60, 0], [-60, 60, 0], [0, -60, 60], [60, 60, -60]], "float32")
    images = colours[labels][:, None, None, :] + 40 * rng.normal(size=(count, 32, 32, 3))
    return images.astype("float32"), labels


def batches(images, labels, size=16):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(size)


def test_features_have_the_cut_points_widths_and_one_row_per_image():
    model = tiny_net()
    images, labels = coloured_images(10, seed=0)
    got, got_labels = F.features(model, range(1, 9), batches(images, labels, size=4))
    assert {n: f.shape for n, f in got.items()} == {n: (10, w) for n, w in WIDTHS.items()}
    assert all(f.dtype == np.float64 for f in got.values())
    np.testing.assert_array_equal(got_labels, labels)  # in the dataset's order, batches joined
    # Conv maps are averaged over positions; fc layers pass through as they are.
    import keras
    conv2 = keras.Model(model.input, backbones.cut_tensor(model, 2))(images, training=False)
    np.testing.assert_allclose(got[2], np.mean(conv2, axis=(1, 2)), rtol=1e-5, atol=1e-6)
    fc7 = keras.Model(model.input, backbones.cut_tensor(model, 7))(images, training=False)
    np.testing.assert_allclose(got[7], fc7, rtol=1e-5, atol=1e-6)
    # One cut point alone (a Keras model of one output returns it bare): the same features.
    alone, _ = F.features(model, [2], batches(images, labels, size=4))
    assert list(alone) == [2] and alone[2].shape == (10, WIDTHS[2])
    np.testing.assert_allclose(alone[2], got[2], rtol=1e-6)


def test_comparisons_of_a_net_with_itself_a_copy_and_another_net():
    """The halves' matrix of a net against itself is 1 on its diagonal; a fine-tuned copy that
    never trained matches its origin (1) and a missing net gives no row."""
    from keras_transfer.diagnostics import similarity
    import keras
    first, second = tiny_net(), tiny_net()
    copy = keras.models.clone_model(first)
    copy.set_weights(first.get_weights())
    nets = {(0, "baseA"): first, (0, "baseB"): first, (1, "baseA"): second,
            (1, "baseB"): second, (0, "A2B+"): copy, (0, "B2B+"): second}
    images, labels = coloured_images(24, seed=5)
    found = similarity.Comparisons(lambda r, name: nets.get((r, name)),
                                   lambda half: batches(images, labels, size=8), [1, 2, 6])
    rows, matrices = found.rows([0, 1], ["AB"])
    assert [(m["replicate"], m["direction"], m["ns"]) for m in matrices] == [
        (0, "AB", [1, 2, 6]), (1, "AB", [1, 2, 6])]
    for m in matrices:
        for i in range(3):
            assert m["cka"][i][i] == pytest.approx(1.0)
            assert m["debiased_cka"][i][i] == pytest.approx(1.0)
    assert 0 < matrices[0]["cka"][0][2] < 1  # conv1 against fc6: other features
    kinds = sorted({(r["pair"], r["replicate"]) for r in rows})
    assert kinds == [("AnB+", 0), ("BnB+", 0), ("halves", 0), ("halves", 1), ("replicates", 0)]
    by = {(r["pair"], r["replicate"], r["n"]): r for r in rows}
    # Only n = 2 of the fine-tuned nets exists; the copy is its origin exactly.
    assert {k[2] for k in by if k[0] in ("AnB+", "BnB+")} == {2}
    assert by[("AnB+", 0, 2)]["cka"] == pytest.approx(1.0)
    # Two independently initialised nets differ (replicates; base B of r0 against B2B+ here).
    assert by[("replicates", 0, 6)]["cka"] < 0.99
    assert by[("BnB+", 0, 2)]["cka"] < 0.99


def test_head_probabilities_are_the_nets_softmax():
    model = tiny_net()
    images, labels = coloured_images(6, seed=1)
    probabilities, got_labels = F.head_probabilities(model, batches(images, labels, size=4))
    np.testing.assert_allclose(probabilities, model.predict(images, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(got_labels, labels)


def test_score_layers_of_a_briefly_trained_net_are_finite_and_probe_above_chance():
    model = tiny_net()
    compile_model(model, TrainConfig(steps=4, eval_every=4, learning_rate=0.01), CLASSES)
    x, y = coloured_images(64, seed=2)
    model.fit(x, y, batch_size=16, epochs=1, steps_per_epoch=4, verbose=0)
    train, test = coloured_images(64, seed=3), coloured_images(32, seed=4)
    seen = []
    rows = layer_scores.score_layers(model, range(1, 8), batches(*train), batches(*test),
                                     progress=seen.append)
    assert [r["n"] for r in rows] == list(range(1, 8)) and seen == rows
    for row in rows:
        assert all(math.isfinite(row[k]) for k in layer_scores.LAYER_SCORES), row
        # Chance is 1/4; the colours separate the classes at every depth.
        assert row["linear_probe"] >= 0.75 and row["knn"] >= 0.75, row
        # H-score is at most C - 1 (between-class over total spread).
        assert 0.0 < row["h_score"] <= CLASSES - 1 + 1e-6
    head = layer_scores.score_head(model, batches(*train))
    # LEEP is a mean log-likelihood (<= 0); NCE is -H(Y | Z), between -log C and 0.
    assert head["leep"] < 0.0 and -math.log(CLASSES) - 1e-9 <= head["nce"] <= 0.0


def test_rank_agreement_of_hand_made_curves():
    rising = {1: 0.1, 2: 0.4, 3: 0.5, 4: 0.9}
    assert predictors.rank_agreement(rising, {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}) == (1.0, 1.0)
    assert predictors.rank_agreement(rising, {1: 4.0, 2: 3.0, 3: 2.0, 4: 1.0}) == (-1.0, -1.0)
    # One swapped pair of 4: tau = (5 - 1) / 6, rho = 1 - 6 * 2 / (4 * 15).
    tau, rho = predictors.rank_agreement(rising, {1: 1.0, 2: 3.0, 3: 2.0, 4: 4.0, 9: 0.0})
    assert tau == pytest.approx(2 / 3) and rho == pytest.approx(0.8)
    assert all(math.isnan(v) for v in predictors.rank_agreement(rising, dict.fromkeys(rising, 1)))
    with pytest.raises(ValueError, match="at least 2 common n"):
        predictors.rank_agreement({1: 0.0}, {1: 1.0, 2: 2.0})


MEASURED = {0: [0.50, 0.60, 0.40, 0.30], 1: [0.52, 0.61, 0.45, 0.20], 2: [0.49, 0.58, 0.47, 0.25]}


def measured_rows():
    """A<n>B and A<n>B+ rows of three replicates, n = 1..4: A<n>B+ peaks at n = 2."""
    rows = []
    for r, curve in MEASURED.items():
        for n, top1 in enumerate(curve, 1):
            for fine_tune, shift in ((False, -0.1), (True, 0.0)):
                rows.append({"net": f"A{n}B" + "+" * fine_tune, "kind": "transfer", "n": n,
                             "fine_tune": fine_tune, "source": "A", "target": "B",
                             "replicate": r, "status": "ok", "top1_best10": top1 + shift})
    rows.append({**rows[0], "status": "diverged", "top1_best10": None})  # never graded
    return rows


def score_rows():
    """logme follows the measured order except in replicate 2 (n = 1 and 3 swapped); knn is
    the reverse of every measured curve."""
    out = []
    for r, curve in MEASURED.items():
        order = list(curve)
        if r == 2:
            order[0], order[2] = order[2], order[0]
        for n in range(1, 5):
            out.append({"replicate": r, "direction": "AB", "n": n, "logme": 10 * order[n - 1],
                        "knn": -curve[n - 1]})
    return out


def test_grade_gives_each_score_its_interval_and_whether_it_picks_the_best_n():
    grades = {(g["score"], g["measured"]): g
              for g in predictors.grade(score_rows(), measured_rows())}
    assert set(grades) == {("logme", "AnB"), ("logme", "AnB+"), ("knn", "AnB"), ("knn", "AnB+")}
    logme = grades[("logme", "AnB+")]
    # Replicate 2: measured n best first 2, 1, 3, 4; its logme curve ranks them 2, 3, 1, 4.
    third = scipy_stats.kendalltau([0.47, 0.58, 0.49, 0.25], MEASURED[2]).statistic
    taus = [1.0, 1.0, third]
    half = scipy_stats.t.ppf(0.975, 2) * np.std(taus, ddof=1) / math.sqrt(3)
    assert logme["tau"] == pytest.approx(np.mean(taus))
    # The t-interval reaches above 1 here; a rank correlation cannot, so it is clipped there.
    assert np.mean(taus) + half > 1
    assert (logme["tau_low"], logme["tau_high"]) == pytest.approx((np.mean(taus) - half, 1.0))
    assert logme["replicates"] == 3 and logme["strategy"] == "fine_tune"
    assert (logme["score_best_n"], logme["measured_best_n"], logme["picks_best"]) == (2, 2, True)
    assert (logme["hits"], logme["curves"]) == (3, 3)
    knn = grades[("knn", "AnB")]
    assert (knn["tau"], knn["tau_low"], knn["tau_high"]) == (-1.0, -1.0, -1.0)
    assert knn["strategy"] == "frozen"
    assert (knn["score_best_n"], knn["measured_best_n"], knn["picks_best"]) == (4, 2, False)
    assert knn["hits"] == 0


def test_recommend_is_the_best_graded_scores_pick_or_the_probes_ungraded():
    grades = predictors.grade(score_rows(), measured_rows())
    rec = predictors.recommend(grades, score_rows(), "AB")
    # logme's taus are 1, 1 and 0.33: its interval lies above 0, so it is trusted. logme and
    # AnB vs AnB+: the same taus (one curve is the other shifted); the first wins.
    assert (rec["n"], rec["score"], rec["graded"]) == (2, "logme", True)
    # Grades pooled from another sweep (diagnose --pretrained) name it.
    pooled = predictors.recommend([{**g, "workdir": "runs/w"} for g in grades], score_rows(),
                                  "AB")
    assert pooled["reason"] == rec["reason"] + " in runs/w"
    # logme reversed in replicate 2 (taus 1, 1, -1): its mean tau is above 0 but its interval
    # is not, so no score is trusted and the probe's pick is given, marked ungraded.
    rows = [{**r, "linear_probe": float(r["n"] == 3),
             "logme": -r["logme"] if r["replicate"] == 2 else r["logme"]} for r in score_rows()]
    rows = [{**r, "logme": -r["knn"] * (-1 if r["replicate"] == 2 else 1)} for r in rows]
    grades = predictors.grade(rows, measured_rows())
    logme = next(g for g in grades if g["score"] == "logme")
    assert logme["tau"] == pytest.approx(1 / 3) and logme["tau_low"] < 0
    assert not predictors.trusted(logme)
    rec = predictors.recommend(grades, rows, "AB")
    assert (rec["n"], rec["score"], rec["graded"]) == (3, "linear_probe", False)
    assert "no Kendall tau's 95 % interval lies above 0" in rec["reason"]
    ungraded = predictors.recommend(predictors.grade(rows, []), rows, "AB")
    assert ungraded == {"n": 3, "strategy": "frozen", "score": "linear_probe", "graded": False,
                        "reason": "ungraded: no measured transfer curve to grade the scores "
                                  "against"}
    assert predictors.recommend(grades, score_rows(), "BA") is None


def test_the_reports_section_tables_and_figures(tmp_path):
    """report.md's layer-diagnostics section from a scores.json: the grading table, the
    recommendation, CKA per comparison with intervals over replicates, two figures whose
    legends cover nothing."""
    import matplotlib.image
    from keras_transfer.reporting import layer_diagnostics as L
    from keras_transfer.reporting import legend
    scores = score_rows()
    similarity = [{"pair": pair, "replicate": r, "direction": "AB", "n": n,
                   "cka": value + 0.01 * r, "debiased_cka": value + 0.01 * r}
                  for pair, value in (("halves", 0.5), ("replicates", 0.8), ("AnB+", 0.6))
                  for r in range(3 if pair != "replicates" else 2) for n in (1, 2)]
    matrix = {"replicate": 0, "direction": "AB", "ns": [1, 2],
              "cka": [[0.5, 0.2], [0.3, 0.5]], "debiased_cka": [[0.5, 0.2], [0.3, None]]}
    grades = predictors.grade(scores, measured_rows())
    summary = {"replicates": [0, 1, 2], "directions": ["AB"], "train_images": 64,
               "seconds": 1.5, "scores": scores, "grading": grades,
               "recommendations": {"AB": predictors.recommend(grades, scores, "AB")},
               "similarity": similarity, "matrices": [matrix]}
    lines = L.markdown(summary)
    assert lines[0].startswith("## Layer diagnostics") and "| LogME | AnB+ |" in "\n".join(lines)
    assert any(line.startswith("- AB: copy blocks 1..2 of base A to half B, frozen "
                               "(LogME's pick;") for line in lines)
    table = {line.split(" | ")[0]: line for line in lines if line.startswith("| ")}
    # halves: per replicate 0.50, 0.51, 0.52: mean 0.51, t(2) interval +-4.30 * 0.01 / 3**0.5
    assert table["| base A vs base B (same n) (3 runs)"].count("0.51 [0.49, 0.53]") == 2
    assert table["| a base vs its next replicate (the noise floor) (2 runs)"].count(
        "0.81 [0.74, 0.87]") == 2
    # An undefined cell (None) is left out of its mean, not read as 0.
    ns, mean = L.mean_matrix([matrix, {**matrix, "debiased_cka": [[0.7, 0.4], [0.5, 0.9]]}])
    assert ns == [1, 2]
    np.testing.assert_allclose(mean, [[0.6, 0.3], [0.4, 0.9]])
    assert L.mean_matrix([{**matrix, "debiased_cka": None}]) == (None, None)
    pngs = L.write_figures(summary, measured_rows(), str(tmp_path))
    for name, png in pngs.items():
        w, h = L.SIZES[name]
        assert matplotlib.image.imread(png).shape[:2] == (h * 100, w * 100)
    for fig in (L.cka_figure(summary), L.predictors_figure(summary, measured_rows())):
        assert legend.overlaps(fig) == [] and legend._legends(fig)
    assert L.scaled({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}


def test_bad_input_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ValueError, match="has no readable sweep.json"):
        diagnose.check_workdir(str(tmp_path), None, "AB")
    (tmp_path / "sweep.json").write_text(json.dumps({"replicates": 2, "model": "caffenet"}))
    with pytest.raises(ValueError, match=r"--replicate=2 is out of range: .* ran replicates 0..1"):
        diagnose.check_workdir(str(tmp_path), 2, "AB")
    with pytest.raises(ValueError, match="--direction='AC' is unknown"):
        diagnose.check_workdir(str(tmp_path), 0, "AC")
    _, replicates, directions = diagnose.check_workdir(str(tmp_path), None, "both")
    assert (replicates, directions) == ([0, 1], ("AB", "BA"))
    with pytest.raises(ValueError, match=r"runs/r1/baseA/model.keras is missing: .*"
                                         r"--experiments=base --replicates=2"):
        diagnose.check_bases(str(tmp_path), [1], {"replicates": 2})
    assert sorted(os.listdir(tmp_path)) == ["sweep.json"]


def run(module, *args):
    env = {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", f"keras_transfer.{module}", *args],
                          capture_output=True, text=True, env=env, timeout=900, cwd=REPO)


@pytest.mark.slow
def test_diagnose_a_tiny_sweep_end_to_end(tmp_path):
    work = tmp_path / "w"
    sweep = run("sweep", "--flagfile=flags/tiny.flags", f"--workdir={work}",
                "--experiments=base,transfer", "--workers=1", "--diagnostics", "--report")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    # The sweep ran the diagnostics (both directions) before its report, which shows them.
    both = json.loads((work / "diagnostics" / "scores.json").read_text())
    assert both["directions"] == ["AB", "BA"]
    assert {r["pair"] for r in both["similarity"]} == {"halves", "AnB+"}  # no selffers run
    report = (work / "report" / "report.md").read_text()
    assert "## Layer diagnostics" in report and "| LogME | AnB |" in report
    assert (work / "report" / "cka.png").exists() and (work / "report" / "predictors.png").exists()
    out = run("diagnose", f"--workdir={work}")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((work / "diagnostics" / "scores.json").read_text())
    assert [(s["replicate"], s["direction"], s["n"]) for s in summary["scores"]] == [
        (0, "AB", 1), (0, "AB", 2)]  # tiny.flags: --layers=1,2
    for row in summary["scores"]:
        assert all(math.isfinite(row[k]) for k in predictors.PREDICTORS), row
    assert all(math.isfinite(h[k]) for h in summary["heads"] for k in ("leep", "nce"))
    graded = {(g["score"], g["measured"]) for g in summary["grading"]}
    assert graded == {(s, m) for s in predictors.PREDICTORS for m in predictors.MEASURED}
    assert all(g["tau"] in (-1.0, 1.0) for g in summary["grading"])  # two n: +-1
    rec = summary["recommendations"]["AB"]  # one replicate: no interval, so no score trusted
    assert not rec["graded"] and rec["n"] in (1, 2) and rec["score"] == "linear_probe"
    assert "one replicate gives no interval" in rec["reason"]
    md = (work / "diagnostics" / "scores.md").read_text()
    assert "## Grading against the measured transfer nets" in md and "| LogME | AnB |" in md
    assert "a prediction, not a measurement" in md
    assert [line for line in out.stdout.splitlines() if line.startswith("  n=")][0].startswith(
        "  n=1  LogME ")

    # A missing base: one error line naming it and the command that trains it, nothing written.
    os.remove(work / "diagnostics" / "scores.json")
    os.rename(work / "runs" / "r0" / "baseB" / "model.keras", tmp_path / "baseB.keras")
    missing = run("diagnose", f"--workdir={work}")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    errors = [line for line in missing.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "r0/baseB/model.keras is missing" in errors[0]
    assert "python -m keras_transfer.sweep" in errors[0]
    assert not (work / "diagnostics" / "scores.json").exists()
    bad = run("diagnose", f"--workdir={work}", "--direction=AC")
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == [
        "error: --direction='AC' is unknown; use AB (base A's features on half B), BA or both"]


def colour_tree(root, classes=3, train=6, val=4):
    """ROOT/{train,val}/<class>/ of noisy 40x30 JPEGs whose class sets their colour."""
    from PIL import Image
    rng = np.random.default_rng(0)
    base = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
    for split, count in (("train", train), ("val", val)):
        for c in range(classes):
            os.makedirs(root / split / f"class{c}")
            for j in range(count):
                pixels = np.clip(np.array(base[c]) + rng.normal(0, 30, (30, 40, 3)), 0, 255)
                path = root / split / f"class{c}" / f"{j}.jpg"
                Image.fromarray(pixels.astype("uint8")).save(path)
    return root


def test_diagnose_a_trained_net_on_a_folder_dataset(tmp_path, monkeypatch):
    """--pretrained on a folder tree: the scores at each --layers n from the net's features, its
    head's LEEP and NCE, the CKA of its layers on the target, and with no sweep to grade them
    an ungraded recommendation; bad input is one clear error and nothing written."""
    monkeypatch.chdir(tmp_path)  # no runs/ here: nothing to grade with
    data = colour_tree(tmp_path / "flowers")
    net = tiny_net()
    net.save(tmp_path / "net.keras")
    out = tmp_path / "out"
    text, where = diagnose.diagnose_pretrained(str(tmp_path / "net.keras"), "caffenet_small",
                                           f"folder:{data}", "none", "B", layers="1,6",
                                           train_images=18, out_dir=str(out))
    summary = json.loads((out / "scores.json").read_text())
    assert where == str(out) and (out / "scores.md").read_text() == text
    assert [(r["n"], r["direction"]) for r in summary["scores"]] == [
        (1, "source→target"), (6, "source→target")]
    for row in summary["scores"]:
        assert all(math.isfinite(row[k]) for k in layer_scores.LAYER_SCORES), row
        assert 0 <= row["knn"] <= 1 and 0 <= row["linear_probe"] <= 1
    assert all(math.isfinite(summary["heads"][0][k]) for k in ("leep", "nce"))
    (matrix,) = summary["matrices"]
    assert matrix["ns"] == [1, 6] and matrix["debiased_cka"][0][0] == pytest.approx(1.0)
    rec = summary["recommendations"]["source→target"]
    assert (rec["score"], rec["graded"], rec["strategy"]) == ("linear_probe", False, "frozen")
    assert summary["graded_by"] == [] and "(none found)" in text
    assert "copy block" in text and "of the source to the target" in text

    def refused(match, **changes):
        args = dict(path=str(tmp_path / "net.keras"), model_name="caffenet_small",
                    dataset=f"folder:{data}", split_spec="none", half="B", layers="1",
                    train_images=18, out_dir=str(tmp_path / "never"))
        with pytest.raises(ValueError, match=match):
            diagnose.diagnose_pretrained(**{**args, **changes})
        assert not (tmp_path / "never").exists()

    other = backbones.build(backbones.architecture("resnet_mini", CLASSES), name="other")
    other.save(tmp_path / "other.keras")
    refused(r"other.keras is a resnet_mini net with \d+ cut points, not a "
            r"--model=caffenet_small", path=str(tmp_path / "other.keras"))
    refused("does not exist", path=str(tmp_path / "missing.keras"))
    refused("give a .keras file", path=str(tmp_path))
    refused(r"--layers='9': every n must be in 1..7", layers="9")
    refused("unknown model 'alexnet'", model_name="alexnet")
    refused("no diagnostics/scores.json there", graded=[str(tmp_path)])
    refused("3 classes and --train_images=3; the scores need 2 or more classes of at least 2 "
            "images each: pass --train_images=6", train_images=3)


@pytest.mark.parametrize("model_name", ["resnet_mini", "vit_mini", "mobilenetv3_mini"])
def test_features_of_every_cut_point_of_the_other_backbones(model_name):
    """Every family's cut points give one finite vector per image (conv maps and token maps
    pooled), and a score reads them."""
    from keras_transfer import catalog
    net = backbones.build(backbones.architecture(model_name, CLASSES), name=model_name)
    ns = list(range(1, catalog.max_n(model_name) + 1))
    images, labels = coloured_images(12, seed=7)
    got, _ = F.features(net, ns, batches(images, labels, size=4))
    assert list(got) == ns
    for n, f in got.items():
        assert f.ndim == 2 and len(f) == 12 and f.shape[1] > 1 and np.isfinite(f).all(), n
    assert math.isfinite(layer_scores.score_features(got[ns[-1]], labels, got[ns[-1]],
                                                     labels)["logme"])


def test_grade_per_k_of_the_dataset_size_study():
    """Scores on K images per class are graded against the transfer nets trained on K, the
    full half's against the full half's; the recommendation reads the full half only."""
    full = measured_rows()
    sized = [{**r, "target_per_class": 5, "top1_best10": None if r["top1_best10"] is None
              else 1 - r["top1_best10"]} for r in full]  # the reverse order over n at K = 5
    scores = score_rows() + [{**r, "logme": -r["logme"], "knn": -r["knn"],
                              "target_per_class": 5} for r in score_rows()]
    grades = {(g["score"], g["measured"], g["target_per_class"]): g
              for g in predictors.grade(scores, full + sized)}
    assert set(grades) == {(s, m, k) for s in ("logme", "knn") for m in ("AnB", "AnB+")
                           for k in (None, 5)}
    # Negated scores against reversed curves rank exactly as the full half's do.
    for key, g in grades.items():
        if key[2] == 5:
            same = grades[(key[0], key[1], None)]
            assert (g["tau"], g["hits"], g["picks_best"]) == pytest.approx(
                (same["tau"], same["hits"], same["picks_best"]))
    assert grades[("knn", "AnB", 5)]["measured_best_n"] == 4  # 1 - curve peaks at n = 4
    rec = predictors.recommend(list(grades.values()), scores, "AB")
    assert (rec["n"], rec["score"]) == (2, "logme")  # the full half's pick, as without K


@pytest.mark.slow  # 224 px keras.applications builds: ~30 s on 2 cores
@pytest.mark.parametrize("model_name", ["efficientnetv2_b0", "convnext_tiny"])
def test_features_of_every_cut_point_of_the_keras_applications(model_name):
    from keras_transfer import catalog
    net = backbones.build(backbones.architecture(model_name, CLASSES), name=model_name)
    ns = list(range(1, catalog.max_n(model_name) + 1))
    rng = np.random.default_rng(8)
    images = rng.uniform(0, 255, (4, 224, 224, 3)).astype("float32")
    got, _ = F.features(net, ns, batches(images, np.arange(4) % CLASSES, size=2))
    assert list(got) == ns
    for n, f in got.items():
        assert f.shape[0] == 4 and f.shape[1] > 1 and np.isfinite(f).all(), n
