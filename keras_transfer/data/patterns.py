"""The 40 pattern generators of the synthetic dataset: NATURAL (noise-driven, organic) and
MANMADE (regular geometry), 20 each.

A generator maps (rng, u, v), coordinate fields [n, H, W] already rotated, scaled and shifted
per image, to a field in [0, 1] that synthetic.py colours and renders. Each generator is one class
and its place in the tuples is its class id; editing one changes the dataset's bytes, so bump
synthetic.VERSION with it (old caches are found by that version).
"""

import numpy as np

from keras_transfer.data.pattern_primitives import (LATTICE, fbm, frac, inside, polar, polygon,
                                                    random_points, square_wave, uniform,
                                                    value_noise, voronoi)


# ---------------------------------------------------------------- natural: noise-driven, organic
def clouds(rng, u, v):
    """Soft fractal noise, contrast-stretched."""
    return np.clip((fbm(rng, u, v, 2.0, 4) - 0.5) * uniform(rng, len(u), 2, 4) + 0.5, 0, 1)


def cells(rng, u, v):
    """Voronoi cells: dark membranes and a bright nucleus per cell."""
    f1, f2 = voronoi(u, v, random_points(rng, len(u), 12))
    return np.maximum(inside(f2 - f1 - 0.06), inside(f1 - uniform(rng, len(u), 0.06, 0.14)))


def cracks(rng, u, v):
    """Dried-mud cracks: thin, noise-warped Voronoi edges."""
    w = 0.3 * (fbm(rng, u, v, 3.0) - 0.5)
    f1, f2 = voronoi(u + w, v - w, random_points(rng, len(u), 9))
    return inside(f2 - f1 - 0.04)


def blobs(rng, u, v):
    """A few merged gaussian blobs (metaballs) with noisy edges."""
    pts, field = random_points(rng, len(u), 5, 0.6), 0.3 * fbm(rng, u, v, 3.0)
    for p in range(pts.shape[1]):
        field = field + np.exp(-((u - pts[:, p, 0, None, None]) ** 2 +
                                 (v - pts[:, p, 1, None, None]) ** 2) / 0.08)
    return inside(0.7 - field, 0.2)


def leaf(rng, u, v):
    """A leaf: pointed oval with a midrib and side veins."""
    half = 0.5 * np.clip(1 - u * u, 0, 1) ** 0.7 * (1 + 0.2 * fbm(rng, u, v, 4.0))
    veins = (square_wave(12 * (u + 1.5 * np.abs(v)), rng, 1, 3) * 0.3
             + inside(np.abs(v) - 0.03) * 0.6)
    return inside(np.abs(v) - half) * (1 - veins)


def fur(rng, u, v):
    """Fine strokes along a locally curling direction."""
    w = 1.5 * fbm(rng, u, v, 1.5)
    return fbm(rng, u + 0.3 * w, (v + w) * 8, 1.5, 2)


def bark(rng, u, v):
    """Ridged, stretched noise: deep vertical furrows."""
    return 1 - np.abs(2 * fbm(rng, u * 1.5, v * 7, 1.0) - 1) ** 0.5


def waves(rng, u, v):
    """Sea waves: stripes bent by low-frequency noise."""
    return square_wave(uniform(rng, len(u), 6, 14) * v + 4 * fbm(rng, u, v, 1.5), rng, 1, 3)


def ripples(rng, u, v):
    """Damped, slightly irregular circular ripples from a point."""
    r = np.hypot(u, v) + 0.15 * fbm(rng, u, v, 2.0)
    return 0.5 + 0.5 * np.sin(uniform(rng, len(u), 14, 24) * r) * np.exp(-1.5 * r)


def spots(rng, u, v):
    """Leopard-like irregular spots of varying size."""
    f1, _ = voronoi(u, v, random_points(rng, len(u), 14))
    return inside(f1 - uniform(rng, len(u), 0.1, 0.2) * (0.5 + fbm(rng, u, v, 4.0)))


def marble(rng, u, v):
    """Veins of turbulence-distorted sine bands."""
    return np.abs(np.sin(uniform(rng, len(u), 3, 6) * u + 8 * fbm(rng, u, v, 1.5))) ** 0.3


def wood(rng, u, v):
    """Wood grain: noisy growth rings around a far-away centre."""
    r = np.hypot(u - 1.8, v * 0.3) + 0.1 * fbm(rng, u, v, 3.0)
    return square_wave(uniform(rng, len(u), 25, 45) * r, rng, 1, 3)


def dunes(rng, u, v):
    """Ridged multi-scale noise like dunes or ridges seen from above."""
    return (1 - np.abs(2 * fbm(rng, u, v * 2, 1.5) - 1)) ** 2


def grass(rng, u, v):
    """Thin upright blades of varying height over soil."""
    blade = value_noise(rng, u, v * 0.2, 14.0)
    top = 0.8 * fbm(rng, u, 0 * v, 3.0) - 0.6
    return inside(0.55 - blade, 0.2) * inside(top - v + blade * 0.4, 0.1)


def flower(rng, u, v):
    """A flower: k rounded petals around a contrasting centre."""
    r, th = polar(u, v)
    k = rng.integers(4, 9, (len(u), 1, 1))
    petal = uniform(rng, len(u), 0.5, 0.8) * (0.55 + 0.45 * np.abs(np.cos(k * th / 2)))
    return inside(r - petal) * (1 - 0.7 * inside(r - 0.15))


def pebbles(rng, u, v):
    """Rounded stones: shaded cells with gaps between them."""
    f1, f2 = voronoi(u, v, random_points(rng, len(u), 10))
    return inside(0.08 - (f2 - f1), 0.06) * np.clip(1.2 - 2.5 * f1, 0, 1)


def fern(rng, u, v):
    """A fern frond: a tapering stem with slanted leaflets."""
    half = 0.45 * np.clip(0.8 - 0.8 * u, 0, 1) * (u > -0.9)
    leaflets = square_wave(uniform(rng, len(u), 14, 22) * (u + 0.8 * np.abs(v)), rng, 2, 6)
    return inside(np.abs(v) - half) * np.maximum(leaflets, inside(np.abs(v) - 0.03))


def mountains(rng, u, v):
    """A jagged skyline: ridged noise height profile filled below."""
    h = 1 - np.abs(2 * fbm(rng, u, 0 * v, 1.5, 4) - 1)
    return inside(h - 0.3 - v, 0.05) * (0.6 + 0.4 * fbm(rng, u, v, 4.0))


def bubbles(rng, u, v):
    """Soap bubbles: circle outlines of random sizes, overlapping."""
    pts, out = random_points(rng, len(u), 7, 1.0), np.zeros_like(u)
    radius = rng.uniform(0.1, 0.4, (len(u), 7)).astype(np.float32)
    for p in range(pts.shape[1]):
        d = np.hypot(u - pts[:, p, 0, None, None], v - pts[:, p, 1, None, None])
        out = np.maximum(out, inside(np.abs(d - radius[:, p, None, None]) - 0.025))
    return out


def contours(rng, u, v):
    """Topographic contour lines of a noise height field (lichen, agate)."""
    return inside(np.abs(np.sin(uniform(rng, len(u), 10, 18) * fbm(rng, u, v, 1.5))) - 0.3, 0.3)


# ---------------------------------------------------------------- man-made: regular geometry
def stripes(rng, u, v):
    """Parallel straight stripes."""
    return square_wave(uniform(rng, len(u), 6, 18) * u, rng)


def grid(rng, u, v):
    """Thin lines of a square grid."""
    f, w = uniform(rng, len(u), 2, 5), uniform(rng, len(u), 0.08, 0.2)
    line = lambda t: inside(0.5 - np.abs(frac(t * f) - 0.5) - w / 2, 0.05)
    return np.maximum(line(u), line(v))


def checkers(rng, u, v):
    """A checkerboard."""
    f = uniform(rng, len(u), 4, 10)
    return 0.5 + 0.5 * np.tanh(uniform(rng, len(u), 3, 12) * np.sin(f * u) * np.sin(f * v))


def rings(rng, u, v):
    """Concentric rings, evenly spaced."""
    return square_wave(uniform(rng, len(u), 10, 24) * np.hypot(u, v), rng)


def triangles(rng, u, v):
    """A filled equilateral triangle."""
    r, th = polar(u, v)
    return inside(polygon(r, th, 3, uniform(rng, len(u), 0.45, 0.8)))


def squares(rng, u, v):
    """A filled square."""
    r, th = polar(u, v)
    return inside(polygon(r, th, 4, uniform(rng, len(u), 0.4, 0.75)))


def stars(rng, u, v):
    """A star with 5-8 sharp points."""
    r, th = polar(u, v)
    k = rng.integers(5, 9, (len(u), 1, 1))
    tri = np.abs(frac(th * k / (2 * np.pi)) - 0.5) * 2
    return inside(r - uniform(rng, len(u), 0.5, 0.8) * (0.45 + 0.55 * tri ** 2))


def bricks(rng, u, v):
    """A brick wall: offset rows, thin mortar."""
    rows = uniform(rng, len(u), 3, 6)
    row = np.floor(v * rows)
    along = frac(u * rows / 2 + 0.5 * np.mod(row, 2))
    return inside(0.08 - np.minimum(frac(v * rows), along * 2), 0.06)


def text(rng, u, v):
    """Lines of random 3x5 glyphs, like print."""
    n, scale = len(u), uniform(rng, len(u), 3, 6)
    glyphs = rng.random((n, LATTICE, LATTICE, 5, 3)) < 0.5
    cu, cv = u * scale + 8, v * scale * 0.6 + 8
    gx, gy = (frac(cu) * 4).astype(np.int64), (frac(cv) * 7).astype(np.int64)
    k = np.arange(n)[:, None, None]
    bit = glyphs[k, cv.astype(np.int64) % LATTICE, cu.astype(np.int64) % LATTICE,
                 np.minimum(gy, 4), np.minimum(gx, 2)]
    return (bit & (gx < 3) & (gy < 5)).astype(np.float32)


def arrows(rng, u, v):
    """An arrow: shaft and triangular head."""
    shaft = inside(np.maximum(np.abs(v) - 0.1, np.abs(u + 0.25) - 0.45))
    head = inside(np.maximum(np.abs(v) - (0.6 - u) * 0.9, 0.15 - u))
    return np.maximum(shaft, head * (u < 0.6))


def crosses(rng, u, v):
    """A plus sign with arms of random thickness."""
    w, arm = uniform(rng, len(u), 0.08, 0.2), uniform(rng, len(u), 0.45, 0.75)
    bar = lambda a, b: inside(np.maximum(np.abs(a) - w, np.abs(b) - arm))
    return np.maximum(bar(u, v), bar(v, u))


def zigzag(rng, u, v):
    """Chevron stripes: a triangle wave across parallel stripes."""
    tri = np.abs(frac(v * uniform(rng, len(u), 1, 3)) - 0.5) * 2
    return square_wave(uniform(rng, len(u), 6, 14) * (u + uniform(rng, len(u), 0.2, 0.5) * tri),
                       rng)


def dots(rng, u, v):
    """A regular array of disks."""
    f = uniform(rng, len(u), 2, 5)
    d = np.hypot(frac(u * f) - 0.5, frac(v * f) - 0.5)
    return inside(d - uniform(rng, len(u), 0.15, 0.35), 0.1)


def hextiles(rng, u, v):
    """The outlines of a hexagonal tiling."""
    f, s = uniform(rng, len(u), 2, 4), np.sqrt(3.0)
    x, y = u * f, v * f
    ax, ay = np.mod(x, 1) - 0.5, np.mod(y, s) - s / 2
    bx, by = np.mod(x - 0.5, 1) - 0.5, np.mod(y - s / 2, s) - s / 2
    near_a = ax * ax + ay * ay < bx * bx + by * by
    gx, gy = np.abs(np.where(near_a, ax, bx)), np.abs(np.where(near_a, ay, by))
    return inside(0.5 - 0.06 - np.maximum(gx, 0.5 * gx + s / 2 * gy), 0.06)


def barcode(rng, u, v):
    """Bars of random widths within a band."""
    bits = rng.random((len(u), 64)) < 0.5
    idx = np.floor(u * uniform(rng, len(u), 12, 24) + 32).astype(np.int64) % 64
    bar = np.take_along_axis(bits, idx.reshape(len(u), -1), 1).reshape(u.shape)
    return bar * inside(np.abs(v) - uniform(rng, len(u), 0.4, 0.7))


def windows(rng, u, v):
    """A building facade: a block with a grid of windows."""
    cols, rows = uniform(rng, len(u), 2, 5), uniform(rng, len(u), 2, 5)
    block = inside(np.maximum(np.abs(u) - 0.7, np.abs(v) - 0.8))
    pane = (np.abs(frac(u * cols) - 0.5) < 0.25) & (np.abs(frac(v * rows) - 0.5) < 0.25)
    return block * (1 - 0.8 * pane)


def dashes(rng, u, v):
    """Parallel dashed lines, like road markings."""
    f = uniform(rng, len(u), 2, 5)
    line = np.abs(frac(v * f) - 0.5) < uniform(rng, len(u), 0.1, 0.2)
    dash = frac(u * f * 0.7 + np.floor(v * f) * 0.37) < 0.55
    return (line & dash).astype(np.float32)


def spiral(rng, u, v):
    """An Archimedean spiral with 1-3 arms."""
    r, th = polar(u, v)
    arms = rng.integers(1, 4, (len(u), 1, 1))
    return square_wave(arms * th + uniform(rng, len(u), 12, 24) * r, rng)


def gears(rng, u, v):
    """A toothed gear wheel with a hole."""
    r, th = polar(u, v)
    teeth = (np.cos(rng.integers(6, 16, (len(u), 1, 1)) * th) > 0) * 0.12
    return inside(r - 0.55 - teeth) * (1 - inside(r - uniform(rng, len(u), 0.1, 0.25)))


def plaid(rng, u, v):
    """Tartan: two crossing stripe sets of different frequencies."""
    return 0.5 * (square_wave(uniform(rng, len(u), 4, 12) * u, rng) +
                  square_wave(uniform(rng, len(u), 4, 12) * v, rng))


NATURAL = (clouds, cells, cracks, blobs, leaf, fur, bark, waves, ripples, spots,
           marble, wood, dunes, grass, flower, pebbles, fern, mountains, bubbles, contours)
MANMADE = (stripes, grid, checkers, rings, triangles, squares, stars, bricks, text, arrows,
           crosses, zigzag, dots, hextiles, barcode, windows, dashes, spiral, gears, plaid)
