"""Crash-safe training checkpoints: one weights file (model + optimizer) per evaluation interval
(or, with `min_seconds`, per interval that ends at least that long after the last checkpoint).

Each file is written to a temporary name and renamed, so a half-written file is never taken as
the newest; the last `keep` files stay, and a newest file that fails to load falls back to the
one before it with a warning. Beside each file, ckpt-N.json records the owner the state belongs
to (a net's config hash, a fused group's members) and the file's sha256: state of another owner
or damaged bytes are set aside, never continued. Dropout's seed-generator states, which Keras weight files leave
out, are stored in the same file: a resumed run draws the dropout masks an uninterrupted one would.
"""

import glob
import json
import os
import re
import time

import h5py
import keras
import numpy as np
from absl import logging

from keras_transfer import files

PATTERN = re.compile(r"ckpt-(\d+)\.weights\.h5$")
RNG_KEY = "keras_transfer_rng_states"


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


def rng_states(model):
    """The model's seed-generator state variables (dropout), in a stable order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _save_rng(model, path):
    states = rng_states(model)
    if states:
        with h5py.File(path, "a") as f:
            f.create_dataset(RNG_KEY, data=np.stack([np.asarray(v) for v in states]))


def _load_rng(model, path):
    states = rng_states(model)
    if not states:
        return  # a net without seed generators (no dropout) saves none
    with h5py.File(path, "r") as f:
        if RNG_KEY not in f:  # not a checkpoint _save_rng wrote: set aside, never continued
            raise ValueError(f"it holds no seed-generator states ({RNG_KEY}) for the net's "
                             f"{len(states)}")
        values = f[RNG_KEY][()]
    if len(values) != len(states):
        raise ValueError(f"{len(values)} seed-generator states for {len(states)} variables")
    for variable, value in zip(states, values):
        variable.assign(value)


class IntervalCallback(keras.callbacks.Callback):
    """Base of callbacks that record whole intervals only. Keras still ends an epoch cut short
    by `stop_training` (a signal) with on_epoch_end; recording it as done would make the resumed
    run skip the rest of that interval and shift its data stream."""

    def on_epoch_begin(self, epoch, logs=None):
        self._done = 0

    def on_train_batch_end(self, batch, logs=None):
        self._done = batch + 1  # `batch` is the last step run (steps_per_execution safe)

    def interval_complete(self):
        """All steps of the epoch ran and nothing stopped it (a stop also cuts evaluation)."""
        steps = (self.params or {}).get("steps") or 0
        return getattr(self, "_done", 0) >= steps and not self.model.stop_training


class Checkpointer(IntervalCallback):
    """Saves model and optimizer state at the end of every epoch (= evaluation interval), or,
    with min_seconds > 0, of the first epoch ending min_seconds after the last save. Short
    intervals (the embedded default evaluates every second or so) then do not spend their time
    writing checkpoints; a crash redoes at most min_seconds of training."""

    def __init__(self, directory, keep=2, min_seconds=0.0, owner=None):
        super().__init__()
        self.directory = directory
        self.keep = keep
        self.min_seconds = min_seconds
        self.owner = owner  # JSON-able identity (config hash, group members) the state is for
        self._last_save = time.monotonic()

    def restore(self, model):
        """Loads the newest readable checkpoint that belongs to this owner into `model`;
        returns its epoch (0 if none). A checkpoint of another owner (a changed recipe, another
        group) or whose bytes do not match its recorded checksum is set aside, said in one
        line, never continued."""
        candidates = checkpoint_paths(self.directory)
        paths = [p for p in candidates if self._belongs(p)]
        if not paths:
            if candidates:
                logging.warning("no readable checkpoint in %s; training from the start",
                                self.directory)
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        # A file that fails half-way may have loaded some variables: put them back if no
        # checkpoint loads, so the run starts from its real initialisation.
        variables = list(model.variables) + list(getattr(model.optimizer, "variables", []))
        initial = [np.array(v) for v in variables]
        for path in paths:
            try:
                model.load_weights(path)
                _load_rng(model, path)
            except Exception as e:  # h5py raises several types for a damaged file
                logging.warning("checkpoint %s is unreadable (%s); falling back to the previous one",
                                path, e)
                # Set aside (kept for inspection): left in place it would outrank, and so
                # outlive, the new checkpoints when old ones are pruned.
                os.replace(path, os.path.join(self.directory,
                                              "unreadable-" + os.path.basename(path)))
                continue
            logging.info("resuming from %s", path)
            return epoch_of(path)
        logging.warning("no readable checkpoint in %s; training from the start", self.directory)
        for variable, value in zip(variables, initial):
            variable.assign(value)
        return 0

    def _belongs(self, path):
        """Whether `path` is this owner's and intact; if not, it is renamed out of the way."""
        record = _read_record(path)
        if record is None:
            why, prefix = "has no readable identity record", "unreadable-"
        elif self.owner is not None and record.get("owner") != self.owner:
            why, prefix = (f"belongs to {record.get('owner')}, not to {self.owner} (the "
                           "recipe or group changed); training starts afresh"), "stale-"
        elif record.get("sha256") != files.file_sha256(path):
            why, prefix = "does not match its recorded checksum (damaged)", "unreadable-"
        else:
            return True
        logging.warning("checkpoint %s %s; set aside", path, why)
        for side in (path, _record_path(path)):
            if os.path.exists(side):
                os.replace(side, os.path.join(self.directory, prefix + os.path.basename(side)))
        return False

    def on_epoch_end(self, epoch, logs=None):
        if not self.interval_complete():
            logging.info("epoch %d was cut short; not checkpointed", epoch + 1)
            return
        last = epoch + 1 == (self.params or {}).get("epochs")
        # The last interval is always kept: a fused group whose members' run directories were
        # not all written when the process died then resumes with nothing left to train.
        if time.monotonic() - self._last_save < self.min_seconds and not last:
            return
        self._last_save = time.monotonic()
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"ckpt-{epoch + 1:06d}.weights.h5")
        tmp = os.path.join(self.directory, f".tmp-ckpt-{epoch + 1:06d}.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        _save_rng(self.model, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # the rename must never publish a file whose data is not on disk
        # The record goes first: a checkpoint is never published without its owner and checksum.
        files.write_json(_record_path(path), {"owner": self.owner, "sha256": files.file_sha256(tmp)})
        os.replace(tmp, path)
        for old in checkpoint_paths(self.directory)[self.keep:]:
            os.remove(old)
            if os.path.exists(_record_path(old)):
                os.remove(_record_path(old))


def newest_owner(directory):
    """The owner recorded for the newest checkpoint in `directory` (None if there is none or
    its record is unreadable); the state itself is checked when it is restored."""
    paths = checkpoint_paths(directory)
    record = _read_record(paths[0]) if paths else None
    return record.get("owner") if record else None


def _record_path(path):
    return path[:-len(".weights.h5")] + ".json"


def _read_record(path):
    try:
        with open(_record_path(path)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None

