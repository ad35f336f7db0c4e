"""The report's figures on hand-built rows: every file written, no legend over data (measured,
and shown to catch a legend that is), readable text, one panel per idea, each figure embedded
in report.md once."""

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure
from test_datasize_report import NATMM, RANDOM, plan_rows, reduced_rows
from test_report import T2, paper_like

from keras_transfer import report
from keras_transfer.reporting import datasize_figures, figures, legend

PAPER = ("transfer", "natural_manmade", "random_filters", "decomposition")
SIZED = ("datasize", "reduced")


def sized_rows():
    return (plan_rows(RANDOM, seeds=(0, 1), spread=0.01, replicates=None)
            + plan_rows(NATMM, "natural_manmade") + reduced_rows())


@pytest.fixture(scope="module")
def figs():
    """Every figure, live (legends placed, not yet closed)."""
    return {**figures.draw_all(paper_like()), **datasize_figures.draw_all(sized_rows())}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{rows maker: (out dir, {name: png})} of both writers for each set of rows."""
    out = {}
    for make in (paper_like, sized_rows):
        where = tmp_path_factory.mktemp(make.__name__)
        out[make] = where, {**figures.write_all(make(), str(where)),
                            **datasize_figures.write_all(make(), str(where))}
    return out


def test_every_figure_is_saved_as_png_and_svg_at_its_size(written):
    (paper_dir, paper_pngs), (sized_dir, sized_pngs) = written[paper_like], written[sized_rows]
    assert set(paper_pngs) == set(PAPER) and set(sized_pngs) == {*PAPER, *SIZED}
    sizes = {**figures.SIZES, **datasize_figures.SIZES}
    for name, png in {**paper_pngs, **{n: sized_pngs[n] for n in SIZED}}.items():
        where = paper_dir if name in PAPER else sized_dir
        assert png == str(where / f"{name}.png")
        w, h = sizes[name]
        assert matplotlib.image.imread(png).shape[:2] == (h * figures.DPI, w * figures.DPI)
        assert (where / f"{name}.svg").stat().st_size > 1000
    assert sizes["natural_manmade"] == (7, 4.5) and sizes["datasize"] == (9, 4.5)


def test_no_legend_covers_a_point_a_line_or_a_text(figs):
    for name, fig in figs.items():
        assert fig.get_size_inches()[0] <= 9, name  # nothing had to widen the figure
        assert legend.overlaps(fig) == [], name
    counts = {name: sum(ax.get_legend() is not None for ax in fig.axes)
              for name, fig in figs.items()}  # so the check above measured real legends
    assert counts == {"transfer": 2, "natural_manmade": 1, "random_filters": 2,
                      "decomposition": 1, "datasize": 1, "reduced": 1}


def crowded(kind):
    """An axes whose centre holds one artist of `kind`, and a legend put on it on purpose."""
    fig = figures.new_figure((6, 4))
    ax = fig.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    if kind == "scatter":
        ax.scatter([5], [5], s=30, label="a point")
    elif kind == "line":
        ax.plot([0, 10], [4.9, 5.1], label="a line")  # no vertex under the legend
    elif kind == "errorbar":
        ax.errorbar([5.3], [9], yerr=[8], fmt="none", label="an error bar")  # the bar only
    else:
        ax.text(5, 5, "a note", ha="center")
        ax.plot([], [], label="nothing")
    ax.legend(loc="center", fontsize=legend.FONT)
    return fig, ax


@pytest.mark.parametrize("kind", ["scatter", "line", "errorbar", "text"])
def test_the_check_catches_a_legend_on_data_and_outside_moves_it(kind):
    fig, ax = crowded(kind)
    found = legend.overlaps(fig)
    assert len(found) == 1
    title, leg, artist = found[0]
    assert title == "" and leg is ax.get_legend()  # the axes has no title
    assert type(artist).__name__ == {"scatter": "PathCollection", "line": "Line2D",
                                     "errorbar": "LineCollection", "text": "Text"}[kind]
    legend.outside(fig, [ax])
    assert legend.overlaps(fig) == []


def test_a_legend_hidden_by_another_axes_or_off_the_figure_is_caught():
    fig = figures.new_figure((8, 3))
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], label="a line")
    left.legend(loc="upper left", bbox_to_anchor=(1.05, 1.0))  # under the right axes
    assert right in [a for _, _, a in legend.overlaps(fig)]
    left.legend(loc="upper left", bbox_to_anchor=(-0.9, 1.0))  # runs off the figure's left
    assert fig in [a for _, _, a in legend.overlaps(fig)]


def everywhere(log=False, title="a title"):
    """A figure whose one axes is covered by points from edge to edge."""
    fig = figures.new_figure((6, 4))
    ax = fig.subplots()
    ys = np.geomspace(1, 100, 25) if log else np.linspace(0, 10, 25)
    xs, ys = np.meshgrid(np.linspace(0, 10, 25), ys)
    ax.scatter(xs.ravel(), ys.ravel(), s=20, label="everywhere")
    ax.set_yscale("log" if log else "linear")
    ax.set_title(title)
    return fig, ax


def test_outside_gives_each_legend_a_strip_the_axes_make_room_for():
    """Data from edge to edge: the legend goes right of the axes, which narrow (the figure
    keeps its size) until the legend ends inside the figure; a grid keeps its arrangement."""
    fig, ax = everywhere()
    fig.subplots_adjust(left=0.1, right=0.97)
    before = ax.get_position()
    (leg,) = legend.outside(fig, [ax])
    rend = legend.renderer(fig)
    box, frame = leg.get_window_extent(rend), ax.get_window_extent(rend)
    assert box.x0 > frame.x1 and box.x1 < fig.bbox.x1 and box.y1 <= frame.y1 + 1
    assert tuple(fig.get_size_inches()) == (6, 4) and legend.overlaps(fig) == []
    after = ax.get_position()
    assert after.x0 == pytest.approx(before.x0) and after.x1 < before.x1
    # Two panels side by side, one shared legend: beside the right one, the left one's
    # entries too, once each; both narrowed by the same factor.
    fig = figures.new_figure((8, 3))
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], label="rising")
    right.plot([0, 1], [1, 0], label="falling")
    right.plot([0, 1], [0.5, 0.5], label="rising")
    widths = [a.get_position().width for a in (left, right)]
    (leg,) = legend.outside(fig, [left, right], shared=True)
    assert leg.axes is right and [t.get_text() for t in leg.texts] == ["rising", "falling"]
    assert left.get_legend() is None and legend.overlaps(fig) == []
    shrunk = [a.get_position().width / w for a, w in zip((left, right), widths)]
    assert shrunk[0] == pytest.approx(shrunk[1]) and shrunk[0] < 1
    assert legend.outside(fig, [figures.new_figure((2, 2)).subplots()]) == []  # no entries
    # Long labels: a strip beside would take over MAX_SIDE of the width, so the legend goes
    # in a row below, in columns, under the x label; the axes are shortened, not narrowed.
    fig, ax = everywhere()
    ax.set_xlabel("an x label")
    for k in range(4):
        ax.plot([0, 10], [k, k], label=f"a longer label, quantity {k}")
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.12)
    before = ax.get_position()
    (leg,) = legend.outside(fig, [ax])
    rend = legend.renderer(fig)
    box = leg.get_window_extent(rend)
    assert leg._ncols > 1 and box.y1 < ax.xaxis.label.get_window_extent(rend).y0
    after = ax.get_position()
    assert after.width == pytest.approx(before.width) and after.height < before.height
    assert legend.overlaps(fig) == []


def test_text_is_readable_at_the_readme_size(figs):
    for name, fig in figs.items():
        legend.renderer(fig)
        for ax in fig.axes:
            if ax.get_title():
                assert ax.title.get_fontsize() >= 10, (name, ax.get_title())
            ticks = [t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
            assert ticks and min(t.get_fontsize() for t in ticks) >= 9, name
        leg_texts = [t for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
        assert leg_texts and min(t.get_fontsize() for t in leg_texts) >= 9, name
        every = [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")) if t.get_text()]
        assert min(t.get_fontsize() for t in every) >= 9, name


def test_one_panel_per_idea_lettered_as_the_paper(figs):
    titles = {name: [ax.get_title() for ax in fig.axes] for name, fig in figs.items()}
    assert [t for ts in titles.values() for t in ts if t.startswith("(")] == [
        "(a) natural/man-made split, frozen transfer (A = natural)",
        "(b) random frozen filters vs the all-class base",
        "(c) relative to the matching base"]
    assert len(titles["natural_manmade"]) == 1  # (a) alone, (c) is not repeated under it
    assert [t[:3] for t in titles["random_filters"]] == ["(b)", "(c)"]


def bars(ax):
    """The error bars of an axes as (x, low, high) in data coordinates."""
    return sorted((s[0][0], s[0][1], s[1][1]) for c in ax.containers for s in
                  c.lines[2][0].get_segments())


def test_lower_panels_draw_95_percent_intervals(figs):
    # BnB at n=4: 0.58 +- t(2) * sd(0.572, 0.578, 0.590) / sqrt 3, drawn at 4 + offset / 3.
    half = T2 * 0.0091652 / 3 ** 0.5
    lower = figs["transfer"].axes[1]
    x = 4 + figures.OFFSETS["BnB"] / 3
    got = [b for b in bars(lower) if b[0] == pytest.approx(x)]
    assert got == [(pytest.approx(x), pytest.approx(0.58 - half, abs=1e-6),
                    pytest.approx(0.58 + half, abs=1e-6))]
    # (c): random filters minus baseAll at n=3, paired per replicate: -0.4 + (0.002, -0.002, 0).
    half = T2 * 0.002 / 3 ** 0.5
    rel = figs["random_filters"].axes[1]
    assert (3, pytest.approx(-0.4 - half), pytest.approx(-0.4 + half)) in bars(rel)


@pytest.mark.parametrize("make", [paper_like, sized_rows])
def test_report_embeds_each_figure_once(written, make):
    pngs = written[make][1]
    md = report.render_markdown(make(), ["results.jsonl"], [])
    embedded = [line.split("](")[1].rstrip(")") for line in md.splitlines()
                if line.startswith("![")]
    assert sorted(embedded) == sorted(f"{name}.png" for name in pngs)
    assert "![Figure 3 a](natural_manmade.png)" in md
    assert "![Figure 3 b, c](random_filters.png)" in md


def test_a_figure_without_data_still_has_clear_legends():
    fig = figures.random_filters_figure([])
    assert [ax.get_title()[:3] for ax in fig.axes] == ["(b)", "(c)"]
    assert legend.overlaps(fig) == []
    assert isinstance(fig, Figure)
