"""Legends that cover nothing: `place` puts an axes' legend in the first spot where nothing is
under it, and `overlaps` measures a finished figure (the tests use it on every figure).

Measured in display pixels after a draw: the legend's window extent against every scatter point
(with its marker's radius), line vertex and segment (axhline, error-bar caps and bars
included, each clipped to its axes), every text (annotations, titles, axis and tick labels),
every other legend, every other axes (drawn later, it would hide an axes' legend) and the
figure's edge. Grid lines do not count. loc="best" is not used: it
minimises the overlap rather than excluding it, and it ignores collections such as error bars.
"""

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.transforms import Bbox

FONT = 9          # legend text size in points
PAD_PX = 2.0      # something this close to a legend's frame counts as under it
INSIDE = ("upper left", "upper right", "lower left", "lower right", "upper center",
          "lower center", "center left", "center right", "center")
GAP = 0.02        # axes fraction between an axes and a legend outside it
NO_LINE = ("None", "none", "", " ")
MAX_ROOM = 0.3    # the most of an axes' height given up to make room for its legend
SLACK_PX = 16.0   # room beyond the legend's height: its distance from the frame, marker radii


def renderer(fig):
    """Lays fig out (every position final, nothing rasterised) and returns its renderer."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def handles_labels(ax):
    """ax's legend entries, each label once (the first artist drawn with it)."""
    seen = {}
    for handle, label in zip(*ax.get_legend_handles_labels()):
        seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def _px(fig, points):
    return points * fig.dpi / 72.0


def _shapes(artist, fig):
    """(points (N, 2), radii (N,), segments (M, 2, 2)) of a data artist, in display pixels."""
    none = (np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2, 2)))
    if not artist.get_visible():
        return none
    if hasattr(artist, "get_xydata"):  # Line2D: markers at the vertices, segments between
        xy = artist.get_transform().transform(artist.get_path().vertices)
        points, radii, segments = none
        if artist.get_marker() not in NO_LINE and artist.get_marker() is not None:
            r = _px(fig, artist.get_markersize() / 2 + artist.get_markeredgewidth() / 2)
            points, radii = xy, np.full(len(xy), r)
        if artist.get_linestyle() not in NO_LINE and len(xy) > 1:
            segments = np.stack([xy[:-1], xy[1:]], axis=1)
        return points, radii, segments
    if isinstance(artist, LineCollection):  # error bars, vlines
        segs = [artist.get_transform().transform(np.asarray(s)) for s in artist.get_segments()]
        pairs = [np.stack([s[:-1], s[1:]], axis=1) for s in segs if len(s) > 1]
        return none[0], none[1], np.concatenate(pairs) if pairs else none[2]
    if hasattr(artist, "get_offsets"):  # scatter
        xy = artist.get_offset_transform().transform(np.asarray(artist.get_offsets()))
        sizes = np.broadcast_to(np.asarray(artist.get_sizes(), float) if len(artist.get_sizes())
                                else np.array([36.0]), (len(xy),))
        radii = _px(fig, np.sqrt(sizes) / 2 + np.max(artist.get_linewidths(), initial=0) / 2)
        return xy, radii, none[2]
    return none


def _box_hits_points(box, points, radii):
    ok = np.all(np.isfinite(points), axis=1)
    p, r = points[ok], radii[ok]
    return bool(np.any((p[:, 0] > box.x0 - r) & (p[:, 0] < box.x1 + r)
                       & (p[:, 1] > box.y0 - r) & (p[:, 1] < box.y1 + r)))


def _box_hits_segments(box, segments):
    """Whether any segment crosses the box (Liang-Barsky clipping, vectorised)."""
    s = segments[np.all(np.isfinite(segments), axis=(1, 2))]
    if not len(s):
        return False
    p0, d = s[:, 0], s[:, 1] - s[:, 0]
    lo, hi = np.zeros(len(s)), np.ones(len(s))
    inside = np.ones(len(s), bool)
    for p, q in ((-d[:, 0], p0[:, 0] - box.x0), (d[:, 0], box.x1 - p0[:, 0]),
                 (-d[:, 1], p0[:, 1] - box.y0), (d[:, 1], box.y1 - p0[:, 1])):
        parallel = p == 0
        inside &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        lo = np.where(~parallel & (p < 0), np.maximum(lo, t), lo)
        hi = np.where(~parallel & (p > 0), np.minimum(hi, t), hi)
    return bool(np.any(inside & (lo <= hi)))


def _boxes_meet(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _texts(ax):
    """An axes' visible texts outside the data: title, axis labels, tick labels."""
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(),
             *ax.get_yticklabels()]
    return [t for t in texts if t.get_visible() and t.get_text()]


def _obstacles(fig, rend, exclude, owner=None):
    """[(artist, kind, geometry)]: data shapes clipped to their axes, boxes of texts and
    legends, and every axes but `owner` (an axes drawn later would hide its legend)."""
    out = []
    for ax in fig.axes:
        if owner is not None and ax is not owner:
            out.append((ax, "box", ax.bbox))
        clip = ax.bbox
        for artist in [*ax.lines, *ax.collections]:
            if artist is not exclude:
                out.append((artist, "shape", (clip, _shapes(artist, fig))))
        for patch in ax.patches:
            out.append((patch, "box", patch.get_window_extent(rend)))
        for text in [*ax.texts, *_texts(ax)]:
            if text.get_visible() and text.get_text():
                out.append((text, "box", text.get_window_extent(rend)))
        if ax.get_legend() is not None and ax.get_legend() is not exclude:
            out.append((ax.get_legend(), "box", ax.get_legend().get_window_extent(rend)))
    for artist in [*fig.legends, *fig.texts]:
        if artist is not exclude and artist.get_visible():
            out.append((artist, "box", artist.get_window_extent(rend)))
    return out


def _covered(box, fig, obstacles):
    """The obstacles a legend box covers (the figure itself when the box runs off it)."""
    hit = [] if (box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.x1 and
                 box.y1 <= fig.bbox.y1) else [fig]
    grown = box.padded(PAD_PX)
    for artist, kind, geom in obstacles:
        if kind == "box":
            if _boxes_meet(grown, geom):
                hit.append(artist)
            continue
        clip, (points, radii, segments) = geom
        seen = Bbox.intersection(grown, clip)
        if seen is None or seen.width <= 0 or seen.height <= 0:
            continue
        if ((len(points) and _box_hits_points(seen, points, radii))
                or (len(segments) and _box_hits_segments(seen, segments))):
            hit.append(artist)
    return hit


def _legends(fig):
    return [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + fig.legends


def overlaps(fig):
    """Every (axes title, legend, artist) where a legend of fig covers a plotted point, line,
    error bar, text or another legend, or runs off the figure (artist = the figure); empty
    when every legend is clear."""
    rend = renderer(fig)
    out = []
    for leg in _legends(fig):
        owner = leg.parent if isinstance(leg.parent, Axes) else None
        box = leg.get_window_extent(rend)
        out += [(owner.get_title() if owner else "", leg, artist)
                for artist in _covered(box, fig, _obstacles(fig, rend, leg, owner))]
    return out


def _widen(fig, ax, width_px):
    """Adds width_px to the figure's right, every axes keeping its size and place in pixels;
    returns the new strip's left edge in ax's axes coordinates."""
    old_w, h = fig.get_size_inches()
    new_w = old_w + width_px / fig.dpi
    for other in fig.axes:
        pos = other.get_position()
        other.set_position([pos.x0 * old_w / new_w, pos.y0, pos.width * old_w / new_w,
                            pos.height])
    fig.set_size_inches(new_w, h)
    rend = renderer(fig)
    strip = old_w * fig.dpi
    return (strip - ax.get_window_extent(rend).x0) / ax.get_window_extent(rend).width


def _spot(ax, handles, labels, ncols, kw):
    """The first clear spot inside ax (each ncol in ncols), else right of or above it in the
    room the figure already has; None (and no legend) when there is none."""
    fig = ax.figure
    rend = renderer(fig)
    obstacles = _obstacles(fig, rend, None, ax)
    frame = ax.get_window_extent(rend)

    def clear(leg, where, bbox=None, inside=False):
        leg.set_loc(where)
        leg.set_bbox_to_anchor(bbox, ax.transAxes if bbox else None)
        box = leg.get_window_extent(rend)
        fits = not inside or (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                              and box.y1 <= frame.y1)
        return fits and not _covered(box, fig, obstacles)

    for ncol in ncols:
        leg = ax.legend(handles, labels, ncol=ncol, **kw)
        for where in INSIDE:
            if clear(leg, where, inside=True):
                return where
    for ncol in sorted(ncols):
        leg = ax.legend(handles, labels, ncol=ncol, **kw)
        if clear(leg, "upper left", (1 + GAP, 1.0)):
            return "right of the axes"
    for ncol in sorted({len(handles), *ncols}, reverse=True):
        leg = ax.legend(handles, labels, ncol=ncol, **kw)
        if clear(leg, "lower center", (0.5, 1 + GAP)):
            return "above the axes"
    ax.get_legend().remove()
    return None


def _headroom(ax, handles, labels, ncols, kw):
    """Makes room inside ax by growing its y range above or below the data (by at most
    MAX_ROOM of its height) and puts the legend there; None (limits restored) if that fails."""
    if ax.get_yscale() != "linear":
        return None
    fig = ax.figure
    rend = renderer(fig)
    frame = ax.get_window_extent(rend)
    lo, hi = ax.get_ylim()
    for ncol in sorted(ncols, reverse=True):  # the widest legend is the lowest
        leg = ax.legend(handles, labels, ncol=ncol, **kw)
        share = (leg.get_window_extent(rend).height + SLACK_PX) / frame.height
        if share > MAX_ROOM:
            continue
        span = (hi - lo) / (1 - share)
        for limits, side in (((lo, lo + span), "upper"), ((hi - span, hi), "lower")):
            ax.set_ylim(*limits)
            for where in (f"{side} left", f"{side} right", f"{side} center"):
                leg.set_loc(where)
                box = leg.get_window_extent(renderer(fig))
                if frame.y0 <= box.y0 and box.y1 <= frame.y1 and not overlaps(fig):
                    return f"{where}, y range grown"
        ax.set_ylim(lo, hi)
    ax.get_legend().remove()
    return None


def place(ax, handles=None, labels=None, ncols=(1,), make_room=True, **kw):
    """Gives ax a legend where it covers nothing (`overlaps`) and returns where: the first clear
    spot inside the axes (for each ncol in ncols), else right of or above it; else, unless
    make_room is False (then None, no legend), room made inside by growing the y range, or
    last a strip added to the figure's right (the figure grows, every axes keeps its pixels).
    Call it last, once the axes' limits and the figure's layout are final."""
    if handles is None:
        handles, labels = handles_labels(ax)
    if not handles:
        return None
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    kw = {"fontsize": FONT, "framealpha": 0.9, **kw}
    where = _spot(ax, handles, labels, ncols, kw)
    if where or not make_room:
        return where
    where = _headroom(ax, handles, labels, ncols, kw)
    if where:
        return where
    fig = ax.figure
    leg = ax.legend(handles, labels, ncol=min(ncols), **kw)
    rend = renderer(fig)
    frame = ax.get_window_extent(rend)
    x = _widen(fig, ax, leg.get_window_extent(rend).width + 2 * GAP * frame.width)
    leg.set_loc("upper left")
    leg.set_bbox_to_anchor((x + GAP, 1.0), ax.transAxes)
    return f"right, figure widened to {fig.get_size_inches()[0]:.1f} in"


def place_shared(axes, ncols=(1,), **kw):
    """One legend for axes that show the same entries: on the first with a clear spot in or
    beside it, else as `place` makes room on the last."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*handles_labels(ax)):
            seen.setdefault(label, handle)
    if not seen:
        return None
    handles, labels = list(seen.values()), list(seen)
    for ax in axes[:-1]:
        where = place(ax, handles, labels, ncols, make_room=False, **kw)
        if where:
            return where
    return place(axes[-1], handles, labels, ncols, **kw)


def check(fig):
    """Raises AssertionError naming each overlap `overlaps` finds (for tests and scripts)."""
    found = overlaps(fig)
    assert not found, "; ".join(f"legend of {t!r} covers {a!r}" for t, _, a in found)

