"""A workdir holds one sweep's recipe and replicate count: a changed one is refused up front."""

import json

import pytest

from keras_transfer import rundir


def test_same_settings_pass_and_changed_ones_are_named(tmp_path):
    settings = {"replicates": 3, "steps": 1200, "learning_rate": 0.04}
    rundir.check_sweep(str(tmp_path), settings)
    assert json.loads((tmp_path / "sweep.json").read_text()) == settings
    rundir.check_sweep(str(tmp_path), dict(settings))  # the same sweep again: fine
    with pytest.raises(rundir.RunDirError) as e:
        rundir.check_sweep(str(tmp_path), {**settings, "replicates": 5, "steps": 300})
    message = str(e.value)
    assert "--replicates: this run 5, the workdir's 3" in message
    assert "--steps: this run 300, the workdir's 1200" in message
    assert "learning_rate" not in message and "new --workdir" in message
    assert json.loads((tmp_path / "sweep.json").read_text()) == settings  # unchanged


def test_results_without_sweep_json_are_an_older_layout(tmp_path):
    row = {"net": "baseA", "run_dir": "runs/baseA"}
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(rundir.RunDirError, match="earlier keras_transfer"):
        rundir.check_sweep(str(tmp_path), {"replicates": 1})
    assert (tmp_path / "results.jsonl").read_text() == json.dumps(row) + "\n"
    assert not (tmp_path / "sweep.json").exists()
