"""One net's run directory and the sweep's results file (the contract in DEVELOPERS.md).

`result.json` is written last and atomically: its presence with a matching config hash means
the net is done. `results.jsonl` is append-only and can be rebuilt from the run directories.
"""

import contextlib
import fcntl
import glob
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time

from absl import logging

from keras_transfer import catalog, files
from keras_transfer.experiment import results
from keras_transfer.nets import saved_model
from keras_transfer.training import fit

# The layout (DEVELOPERS.md "Run-directory contract"); training writes history.jsonl,
# checkpoints/ and the TensorBoard folders into a net's run directory itself.
RUNS = "runs"                 # WORKDIR/runs/r<replicate>/<net>
IMPORTED = "imported"  # result.json status of a --pretrained model installed as a base: no row
RESULT = "result.json"        # written last: its presence means the net is done
MANIFEST = "manifest.json"
FLAGS = "flags.txt"
MODEL = "model.keras"
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "tensorflow-datasets", "keras-tuner",
            "tensorboard", "numpy", "absl-py", "keras_transfer")


class RunDirError(RuntimeError):
    """A run directory conflicts with what the sweep was asked to do."""


def versions():
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def git_revision():
    """The package checkout's git revision (with "+dirty" when modified), or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout
        return rev.stdout.strip() + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment():
    return {"versions": versions(), "git_revision": git_revision(), "host": socket.gethostname(),
            "platform": platform.platform(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def check_writable(workdir):
    """Fails before any training when the workdir cannot be created or written."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):  # makedirs says "File exists"
        raise RunDirError(f"workdir {workdir!r} is a file, not a directory; choose another "
                          "--workdir")
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write-probe-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise RunDirError(f"workdir {workdir!r} is not writable ({e.strerror}); "
                          "choose another --workdir or fix its permissions") from e


SWEEP = "sweep.json"
# Settings sweep.json did not always hold, with the value every earlier sweep.json meant: local
# sweeps fused groups by default, and llrd nets came with their default decay.
RECORDED_LATER = {"fused": True, "llrd_decay": catalog.LLRD_DECAY}
# The one setting a workdir may change: more replicates add samples of the same recipe.
GROWS = "replicates"
LOCK = "sweep.lock"


@contextlib.contextmanager
def workdir_lock(workdir):
    """Holds WORKDIR/sweep.lock while a sweep runs: a second sweep on the same workdir is
    refused with who holds it. An flock, so the kernel drops it when its process dies: a crash
    or kill -9 leaves nothing stale to clean up (local disks; NFS emulates flock)."""
    check_writable(workdir)
    path = os.path.join(workdir, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise RunDirError(
            f"{workdir} is in use by another sweep ({holder}); wait for it to end, stop it "
            "(it resumes when rerun), or use another --workdir") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode(), 0)
        yield
    finally:
        os.ftruncate(fd, 0)  # no holder any more (and a rerun that trains nothing changes nothing)
        os.close(fd)  # releases the lock


def check_sweep(workdir, settings):
    """Binds a workdir to one sweep's recipe (WORKDIR/sweep.json).

    Nets may be added later (other n, experiments, dataset sizes, more replicates), but a
    changed recipe would mix incomparable rows into one results.jsonl: that is refused, with
    the flags that differ, before anything trains. The replicate count is not part of the
    binding: replicate r trains the same nets from its own seeds whatever the count, so a
    workdir started with --replicates=1 takes --replicates=3 (r1 and r2 train, r0 is kept) and
    sweep.json records the largest count run. `settings`: {flag name: value}."""
    path = os.path.join(workdir, SWEEP)
    recorded = files.read_json(path)
    if recorded is not None:
        recorded = {**{k: v for k, v in RECORDED_LATER.items() if k in settings}, **recorded}
    if recorded is None:
        if results.read_results(workdir):
            raise RunDirError(
                f"{workdir} holds results but no {SWEEP}: it was written by an earlier "
                "keras_transfer with another run layout. Use a new --workdir (or move that one "
                "aside); its results stay readable by python -m keras_transfer.report.")
        files.write_json(path, settings)
        return
    differ = sorted(k for k in set(settings) | set(recorded)
                    if k != GROWS and settings.get(k) != recorded.get(k))
    if differ:
        what = "; ".join(f"--{k}: this run {settings.get(k)!r}, the workdir's "
                         f"{recorded.get(k)!r}" for k in differ)
        raise RunDirError(
            f"{workdir} holds a sweep with other settings ({what}). Rerun with the workdir's "
            "values, or use a new --workdir for the new ones; nothing was trained or changed.")
    if settings.get(GROWS, 0) > recorded.get(GROWS, 0):
        files.write_json(path, {**recorded, GROWS: settings[GROWS]})


def run_dir_of(workdir, key):
    """A net's run directory, from its key ("r0/A3B+")."""
    return os.path.join(workdir, RUNS, key)


def finish(workdir, run_dir, model, flags_text, manifest, row, saved_model_args=None):
    """Writes a trained net's run directory in the order that makes a crash harmless: flags,
    manifest, model.keras, the SavedModel (`saved_model_args`: (mean, class names), or None for
    none), then result.json last (the net is done), its results row, and drops the resume
    state, which is no longer needed."""
    with open(os.path.join(run_dir, FLAGS), "w") as f:
        f.write(flags_text)
    files.write_json(os.path.join(run_dir, MANIFEST), manifest)
    tmp = os.path.join(run_dir, "model.tmp.keras")
    model.save(tmp)
    os.replace(tmp, os.path.join(run_dir, MODEL))
    if saved_model_args is not None:
        saved_model.export_saved_model(model, os.path.join(run_dir, saved_model.SAVED_MODEL),
                                       *saved_model_args)
    files.write_json(os.path.join(run_dir, RESULT), row)
    results.append_result(workdir, row)
    shutil.rmtree(os.path.join(run_dir, fit.CHECKPOINTS), ignore_errors=True)


# What every result.json that finish wrote holds: a file without them (`{}`, a truncated or
# hand-edited one) is damaged, and its net is retrained like a missing one.
RESULT_KEYS = (*results.REQUIRED_KEYS, "config_hash", "run_dir", "finished_at")


def read_result(path):
    """A run's result.json, or None when it is missing, unreadable or lacks a key of
    RESULT_KEYS (damaged: never a row, never compared with a config)."""
    result = files.read_json(path)
    if result is None or any(key not in result for key in RESULT_KEYS):
        return None
    return result


def finished_result(run_dir, expected_hash):
    """The run's result if it finished with the same config; None if it must (re)run (no
    result.json, or a damaged one).

    A finished run trained with a different config is an error, never silently reused.
    """
    result = read_result(os.path.join(run_dir, RESULT))
    if result is None:
        return None
    if result.get("config_hash") != expected_hash:
        raise RunDirError(
            f"{run_dir} finished with a different config (hash {result.get('config_hash')} "
            f"!= {expected_hash}; see its manifest.json). Use a new --workdir for a changed "
            "recipe, or delete that run directory to retrain it.")
    return result


def sync_results(workdir):
    """Makes results.jsonl hold exactly one valid row per finished run directory.

    Rows for finished runs that are missing (a crash between result.json and the append, or a
    deleted/damaged results file) are appended from the run's result.json. A damaged line is
    dropped, and so is a row whose run no longer has that result (its result.json was deleted
    or damaged, so the net is retrained and gets a new row; or it was retrained): the file is
    rewritten atomically and the superseded rows are kept in results_superseded.jsonl.
    """
    path = os.path.join(workdir, results.RESULTS)
    rows = results.read_results(workdir)
    runs = os.path.join(workdir, RUNS)
    finished = {}  # run_dir -> its result.json
    # runs/r<replicate>/<net>/
    for result_path in sorted(glob.glob(os.path.join(glob.escape(runs), "*", "*", RESULT))):
        result = read_result(result_path)
        if result is not None and result.get("status") != IMPORTED:
            finished[result.get("run_dir")] = result
    kept, superseded, have = [], [], set()
    for row in rows:  # never two rows for one run, never a row without its run
        run_dir = row.get("run_dir")
        result = finished.get(run_dir)
        if result is not None and run_dir not in have and \
                row.get("finished_at") == result.get("finished_at"):
            kept.append(row)
            have.add(run_dir)
        else:
            superseded.append(row)
    if superseded:
        logging.warning("%s: %d rows whose runs are gone, damaged or retrained moved to %s: %s",
                        path, len(superseded), results.SUPERSEDED,
                        [r.get("run_dir") for r in superseded])
        with open(os.path.join(workdir, results.SUPERSEDED), "a") as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in superseded)
    if os.path.exists(path) and len(kept) != results.count_lines(path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    for run_dir, result in finished.items():
        if run_dir not in have:
            logging.info("restoring the results row of %s", run_dir)
            results.append_result(workdir, result)
