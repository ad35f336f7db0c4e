"""The dataset-size study (issue 11) from results rows: pure functions, like `findings`.

Target-set size: the target-side nets of half B trained on K images per class (rows with
`target_per_class` = K) beside the same nets on the full half (K = "all"). For each split and K a
`Cell` holds the from-scratch base (baseB@kK), the best frozen n (the n whose AnB mean is
highest at that K) and the best fine-tuned n (same for AnB+), and the selffer analogues (BnB,
BnB+) when present. "all" uses target-B nets only, so every point of the K axis compares the same
direction (the paper's figures pool A->B with B->A). Seeds and random-split seeds are pooled.
Ties between n go to the smaller n, and between modes to frozen.

Reduced volume: the original's all-class nets on k images per class (kind "reduced").
"""

import dataclasses
import statistics

from keras_transfer import findings as F

ALL = "all"  # the K of full-data nets
MODES = {"AnB": "frozen", "AnB+": "fine-tuned", "BnB": "frozen", "BnB+": "fine-tuned"}
# The original code's reduced-volume runs (shared/reference/PAPER.md): all 1000 classes, k images
# per class; every k <= 100 stayed at chance.
PAPER_REDUCED = {1000: 0.5409, 750: 0.5147, 500: 0.4757, 250: 0.3843}
PAPER_REDUCED_FULL = 0.5518
PAPER_REDUCED_CHANCE = 0.001  # k <= 100
PAPER_REDUCED_KS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 750, 1000)


@dataclasses.dataclass(frozen=True)
class Best:
    group: str       # AnB, AnB+, BnB or BnB+
    n: int
    stat: F.Stat

    @property
    def mode(self):
        return MODES[self.group]

    def name(self, target="B"):
        """The net's name without its @k suffix, e.g. A3B+."""
        return f"{self.group[0]}{self.n}{target}{'+' if self.group.endswith('+') else ''}"


@dataclasses.dataclass(frozen=True)
class Cell:
    """One split and K: from-scratch, best frozen and best fine-tuned transfer (and selffer)."""
    split: str
    k: object                     # int K or ALL
    scratch: F.Stat | None
    best: dict                    # {group: Best} for the groups present
    nets: int                     # every target-side net at this split and K

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

    def gain(self, reference):
        win = self.winner
        return None if win is None or reference is None else win.stat.mean - reference.mean

    @property
    def tuned_minus_frozen(self):
        a, b = self.best.get("AnB+"), self.best.get("AnB")
        return None if a is None or b is None else a.stat.mean - b.stat.mean


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
                if r["kind"] in ("base", "selffer", "transfer")]
        ks = sorted({k_of(r) for r in side}, key=k_order)
        out[split] = []
        for k in ks:
            size = "full" if k == ALL else k
            at_k = F.select(side, size=size)
            scratch = F.stat(r[F.METRIC] for r in F.select(at_k, "base", size=size))
            best = {g: b for g in MODES if (b := best_n(at_k, g, size)) is not None}
            out[split].append(Cell(split, k, scratch, best, len(at_k)))
    return out


def reduced_curve(rows):
    """{k: Stat} of the reduced-volume nets (seeds pooled)."""
    by_k = {}
    for r in rows:
        if r["kind"] == "reduced":
            by_k.setdefault(int(r["per_class"]), []).append(r[F.METRIC])
    return {k: F.stat(v) for k, v in sorted(by_k.items())}


def paper_reduced(k):
    """The original's top-1 for k images per class, or None when it ran no such k."""
    if k == ALL:
        return PAPER_REDUCED_FULL
    if k <= 100:
        return PAPER_REDUCED_CHANCE if k in PAPER_REDUCED_KS else None
    return PAPER_REDUCED.get(k)


# --- findings -----------------------------------------------------------------------------------

def _series(split_cells, value):
    """[(K, value)] over the cells where value(cell) is measurable."""
    return [(c.k, v) for c in split_cells if (v := value(c)) is not None]


def _fmt(series):
    return ", ".join(f"K={k_label(k)}: {v:+.4f}" for k, v in series)


def _judge(name, per_split, need):
    """One Finding from {split: (holds or None, evidence)}: holds only if it holds in every split
    where it is measurable."""
    measured = {s: v for s, v in per_split.items() if v[0] is not None}
    if not measured:
        return F.Finding(name, F.UNMEASURABLE, need)
    ok = all(h for h, _ in measured.values())
    evidence = "; ".join(f"`{s}`: {e}" for s, (_, e) in per_split.items())
    return F.Finding(name, F.HOLDS if ok else F.FAILS, evidence)


def transfer_helps_most_at_small_k(by_split, tol):
    name = ("Transfer helps most at small K (best transfer minus from-scratch falls as K grows: "
            "smallest K's gain above the largest's, no rise between neighbours, beyond tolerance)")
    per_split = {}
    for split, cs in by_split.items():
        s = _series(cs, lambda c: c.gain(c.scratch))
        if len(s) < 2:
            per_split[split] = (None, "needs from-scratch and transfer nets at two K")
            continue
        gains = [v for _, v in s]
        holds = gains[0] > gains[-1] + tol and all(b <= a + tol for a, b in zip(gains, gains[1:]))
        per_split[split] = (holds, f"gain over scratch {_fmt(s)}")
    return _judge(name, per_split, "needs from-scratch (baseB@k) and transfer nets (AnB/AnB+) at "
                  "two or more K on some split")


def finetuning_overtakes_freezing(by_split, tol):
    name = ("Fine-tuning overtakes freezing as K grows (best AnB+ minus best AnB: not ahead at "
            "the smallest K, ahead at the largest)")
    per_split = {}
    for split, cs in by_split.items():
        s = _series(cs, lambda c: c.tuned_minus_frozen)
        if len(s) < 2:
            per_split[split] = (None, "needs AnB and AnB+ at two K")
            continue
        holds = s[0][1] <= tol and s[-1][1] > tol
        per_split[split] = (holds, f"fine-tuned minus frozen {_fmt(s)}")
    return _judge(name, per_split, "needs frozen and fine-tuned transfer nets at two or more K")


def frozen_n_lower_on_dissimilar(by_split):
    name = ("The best frozen n is lower on the dissimilar split (natural_manmade vs "
            "random, mean over the K both have)")
    other = "random" if "random" in by_split else None
    if "natural_manmade" not in by_split or other is None:
        return F.Finding(name, F.UNMEASURABLE, "needs K-limited frozen transfer nets on both a "
                         "natural_manmade and a random split (merge their results)")
    ns = {s: {c.k: c.best["AnB"].n for c in by_split[s] if "AnB" in c.best}
          for s in ("natural_manmade", other)}
    shared = sorted(set(ns["natural_manmade"]) & set(ns[other]), key=k_order)
    if not shared:
        return F.Finding(name, F.UNMEASURABLE, "no K with frozen transfer nets on both splits")
    nm = statistics.fmean(ns["natural_manmade"][k] for k in shared)
    rs = statistics.fmean(ns[other][k] for k in shared)
    evidence = ", ".join(f"K={k_label(k)}: {ns['natural_manmade'][k]} vs {ns[other][k]}"
                         for k in shared)
    return F.Finding(name, F.HOLDS if nm < rs else F.FAILS,
                     f"best frozen n natural_manmade vs {other}: {evidence} "
                     f"(means {nm:.2f} vs {rs:.2f})")


def findings(rows, tol=F.TOLERANCE):
    """The three dataset-size expectations of issue 11, each judged on these rows."""
    by_split = cells(rows)
    return [transfer_helps_most_at_small_k(by_split, tol),
            finetuning_overtakes_freezing(by_split, tol), frozen_n_lower_on_dissimilar(by_split)]


# --- report.md sections ----------------------------------------------------------------------

def decision_table(by_split):
    """Markdown: per split and K, the best transfer (n, mode) and its gains."""
    header = ["split", "K", "best (n, mode)", "top-1", "− from scratch", "− other mode",
              "other mode's best", "from scratch", "nets (best / scratch / other / all at K)"]
    body = []
    for split, cs in by_split.items():
        for c in cs:
            win, other = c.winner, c.other
            win_stat, other_stat = win and win.stat, other and other.stat
            counts = [s.count if s else 0 for s in (win_stat, c.scratch, other_stat)]
            body.append([f"`{split}`", k_label(c.k), _best(win), win_stat,
                         _signed(c.gain(c.scratch)), _signed(c.gain(other_stat)),
                         other and f"{_best(other)}: {other.stat.mean:.4f}", c.scratch,
                         " / ".join(map(str, counts + [c.nets]))])
    return F.markdown_table(header, body)


def _best(best):
    return None if best is None else f"{best.name()} (n={best.n}, {best.mode})"


def _signed(value):
    return None if value is None else f"{value:+.4f}"


def reduced_table(rows):
    """Markdown: reduced-volume nets per k, baseAll as "all", the original's numbers on ImageNet."""
    curve = reduced_curve(rows)
    reduced = [r for r in rows if r["kind"] == "reduced"]
    imagenet = all("imagenet" in str(r.get("dataset")).lower() for r in reduced)
    base_all = F.stat(r[F.METRIC] for r in F.select(rows, "baseAll"))
    header = ["images per class k", F.METRIC, "nets"] + (["paper (original code)"] if imagenet
                                                         else [])
    body = []
    for k, st in [*curve.items(), *([(ALL, base_all)] if base_all else [])]:
        label = "all (baseAll)" if k == ALL else str(k)
        ref = paper_reduced(k)
        body.append([label, f"{st.mean:.4f}" + (f" ± {st.std:.4f}" if st.count > 1 else ""),
                     st.count] + ([f"*{ref:.4f}*" if ref is not None else None] if imagenet
                                  else []))
    chance = sorted({1 / r["num_classes"] for r in reduced if r.get("num_classes")})
    notes = [f"Chance is {', '.join(f'{c:.4f}' for c in chance)} (1 / number of classes)."]
    if imagenet:
        notes.append("The original's k <= 100 runs stayed at chance (about 0.001).")
    return F.markdown_table(header, body) + notes + [""]


def markdown(rows, tol=F.TOLERANCE):
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
        out += [f"### Dataset-size findings (tolerance {tol} top-1)", ""]
        out += [f"- **{f.status}**: {f.name}. {f.evidence}." for f in
                findings(rows, tol)] + [""]
    if reduced_curve(rows):
        out += ["## Reduced volume: all classes, k training images per class", "",
                "![top-1 vs images per class](reduced.png)", ""] + reduced_table(rows)
    return out
