"""Tables and the paper's findings from results.jsonl rows: pure functions over lists of dicts.

Every number is the paper's metric `top1_best10`. A group's value at n is a mean over replicate
blocks with a 95 % t-interval (`decomposition.block_estimate`); a difference is paired within
each stratum first (`decomposition.contrast`). A finding is judged from the interval of the paired
quantity that expresses it: holds (entirely on the predicted side of zero; for an "about equal"
claim, entirely within +-MARGIN), does not hold (entirely on the other side, or entirely within
+-MARGIN without being on the predicted side: an effect that large is excluded; for an "about
equal" claim, entirely outside +-MARGIN), inconclusive otherwise, always with one replicate. A
finding that compares with a base is not measurable while a base it uses was still rising: the
comparison would be with a net cut off mid-training.

Only full-data rows (per_class and target_per_class null) enter the paper's groups: `select` and
`per_n` default to size="full", so reduced-volume and K-limited nets (`datasize`) never leak into
Figure 2/3 or Table 1.
"""

import dataclasses
import statistics

from keras_transfer import catalog
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import stats

# The row vocabulary lives in decomposition; re-exported because every report module reads it here.
from keras_transfer.reporting.decomposition import (  # noqa: F401
    GROUPS,
    KINDS,
    METRIC,
    REQUIRED_KEYS,
    group_of,
    is_full,
    select,
    split_kind,
)

MARGIN = 0.02  # an "about equal" claim (BnB+ vs base) holds when the interval is within +-this
# The paper's n ranges on its 7 layers (Table 1; the co-adaptation dip at 3..6, the specificity
# drop at 5..7). On a backbone with another number of cut points they are read at the same
# depth (`decomposition.paper_range`), so "the top layers" stay the top layers.
PAPER_RANGES = {"1-7": (1, 7), "1-3": (1, 3), "3-7": (3, 7), "5-7": (5, 7)}
MID, HIGH = (3, 6), (5, 7)
HOLDS, FAILS, INCONCLUSIVE = stats.HOLDS, stats.FAILS, stats.INCONCLUSIVE
UNMEASURABLE = "not measurable"
BASES_RISING = "not measurable: bases still rising"
BASES_UNCONVERGED = "not measurable: bases not converged"  # falling or too short, none rising
CONTROL_FAILS = "not measurable: control fails, BnB+ above base"
NATMM_TARGETS = {"B": "transfer to man-made", "A": "transfer to natural"}  # A = natural half
POSITIVE, NEGATIVE = 1, -1


@dataclasses.dataclass(frozen=True)
class Finding:
    name: str
    status: str
    evidence: str


def base_stat(rows):
    """Pooled base nets (baseA and baseB of every split in `rows`; not baseAll)."""
    return D.block_estimate(select(rows, "base"))


def per_n(rows, group, size="full"):
    """{n: Estimate} of one group, over replicate blocks."""
    by_n = {}
    for r in select(rows, group, size=size):
        by_n.setdefault(int(r["n"]), []).append(r)
    return {n: D.block_estimate(v) for n, v in sorted(by_n.items())}


def means(curve):
    return {n: s.mean for n, s in curve.items()}


def split_label(row):
    """"random/3" for a seeded split, "natural_manmade" for a split no seed decides."""
    seed = row.get("split_seed")
    return row["split"] if seed is None else f"{row['split']}/{seed}"


def transfer_pool(rows):
    """Rows Figure 2 pools and a label: the random splits (all seeds) if any, else every split."""
    ab = [r for r in select(rows) if group_of(r) not in ("random", "baseAll")]
    rand = select(ab, split="random")
    used = rand or ab
    splits = sorted({split_label(r) for r in used})
    label = ("random splits " if rand else "split ") + ", ".join(splits)
    return used, label


def natmm_curves(rows):
    """{label: (base Estimate, {n: Estimate})}: frozen transfer to each natural/man-made half."""
    nm = select(rows, split="natural_manmade")
    out = {}
    for target, label in NATMM_TARGETS.items():
        base = D.block_estimate(select(nm, "base", target=target))
        curve = per_n(select(nm, target=target), "AnB")
        if base or curve:
            out[label] = (base, curve)
    return out


def ranges(top=catalog.MAX_N):
    """{label: ns}: PAPER_RANGES on an axis of `top` cut points, labelled as the paper's when
    top is its 7, else by this axis's own n ("1-9")."""
    out = {}
    for label, (lo, hi) in PAPER_RANGES.items():
        ns = D.paper_range(lo, hi, top)
        out.setdefault(label if top == catalog.MAX_N else f"{ns[0]}-{ns[-1]}", ns)
    return out


def _curve(rows, plus, minus):
    return {n: p for n in D.axis(rows) if (p := D.paired(rows, plus, minus, [n])).estimate}


def relative_curves(rows):
    """{label: {n: Paired}}: accuracy minus the matching base, paired in strata (Figure 3 c).

    "transfer, natural/man-made" averages the two targets per replicate, as the paper's mean over
    the two targets of (target's transfer mean - that target's base mean).
    """
    out = {"random filters": _curve(select(rows, target="all"), "random", "baseAll"),
           "transfer, random splits": _curve(select(rows, split="random"), "AnB", "base"),
           "transfer, natural/man-made": _curve(select(rows, split="natural_manmade"), "AnB",
                                                "base")}
    return {k: v for k, v in out.items() if v}


def table1(anb_plus, bnb_plus, base):
    """{(comparison, range): (value, ns used)} from {n: mean} curves (the paper's numbers)."""
    out = {}
    for label, ns in ranges().items():
        used = [n for n in ns if n in anb_plus]
        out[("AnB+ - base", label)] = (
            statistics.fmean(anb_plus[n] - base for n in used) if used and base is not None
            else None, used)
        used = [n for n in ns if n in anb_plus and n in bnb_plus]
        out[("AnB+ - BnB+", label)] = (
            statistics.fmean(anb_plus[n] - bnb_plus[n] for n in used) if used else None, used)
    return out


def table1_paired(pool):
    """{(comparison, range): (Paired, ns used)}: Table 1 as paired differences in strata."""
    have = {g: set(per_n(pool, g)) for g in ("AnB+", "BnB+")}
    out = {}
    for label, ns in ranges(D.top_n(pool)).items():
        used = [n for n in ns if n in have["AnB+"]]
        out[("AnB+ - base", label)] = (D.paired(pool, "AnB+", "base", used), used)
        used = [n for n in used if n in have["BnB+"]]
        out[("AnB+ - BnB+", label)] = (D.paired(pool, "AnB+", "BnB+", used), used)
    return out


def markdown_table(header, body):
    """Markdown lines of a table (None cells shown as an em dash), ending with a blank line."""
    cell = lambda v: "—" if v is None else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(cell, r)) + " |" for r in body] + [""]


def _ns(ns):
    return f"{ns[0]}..{ns[-1]}" if len(ns) > 1 else str(ns[0])


def judge(name, parts, need, margin=MARGIN):
    """A Finding from parts [(label, Estimate, verdict(Estimate) -> status, [Paired])]."""
    if not parts or any(est is None for _, est, _, _ in parts):
        return Finding(name, UNMEASURABLE, need)
    late = unconverged_bases(p for *_, used in parts for p in used)
    if late:
        return Finding(name, *late)
    verdicts = [verdict(est) for _, est, verdict, _ in parts]
    evidence = "; ".join(
        f"{label}: {est}" + (f" (within ±{margin}: no effect that large)"
                             if found == FAILS and stats.negligible(est, margin) else "")
        for (label, est, _, _), found in zip(parts, verdicts))
    return Finding(name, stats.combine(verdicts), evidence)


def unconverged_bases(paireds):
    """(status, evidence) when a base behind these Paired quantities had not converged, else
    None: a difference from a base cut off mid-training measures the cut, not the transfer."""
    late = [r for p in paireds for r in p.unconverged_bases()]
    if not late:
        return None
    nets = sorted({f"{r['net']} (r{D.replicate(r)}, {D.convergence_status(r)}, tail gain "
                   f"{D.tail_gain(r)})" for r in late})
    rising = any(D.convergence_status(r) in ("rising", "?") for r in late)
    return (BASES_RISING if rising else BASES_UNCONVERGED,
            "unconverged base(s): " + ", ".join(nets))


def _side(sign, margin):
    return lambda est: stats.effect_verdict(est, sign, margin)


def _part(label, paired, sign, margin):
    return (label, paired.estimate, _side(sign, margin), [paired])


def _drop_from_first(pool, group, ns):
    """group(1) - group(n), averaged over ns, paired in strata."""
    return D.contrast(pool, [[(1, D.cell_key(group, 1)), (-1, D.cell_key(group, n))] for n in ns])


def coadaptation_dip(pool, margin=MARGIN):
    ns = D.paper_range(*MID, D.top_n(pool))
    mid = _ns(ns)
    name = f"Co-adaptation dip in BnB (base − BnB and BnB(1) − BnB above zero over n={mid})"
    dip = _drop_from_first(pool, "BnB", ns)
    return judge(name, [
        _part(f"base − BnB over n={mid}", D.paired(pool, "base", "BnB", ns), POSITIVE, margin),
        _part(f"BnB(1) − BnB over n={mid}", dip, POSITIVE, margin)],
        f"needs base nets, BnB at n=1 and BnB at some n in {mid}", margin)


def specificity_drop(pool, margin=MARGIN):
    ns = D.paper_range(*HIGH, D.top_n(pool))
    high = _ns(ns)
    name = f"Specificity drop in AnB (BnB − AnB and AnB(1) − AnB above zero over n={high})"
    drop = _drop_from_first(pool, "AnB", ns)
    return judge(name, [
        _part(f"BnB − AnB over n={high}", D.paired(pool, "BnB", "AnB", ns), POSITIVE, margin),
        _part(f"AnB(1) − AnB over n={high}", drop, POSITIVE, margin)],
        f"needs AnB at n=1 and AnB and BnB at some n in {high}", margin)


def finetuning_helps(pool, margin=MARGIN):
    ns = D.axis(pool)
    every = _ns(ns)
    name = f"Fine-tuning >= frozen (AnB+ − AnB and BnB+ − BnB above zero over n={every})"
    parts = [_part(f"{p} − {f} over n={every}", D.paired(pool, p, f, ns), POSITIVE, margin)
             for p, f in (("AnB+", "AnB"), ("BnB+", "BnB"))]
    # A sweep without selffers (or transfers) is judged on the pair it has.
    return judge(name, [p for p in parts if p[1] is not None],
                 "needs frozen and fine-tuned nets at a shared n", margin)


def lingering_boost(pool, margin=MARGIN):
    every = _ns(D.axis(pool))
    name = f"AnB+ above base (lingering boost of transfer + fine-tuning, over n={every})"
    return judge(name, [_part(f"AnB+ − base over n={every}",
                              D.paired(pool, "AnB+", "base", D.axis(pool)), POSITIVE, margin)],
                 "needs base nets and AnB+ nets", margin)


def matched_boost(pool, margin=MARGIN):
    """AnB+ against BnB+: the same budget, the same re-initialisation above n, only the copied
    weights' origin differs, so it stands whether or not the control holds."""
    every = _ns(D.axis(pool))
    name = f"AnB+ above BnB+ (the lingering boost, budget-matched, over n={every})"
    return judge(name, [_part(f"AnB+ − BnB+ over n={every}",
                              D.paired(pool, "AnB+", "BnB+", D.axis(pool)), POSITIVE, margin)],
                 "needs AnB+ and BnB+ nets", margin)


# In plain words, for the report: what a failed control leaves standing and what it does not.
STANDING = ("comparisons between nets of the same budget stand: specificity (BnB − AnB), "
            "fine-tuning against freezing (AnB+ − AnB, BnB+ − BnB), the budget-matched boost "
            "(AnB+ − BnB+) and BnB+ against the base continued for one more budget")
UNJUDGED = ("comparisons with a base that trained one budget are not judged: the co-adaptation "
            "dip (base − BnB), AnB+ − base, the dissimilar-split and random-filter drops")


def control_holds(pool, margin=MARGIN):
    """Judged even when a base was still rising: the control is the test of whether the bases
    reached what more training gives, so a rising base is one of its explanations, not a
    reason to stay silent (the evidence names such bases)."""
    every = _ns(D.axis(pool))
    name = f"BnB+ ≈ base (control: BnB+ − base over n={every} within ±{margin})"
    p = D.paired(pool, "BnB+", "base", D.axis(pool))
    if p.estimate is None:
        return Finding(name, UNMEASURABLE, "needs base nets and BnB+ nets")
    evidence = f"BnB+ − base over n={every}: {p.estimate}"
    late = unconverged_bases([p])
    if late:
        evidence += f" ({late[1]})"
    return Finding(name, stats.near_verdict(p.estimate, margin), evidence)


def dissimilar_hurts_more(rows, margin=MARGIN):
    ns = D.paper_range(*HIGH, D.top_n(rows))
    name = ("Dissimilar split hurts more (natural/man-made AnB − base below the random split's "
            f"at n={_ns(ns)}, paired by replicate)")
    nm = D.paired(select(rows, split="natural_manmade"), "AnB", "base", ns)
    rs = D.paired(select(rows, split="random"), "AnB", "base", ns)
    est = D.across(nm, rs) if nm.estimate and rs.estimate else None
    return judge(name, [("(natural/man-made − random) drop relative to base", est,
                         _side(NEGATIVE, margin), [nm, rs])],
                 f"needs frozen transfer and bases at n in {_ns(ns)} on both a natural_manmade "
                 "split and a random split (merge their results)", margin)


def random_filters_fall_fastest(rows, margin=MARGIN):
    name = "Random filters fall fastest (random − baseAll below transfer AnB − base)"
    rnd = _curve(select(rows, target="all"), "random", "baseAll")
    rel = relative_curves(rows)
    label = next((k for k in ("transfer, random splits", "transfer, natural/man-made")
                  if k in rel), None)
    ns = [n for n in rnd if label and n in rel[label]]
    if not ns:
        return Finding(name, UNMEASURABLE, "needs random-filter nets with baseAll and frozen "
                       "transfer nets with their bases at a shared n")
    split = "random" if label.endswith("random splits") else "natural_manmade"
    r = D.paired(select(rows, target="all"), "random", "baseAll", ns)
    t = D.paired(select(rows, split=split), "AnB", "base", ns)
    return judge(name, [(f"(random filters − {label}) relative to base over n={_ns(ns)}",
                         D.across(r, t), _side(NEGATIVE, margin), [r, t])],
                 "needs random-filter and transfer nets in the same (seed, replicate)", margin)


def findings(rows, margin=MARGIN):
    """The paper's findings, each judged from the interval of the quantity that expresses it.

    The control comes first because it licenses the rest: when BnB+ is clearly above base, a
    second full training of a copy beats the base (the bases are short of their asymptote, or
    retraining itself adds accuracy; on the embedded default both, BUILD_NOTES "Default
    sweep"), so every difference from a base carries that gap and is not judged."""
    pool, _ = transfer_pool(rows)
    control = control_holds(pool, margin)
    base_relative = [coadaptation_dip(pool, margin), lingering_boost(pool, margin),
                     dissimilar_hurts_more(rows, margin), random_filters_fall_fastest(rows, margin)]
    if control.status == FAILS:
        base_relative = [without_control(f, control) for f in base_relative]
    dip, boost, dissimilar, random_filters = base_relative
    # The budget-matched boost last: it is not the paper's, and it stands without the control.
    return [control, dip, specificity_drop(pool, margin), finetuning_helps(pool, margin), boost,
            dissimilar, random_filters, matched_boost(pool, margin)]


def without_control(finding, control):
    """A base-relative finding, not judged because the control failed (its numbers kept)."""
    if finding.status.startswith(UNMEASURABLE):
        return finding
    return Finding(finding.name, CONTROL_FAILS,
                   f"{control.evidence} (BnB+ should equal base); unjudged: {finding.status}, "
                   f"{finding.evidence}")
