"""What a sweep prints while it trains: a bar for the sweep, one for the unit in training, a
line per finished net, and an ETA from the measured cost of what is left.

A unit is what trains as one model: one net, or a fused group (experiment.groups). The sweep
bar counts nets, so a group of seven advances it by seven when it ends; the unit bar counts
the group's training steps meanwhile. The ETA sums, over the units still to train, the measured
seconds per training step of the latest unit of the same shape (the same (n, mode) of each net:
the same compiled model), else of the same mode and size, else per net of units of the same
mode (a net with n = 0, a base, is its own mode: from scratch), times their steps. A mode not
timed yet is costed from what a net alone costs (the bases; a fused group's cost per net
divided by FUSED_COST_PER_NET, measured) times that factor for its own kind of group; until
one unit has finished there is no measurement and no ETA is shown.

The bars are rich's (a Keras dependency), drawn only on a terminal. Elsewhere (a CI log,
`> file`) the same lines are printed without bars, and a unit that trains for long prints a
line of its progress every PROGRESS_SECONDS, so a log never falls silent for hours.
"""

import statistics
import sys
import time

import keras
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from keras_transfer.nets import transfer

PROGRESS_SECONDS = 300.0  # without a terminal: a unit's progress line at most this often
# A fused group's cost per net and step relative to a net trained alone, for a mode not timed
# yet: heads on one frozen trunk (frozen, random-frozen, truncate) about 0.2, whole nets side by
# side (fine-tuned) about 0.45; they share one input pipeline and fill the cores better than one
# small net (the default sweep on 2 CPU cores, BENCHMARKS.md "Default sweep"). Only the first
# ETA of a sweep uses these: each mode's own measurement replaces them after its first unit.
FUSED_COST_PER_NET = {"shared_trunk": 0.2, "whole_nets": 0.45}


def shape(unit):
    """What a unit's cost per step depends on: each net's (n, mode)."""
    return tuple((net.n, net.mode) for net in unit)


def fused_cost(key):
    """A unit's cost per net relative to a net trained alone (1 for a unit of one net)."""
    if len(key) == 1:
        return 1.0
    shared = mode_of(key) in transfer.SHARED_TRUNK
    return FUSED_COST_PER_NET["shared_trunk" if shared else "whole_nets"]


def mode_of(key):
    """The mode of a unit's nets (of its shape `key`); "scratch" for a base (n = 0), which
    trains every layer whatever its recorded mode."""
    n, mode = key[0]
    return "scratch" if n == 0 else mode


def duration(seconds):
    """"42 s", "12 min", "3.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class CostModel:
    """Seconds per training step of the units trained so far, by shape."""

    def __init__(self):
        self.measured = []  # (shape, seconds per step)

    def add(self, unit, seconds, steps):
        if steps > 0:
            self.measured.append((shape(unit), seconds / steps))

    def measured_like(self, unit):
        """Whether a unit of the same shape, or of the same size and mode, has been measured
        (otherwise its cost is extrapolated from other kinds of unit)."""
        key = shape(unit)
        return any(k == key or (len(k), mode_of(k)) == (len(key), mode_of(key))
                   for k, _ in self.measured)

    def seconds_per_step(self, unit):
        """The estimate for `unit`, or None before anything was measured."""
        key = shape(unit)
        same = [s for k, s in self.measured if k == key]
        if not same:
            size = (len(key), mode_of(key))  # the same number of nets and mode
            same = [s for k, s in self.measured if (len(k), mode_of(k)) == size]
        if same:
            # The latest: a sweep's first units also pay one-off costs (the data cache, the
            # first graphs), which its later ones of the same shape do not.
            return same[-1]
        if not self.measured:
            return None
        mode = [s / len(k) for k, s in self.measured if mode_of(k) == mode_of(key)]
        if mode:
            return statistics.fmean(mode) * len(key)
        # What a net trained alone costs, from every unit measured, each unfused by its factor.
        alone = statistics.fmean(s / len(k) / fused_cost(k) for k, s in self.measured)
        return alone * fused_cost(key) * len(key)


class SweepProgress:
    """The sweep's console. Use as a context manager around the units' training:

        with SweepProgress(len(nets), len(done), units, steps) as progress:
            for unit, todo in units:
                callback = progress.start(unit)
                rows = train(unit, todo, callbacks=[callback])
                progress.finish(unit, todo, rows)
    """

    def __init__(self, total_nets, done_nets, units, steps, bars=None, describe=None):
        """units: the (unit, todo) pairs still to train; steps: training steps per net.
        bars: draw bars (default: when stdout is a terminal). describe(unit): its name."""
        self.console = Console(file=sys.stdout, soft_wrap=True, highlight=False)
        self.bars = self.console.is_terminal if bars is None else bars
        self.total, self.done, self.steps = total_nets, done_nets, steps
        self.pending = [unit for unit, _ in units]
        self.describe = describe or (lambda unit: unit[0].key)
        self.cost = CostModel()
        self.start_time = time.time()
        self._unit_start = None
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
            console=self.console, disable=not self.bars)

    def __enter__(self):
        self._progress.start()
        self._sweep_task = self._progress.add_task("sweep (nets)", total=self.total,
                                                   completed=self.done, eta="")
        self._unit_task = None
        return self

    def __exit__(self, *exc):
        self._progress.stop()
        return False

    def print(self, text):
        """A line above the bars (or a plain line where there are none)."""
        self.console.print(text, markup=False)

    def eta(self, fraction_of_current=0.0):
        """Seconds left: the rest of the unit in training and every unit after it; None
        while nothing has been measured."""
        left = 0.0
        for i, unit in enumerate(self.pending):
            per_step = self.cost.seconds_per_step(unit)
            if per_step is None:
                return None
            share = 1.0 - fraction_of_current if i == 0 and self._unit_start else 1.0
            left += per_step * self.steps * share
        return left

    def eta_text(self, fraction_of_current=0.0):
        left = self.eta(fraction_of_current)
        if left is None:
            return "ETA: after the first unit"
        guessed = sum(not self.cost.measured_like(unit) for unit in self.pending)
        if guessed:  # a group of heads on one trunk costs far less than its nets alone
            return f"ETA ~{duration(left)} ({guessed} units of kinds not yet timed)"
        return f"ETA {duration(left)}"

    def start(self, unit):
        """Marks `unit` (the first pending one) as training; returns the Keras callback that
        moves its bar."""
        self._unit_start = time.time()
        if self.bars:
            self._unit_task = self._progress.add_task(
                self.describe(unit), total=self.steps, eta="")
        self._progress.update(self._sweep_task, eta=self.eta_text())
        return StepCallback(self, unit)

    def step(self, unit, step, logs=None):
        """Called by the unit's callback after each training step (`step` done so far)."""
        fraction = min(step / self.steps, 1.0) if self.steps else 1.0
        if self.bars:
            self._progress.update(self._unit_task, completed=step)
            self._progress.update(self._sweep_task, eta=self.eta_text(fraction))

    def report_progress(self, unit, step, top1):
        """Without bars: one line on a unit that has trained for long."""
        if self.bars:
            return
        fraction = min(step / self.steps, 1.0) if self.steps else 1.0
        mean = "mean " if len(unit) > 1 else ""
        top1_text = "" if top1 is None else f", {mean}validation top-1 {top1:.3f}"
        self.print(f"  {self.describe(unit)}: step {step}/{self.steps} ({fraction:.0%})"
                   f"{top1_text}, {duration(time.time() - self._unit_start)} so far; sweep "
                   f"{self.eta_text(fraction)}")

    def finish(self, unit, todo, lines):
        """The unit ended: one line per recorded net (`lines`), then (without bars) its time and
        the sweep's ETA."""
        seconds = time.time() - self._unit_start
        self.cost.add(unit, seconds, self.steps)
        self.pending.pop(0)
        self._unit_start = None
        self.done += len(todo)
        if self._unit_task is not None:
            self._progress.remove_task(self._unit_task)
            self._unit_task = None
        width = len(str(self.total))
        for i, line in enumerate(lines):
            self.print(f"[{self.done - len(todo) + i + 1:>{width}}/{self.total}] {line}")
        elapsed = duration(time.time() - self.start_time)
        left = (self.eta_text() if self.pending else "sweep trained")
        if not self.bars:  # on a terminal the bars say it
            self.print(f"{' ' * (2 * width + 3)}{self.describe(unit)}: {duration(seconds)}; "
                       f"{self.done}/{self.total} nets, {elapsed} elapsed, {left}")
        self._progress.update(self._sweep_task, completed=self.done, eta=self.eta_text()
                              if self.pending else "")


class StepCallback(keras.callbacks.Callback):
    """Moves a unit's bar after every training step; without a terminal, prints the unit's
    progress after an evaluation at most every PROGRESS_SECONDS."""

    def __init__(self, progress, unit, every=PROGRESS_SECONDS):
        super().__init__()
        self.progress, self.unit, self.every = progress, unit, every
        self._step, self._last = 0, time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._step = epoch * self.params["steps"]  # a resumed unit starts part-way
        self.progress.step(self.unit, self._step)

    def on_train_batch_end(self, batch, logs=None):
        self.progress.step(self.unit, self._step + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._step = (epoch + 1) * self.params["steps"]
        if time.time() - self._last >= self.every:
            self._last = time.time()
            top1 = [v for k, v in (logs or {}).items() if k.startswith("val_")
                    and k.endswith("top1")]
            self.progress.report_progress(self.unit, self._step,
                                          statistics.fmean(top1) if top1 else None)
