"""The paper's Figures 2 and 3 drawn from results.jsonl rows (matplotlib, Agg, no pyplot state).

Sizes are fixed (no tight bounding box) so a figure's pixel size does not depend on the data:
transfer.png is 800x700, natural_manmade.png and random_filters.png are 700x700.
"""

import os

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from keras_transfer import findings as F  # noqa: E402

DPI = 100
SIZES = {"transfer": (8, 7), "natural_manmade": (7, 7), "random_filters": (7, 7)}
OFFSETS = {"BnB": -0.25, "BnB+": -0.09, "AnB": 0.09, "AnB+": 0.27}  # the paper's, not jitter
COLORS = {"base": "white", "BnB": "#1f4e9c", "BnB+": "#7fb2e5", "AnB": "#b0232a",
          "AnB+": "#f08c8c", "random": "#555555", "baseAll": "white",
          "transfer to man-made": "#d9822b", "transfer to natural": "#2e8b57"}
REL_COLORS = {"transfer, random splits": "#b0232a", "transfer, natural/man-made": "#d9822b",
              "random filters": "#555555"}


def _dots(ax, xs, ys, color, label, size=30):
    ax.scatter(xs, ys, s=size, c=color, edgecolors="black", linewidths=0.6, label=label, zorder=3)


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
    base = [r[F.METRIC] for r in F.select(pool, "base")]
    base_mean = F.stat(base)
    if base:
        _dots(top, [0] * len(base), base, COLORS["base"], "base (A and B halves)", size=40)
    for group, dx in OFFSETS.items():
        sel = F.select(pool, group)
        if sel:
            _dots(top, [r["n"] + dx for r in sel], [r[F.METRIC] for r in sel],
                  COLORS[group], group)
    for group in OFFSETS:
        curve = F.means(F.per_n(pool, group))
        if not curve:
            continue
        xs, ys = list(curve), list(curve.values())
        if base_mean:
            xs, ys = [0, *xs], [base_mean.mean, *ys]
        bottom.plot(xs, ys, "-o", color=COLORS[group], markeredgecolor="black", ms=4, label=group)
    if base_mean:
        bottom.axhline(base_mean.mean, ls="--", color="black", lw=1, label="base mean")
    if not pool:
        _empty(top, "no base, selffer or transfer nets in the results")
    top.set_ylabel(f"top-1 ({F.METRIC})")
    bottom.set_ylabel("mean top-1")
    top.set_title(f"Transfer vs selffer, both directions pooled ({label})", fontsize=10)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower left", ncol=3)
    _xaxis(bottom)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.94, bottom=0.09, hspace=0.08)
    return _save(fig, out_dir, "transfer")


def relative_panel(ax, rows):
    """Figure 3 (c): mean accuracy minus the matching base mean, per n."""
    rel = F.relative_curves(rows)
    ax.axhline(0, ls="--", color="black", lw=1, label="reference (base)")
    lo, hi = -0.3, 0.03
    for label, curve in rel.items():
        xs, ys = [0, *curve], [0.0, *curve.values()]
        ax.plot(xs, ys, "-o", ms=4, color=REL_COLORS[label], label=label)
        lo, hi = min(lo, min(ys) - 0.02), max(hi, max(ys) + 0.02)
    if not rel:
        _empty(ax, "nothing with a matching base yet")
    ax.set_ylim(lo, hi)
    ax.set_ylabel("top-1 relative to base")
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
        _dots(top, [dx] * len(base_rows) + [r["n"] + dx for r in dots],
              [r[F.METRIC] for r in base_rows + dots], color, label)
        xs, ys = list(curve), [s.mean for s in curve.values()]
        if base:
            xs, ys = [0, *xs], [base.mean, *ys]
            top.axhline(base.mean, ls="--", color=color, lw=0.8)
        top.plot(xs, ys, "-", color=color, lw=1.2)
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
    base = [r[F.METRIC] for r in F.select(rows, "baseAll")]
    rnd = F.select(rows, "random")
    if base:
        _dots(top, [0] * len(base), base, COLORS["baseAll"], "baseAll (all classes)", size=40)
        top.axhline(F.stat(base).mean, ls="--", color="black", lw=0.8)
    if rnd:
        _dots(top, [r["n"] for r in rnd], [r[F.METRIC] for r in rnd], COLORS["random"],
              "random frozen filters")
        curve = F.means(F.per_n(rows, "random"))
        xs, ys = list(curve), list(curve.values())
        if base:
            xs, ys = [0, *xs], [F.stat(base).mean, *ys]
        top.plot(xs, ys, "-", color=COLORS["random"], lw=1.2)
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


def write_all(rows, out_dir):
    """Draws the three figures into out_dir (PNG and SVG); returns {name: png path}."""
    os.makedirs(out_dir, exist_ok=True)
    return {"transfer": transfer_figure(rows, out_dir),
            "natural_manmade": natural_manmade_figure(rows, out_dir),
            "random_filters": random_filters_figure(rows, out_dir)}
