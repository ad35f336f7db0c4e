"""Builds the paper's networks from a base: selffer/transfer (BnB, AnB), fine-tuned or frozen, and
the random-filter control.

Blocks 1..n (nets.backbones: every layer up to cut point n) take the source's weights, copied
by layer name with shapes asserted; the layers above keep the fresh initialisation of their own
initializers. `trainable` is set here, before the caller compiles; a frozen BatchNormalization
then runs in inference mode and keeps its moving statistics (Keras 3's rule for BatchNorm).
"""

import hashlib
import os

import keras
import numpy as np

from keras_transfer.nets import backbones

MODES = ("frozen", "fine_tune", "random_frozen", "truncate", "surgical", "lp_ft", "llrd")
# Modes whose nets share their frozen blocks 1..n, so a group of them runs one trunk.
SHARED_TRUNK = ("frozen", "random_frozen", "truncate")


class TransferError(ValueError):
    """A transfer net cannot be built as asked (bad n, mode, source or shapes)."""


def weights_checksum(model, n=None):
    """sha256 of the weights (BatchNorm's moving statistics too) of blocks 1..n, in layer order
    (n=None: the whole model); identifies what a dependant copied."""
    digest = hashlib.sha256()
    chosen = model.layers if n is None else backbones.block_layers(model, n)
    for layer in chosen:
        for w in layer.get_weights():
            digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


RETRAIN = " Delete its run directory and rerun the sweep to retrain it."


def load_source(path, remedy=RETRAIN):
    """A trained net from a `.keras` file, with a clear error when it is missing or unreadable;
    `remedy` ends the unreadable-file message (a sweep's own base: retrain it)."""
    if not os.path.exists(path):
        raise TransferError(
            f"the source network {path!r} does not exist. Train its base net first "
            "(the sweep trains bases before their dependants).")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # zip, h5 and deserialisation errors have no common base class
        raise TransferError(
            f"the source network {path!r} exists but cannot be loaded ({type(e).__name__}: "
            f"{e}); the file is damaged.{remedy}") from e


def build(arch, n, mode, source=None, name=None):
    """A fresh net of `arch` whose blocks 1..n come from `source` (or stay random, frozen).

    arch: the target net's architecture (`nets.backbones.architecture`).
    n: number of copied (or random-frozen) blocks, 0..(cut points - 1): 0..7 on CaffeNet;
      fine_tune also takes every cut point (8 on CaffeNet): the source continued, its
      classifier copied too (the budget-matched control; source and target share the classes).
    mode: "frozen" (copied layers not trained), "fine_tune" (all layers trained),
      "random_frozen" (no source; layers 1..n keep their random init and are frozen),
      "truncate" (blocks 1..n copied and frozen, the rest dropped, a new linear classifier on
      their features), "surgical" (every block copied, only block n and the classifier
      trained; n >= 1) or "lp_ft" (every layer, classifier included, copied from `source`, the
      trained AnB, and all fine-tuned) or "llrd" (blocks 1..n copied and fine-tuned at
      layer-wise decayed rates: compile it with `lr_multipliers`).
    source: a Keras model or the path of a `.keras` file; required unless mode is random_frozen.
    """
    if mode not in MODES:
        raise TransferError(f"unknown mode {mode!r}; choose one of {MODES}")
    if mode in ("truncate", "surgical", "lp_ft", "llrd") and n == 0:
        raise TransferError(f"mode {mode!r} needs n >= 1 (the block it cuts at or trains)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TransferError(f"n must be an integer (the number of blocks copied); got {n!r}")
    if mode != "random_frozen" and n > 0 and source is None:
        raise TransferError(f"mode {mode!r} with n={n} needs a source network to copy from")
    if isinstance(source, str):
        source = load_source(source)

    model = backbones.build(arch, name=name or "net")
    top = backbones.num_cuts(model) - 1
    # The base continued (B8B+ on CaffeNet) copies every block, classifier included.
    continued = mode == "fine_tune" and n == top + 1
    if not continued and not 0 <= n <= top:
        raise TransferError(
            f"n must be in 0..{top} (the number of blocks copied); got {n}. The last cut point "
            f"(n={top + 1}) is the target's classifier and is never transferred.")
    copied = copied_depth(mode, n, model)
    if mode != "random_frozen":
        copy_blocks(source, model, copied)
    for layer in frozen_layers(model, mode, n):
        layer.trainable = False
        if isinstance(layer, keras.layers.Dropout):
            # A frozen block computes fixed features: stochastic depth there (EfficientNet's
            # per-block dropout) would drop them at random while the layers above train.
            layer.rate = 0.0
    return backbones.truncate(model, n, arch) if mode == "truncate" else model


def frozen_layers(model, mode, n):
    """The layers a net of `mode` never trains: blocks 1..n (frozen, random frozen, truncate),
    every copied block but block n (surgical), none (fine-tuned, LP-FT). Decided by the mode,
    not by the layers' flags, so the runner's check also catches a layer left trainable."""
    if mode == "surgical":
        below = {id(layer) for layer in backbones.block_layers(model, n - 1)}
        block_n = {id(layer) for layer in backbones.block_layers(model, n)} - below
        return [layer for layer in backbones.block_layers(model, copied_depth(mode, n, model))
                if id(layer) not in block_n]
    return backbones.block_layers(model, n) if mode in SHARED_TRUNK else []


def lr_multipliers(model, n, decay):
    """Layer-wise learning-rate decay over the copied blocks: {variable path: factor}, block k
    of 1..n at decay ** (n + 1 - k) (block n at decay, the first block lowest); the fresh
    layers above n learn at the full rate. decay 1 is fine-tuning (AnB+), 0 freezing (AnB)."""
    return {v.path: factor for v, factor in decayed_variables(model, n, decay)}


def group_lr_multipliers(fused, models, ns, decay):
    """The factors of llrd nets `models` (cut points `ns`) side by side in the model `fused`:
    one per variable of fused.trainable_variables, in order (their paths are the same in every
    member, so a {path: factor} map cannot tell them apart)."""
    factors = {id(v): factor for model, n in zip(models, ns, strict=True)
               for v, factor in decayed_variables(model, n, decay)}
    return [factors.get(id(v), 1.0) for v in fused.trainable_variables]


def decayed_variables(model, n, decay):
    """(variable, factor) for each trainable variable of blocks 1..n of an llrd net."""
    found, seen = [], set()
    for k in range(1, n + 1):
        for layer in backbones.block_layers(model, k):
            if id(layer) not in seen:
                seen.add(id(layer))
                found.extend((v, decay ** (n + 1 - k)) for v in layer.trainable_weights)
    return found


def copied_depth(mode, n, model):
    """How many blocks a net of `mode` copies from its source: n, all but the classifier
    (surgical), or all (lp_ft: its source is the same task's AnB)."""
    if mode == "lp_ft":
        return backbones.num_cuts(model)
    return backbones.num_cuts(model) - 1 if mode == "surgical" else n


def frozen_checksum(model, mode, n):
    """sha256 of the weights (BatchNorm's statistics too) of `frozen_layers`: what training
    must leave bit for bit as it was (the runner checks it after every net)."""
    digest = hashlib.sha256()
    for layer in frozen_layers(model, mode, n):
        for w in layer.get_weights():
            digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def copy_blocks(source, target, n):
    """Copies the weights of target's blocks 1..n from the source's layers of the same names,
    asserting every shape first."""
    for dst in backbones.block_layers(target, n):
        dst_weights = dst.get_weights()
        if not dst_weights:
            continue
        try:
            src = source.get_layer(dst.name)
        except ValueError:
            raise TransferError(
                f"cannot copy layer {dst.name!r} (of blocks 1..{n}): the source "
                f"{source.name!r} has no layer of that name. Source and target must use the "
                "same --model.") from None
        src_weights = src.get_weights()
        if [w.shape for w in src_weights] != [w.shape for w in dst_weights]:
            raise TransferError(
                f"cannot copy layer {dst.name!r}: source shapes "
                f"{[tuple(w.shape) for w in src_weights]} != target shapes "
                f"{[tuple(w.shape) for w in dst_weights]}. Source and target must use the "
                "same --model (widths, input size).")
        dst.set_weights(src_weights)
