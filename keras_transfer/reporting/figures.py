"""The paper's Figures 2 and 3 and the decomposition drawn from results.jsonl rows (matplotlib's
Agg canvas, no pyplot state); the dataset-size figures are in `datasize_figures`.

One panel per idea, lettered as the paper's Figure 3: natural_manmade.png is (a), absolute top-1
per target on the natural/man-made split; random_filters.png is (b), random frozen filters vs the
all-class base, above (c), each of them and the random-split transfer relative to its own base.
Sizes are fixed (no tight bounding box) and at most 8 in wide, so the README shows them at their
own pixels and 9-point text stays readable: transfer.png is 800x700, natural_manmade.png 700x450,
random_filters.png 700x700, decomposition.png 800x500. A legend goes right of its axes (or
below them), in room the axes give up (`legend.outside`): nothing can be under it. Error bars
are 95 % t-intervals over replicate blocks (`decomposition`); a net whose convergence
diagnostic says it had not converged is drawn as a hollow dashed ring.
"""

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_transfer.reporting import decomposition as D
from keras_transfer.reporting import findings as F
from keras_transfer.reporting import legend
from keras_transfer.reporting import strategies as S

DPI = 100
SIZES = {"transfer": (8, 7), "natural_manmade": (7, 4.5), "random_filters": (7, 7),
         "decomposition": (8, 5), "strategies": (8, 5)}
TEXT, TICK, LABEL, TITLE = legend.FONT, 10, 10, 11  # points: legends and notes, tick labels,
# axis labels, titles: at DPI and at most 9 in wide, 9 points read at the README's size
OFFSETS = {"BnB": -0.25, "BnB+": -0.09, "AnB": 0.09, "AnB+": 0.27}  # the paper's, not jitter
COLORS = {"base": "white", "BnB": "#1f4e9c", "BnB+": "#7fb2e5", "AnB": "#b0232a",
          "AnB+": "#f08c8c", "random": "#555555", "baseAll": "white",
          "transfer to man-made": "#d9822b", "transfer to natural": "#2e8b57"}
REL_COLORS = {"transfer, random splits": "#b0232a", "transfer, natural/man-made": "#d9822b",
              "random filters": "#555555"}


def new_figure(size):
    """A Figure of `size` inches at DPI with its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def finish(ax, title, ylabel=None):
    """The shared look: title, y label, text sizes and a light grid."""
    ax.set_title(title, fontsize=TITLE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.tick_params(labelsize=TICK)
    ax.grid(alpha=0.3)


def dots(ax, xs, ys, color, label, size=30):
    ax.scatter(xs, ys, s=size, c=color, edgecolors="black", linewidths=0.6, label=label, zorder=3)


def row_dots(ax, rows, dx, color, label, size=30):
    """One dot per row at n + dx; rows known not to have converged drawn hollow."""
    done = [r for r in rows if D.converged(r) is not False]
    if done:
        dots(ax, [r["n"] + dx for r in done], [r[F.METRIC] for r in done], color, label, size)
    late = [r for r in rows if D.converged(r) is False]
    if late:  # a dashed ring, so a white-filled base that did not converge still stands out
        edge = "black" if color == "white" else color
        ax.scatter([r["n"] + dx for r in late], [r[F.METRIC] for r in late], s=size,
                   facecolors="none", edgecolors=edge, linewidths=1.2, linestyles="--",
                   zorder=3, label="not converged (dashed ring)")


def error_bars(estimates):
    """Error-bar half-widths (0 where a single replicate gives no interval)."""
    return [e.half_width or 0.0 for e in estimates]


def interval_label(estimates):
    """What the error bars are: '95 % CI', or that a single run drew none."""
    estimates = list(estimates)
    if estimates and not any(e.conclusive for e in estimates):
        return "one run: no CI"
    return "95 % CI"


def _mean_line(ax, curve, base, fmt, dx=0.0, **kw):
    """{n: Estimate} as a line with 95 % error bars, starting from the base's estimate; dx
    shifts the bars sideways so groups at the same n stay readable."""
    points = ([(0, base)] if base else []) + list(curve.items())
    if not points:
        return
    ax.errorbar([x + dx for x, _ in points], [e.mean for _, e in points],
                error_bars(e for _, e in points), fmt=fmt, capsize=2, **kw)


def empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray",
            fontsize=LABEL)


def _xaxis(ax, ns):
    ax.set_xticks([0, *ns])
    ax.set_xticklabels(["base", *map(str, ns)])
    ax.set_xlim(-0.6, max(ns) + 0.6)
    ax.set_xlabel("layer n at which the network is chopped and retrained", fontsize=LABEL)


def save(fig, out_dir, name):
    png = os.path.join(out_dir, name + ".png")
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(os.path.join(out_dir, name + ".svg"), metadata={"Date": None})
    return png


def transfer_figure(rows):
    """Figure 2: every net a dot (upper), means per n from the base mean (lower)."""
    pool, label = F.transfer_pool(rows)
    fig = new_figure(SIZES["transfer"])
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    base_mean = F.base_stat(pool)
    row_dots(top, F.select(pool, "base"), 0, COLORS["base"], "base (A and B halves)", size=40)
    for group, dx in OFFSETS.items():
        row_dots(top, F.select(pool, group), dx, COLORS[group], group)
    means = []
    for group, dx in OFFSETS.items():  # the colours are the upper panel's legend
        curve = F.per_n(pool, group)
        if curve:
            _mean_line(bottom, curve, base_mean, "-o", dx=dx / 3,
                       color=COLORS[group], markeredgecolor="black", ms=4)
            means += curve.values()
    if base_mean:
        bottom.axhline(base_mean.mean, ls="--", color="black", lw=1, label="base mean")
    if not pool:
        empty(top, "no base, selffer or transfer nets in the results")
    finish(top, f"Transfer vs selffer, both directions pooled ({label})",
           f"top-1 ({F.METRIC})")
    finish(bottom, "", f"mean top-1 ({interval_label(means)})")
    _xaxis(bottom, D.axis(rows))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.94, bottom=0.09, hspace=0.08)
    legend.outside(fig, [top, bottom])
    return fig


def relative_panel(ax, rows):
    """Figure 3 (c): mean accuracy minus the matching base mean, per n."""
    rel = F.relative_curves(rows)
    ax.axhline(0, ls="--", color="black", lw=1, label="reference (base)")
    lo, hi = -0.3, 0.03
    for label, curve in rel.items():
        est = {n: p.estimate for n, p in curve.items()}
        ax.errorbar([0, *est], [0.0, *[e.mean for e in est.values()]],
                    [0.0, *error_bars(est.values())], fmt="-o", ms=4, capsize=2,
                    color=REL_COLORS[label], label=label)
        ys = [e.mean for e in est.values()]
        lo, hi = min(lo, min(ys) - 0.02), max(hi, max(ys) + 0.02)
    if not rel:
        empty(ax, "nothing with a matching base yet")
    ax.set_ylim(lo, hi)
    finish(ax, "(c) relative to the matching base", "top-1 relative to base (95 % CI)")
    _xaxis(ax, D.axis(rows))


def natural_manmade_figure(rows):
    """Figure 3 (a): absolute top-1 per target on the natural/man-made split."""
    fig = new_figure(SIZES["natural_manmade"])
    ax = fig.subplots()
    curves = F.natmm_curves(rows)
    nm = F.select(rows, split="natural_manmade")
    for (target, label), dx in zip(F.NATMM_TARGETS.items(), (-0.1, 0.1)):
        if label not in curves:
            continue
        base, curve = curves[label]
        color = COLORS[label]
        base_rows = F.select(nm, "base", target=target)
        nets = F.select(F.select(nm, target=target), "AnB")
        row_dots(ax, base_rows + nets, dx, color, label)
        if base:
            ax.axhline(base.mean, ls="--", color=color, lw=0.8)
        _mean_line(ax, curve, base, "-", color=color, lw=1.2)
    if not curves:
        empty(ax, "no natural_manmade split in the results")
    finish(ax, "(a) natural/man-made split, frozen transfer (A = natural)",
           f"top-1 ({F.METRIC})")
    _xaxis(ax, D.axis(rows))
    fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.13)
    legend.outside(fig, [ax])
    return fig


def random_filters_figure(rows):
    """Figure 3 (b) random frozen filters vs the all-class base, above (c) every experiment
    relative to its own base (drawn here only, not beside (a) as well)."""
    fig = new_figure(SIZES["random_filters"])
    top, bottom = fig.subplots(2, 1)
    base_rows, rnd = F.select(rows, "baseAll"), F.select(rows, "random")
    base = D.block_estimate(base_rows)
    if base:
        row_dots(top, base_rows, 0, COLORS["baseAll"], "baseAll (all classes)", size=40)
        top.axhline(base.mean, ls="--", color="black", lw=0.8)
    if rnd:
        row_dots(top, rnd, 0, COLORS["random"], "random frozen filters")
        _mean_line(top, F.per_n(rows, "random"), base, "-", color=COLORS["random"], lw=1.2)
    if not (base or rnd):
        empty(top, "random filters were not run")
    finish(top, "(b) random frozen filters vs the all-class base", f"top-1 ({F.METRIC})")
    _xaxis(top, D.axis(rows))
    relative_panel(bottom, rows)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.08, hspace=0.42)
    legend.outside(fig, [top, bottom])
    return fig


# One per decomposition.QUANTITIES, in order (the budget-matched control green, the second
# budget purple, the random-filter drop grey).
DECOMPOSITION_COLORS = ("#1f4e9c", "#b0232a", "#f08c8c", "#d9822b", "#7fb2e5", "#2ca02c",
                        "#9467bd", "#555555")


def decomposition_figure(rows):
    """The paper's decomposition per n: one line per paired quantity with 95 % error bars."""
    pool, label = F.transfer_pool(rows)
    dec = D.decomposition(pool, rows)
    fig = new_figure(SIZES["decomposition"])
    ax = fig.subplots()
    ax.axhline(0, color="black", lw=1)
    spread = 0.3 / max(1, len(D.QUANTITIES) - 1)  # side by side so the bars do not overlap
    for i, ((name, _, _), color) in enumerate(zip(D.QUANTITIES, DECOMPOSITION_COLORS, strict=True)):
        if name not in dec:
            continue
        est = {n: p.estimate for n, p in dec[name].items()}
        ax.errorbar([n - 0.15 + i * spread for n in est], [e.mean for e in est.values()],
                    error_bars(est.values()), fmt="-o", ms=4, capsize=2, color=color, label=name)
    if not dec:
        empty(ax, "no base with dependants in the same replicate yet")
    ax.set_xticks(D.axis(rows))
    ax.set_xlim(0.4, D.top_n(rows) + 0.6)
    ax.set_xlabel("layer n at which the network is chopped and retrained", fontsize=LABEL)
    finish(ax, f"Decomposition, paired within replicates ({label})",
           "difference in top-1 (95 % CI)")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
    legend.outside(fig, [ax])
    return fig


STRATEGY_COLORS = {"frozen": "#b0232a", "fine_tune": "#f08c8c", "truncate": "#1f4e9c",
                   "surgical": "#2e8b57", "lp_ft": "#d9822b", "llrd": "#7b3fa0"}


def strategies_figure(rows):
    """Top-1 vs n per adaptation strategy (transfer nets, 95 % error bars), the base as a line."""
    pool, label = F.transfer_pool(rows)
    fig = new_figure(SIZES["strategies"])
    ax = fig.subplots()
    base = F.base_stat(pool)
    if base:
        ax.axhline(base.mean, ls="--", color="black", lw=0.8, label="base (from scratch)")
    found = S.curves(pool)
    for i, (strategy, curve) in enumerate(found.items()):
        dx = (i - (len(found) - 1) / 2) * 0.1  # side by side so the bars do not overlap
        ax.errorbar([n + dx for n in curve], [e.mean for e in curve.values()],
                    error_bars(curve.values()), fmt="-o", ms=4, capsize=2,
                    color=STRATEGY_COLORS[strategy], label=S.LABELS[strategy])
    ax.set_xticks(D.axis(rows))
    ax.set_xlim(0.4, D.top_n(rows) + 0.6)
    ax.set_xlabel("n: blocks copied (surgical: the one block trained)", fontsize=LABEL)
    bars = interval_label([e for curve in found.values() for e in curve.values()])
    finish(ax, f"Adaptation strategies, transfer nets ({label})", f"top-1 ({F.METRIC}), {bars}")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
    legend.outside(fig, [ax])
    return fig


FIGURES = {"transfer": transfer_figure, "natural_manmade": natural_manmade_figure,
           "random_filters": random_filters_figure, "decomposition": decomposition_figure}


def draw_all(rows):
    """{name: Figure} of the paper's three figures and the decomposition, legends placed, and
    the strategies figure when an adaptation kind was run."""
    drawn = {name: draw(rows) for name, draw in FIGURES.items()}
    if S.present(rows):
        drawn["strategies"] = strategies_figure(rows)
    return drawn


def write_all(rows, out_dir):
    """Draws the paper's three figures and the decomposition into out_dir (PNG and SVG);
    returns {name: png path}. The dataset-size figures are `datasize_figures.write_all`."""
    os.makedirs(out_dir, exist_ok=True)
    return {name: save(fig, out_dir, name) for name, fig in draw_all(rows).items()}
