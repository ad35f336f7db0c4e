"""A pretrained net from a user's file, in any of the three formats Keras writes, as a Keras
model of the sweep's --model architecture (so its blocks are copied by layer name like a
base's):

- a `.keras` file (`model.save`): loaded as it is;
- a weights file (`model.save_weights`, `.weights.h5`): the --model net is built with the
  file's classifier width and loaded (Keras checks every layer's shapes);
- a SavedModel directory (`model.export`, or a run directory's `saved_model/`): its variables
  carry the Keras variable paths (`conv1/kernel`), copied by path with shapes asserted;
- "imagenet": keras.applications' ImageNet weights for the trunk (catalog.IMAGENET_MODELS;
  downloaded once into ~/.keras/models), a fresh 1000-way classifier.
"""

import os
import re

import h5py

from keras_transfer import catalog
from keras_transfer.nets import backbones, transfer


class PretrainedFileError(ValueError):
    """The file cannot give a --model net; the message says why."""


def read(path, arch_for):
    """The net stored at `path`. arch_for(num_classes): the --model architecture with that
    classifier width."""
    if path == catalog.IMAGENET_PRETRAINED:
        return imagenet(arch_for)
    if os.path.isdir(path):
        return from_saved_model(path, arch_for)
    if path.endswith(".h5"):
        return from_weights(path, arch_for)
    if not path.endswith(".keras"):
        raise PretrainedFileError(
            "not a model file: give a .keras file (model.save), a .weights.h5 file "
            "(model.save_weights) or a SavedModel directory (model.export)")
    try:
        return transfer.load_source(path, remedy="")
    except transfer.TransferError as e:
        raise PretrainedFileError(str(e)) from None


IMAGENET_CLASSES = 1000


def imagenet(arch_for):
    try:
        return backbones.build(arch_for(IMAGENET_CLASSES), weights="imagenet")
    except Exception as e:  # download (URL, hash) and h5 errors have no common base class
        raise PretrainedFileError(
            f"keras.applications' ImageNet weights could not be loaded ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}). They are downloaded once into "
            "~/.keras/models: on a machine without internet copy that file there, or give "
            "--pretrained=PATH") from None


def classifier_kernel(arch_for):
    """The variable path of the --model net's classifier kernel (its last weighted layer)."""
    model = backbones.build(arch_for(1))
    return [layer for layer in model.layers if layer.weights][-1].kernel.path


def from_weights(path, arch_for):
    try:
        with h5py.File(path, "r") as f:
            # Keras names a weights file's layers by class and order: the last Dense
            # (dense, dense_1, ...) is every --model net's classifier.
            dense = sorted((int(m.group(1) or 0), key) for key in f.get("layers", {})
                           if (m := re.fullmatch(r"dense(?:_(\d+))?", key)))
            if not dense:
                raise PretrainedFileError(f"the weights file {path!r} has no classifier (no "
                                          "Dense layer): it was not saved from a Keras net")
            width = f["layers"][dense[-1][1]]["vars"]["0"].shape[-1]
    except OSError as e:
        raise PretrainedFileError(f"the weights file {path!r} cannot be read ({e})") from None
    model = backbones.build(arch_for(int(width)))
    try:
        model.load_weights(path)
    except ValueError as e:
        raise PretrainedFileError(f"the weights file {path!r} does not fit this --model: "
                                  f"{str(e).splitlines()[0]}") from None
    return model


def check_saved_model_dir(path):
    """A directory given as a source must be a SavedModel."""
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise PretrainedFileError(f"{path!r} is a directory but not a SavedModel (no "
                                  "saved_model.pb); give a .keras file, a .weights.h5 file or a "
                                  "SavedModel directory")


def from_saved_model(path, arch_for):
    import tensorflow as tf  # only a SavedModel needs TensorFlow itself

    check_saved_model_dir(path)
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # protobuf and op-registry errors have no common base class
        raise PretrainedFileError(f"the SavedModel {path!r} cannot be loaded "
                                  f"({type(e).__name__}: {e})") from None
    # model.export tracks `variables`; keras_transfer's own export `weights`.
    variables = getattr(loaded, "variables", None) or getattr(loaded, "weights", None) or []
    by_path = {v.name.split(":")[0]: v for v in variables}
    kernel = classifier_kernel(arch_for)
    if kernel not in by_path:
        raise PretrainedFileError(
            f"the SavedModel {path!r} has no variable {kernel!r} (the classifier of this "
            "--model): it was not exported from a --model net by Keras (model.export) or "
            "keras_transfer; save that net as .keras instead")
    model = backbones.build(arch_for(int(by_path[kernel].shape[-1])))
    for weight in model.weights:
        stored = by_path.get(weight.path)
        if stored is None or tuple(stored.shape) != tuple(weight.shape):
            found = "missing" if stored is None else f"of shape {tuple(stored.shape)}"
            raise PretrainedFileError(
                f"the SavedModel {path!r} does not fit this --model: its variable "
                f"{weight.path!r} is {found}, the model's is of shape {tuple(weight.shape)}")
        weight.assign(stored.numpy())
    return model
