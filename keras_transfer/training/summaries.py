"""TensorBoard summaries beyond Keras' curves: the HParams dashboard and conv1 filter images."""

import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from keras_transfer import catalog
from keras_transfer.nets import backbones

# TensorBoard's HParams dashboard shows the first five hparams by name (the backend sorts them
# by name, the table ticks five) and prints every number with five significant digits (n = 1
# reads "1.0000"). So the five that answer the paper's question carry plain names that sort
# first, integers are strings, and what describes the trial rather than the net is named
# "trial/..." (sorting after them); display names are what a reader sees.
TRIAL = {"replicate": "replicate", "split": "split", "split_seed": "split seed",
         "seed": "seed"}
METRICS = [hp.Metric("hparams/top1_best10", display_name="top-1 best-10 (the paper's)"),
           hp.Metric("hparams/converged", display_name="converged (1 = yes)"),
           hp.Metric("hparams/top1", display_name="top-1 final")]


def source_name(source):
    return "none" if source in (None, "-") else source


def session_values(row):
    """A results row's hparams as the dashboard shows them: {name: str}."""
    values = {
        "kind": row["kind"],
        "n": f"{row['n']}",
        "source": "random" if row["kind"] == "random" else source_name(row.get("source")),
        "strategy": row.get("strategy") or catalog.strategy(row["kind"], row["fine_tune"]),
        "target": row["target"],
        "trial/replicate": f"{row.get('replicate', 0)}",
        "trial/split": row["split"],
        "trial/seed": f"{row['seed']}",
    }
    if row.get("split_seed") is not None:
        values["trial/split_seed"] = f"{row['split_seed']}"
    k = row.get("per_class") or row.get("target_per_class")
    if k:
        values["target_per_class"] = f"{k}"
    return values


def experiment_hparams(rows):
    """The dashboard's columns for these rows (the sweep's planned nets as rows): every hparam
    that some row has, with its values in a sensible order."""
    values = {}
    for row in rows:
        for name, value in session_values(row).items():
            values.setdefault(name, set()).add(value)
    display = {**{f"trial/{k}": v for k, v in TRIAL.items()},
               "target_per_class": "images per class"}
    ordered = []
    for name in sorted(values):
        domain = sorted(values[name], key=lambda v: (len(v), v) if v.isdigit() else (0, v))
        ordered.append(hp.HParam(name, hp.Discrete(domain), display_name=display.get(name)))
    return ordered


def write_experiment(logdir, rows):
    """The HParams experiment config (columns and metrics) at `logdir`, replacing an earlier
    one: a sweep run again with more nets widens it."""
    for old in tf.io.gfile.glob(os.path.join(logdir, "events.out.tfevents.*.experiment")):
        tf.io.gfile.remove(old)
    with tf.summary.create_file_writer(logdir, filename_suffix=".experiment").as_default():
        hp.hparams_config(hparams=experiment_hparams(rows), metrics=METRICS)


def write_hparams(run_dir, row):
    """One session for the HParams dashboard: the net's hparams (from its results row) and its
    metrics at its last training step."""
    with tf.summary.create_file_writer(run_dir).as_default():
        hp.hparams(session_values(row), trial_id=f"r{row.get('replicate', 0)}/{row['net']}")
        for key in ("top1_best10", "top1"):
            if row.get(key) is not None:  # a diverged net has no accuracy to show
                tf.summary.scalar(f"hparams/{key}", row[key], step=row["steps"])
        if row.get("converged") is not None:
            tf.summary.scalar("hparams/converged", float(row["converged"]), step=row["steps"])


def filter_grid(kernel):
    """conv1 kernels (k, k, 3, f) as one RGB image (1, H, W, 3), each filter scaled to 0..1."""
    k, _, _, count = kernel.shape
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    grid = np.ones((rows * (k + 1) + 1, cols * (k + 1) + 1, 3), np.float32)
    for i in range(count):
        f = kernel[..., i]
        f = (f - f.min()) / max(float(f.max() - f.min()), 1e-12)
        r, c = divmod(i, cols)
        grid[1 + r * (k + 1):1 + r * (k + 1) + k, 1 + c * (k + 1):1 + c * (k + 1) + k] = f
    return grid[None]


def write_conv1_filters(run_dir, model, step):
    kernel = np.asarray(backbones.first_conv(model).get_weights()[0], np.float32)
    with tf.summary.create_file_writer(run_dir).as_default():
        tf.summary.image("conv1_filters", filter_grid(kernel), step=step)
