"""The dataset-size figures (matplotlib's Agg canvas, no pyplot state), drawn only when the rows
have such nets: datasize.png (top-1 vs target images per class K) and reduced.png (the
reduced-volume nets vs k), both 900x450 (9 in, so the README shows 9-point text at its size).
One legend right of the panels (`legend.outside`). Error bars are 95 % t-intervals over
replicate blocks.
"""

import os

from keras_transfer.reporting import datasize, legend, reduced
from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting.figures import (
    COLORS,
    LABEL,
    TEXT,
    dots,
    empty,
    error_bars,
    finish,
    new_figure,
    save,
)

SIZES = {"datasize": (9, 4.5), "reduced": (9, 4.5)}

DATASIZE_STYLE = {  # group: (label, color, line style)
    "AnB": ("best frozen AnB", COLORS["AnB"], "-"), "AnB+": ("best fine-tuned AnB+",
                                                            COLORS["AnB+"], "-"),
    "BnB": ("best frozen BnB", COLORS["BnB"], "--"), "BnB+": ("best fine-tuned BnB+",
                                                             COLORS["BnB+"], "--")}


def _k_axis(ks):
    """x positions on a log axis: K as is, "all" one step (x4) right of the largest K."""
    ints = [k for k in ks if k != datasize.ALL]
    all_x = max(ints) * 4 if ints else 1
    return {k: all_x if k == datasize.ALL else k for k in ks}


def datasize_figure(rows):
    """Top-1 vs target images per class K (log x): from scratch, best frozen and fine-tuned n."""
    by_split = datasize.cells(rows)
    fig = new_figure(SIZES["datasize"])
    axes = fig.subplots(1, max(1, len(by_split)), sharey=True, squeeze=False)[0]
    xs = _k_axis({c.k for cs in by_split.values() for c in cs})
    for ax, (split, cs) in zip(axes, by_split.items()):
        pts = [(xs[c.k], c.scratch) for c in cs if c.scratch]
        if pts:
            ax.errorbar([x for x, _ in pts], [s.mean for _, s in pts],
                        error_bars(s for _, s in pts),
                        fmt="-o", color="black", ms=5, capsize=2, label="from scratch (baseB)")
        for group, (label, color, ls) in DATASIZE_STYLE.items():
            best = [(xs[c.k], c.best[group]) for c in cs if group in c.best]
            if not best:
                continue
            ax.errorbar([x for x, _ in best], [b.stat.mean for _, b in best],
                        error_bars(b.stat for _, b in best), fmt="o", ls=ls, color=color, ms=5,
                        mec="black", capsize=2, label=label)
            frozen = "+" not in group  # frozen below its point, fine-tuned above: no clash
            for x, b in best:  # the winning n, next to its point
                ax.annotate(f"n={b.n}", (x, b.stat.mean), fontsize=TEXT,
                            xytext=(4, -4 if frozen else 4), textcoords="offset points",
                            va="top" if frozen else "bottom", color=color)
        ax.set_xscale("log")
        if datasize.ALL in xs and len(xs) > 1:  # "all" is not a K: mark the gap before it
            ax.axvline(xs[datasize.ALL] / 2, color="gray", lw=0.8, ls=":")
        ax.set_xticks(sorted(xs.values()))
        ax.set_xlim(min(xs.values()) / 1.5, max(xs.values()) * 1.6)  # room for the n= notes
        ax.set_xticklabels([datasize.k_label(k) for k in sorted(xs, key=datasize.k_order)])
        ax.minorticks_off()
        ax.set_xlabel("target images per class K (log)", fontsize=LABEL)
        finish(ax, f"split {split}")
    if not by_split:
        empty(axes[0], "no K-limited nets (--target_per_class) in the results")
    axes[0].set_ylabel(f"top-1 on the target half ({F.METRIC})", fontsize=LABEL)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.92, bottom=0.12, wspace=0.08)
    legend.outside(fig, axes, shared=True)
    return fig


def reduced_figure(rows):
    """Reduced volume: top-1 vs images per class k, linear and log x (as in the original)."""
    curve = reduced.curve(rows)
    nets = F.select(rows, "reduced", size="any")
    base_all = D.block_estimate(F.select(rows, "baseAll"))
    chance = {1 / r["num_classes"] for r in nets if r.get("num_classes")}
    chance = chance.pop() if len(chance) == 1 else None
    imagenet = nets and all("imagenet" in str(r.get("dataset")).lower() for r in nets)
    fig = new_figure(SIZES["reduced"])
    for ax, log in zip(fig.subplots(1, 2, sharey=True), (False, True)):
        if nets:
            dots(ax, [r["per_class"] for r in nets], [r[F.METRIC] for r in nets],
                  COLORS["random"], "reduced nets")
            ax.errorbar(list(curve), [s.mean for s in curve.values()],
                        error_bars(curve.values()), fmt="-", capsize=2, color=COLORS["random"])
        else:
            empty(ax, "no reduced-volume nets (--per_class) in the results")
        if base_all:
            ax.axhline(base_all.mean, ls="--", color="black", lw=1, label="baseAll (all images)")
        if chance:
            ax.axhline(chance, ls=":", color="gray", lw=1, label="chance")
        if imagenet:
            ks = [k for k in reduced.PAPER_KS if k <= max(curve)]
            ax.plot(ks, [reduced.paper_value(k) for k in ks], "s", mfc="none", color="black",
                    label="original code (ImageNet)")
        if log:
            ax.set_xscale("log")
            ax.set_xticks(list(curve))
            ax.set_xticklabels(map(str, curve))
            ax.minorticks_off()
        ax.set_xlabel("training images per class k" + (" (log)" if log else ""), fontsize=LABEL)
        finish(ax, f"all classes, k images per class ({'log' if log else 'linear'} x)")
    fig.axes[0].set_ylabel(f"top-1 ({F.METRIC})", fontsize=LABEL)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.12, wspace=0.06)
    legend.outside(fig, fig.axes, shared=True)
    return fig


def draw_all(rows):
    """{name: Figure} of datasize and reduced, each only when the rows have such nets."""
    present = {"datasize": (datasize_figure, datasize.cells(rows)),
               "reduced": (reduced_figure, reduced.curve(rows))}
    return {name: draw(rows) for name, (draw, there) in present.items() if there}


def write_all(rows, out_dir):
    """Draws datasize and reduced into out_dir when the rows have such nets; returns
    {name: png path}. An earlier report's copy is removed otherwise, so out_dir never shows
    numbers these rows lack."""
    os.makedirs(out_dir, exist_ok=True)
    figs = draw_all(rows)
    for name in SIZES.keys() - figs.keys():
        for ext in (".png", ".svg"):
            if os.path.exists(os.path.join(out_dir, name + ext)):
                os.remove(os.path.join(out_dir, name + ext))
    return {name: save(fig, out_dir, name) for name, fig in figs.items()}
