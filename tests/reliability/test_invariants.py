"""Invariants: frozen layers never change, copied weights match the base's recorded checksum, and
a dependant refuses a base whose weights were modified after training."""

import json
import shutil

import keras
import numpy as np
import pytest

from keras_transfer.experiment import plan, rundir, runner, setup
from keras_transfer.nets import alexnet, transfer

from .common import tiny_config

A1B, A1B_PLUS = plan.copied("A", 1, "B", False), plan.copied("A", 1, "B", True)


@pytest.fixture(scope="module")
def transferred(tmp_path_factory):
    """baseA, A1B (conv1 frozen) and A1B+ (fine-tuned) trained in one workdir."""
    workdir = tmp_path_factory.mktemp("transfer")
    ctx = setup.prepare(tiny_config(workdir, experiments=("transfer",)))
    for net in (plan.base("A"), A1B, A1B_PLUS):
        runner.run_net(ctx, net)
    return workdir


def load(workdir, net):
    return keras.saving.load_model(str(workdir / "runs" / "r0" / net / "model.keras"))


def read(workdir, net, name):
    return json.loads((workdir / "runs" / "r0" / net / name).read_text())


def conv1(model):
    return [np.asarray(w) for w in alexnet.layer(model, 1).get_weights()]


def test_frozen_layers_are_bitwise_the_base_layers(transferred):
    base, frozen, tuned = (load(transferred, n) for n in ("baseA", "A1B", "A1B+"))
    for a, b in zip(conv1(frozen), conv1(base)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(conv1(tuned), conv1(base)))


def test_copied_weights_match_the_checksums_in_the_manifest(transferred):
    base = load(transferred, "baseA")
    base_result = read(transferred, "baseA", "result.json")
    assert transfer.weights_checksum(base) == base_result["weights_sha256"]
    for net in ("A1B", "A1B+"):
        manifest = read(transferred, net, "manifest.json")
        assert manifest["parent"] == {"run_dir": "runs/r0/baseA",
                                      "weights_sha256": base_result["weights_sha256"]}
        assert manifest["copied_weights_sha256"] == transfer.weights_checksum(base, 1)
    assert transfer.weights_checksum(load(transferred, "A1B"), 1) == \
        read(transferred, "A1B", "manifest.json")["copied_weights_sha256"]


def fresh_workdir_with_base(transferred, tmp_path):
    shutil.copytree(transferred / "runs" / "r0" / "baseA", tmp_path / "runs" / "r0" / "baseA")
    return setup.prepare(tiny_config(tmp_path, experiments=("transfer",)))


def test_runner_catches_a_frozen_layer_that_trained(transferred, tmp_path, monkeypatch):
    ctx = fresh_workdir_with_base(transferred, tmp_path)
    build = transfer.build

    def leaky_build(*args, **kwargs):  # a bug that forgets to freeze conv1
        model = build(*args, **kwargs)
        alexnet.layer(model, 1).trainable = True
        return model

    monkeypatch.setattr(transfer, "build", leaky_build)
    with pytest.raises(AssertionError, match="A1B: its frozen layers changed in training"):
        runner.run_net(ctx, A1B)
    assert not (tmp_path / "runs" / "r0" / "A1B" / "result.json").exists()


def test_dependant_refuses_a_tampered_base(transferred, tmp_path):
    ctx = fresh_workdir_with_base(transferred, tmp_path)
    path = tmp_path / "runs" / "r0" / "baseA" / "model.keras"
    model = keras.saving.load_model(str(path))
    kernel = alexnet.layer(model, 1).kernel
    kernel.assign(kernel + 1e-3)
    model.save(str(path))
    with pytest.raises(rundir.RunDirError, match="baseA/model.keras does not match the checksum "
                                                 "in its result.json.*Delete .* to retrain it"):
        runner.run_net(ctx, A1B)
    assert not (tmp_path / "runs" / "r0" / "A1B" / "manifest.json").exists()
    assert not (tmp_path / "runs" / "r0" / "A1B" / "checkpoints").exists()
