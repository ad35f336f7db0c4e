"""Legends that cover nothing by construction: `outside` puts each legend in a strip right of
the axes, which the axes give up (the figure keeps its size), so no data can be under it; and
`overlaps` measures a finished figure (the tests use it on every figure).

Measured in display pixels after a draw: the legend's window extent against every scatter point
(with its marker's radius), line vertex and segment (axhline, error-bar caps and bars
included, each clipped to its axes), every text (annotations, titles, axis and tick labels),
every other legend, every other axes (drawn later, it would hide an axes' legend) and the
figure's edge. Grid lines do not count.
"""

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.transforms import Bbox

FONT = 9          # legend text size in points
PAD_PX = 2.0      # something this close to a legend's frame counts as under it
GAP_PX = 10.0     # between an axes and its legend, and between the legend and the figure's edge
MAX_SIDE = 0.3    # the most of a figure's width a legend strip beside the axes may take
NO_LINE = ("None", "none", "", " ")


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


def outside(fig, axes, shared=False):
    """Legends outside `axes`, in room the figure's axes give up (the figure keeps its size);
    returns them.

    Each axes gets a legend of its own entries, or with shared=True one legend of every entry
    once. A legend goes in a strip right of its axes (a shared one beside the top axes of the
    rightmost column) when that strip takes at most MAX_SIDE of the figure's width: every
    axes is narrowed in proportion (a grid keeps its arrangement). A wider one (long labels)
    goes in a row below the axes, in as many columns as fit, and every axes is lowered less.
    Call it last, once the layout is final; a legend taller than its axes would run off the
    figure, which `overlaps` reports.
    """
    if shared:
        entries = {}
        for ax in axes:
            for handle, label in zip(*handles_labels(ax)):
                entries.setdefault(label, handle)
        boxes = {ax: ax.get_position() for ax in axes}
        owner = max(axes, key=lambda ax: (round(boxes[ax].x1, 3), boxes[ax].y1))
        owners = [(owner, list(entries.values()), list(entries))]
    else:
        owners = [(ax, *handles_labels(ax)) for ax in axes]
    owners = [(ax, handles, labels) for ax, handles, labels in owners if handles]
    if not owners:
        return []
    kw = {"fontsize": FONT, "framealpha": 0.9, "borderaxespad": 0.0}
    legends = [ax.legend(h, labels, loc="upper left", **kw) for ax, h, labels in owners]
    rend = renderer(fig)
    width = max(leg.get_window_extent(rend).width for leg in legends)
    if width + 2 * GAP_PX <= MAX_SIDE * fig.bbox.width or len(owners) > 1:
        _make_room(fig, x_limit=1.0 - (width + 2 * GAP_PX) / fig.bbox.width)
        renderer(fig)
        for leg, (ax, _, _) in zip(legends, owners):
            leg.set_bbox_to_anchor((1.0 + GAP_PX / ax.bbox.width, 1.0), ax.transAxes)
        return legends
    (ax, handles, labels), = owners
    for ncol in range(len(handles), 0, -1):  # the fewest rows that fit the figure's width
        leg = ax.legend(handles, labels, loc="lower center", ncol=ncol, **kw)
        box = leg.get_window_extent(renderer(fig))
        if box.width + 2 * GAP_PX <= fig.bbox.width or ncol == 1:
            break
    _make_room(fig, y_limit=(box.height + 2 * GAP_PX) / fig.bbox.height)
    leg.set_bbox_to_anchor((0.5, GAP_PX / fig.bbox.height), fig.transFigure)
    return [leg]


def _make_room(fig, x_limit=None, y_limit=None):
    """Narrows every axes in proportion so the rightmost ends at x_limit, or raises and
    shortens them so the lowest one's x labels clear y_limit (figure fractions)."""
    boxes = [ax.get_position() for ax in fig.axes]
    if x_limit is not None:
        left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
        scale = min(1.0, (x_limit - left) / (right - left))
        for ax, box in zip(fig.axes, boxes):
            ax.set_position([left + (box.x0 - left) * scale, box.y0, box.width * scale,
                             box.height])
        return
    rend = renderer(fig)
    below = max(0.0, max(box.y0 - ax.get_tightbbox(rend).y0 / fig.bbox.height
                         for ax, box in zip(fig.axes, boxes)))  # tick and axis labels
    bottom, top = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
    scale = min(1.0, (top - y_limit - below) / (top - bottom))
    for ax, box in zip(fig.axes, boxes):
        ax.set_position([box.x0, top - (top - box.y0) * scale, box.width, box.height * scale])


def check(fig):
    """Raises AssertionError naming each overlap `overlaps` finds (for tests and scripts)."""
    found = overlaps(fig)
    assert not found, "; ".join(f"legend of {t!r} covers {a!r}" for t, _, a in found)

