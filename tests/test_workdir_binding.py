"""A workdir holds one sweep's recipe: a changed one is refused up front; more replicates are
taken."""

import json

import pytest

from keras_transfer.experiment import rundir, setup
from keras_transfer.experiment.config import SweepConfig
from keras_transfer.training.recipe import TrainConfig


def test_same_settings_pass_and_changed_ones_are_named(tmp_path):
    settings = {"replicates": 3, "steps": 1200, "learning_rate": 0.04}
    rundir.check_sweep(str(tmp_path), settings)
    assert json.loads((tmp_path / "sweep.json").read_text()) == settings
    rundir.check_sweep(str(tmp_path), dict(settings))  # the same sweep again: fine
    with pytest.raises(rundir.RunDirError) as e:
        rundir.check_sweep(str(tmp_path), {**settings, "replicates": 5, "steps": 300})
    message = str(e.value)
    assert "--steps: this run 300, the workdir's 1200" in message
    assert "replicates" not in message and "learning_rate" not in message
    assert "new --workdir" in message
    assert json.loads((tmp_path / "sweep.json").read_text()) == settings  # unchanged


def test_more_replicates_are_taken_and_the_largest_count_recorded(tmp_path):
    settings = {"replicates": 1, "steps": 1200}
    rundir.check_sweep(str(tmp_path), settings)
    rundir.check_sweep(str(tmp_path), {**settings, "replicates": 3})
    assert json.loads((tmp_path / "sweep.json").read_text()) == {**settings, "replicates": 3}
    rundir.check_sweep(str(tmp_path), {**settings, "replicates": 2})  # fewer: r0, r1 only
    assert json.loads((tmp_path / "sweep.json").read_text()) == {**settings, "replicates": 3}


def test_results_without_sweep_json_are_an_older_layout(tmp_path):
    row = {"net": "baseA", "run_dir": "runs/baseA"}
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(rundir.RunDirError, match="earlier keras_transfer"):
        rundir.check_sweep(str(tmp_path), {"replicates": 1})
    assert (tmp_path / "results.jsonl").read_text() == json.dumps(row) + "\n"
    assert not (tmp_path / "sweep.json").exists()


def test_one_sweep_per_workdir_and_a_dead_holder_frees_it(tmp_path):
    import subprocess
    import sys
    import time

    workdir = str(tmp_path / "w")
    with rundir.workdir_lock(workdir):
        with pytest.raises(rundir.RunDirError, match="in use by another sweep .*\"pid\""):
            with rundir.workdir_lock(workdir):
                pass
    with rundir.workdir_lock(workdir):  # released on exit
        pass
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from keras_transfer.experiment import rundir\n"
        f"with rundir.workdir_lock({workdir!r}):\n"
        "    print('locked', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(rundir.RunDirError, match=f"\"pid\": {holder.pid}"):
            with rundir.workdir_lock(workdir):
                pass
    finally:
        holder.kill()  # a crash: no cleanup runs in the holder
        holder.wait()
    deadline = time.time() + 10
    with rundir.workdir_lock(workdir):
        assert time.time() < deadline


@pytest.mark.parametrize("change, flag", [({"learning_rate": 0.0}, "--learning_rate=0.0"),
                                          ({"learning_rate": -0.01}, "--learning_rate=-0.01"),
                                          ({"momentum": 1.0}, "--momentum=1.0"),
                                          ({"lr_gamma": 0.0}, "--lr_gamma=0.0"),
                                          ({"lr_step": 0}, "--lr_step=0")])
def test_recipes_that_cannot_train_are_refused_before_anything_is_written(tmp_path, change,
                                                                          flag):
    with pytest.raises(ValueError, match=flag):
        setup.prepare(SweepConfig(
            workdir=str(tmp_path / "w"), recipe=TrainConfig(steps=4, eval_every=2,
                                                                  **change)))
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("experiments, message", [(("base", "foo"), "unknown experiments"),
                                                   (("base", "lp_ft"), "add transfer")])
def test_a_plan_that_cannot_be_made_does_not_bind_the_workdir(tmp_path, experiments, message):
    workdir = tmp_path / "w"
    workdir.mkdir()
    with pytest.raises(ValueError, match=message):
        setup.prepare(SweepConfig(workdir=str(workdir), experiments=experiments, layers=(1,),
                                  recipe=TrainConfig(steps=4, eval_every=2)))
    assert not (workdir / "sweep.json").exists()


def test_a_workdir_holds_nets_trained_one_way_fused_or_not(tmp_path):
    settings = {"replicates": 1, "fused": True}
    rundir.check_sweep(str(tmp_path), settings)
    with pytest.raises(rundir.RunDirError, match="--fused: this run False, the workdir's True"):
        rundir.check_sweep(str(tmp_path), {**settings, "fused": False})
    # A sweep.json from before `fused` was recorded meant the local engine's default (fused).
    (tmp_path / "sweep.json").write_text(json.dumps({"replicates": 1}))
    rundir.check_sweep(str(tmp_path), settings)
    with pytest.raises(rundir.RunDirError, match="--fused"):
        rundir.check_sweep(str(tmp_path), {**settings, "fused": False})
