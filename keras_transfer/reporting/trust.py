"""The report's sections on how far its numbers can be trusted: the method, the control, and
whether the nets behind them converged.

The control comes first because it validates everything after it: a selffer fine-tuned from its
own base (BnB+) should end where the base did. If it does not, the training budget or recipe
moves accuracy on its own, and every other difference in the report is confounded with that.
"""

from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import stats
from keras_transfer.training.convergence import TOLERANCE as CONVERGENCE_TOLERANCE
from keras_transfer.training.regime import MIN_GAP as REGIME_GAP
from keras_transfer.training.regime import REGIMES


def method_note(margin):
    return [
        "## How sure: method", "",
        "Every net is trained once per replicate; replicates differ in init and data order. A "
        "difference (e.g. BnB(n) − base) is taken within a stratum (split, split seed, seed, "
        "replicate, target half), where the dependants share their base and, within a "
        "replicate, their fresh-layer init and data order; per replicate the two directions "
        "(target A and B) are averaged as a fixed factor; the 95 % interval is Student's t over "
        "replicate blocks (df = blocks − 1). Absolute accuracies are the per-block mean of a "
        "group with the same interval. A finding **holds** when the interval of its quantity "
        "lies entirely on the predicted side of zero (for \"≈ base\": entirely within "
        f"±{margin}), **does not hold** when entirely on the other side (for \"≈ base\": "
        f"outside ±{margin}) or entirely within ±{margin} without being on the predicted side "
        "(an effect that large is excluded), and is **inconclusive** otherwise, always with a "
        "single replicate. A finding that compares with a base is **not measurable** while a "
        "base it uses was still rising. Diverged nets are excluded from every mean.", ""]


def control_section(finding, pool, margin):
    """The BnB+ - base control: pooled and per-direction, with its verdict."""
    ns = D.axis(pool)
    every = f"n={ns[0]}..{ns[-1]}"
    p = D.paired(pool, "BnB+", "base", ns)
    out = [f"## The control: BnB+ − base over {every}", ""]
    if p.estimate is None:
        return out + [f"**{finding.status}**: {finding.evidence}.", ""]
    dirs = "; ".join(f"into {t}: {e}" for t, e in p.directions.items())
    out += [f"Mean BnB+ − base (paired, per stratum mean over {every}): {p.estimate}"
            + (f"; per direction {dirs}" if dirs else "") + ".", "",
            f"Within ±{margin} of base: **{finding.status}**"
            + (f" ({finding.evidence})" if finding.status.startswith(F.UNMEASURABLE) else "")
            + ".", ""]
    return out + budget_matched_lines(pool, ns, finding.status == F.FAILS)


def budget_matched_lines(pool, ns, failed):
    """The budget-matched controls beside the paper's: what a second budget alone gives a base
    (the base continued, every layer copied and fine-tuned once more) and BnB+ against it (both
    had two budgets for their copied layers), then in plain words what a failed control leaves
    standing."""
    every = f"n={ns[0]}..{ns[-1]}"
    second = D.paired(pool, "continued", "base", ns[:1])
    matched = D.paired(pool, "BnB+", "continued", ns)
    out = []
    if second.estimate is not None:
        out += [f"- Second budget (base continued − base): {second.estimate}.",
                f"- Budget-matched control (BnB+ − base continued, over {every}): "
                f"{matched.estimate}.", ""]
    if failed:
        out += [f"The control fails, so {F.UNJUDGED}; {F.STANDING}.", ""]
    return out


def status_cell(row):
    """'yes (flat)', 'no (rising)', 'diverged' or '?' (a row older than the diagnostic)."""
    if D.diverged(row):
        return "diverged"
    ok = D.converged(row)
    if ok is None:
        return "?"
    return f"{'yes' if ok else 'no'} ({D.convergence_status(row)})"


def _signed(value):
    return None if value is None else stats.signed_text(value, 4)


def convergence_section(rows):
    """Counts per kind, every base's status and tail gain, the unconverged and diverged nets."""
    out = ["## Convergence", "",
           "By the diagnostic of `keras_transfer.convergence`: the mean validation top-1 of the "
           "last fifth of the evaluations minus that of the fifth before (tail gain); within "
           f"±{CONVERGENCE_TOLERANCE} is flat = converged. \"?\" = a row written before the "
           "diagnostic existed.", ""]
    body = []
    for kind in F.KINDS:
        got = [r for r in rows if r["kind"] == kind]
        if got:
            body.append([kind, len(got),
                         sum(D.converged(r) is True and not D.diverged(r) for r in got),
                         sum(D.converged(r) is False and not D.diverged(r) for r in got),
                         sum(D.converged(r) is None and not D.diverged(r) for r in got),
                         sum(D.diverged(r) for r in got)])
    out += F.markdown_table(["kind", "nets", "converged", "not converged", "unknown (?)",
                             "diverged"], body)
    bases = sorted((r for r in rows if r["kind"] == "base"), key=_order)
    out += ["Base nets:", ""]
    body = [[r["net"], F.split_label(r), r["seed"], D.replicate(r),
             status_cell(r), _signed(D.tail_gain(r))] for r in bases]
    out += F.markdown_table(["base", "split", "seed", "replicate", "converged (status)",
                             "tail_gain"], body)
    unconverged = [r for r in sorted(rows, key=_order)
                   if D.converged(r) is False and not D.diverged(r)]
    diverged = [r for r in sorted(rows, key=_order) if D.diverged(r)]
    out.append("- not converged: " + (", ".join(
        f"{_name(r)} ({D.convergence_status(r)}, tail gain {_signed(D.tail_gain(r))})"
        for r in unconverged) if unconverged else "none"))
    out.append("- diverged (excluded from every mean): "
               + (", ".join(_name(r) for r in diverged) if diverged else "none"))
    return out + [""]


def regime_section(rows):
    """Which regime each base ended in (training.regime), and counts per kind: the paper's bases
    sat on an overfitting plateau, where a copy has nothing left to gain from more training."""
    out = ["## Regime", "",
           "By `keras_transfer.training.regime`: after every evaluation each net is also "
           "evaluated on a fixed, un-augmented sample of its own training images. **Overfitting "
           "plateau**: the validation loss lowest before the last fifth of the evaluations "
           "(rising since) and training-sample top-1 at least "
           f"{REGIME_GAP} above validation at the end (the paper's bases); **still fitting** "
           "otherwise; unknown: a net from before the diagnostic.", ""]
    body = []
    for kind in F.KINDS:
        got = [r for r in rows if r["kind"] == kind and not D.diverged(r)]
        if got:
            body.append([kind, len(got), *[sum(regime_of(r)["regime"] == name for r in got)
                                           for name in REGIMES]])
    out += F.markdown_table(["kind", "nets", *REGIMES], body)
    bases = sorted((r for r in rows if r["kind"] == "base" and not D.diverged(r)), key=_order)
    body = [[r["net"], F.split_label(r), D.replicate(r), regime_of(r)["regime"],
             _f4(regime_of(r)["sample_top1"]), _f4(regime_of(r)["val_top1"]),
             regime_of(r)["reason"]] for r in bases]
    out += ["Base nets:", ""]
    return out + F.markdown_table(["base", "split", "replicate", "regime", "training top-1",
                                   "validation top-1", "why"], body)


def regime_of(row):
    """The row's regime diagnostic, or an unknown one for rows written before it."""
    return row.get("regime") or {"regime": REGIMES[-1], "reason": "a row from before the "
                                 "diagnostic", "sample_top1": None, "val_top1": None}


def _name(row):
    return f"{row['net']} ({F.split_label(row)}, seed {row['seed']}, " \
        f"r{D.replicate(row)})"


def _order(row):
    return (str(row["split"]), str(row["split_seed"]), str(row["seed"]), D.replicate(row),
            row["net"])



def decomposition_section(pool, rows):
    """The decomposition table: one line per quantity (pooled), one per direction under it."""
    dec = D.decomposition(pool, rows)
    ns = D.axis(rows)
    out = ["## Decomposition (paired differences in top-1 per n)", "",
           "![decomposition](decomposition.png)", "",
           "A/B quantities use the rows of Figure 2; the random-filter drop uses every all-class "
           "net. Each cell: mean [95 % interval] (runs: replicate blocks); the lines under a "
           "quantity are its per-direction estimates (into target half A or B).", ""]
    body = []
    for label, curve in dec.items():
        body.append([f"**{label}**", *[curve[n].estimate if n in curve else None for n in ns]])
        for t in sorted({t for p in curve.values() for t in p.directions} - {"all"}):
            body.append([f"into {t}", *[curve[n].directions.get(t) if n in curve else None
                                        for n in ns]])
    if not body:
        return out + ["No quantity of the decomposition is measurable yet (it needs a base and "
                      "its dependants in the same replicate).", ""]
    return out + F.markdown_table(["quantity", *[f"n={n}" for n in ns]], body)


def _images_per_class(row):
    """k= (reduced), K= (target size), the sweep's --train_per_class, or "all"."""
    if row.get("per_class") is not None:
        return f"k={row['per_class']}"
    if row.get("target_per_class") is not None:
        return f"K={row['target_per_class']}"
    return str((row.get("recipe") or {}).get("train_per_class") or "all")


def _f4(value):
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def net_table(rows):
    """Markdown: every net (diverged ones too) with its replicate and convergence status."""
    order = {k: i for i, k in enumerate(F.KINDS)}
    rows = sorted(rows, key=lambda r: (str(r["split"]), str(r["split_seed"]), str(r["seed"]),
                                       D.replicate(r), r.get("target_per_class") or 0,
                                       order[r["kind"]], r.get("per_class") or 0, r["n"],
                                       bool(r["fine_tune"]), r["net"]))
    body = [[r["net"], r["split"], r["split_seed"], r["seed"], D.replicate(r), r["n"],
             r["fine_tune"], _images_per_class(r), _f4(r[F.METRIC]), _f4(r.get("top1")),
             _f4(r.get("top5")), r.get("steps"),
             f"{r['train_seconds']:.1f}" if isinstance(r.get("train_seconds"), (int, float))
             else None, status_cell(r), _f4(D.tail_gain(r))] for r in rows]
    return F.markdown_table(["net", "split", "split_seed", "seed", "replicate", "n", "fine_tune",
                             "images/class", F.METRIC, "final top1", "top5", "steps", "seconds",
                             "converged (status)", "tail_gain"], body)
