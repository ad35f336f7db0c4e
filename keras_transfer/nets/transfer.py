"""Builds the paper's networks from a base: selffer/transfer (BnB, AnB), fine-tuned or frozen, and
the random-filter control.

Layers 1..n take the source's weights (copied by name, shapes asserted); layers n+1..8 keep a
fresh initialisation. `trainable` is set here, before the caller compiles.
"""

import hashlib
import os

import keras
import numpy as np

from keras_transfer import catalog
from keras_transfer.nets import alexnet

MODES = ("frozen", "fine_tune", "random_frozen")
MAX_N = catalog.MAX_N  # fc8 is the classifier of the target task and is never copied


class TransferError(ValueError):
    """A transfer net cannot be built as asked (bad n, mode, source or shapes)."""


def weights_checksum(model, n=alexnet.NUM_LAYERS):
    """sha256 of the weights of layers 1..n, in layer order; identifies what a dependant copied."""
    digest = hashlib.sha256()
    for i in range(1, n + 1):
        for w in alexnet.layer(model, i).get_weights():
            digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def load_source(path):
    """A trained CaffeNet from a `.keras` file, with a clear error when it is missing or unreadable."""
    if not os.path.exists(path):
        raise TransferError(
            f"the source network {path!r} does not exist. Train its base net first "
            "(the sweep trains bases before their dependants).")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # zip, h5 and deserialisation errors have no common base class
        raise TransferError(
            f"the source network {path!r} exists but cannot be loaded ({type(e).__name__}: "
            f"{e}); the file is damaged. Delete its run directory and rerun the sweep to "
            "retrain it.") from e


def build(arch, n, mode, source=None, name=None):
    """A fresh net of `arch` whose layers 1..n come from `source` (or stay random, frozen).

    arch: `alexnet.Architecture` of the target net.
    n: number of copied (or random-frozen) layers, 0..7.
    mode: "frozen" (copied layers not trained), "fine_tune" (all layers trained) or
      "random_frozen" (no source; layers 1..n keep their random init and are frozen).
    source: a Keras model or the path of a `.keras` file; required unless mode is random_frozen.
    """
    if mode not in MODES:
        raise TransferError(f"unknown mode {mode!r}; choose one of {MODES}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_N:
        raise TransferError(
            f"n must be an integer in 0..{MAX_N} (the number of layers copied); got {n!r}. "
            "fc8 (n=8) is the target's classifier and is never transferred.")
    if mode != "random_frozen" and n > 0 and source is None:
        raise TransferError(f"mode {mode!r} with n={n} needs a source network to copy from")
    if isinstance(source, str):
        source = load_source(source)

    model = alexnet.build(arch, name=name or "caffenet")
    if mode != "random_frozen":
        for i in range(1, n + 1):
            copy_layer(source, model, i)
    if mode in ("frozen", "random_frozen"):
        for i in range(1, n + 1):
            alexnet.layer(model, i).trainable = False
    return model


def copy_layer(source, target, i):
    """Copies layer i's weights from source to target, asserting every shape first."""
    src, dst = alexnet.layer(source, i), alexnet.layer(target, i)
    src_weights, dst_weights = src.get_weights(), dst.get_weights()
    for s, d in zip(src_weights, dst_weights, strict=True):
        if s.shape != d.shape:
            raise TransferError(
                f"cannot copy layer {i} ({src.name}): source shape {s.shape} != target shape "
                f"{d.shape}. Source and target must use the same --model (widths, input size).")
    dst.set_weights(src_weights)
