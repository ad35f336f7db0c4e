"""--engine=kerastuner: the plan's oracle, leases, concurrent appends, and real chief + workers."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from keras_transfer import data, files
from keras_transfer.experiment import distributed, leases, plan, results, rundir, runner
from keras_transfer.experiment.config import SweepConfig
from keras_transfer.training.recipe import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETS = plan.make_plan((1,), ("base", "transfer"))   # baseA baseB B1A B1A+ A1B A1B+
TINY = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000)


# --- the oracle, in-process (no gRPC, no training) ---

def make_oracle(workdir, lease_seconds=60.0):
    oracle = distributed.PlanOracle(NETS, {n.key: f"h-{n.name}" for n in NETS}, str(workdir),
                                    lease_seconds)
    oracle._set_project_dir(str(workdir / "kerastuner"), "chief")
    return oracle


def result(name, key, config_hash, top1=0.5):
    """A result.json with every key a finished run's has (rundir.RESULT_KEYS)."""
    return {**dict.fromkeys(rundir.RESULT_KEYS), "net": name, "run_dir": f"runs/{key}",
            "config_hash": config_hash, "top1": top1, "top1_best10": top1,
            "finished_at": "2026-12-07T00:00:00"}


def finish_net(oracle, workdir, trial, top1=0.5):
    """What a worker does: result.json on the shared workdir, then report and end the trial."""
    key = trial.hyperparameters.values["net"]  # the net's key, "r0/baseA"
    name = key.split("/")[-1]
    os.makedirs(workdir / "runs" / key, exist_ok=True)
    files.write_json(str(workdir / "runs" / key / "result.json"),
                     result(name, key, f"h-{name}", top1))
    oracle.update_trial(trial.trial_id, {"top1": top1})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_oracle_runs_bases_first_and_hands_out_each_net_once(tmp_path):
    oracle = make_oracle(tmp_path)
    a = oracle.create_trial("w0")
    b = oracle.create_trial("w1")
    assert [a.hyperparameters.values["net"], b.hyperparameters.values["net"]] == [
        "r0/baseA", "r0/baseB"]
    assert oracle.create_trial("w2").status == "IDLE"  # dependants wait for their base
    assert oracle.create_trial("w0").trial_id == a.trial_id  # a restarted tuner gets its trial
    finish_net(oracle, tmp_path, a)
    c = oracle.create_trial("w2")
    values = c.hyperparameters.values
    expected = {"net": "r0/A1B", "kind": "transfer", "source": "A", "target": "B", "n": 1,
                "fine_tune": False, "seed": 0, "config_hash": "h-A1B"}
    assert {k: values[k] for k in expected} == expected and None not in values.values()
    handed = ["r0/baseA", "r0/baseB", "r0/A1B"]
    busy, stopped = {"w1": b, "w2": c}, []
    while busy:
        finish_net(oracle, tmp_path, busy.pop(sorted(busy)[0]))
        for tuner in sorted({"w0", "w1", "w2"} - set(busy)):
            trial = oracle.create_trial(tuner)
            if trial.status == "RUNNING":
                handed.append(trial.hyperparameters.values["net"])
                busy[tuner] = trial
            elif trial.status == "STOPPED":
                assert oracle.finished() == (len(stopped) == 2)  # all told: over
                stopped.append(tuner)
    assert sorted(handed) == sorted(n.key for n in NETS)
    assert stopped == ["w0", "w1", "w2"] and oracle.finished()


def test_oracle_skips_finished_nets_and_rejects_changed_ones(tmp_path):
    oracle = make_oracle(tmp_path)
    finish_net(oracle, tmp_path, oracle.create_trial("w0"))  # baseA
    late = oracle.create_trial("w1")                          # baseB, trial 0001
    restarted = make_oracle(tmp_path)                         # a new chief: ids restart at 0
    assert restarted.create_trial("w0").hyperparameters.values["net"] == "r0/baseB"  # 0000
    mine = restarted.create_trial("w2")                       # 0001 again, now A1B
    assert (mine.trial_id, mine.hyperparameters.values["net"]) == (late.trial_id, "r0/A1B")
    late.status = "FAILED"
    restarted.end_trial(late)  # the old chief's trial 0001 (baseB) reported late: ignored
    assert restarted.ongoing_trials["w2"] is mine and mine.status == "RUNNING"
    assert not restarted.failed
    files.write_json(str(tmp_path / "runs" / "r0" / "baseA" / "result.json"),
                     result("baseA", "r0/baseA", "other"))
    with pytest.raises(rundir.RunDirError, match="different config"):
        make_oracle(tmp_path).is_done("r0/baseA")


def test_silent_worker_loses_its_net_and_a_heartbeating_one_keeps_it(tmp_path):
    oracle = make_oracle(tmp_path, lease_seconds=0.5)
    dead = oracle.create_trial("dead")                      # baseA, never heartbeats
    live = oracle.create_trial("live")                      # baseB
    with leases.Lease(str(tmp_path), "r0/baseB", "live", live.trial_id, interval=0.1):
        time.sleep(0.8)
        again = oracle.create_trial("other")
        assert again.hyperparameters.values["net"] == "r0/baseA" and \
            again.trial_id != dead.trial_id
        assert "dead" not in oracle.tuner_ids and "live" in oracle.ongoing_trials
    assert not os.path.exists(leases.lease_path(str(tmp_path), "r0/baseB"))
    dead.status = "COMPLETED"
    oracle.end_trial(dead)   # the presumed-dead worker reports late: ignored
    assert oracle.ongoing_trials["other"].trial_id == again.trial_id


def test_worker_whose_lease_is_taken_over_stops_itself(tmp_path):
    signals = []
    previous = signal.signal(signal.SIGTERM, lambda *args: signals.append(args[0]))
    try:
        lease = leases.Lease(str(tmp_path), "baseA", "w0", "0000", interval=0.1)
        with lease:
            files.write_json(leases.lease_path(str(tmp_path), "baseA"),
                              {"tuner": "w1", "trial": "0003"})
            time.sleep(0.5)
        assert lease.lost and signals == [signal.SIGTERM]
        assert files.read_json(leases.lease_path(str(tmp_path), "baseA"))["tuner"] == "w1"
    finally:
        signal.signal(signal.SIGTERM, previous)


APPENDER = """
import sys
from keras_transfer.experiment import results
for i in range(50):  # ~20 KB rows: larger than Python's I/O buffer and a pipe's atomic size
    results.append_result(sys.argv[1], {"net": f"{sys.argv[2]}-{i}", "per_class": [0.5] * 4000})
"""


def test_concurrent_appends_never_interleave(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(tmp_path), str(w)])
             for w in range(4)]
    try:
        assert [p.wait(timeout=120) for p in procs] == [0] * 4
    finally:
        for p in procs:
            p.kill()
    with open(tmp_path / results.RESULTS) as f:
        lines = f.read().split("\n")
    assert lines[-1] == "" and all(line for line in lines[:-1])
    names = sorted(json.loads(line)["net"] for line in lines[:-1])
    assert names == sorted(f"{w}-{i}" for w in range(4) for i in range(50))


# --- the engine in one process: the same run directories as the local engine ---

def listing(workdir):
    """Relative paths under runs/, with TensorBoard event file names reduced to their folder."""
    found = []
    for root, _, names in os.walk(os.path.join(workdir, "runs")):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), workdir)
            found.append(os.path.dirname(rel) + "/<events>" if "tfevents" in name else rel)
    return sorted(found)


VOLATILE = {"train_seconds", "finished_at"}


def test_one_process_engine_matches_the_local_engine(tmp_path):
    # --split=none: one net (baseAll) per engine keeps this in the fast suite
    config = SweepConfig(workdir=str(tmp_path / "local"), split="none", layers=(1,),
                                experiments=("base",), recipe=TINY, export=False,
                                flags_text="--engine=local\n")
    local = runner.run_sweep(config)
    import dataclasses
    kt_config = dataclasses.replace(config, workdir=str(tmp_path / "kt"),
                                    flags_text="--engine=kerastuner\n")
    kt = distributed.run_sweep(kt_config, lease_seconds=60)
    assert [r["net"] for r in kt] == ["baseAll"]
    for a, b in zip(local, kt):
        assert {k: v for k, v in a.items() if k not in VOLATILE} == \
            {k: v for k, v in b.items() if k not in VOLATILE}
    assert listing(tmp_path / "local") == listing(tmp_path / "kt")
    assert (tmp_path / "kt" / "runs" / "r0" / "baseAll" / "flags.txt").read_text() == "--engine=local\n"
    assert len(results.read_results(str(tmp_path / "kt"))) == 1
    assert os.path.isdir(tmp_path / "kt" / "kerastuner" / "tuner0")
    # a second run trains nothing
    assert [r["top1"] for r in distributed.run_sweep(kt_config)] == [r["top1"] for r in kt]
    assert len(results.read_results(str(tmp_path / "kt"))) == 1


# --- chief + two workers as processes on 127.0.0.1 ---

SWEEP = [sys.executable, "-m", "keras_transfer.sweep", "--flagfile=flags/tiny.flags",
         "--layers=1", "--experiments=base,transfer", "--engine=kerastuner"]
PLANNED = {"baseA", "baseB", "A1B", "A1B+", "B1A", "B1A+"}
PLANNED_KEYS = {f"r0/{name}" for name in PLANNED}  # what the engine's logs and leases name


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Chief and workers of one sweep; their output goes to files (no pipe can fill up)."""

    def __init__(self, workdir, lease_seconds):
        self.workdir, self.port, self.procs = workdir, free_port(), {}
        self.args = [*SWEEP, f"--workdir={workdir}", f"--kerastuner_lease_seconds={lease_seconds}"]

    def start(self, tuner_id):
        env = {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3",
               "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": str(self.port)}
        log = open(self.workdir.parent / f"{self.workdir.name}-{tuner_id}.log", "w")
        self.procs[tuner_id] = (subprocess.Popen(self.args, cwd=ROOT, env=env, stdout=log,
                                                 stderr=subprocess.STDOUT), log)

    def wait(self, tuner_id, timeout):
        return self.procs[tuner_id][0].wait(timeout=timeout)

    def log(self, tuner_id):
        return (self.workdir.parent / f"{self.workdir.name}-{tuner_id}.log").read_text()

    def kill_all(self):
        for proc, log in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            log.close()


@pytest.fixture
def cluster(tmp_path):
    data.open_dataset("synthetic")  # generate the cached dataset once, not in three processes
    clusters = []

    def make(lease_seconds=60):
        clusters.append(Cluster(tmp_path / "sweep", lease_seconds))
        return clusters[-1]

    yield make
    for c in clusters:
        c.kill_all()


def check_sweep(workdir):
    rows = results.read_results(str(workdir))
    assert sorted(r["net"] for r in rows) == sorted(PLANNED)      # one row per planned net
    planned = {n.name: n for n in NETS}
    for row in rows:
        net = planned[row["net"]]
        assert (row["kind"], row["target"], row["n"], row["fine_tune"]) == \
            (net.kind, net.target, net.n, net.fine_tune)
        assert row["source"] == net.source and row["steps"] == 4
        result = files.read_json(str(workdir / "runs" / "r0" / row["net"] / "result.json"))
        assert result["config_hash"] == row["config_hash"]
        assert not (workdir / "runs" / "r0" / row["net"] / "checkpoints").exists()
    # runs/ holds the replicate's folder and the HParams experiment's event file, as a local
    # sweep's does (summaries.write_experiment).
    assert sorted(os.listdir(workdir / "runs"))[1:] == ["r0"]
    assert sorted(os.listdir(workdir / "runs"))[0].startswith("events.out.tfevents")
    assert sorted(os.listdir(workdir / "runs" / "r0")) == sorted(PLANNED)
    assert os.listdir(workdir / "kerastuner" / "leases") == []
    return rows


@pytest.mark.slow
def test_chief_and_two_workers_train_every_net_once(cluster):
    c = cluster()
    try:
        for tuner_id in ("chief", "worker0", "worker1"):
            c.start(tuner_id)
        for tuner_id in ("worker0", "worker1", "chief"):
            assert c.wait(tuner_id, timeout=600) == 0, c.log(tuner_id)[-3000:]
    finally:
        c.kill_all()
    check_sweep(c.workdir)
    trained = [line.split()[1] for w in ("worker0", "worker1") for line in c.log(w).splitlines()
               if line.startswith("worker") and " trained " in line]
    assert sorted(trained) == sorted(PLANNED_KEYS)                 # each trained exactly once
    assigned = [line.split()[1] for line in c.log("chief").splitlines() if " -> " in line]
    assert sorted(assigned) == sorted(PLANNED_KEYS)
    assert all(any(line.startswith(f"{w}: ") for line in c.log(w).splitlines())
               for w in ("worker0", "worker1")), "both workers took trials"
    assert "sweep: all 6 nets done" in c.log("chief")


@pytest.mark.slow
def test_sweep_completes_when_a_worker_is_killed_mid_trial(cluster):
    c = cluster(lease_seconds=8)
    try:
        for tuner_id in ("chief", "worker0", "worker1"):
            c.start(tuner_id)
        victim, deadline = None, time.time() + 300
        while victim is None and time.time() < deadline:
            for name in PLANNED_KEYS:
                lease = files.read_json(leases.lease_path(str(c.workdir), name))
                if lease and lease.get("tuner") == "worker1":
                    victim = name
            time.sleep(0.05)
        assert victim, "worker1 never started a trial"
        c.procs["worker1"][0].send_signal(signal.SIGKILL)
        assert c.wait("worker1", timeout=30) == -signal.SIGKILL
        assert c.wait("worker0", timeout=600) == 0, c.log("worker0")[-3000:]
        assert c.wait("chief", timeout=120) == 0, c.log("chief")[-3000:]
    finally:
        c.kill_all()
    check_sweep(c.workdir)
    chief = c.log("chief")
    assert f"worker1 stopped heartbeating on {victim}" in chief
    assert f"{victim} done by worker0" in chief


def test_flags_txt_reruns_the_net_as_it_trained():
    text = "--engine=kerastuner\n--fused\n--steps=4\n"
    assert distributed.as_local_flags(text) == "--engine=local\n--nofused\n--steps=4\n"
