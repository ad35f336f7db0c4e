"""How results rows decompose into groups, strata and replicates, and the paper's decomposition of
the transfer effect into paired differences with 95 % intervals.

Groups follow Figure 2: "selffer" rows are BnB (B3B and A3A pooled), "transfer" rows AnB (A3B and
B3A pooled), `fine_tune` adds the "+". A **stratum** is (split, split_seed, seed, replicate, target
half); its **block** is the stratum without the target. Within a replicate and target half every
dependant shares its base's run, its fresh-layer init seed and its data order (common random
numbers), so a difference such as BnB(n) - base is taken inside the stratum first: that removes
the base's own luck from the comparison. Then, per block, the directions (targets A and B) are
averaged, treating direction as a fixed factor, not as noise; the t-interval is over blocks
(df = blocks - 1; with one split and seed that is replicates - 1). Per-direction estimates are
the same over blocks within one target.

Diverged rows (`status: "diverged"`) never enter a mean: `select` drops them. Rows without a
`replicate` field (older workdirs) are replicate 0.
"""

import dataclasses
import statistics

from keras_transfer import catalog
from keras_transfer.experiment.results import REQUIRED_KEYS  # noqa: F401 (the row schema)
from keras_transfer.reporting import stats

METRIC = "top1_best10"
GROUPS = ("BnB", "BnB+", "AnB", "AnB+")
KINDS = catalog.KINDS
# Groups measured once per stratum, whatever n is asked: the bases (n = 0) and the base continued
# for one more budget (every layer copied, n = 8 on CaffeNet), filed at n = 0.
BASES = ("base", "baseAll", "continued")


def group_of(row):
    """'base', 'baseAll', 'continued' (a base fine-tuned for one more budget), 'BnB', 'BnB+',
    'AnB', 'AnB+', 'random', 'reduced', or 'AnB-<kind>' for an adaptation kind
    ('AnB-truncate', 'AnB-surgical')."""
    kind = row["kind"]
    if kind == "reduced":
        return "reduced"
    if kind == "base":
        return "baseAll" if row["target"] == "all" else "base"
    if kind in ("random", "continued"):
        return kind
    if kind in catalog.ADAPTATION_KINDS:
        return f"AnB-{kind}"
    name = "BnB" if kind == "selffer" else "AnB"
    return name + "+" if row["fine_tune"] else name


def split_kind(row):
    """'random' for any random split (seeds pooled), else the split name as written."""
    split = str(row["split"])
    return "random" if split.startswith("random") else split


def is_full(row):
    """A net trained on every image of its classes (not reduced, not K-limited)."""
    return row.get("per_class") is None and row.get("target_per_class") is None


def top_n(rows):
    """The largest n of the rows' model: every cut point but the classifier (7 for CaffeNet;
    a backbone has its own count). Rows of several models take the deepest; rows without a
    known model the paper's 7."""
    return max((catalog.max_n(r["model"]) for r in rows if r.get("model") in catalog.LAYERS),
               default=catalog.MAX_N)


def axis(rows):
    """The report's n axis for these rows: 1..top_n (an n without rows shows as empty)."""
    return tuple(range(1, top_n(rows) + 1))


def paper_range(lo, hi, top):
    """The paper's layers lo..hi of its 7 at the same depth on an axis of `top` cut points
    (lo..hi itself when top is 7): how a finding about, say, the top layers 5..7 reads on a
    backbone with another number of blocks."""
    scale = top / catalog.MAX_N
    first = max(1, round(lo * scale))
    return tuple(range(first, max(first, round(hi * scale)) + 1))


def replicate(row):
    return int(row.get("replicate") or 0)


def diverged(row):
    return row.get("status") == "diverged"


def converged(row):
    """True / False from the convergence diagnostic, None when the row predates it."""
    value = row.get("converged", (row.get("convergence") or {}).get("converged"))
    return value if isinstance(value, bool) else None


def convergence_status(row):
    """'diverged', the diagnostic's status (flat / rising / falling / too short), or '?'."""
    if diverged(row):
        return "diverged"
    return (row.get("convergence") or {}).get("status") or "?"


def tail_gain(row):
    return (row.get("convergence") or {}).get("tail_gain")


def block(row):
    return (str(row["split"]), row["split_seed"], row["seed"], replicate(row))


def stratum(row):
    return (*block(row), row["target"])


def _size_ok(row, size):
    if size == "any":
        return True
    if size == "full":
        return is_full(row)
    return row.get("target_per_class") == size


def select(rows, group=None, split=None, target=None, size="full"):
    """Rows of a group/split/target that did not diverge; size: "full" (default), "any", or an
    int K (K-limited)."""
    return [r for r in rows if not diverged(r) and (group is None or group_of(r) == group)
            and (split is None or split_kind(r) == split)
            and (target is None or r["target"] == target) and _size_ok(r, size)]


def block_estimate(rows):
    """Estimate over blocks of the per-block mean (directions averaged within a block)."""
    by_block = {}
    for r in rows:
        by_block.setdefault(block(r), {}).setdefault(r["target"], []).append(r[METRIC])
    return stats.estimate(statistics.fmean(statistics.fmean(v) for v in per_target.values())
                          for _, per_target in sorted(by_block.items(), key=str))


# --- paired contrasts --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Paired:
    """A paired quantity: pooled estimate, per-direction estimates, and what went into them."""
    estimate: stats.Estimate | None
    directions: dict        # {target: Estimate}
    blocks: dict            # {block: value, directions averaged}
    rows: tuple             # every row used

    def unconverged_bases(self):
        """Base (or baseAll) rows used whose diagnostic says they had not converged."""
        return [r for r in self.rows if r["kind"] == "base" and converged(r) is False]


def cell_key(group, n, k=None):
    """(group, n, K) as `index` keys cells: bases sit at n = 0 whatever n is asked for."""
    return (group, 0 if group in BASES else n, k)


def index(rows):
    """{stratum: {(group, n, K): [rows]}} of the rows that did not diverge."""
    out = {}
    for r in rows:
        if not diverged(r):
            key = cell_key(group_of(r), int(r["n"]), r.get("target_per_class"))
            out.setdefault(stratum(r), {}).setdefault(key, []).append(r)
    return out


def contrast(rows, contrasts):
    """Paired estimate of linear contrasts within strata.

    contrasts: a list of term lists [(coefficient, (group, n, K)), ...]. A stratum's value is the
    mean over the contrasts whose every cell it has (e.g. one contrast per n, averaged over n);
    then directions are averaged per block and the interval is over blocks.
    """
    per_block, used = {}, []
    for u, cells in index(rows).items():
        values = []
        for terms in contrasts:
            if all(key in cells for _, key in terms):
                values.append(sum(c * statistics.fmean(r[METRIC] for r in cells[key])
                                  for c, key in terms))
                used += [r for _, key in terms for r in cells[key]]
        if values:
            per_block.setdefault(u[:-1], {})[u[-1]] = statistics.fmean(values)
    blocks = {b: statistics.fmean(d.values()) for b, d in sorted(per_block.items(), key=str)}
    targets = sorted({t for d in per_block.values() for t in d})
    directions = {t: stats.estimate(d[t] for _, d in sorted(per_block.items(), key=str) if t in d)
                  for t in targets}
    unique = tuple({id(r): r for r in used}.values())
    return Paired(stats.estimate(blocks.values()), directions, blocks, unique)


def paired(rows, plus, minus, ns, k=None):
    """plus(n) - minus(n) within each stratum, averaged over the ns it has (bases at n = 0)."""
    return contrast(rows, [[(1, cell_key(plus, n, k)), (-1, cell_key(minus, n, k))]
                           for n in ns])


def across(a, b):
    """Estimate of a - b for quantities measured in different blocks (e.g. two splits), paired
    by (seed, replicate); blocks of several split seeds are averaged first."""
    def by_rep(p):
        out = {}
        for blk, value in p.blocks.items():
            out.setdefault(blk[2:], []).append(value)
        return {key: statistics.fmean(v) for key, v in out.items()}
    ra, rb = by_rep(a), by_rep(b)
    return stats.paired_difference((ra[key], rb[key]) for key in sorted(ra, key=str) if key in rb)


# --- the paper's decomposition -----------------------------------------------------------------

# (label, plus, minus): each a difference in top-1 the paper reads off Figure 2 / 3.
QUANTITIES = (
    ("co-adaptation loss (base − BnB)", "base", "BnB"),
    ("specificity (BnB − AnB)", "BnB", "AnB"),
    ("lingering boost (AnB+ − base)", "AnB+", "base"),
    ("lingering boost (AnB+ − BnB+)", "AnB+", "BnB+"),
    ("control (BnB+ − base)", "BnB+", "base"),
    # Budget-matched: both had a second budget for their copied layers.
    ("control, budget-matched (BnB+ − base continued)", "BnB+", "continued"),
    ("second budget (base continued − base)", "continued", "base"),
    ("random-filter drop (random − baseAll)", "random", "baseAll"),
)


def decomposition(pool, rows):
    """{label: {n: Paired}}: the A/B quantities on `pool` (Figure 2's rows), the random-filter
    drop on every row of target "all"."""
    out = {}
    for label, plus, minus in QUANTITIES:
        src = select(rows, target="all") if minus == "baseAll" else select(pool)
        curve = {n: p for n in axis(rows) if (p := paired(src, plus, minus, [n])).estimate}
        if curve:
            out[label] = curve
    return out

