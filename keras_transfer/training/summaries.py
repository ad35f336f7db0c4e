"""TensorBoard summaries beyond Keras' curves: the HParams dashboard and conv1 filter images."""

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from keras_transfer import catalog
from keras_transfer.nets import alexnet

# Every net's hparams; the experiment config at the workdir root gives the dashboard its columns.
HPARAMS = {
    "net": hp.HParam("net"),
    "kind": hp.HParam("kind", hp.Discrete(list(catalog.KINDS))),
    "source": hp.HParam("source"),
    "target": hp.HParam("target"),
    "n": hp.HParam("n", hp.IntInterval(0, catalog.MAX_N)),
    "fine_tune": hp.HParam("fine_tune", hp.Discrete([False, True])),
    "split": hp.HParam("split"),
    "split_seed": hp.HParam("split_seed"),
    "seed": hp.HParam("seed"),
    "per_class": hp.HParam("per_class"),
    "target_per_class": hp.HParam("target_per_class"),
}
METRICS = [hp.Metric("hparams/top1", display_name="top1 (final)"),
           hp.Metric("hparams/top1_best10", display_name="top1 best-10 mean"),
           hp.Metric("epoch_top1", group="validation", display_name="val top1 curve")]


def write_experiment(workdir):
    """The HParams experiment config at the workdir root (all columns, all metrics)."""
    with tf.summary.create_file_writer(workdir).as_default():
        hp.hparams_config(hparams=list(HPARAMS.values()), metrics=METRICS)


def write_hparams(run_dir, hparams, result):
    """One session for the HParams dashboard: the net's hparams and its final metrics."""
    values = {HPARAMS[k]: _scalar(v) for k, v in hparams.items() if k in HPARAMS}
    with tf.summary.create_file_writer(run_dir).as_default():
        hp.hparams(values, trial_id=hparams["net"])
        for key in ("top1", "top1_best10"):
            if result.get(key) is not None:  # a diverged net has no accuracy to show
                tf.summary.scalar(f"hparams/{key}", result[key], step=result["steps"])


def _scalar(value):
    # HParams values must be bool, int, float or str; None becomes "-".
    return "-" if value is None else value


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
    kernel = np.asarray(alexnet.layer(model, 1).get_weights()[0], np.float32)
    with tf.summary.create_file_writer(run_dir).as_default():
        tf.summary.image("conv1_filters", filter_grid(kernel), step=step)
