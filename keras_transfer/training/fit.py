"""The one training path, for one net or a group of nets trained as one model.

A group's model has one output per net (`nets.fused`); its logs name each net's metrics with
the output's prefix ("out3_top1"). A single net is a group of one whose prefix is empty. `fit`
restores the newest checkpoint that belongs to the caller's owner, trains in intervals of
`eval_every` steps, evaluates after each one, writes every net's history row and TensorBoard
curves in that net's run directory, checkpoints (at most every `checkpoint_seconds`), stops
cleanly on SIGTERM/SIGINT, stops once every net's loss has blown up, and returns one result per
net. Whole intervals only are recorded (checkpoints.IntervalCallback), so a resumed run redoes
the interval a signal cut short and sees the data an uninterrupted run would.
"""

import dataclasses
import os
import signal
import time
import warnings

import keras
import tensorflow as tf
from keras import ops

from keras_transfer.nets import backbones
from keras_transfer.training import checkpoints, history
from keras_transfer.training.recipe import compile_model

CHECKPOINTS = "checkpoints"  # under the state directory (a net's run directory, a group's own)


@dataclasses.dataclass(frozen=True)
class Member:
    """A net that a fit trains and records: its run directory and the prefix of its metrics in
    the model's logs ("" for a model that is the net itself, "out3_" for a group's output)."""
    run_dir: str
    prefix: str = ""

    def metrics(self, logs):
        """This net's metrics from the model's logs, named as a single net's ("val_top1")."""
        found = {}
        for key, value in (logs or {}).items():
            val = "val_" if key.startswith("val_") else ""
            bare = key[len(val):]
            if bare.startswith(self.prefix):
                found[val + bare[len(self.prefix):]] = float(value)
        return found


SAMPLE = "sample_"  # history keys of the training sample's metrics: sample_loss, sample_top1
SPLITS = ("train", "validation", "train_sample")  # TensorBoard runs under a net's run directory


class NetLogs(checkpoints.IntervalCallback):
    """Per net: its history.jsonl row and TensorBoard scalars (epoch_<metric> in train/,
    validation/ and train_sample/, plus the learning rate, at the training step) after every
    whole interval. With `sample_data` (a fixed, un-augmented sample of the training images,
    data.Dataset.train_sample) the model is evaluated on it too: its loss and top-1 beside the
    validation ones are the regime diagnostic (training.regime), and TensorBoard draws them in
    the same card as the validation curve."""

    def __init__(self, members, eval_every, share, sample_data=None):
        """share: how many nets the model trains; each is recorded with that share of the time."""
        super().__init__()
        self.members, self.eval_every, self.share = members, eval_every, share
        self.sample_data = sample_data

    def on_train_begin(self, logs=None):
        self._writers = {(m.run_dir, split): tf.summary.create_file_writer(
            os.path.join(m.run_dir, split))
            for m in self.members for split in SPLITS}

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if not self.interval_complete():
            return  # cut short by a signal: redone on resume
        seconds = (time.time() - self._start) / self.share
        learning_rate = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        sample_logs = (self.model.evaluate(self.sample_data, verbose=0, return_dict=True)
                       if self.sample_data is not None else {})
        for member in self.members:
            values = member.metrics(logs)
            sample = {SAMPLE + k: v for k, v in member.metrics(sample_logs).items()}
            history.write_history_row(os.path.join(member.run_dir, history.HISTORY), epoch,
                                      self.eval_every, seconds,
                                      {**values, **sample, "learning_rate": learning_rate})
            scalars = {
                "train": {**{k: v for k, v in values.items() if not k.startswith("val_")},
                          "learning_rate": learning_rate},
                "validation": {k[4:]: v for k, v in values.items() if k.startswith("val_")},
                "train_sample": {k[len(SAMPLE):]: v for k, v in sample.items()},
            }
            for split, named in scalars.items():
                if not named:
                    continue
                with self._writers[(member.run_dir, split)].as_default():
                    for key, value in named.items():  # x axis: training steps, as HParams'
                        tf.summary.scalar(f"epoch_{key}", value,
                                          step=(epoch + 1) * self.eval_every)
                self._writers[(member.run_dir, split)].flush()


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
    """Training stopped on a signal; the state directory holds a resumable checkpoint."""

    def __init__(self, message, signum=None):
        super().__init__(message)
        self.signum = signum


class StopOnDivergence(keras.callbacks.Callback):
    """Notes the first batch at which each net's running loss is blown up (`history.blown_up`)
    and stops training once every net's has: the rest of the budget would only burn time on
    nets recorded as diverged anyway. In a group the other nets train on (their variables
    appear in their own losses only)."""

    def __init__(self, members):
        super().__init__()
        self.members = members
        self.step, self.loss = {}, {}  # by run directory
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for member in self.members:
            loss = (logs or {}).get(member.prefix + "loss")
            if member.run_dir not in self.step and loss is not None and history.blown_up(
                    float(loss)):
                self.step[member.run_dir] = self._epoch * self.params["steps"] + batch + 1
                self.loss[member.run_dir] = float(loss)
        if len(self.step) == len(self.members):
            self.model.stop_training = True


def replica_batch_norms(model):
    """The BatchNormalization layers whose statistics must be synchronized while `model` trains:
    all of them under a strategy of several replicas (each replica would otherwise normalise by
    its own slice of the batch, a noisier and different recipe than one device's; the recipe's
    batch is the global one), none on one replica or off the TensorFlow backend (the only one
    whose BatchNorm synchronizes)."""
    if (keras.backend.backend() != "tensorflow"
            or model.distribute_strategy.num_replicas_in_sync == 1):  # the scope it was built in
        return []
    return [layer for layer in backbones.all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def fit(model, members, train_data, eval_data, config, state_dir, num_classes, *,
        verbose="auto", extra_callbacks=(), checkpoint_seconds=0.0, owner=None, share=None,
        sample_data=None):
    """Trains `model` (one net, or a group with one output per net) and returns one result per
    member, in order.

    members: the `Member`s whose run directories this fit records (a group resumed after some
    of its nets were written records only the rest). train_data is a dataset, or
    `start_batch -> dataset`: a resumed run then gets the stream from the batch it stopped at.
    state_dir: where the checkpoints go (STATE_DIR/checkpoints). owner: the identity (a net's
    config hash, a group's members) the checkpoints are for; another owner's are never resumed.
    share: how many nets the model trains (default: the members). sample_data: a fixed
    sample of the training images, evaluated after every interval too (NetLogs). A model that
    is not
    compiled is compiled with the recipe; one built in a distribution strategy's scope must be
    compiled there by the caller.
    """
    if model.optimizer is None:
        compile_model(model, config, num_classes)
    checkpointer = checkpoints.Checkpointer(os.path.join(state_dir, CHECKPOINTS),
                                            min_seconds=checkpoint_seconds, owner=owner)
    initial_epoch = checkpointer.restore(model)
    if callable(train_data):
        train_data = train_data(initial_epoch * config.eval_every)
    stopper, divergence = StopOnSignal(), StopOnDivergence(members)
    callbacks = [
        # Order matters: history and checkpoint are written only for completed intervals.
        NetLogs(members, config.eval_every, share or len(members), sample_data),
        checkpointer, stopper, divergence, *extra_callbacks,
    ]
    norms = replica_batch_norms(model)
    if initial_epoch < config.epochs:
        for layer in norms:
            layer.synchronized = True
        try:
            with warnings.catch_warnings():
                # The finite validation set ends each evaluation; Keras reads that as "ran out".
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                model.fit(train_data, validation_data=eval_data, epochs=config.epochs,
                          initial_epoch=initial_epoch, steps_per_epoch=config.eval_every,
                          callbacks=callbacks, verbose=verbose, shuffle=False)
        finally:
            stopper.restore()
            for layer in norms:  # the saved model stays loadable on one device or backend
                layer.synchronized = False
    if stopper.stopped and len(divergence.step) < len(members):
        name = signal.Signals(stopper.signum).name if stopper.signum else "a signal"
        done = len(history.read_history(os.path.join(members[0].run_dir, history.HISTORY)))
        raise Interrupted(f"training of {state_dir} stopped by {name} after the checkpoint of "
                          f"step {done * config.eval_every}; rerun the same command to resume",
                          stopper.signum)
    return [history.diverged_result(m.run_dir, config, divergence.step[m.run_dir],
                                    divergence.loss[m.run_dir])
            if m.run_dir in divergence.step else history.result_from_history(m.run_dir, config)
            for m in members]
