"""The embedded default dataset: 40 procedural classes, 20 "natural" and 20 "man-made".

Every image is drawn with numpy from a per-(seed, class, split) random stream: a pattern field in
[0, 1] (noise textures, cells, blobs... or stripes, grids, polygons...) under a random rotation,
scale and shift, coloured with a foreground/background pair drawn from one class-independent
distribution, over a cluttered, unevenly lit background, with pixel noise. Colour never identifies
a class, so conv1 has to learn edges and blobs. Generated once and cached as a compressed .npz.
"""

import dataclasses
import hashlib
import os
import tempfile
import warnings
import zipfile

import numpy as np

VERSION = 1
_SUPERSAMPLE = 2  # render at 2x and box-filter down: anti-aliases every pattern the same way
_LATTICE = 16     # value-noise lattice size; coordinates wrap around it


@dataclasses.dataclass(frozen=True)
class SyntheticData:
    train_images: np.ndarray  # uint8 [N, S, S, 3]
    train_labels: np.ndarray  # int32 [N], ordered by class then index within class
    val_images: np.ndarray
    val_labels: np.ndarray
    class_names: tuple        # label index = position; folder-name safe
    families: dict            # {"natural": [class ids], "manmade": [class ids]}
    fingerprint: str          # sha256 of the arrays' bytes and class names (16 hex chars)


# ---------------------------------------------------------------- primitives
def _u(rng, n, lo, hi):
    """One uniform value per image, shaped to broadcast over [n, H, W]."""
    return rng.uniform(lo, hi, (n, 1, 1)).astype(np.float32)


def _noise(rng, u, v, freq):
    """Smooth value noise at (u, v) * freq, with a fresh random lattice per image."""
    n = u.shape[0]
    table = rng.random((n, _LATTICE, _LATTICE), dtype=np.float32)
    x = u * freq + _u(rng, n, 0, _LATTICE)
    y = v * freq + _u(rng, n, 0, _LATTICE)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    # Gather the four lattice corners from the flattened table (much faster than 3-D indexing).
    i0, j0 = x0.astype(np.int32) % _LATTICE, y0.astype(np.int32) % _LATTICE
    i1, j1 = (i0 + 1) % _LATTICE, (j0 + 1) % _LATTICE
    base = np.arange(n, dtype=np.int32)[:, None, None] * _LATTICE * _LATTICE
    j0, j1 = base + j0 * _LATTICE, base + j1 * _LATTICE
    flat = table.ravel()
    top = flat[j0 + i0] * (1 - fx) + flat[j0 + i1] * fx
    bottom = flat[j1 + i0] * (1 - fx) + flat[j1 + i1] * fx
    return top * (1 - fy) + bottom * fy


def _fbm(rng, u, v, freq, octaves=3):
    """Fractal noise in [0, 1]: octaves of value noise, each half the amplitude."""
    total = sum(0.5 ** o * _noise(rng, u, v, freq * 2 ** o) for o in range(octaves))
    return total / sum(0.5 ** o for o in range(octaves))


def _square(t, rng, lo=2.0, hi=8.0):
    """A square wave of phase t with random edge sharpness (soft to crisp) per image."""
    return 0.5 + 0.5 * np.tanh(_u(rng, t.shape[0], lo, hi) * np.sin(t))


def _inside(d, width=0.03):
    """Soft indicator of a signed distance d < 0."""
    return np.clip(0.5 - d / width, 0, 1)


def _frac(t):
    return t - np.floor(t)


def _points(rng, n, k, spread=1.3):
    return rng.uniform(-spread, spread, (n, k, 2)).astype(np.float32)


def _voronoi(u, v, pts):
    """Nearest and second-nearest distances (F1, F2) to a point set, per image."""
    f1 = f2 = np.full(u.shape, 9.0, np.float32)
    for p in range(pts.shape[1]):
        d = np.hypot(u - pts[:, p, 0, None, None], v - pts[:, p, 1, None, None])
        f1, f2 = np.minimum(f1, d), np.minimum(f2, np.maximum(f1, d))
    return f1, f2


def _polar(u, v):
    return np.hypot(u, v), np.arctan2(v, u)


def _polygon(r, th, k, radius):
    """Signed distance-like field of a regular k-gon (negative inside)."""
    sector = np.mod(th, 2 * np.pi / k) - np.pi / k
    return r * np.cos(sector) - radius * np.cos(np.pi / k)


# ---------------------------------------------------------------- natural: noise-driven, organic
def clouds(rng, u, v):
    """Soft fractal noise, contrast-stretched."""
    return np.clip((_fbm(rng, u, v, 2.0, 4) - 0.5) * _u(rng, len(u), 2, 4) + 0.5, 0, 1)


def cells(rng, u, v):
    """Voronoi cells: dark membranes and a bright nucleus per cell."""
    f1, f2 = _voronoi(u, v, _points(rng, len(u), 12))
    return np.maximum(_inside(f2 - f1 - 0.06), _inside(f1 - _u(rng, len(u), 0.06, 0.14)))


def cracks(rng, u, v):
    """Dried-mud cracks: thin, noise-warped Voronoi edges."""
    w = 0.3 * (_fbm(rng, u, v, 3.0) - 0.5)
    f1, f2 = _voronoi(u + w, v - w, _points(rng, len(u), 9))
    return _inside(f2 - f1 - 0.04)


def blobs(rng, u, v):
    """A few merged gaussian blobs (metaballs) with noisy edges."""
    pts, field = _points(rng, len(u), 5, 0.6), 0.3 * _fbm(rng, u, v, 3.0)
    for p in range(pts.shape[1]):
        field = field + np.exp(-((u - pts[:, p, 0, None, None]) ** 2 +
                                 (v - pts[:, p, 1, None, None]) ** 2) / 0.08)
    return _inside(0.7 - field, 0.2)


def leaf(rng, u, v):
    """A leaf: pointed oval with a midrib and side veins."""
    half = 0.5 * np.clip(1 - u * u, 0, 1) ** 0.7 * (1 + 0.2 * _fbm(rng, u, v, 4.0))
    veins = _square(12 * (u + 1.5 * np.abs(v)), rng, 1, 3) * 0.3 + _inside(np.abs(v) - 0.03) * 0.6
    return _inside(np.abs(v) - half) * (1 - veins)


def fur(rng, u, v):
    """Fine strokes along a locally curling direction."""
    w = 1.5 * _fbm(rng, u, v, 1.5)
    return _fbm(rng, u + 0.3 * w, (v + w) * 8, 1.5, 2)


def bark(rng, u, v):
    """Ridged, stretched noise: deep vertical furrows."""
    return 1 - np.abs(2 * _fbm(rng, u * 1.5, v * 7, 1.0) - 1) ** 0.5


def waves(rng, u, v):
    """Sea waves: stripes bent by low-frequency noise."""
    return _square(_u(rng, len(u), 6, 14) * v + 4 * _fbm(rng, u, v, 1.5), rng, 1, 3)


def ripples(rng, u, v):
    """Damped, slightly irregular circular ripples from a point."""
    r = np.hypot(u, v) + 0.15 * _fbm(rng, u, v, 2.0)
    return 0.5 + 0.5 * np.sin(_u(rng, len(u), 14, 24) * r) * np.exp(-1.5 * r)


def spots(rng, u, v):
    """Leopard-like irregular spots of varying size."""
    f1, _ = _voronoi(u, v, _points(rng, len(u), 14))
    return _inside(f1 - _u(rng, len(u), 0.1, 0.2) * (0.5 + _fbm(rng, u, v, 4.0)))


def marble(rng, u, v):
    """Veins of turbulence-distorted sine bands."""
    return np.abs(np.sin(_u(rng, len(u), 3, 6) * u + 8 * _fbm(rng, u, v, 1.5))) ** 0.3


def wood(rng, u, v):
    """Wood grain: noisy growth rings around a far-away centre."""
    r = np.hypot(u - 1.8, v * 0.3) + 0.1 * _fbm(rng, u, v, 3.0)
    return _square(_u(rng, len(u), 25, 45) * r, rng, 1, 3)


def dunes(rng, u, v):
    """Ridged multi-scale noise like dunes or ridges seen from above."""
    return (1 - np.abs(2 * _fbm(rng, u, v * 2, 1.5) - 1)) ** 2


def grass(rng, u, v):
    """Thin upright blades of varying height over soil."""
    blade = _noise(rng, u, v * 0.2, 14.0)
    top = 0.8 * _fbm(rng, u, 0 * v, 3.0) - 0.6
    return _inside(0.55 - blade, 0.2) * _inside(top - v + blade * 0.4, 0.1)


def flower(rng, u, v):
    """A flower: k rounded petals around a contrasting centre."""
    r, th = _polar(u, v)
    k = rng.integers(4, 9, (len(u), 1, 1))
    petal = _u(rng, len(u), 0.5, 0.8) * (0.55 + 0.45 * np.abs(np.cos(k * th / 2)))
    return _inside(r - petal) * (1 - 0.7 * _inside(r - 0.15))


def pebbles(rng, u, v):
    """Rounded stones: shaded cells with gaps between them."""
    f1, f2 = _voronoi(u, v, _points(rng, len(u), 10))
    return _inside(0.08 - (f2 - f1), 0.06) * np.clip(1.2 - 2.5 * f1, 0, 1)


def fern(rng, u, v):
    """A fern frond: a tapering stem with slanted leaflets."""
    half = 0.45 * np.clip(0.8 - 0.8 * u, 0, 1) * (u > -0.9)
    leaflets = _square(_u(rng, len(u), 14, 22) * (u + 0.8 * np.abs(v)), rng, 2, 6)
    return _inside(np.abs(v) - half) * np.maximum(leaflets, _inside(np.abs(v) - 0.03))


def mountains(rng, u, v):
    """A jagged skyline: ridged noise height profile filled below."""
    h = 1 - np.abs(2 * _fbm(rng, u, 0 * v, 1.5, 4) - 1)
    return _inside(h - 0.3 - v, 0.05) * (0.6 + 0.4 * _fbm(rng, u, v, 4.0))


def bubbles(rng, u, v):
    """Soap bubbles: circle outlines of random sizes, overlapping."""
    pts, out = _points(rng, len(u), 7, 1.0), np.zeros_like(u)
    radius = rng.uniform(0.1, 0.4, (len(u), 7)).astype(np.float32)
    for p in range(pts.shape[1]):
        d = np.hypot(u - pts[:, p, 0, None, None], v - pts[:, p, 1, None, None])
        out = np.maximum(out, _inside(np.abs(d - radius[:, p, None, None]) - 0.025))
    return out


def contours(rng, u, v):
    """Topographic contour lines of a noise height field (lichen, agate)."""
    return _inside(np.abs(np.sin(_u(rng, len(u), 10, 18) * _fbm(rng, u, v, 1.5))) - 0.3, 0.3)


# ---------------------------------------------------------------- man-made: regular geometry
def stripes(rng, u, v):
    """Parallel straight stripes."""
    return _square(_u(rng, len(u), 6, 18) * u, rng)


def grid(rng, u, v):
    """Thin lines of a square grid."""
    f, w = _u(rng, len(u), 2, 5), _u(rng, len(u), 0.08, 0.2)
    line = lambda t: _inside(0.5 - np.abs(_frac(t * f) - 0.5) - w / 2, 0.05)
    return np.maximum(line(u), line(v))


def checkers(rng, u, v):
    """A checkerboard."""
    f = _u(rng, len(u), 4, 10)
    return 0.5 + 0.5 * np.tanh(_u(rng, len(u), 3, 12) * np.sin(f * u) * np.sin(f * v))


def rings(rng, u, v):
    """Concentric rings, evenly spaced."""
    return _square(_u(rng, len(u), 10, 24) * np.hypot(u, v), rng)


def triangles(rng, u, v):
    """A filled equilateral triangle."""
    r, th = _polar(u, v)
    return _inside(_polygon(r, th, 3, _u(rng, len(u), 0.45, 0.8)))


def squares(rng, u, v):
    """A filled square."""
    r, th = _polar(u, v)
    return _inside(_polygon(r, th, 4, _u(rng, len(u), 0.4, 0.75)))


def stars(rng, u, v):
    """A star with 5-8 sharp points."""
    r, th = _polar(u, v)
    k = rng.integers(5, 9, (len(u), 1, 1))
    tri = np.abs(_frac(th * k / (2 * np.pi)) - 0.5) * 2
    return _inside(r - _u(rng, len(u), 0.5, 0.8) * (0.45 + 0.55 * tri ** 2))


def bricks(rng, u, v):
    """A brick wall: offset rows, thin mortar."""
    rows = _u(rng, len(u), 3, 6)
    row = np.floor(v * rows)
    along = _frac(u * rows / 2 + 0.5 * np.mod(row, 2))
    return _inside(0.08 - np.minimum(_frac(v * rows), along * 2), 0.06)


def text(rng, u, v):
    """Lines of random 3x5 glyphs, like print."""
    n, scale = len(u), _u(rng, len(u), 3, 6)
    glyphs = rng.random((n, _LATTICE, _LATTICE, 5, 3)) < 0.5
    cu, cv = u * scale + 8, v * scale * 0.6 + 8
    gx, gy = (_frac(cu) * 4).astype(np.int64), (_frac(cv) * 7).astype(np.int64)
    k = np.arange(n)[:, None, None]
    bit = glyphs[k, cv.astype(np.int64) % _LATTICE, cu.astype(np.int64) % _LATTICE,
                 np.minimum(gy, 4), np.minimum(gx, 2)]
    return (bit & (gx < 3) & (gy < 5)).astype(np.float32)


def arrows(rng, u, v):
    """An arrow: shaft and triangular head."""
    shaft = _inside(np.maximum(np.abs(v) - 0.1, np.abs(u + 0.25) - 0.45))
    head = _inside(np.maximum(np.abs(v) - (0.6 - u) * 0.9, 0.15 - u))
    return np.maximum(shaft, head * (u < 0.6))


def crosses(rng, u, v):
    """A plus sign with arms of random thickness."""
    w, arm = _u(rng, len(u), 0.08, 0.2), _u(rng, len(u), 0.45, 0.75)
    bar = lambda a, b: _inside(np.maximum(np.abs(a) - w, np.abs(b) - arm))
    return np.maximum(bar(u, v), bar(v, u))


def zigzag(rng, u, v):
    """Chevron stripes: a triangle wave across parallel stripes."""
    tri = np.abs(_frac(v * _u(rng, len(u), 1, 3)) - 0.5) * 2
    return _square(_u(rng, len(u), 6, 14) * (u + _u(rng, len(u), 0.2, 0.5) * tri), rng)


def dots(rng, u, v):
    """A regular array of disks."""
    f = _u(rng, len(u), 2, 5)
    d = np.hypot(_frac(u * f) - 0.5, _frac(v * f) - 0.5)
    return _inside(d - _u(rng, len(u), 0.15, 0.35), 0.1)


def hextiles(rng, u, v):
    """The outlines of a hexagonal tiling."""
    f, s = _u(rng, len(u), 2, 4), np.sqrt(3.0)
    x, y = u * f, v * f
    ax, ay = np.mod(x, 1) - 0.5, np.mod(y, s) - s / 2
    bx, by = np.mod(x - 0.5, 1) - 0.5, np.mod(y - s / 2, s) - s / 2
    near_a = ax * ax + ay * ay < bx * bx + by * by
    gx, gy = np.abs(np.where(near_a, ax, bx)), np.abs(np.where(near_a, ay, by))
    return _inside(0.5 - 0.06 - np.maximum(gx, 0.5 * gx + s / 2 * gy), 0.06)


def barcode(rng, u, v):
    """Bars of random widths within a band."""
    bits = rng.random((len(u), 64)) < 0.5
    idx = np.floor(u * _u(rng, len(u), 12, 24) + 32).astype(np.int64) % 64
    bar = np.take_along_axis(bits, idx.reshape(len(u), -1), 1).reshape(u.shape)
    return bar * _inside(np.abs(v) - _u(rng, len(u), 0.4, 0.7))


def windows(rng, u, v):
    """A building facade: a block with a grid of windows."""
    cols, rows = _u(rng, len(u), 2, 5), _u(rng, len(u), 2, 5)
    block = _inside(np.maximum(np.abs(u) - 0.7, np.abs(v) - 0.8))
    pane = (np.abs(_frac(u * cols) - 0.5) < 0.25) & (np.abs(_frac(v * rows) - 0.5) < 0.25)
    return block * (1 - 0.8 * pane)


def dashes(rng, u, v):
    """Parallel dashed lines, like road markings."""
    f = _u(rng, len(u), 2, 5)
    line = np.abs(_frac(v * f) - 0.5) < _u(rng, len(u), 0.1, 0.2)
    dash = _frac(u * f * 0.7 + np.floor(v * f) * 0.37) < 0.55
    return (line & dash).astype(np.float32)


def spiral(rng, u, v):
    """An Archimedean spiral with 1-3 arms."""
    r, th = _polar(u, v)
    arms = rng.integers(1, 4, (len(u), 1, 1))
    return _square(arms * th + _u(rng, len(u), 12, 24) * r, rng)


def gears(rng, u, v):
    """A toothed gear wheel with a hole."""
    r, th = _polar(u, v)
    teeth = (np.cos(rng.integers(6, 16, (len(u), 1, 1)) * th) > 0) * 0.12
    return _inside(r - 0.55 - teeth) * (1 - _inside(r - _u(rng, len(u), 0.1, 0.25)))


def plaid(rng, u, v):
    """Tartan: two crossing stripe sets of different frequencies."""
    return 0.5 * (_square(_u(rng, len(u), 4, 12) * u, rng) +
                  _square(_u(rng, len(u), 4, 12) * v, rng))


NATURAL = (clouds, cells, cracks, blobs, leaf, fur, bark, waves, ripples, spots,
           marble, wood, dunes, grass, flower, pebbles, fern, mountains, bubbles, contours)
MANMADE = (stripes, grid, checkers, rings, triangles, squares, stars, bricks, text, arrows,
           crosses, zigzag, dots, hextiles, barcode, windows, dashes, spiral, gears, plaid)
_CLASSES = tuple((f"natural_{g.__name__}", g) for g in NATURAL) + tuple(
    (f"manmade_{g.__name__}", g) for g in MANMADE)
CLASS_NAMES = tuple(name for name, _ in _CLASSES)


# ---------------------------------------------------------------- rendering
def _render(generator, rng, n, size):
    """n images of one class: pattern under a random pose, random colours, clutter, noise."""
    side = size * _SUPERSAMPLE
    axis = (np.arange(side, dtype=np.float32) + 0.5) / side * 2 - 1
    x, y = np.broadcast_to(axis[None, None, :], (n, side, side)), axis[None, :, None]
    angle, scale = _u(rng, n, 0, 2 * np.pi), _u(rng, n, 0.7, 1.3)
    x, y = x - _u(rng, n, -0.25, 0.25), y - _u(rng, n, -0.25, 0.25)
    u = (x * np.cos(angle) + y * np.sin(angle)) / scale
    v = (y * np.cos(angle) - x * np.sin(angle)) / scale
    field = np.clip(generator(rng, u.astype(np.float32), v.astype(np.float32)), 0, 1)

    # Foreground and background colours from one distribution for every class, kept apart
    # by a random minimum contrast: colour says nothing about the class.
    bg = rng.random((n, 3), dtype=np.float32)
    diff = rng.random((n, 3), dtype=np.float32) - bg
    norm = np.linalg.norm(diff, axis=1, keepdims=True) + 1e-6
    diff *= np.maximum(norm, rng.uniform(0.3, 0.6, (n, 1))) / norm
    fg = np.clip(bg + diff, 0, 1)
    image = bg[:, None, None] + (fg - bg)[:, None, None] * field[..., None]

    # Clutter and uneven light so that the pattern, not flat statistics, carries the class.
    image = image.reshape(n, size, _SUPERSAMPLE, size, _SUPERSAMPLE, 3).mean((2, 4))
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    x, y = np.broadcast_to(axis[None, None, :], (n, size, size)), axis[None, :, None]
    clutter = _fbm(rng, x, np.broadcast_to(y, x.shape), 3.0)
    light = 1 + _u(rng, n, -0.3, 0.3) * x + _u(rng, n, -0.3, 0.3) * y
    image = image * light[..., None] + (_u(rng, n, 0, 0.3) * (clutter - 0.5))[..., None]
    sigma = rng.uniform(0.01, 0.06, (n, 1, 1, 1)).astype(np.float32)
    image = image + rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


def _fingerprint(arrays, class_names):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\n".join(class_names).encode())
    return h.hexdigest()[:16]


def _families(class_names):
    return {f: [i for i, name in enumerate(class_names) if name.startswith(f + "_")]
            for f in ("natural", "manmade")}


def generate(seed=0, image_size=32, train_per_class=260, val_per_class=50):
    """The dataset, freshly generated (no cache); identical bytes for identical arguments."""
    splits = {}
    for split, (stream, count) in enumerate([("train", train_per_class), ("val", val_per_class)]):
        # One independent stream per (seed, class, split): val is never a copy of train and a
        # class's images do not change when other classes are added.
        images = [_render(g, np.random.default_rng([seed, c, split, VERSION]), count, image_size)
                  for c, (_, g) in enumerate(_CLASSES)]
        labels = np.repeat(np.arange(len(_CLASSES), dtype=np.int32), count)
        splits[stream] = (np.concatenate(images), labels)
    arrays = (*splits["train"], *splits["val"])
    return SyntheticData(*arrays, CLASS_NAMES, _families(CLASS_NAMES),
                         _fingerprint(arrays, CLASS_NAMES))


def _cache_path(cache_dir, seed, image_size, train_per_class, val_per_class):
    cache_dir = (cache_dir or os.environ.get("KERAS_TRANSFER_CACHE")
                 or os.path.join(os.path.expanduser("~"), ".cache", "keras_transfer"))
    name = (f"synthetic_v{VERSION}_seed{seed}_{image_size}px_"
            f"{train_per_class}train_{val_per_class}val.npz")
    return os.path.join(cache_dir, name)


def _read(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = tuple(z[k] for k in ("train_images", "train_labels", "val_images", "val_labels"))
        names, fingerprint = tuple(str(s) for s in z["class_names"]), str(z["fingerprint"])
    if _fingerprint(arrays, names) != fingerprint:
        raise ValueError("fingerprint does not match the stored arrays")
    return SyntheticData(*arrays, names, _families(names), fingerprint)


def load(cache_dir=None, seed=0, image_size=32, train_per_class=260, val_per_class=50):
    """The dataset from the cache, generating and caching it (atomically) on first use."""
    path = _cache_path(cache_dir, seed, image_size, train_per_class, val_per_class)
    if os.path.exists(path):
        try:
            return _read(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(f"synthetic dataset cache {path} is unreadable ({e}); regenerating it")
    data = generate(seed, image_size, train_per_class, val_per_class)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, train_images=data.train_images, train_labels=data.train_labels,
                                val_images=data.val_images, val_labels=data.val_labels,
                                class_names=np.array(data.class_names),
                                fingerprint=np.array(data.fingerprint))
        os.replace(tmp, path)  # readers see the old file or the whole new one, never a torn one
    except BaseException:
        os.unlink(tmp)
        raise
    return data
