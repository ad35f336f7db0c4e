"""Crash-safe training checkpoints: one weights file (model + optimizer) per evaluation interval.

Each file is written to a temporary name and renamed, so a half-written file is never taken as
the newest; the last `keep` files stay, and a newest file that fails to load falls back to the
one before it with a warning.
"""

import glob
import os
import re

import keras
from absl import logging

PATTERN = re.compile(r"ckpt-(\d+)\.weights\.h5$")


def checkpoint_paths(directory):
    """Checkpoint files in `directory`, newest (highest epoch) first."""
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.weights.h5")):
        match = PATTERN.search(path)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def epoch_of(path):
    return int(PATTERN.search(path).group(1))


class Checkpointer(keras.callbacks.Callback):
    """Saves model and optimizer state at the end of every epoch (= evaluation interval)."""

    def __init__(self, directory, keep=2):
        super().__init__()
        self.directory = directory
        self.keep = keep

    def restore(self, model):
        """Loads the newest readable checkpoint into `model`; returns its epoch (0 if none)."""
        paths = checkpoint_paths(self.directory)
        if paths and model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        for path in paths:
            try:
                model.load_weights(path)
            except Exception as e:  # h5py raises several types for a damaged file
                logging.warning("checkpoint %s is unreadable (%s); falling back to the previous one",
                                path, e)
                continue
            logging.info("resuming from %s", path)
            return epoch_of(path)
        return 0

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"ckpt-{epoch + 1:06d}.weights.h5")
        tmp = os.path.join(self.directory, f".tmp-ckpt-{epoch + 1:06d}.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
        for old in checkpoint_paths(self.directory)[self.keep:]:
            os.remove(old)
