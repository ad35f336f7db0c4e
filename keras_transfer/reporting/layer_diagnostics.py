"""The report's layer diagnostics: what `python -m keras_transfer.diagnose` predicted from a
sweep's bases (WORKDIR/diagnostics/scores.json), graded against what the sweep measured, and
how alike the nets' layers are by CKA: tables for report.md and scores.md, figures cka.png and
predictors.png.

Every number here is a prediction or a similarity read from trained nets, never a measured
transfer net; the report says so beside each table.
"""

import os
import statistics

import numpy as np

from keras_transfer import files
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import figures as G
from keras_transfer.reporting import legend, stats

SCORES_JSON = os.path.join("diagnostics", "scores.json")
LAYOUT = {"scores", "heads", "grading", "recommendations", "similarity", "matrices", "seconds"}
# How the tables, figures and the console name each score.
LABELS = {"logme": "LogME", "h_score": "H-score", "shrinkage_h_score": "shrinkage H",
          "knn": "k-NN", "linear_probe": "linear probe", "cka": "CKA",
          "debiased_cka": "debiased CKA", "leep": "LEEP", "nce": "NCE"}
# What each CKA comparison of `diagnostics.similarity` means, in the report's words.
PAIRS = {"halves": "base A vs base B (same n)",
         "replicates": "a base vs its next replicate (the noise floor)",
         "AnB+": "AnB+ vs the base it copied, at layer n",
         "BnB+": "BnB+ vs the base it copied, at layer n"}
PAIR_COLORS = {"halves": "#d9822b", "replicates": "#555555", "AnB+": "#f08c8c",
               "BnB+": "#7fb2e5"}
SIZES = {"cka": (9, 4), "predictors": (9, 4)}
MATRIX = "rows: the source half's base, columns: the target half's"
CKA_MEASURE = "debiased_cka"  # unbiased by the image count; what the figures and tables show


def read(workdir):
    """WORKDIR/diagnostics/scores.json as `diagnose` wrote it, or None before it ran; a file of
    another layout is refused in one line that says how to rewrite it."""
    summary = files.read_json(os.path.join(workdir, SCORES_JSON))
    if summary is None:
        return None
    if not (isinstance(summary, dict) and LAYOUT <= set(summary)
            and all("curves" in g for g in summary["grading"])):
        raise ValueError(f"{os.path.join(workdir, SCORES_JSON)} is not in the layout this "
                         "version writes; rewrite it: python -m keras_transfer.diagnose "
                         f"--workdir={workdir} --direction=both")
    return summary


def gradings(workdirs=None):
    """{workdir: its diagnostics' grading rows, each with "workdir"} of `workdirs`, or of every
    runs/*/ that has diagnostics; a workdir named without them is refused in one line."""
    import glob
    if workdirs is None:
        workdirs = sorted(os.path.dirname(os.path.dirname(p)) for p in glob.glob(
            os.path.join("runs", "*", SCORES_JSON)))
    found = {}
    for workdir in workdirs:
        summary = read(workdir)
        if summary is None:
            raise ValueError(f"--graded={workdir}: no {SCORES_JSON} there; run python -m "
                             f"keras_transfer.diagnose --workdir={workdir} first")
        found[workdir] = [{**g, "workdir": workdir} for g in summary["grading"]]
    return found


def _interval(grade, name):
    mean, low, high = grade[name], grade[f"{name}_low"], grade[f"{name}_high"]
    if mean is None:
        return "—"
    return f"{mean:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low is not None else "")


def grading_lines(grading):
    """The predictor-vs-measured table: each score's rank agreement with the measured AnB and
    AnB+ curves over n, and whether it picks the measured best n."""
    if not grading:
        return ["Not graded: the workdir has no measured A<n>B / A<n>B+ nets at two or more "
                "of these n (run the sweep's transfer experiment, then diagnose again).", ""]
    lines = ["Kendall tau and Spearman rho between each score and the measured top-1 "
             "(best-10) over n, per replicate (directions averaged), mean [95 % interval over "
             "replicates]; best n: the score's argmax over n against the measured one, on the "
             "mean curves (✓ where they agree); hits: the replicate and direction curves "
             "where they agree. tau near +1: the score orders the cut points as the measured "
             "nets do; near 0: no better than chance; negative: the reverse order.", ""]
    sized = any(g.get("target_per_class") for g in grading)  # the dataset-size study's K
    if sized:
        lines += ["K: the target's training images per class of the measured nets and of the "
                  "scores (all: the full half).", ""]
    return lines + F.markdown_table(
        [*(["K"] if sized else []), "score", "measured", "Kendall tau", "Spearman rho",
         "best n (score / measured)", "hits"],
        [[*([g.get("target_per_class") or "all"] if sized else []), LABELS[g["score"]],
          g["measured"], _interval(g, "tau"), _interval(g, "rho"),
          f"{g['score_best_n']} / {g['measured_best_n']}" + (" ✓" if g["picks_best"] else ""),
          f"{g['hits']} of {g['curves']}"] for g in grading])


def recommendation_lines(recommendations):
    lines = []
    for direction, rec in recommendations.items():
        if rec is None:
            continue
        # "AB": base A's blocks to half B; a lone net's ("source→target") to the new data
        source, target = (f"base {direction[0]}", f"half {direction[1]}") if len(
            direction) == 2 else ("the source", "the target")
        blocks = "block 1" if rec["n"] == 1 else f"blocks 1..{rec['n']}"
        lines.append(f"- {direction}: copy {blocks} of {source} to {target}, "
                     f"{rec['strategy']} ({LABELS[rec['score']]}'s pick; {rec['reason']}).")
    return lines


def number(value):
    return "—" if value is None else f"{value:.4g}"


def scores_markdown(summary, intro):
    """scores.md of `diagnose`: `intro` (a title and a paragraph), the scores by n, the head
    scores, the grading, the recommendation and CKA."""
    from keras_transfer.diagnostics.layer_scores import HEAD_SCORES, LAYER_SCORES
    columns = [c for c in (*LAYER_SCORES, "cka", "debiased_cka")
               if any(s.get(c) is not None for s in summary["scores"])]
    title, paragraph = intro
    lines = [title, "", paragraph, "", "## Scores by cut point", ""]
    lines += F.markdown_table(["replicate", "direction", "K", "n",
                               *(LABELS[c] for c in columns)],
                              [[s["replicate"], s["direction"], s.get("target_per_class") or
                                "all", s["n"], *(number(s.get(c)) for c in columns)]
                               for s in summary["scores"]])
    lines += ["## The source head (one number per net, whatever n)", ""]
    lines += F.markdown_table(["replicate", "direction", *(LABELS[h] for h in HEAD_SCORES)],
                              [[h["replicate"], h["direction"], *(number(h[k]) for k in
                                                                  HEAD_SCORES)]
                               for h in summary["heads"]])
    lines += ["## Grading against the measured transfer nets", ""]
    lines += grading_lines(summary["grading"])
    lines += ["## Recommendation (a prediction, not a measurement)", ""]
    lines += recommendation_lines(summary["recommendations"])
    if summary.get("similarity"):
        lines += ["", "## CKA between the nets' layers", ""]
        lines += similarity_lines(summary["similarity"])
    ns, mean = mean_matrix(summary.get("matrices", []))
    if mean is not None:
        lines += ["", f"## Debiased CKA, layer x layer ({summary.get('matrix_label', MATRIX)}; "
                  f"the mean of {len(summary['matrices'])})", ""]
        lines += F.markdown_table(["n", *map(str, ns)], [
            [n, *(number(None if np.isnan(v) else v) for v in row)]
            for n, row in zip(ns, mean)])
    return "\n".join(lines + ["", f"Computed in {summary['seconds']} s.", ""])


def similarity_estimates(rows, pair, measure=CKA_MEASURE):
    """{n: stats.Estimate} of one comparison: per replicate the mean over its directions, the
    interval over replicates."""
    cells = {}
    for row in rows:
        if row["pair"] == pair and row.get(measure) is not None:
            cells.setdefault(row["n"], {}).setdefault(row["replicate"], []).append(row[measure])
    return {n: stats.estimate(statistics.fmean(v) for v in by_rep.values())
            for n, by_rep in sorted(cells.items())}


def similarity_curves(rows):
    """{pair: `similarity_estimates`} of every comparison the rows hold, in PAIRS' order."""
    found = {pair: similarity_estimates(rows, pair) for pair in PAIRS}
    return {pair: curve for pair, curve in found.items() if curve}


def similarity_lines(rows):
    """Debiased CKA per comparison and n, mean [95 % interval over replicates]."""
    found = similarity_curves(rows)
    ns = sorted({n for curve in found.values() for n in curve})
    if not ns:
        return []
    runs = {pair: max(e.count for e in curve.values()) for pair, curve in found.items()}
    return F.markdown_table(
        ["debiased CKA, at n", *map(str, ns)],
        [[f"{PAIRS[pair]} ({runs[pair]} run{'s' if runs[pair] != 1 else ''})",
          *(_cka_text(curve[n]) if n in curve else "—" for n in ns)]
         for pair, curve in found.items()])


def _cka_text(estimate):
    if not estimate.conclusive:
        return f"{estimate.mean:.2f}"
    # CKA is at most 1; a t-interval over 2-3 replicates can reach past it.
    return f"{estimate.mean:.2f} [{estimate.low:.2f}, {min(1.0, estimate.high):.2f}]"


def markdown(summary):
    """The report's section on the layer diagnostics of one workdir."""
    reps = summary["replicates"]
    lines = ["## Layer diagnostics (predicted from the bases, graded against the measured nets)",
             "",
             f"From `python -m keras_transfer.diagnose` ({summary['seconds']} s): each base's "
             f"features at n on the other half's first {summary['train_images']} training "
             "images give the transferability scores (LogME, H-score, k-NN, linear probe), "
             f"over {len(reps)} replicate{'s' if len(reps) != 1 else ''}, directions "
             f"{', '.join(summary['directions'])}. These are predictions: the measured nets "
             "are the tables above.", "", "### Which score would have picked the layer", ""]
    lines += grading_lines(summary["grading"])
    lines += ["Recommendation of the best-graded score (a prediction, not a measurement):",
              ""]
    lines += recommendation_lines(summary["recommendations"]) + [""]
    lines += ["![Scores against the measured curves](predictors.png)", "",
              "### How alike the layers are (CKA)", "",
              "Debiased linear CKA (Kornblith et al. 2019, unbiased HSIC) on the target half's "
              "validation images, 1 = the same features up to a rotation and scale, 0 = "
              "unrelated; mean [95 % interval over replicates].", ""]
    lines += similarity_lines(summary.get("similarity", []))
    return lines + ["", "![CKA](cka.png)", ""]


def mean_matrix(matrices, measure=CKA_MEASURE):
    """(ns, the mean layer x layer matrix over replicates and directions) or (None, None)."""
    kept = [m for m in matrices if m.get(measure)]
    if not kept:
        return None, None
    values = np.array([[[np.nan if v is None else v for v in row] for row in m[measure]]
                       for m in kept], dtype=float)
    # A cell undefined in every matrix stays NaN (drawn as "—"), without numpy's warning.
    return kept[0]["ns"], np.ma.masked_invalid(values).mean(axis=0).filled(np.nan)


def cka_figure(summary):
    """(a) the halves' layer x layer debiased CKA; (b) CKA at n per comparison, 95 % bars."""
    fig = G.new_figure(SIZES["cka"])
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": (1, 1.3)})
    ns, mean = mean_matrix(summary.get("matrices", []))
    if mean is None:
        G.empty(left, "no CKA matrix")
    else:
        # Each cell carries its value, so no colour bar is needed to read it.
        left.imshow(mean, vmin=0, vmax=1, cmap="viridis", origin="lower")
        left.set_xticks(range(len(ns)), labels=map(str, ns))
        left.set_yticks(range(len(ns)), labels=map(str, ns))
        for i in range(len(ns)):
            for j in range(len(ns)):
                left.text(j, i, "—" if np.isnan(mean[i, j]) else f"{mean[i, j]:.2f}",
                          ha="center", va="center", fontsize=7,
                          color="white" if mean[i, j] < 0.6 else "black")
        left.set_xlabel("layer of the target half's base", fontsize=G.LABEL)
    G.finish(left, "(a) base A vs base B", "layer of the source half's base")
    left.grid(False)
    pairs = similarity_curves(summary.get("similarity", []))
    for i, (pair, curve) in enumerate(pairs.items()):
        dx = (i - (len(pairs) - 1) / 2) * 0.08  # side by side so the bars do not overlap
        right.errorbar([n + dx for n in curve], [e.mean for e in curve.values()],
                       G.error_bars(curve.values()), fmt="-o", ms=4, capsize=2,
                       color=PAIR_COLORS[pair], label=PAIRS[pair])
    if not pairs:
        G.empty(right, "no CKA comparisons")
    right.set_xlabel("layer n", fontsize=G.LABEL)
    right.set_ylim(-0.05, 1.15)
    G.finish(right, "(b) CKA at layer n", "debiased CKA (95 % CI)")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14, wspace=0.3)
    legend.outside(fig, [right])
    return fig


def scaled(curve):
    """A curve {n: value} scaled to [0, 1] over n (constant curves to 0.5)."""
    low, high = min(curve.values()), max(curve.values())
    return {n: 0.5 if high == low else (v - low) / (high - low) for n, v in curve.items()}


def predictor_curves(summary, measured_rows):
    """({score: mean curve over replicates and directions}, {group: measured mean curve})."""
    from keras_transfer.reporting import predictors
    scores, full = {}, [s for s in summary["scores"] if s.get("target_per_class") is None]
    for name in predictors.PREDICTORS:
        for curve in predictors.score_curves(full, name).values():
            for n, v in curve.items():
                scores.setdefault(name, {}).setdefault(n, []).append(v)
    measured = {}
    for group in predictors.MEASURED:
        for direction in summary["directions"]:
            for curve in predictors.measured_curves(measured_rows, group, direction[1]).values():
                for n, v in curve.items():
                    measured.setdefault(group, {}).setdefault(n, []).append(v)
    mean = lambda cells: {n: statistics.fmean(v) for n, v in sorted(cells.items())}
    return ({k: mean(v) for k, v in scores.items()}, {k: mean(v) for k, v in measured.items()})


PREDICTOR_COLORS = {"logme": "#1f4e9c", "h_score": "#7fb2e5", "shrinkage_h_score": "#2ca02c",
                    "knn": "#b0232a", "linear_probe": "#f08c8c", "cka": "#d9822b",
                    "debiased_cka": "#7b3fa0"}


def predictors_figure(summary, measured_rows):
    """Each score's mean curve over n against the measured AnB (frozen) and AnB+ (fine-tuned)
    curves, every curve scaled to [0, 1] over n: a score that predicts well rises and falls
    with the thick black line."""
    scores, measured = predictor_curves(summary, measured_rows)
    fig = G.new_figure(SIZES["predictors"])
    axes = fig.subplots(1, 2, sharey=True)
    for ax, group in zip(axes, ("AnB", "AnB+")):
        for name, curve in scores.items():
            if name in ("cka", "debiased_cka") and name != CKA_MEASURE:  # one CKA, as the tables
                continue
            s = scaled(curve)
            ax.plot(list(s), list(s.values()), "-o", ms=3, lw=1, color=PREDICTOR_COLORS[name],
                    label=LABELS[name])
        if group in measured:
            m = scaled(measured[group])
            ax.plot(list(m), list(m.values()), "-", lw=3, color="black",
                    label="measured")
        else:
            G.empty(ax, f"no measured {group} nets")
        ax.set_xlabel("layer n", fontsize=G.LABEL)
        ax.set_ylim(-0.05, 1.05)
        G.finish(ax, f"Scores vs measured {group}",
                 "scaled to [0, 1] over n" if group == "AnB" else None)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14, wspace=0.08)
    legend.outside(fig, list(axes), shared=True)
    return fig


def write_figures(summary, measured_rows, out_dir):
    """cka.png/svg and predictors.png/svg in out_dir; returns {name: png path}."""
    os.makedirs(out_dir, exist_ok=True)
    return {"cka": G.save(cka_figure(summary), out_dir, "cka"),
            "predictors": G.save(predictors_figure(summary, measured_rows), out_dir,
                                 "predictors")}
