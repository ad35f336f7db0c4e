"""The building blocks the synthetic patterns are drawn with: per-image random values, value
and fractal noise, square waves, soft shapes, Voronoi distances.

Every function works on a batch of coordinate fields [n, H, W], one image each, and draws from the
caller's random stream: the order of the draws is part of the dataset's bytes.
"""

import numpy as np

LATTICE = 16  # value-noise lattice size; coordinates wrap around it


def uniform(rng, n, lo, hi):
    """One uniform value per image, shaped to broadcast over [n, H, W]."""
    return rng.uniform(lo, hi, (n, 1, 1)).astype(np.float32)


def value_noise(rng, u, v, freq):
    """Smooth value noise at (u, v) * freq, with a fresh random lattice per image."""
    n = u.shape[0]
    table = rng.random((n, LATTICE, LATTICE), dtype=np.float32)
    x = u * freq + uniform(rng, n, 0, LATTICE)
    y = v * freq + uniform(rng, n, 0, LATTICE)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    # Gather the four lattice corners from the flattened table (much faster than 3-D indexing).
    i0, j0 = x0.astype(np.int32) % LATTICE, y0.astype(np.int32) % LATTICE
    i1, j1 = (i0 + 1) % LATTICE, (j0 + 1) % LATTICE
    base = np.arange(n, dtype=np.int32)[:, None, None] * LATTICE * LATTICE
    j0, j1 = base + j0 * LATTICE, base + j1 * LATTICE
    flat = table.ravel()
    top = flat[j0 + i0] * (1 - fx) + flat[j0 + i1] * fx
    bottom = flat[j1 + i0] * (1 - fx) + flat[j1 + i1] * fx
    return top * (1 - fy) + bottom * fy


def fbm(rng, u, v, freq, octaves=3):
    """Fractal noise in [0, 1]: octaves of value noise, each half the amplitude."""
    total = sum(0.5 ** o * value_noise(rng, u, v, freq * 2 ** o) for o in range(octaves))
    return total / sum(0.5 ** o for o in range(octaves))


def square_wave(t, rng, lo=2.0, hi=8.0):
    """A square wave of phase t with random edge sharpness (soft to crisp) per image."""
    return 0.5 + 0.5 * np.tanh(uniform(rng, t.shape[0], lo, hi) * np.sin(t))


def inside(d, width=0.03):
    """Soft indicator of a signed distance d < 0."""
    return np.clip(0.5 - d / width, 0, 1)


def frac(t):
    return t - np.floor(t)


def random_points(rng, n, k, spread=1.3):
    return rng.uniform(-spread, spread, (n, k, 2)).astype(np.float32)


def voronoi(u, v, pts):
    """Nearest and second-nearest distances (F1, F2) to a point set, per image."""
    f1 = f2 = np.full(u.shape, 9.0, np.float32)
    for p in range(pts.shape[1]):
        d = np.hypot(u - pts[:, p, 0, None, None], v - pts[:, p, 1, None, None])
        f1, f2 = np.minimum(f1, d), np.minimum(f2, np.maximum(f1, d))
    return f1, f2


def polar(u, v):
    return np.hypot(u, v), np.arctan2(v, u)


def polygon(r, th, k, radius):
    """Signed distance-like field of a regular k-gon (negative inside)."""
    sector = np.mod(th, 2 * np.pi / k) - np.pi / k
    return r * np.cos(sector) - radius * np.cos(np.pi / k)
