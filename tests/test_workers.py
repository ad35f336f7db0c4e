"""--workers: the sweep's units on several single-threaded processes write the rows one process
writes; a worker killed mid-unit fails only that unit, and a rerun finishes it."""

import glob
import json
import os
import signal
import subprocess
import time
from types import SimpleNamespace

import pytest
from reliability.common import REPO, cli_command, cli_env, error_lines, run_cli

from keras_transfer.experiment import plan, progress, workers

# Bases and selffers of n = 1, 2 and the continued bases: 12 nets in six units, two of them
# bases.
ARGS = ("--experiments=base,selffer", "--intra_op_threads=1", "--noexport")
COMPARED = ("net", "kind", "n", "fine_tune", "top1", "top1_best10", "top5", "weights_sha256",
            "config_hash", "recipe_hash", "convergence", "regime")


def rows(workdir):
    with open(os.path.join(workdir, "results.jsonl")) as f:
        found = [json.loads(line) for line in f]
    return {r["net"]: {k: r.get(k) for k in COMPARED} for r in found}


def histories(workdir):
    """Every net's history.jsonl without its timings."""
    out = {}
    for path in glob.glob(os.path.join(workdir, "runs", "r0", "*", "history.jsonl")):
        with open(path) as f:
            out[os.path.basename(os.path.dirname(path))] = [
                {k: v for k, v in json.loads(line).items() if k != "seconds"} for line in f]
    return out


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one")
    out = run_cli(workdir, *ARGS, "--workers=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert " on 1 workers" not in out.stdout and "workers" not in out.stdout.splitlines()[0]
    return workdir


def test_two_workers_write_the_rows_of_one(tmp_path, one_worker):
    out = run_cli(tmp_path, *ARGS, "--workers=2")
    assert out.returncode == 0, out.stderr[-3000:]
    header = out.stdout.splitlines()[0]
    assert "12 to train in 6 units on 2 workers (--workers=2; each 1 intra-op" in header
    # Each unit ran on a named worker, both workers trained, and every net has one line.
    finished = [line.strip().split(":")[0] for line in out.stdout.splitlines()
                if line.startswith("   ") and " nets, " in line]
    assert len(finished) == 6 and set(finished) == {"w1", "w2"}
    assert sorted(line.split("]", 1)[1].split()[0] for line in out.stdout.splitlines()
                  if line.startswith("[")) == sorted(f"r0/{n}" for n in rows(one_worker))
    assert len(rows(tmp_path)) == 12
    assert rows(tmp_path) == rows(one_worker)
    assert histories(tmp_path) == histories(one_worker)


def test_a_worker_count_below_one_is_refused_before_the_workdir(tmp_path):
    out = run_cli(tmp_path / "w", *ARGS, "--workers=0")
    assert out.returncode == 1
    assert error_lines(out.stderr) == [
        "error: --workers=0: the number of training processes must be at least 1 (1: train in "
        "the sweep's own process)"]
    assert not (tmp_path / "w").exists()


def children(pid):
    """The worker processes of the sweep process `pid` (multiprocessing's spawned children)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(stat.replace("stat", "cmdline"), "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.split("/")[2]))
    return found


@pytest.mark.slow
def test_a_worker_killed_fails_its_unit_and_a_rerun_gives_the_uninterrupted_rows(
        tmp_path, tmp_path_factory):
    args = (*ARGS, "--steps=24", "--eval_every=4", "--deterministic")
    clean = tmp_path_factory.mktemp("clean")
    assert run_cli(clean, *args, "--workers=1").returncode == 0
    proc = subprocess.Popen(cli_command(tmp_path, *args, "--workers=2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), cwd=REPO)
    deadline = time.time() + 300
    while not glob.glob(str(tmp_path / "runs" / "r0" / "*" / "checkpoints" / "ckpt-*.json")):
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    victim = children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr[-3000:]
    failed = [line for line in stdout.splitlines() if line.startswith("FAILED ")]
    assert failed and all(f"(pid {victim}) died (killed by SIGKILL" in line or
                          "a base it copies from failed" in line for line in failed)
    [error] = error_lines(stderr)
    assert "of 6 units did not train" in error and "rerun the same command" in error
    assert len(rows(tmp_path)) < 12  # the other units finished and are kept
    rerun = run_cli(tmp_path, *args, "--workers=2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rows(tmp_path) == rows(clean)
    assert histories(tmp_path) == histories(clean)


def net(key, parent=None):
    return SimpleNamespace(key=key, parent_key=parent)


def test_a_unit_is_ready_once_every_base_of_it_is_done():
    unit = [net("r0/A1B", "r0/baseA"), net("r0/A2B", "r0/baseA")]
    assert plan.readiness([net("r0/baseA")], lambda k: False, set()) == "ready"
    assert plan.readiness(unit, lambda k: False, set()) == "waiting"
    assert plan.readiness(unit, lambda k: k == "r0/baseA", set()) == "ready"
    assert plan.readiness(unit, lambda k: False, {"r0/baseA"}) == "blocked"


def test_the_worker_count_is_capped_by_units_memory_and_gpus(monkeypatch):
    monkeypatch.setattr(workers, "usable_cores", lambda: 16)
    monkeypatch.setattr(workers, "available_memory", lambda: 100 * workers.WORKER_BYTES)
    assert workers.count(None, 60, 0, "default") == (16, "one per core, 16 cores")
    assert workers.count(4, 60, 0, "default") == (4, "--workers=4")
    assert workers.count(None, 3, 0, "default") == (3, "one per core, 16 cores; 3 units to "
                                                       "train")
    monkeypatch.setattr(workers, "available_memory", lambda: 5 * workers.WORKER_BYTES + 1)
    count, why = workers.count(None, 60, 0, "default")
    assert count == 5 and "capped by memory: 10.0 GB available, ~2 GB a worker" in why
    assert workers.count(None, 60, 2, "default") == (1, "one process for the GPUs")
    assert workers.count(None, 60, 0, "mirrored")[0] == 1
    with pytest.raises(ValueError, match="--workers=2 on a machine with GPUs"):
        workers.count(2, 60, 1, "default")
    with pytest.raises(ValueError, match="--workers=-1: the number of training processes"):
        workers.check(-1)


def test_threads_share_the_cores_unless_the_recipe_names_them(monkeypatch):
    monkeypatch.setattr(workers, "usable_cores", lambda: 8)
    config = SimpleNamespace(intra_op_threads=0, inter_op_threads=0)
    assert workers.threads(config, 2) == (4, 4)
    assert workers.threads(config, 16) == (1, 1)
    config = SimpleNamespace(intra_op_threads=1, inter_op_threads=3)
    assert workers.threads(config, 2) == (1, 3)


def test_the_console_follows_units_in_flight_and_names_failures(capsys):
    base_a = [SimpleNamespace(key="r0/baseA", n=0, mode="frozen")]
    base_b = [SimpleNamespace(key="r0/baseB", n=0, mode="frozen")]
    units = [(base_a, base_a), (base_b, base_b)]
    with progress.SweepProgress(2, 0, units, 10, bars=False, workers=2) as console:
        console.start(base_a, worker="w1")
        console.start(base_b, worker="w2")
        console.step(base_b, 5)
        console.abandon(base_a, "w1 (pid 7) died (killed by SIGKILL)")
        assert console.pending == [base_b]
        console.finish(base_b, base_b, ["r0/baseB done"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "FAILED w1: r0/baseA: w1 (pid 7) died (killed by SIGKILL)"
    assert out[1] == "[1/2] r0/baseB done"
    assert out[2].strip().startswith("w2: r0/baseB: ")
    assert out[2].endswith("1/2 nets, 0 s elapsed, sweep ended, 1 units not trained")
