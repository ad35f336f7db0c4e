"""Kill and resume through the CLI: `kill -9` and SIGTERM a real sweep process after its first
checkpoint, rerun the same command, and get an uninterrupted run's weights (slow: ~1-2 min)."""

import glob
import json
import os
import signal
import subprocess
import time

import pytest

from .common import REPO, assert_same_weights, cli_command, cli_env, run_cli

# One net (baseAll, 40 classes) of 24 steps: long enough to be killed mid-run on any machine.
ARGS = ("--split=none", "--experiments=base", "--steps=24", "--eval_every=4", "--noexport",
        "--deterministic")
pytestmark = pytest.mark.slow


def run_dir(workdir):
    return os.path.join(workdir, "runs", "r0", "baseAll")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("clean")
    out = run_cli(workdir, *ARGS)
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir(workdir)


def start_and_signal(workdir, signum):
    """Starts the sweep, sends `signum` as soon as its first checkpoint exists; (rc, stderr)."""
    proc = subprocess.Popen(cli_command(workdir, *ARGS), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO)
    pattern = os.path.join(run_dir(workdir), "checkpoints", "ckpt-*.weights.h5")
    deadline = time.time() + 300
    while not glob.glob(pattern):
        assert proc.poll() is None, f"exited before its first checkpoint: {proc.stderr.read()}"
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=300)
    return proc.returncode, stderr


def history(run):
    with open(os.path.join(run, "history.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in f]


def result(run):
    with open(os.path.join(run, "result.json")) as f:
        return json.load(f)


def assert_resumes_to_clean(workdir, clean):
    run = run_dir(workdir)
    assert not os.path.exists(os.path.join(run, "result.json")), "finished before the signal"
    done = history(run)
    checkpoints = sorted(os.listdir(os.path.join(run, "checkpoints")))
    assert done and len(done) < 6
    assert checkpoints[-1] == f"ckpt-{len(done):06d}.weights.h5"  # newest = last logged interval
    out = run_cli(workdir, *ARGS)
    assert out.returncode == 0, out.stderr[-3000:]
    assert history(run) == history(clean)
    assert [h["step"] for h in history(run)] == [4, 8, 12, 16, 20, 24]
    assert result(run)["weights_sha256"] == result(clean)["weights_sha256"]
    assert_same_weights(os.path.join(run, "model.keras"), os.path.join(clean, "model.keras"))
    with open(os.path.join(workdir, "results.jsonl")) as f:
        assert [json.loads(line)["net"] for line in f] == ["baseAll"]


def test_kill_9_then_rerun_resumes_to_the_uninterrupted_weights(tmp_path, clean):
    rc, stderr = start_and_signal(tmp_path, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert_resumes_to_clean(tmp_path, clean)


def test_sigterm_stops_cleanly_then_rerun_resumes(tmp_path, clean):
    rc, stderr = start_and_signal(tmp_path, signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1 and "stopped by SIGTERM" in lines[0], stderr[-3000:]
    assert "rerun the same command to resume" in lines[0]
    assert_resumes_to_clean(tmp_path, clean)
