"""The local engine's worker processes: `--workers=N` single-threaded trainers that take the
sweep's units as their parents finish, so that every core trains.

The sweep's process plans, holds the workdir lock, hands out units (`plan.readiness`: a unit
whose bases are done; the KerasTuner chief hands out nets by the same rule), draws the one
console and writes the TensorBoard view. Each worker is a fresh Python process (spawned, so no
TensorFlow state is shared or forked) that opens the same data and plan and trains what it is
given through `runner.train_unit`, the path a sweep of one worker takes in its own process:
the same run directories, checkpoints and results rows. A unit's numbers do not depend on the
worker that trained it or on what that worker trained before (`runner.train_unit` starts
each unit from a fresh session; reused fused models get their optimizer and dropout state
reset), so any N writes the same rows.

Faults: a worker that dies (a signal, the OOM killer) fails only its unit: one line names it,
the units that need it are skipped, the others finish, and the sweep ends with an error naming
what to rerun; a rerun trains only what is missing, from the last checkpoint. A unit that
raises (a damaged base, a bug) stops the sweep as it would stop one process: the other workers
stop at their next step, keeping their checkpoints, and the error is raised here (a user error
is then one `error:` line).
Ctrl-C or SIGTERM stops every worker at its next step (fit.StopOnSignal); each leaves its
checkpoint, and the sweep raises fit.Interrupted. Workers die with the sweep's process
(PR_SET_PDEATHSIG), so a sweep killed with -9 leaves no trainer behind.
"""

import ctypes
import multiprocessing
import os
import pickle
import resource
import signal
import time
import traceback
from multiprocessing import connection

from keras_transfer import runtime
from keras_transfer.experiment import plan

# Above one worker's peak RSS on the embedded default (1.66 GB, BENCHMARKS.md "Workers"): N is
# capped so that N workers fit in the memory available.
WORKER_BYTES = 2 * 1024 ** 3
STEP_MESSAGE_SECONDS = 0.5  # a worker reports its unit's step at most this often


def usable_cores():
    """The cores this process may run on (its CPU affinity, e.g. a container's share)."""
    return len(os.sched_getaffinity(0))


def available_memory():
    """Bytes the kernel says can be used without swapping (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f
                        if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None


def check(asked):
    """Refuses a worker count below 1 before the sweep touches its workdir."""
    if asked is not None and asked < 1:
        raise ValueError(f"--workers={asked}: the number of training processes must be at "
                         "least 1 (1: train in the sweep's own process)")


def count(asked, units, gpus, strategy):
    """(workers, why): how many worker processes train `units` units. `asked`: --workers, or
    None for the default, one per usable core; never more than the units, nor than fit in
    the memory available; one on a GPU machine (today's single or mirrored process: several
    processes on one GPU would fight over its memory)."""
    if gpus or strategy == "mirrored":
        if asked and asked > 1:
            raise ValueError(f"--workers={asked} on a machine with GPUs (or --strategy=mirrored) "
                             "is not supported: use --workers=1 (all GPUs through "
                             "--strategy=mirrored) or --engine=kerastuner with one worker per GPU")
        return 1, "one process for the GPUs"
    cores = usable_cores()
    wanted = asked or cores
    why = f"--workers={asked}" if asked else f"one per core, {cores} cores"
    memory = available_memory()
    if memory is not None and wanted > max(1, memory // WORKER_BYTES):
        wanted = max(1, memory // WORKER_BYTES)
        why += (f"; capped by memory: {memory / 1024 ** 3:.1f} GB available, "
                f"~{WORKER_BYTES / 1024 ** 3:.0f} GB a worker")
    if wanted > units:
        why += f"; {units} units to train"
        wanted = max(1, units)
    return wanted, why


def threads(config, workers):
    """(intra-op, inter-op) threads of each worker: the recipe's intra-op count (1 on the
    embedded default, so the numbers do not depend on the cores) else the cores shared out;
    inter-op: --inter_op_threads else the cores shared out, so N workers fill the cores and no
    more."""
    share = max(1, usable_cores() // workers)
    return config.intra_op_threads or share, config.inter_op_threads or share


def run(ctx, units, workers, console, finished, train):
    """Trains `units` ((unit, todo) pairs, in plan order) on `workers` processes, each calling
    train(ctx, unit, todo, callbacks) (runner.train_unit; a module-level function, which a
    worker imports by name). Calls finished(unit, todo, rows) in this process as each unit
    ends. Returns the failures:
    [(unit, why)] of dead workers, units skipped for a failed parent included. Raises a unit's
    error, or fit.Interrupted after a signal, once every worker has stopped at a checkpoint."""
    from keras_transfer.training import fit
    pool = Pool(ctx.config, workers, train)
    queue = list(units)
    failed_nets, failures, errors = set(), [], []
    to_train = {net.key for _, todo in units for net in todo}
    done_keys = set()

    def is_done(key):  # what is not to train finished before this run
        return key in done_keys or key not in to_train

    def fail(unit, why):
        failures.append((unit, why))
        failed_nets.update(net.key for net in unit)
        console.abandon(unit, why)

    def handle(worker, message):
        pair, kind = worker.unit, message[0]
        if kind == "step":
            console.step(pair[0], message[1])
        elif kind == "evaluated":
            console.evaluated(pair[0], message[1], message[2])
        elif kind == "done":
            worker.unit = None
            done_keys.update(net.key for net in pair[1])
            finished(*pair, message[1])
        elif kind == "failed":  # an error the one process would stop on: stop, then raise it
            worker.unit = None
            errors.append(message[1])
            pool.halt()
        elif kind == "interrupted":
            worker.unit = None
            console.print(f"{worker.name} stopped {console.describe(pair[0])} at its last "
                          "checkpoint")
        elif kind == "died":
            worker.unit = None
            fail(pair[0], f"{worker.name} (pid {worker.process.pid}) died ({message[1]}); "
                          "rerun the sweep to resume it from its last checkpoint")

    with pool:
        while True:
            if not pool.stopping:
                for pair in list(queue):
                    state = plan.readiness(pair[0], is_done, failed_nets)
                    if state == "blocked":
                        queue.remove(pair)
                        fail(pair[0], "not trained: a base it copies from failed")
                    elif state == "ready" and pool.idle():
                        queue.remove(pair)
                        console.start(pair[0], worker=pool.give(pair))
            if not pool.busy():
                if pool.stopping or not queue:
                    break
                if not pool.idle():  # every worker failed to start
                    for pair in queue:
                        fail(pair[0], "not trained: no worker could start (see above)")
                    break
                raise AssertionError("units wait for bases that nothing trains")  # a plan bug
            for worker, message in pool.messages():
                handle(worker, message)
    # Both peaks after every worker was joined: the largest worker's and this process's.
    console.print(f"memory: peak {peak_gb(resource.RUSAGE_CHILDREN)} GB in the largest of "
                  f"{pool.started} workers, {peak_gb(resource.RUSAGE_SELF)} GB in the sweep's "
                  "process")
    if errors:
        raise errors[0]
    if pool.stopping:
        raise fit.Interrupted(f"stopped by {signal.Signals(pool.stopping).name}; every worker "
                              "kept its last checkpoint; rerun the same command to resume",
                              pool.stopping)
    return failures


class Worker:
    """A worker process, its end of the pipe, and the (unit, todo) it trains (None: idle)."""

    def __init__(self, index, process, pipe):
        self.name, self.process, self.pipe, self.unit = f"w{index}", process, pipe, None
        self.alive, self.ready = True, False  # ready: it opened the data and the plan


class Pool:
    """The worker processes; stops them on SIGINT/SIGTERM (`stopping`: the signal)."""

    def __init__(self, config, size, train):
        self.config, self.size, self.train, self.workers, self.stopping = (config, size, train,
                                                                           [], None)
        self._spawn = multiprocessing.get_context("spawn")
        self.started = 0

    def __enter__(self):
        self._previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        for _ in range(self.size):
            self._start_worker()
        return self

    def __exit__(self, *exc):
        for worker in self.workers:
            if worker.alive:
                try:
                    worker.pipe.send(None)  # no more units: exit
                except OSError:
                    pass
        for worker in self.workers:
            worker.process.join(timeout=60)
            if worker.process.is_alive():
                worker.process.kill()
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False

    def _start_worker(self):
        self.started += 1
        ours, theirs = self._spawn.Pipe()
        process = self._spawn.Process(
            # Pickled here: unpickling them imports TensorFlow, which the worker first imports
            # quietly.
            target=work, args=(pickle.dumps((self.config, self.train)),
                               threads(self.config, self.size), theirs),
            name=f"keras_transfer worker {self.started}", daemon=True)
        process.start()
        theirs.close()
        self.workers.append(Worker(self.started, process, ours))

    def _stop(self, signum, frame):
        self.stopping = signum
        self.halt()

    def halt(self):
        """Stops every busy worker at its next step (it keeps its checkpoint); no new units."""
        self.stopping = self.stopping or signal.SIGTERM
        for worker in self.workers:
            if worker.alive and worker.unit is not None:
                os.kill(worker.process.pid, signal.SIGTERM)  # fit.StopOnSignal: stop, keep it

    def idle(self):
        return any(w.alive and w.unit is None for w in self.workers)

    def busy(self):
        return any(w.alive and w.unit is not None for w in self.workers)

    def give(self, pair):
        """Hands (unit, todo) to an idle worker; returns that worker's name."""
        worker = next(w for w in self.workers if w.alive and w.unit is None)
        worker.unit = pair
        worker.pipe.send(([net.key for net in pair[0]], [net.key for net in pair[1]]))
        return worker.name

    def messages(self, timeout=1.0):
        """(worker, message) pairs that arrived within `timeout`; a worker whose process ended
        gives ("died", how) once, and is replaced while units may still need it."""
        ready = connection.wait([w.pipe for w in self.workers if w.alive] +
                                [w.process.sentinel for w in self.workers if w.alive], timeout)
        out = []
        for worker in [w for w in self.workers if w.alive]:
            while worker.pipe in ready and worker.pipe.poll():
                try:
                    message = worker.pipe.recv()
                except (EOFError, OSError):
                    break
                if message == ("ready",):
                    worker.ready = True
                else:
                    out.append((worker, message))
            if not worker.process.is_alive():
                worker.alive = False
                if worker.unit is not None:
                    out.append((worker, ("died", exit_text(worker.process.exitcode))))
                if worker.ready and not self.stopping:  # one that never started would again
                    self._start_worker()
        return out


def peak_gb(who):
    return f"{resource.getrusage(who).ru_maxrss / 1024 ** 2:.2f}"  # Linux: ru_maxrss in KiB


def portable(error, trace):
    """`error` as the sweep's process can raise it: the same exception (a user error keeps its
    type, so the sweep prints it as one `error:` line), the worker's traceback as a note (shown
    when an unexpected error's traceback is printed)."""
    try:
        error = pickle.loads(pickle.dumps(error))
    except Exception:  # an exception whose arguments do not pickle
        error = RuntimeError(f"{type(error).__name__}: {error}")
    error.add_note(f"in a worker process:\n{trace}")
    return error


def exit_text(code):
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (", e.g. by the OOM killer" if -code == signal.SIGKILL
                                      else "")
    return f"exit status {code}"


def work(pickled, thread_counts, pipe):
    """A worker: its threads set, the sweep's data and plan opened, each unit sent trained."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep's process forwards a stop
    runtime.import_tensorflow_quietly()
    config, train = pickle.loads(pickled)
    runtime.configure(*thread_counts, config.deterministic)
    from keras_transfer.experiment import progress, setup
    from keras_transfer.training import fit
    ctx = setup.prepare(config)
    by_key = {net.key: net for net in ctx.nets}
    messenger = Messenger(pipe)
    pipe.send(("ready",))
    while (task := pipe.recv()) is not None:
        unit, todo = [by_key[k] for k in task[0]], [by_key[k] for k in task[1]]
        try:
            rows = train(ctx, unit, todo, callbacks=[progress.StepCallback(messenger, unit)])
        except fit.Interrupted as e:
            pipe.send(("interrupted", str(e)))
            return
        except Exception as e:  # the sweep's process stops the others and raises it
            pipe.send(("failed", portable(e, traceback.format_exc())))
            return
        pipe.send(("done", rows))


class Messenger:
    """A worker's side of the console: its steps (at most every STEP_MESSAGE_SECONDS) and
    evaluations go to the sweep's process."""

    def __init__(self, pipe):
        self.pipe, self._last = pipe, 0.0

    def step(self, unit, step):
        if time.time() - self._last >= STEP_MESSAGE_SECONDS:
            self._last = time.time()
            self.pipe.send(("step", step))

    def evaluated(self, unit, step, top1):
        self.pipe.send(("evaluated", step, top1))


def die_with_parent():
    """SIGTERM this worker when the sweep's process dies, however it dies (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: a dead sweep's worker ends when its pipe breaks
