"""The paper's Figures 2 and 3 drawn from results.jsonl rows (matplotlib, Agg, no pyplot state).

Sizes are fixed (no tight bounding box) so a figure's pixel size does not depend on the data:
transfer.png is 800x700, natural_manmade.png and random_filters.png are 700x700,
decomposition.png 800x500; the dataset-size figures datasize.png and reduced.png (drawn only when
the rows have K-limited or reduced-volume nets) are 1000x450. Error bars are 95 % t-intervals
over replicate blocks (`decomposition`); a net whose convergence diagnostic says it had not
converged is drawn hollow.
"""

import os

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from keras_transfer import datasize  # noqa: E402
from keras_transfer import decomposition as D  # noqa: E402
from keras_transfer import findings as F  # noqa: E402

DPI = 100
SIZES = {"transfer": (8, 7), "natural_manmade": (7, 7), "random_filters": (7, 7),
         "decomposition": (8, 5), "datasize": (10, 4.5), "reduced": (10, 4.5)}
OFFSETS = {"BnB": -0.25, "BnB+": -0.09, "AnB": 0.09, "AnB+": 0.27}  # the paper's, not jitter
COLORS = {"base": "white", "BnB": "#1f4e9c", "BnB+": "#7fb2e5", "AnB": "#b0232a",
          "AnB+": "#f08c8c", "random": "#555555", "baseAll": "white",
          "transfer to man-made": "#d9822b", "transfer to natural": "#2e8b57"}
REL_COLORS = {"transfer, random splits": "#b0232a", "transfer, natural/man-made": "#d9822b",
              "random filters": "#555555"}


def _dots(ax, xs, ys, color, label, size=30):
    ax.scatter(xs, ys, s=size, c=color, edgecolors="black", linewidths=0.6, label=label, zorder=3)


def _row_dots(ax, rows, dx, color, label, size=30):
    """One dot per row at n + dx; rows known not to have converged drawn hollow."""
    done = [r for r in rows if D.converged(r) is not False]
    if done:
        _dots(ax, [r["n"] + dx for r in done], [r[F.METRIC] for r in done], color, label, size)
    late = [r for r in rows if D.converged(r) is False]
    if late:  # a dashed ring, so a white-filled base that did not converge still stands out
        edge = "black" if color == "white" else color
        ax.scatter([r["n"] + dx for r in late], [r[F.METRIC] for r in late], s=size,
                   facecolors="none", edgecolors=edge, linewidths=1.2, linestyles="--",
                   zorder=3, label=f"{label} (not converged)")


def _err(estimates):
    """Error-bar half-widths (0 where a single replicate gives no interval)."""
    return [e.half_width or 0.0 for e in estimates]


def _mean_line(ax, curve, base, fmt, dx=0.0, **kw):
    """{n: Estimate} as a line with 95 % error bars, starting from the base's estimate; dx
    shifts the bars sideways so groups at the same n stay readable."""
    points = ([(0, base)] if base else []) + list(curve.items())
    if not points:
        return
    ax.errorbar([x + dx for x, _ in points], [e.mean for _, e in points],
                _err(e for _, e in points), fmt=fmt, capsize=2, **kw)


def _empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _xaxis(ax, ns=F.NS):
    ax.set_xticks([0, *ns])
    ax.set_xticklabels(["base", *map(str, ns)])
    ax.set_xlim(-0.6, max(ns) + 0.6)
    ax.set_xlabel("layer n at which the network is chopped and retrained")


def _save(fig, out_dir, name):
    png = os.path.join(out_dir, name + ".png")
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(os.path.join(out_dir, name + ".svg"), metadata={"Date": None})
    return png


def transfer_figure(rows, out_dir):
    """Figure 2: every net a dot (upper), means per n from the base mean (lower)."""
    pool, label = F.transfer_pool(rows)
    fig = Figure(figsize=SIZES["transfer"], dpi=DPI)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    base_mean = F.base_stat(pool)
    _row_dots(top, F.select(pool, "base"), 0, COLORS["base"], "base (A and B halves)", size=40)
    for group, dx in OFFSETS.items():
        _row_dots(top, F.select(pool, group), dx, COLORS[group], group)
    for group in OFFSETS:
        curve = F.per_n(pool, group)
        if curve:
            _mean_line(bottom, curve, base_mean, "-o", dx=OFFSETS[group] / 3,
                       color=COLORS[group], markeredgecolor="black", ms=4, label=group)
    if base_mean:
        bottom.axhline(base_mean.mean, ls="--", color="black", lw=1, label="base mean")
    if not pool:
        _empty(top, "no base, selffer or transfer nets in the results")
    top.set_ylabel(f"top-1 ({F.METRIC})")
    bottom.set_ylabel("mean top-1 (95 % CI)")
    top.set_title(f"Transfer vs selffer, both directions pooled ({label})", fontsize=10)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # "best": a fixed corner can hide a base's dot
            ax.legend(fontsize=7, loc="best", ncol=3, framealpha=0.8)
    _xaxis(bottom)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.94, bottom=0.09, hspace=0.08)
    return _save(fig, out_dir, "transfer")


def relative_panel(ax, rows):
    """Figure 3 (c): mean accuracy minus the matching base mean, per n."""
    rel = F.relative_curves(rows)
    ax.axhline(0, ls="--", color="black", lw=1, label="reference (base)")
    lo, hi = -0.3, 0.03
    for label, curve in rel.items():
        est = {n: p.estimate for n, p in curve.items()}
        ax.errorbar([0, *est], [0.0, *[e.mean for e in est.values()]],
                    [0.0, *_err(est.values())], fmt="-o", ms=4, capsize=2,
                    color=REL_COLORS[label], label=label)
        ys = [e.mean for e in est.values()]
        lo, hi = min(lo, min(ys) - 0.02), max(hi, max(ys) + 0.02)
    if not rel:
        _empty(ax, "nothing with a matching base yet")
    ax.set_ylim(lo, hi)
    ax.set_ylabel("top-1 relative to base (95 % CI)")
    ax.set_title("(c) relative to the matching base", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    _xaxis(ax)


def natural_manmade_figure(rows, out_dir):
    """Figure 3 (a) absolute top-1 per target on the natural/man-made split, and (c)."""
    fig = Figure(figsize=SIZES["natural_manmade"], dpi=DPI)
    top, bottom = fig.subplots(2, 1)
    curves = F.natmm_curves(rows)
    nm = F.select(rows, split="natural_manmade")
    for (target, label), dx in zip(F.NATMM_TARGETS.items(), (-0.1, 0.1)):
        if label not in curves:
            continue
        base, curve = curves[label]
        color = COLORS[label]
        base_rows = F.select(nm, "base", target=target)
        dots = F.select(F.select(nm, target=target), "AnB")
        _row_dots(top, base_rows + dots, dx, color, label)
        if base:
            top.axhline(base.mean, ls="--", color=color, lw=0.8)
        _mean_line(top, curve, base, "-", color=color, lw=1.2)
    if not curves:
        _empty(top, "no natural_manmade split in the results")
    else:
        top.legend(fontsize=7, loc="lower left")
    top.set_ylabel(f"top-1 ({F.METRIC})")
    top.set_title("(a) natural/man-made split, frozen transfer (A = natural)", fontsize=10)
    top.grid(alpha=0.3)
    _xaxis(top)
    relative_panel(bottom, rows)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.08, hspace=0.4)
    return _save(fig, out_dir, "natural_manmade")


def random_filters_figure(rows, out_dir):
    """Figure 3 (b) random frozen filters vs the all-class base, and (c)."""
    fig = Figure(figsize=SIZES["random_filters"], dpi=DPI)
    top, bottom = fig.subplots(2, 1)
    base_rows, rnd = F.select(rows, "baseAll"), F.select(rows, "random")
    base = D.block_estimate(base_rows)
    if base:
        _row_dots(top, base_rows, 0, COLORS["baseAll"], "baseAll (all classes)", size=40)
        top.axhline(base.mean, ls="--", color="black", lw=0.8)
    if rnd:
        _row_dots(top, rnd, 0, COLORS["random"], "random frozen filters")
        _mean_line(top, F.per_n(rows, "random"), base, "-", color=COLORS["random"], lw=1.2)
    if base or rnd:
        top.legend(fontsize=7, loc="lower left")
    else:
        _empty(top, "random filters were not run")
    top.set_ylabel(f"top-1 ({F.METRIC})")
    top.set_title("(b) random frozen filters vs the all-class base", fontsize=10)
    top.grid(alpha=0.3)
    _xaxis(top)
    relative_panel(bottom, rows)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.08, hspace=0.4)
    return _save(fig, out_dir, "random_filters")


DECOMPOSITION_COLORS = ("#1f4e9c", "#b0232a", "#f08c8c", "#d9822b", "#7fb2e5", "#555555")


def decomposition_figure(rows, out_dir):
    """The paper's decomposition per n: one line per paired quantity with 95 % error bars."""
    pool, label = F.transfer_pool(rows)
    dec = D.decomposition(pool, rows)
    fig = Figure(figsize=SIZES["decomposition"], dpi=DPI)
    ax = fig.subplots()
    ax.axhline(0, color="black", lw=1)
    spread = 0.3 / max(1, len(D.QUANTITIES) - 1)  # side by side so the bars do not overlap
    for i, ((name, _, _), color) in enumerate(zip(D.QUANTITIES, DECOMPOSITION_COLORS)):
        if name not in dec:
            continue
        est = {n: p.estimate for n, p in dec[name].items()}
        ax.errorbar([n - 0.15 + i * spread for n in est], [e.mean for e in est.values()],
                    _err(est.values()), fmt="-o", ms=4, capsize=2, color=color, label=name)
    if not dec:
        _empty(ax, "no base with dependants in the same replicate yet")
    else:
        ax.legend(fontsize=7, loc="best", ncol=2, framealpha=0.8)
    ax.set_xticks(list(F.NS))
    ax.set_xlim(0.4, max(F.NS) + 0.6)
    ax.set_xlabel("layer n at which the network is chopped and retrained")
    ax.set_ylabel("difference in top-1 (95 % CI)")
    ax.set_title(f"Decomposition, paired within replicates ({label})", fontsize=10)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
    return _save(fig, out_dir, "decomposition")


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


def datasize_figure(rows, out_dir):
    """Top-1 vs target images per class K (log x): from scratch, best frozen and fine-tuned n."""
    by_split = datasize.cells(rows)
    fig = Figure(figsize=SIZES["datasize"], dpi=DPI)
    axes = fig.subplots(1, max(1, len(by_split)), sharey=True, squeeze=False)[0]
    xs = _k_axis({c.k for cs in by_split.values() for c in cs})
    for ax, (split, cs) in zip(axes, by_split.items()):
        pts = [(xs[c.k], c.scratch) for c in cs if c.scratch]
        if pts:
            ax.errorbar([x for x, _ in pts], [s.mean for _, s in pts], _err(s for _, s in pts),
                        fmt="-o", color="black", ms=5, capsize=2, label="from scratch (baseB)")
        for group, (label, color, ls) in DATASIZE_STYLE.items():
            best = [(xs[c.k], c.best[group]) for c in cs if group in c.best]
            if not best:
                continue
            ax.errorbar([x for x, _ in best], [b.stat.mean for _, b in best],
                        _err(b.stat for _, b in best), fmt="o", ls=ls, color=color, ms=5,
                        mec="black", capsize=2, label=label)
            for x, b in best:  # the winning n, next to its point
                ax.annotate(f"n={b.n}", (x, b.stat.mean), fontsize=6, xytext=(3, 3),
                            textcoords="offset points", color=color)
        ax.set_xscale("log")
        if datasize.ALL in xs and len(xs) > 1:  # "all" is not a K: mark the gap before it
            ax.axvline(xs[datasize.ALL] / 2, color="gray", lw=0.8, ls=":")
        ax.set_xticks(sorted(xs.values()))
        ax.set_xticklabels([datasize.k_label(k) for k in sorted(xs, key=datasize.k_order)])
        ax.minorticks_off()
        ax.set_xlabel("target images per class K (log)")
        ax.set_title(f"split {split}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    if not by_split:
        _empty(axes[0], "no K-limited nets (--target_per_class) in the results")
    axes[0].set_ylabel(f"top-1 on the target half ({F.METRIC})")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.12, wspace=0.08)
    return _save(fig, out_dir, "datasize")


def reduced_figure(rows, out_dir):
    """Reduced volume: top-1 vs images per class k, linear and log x (as in the original)."""
    curve = datasize.reduced_curve(rows)
    dots = F.select(rows, "reduced", size="any")
    base_all = D.block_estimate(F.select(rows, "baseAll"))
    chance = {1 / r["num_classes"] for r in dots if r.get("num_classes")}
    chance = chance.pop() if len(chance) == 1 else None
    imagenet = dots and all("imagenet" in str(r.get("dataset")).lower() for r in dots)
    fig = Figure(figsize=SIZES["reduced"], dpi=DPI)
    for ax, log in zip(fig.subplots(1, 2, sharey=True), (False, True)):
        if dots:
            _dots(ax, [r["per_class"] for r in dots], [r[F.METRIC] for r in dots],
                  COLORS["random"], "reduced nets")
            ax.errorbar(list(curve), [s.mean for s in curve.values()], _err(curve.values()),
                        fmt="-", capsize=2, color=COLORS["random"])
        else:
            _empty(ax, "no reduced-volume nets (--per_class) in the results")
        if base_all:
            ax.axhline(base_all.mean, ls="--", color="black", lw=1, label="baseAll (all images)")
        if chance:
            ax.axhline(chance, ls=":", color="gray", lw=1, label="chance")
        if imagenet:
            ks = [k for k in datasize.PAPER_REDUCED_KS if k <= max(curve)]
            ax.plot(ks, [datasize.paper_reduced(k) for k in ks], "s", mfc="none", color="black",
                    label="original code (ImageNet)")
        if log:
            ax.set_xscale("log")
            ax.set_xticks(list(curve))
            ax.set_xticklabels(map(str, curve))
            ax.minorticks_off()
        ax.set_xlabel("training images per class k" + (" (log)" if log else ""))
        ax.set_title(f"all classes, k images per class ({'log' if log else 'linear'} x)",
                     fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.axes[0].set_ylabel(f"top-1 ({F.METRIC})")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.92, bottom=0.12, wspace=0.06)
    return _save(fig, out_dir, "reduced")


def write_all(rows, out_dir):
    """Draws the figures into out_dir (PNG and SVG); returns {name: png path}.

    The paper's three and the decomposition always; datasize and reduced only when the rows
    have such nets (an earlier
    report's copy is removed otherwise, so out_dir never shows numbers these rows lack).
    """
    os.makedirs(out_dir, exist_ok=True)
    out = {"transfer": transfer_figure(rows, out_dir),
           "natural_manmade": natural_manmade_figure(rows, out_dir),
           "random_filters": random_filters_figure(rows, out_dir),
           "decomposition": decomposition_figure(rows, out_dir)}
    for name, draw, present in (("datasize", datasize_figure, datasize.cells(rows)),
                                ("reduced", reduced_figure, datasize.reduced_curve(rows))):
        if present:
            out[name] = draw(rows, out_dir)
        else:
            for ext in (".png", ".svg"):
                if os.path.exists(os.path.join(out_dir, name + ext)):
                    os.remove(os.path.join(out_dir, name + ext))
    return out
