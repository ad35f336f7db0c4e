"""The dataset-size study from results rows: pure functions, like `findings`.

Target-set size: the target-side nets of half B trained on K images per class (rows with
`target_per_class` = K) beside the same nets on the full half (K = "all"). For each split and K a
`Cell` holds the from-scratch base (baseB@kK), the best frozen n (the n whose AnB mean is
highest at that K) and the best fine-tuned n (same for AnB+), and the selffer analogues (BnB,
BnB+) when present. "all" uses target-B nets only, so every point of the K axis compares the same
direction (the paper's figures pool A->B with B->A). Seeds and random-split seeds are pooled
as replicate blocks (`decomposition`): a cell's numbers are means with 95 % t-intervals over
blocks, and a gain (winner minus from-scratch, or between two K) is paired within each block
first. The best n is chosen on the means; ties go to the smaller n, and between modes to frozen.

Reduced volume (the original's all-class nets on k images per class) is `reduced`; `markdown`
adds its section after this one.
"""

import dataclasses
import statistics

from keras_transfer import catalog
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import reduced, stats

ALL = "all"  # the K of full-data nets
MODES = {"AnB": "frozen", "AnB+": "fine-tuned", "BnB": "frozen", "BnB+": "fine-tuned"}
# The adaptation kinds' transfer groups (decomposition.group_of), beside the paper's modes.
STRATEGY_GROUPS = {f"AnB-{kind}": kind for kind in catalog.ADAPTATION_KINDS}


@dataclasses.dataclass(frozen=True)
class Best:
    group: str       # AnB, AnB+, BnB or BnB+
    n: int
    stat: stats.Estimate

    @property
    def mode(self):
        return MODES.get(self.group) or STRATEGY_GROUPS[self.group]

    def name(self, target="B"):
        """The net's name without its @k suffix, e.g. A3B+ or A3B-surgical."""
        if self.group in STRATEGY_GROUPS:
            return f"{self.group[0]}{self.n}{target}-{STRATEGY_GROUPS[self.group]}"
        return f"{self.group[0]}{self.n}{target}{'+' if self.group.endswith('+') else ''}"


@dataclasses.dataclass(frozen=True)
class Cell:
    """One split and K: from-scratch, best frozen and best fine-tuned transfer (and selffer)."""
    split: str
    k: object                     # int K or ALL
    scratch: stats.Estimate | None
    best: dict                    # {group: Best} for the groups present
    nets: int                     # every target-side net at this split and K
    rows: tuple = ()              # those nets, for paired gains

    @property
    def size(self):
        """The K as rows carry it (target_per_class; None for "all")."""
        return None if self.k == ALL else self.k

    def key(self, best):
        """decomposition cell key of a Best (or "base" for from-scratch) at this K."""
        return D.cell_key("base", 0, self.size) if best == "base" else \
            D.cell_key(best.group, best.n, self.size)

    @property
    def winner(self):
        """The best transfer net (AnB or AnB+) at this K, or None."""
        got = [self.best[g] for g in ("AnB", "AnB+") if g in self.best]
        return max(got, key=lambda b: b.stat.mean) if got else None  # max keeps the first: frozen

    @property
    def other(self):
        """The best transfer net of the winner's other mode, or None."""
        win = self.winner
        if win is None:
            return None
        return self.best.get("AnB" if win.group == "AnB+" else "AnB+")

    def gain(self, reference="base"):
        """Paired winner minus reference ("base" = from scratch, or a Best), or None."""
        win = self.winner
        if win is None or reference is None or (reference == "base" and self.scratch is None):
            return None
        return D.contrast(self.rows, [[(1, self.key(win)), (-1, self.key(reference))]])

    @property
    def best_strategy(self):
        """The best transfer net of every strategy (the paper's two and the adaptation kinds)
        at this K, or None; ties to the paper's modes, frozen first."""
        got = [self.best[g] for g in ("AnB", "AnB+", *STRATEGY_GROUPS) if g in self.best]
        return max(got, key=lambda b: b.stat.mean) if got else None

    def strategy_gain(self, reference):
        """Paired best strategy minus `reference` ("base" or a Best), or None."""
        best = self.best_strategy
        if best is None or reference is None or (reference == "base" and self.scratch is None):
            return None
        return D.contrast(self.rows, [[(1, self.key(best)), (-1, self.key(reference))]])

    @property
    def tuned_minus_frozen(self):
        """Paired best AnB+ minus best AnB, or None."""
        a, b = self.best.get("AnB+"), self.best.get("AnB")
        if a is None or b is None:
            return None
        return D.contrast(self.rows, [[(1, self.key(a)), (-1, self.key(b))]])


def k_of(row):
    """K of a target-side row: its target_per_class, or ALL for full-data rows."""
    k = row.get("target_per_class")
    return ALL if k is None else k


def k_order(k):
    return (k == ALL, 0 if k == ALL else k)


def k_label(k):
    return "all" if k == ALL else str(k)


def target_half(rows):
    """The half the K-limited nets train on (the plan's last half, "B")."""
    return next((r["target"] for r in rows if r.get("target_per_class") is not None), "B")


def best_n(rows, group, size):
    """Best (highest mean) n of `group` among rows of size `size`, ties to the smaller n."""
    curve = F.per_n(rows, group, size=size)
    if not curve:
        return None
    n = max(curve, key=lambda m: (curve[m].mean, -m))
    return Best(group, n, curve[n])


def cells(rows):
    """{split kind: [Cell for each K, ascending, ALL last]} for splits that have K-limited rows."""
    target = target_half(rows)
    out = {}
    sized_splits = {F.split_kind(r) for r in rows if r.get("target_per_class") is not None}
    for split in sorted(sized_splits, key=lambda s: (s != "random", s)):
        side = [r for r in F.select(rows, split=split, target=target, size="any")
                if r["kind"] in ("base", "selffer", "transfer", *catalog.ADAPTATION_KINDS)]
        ks = sorted({k_of(r) for r in side}, key=k_order)
        out[split] = []
        for k in ks:
            size = "full" if k == ALL else k
            at_k = F.select(side, size=size)
            scratch = D.block_estimate(F.select(at_k, "base", size=size))
            best = {g: b for g in (*MODES, *STRATEGY_GROUPS)
                    if (b := best_n(at_k, g, size)) is not None}
            out[split].append(Cell(split, k, scratch, best, len(at_k), tuple(at_k)))
    return out


# --- findings -----------------------------------------------------------------------------------

def _judge(name, per_split, need):
    """One Finding from {split: (status or None, evidence, [Paired])}: holds only if it holds on
    every split that measures it, does not hold if it fails on any."""
    measured = {s: v for s, v in per_split.items() if v[0] is not None}
    if not measured:
        return F.Finding(name, F.UNMEASURABLE, need)
    late = F.unconverged_bases(p for _, _, used in measured.values() for p in used)
    if late:
        return F.Finding(name, *late)
    evidence = "; ".join(f"`{s}`: {e}" for s, (_, e, _) in per_split.items())
    return F.Finding(name, stats.combine(v[0] for v in measured.values()), evidence)


def transfer_helps_most_at_small_k(by_split):
    name = ("Transfer helps most at small K (gain of the best transfer over from-scratch larger "
            "at the smallest K than at the largest, paired by replicate)")
    per_split = {}
    for split, cs in by_split.items():
        cs = [c for c in cs if c.winner and c.scratch]
        if len(cs) < 2:
            per_split[split] = (None, "needs from-scratch and transfer nets at two K", [])
            continue
        small, large = cs[0], cs[-1]
        p = D.contrast(small.rows + large.rows, [[
            (1, small.key(small.winner)), (-1, small.key("base")),
            (-1, large.key(large.winner)), (1, large.key("base"))]])
        if p.estimate is None:
            per_split[split] = (None, "no replicate has both K", [])
            continue
        per_split[split] = (stats.sign_verdict(p.estimate, 1),
                            f"gain at K={k_label(small.k)} minus gain at K={k_label(large.k)}: "
                            f"{p.estimate}", [p])
    return _judge(name, per_split, "needs from-scratch (baseB@k) and transfer nets (AnB/AnB+) at "
                  "two or more K on some split")


def finetuning_overtakes_freezing(by_split):
    name = ("Fine-tuning overtakes freezing as K grows (best AnB+ minus best AnB below zero at "
            "the smallest K, above zero at the largest)")
    per_split = {}
    for split, cs in by_split.items():
        got = [(c, p) for c in cs if (p := c.tuned_minus_frozen) is not None]
        if len(got) < 2:
            per_split[split] = (None, "needs AnB and AnB+ at two K", [])
            continue
        (small, ps), (large, pl) = got[0], got[-1]
        status = stats.combine([stats.sign_verdict(ps.estimate, -1),
                                stats.sign_verdict(pl.estimate, 1)])
        per_split[split] = (status, f"fine-tuned minus frozen K={k_label(small.k)}: "
                            f"{ps.estimate}, K={k_label(large.k)}: {pl.estimate}", [])
    return _judge(name, per_split, "needs frozen and fine-tuned transfer nets at two or more K")


def _best_frozen_n(cells_of_split, ks):
    """{(seed, replicate): mean over ks of the replicate's own best frozen n} (split seeds
    averaged): the n is chosen per replicate, so its spread over replicates is the noise."""
    out = {}
    for c in cells_of_split:
        if c.k not in ks:
            continue
        for u, cells in D.index(c.rows).items():
            curve = {key[1]: statistics.fmean(r[F.METRIC] for r in rs)
                     for key, rs in cells.items() if key[0] == "AnB"}
            if curve:
                out.setdefault(u[2:4], []).append(max(curve, key=lambda m: (curve[m], -m)))
    return {key: statistics.fmean(v) for key, v in out.items()}


def frozen_n_lower_on_dissimilar(by_split):
    name = ("The best frozen n is lower on the dissimilar split (natural_manmade minus random, "
            "mean over the K both have, paired by replicate)")
    if "natural_manmade" not in by_split or "random" not in by_split:
        return F.Finding(name, F.UNMEASURABLE, "needs K-limited frozen transfer nets on both a "
                         "natural_manmade and a random split (merge their results)")
    have = {s: {c.k for c in by_split[s] if "AnB" in c.best} for s in ("natural_manmade",
                                                                       "random")}
    shared = sorted(have["natural_manmade"] & have["random"], key=k_order)
    nm = _best_frozen_n(by_split["natural_manmade"], shared)
    rs = _best_frozen_n(by_split["random"], shared)
    est = stats.paired_difference((nm[key], rs[key]) for key in sorted(nm) if key in rs)
    if est is None:
        return F.Finding(name, F.UNMEASURABLE, "no K and replicate with frozen transfer nets on "
                         "both splits")
    means = {s: {c.k: c.best["AnB"].n for c in by_split[s] if c.k in shared}
             for s in ("natural_manmade", "random")}
    evidence = ", ".join(f"K={k_label(k)}: {means['natural_manmade'][k]} vs {means['random'][k]}"
                         for k in shared)
    return F.Finding(name, stats.sign_verdict(est, -1),
                     f"best frozen n on the means natural_manmade vs random: {evidence}; "
                     f"per-replicate difference {est}")


def findings(rows):
    """The three dataset-size expectations, each judged from paired intervals."""
    by_split = cells(rows)
    return [transfer_helps_most_at_small_k(by_split), finetuning_overtakes_freezing(by_split),
            frozen_n_lower_on_dissimilar(by_split)]


# --- report.md sections ----------------------------------------------------------------------

def decision_table(by_split):
    """Markdown: per split and K, the best transfer (n, mode) and its paired gains."""
    header = ["split", "K", "best (n, mode)", "top-1", "− from scratch", "− other mode",
              "other mode's best", "from scratch", "nets (best / scratch / other / all at K)"]
    body = []
    for split, cs in by_split.items():
        for c in cs:
            win, other = c.winner, c.other
            win_stat, other_stat = win and win.stat, other and other.stat
            counts = [s.count if s else 0 for s in (win_stat, c.scratch, other_stat)]
            gains = [g and g.estimate for g in (c.gain("base"), c.gain(other))]
            body.append([f"`{split}`", k_label(c.k), _best(win), win_stat and win_stat.pm(),
                         *gains, other and f"{_best(other)}: {other.stat.mean:.4f}",
                         c.scratch and c.scratch.pm(), " / ".join(map(str, counts + [c.nets]))])
    return F.markdown_table(header, body) + [
        "top-1 and from scratch: mean ± 95 % half-width over replicate blocks; gains: paired "
        "within each block, mean [95 % interval]; counts are replicate blocks.", ""]


def strategy_table(by_split):
    """Markdown: per split and K, the best (strategy, n) over the paper's modes and the
    adaptation kinds, with paired gains over from-scratch and over the paper's best; empty
    when no adaptation kind was trained at any K."""
    if not any(g in c.best for cs in by_split.values() for c in cs for g in STRATEGY_GROUPS):
        return []
    header = ["split", "K", "best (strategy, n)", "top-1", "− from scratch",
              "− best frozen/fine-tuned", "strategies measured"]
    body = []
    for split, cs in by_split.items():
        for c in cs:
            best, paper = c.best_strategy, c.winner
            gains = [g and g.estimate for g in (c.strategy_gain("base"), c.strategy_gain(
                paper if paper is not best else None))]
            measured = ", ".join(b.mode for g, b in c.best.items() if g.startswith("AnB"))
            body.append([f"`{split}`", k_label(c.k), _best(best), best and best.stat.pm(),
                         *gains, measured])
    return ["### Which strategy at K images per class", ""] + F.markdown_table(header, body) + [
        "Every strategy's best n by its mean; gains paired within replicate blocks (none when "
        "the best is the paper's own frozen or fine-tuned net).", ""]


def _best(best):
    return None if best is None else f"{best.name()} (n={best.n}, {best.mode})"


def markdown(rows):
    """The dataset-size part of report.md; empty when the sweep ran neither K nor k sizes."""
    by_split = cells(rows)
    out = []
    if by_split:
        out += ["## Dataset size: freeze or fine-tune, which n, at K images per class", "",
                "![top-1 vs K](datasize.png)", "",
                f"Target half {target_half(rows)} only; the source bases are trained on "
                "their full half. Best frozen n = the n with the highest mean AnB at that K, best "
                "fine-tuned n likewise for AnB+ (ties to the smaller n, then to frozen). "
                "\"all\" = the full-data nets of the same target half.", ""]
        out += decision_table(by_split)
        out += strategy_table(by_split)
        out += ["### Dataset-size findings (judged from 95 % intervals)", ""]
        out += [f"- **{f.status}**: {f.name}. {f.evidence}." for f in findings(rows)] + [""]
    return out + reduced.markdown(rows)
