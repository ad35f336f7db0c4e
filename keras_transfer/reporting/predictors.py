"""How well a per-layer score predicts the measured transfer curve: rank agreement over n
(Kendall's tau, Spearman's rho) and whether it picks the best n, over replicates with 95 %
t-intervals, and the cut point the best-graded score recommends.

A score row is {"replicate", "direction", "n", and a value per score name}; "AB" means base A's
features scored on half B, so it predicts the measured A<n>B (frozen) and A<n>B+ (fine-tuned)
nets of the same replicate. As in the report, a replicate's value is the mean over its
directions and the interval is over replicates.
"""

import statistics

import numpy as np
from scipy import stats as scipy_stats

from keras_transfer import catalog
from keras_transfer.diagnostics.layer_scores import LAYER_SCORES
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import stats

# Every per-n curve graded: the transferability scores and the similarity of the two bases.
PREDICTORS = (*LAYER_SCORES, "cka", "debiased_cka")
MEASURED = ("AnB", "AnB+")  # the frozen and the fine-tuned transfer nets
FALLBACK = "linear_probe"  # the ungraded recommendation: the cheap ground truth of the scores


def rank_agreement(scores_by_n, measured_by_n):
    """(Kendall's tau, Spearman's rho) between two curves {n: value} over the n both have;
    NaN where either curve is constant over them (no order to agree with)."""
    ns = sorted(set(scores_by_n) & set(measured_by_n))
    if len(ns) < 2:
        raise ValueError(f"rank agreement needs curves over at least 2 common n; got "
                         f"{sorted(scores_by_n)} and {sorted(measured_by_n)}")
    a = [scores_by_n[n] for n in ns]
    b = [measured_by_n[n] for n in ns]
    if len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan"), float("nan")
    return (float(scipy_stats.kendalltau(a, b).statistic),
            float(scipy_stats.spearmanr(a, b).statistic))


def measured_curves(rows, group, target, k=None):
    """{replicate: {n: mean top1_best10}} of the rows' `group` nets trained on `target` (on
    its first k training images per class with `k`, the dataset-size study's K)."""
    cells = {}
    for row in D.select(rows, group, target=target, size="full" if k is None else k):
        cells.setdefault(D.replicate(row), {}).setdefault(int(row["n"]), []).append(
            row[D.METRIC])
    return {r: {n: statistics.fmean(v) for n, v in curve.items()} for r, curve in cells.items()}


def score_curves(score_rows, name):
    """{(replicate, direction): {n: value}} of one score (rows of one K)."""
    curves = {}
    for row in score_rows:
        value = row.get(name)
        if value is not None and np.isfinite(value):
            curves.setdefault((row["replicate"], row["direction"]), {})[row["n"]] = value
    return curves


def grade(score_rows, measured_rows):
    """One row per (score of PREDICTORS, measured group of MEASURED) that can be graded:
    {"score", "measured", "strategy", "tau", "tau_low", "tau_high", "rho", "rho_low",
    "rho_high", "replicates", "hits", "curves", "score_best_n", "measured_best_n",
    "picks_best"}. tau and rho: the mean over replicates (a replicate's directions averaged)
    with its 95 % t-interval (None for one replicate); hits of curves: the (replicate,
    direction) curves whose argmax n is the measured best; picks_best: the argmax of the
    score's mean curve is that of the measured mean curve."""
    out = []
    for k in sorted({row.get("target_per_class") for row in score_rows},
                    key=lambda k: -1 if k is None else k):  # the full half first, then each K
        scored = [row for row in score_rows if row.get("target_per_class") == k]
        for group in MEASURED:
            measured = {}
            for direction in sorted({row["direction"] for row in scored}):
                for r, curve in measured_curves(measured_rows, group, direction[1], k).items():
                    measured[(r, direction)] = curve
            for name in PREDICTORS:
                graded = _grade_one(score_curves(scored, name), measured)
                if graded is not None:
                    fine_tune = group.endswith("+")
                    out.append({"score": name, "measured": group, "target_per_class": k,
                                "strategy": catalog.strategy("transfer", fine_tune), **graded})
    return out


def _grade_one(curves, measured):
    """The grade of one score's curves against the measured ones of the same (replicate,
    direction)."""
    per_replicate, hits, count, score_means, measured_means = {}, 0, 0, {}, {}
    for key in sorted(set(curves) & set(measured)):
        ns = sorted(set(curves[key]) & set(measured[key]))
        if len(ns) < 2:
            continue
        score = {n: curves[key][n] for n in ns}
        truth = {n: measured[key][n] for n in ns}
        tau, rho = rank_agreement(score, truth)
        if np.isfinite(tau):
            per_replicate.setdefault(key[0], []).append((tau, rho))
        count += 1
        hits += _argmax(score) == _argmax(truth)
        for n in ns:
            score_means.setdefault(n, []).append(score[n])
            measured_means.setdefault(n, []).append(truth[n])
    if not count:
        return None
    taus = stats.estimate(statistics.fmean(t for t, _ in v) for v in per_replicate.values())
    rhos = stats.estimate(statistics.fmean(r for _, r in v) for v in per_replicate.values())
    score_best = _argmax({n: statistics.fmean(v) for n, v in score_means.items()})
    measured_best = _argmax({n: statistics.fmean(v) for n, v in measured_means.items()})
    return {**_estimate("tau", taus), **_estimate("rho", rhos),
            "replicates": taus.count if taus else 0, "hits": hits, "curves": count,
            "score_best_n": score_best, "measured_best_n": measured_best,
            "picks_best": score_best == measured_best}


def _estimate(name, estimate):
    """The mean and interval of a rank correlation; the t-interval clipped to [-1, 1], where
    every rank correlation lies (over 3 replicates its half-width can exceed 1)."""
    if estimate is None:  # every curve constant: no order to grade
        return {name: None, f"{name}_low": None, f"{name}_high": None}
    clip = lambda v: None if v is None else min(1.0, max(-1.0, v))  # noqa: E731
    return {name: estimate.mean, f"{name}_low": clip(estimate.low),
            f"{name}_high": clip(estimate.high)}


def _argmax(curve):
    """The n of a curve's largest value (the smallest such n on a tie)."""
    return max(sorted(curve), key=lambda n: curve[n])


def trusted(grade):
    """A score agrees with the measured curve beyond chance: its tau's 95 % interval lies above
    0. One replicate gives no interval, so nothing graded on one is trusted."""
    return grade["tau_low"] is not None and grade["tau_low"] > 0


def best_graded(grades):
    """The grade row of the score that tracks a measured curve best, or None when none is
    `trusted`. Highest mean tau first; on a tie (common with few n: every tau is +-1 over two)
    the higher interval's lower end, then rho, then the larger share of hits; then the earlier
    in PREDICTORS and MEASURED."""
    candidates = [g for g in grades if trusted(g)]
    if not candidates:
        return None
    return max(candidates, key=lambda g: (
        g["tau"], -2.0 if g["tau_low"] is None else g["tau_low"],
        -2.0 if g["rho"] is None else g["rho"], g["hits"] / g["curves"]))


def recommend(grades, score_rows, direction):
    """The cut point and strategy predicted for `direction` ("AB": base A's blocks to half B):
    {"n", "strategy", "score", "graded", "reason"}; None without score rows. The n is the
    argmax of the best-graded score's mean curve over replicates, the strategy that of the
    measured group it tracks; without a grade, the linear probe's argmax with frozen blocks
    (a probe on frozen features is what it measures), marked ungraded. A prediction, never a
    measurement."""
    # The cut point for the whole target half: grades and scores of the full half, not of K.
    grades = [g for g in grades if g.get("target_per_class") is None]
    best = best_graded(grades)
    name = best["score"] if best else FALLBACK
    values = {}
    for row in score_rows:
        if row["direction"] == direction and row.get(name) is not None and \
                row.get("target_per_class") is None:
            values.setdefault(row["n"], []).append(row[name])
    if not values:
        return None
    n = _argmax({k: statistics.fmean(v) for k, v in values.items()})
    if best is None:
        why = ("no measured transfer curve to grade the scores against" if not grades else
               "no score's ranking of n agrees with the measured curves beyond chance (no "
               "Kendall tau's 95 % interval lies above 0; one replicate gives no interval)")
        return {"n": n, "strategy": catalog.strategy("transfer", False), "score": name,
                "graded": False, "reason": f"ungraded: {why}"}
    # Grades pooled from other sweeps (diagnose --pretrained) name the sweep they came from.
    where = f" in {best['workdir']}" if best.get("workdir") else ""
    return {"n": n, "strategy": best["strategy"], "score": name, "graded": True,
            "reason": f"it tracks the measured {best['measured']} curve best (mean Kendall "
                      f"tau {best['tau']:+.2f} over {best['replicates']} "
                      f"replicate{'' if best['replicates'] == 1 else 's'}){where}"}
