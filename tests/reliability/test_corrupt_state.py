"""Corrupt state: damaged checkpoints, result.json and results.jsonl lines lose no finished work."""

import json
import logging
import os

import numpy as np
import pytest

from keras_transfer.experiment import results, runner
from keras_transfer.nets import alexnet
from keras_transfer.training import checkpoints
from keras_transfer.training.history import DamagedHistory, result_from_history
from keras_transfer.training.recipe import compile_model

from .common import TINY, tiny_config, tree_digest

DAMAGES = {
    "truncated": lambda data: data[:len(data) // 2],
    "garbage": lambda data: os.urandom(len(data)),
    "empty": lambda data: b"",
}
# And for result.json, damage that is still valid JSON: not a result either.
RESULT_DAMAGES = {
    **DAMAGES,
    "empty object": lambda data: b"{}",  # as a new user tried it
    "a key short": lambda data: json.dumps(
        {k: v for k, v in json.loads(data).items() if k != "top1_best10"}).encode(),
}


def damage(path, how):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(RESULT_DAMAGES[how](data))


def tiny_model():
    model = alexnet.build(alexnet.architecture("caffenet_small", 4))
    compile_model(model, TINY, 4)
    model.optimizer.build(model.trainable_variables)
    return model


def save_epochs(directory, epochs):
    """Checkpoints epochs 1..epochs of a model whose weights are all `epoch`; the model."""
    model = tiny_model()
    saver = checkpoints.Checkpointer(str(directory), keep=epochs)
    saver.set_model(model)
    for epoch in range(epochs):
        model.set_weights([np.full(w.shape, epoch + 1, w.dtype) for w in model.get_weights()])
        saver.on_epoch_end(epoch)
    return model


def filled_with(model, value):
    return all(np.all(w == value) for w in model.get_weights())


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog, how):
    save_epochs(tmp_path, 3)
    damage(tmp_path / "ckpt-000003.weights.h5", how)
    model = tiny_model()
    with caplog.at_level(logging.WARNING):
        assert checkpoints.Checkpointer(str(tmp_path)).restore(model) == 2
    assert filled_with(model, 2)
    # the recorded sha256 catches every kind of damage before h5py reads a byte
    assert any("ckpt-000003.weights.h5 does not match its recorded checksum" in r.getMessage()
               for r in caplog.records)
    # set aside, so it can never outrank (and outlive) the checkpoints written after it
    assert sorted(os.listdir(tmp_path)) == [
        "ckpt-000001.json", "ckpt-000001.weights.h5", "ckpt-000002.json",
        "ckpt-000002.weights.h5", "unreadable-ckpt-000003.json",
        "unreadable-ckpt-000003.weights.h5"]


def test_no_readable_checkpoint_restarts_from_the_initialisation(tmp_path, caplog):
    save_epochs(tmp_path, 2)
    for name in os.listdir(tmp_path):
        damage(tmp_path / name, "truncated")
    model = tiny_model()
    initial = [w.copy() for w in model.get_weights()]
    with caplog.at_level(logging.WARNING):
        assert checkpoints.Checkpointer(str(tmp_path)).restore(model) == 0
    for w, i in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(w, i)
    assert any("no readable checkpoint" in r.getMessage() for r in caplog.records)
    assert checkpoints.checkpoint_paths(str(tmp_path)) == []


def test_leftover_temporary_checkpoint_is_never_the_newest(tmp_path):
    """A crash inside save_weights leaves .tmp-ckpt-N; only the rename publishes ckpt-N."""
    save_epochs(tmp_path, 2)
    with open(tmp_path / ".tmp-ckpt-000003.weights.h5", "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n half a file")
    assert [os.path.basename(p) for p in checkpoints.checkpoint_paths(str(tmp_path))] == \
        ["ckpt-000002.weights.h5", "ckpt-000001.weights.h5"]
    model = tiny_model()
    assert checkpoints.Checkpointer(str(tmp_path)).restore(model) == 2 and filled_with(model, 2)


def test_crash_while_saving_publishes_nothing(tmp_path, monkeypatch):
    model = save_epochs(tmp_path, 1)
    saver = checkpoints.Checkpointer(str(tmp_path))
    saver.set_model(model)

    def dies_half_way(path, overwrite=True):
        with open(path, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save_weights", dies_half_way)
    with pytest.raises(OSError, match="No space"):
        saver.on_epoch_end(1)
    assert [os.path.basename(p) for p in checkpoints.checkpoint_paths(str(tmp_path))] == \
        ["ckpt-000001.weights.h5"]
    fresh = tiny_model()
    assert checkpoints.Checkpointer(str(tmp_path)).restore(fresh) == 1 and filled_with(fresh, 1)


def rows(workdir):
    with open(workdir / "results.jsonl") as f:
        return [json.loads(line) for line in f]


def result(workdir, net):
    return json.loads((workdir / "runs" / "r0" / net / "result.json").read_text())


@pytest.mark.parametrize("how", ["truncated", "empty object",
                                 pytest.param("a key short", marks=pytest.mark.slow),
                                 pytest.param("garbage", marks=pytest.mark.slow)])
def test_damaged_result_json_reruns_that_net_only(finished_copy, how):
    work = finished_copy
    old_a, b_before = result(work, "baseA"), tree_digest(work / "runs" / "r0" / "baseB")
    damage(work / "runs" / "r0" / "baseA" / "result.json", how)
    runner.run_sweep(tiny_config(work))
    new_a = result(work, "baseA")
    assert new_a["finished_at"] >= old_a["finished_at"] and new_a["steps"] == 4
    assert new_a["weights_sha256"] == old_a["weights_sha256"]  # deterministic on CPU
    assert tree_digest(work / "runs" / "r0" / "baseB") == b_before
    # one row per net, the retrained one's new row; the old row is kept aside, not lost
    assert sorted((r["net"], r["finished_at"]) for r in rows(work)) == sorted(
        [("baseA", new_a["finished_at"]), ("baseB", result(work, "baseB")["finished_at"])])
    with open(work / results.SUPERSEDED) as f:
        assert [json.loads(line) for line in f] == [old_a]
    # Every row is a result (never the damaged file's `{}`): the report reads the file.
    assert all(r.get("top1_best10") is not None for r in rows(work))


@pytest.mark.parametrize("damaged", ["torn last line", "garbage middle line", "deleted"])
def test_damaged_results_jsonl_is_rebuilt_from_run_dirs(finished_copy, caplog, damaged):
    work = finished_copy
    original = (work / "results.jsonl").read_text()
    runs_before = tree_digest(work / "runs")
    lines = original.splitlines(keepends=True)
    if damaged == "torn last line":
        text = original + lines[0][:40]  # a crash mid-append: no newline
    elif damaged == "garbage middle line":
        text = lines[0] + "{not json\n" + lines[1]
    else:
        text = None
        os.remove(work / "results.jsonl")
    if text is not None:
        (work / "results.jsonl").write_text(text)
    with caplog.at_level(logging.WARNING):
        runner.run_sweep(tiny_config(work))
    assert tree_digest(work / "runs") == runs_before  # nothing retrained
    assert (work / "results.jsonl").read_text() == original
    if damaged != "deleted":
        assert any("damaged and ignored" in r.getMessage() for r in caplog.records)


def test_damaged_base_model_is_named_as_damaged_not_missing(finished_copy):
    from .common import error_lines, run_cli
    work = finished_copy
    (work / "runs" / "r0" / "baseA" / "model.keras").write_bytes(b"garbage, not a zip")
    before = tree_digest(work / "runs" / "r0" / "baseB")
    out = run_cli(work, "--experiments=base,transfer", "--layers=1")
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = error_lines(out.stderr)
    assert len(errors) == 1 and "baseA/model.keras' exists but cannot be loaded" in errors[0]
    assert "Delete its run directory" in errors[0]
    assert tree_digest(work / "runs" / "r0" / "baseB") == before


@pytest.mark.parametrize("content, message", [
    ('{"epoch": 0, "val_top1": 0.1}\n{"epoch": 1, "val_t', ":2 is damaged"),
    ("[1, 2]\n", ":1 is damaged"),
    ("", "holds 0 of the 2 evaluations"),
])
def test_damaged_history_is_one_clear_error_naming_it(tmp_path, content, message):
    (tmp_path / "history.jsonl").write_text(content)
    with pytest.raises(DamagedHistory, match=message) as info:
        result_from_history(str(tmp_path), TINY)
    assert str(tmp_path) in str(info.value) and "rerun the sweep" in str(info.value)
