"""Compiles and trains one net with the paper's recipe, resumable, with TensorBoard curves.

The recipe (PAPER.md): SGD with momentum 0.9, learning rate divided by 10 every `lr_step` steps,
biases at twice the learning rate, weight decay on kernels only (set in `alexnet`); optionally a
linear warm-up (not in the paper; the embedded default uses it, BUILD_NOTES.md). Training runs
in "epochs" of `eval_every` steps; after each one the net is evaluated on the target half's
validation set (and checkpointed, at most every `checkpoint_seconds`), so the paper's best-10
metric has its evaluations.
"""

import dataclasses
import json
import os
import signal
import time
import warnings

import keras
import numpy as np
from keras import ops

from keras_transfer.training import checkpoints, convergence


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One net's training recipe; every field is part of the net's identity (config hash)."""
    steps: int = 450_000
    batch_size: int = 256
    learning_rate: float = 0.01
    lr_step: int = 100_000
    lr_gamma: float = 0.1
    momentum: float = 0.9
    bias_lr_multiplier: float = 2.0
    eval_every: int = 1_000
    seed: int = 0
    jit_compile: bool = False
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps; 0: none (the paper's)
    lr_policy: str = "step"  # Caffe's "step" (the paper's) or "poly" (linear decay to 0)

    def __post_init__(self):
        if self.steps <= 0 or self.eval_every <= 0 or self.batch_size <= 0:
            raise ValueError(f"steps, eval_every and batch_size must be positive: {self}")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must be in [0, steps), got {self.warmup_steps}")
        if self.lr_policy not in LR_POLICIES:
            raise ValueError(f"lr_policy must be one of {LR_POLICIES}, got {self.lr_policy!r}")
        if self.steps % self.eval_every:
            raise ValueError(f"steps ({self.steps}) must be a multiple of eval_every "
                             f"({self.eval_every})")
        # Recipes that cannot train are refused before anything is trained or written.
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate={self.learning_rate}: must be > 0 (SGD with a "
                             "rate of 0 or below does not train or diverges)")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum={self.momentum}: must be in [0, 1)")
        if self.lr_policy == "step" and not 0 < self.lr_gamma <= 1:
            raise ValueError(f"--lr_gamma={self.lr_gamma}: must be in (0, 1]")

    @property
    def epochs(self):
        return self.steps // self.eval_every


@keras.saving.register_keras_serializable(package="keras_transfer")
class CaffeSGD(keras.optimizers.SGD):
    """SGD whose bias variables learn at `bias_lr_multiplier` times the learning rate (Caffe's
    `lr_mult: 2` on biases); Keras has no per-variable learning rates."""

    def __init__(self, bias_lr_multiplier=2.0, **kwargs):
        super().__init__(**kwargs)
        self.bias_lr_multiplier = bias_lr_multiplier

    def update_step(self, gradient, variable, learning_rate):
        # On the TF backend this sees the raw tf.Variable ("model/fc6/bias:0"; with
        # MirroredStrategy "…/bias/replica_1:0"), elsewhere the Keras variable ("bias").
        if "bias" in variable.name.split(":")[0].split("/")[-2:]:
            learning_rate = learning_rate * self.bias_lr_multiplier
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "bias_lr_multiplier": self.bias_lr_multiplier}


@keras.saving.register_keras_serializable(package="keras_transfer")
class CaffeSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Caffe's learning-rate policies, times a linear warm-up min(1, (step + 1) / warmup_steps)
    when warmup_steps > 0:
    "step": lr * gamma ** floor(step / lr_step) (the paper's);
    "poly": lr * (1 - step / max_steps) ** power, Caffe's "poly" with power 1: a linear decay
    to 0 at max_steps (no sudden drop; BUILD_NOTES.md, Default sweep)."""

    def __init__(self, learning_rate, lr_step, lr_gamma, warmup_steps=0, policy="step",
                 max_steps=None):
        if policy not in LR_POLICIES:
            raise ValueError(f"lr_policy must be one of {LR_POLICIES}, got {policy!r}")
        self.learning_rate, self.lr_step = learning_rate, lr_step
        self.lr_gamma, self.warmup_steps = lr_gamma, warmup_steps
        self.policy, self.max_steps = policy, max_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.policy == "poly":
            lr = self.learning_rate * ops.maximum(0.0, 1.0 - step / self.max_steps)
        else:
            lr = self.learning_rate * ops.power(self.lr_gamma, ops.floor(step / self.lr_step))
        if self.warmup_steps:
            lr = lr * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return lr

    def get_config(self):
        return {"learning_rate": self.learning_rate, "lr_step": self.lr_step,
                "lr_gamma": self.lr_gamma, "warmup_steps": self.warmup_steps,
                "policy": self.policy, "max_steps": self.max_steps}


LR_POLICIES = ("step", "poly")


def compile_model(model, config, num_classes):
    """Compiles `model` (whose `trainable` flags are already set) with the paper's optimizer."""
    schedule = CaffeSchedule(config.learning_rate, config.lr_step, config.lr_gamma,
                             config.warmup_steps, config.lr_policy, config.steps)
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="top1")]
    if num_classes >= 10:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"))
    model.compile(
        optimizer=CaffeSGD(learning_rate=schedule, momentum=config.momentum,
                           bias_lr_multiplier=config.bias_lr_multiplier),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=metrics, jit_compile=config.jit_compile)


class HistoryLog(checkpoints.IntervalCallback):
    """Appends each evaluation's metrics to history.jsonl; survives resumes (dedup by epoch)."""

    def __init__(self, path, eval_every):
        super().__init__()
        self.path, self.eval_every = path, eval_every

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if not self.interval_complete():
            return  # cut short by a signal: redone on resume
        write_history_row(self.path, epoch, self.eval_every, time.time() - self._start,
                          {k: float(v) for k, v in (logs or {}).items()})


def write_history_row(path, epoch, eval_every, seconds, metrics):
    """Sets evaluation `epoch`'s row of history.jsonl (later rows, from a cut-short run that is
    being redone, are dropped); the file is replaced atomically."""
    rows = [r for r in read_history(path) if r["epoch"] < epoch]
    rows.append({"epoch": epoch, "step": (epoch + 1) * eval_every, "seconds": seconds,
                 **metrics})
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(tmp, path)


class DamagedHistory(ValueError):
    """A history.jsonl that cannot be read, or holds fewer evaluations than its run finished."""


def read_history(path):
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict) or "epoch" not in row:
                raise DamagedHistory(
                    f"{path}:{lineno} is damaged (not an evaluation record); delete "
                    f"{os.path.dirname(path)} and rerun the sweep to retrain that net (finished "
                    "nets are kept)")
            rows.append(row)
    return rows


def best_k_mean(values, k=10):
    """The paper's metric: the mean of the k highest values (all of them if fewer)."""
    top = sorted(values, reverse=True)[:k]
    return float(np.mean(top)) if top else float("nan")


class StopOnSignal(keras.callbacks.Callback):
    """On SIGTERM/SIGINT, stop at the end of the current batch, skipping the evaluation Keras
    would still run; the next run resumes from the last checkpoint (the partial interval is
    redone, see checkpoints.IntervalCallback)."""

    def __init__(self):
        super().__init__()
        self.stopped = False
        self.signum = None

    def on_train_begin(self, logs=None):
        self._previous = {s: signal.signal(s, self._handle)
                          for s in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum, frame):
        self.stopped, self.signum = True, signum
        self.model.stop_training = True

    def on_test_batch_end(self, batch, logs=None):
        if self.stopped:  # Keras evaluates the cut-short epoch; its numbers are discarded
            self.model.stop_evaluating = True

    def on_train_end(self, logs=None):
        self.restore()

    def restore(self):
        """Gives the previous handlers back; fit also calls it when training raises, else a
        dead handler would swallow the next SIGTERM of a long-lived process."""
        for s, handler in getattr(self, "_previous", {}).items():
            signal.signal(s, handler)
        self._previous = {}


class Interrupted(RuntimeError):
    """Training stopped on a signal; the run directory holds a resumable checkpoint."""

    def __init__(self, message, signum=None):
        super().__init__(message)
        self.signum = signum


def fit(model, train_data, eval_data, config, run_dir, num_classes, verbose="auto",
        extra_callbacks=(), checkpoint_seconds=0.0, owner=None):
    """Trains a compiled-or-not `model` in `run_dir`, resuming from its checkpoints.

    train_data is a dataset, or `start_batch -> dataset`: a resumed run then gets the stream
    from the batch it stopped at, so it sees the same data as an uninterrupted run.
    Returns a dict with top1 (final), top1_best10, top5, steps and train_seconds. The model
    must be built inside the distribution strategy's scope by the caller if one is used.
    checkpoint_seconds: checkpoint after an evaluation only when this long has passed since
    the last checkpoint (0: after every evaluation). owner: the identity (e.g. the config
    hash) checkpoints are written for; a checkpoint of another owner is never resumed.
    """
    if model.optimizer is None:
        compile_model(model, config, num_classes)
    checkpointer = checkpoints.Checkpointer(os.path.join(run_dir, "checkpoints"),
                                            min_seconds=checkpoint_seconds, owner=owner)
    initial_epoch = checkpointer.restore(model)
    if callable(train_data):
        train_data = train_data(initial_epoch * config.eval_every)
    history_path = os.path.join(run_dir, "history.jsonl")
    stopper, divergence = StopOnSignal(), StopOnDivergence()
    callbacks = [
        # Order matters: history and checkpoint are written only for completed intervals.
        HistoryLog(history_path, config.eval_every),
        checkpointer,
        keras.callbacks.TensorBoard(run_dir, write_graph=False, update_freq="epoch"),
        stopper, divergence, *extra_callbacks,
    ]
    if initial_epoch < config.epochs:
        try:
            with warnings.catch_warnings():
                # The finite validation set ends each evaluation; Keras reads that as "ran out".
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                model.fit(train_data, validation_data=eval_data, epochs=config.epochs,
                          initial_epoch=initial_epoch, steps_per_epoch=config.eval_every,
                          callbacks=callbacks, verbose=verbose, shuffle=False)
        finally:
            stopper.restore()
    if divergence.step is not None:
        return diverged_result(run_dir, config, divergence.step, divergence.loss)
    if stopper.stopped:
        name = signal.Signals(stopper.signum).name if stopper.signum else "a signal"
        raise Interrupted(f"training of {run_dir} stopped by {name} after the checkpoint of step "
                          f"{len(read_history(history_path)) * config.eval_every}; rerun the same "
                          "command to resume", stopper.signum)
    return result_from_history(run_dir, config)


class StopOnDivergence(keras.callbacks.Callback):
    """Stops training at the first batch whose running loss is blown up (`blown_up`): the rest
    of the budget would only burn time on a net that is recorded as diverged anyway."""

    def __init__(self):
        super().__init__()
        self.step = self.loss = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and blown_up(float(loss)):
            self.step = self._epoch * self.params["steps"] + batch + 1
            self.loss = float(loss)
            self.model.stop_training = True


def diverged_result(run_dir, config, step, loss):
    """The result of a net stopped at `step` because its loss blew up: status "diverged", no
    accuracy (the report lists it and averages it nowhere)."""
    curve = [h["val_top1"] for h in read_history(os.path.join(run_dir, "history.jsonl"))]
    return {
        "status": "diverged", "diverged_at_step": step, "diverged_loss": loss,
        "top1": None, "top1_best10": None, "top5": None, "converged": False,
        "convergence": convergence.diagnose(curve), "steps": config.steps,
        "train_seconds": None,
    }


def result_from_history(run_dir, config):
    """A finished net's result from its history.jsonl: final and best-10 top-1, top-5, the
    convergence diagnostic of its validation curve, steps and training seconds."""
    history = read_history(os.path.join(run_dir, "history.jsonl"))
    if len(history) < config.epochs:
        raise DamagedHistory(
            f"{run_dir}/history.jsonl holds {len(history)} of the {config.epochs} evaluations "
            f"its training ran (the file was truncated or replaced); delete {run_dir} and rerun "
            "the sweep to retrain that net (finished nets are kept)")
    last, curve = history[-1], [h["val_top1"] for h in history]
    diagnostic = convergence.diagnose(curve)
    # A blown-up net leaves chance-level numbers that look like a result: mark them.
    diverged = any(blown_up(h.get(key, 0.0)) for h in history for key in ("loss", "val_loss"))
    return {
        "status": "diverged" if diverged else "ok",
        "top1": last["val_top1"],
        "top1_best10": best_k_mean(curve),
        "top5": last.get("val_top5"),
        "converged": diagnostic["converged"],
        "convergence": diagnostic,
        "steps": config.steps,
        "train_seconds": round(sum(h["seconds"] for h in history), 3),
    }


# A cross-entropy of 1,000 puts e^-1000 on the true class: logits (and, with weight decay in the
# loss, weights) in the thousands. No training net gets there (a fresh one starts at ln(classes),
# 6.9 for 1,000 classes); a run with a negative learning rate reached 1e11 while staying finite.
DIVERGED_LOSS = 1e3


def blown_up(loss):
    """Whether a logged loss says the net diverged: not finite, or above DIVERGED_LOSS."""
    return loss is None or not np.isfinite(loss) or loss > DIVERGED_LOSS
