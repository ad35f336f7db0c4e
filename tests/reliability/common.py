"""Helpers shared by the reliability tests: tiny configs, the CLI as a subprocess, tree digests."""

import hashlib
import os
import subprocess
import sys

import keras
import numpy as np

from keras_transfer.experiment.config import SweepConfig
from keras_transfer.training.recipe import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000)


def tiny_config(workdir, **overrides):
    """A sweep of caffenet_small nets with 4 steps; only base nets unless overridden."""
    return SweepConfig(workdir=str(workdir), **{
        "layers": (1,), "recipe": TINY, "experiments": ("base",), "export": False, **overrides})


def cli_env():
    # KERAS_TRANSFER_CACHE comes from the autouse fixture in tests/conftest.py.
    return {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def cli_command(workdir, *args):
    return [sys.executable, "-m", "keras_transfer.sweep", "--flagfile=flags/tiny.flags",
            f"--workdir={workdir}", *args]


def run_cli(workdir, *args, timeout=600):
    """`python -m keras_transfer.sweep` with flags/tiny.flags; the CompletedProcess."""
    return subprocess.run(cli_command(workdir, *args), capture_output=True, text=True,
                          env=cli_env(), cwd=REPO, timeout=timeout)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def tree_digest(workdir):
    """{relative path: sha256} of every file under workdir except TensorBoard event logs."""
    digest = {}
    for root, _, files in os.walk(workdir):
        for name in files:
            if "tfevents" not in name:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    digest[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
    return digest


def model_weights(path):
    """The weights of a saved model.keras, as numpy arrays in layer order."""
    return [np.asarray(w) for w in keras.saving.load_model(path).get_weights()]


def assert_same_weights(path_a, path_b):
    a, b = model_weights(path_a), model_weights(path_b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
