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

from keras_transfer.data.cache import cache_root
from keras_transfer.data.pattern_primitives import fbm, uniform
from keras_transfer.data.patterns import MANMADE, NATURAL

VERSION = 1
_SUPERSAMPLE = 2  # render at 2x and box-filter down: anti-aliases every pattern the same way


@dataclasses.dataclass(frozen=True)
class SyntheticData:
    train_images: np.ndarray  # uint8 [N, S, S, 3]
    train_labels: np.ndarray  # int32 [N], ordered by class then index within class
    val_images: np.ndarray
    val_labels: np.ndarray
    class_names: tuple        # label index = position; folder-name safe
    families: dict            # {"natural": [class ids], "manmade": [class ids]}
    fingerprint: str          # sha256 of the arrays' bytes and class names (16 hex chars)


_CLASSES = tuple((f"natural_{g.__name__}", g) for g in NATURAL) + tuple(
    (f"manmade_{g.__name__}", g) for g in MANMADE)
CLASS_NAMES = tuple(name for name, _ in _CLASSES)


# ---------------------------------------------------------------- rendering
def _render(generator, rng, n, size):
    """n images of one class: pattern under a random pose, random colours, clutter, noise."""
    side = size * _SUPERSAMPLE
    axis = (np.arange(side, dtype=np.float32) + 0.5) / side * 2 - 1
    x, y = np.broadcast_to(axis[None, None, :], (n, side, side)), axis[None, :, None]
    angle, scale = uniform(rng, n, 0, 2 * np.pi), uniform(rng, n, 0.7, 1.3)
    x, y = x - uniform(rng, n, -0.25, 0.25), y - uniform(rng, n, -0.25, 0.25)
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
    clutter = fbm(rng, x, np.broadcast_to(y, x.shape), 3.0)
    light = 1 + uniform(rng, n, -0.3, 0.3) * x + uniform(rng, n, -0.3, 0.3) * y
    image = image * light[..., None] + (uniform(rng, n, 0, 0.3) * (clutter - 0.5))[..., None]
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
    name = (f"synthetic_v{VERSION}_seed{seed}_{image_size}px_"
            f"{train_per_class}train_{val_per_class}val.npz")
    return os.path.join(cache_root(cache_dir), name)


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
