"""Adaptation strategies on one n axis: for the transfer nets (A to B and B to A pooled, as the
paper pools its AnB), top-1 per strategy and n with 95 % intervals, the best (strategy, n),
and each adaptation kind against full fine-tuning (AnB+) at every n, judged from paired
intervals within replicates (the nets of one replicate share their fresh layers' init and
batches, so the contrasts are paired)."""

from keras_transfer import catalog
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import stats

# strategy -> the report group of its transfer nets (decomposition.group_of)
GROUPS = {"frozen": "AnB", "fine_tune": "AnB+",
          **{kind: f"AnB-{kind}" for kind in catalog.ADAPTATION_KINDS}}
LABELS = {"frozen": "frozen (AnB)", "fine_tune": "fine-tuned (AnB+)",
          "truncate": "truncate: linear classifier on blocks 1..n",
          "surgical": "surgical: train block n only",
          "lp_ft": "LP-FT: AnB, then every layer fine-tuned",
          "llrd": "layer-wise lr decay: AnB+, block k at decay^(n+1-k)"}
REFERENCE = "fine_tune"  # the strategy each adaptation kind is compared with


def present(rows):
    """Whether any row is of an adaptation kind (else the report has no strategy section)."""
    return any(r["kind"] in catalog.ADAPTATION_KINDS for r in rows)


def curves(pool):
    """{strategy: {n: Estimate}} of the strategies `pool` has."""
    return {s: c for s, group in GROUPS.items() if (c := F.per_n(pool, group))}


def best(found):
    """(strategy, n, Estimate) with the highest mean top-1, or None."""
    cells = [(s, n, e) for s, curve in found.items() for n, e in curve.items()]
    return max(cells, key=lambda cell: cell[2].mean, default=None)


def against_reference(pool):
    """{kind: {n: Paired}}: kind(n) − AnB+(n) within replicate units, for each adaptation kind."""
    out = {}
    for kind in catalog.ADAPTATION_KINDS:
        curve = {n: p for n in D.axis(pool)
                 if (p := D.paired(pool, GROUPS[kind], GROUPS[REFERENCE], [n])).estimate}
        if curve:
            out[kind] = curve
    return out


def verdicts(pool):
    """One line per adaptation kind: at which n it beats, loses to or ties full fine-tuning
    (the paired interval above zero, below zero, or across it)."""
    lines = []
    for kind, curve in against_reference(pool).items():
        beats = [n for n, p in curve.items() if stats.sign_verdict(p.estimate, 1) == F.HOLDS]
        loses = [n for n, p in curve.items() if stats.sign_verdict(p.estimate, 1) == F.FAILS]
        # A single run has no interval: nothing is judged there, rather than "not told apart".
        single = [n for n, p in curve.items() if not p.estimate.conclusive]
        rest = [n for n in curve if n not in beats + loses + single]
        parts = [f"beats full fine-tuning at n = {_ns(beats)}" if beats else "",
                 f"is below it at n = {_ns(loses)}" if loses else "",
                 f"not told apart at n = {_ns(rest)}" if rest else "",
                 f"not judged at n = {_ns(single)} (one run: no interval)" if single else ""]
        lines.append(f"- **{kind}** − fine-tuned AnB+: " + "; ".join(p for p in parts if p)
                     + ". " + ", ".join(f"n={n}: {p.estimate}" for n, p in curve.items()) + ".")
    return lines


def _ns(ns):
    return ", ".join(map(str, ns))


def markdown(rows):
    """The report's strategy section (empty when no adaptation kind was run)."""
    if not present(rows):
        return []
    pool, label = F.transfer_pool(rows)
    found = curves(pool)
    base = F.base_stat(pool)
    out = ["## Adaptation strategies on the same n axis", "",
           f"Transfer nets ({label}, both directions pooled): mean top-1 ({F.METRIC}) ± 95 % "
           "half-width over replicates. ![strategies](strategies.png)", ""]
    ns = D.axis(pool)
    body = [["base (from scratch)", base.pm() if base else None, *[None] * len(ns)]]
    for s, curve in found.items():
        body.append([LABELS[s], None, *[curve[n].pm() if n in curve else None for n in ns]])
    out += F.markdown_table(["strategy", "n=0", *[f"n={n}" for n in ns]], body)
    top = best(found)
    if top:
        s, n, e = top
        out += ["", f"Best (strategy, n) by mean: **{s}, n={n}** ({e.pm()}); a cell whose "
                "interval overlaps it is not shown to be worse.", ""]
    out += ["Each adaptation kind against full fine-tuning at the same n (paired within "
            "replicates; judged from the 95 % interval):", ""]
    out += verdicts(pool) or ["- no replicate has both an adaptation kind and AnB+ at one n"]
    return out + [""]
