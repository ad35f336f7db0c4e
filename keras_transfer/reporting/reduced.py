"""The original code's reduced-volume experiment from results rows: all-class nets trained on
the first k images of each class (kind "reduced"), beside the all-class base baseAll as "all".

Seeds and replicates are blocks (`decomposition.block_estimate`): each k's value is a mean with a
95 % t-interval. The original's numbers live here, not in `paper.py`, which holds the paper's
figures only.
"""

from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F

ALL = "all"  # k of the full-data base

# The original code's reduced-volume runs (shared/reference/PAPER.md): all 1000 classes, k images
# per class; every k <= 100 stayed at chance.
PAPER = {1000: 0.5409, 750: 0.5147, 500: 0.4757, 250: 0.3843}
PAPER_FULL = 0.5518
PAPER_CHANCE = 0.001  # k <= 100
PAPER_KS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 750, 1000)


def curve(rows):
    """{k: Estimate} of the reduced-volume nets (seeds and replicates as blocks)."""
    by_k = {}
    for r in F.select(rows, "reduced", size="any"):
        by_k.setdefault(int(r["per_class"]), []).append(r)
    return {k: D.block_estimate(v) for k, v in sorted(by_k.items())}


def paper_value(k):
    """The original's top-1 for k images per class, or None when it ran no such k."""
    if k == ALL:
        return PAPER_FULL
    if k <= 100:
        return PAPER_CHANCE if k in PAPER_KS else None
    return PAPER.get(k)


def table(rows):
    """Markdown: reduced-volume nets per k, baseAll as "all", the original's numbers on ImageNet."""
    by_k = curve(rows)
    reduced = [r for r in rows if r["kind"] == "reduced"]
    imagenet = all("imagenet" in str(r.get("dataset")).lower() for r in reduced)
    base_all = D.block_estimate(F.select(rows, "baseAll"))
    header = ["images per class k", F.METRIC, "nets"] + (["paper (original code)"] if imagenet
                                                         else [])
    body = []
    for k, st in [*by_k.items(), *([(ALL, base_all)] if base_all else [])]:
        label = "all (baseAll)" if k == ALL else str(k)
        ref = paper_value(k)
        paper_cell = [f"*{ref:.4f}*" if ref is not None else None] if imagenet else []
        body.append([label, st.pm(), st.count] + paper_cell)
    chance = sorted({1 / r["num_classes"] for r in reduced if r.get("num_classes")})
    notes = [f"Chance is {', '.join(f'{c:.4f}' for c in chance)} (1 / number of classes)."]
    if imagenet:
        notes.append("The original's k <= 100 runs stayed at chance (about 0.001).")
    return F.markdown_table(header, body) + notes + [""]


def markdown(rows):
    """The reduced-volume part of report.md; empty without reduced nets."""
    if not curve(rows):
        return []
    return ["## Reduced volume: all classes, k training images per class", "",
            "![top-1 vs images per class](reduced.png)", ""] + table(rows)
