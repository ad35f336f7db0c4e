"""What a sweep prints while it trains: a bar for the sweep, one for each unit in training (one
per worker), a line per finished net, and an ETA from the measured cost of what is left.

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

import dataclasses
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

    With several workers (experiment.workers) several units are in flight at once: each has
    its bar, named by its worker; the workers' steps and evaluations arrive as `step` and
    `evaluated` calls, and the ETA divides the work left over the workers.
    """

    def __init__(self, total_nets, done_nets, units, steps, bars=None, describe=None, workers=1):
        """units: the (unit, todo) pairs still to train; steps: training steps per net.
        bars: draw bars (default: when stdout is a terminal). describe(unit): its name.
        workers: how many units train at once."""
        self.console = Console(file=sys.stdout, soft_wrap=True, highlight=False)
        self.bars = self.console.is_terminal if bars is None else bars
        self.total, self.done, self.steps = total_nets, done_nets, steps
        self.pending = [unit for unit, _ in units]
        self.describe = describe or (lambda unit: unit[0].key)
        self.workers = workers
        self.cost = CostModel()
        self.start_time = time.time()
        self._flight = {}  # id(unit) -> Flight of each unit in training
        self.abandoned = 0  # units that will not finish in this run
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
            console=self.console, disable=not self.bars)

    def __enter__(self):
        self._progress.start()
        self._sweep_task = self._progress.add_task("sweep (nets)", total=self.total,
                                                   completed=self.done, eta="")
        return self

    def __exit__(self, *exc):
        self._progress.stop()
        return False

    def print(self, text):
        """A line above the bars (or a plain line where there are none)."""
        self.console.print(text, markup=False)

    def eta(self):
        """Seconds left: what is left of the units in training and every unit after them,
        shared by the workers; None while nothing has been measured."""
        left = 0.0
        for unit in self.pending:
            per_step = self.cost.seconds_per_step(unit)
            if per_step is None:
                return None
            flight = self._flight.get(id(unit))
            left += per_step * self.steps * (1.0 - (flight.fraction if flight else 0.0))
        return left / max(1, min(self.workers, len(self.pending)))

    def eta_text(self):
        left = self.eta()
        if left is None:
            return "ETA: after the first unit"
        guessed = sum(not self.cost.measured_like(unit) for unit in self.pending)
        if guessed:  # a group of heads on one trunk costs far less than its nets alone
            return f"ETA ~{duration(left)} ({guessed} units of kinds not yet timed)"
        return f"ETA {duration(left)}"

    def start(self, unit, worker=None):
        """Marks `unit` as training (on `worker`, named on its bar and its lines); returns the
        Keras callback that moves its bar when it trains in this process."""
        name = self.describe(unit) if worker is None else f"{worker}: {self.describe(unit)}"
        task = self._progress.add_task(name, total=self.steps, eta="") if self.bars else None
        self._flight[id(unit)] = Flight(name, time.time(), task, reported=time.time())
        self._progress.update(self._sweep_task, eta=self.eta_text())
        return StepCallback(self, unit)

    def step(self, unit, step):
        """After each training step of `unit` (`step` done so far)."""
        flight = self._flight[id(unit)]
        flight.fraction = min(step / self.steps, 1.0) if self.steps else 1.0
        if self.bars:
            self._progress.update(flight.task, completed=step)
            self._progress.update(self._sweep_task, eta=self.eta_text())

    def evaluated(self, unit, step, top1, every=PROGRESS_SECONDS):
        """After an evaluation of `unit` (`top1`: its nets' mean validation top-1, or None):
        without bars, a line on a unit that has trained for long, at most every `every` s."""
        flight = self._flight[id(unit)]
        self.step(unit, step)
        if self.bars or time.time() - flight.reported < every:
            return
        flight.reported = time.time()
        mean = "mean " if len(unit) > 1 else ""
        top1_text = "" if top1 is None else f", {mean}validation top-1 {top1:.3f}"
        self.print(f"  {flight.name}: step {step}/{self.steps} ({flight.fraction:.0%})"
                   f"{top1_text}, {duration(time.time() - flight.start)} so far; sweep "
                   f"{self.eta_text()}")

    def finish(self, unit, todo, lines):
        """The unit ended: one line per recorded net (`lines`), then (without bars) its time and
        the sweep's ETA."""
        flight = self._flight.pop(id(unit))
        seconds = time.time() - flight.start
        self.cost.add(unit, seconds, self.steps)
        self._drop(unit, flight)
        self.done += len(todo)
        width = len(str(self.total))
        for i, line in enumerate(lines):
            self.print(f"[{self.done - len(todo) + i + 1:>{width}}/{self.total}] {line}")
        elapsed = duration(time.time() - self.start_time)
        left = (self.eta_text() if self.pending else "sweep trained" if not self.abandoned
                else f"sweep ended, {self.abandoned} units not trained")
        if not self.bars:  # on a terminal the bars say it
            self.print(f"{' ' * (2 * width + 3)}{flight.name}: {duration(seconds)}; "
                       f"{self.done}/{self.total} nets, {elapsed} elapsed, {left}")
        self._progress.update(self._sweep_task, completed=self.done, eta=self.eta_text()
                              if self.pending else "")

    def abandon(self, unit, why):
        """`unit` will not finish in this run (its worker failed, or a parent of it did): one
        line saying why; the ETA no longer counts it."""
        flight = self._flight.pop(id(unit), None)
        self._drop(unit, flight)
        self.abandoned += 1
        self.print(f"FAILED {flight.name if flight else self.describe(unit)}: {why}")

    def _drop(self, unit, flight):
        self.pending = [u for u in self.pending if u is not unit]
        if flight is not None and flight.task is not None:
            self._progress.remove_task(flight.task)


@dataclasses.dataclass
class Flight:
    """A unit in training: its name on the console, when it started, its bar."""
    name: str
    start: float
    task: object = None
    fraction: float = 0.0
    reported: float = 0.0  # when it last printed its progress


class StepCallback(keras.callbacks.Callback):
    """Moves a unit's bar after every training step, and passes its evaluations on
    (`SweepProgress.evaluated`); `progress` is the console, or a worker's messenger that
    forwards both to the console in the sweep's process."""

    def __init__(self, progress, unit):
        super().__init__()
        self.progress, self.unit = progress, unit
        self._step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._step = epoch * self.params["steps"]  # a resumed unit starts part-way
        self.progress.step(self.unit, self._step)

    def on_train_batch_end(self, batch, logs=None):
        self.progress.step(self.unit, self._step + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._step = (epoch + 1) * self.params["steps"]
        top1 = [v for k, v in (logs or {}).items() if k.startswith("val_") and k.endswith("top1")]
        self.progress.evaluated(self.unit, self._step, statistics.fmean(top1) if top1 else None)
