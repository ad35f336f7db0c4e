"""Tables and qualitative findings from results.jsonl rows: pure functions over lists of dicts.

Every number is the paper's metric `top1_best10` unless said otherwise. Groups follow Figure 2:
"selffer" rows are BnB (B3B and A3A pooled), "transfer" rows are AnB (A3B and B3A pooled), and
`fine_tune` adds the "+". Means are over all rows of a group (seeds and directions); std is the
sample standard deviation (ddof=1), shown only when there are several rows.

Only full-data rows (per_class and target_per_class null) enter the paper's groups: `select` and
`per_n` default to size="full", so reduced-volume nets and K-limited nets (`datasize`) never leak
into Figure 2/3 or Table 1.
"""

import dataclasses
import statistics

from keras_transfer import plan

METRIC = "top1_best10"
TOLERANCE = 0.005  # half a point of top-1: differences smaller than this count as "no difference"
NS = tuple(range(1, 8))
GROUPS = ("BnB", "BnB+", "AnB", "AnB+")
KINDS = ("base", "selffer", "transfer", "random", "reduced")
REQUIRED_KEYS = ("net", "kind", "n", "fine_tune", "split", "split_seed", "seed", "target", METRIC)
RANGES = {"1-7": NS, "1-3": (1, 2, 3), "3-7": (3, 4, 5, 6, 7), "5-7": (5, 6, 7)}
HIGH_N = (5, 6, 7)
HOLDS, FAILS, UNMEASURABLE = "holds", "does not hold", "not measurable"
NATMM_TARGETS = {"B": "transfer to man-made", "A": "transfer to natural"}  # A = natural half


@dataclasses.dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    count: int

    def __str__(self):
        if self.count == 1:
            return f"{self.mean:.4f}"
        return f"{self.mean:.4f} ± {self.std:.4f} ({self.count})"


@dataclasses.dataclass(frozen=True)
class Finding:
    name: str
    status: str
    evidence: str


def stat(values):
    """Mean, sample std and count of `values`, or None when empty."""
    values = [float(v) for v in values]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Stat(statistics.fmean(values), std, len(values))


def group_of(row):
    """'base', 'baseAll', 'BnB', 'BnB+', 'AnB', 'AnB+', 'random' or 'reduced'."""
    kind = row["kind"]
    if kind == "reduced":
        return "reduced"
    if kind == "base":
        return "baseAll" if row["target"] == "all" else "base"
    if kind == "random":
        return "random"
    name = "BnB" if kind == "selffer" else "AnB"
    return name + "+" if row["fine_tune"] else name


def split_kind(row):
    """'random' for any random split (seeds pooled), else the split name as written."""
    split = str(row["split"])
    return "random" if split.startswith("random") else split


def is_full(row):
    """A net trained on every image of its classes (not reduced, not K-limited)."""
    return row.get("per_class") is None and row.get("target_per_class") is None


def _size_ok(row, size):
    if size == "any":
        return True
    if size == "full":
        return is_full(row)
    return row.get("target_per_class") == size


def select(rows, group=None, split=None, target=None, size="full"):
    """Rows of a group/split/target; size: "full" (default), "any", or an int K (K-limited)."""
    return [r for r in rows if (group is None or group_of(r) == group)
            and (split is None or split_kind(r) == split)
            and (target is None or r["target"] == target) and _size_ok(r, size)]


def base_stat(rows):
    """Pooled base nets (baseA and baseB of every split in `rows`; not baseAll)."""
    return stat(r[METRIC] for r in select(rows, "base"))


def per_n(rows, group, size="full"):
    """{n: Stat} of one group."""
    by_n = {}
    for r in select(rows, group, size=size):
        by_n.setdefault(int(r["n"]), []).append(r[METRIC])
    return {n: stat(v) for n, v in sorted(by_n.items())}


def means(curve):
    return {n: s.mean for n, s in curve.items()}


def transfer_pool(rows):
    """Rows Figure 2 pools and a label: the random splits (all seeds) if any, else every split."""
    ab = [r for r in select(rows) if group_of(r) not in ("random", "baseAll")]
    rand = select(ab, split="random")
    used = rand or ab
    splits = sorted({f"{r['split']}/{r['split_seed']}" for r in used})
    label = ("random splits " if rand else "split ") + ", ".join(splits)
    return used, label


def natmm_curves(rows):
    """{label: (base Stat, {n: Stat})}: frozen transfer to each natural/man-made half."""
    nm = select(rows, split="natural_manmade")
    out = {}
    for target, label in NATMM_TARGETS.items():
        base = stat(r[METRIC] for r in select(nm, "base", target=target))
        curve = per_n(select(nm, target=target), "AnB")
        if base or curve:
            out[label] = (base, curve)
    return out


def relative_curves(rows):
    """{label: {n: mean accuracy minus the matching base mean}}: Figure 3 (c) and the findings."""
    out = {}
    base_all = stat(r[METRIC] for r in select(rows, "baseAll"))
    rand = means(per_n(rows, "random"))
    if base_all and rand:
        out["random filters"] = {n: v - base_all.mean for n, v in rand.items()}
    rs = select(rows, split="random")
    base, anb = base_stat(rs), means(per_n(rs, "AnB"))
    if base and anb:
        out["transfer, random splits"] = {n: v - base.mean for n, v in anb.items()}
    per_target = [{n: s.mean - b.mean for n, s in c.items()}
                  for b, c in natmm_curves(rows).values() if b and c]
    if per_target:
        ns = sorted(set().union(*per_target))
        out["transfer, natural/man-made"] = {
            n: statistics.fmean(c[n] for c in per_target if n in c) for n in ns}
    return out


def table1(anb_plus, bnb_plus, base):
    """{(comparison, range): (value, ns used)} from {n: mean} curves; None when unmeasurable."""
    out = {}
    for label, ns in RANGES.items():
        used = [n for n in ns if n in anb_plus]
        out[("AnB+ - base", label)] = (
            statistics.fmean(anb_plus[n] - base for n in used) if used and base is not None
            else None, used)
        used = [n for n in ns if n in anb_plus and n in bnb_plus]
        out[("AnB+ - BnB+", label)] = (
            statistics.fmean(anb_plus[n] - bnb_plus[n] for n in used) if used else None, used)
    return out


def markdown_table(header, body):
    """Markdown lines of a table (None cells shown as an em dash), ending with a blank line."""
    cell = lambda v: "—" if v is None else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(cell, r)) + " |" for r in body] + [""]


def _fmt(curve, ns):
    return ", ".join(f"n={n}: {curve[n]:.4f}" for n in ns)


def coadaptation_dip(pool, tol):
    name = "Co-adaptation dip in BnB (min of BnB over n=3..6 below base mean and BnB n=1)"
    base, bnb = base_stat(pool), means(per_n(pool, "BnB"))
    mid = [n for n in (3, 4, 5, 6) if n in bnb]
    if not base or 1 not in bnb or not mid:
        return Finding(name, UNMEASURABLE, "needs base nets, BnB at n=1 and BnB at some n in 3..6")
    low = min(mid, key=bnb.get)
    holds = bnb[low] < base.mean - tol and bnb[low] < bnb[1] - tol
    return Finding(name, HOLDS if holds else FAILS,
                   f"min BnB {bnb[low]:.4f} at n={low}; base mean {base.mean:.4f}; "
                   f"BnB n=1 {bnb[1]:.4f}")


def specificity_drop(pool, tol):
    name = "Specificity drop in AnB (AnB at n=5..7 below AnB n=1 and below BnB at the same n)"
    anb, bnb = means(per_n(pool, "AnB")), means(per_n(pool, "BnB"))
    high = [n for n in HIGH_N if n in anb]
    both = [n for n in high if n in bnb]
    if 1 not in anb or not both:
        return Finding(name, UNMEASURABLE, "needs AnB at n=1 and AnB and BnB at some n in 5..7")
    hi = statistics.fmean(anb[n] for n in high)
    gap = statistics.fmean(anb[n] - bnb[n] for n in both)
    holds = hi < anb[1] - tol and gap < -tol
    return Finding(name, HOLDS if holds else FAILS,
                   f"AnB mean over n={high}: {hi:.4f} vs AnB n=1 {anb[1]:.4f}; "
                   f"AnB - BnB over n={both}: {gap:+.4f}")


def finetuning_helps(pool, tol):
    name = "Fine-tuning >= frozen (AnB+ >= AnB and BnB+ >= BnB, mean over shared n)"
    parts, ok = [], []
    for plus, frozen in (("AnB+", "AnB"), ("BnB+", "BnB")):
        a, b = means(per_n(pool, plus)), means(per_n(pool, frozen))
        ns = [n for n in a if n in b]
        if not ns:
            parts.append(f"{plus} vs {frozen}: no shared n")
            continue
        d = statistics.fmean(a[n] - b[n] for n in ns)
        ok.append(d >= -tol)
        parts.append(f"{plus} - {frozen} over n={ns}: {d:+.4f}")
    if not ok:
        return Finding(name, UNMEASURABLE, "; ".join(parts))
    return Finding(name, HOLDS if all(ok) else FAILS, "; ".join(parts))


def _high_drop(curve):
    ns = [n for n in HIGH_N if n in curve]
    return (statistics.fmean(curve[n] for n in ns), ns) if ns else (None, ns)


def dissimilar_hurts_more(rel, tol):
    name = ("Dissimilar split hurts more (natural/man-made drop at n=5..7 larger than "
            "random split's)")
    nm, nm_ns = _high_drop(rel.get("transfer, natural/man-made", {}))
    rs, rs_ns = _high_drop(rel.get("transfer, random splits", {}))
    if nm is None or rs is None:
        return Finding(name, UNMEASURABLE, "needs frozen transfer and bases at n in 5..7 on both a "
                       "natural_manmade split and a random split (merge their results)")
    return Finding(name, HOLDS if nm < rs - tol else FAILS,
                   f"relative to base: natural/man-made {nm:+.4f} (n={nm_ns}), "
                   f"random splits {rs:+.4f} (n={rs_ns})")


def random_filters_fall_fastest(rel, tol):
    name = "Random filters fall fastest (random-filter drop larger than transfer drop)"
    rnd = rel.get("random filters")
    label = next((k for k in ("transfer, random splits", "transfer, natural/man-made") if k in rel),
                 None)
    ns = [n for n in (rnd or {}) if label and n in rel[label]]
    if not ns:
        return Finding(name, UNMEASURABLE, "needs random-filter nets with baseAll and frozen "
                       "transfer nets with their bases at a shared n")
    r = statistics.fmean(rnd[n] for n in ns)
    t = statistics.fmean(rel[label][n] for n in ns)
    return Finding(name, HOLDS if r < t - tol else FAILS,
                   f"mean relative to base over n={ns}: random filters {r:+.4f}, {label} {t:+.4f}")


def findings(rows, tol=TOLERANCE):
    """The paper's five qualitative findings, each judged on these rows with tolerance `tol`."""
    pool, _ = transfer_pool(rows)
    rel = relative_curves(rows)
    return [coadaptation_dip(pool, tol), specificity_drop(pool, tol), finetuning_helps(pool, tol),
            dissimilar_hurts_more(rel, tol), random_filters_fall_fastest(rel, tol)]


def expected_nets(rows):
    """Net names `plan.make_plan` gives for the experiments, n, k and K these rows show.

    Inferred from the rows, so an experiment (or an n, k or K) with no finished net at all is not
    expected: a partial sweep lists the nets missing within what started.
    """
    kinds = {r["kind"] for r in rows}
    halves = ("A", "B") if any(r["target"] in ("A", "B") for r in rows) else ()
    experiments = [e for e, present in (
        ("base", any(r["kind"] == "base" and r["target"] != "all" for r in rows)),
        ("selffer", "selffer" in kinds), ("transfer", "transfer" in kinds),
        ("random_filters", "random" in kinds or any(group_of(r) == "baseAll" for r in rows)),
        ("reduced", "reduced" in kinds)) if present]
    layers = sorted({int(r["n"]) for r in rows if r["n"]})
    per_class = sorted({r["per_class"] for r in rows if r["kind"] == "reduced"})
    target_per_class = sorted({r["target_per_class"] for r in rows
                               if r.get("target_per_class") is not None})
    sizes = target_per_class if halves else ()
    return [net.name for net in plan.make_plan(layers, experiments, halves, per_class, sizes)]


def missing_nets(rows):
    """{(split, split_seed, seed): [missing names]}, each key's plan inferred by expected_nets."""
    found = {}
    for r in rows:
        found.setdefault((str(r["split"]), r["split_seed"], r["seed"]), []).append(r)
    out = {}
    for key, got in sorted(found.items(), key=lambda kv: str(kv[0])):
        names = {r["net"] for r in got}
        out[key] = [name for name in expected_nets(got) if name not in names]
    return out
