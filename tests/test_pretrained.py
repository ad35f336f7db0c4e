"""A sweep from a user's pretrained model (--pretrained) onto a folder dataset: what it trains,
what it copies, and the errors of a source that is missing, unreadable or of another model."""

import dataclasses
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from images import jpeg

from keras_transfer import report
from keras_transfer.experiment import pretrained, runner
from keras_transfer.experiment.config import SweepConfig
from keras_transfer.nets import backbones, transfer
from keras_transfer.training.recipe import TrainConfig, compile_model

TINY = TrainConfig(steps=4, eval_every=2, batch_size=8, lr_step=1000)
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220),
           "grey": (128, 128, 128)}


def folder_dataset(root):
    for name, colour in COLOURS.items():
        for split, count in (("train", 6), ("val", 2)):
            (root / split / name).mkdir(parents=True)
            for j in range(count):
                (root / split / name / f"{j}.JPEG").write_bytes(jpeg(colour))
    return root


def pretrained_model(path, model="caffenet_small"):
    """A source the test trains itself (7 classes of noise: nothing downloads in tests)."""
    keras.utils.set_random_seed(3)
    net = backbones.build(backbones.architecture(model, 7))
    compile_model(net, TrainConfig(steps=2, eval_every=2, learning_rate=0.01), 7)
    rng = np.random.RandomState(0)
    net.fit(rng.randn(16, 32, 32, 3).astype("float32") * 50, rng.randint(0, 7, 16),
            batch_size=8, verbose=0)
    net.save(path)
    return net


def pretrained_config(tmp_path, source, **overrides):
    return SweepConfig(**{
        "workdir": str(tmp_path / "work"), "dataset": f"folder:{tmp_path / 'data'}",
        "split": pretrained.SPLIT, "model": "caffenet_small", "layers": (1, 2),
        "experiments": ("base", "selffer", "transfer", "surgical", "llrd"), "recipe": TINY,
        "llrd_decay": 0.5,
        "pretrained": str(source),
        "pretrained_sha256": pretrained.fingerprint(str(source), overrides.get("model")),
        **overrides})


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("pretrained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_TRANSFER_CACHE", str(tmp_path / "cache"))
        folder_dataset(tmp_path / "data")
        source = pretrained_model(str(tmp_path / "source.keras"))
        config = pretrained_config(tmp_path, tmp_path / "source.keras")
        rows = runner.run_sweep(config)
        again = runner.run_sweep(config)  # a finished sweep trains nothing and returns the same
    return tmp_path, source, rows, again


def test_the_target_side_is_trained_from_the_source(swept):
    tmp_path, source, rows, again = swept
    by_name = {r["net"]: r for r in rows}
    assert sorted(by_name) == sorted(["baseB", "B1B", "B1B+", "B2B", "B2B+", "B8B+", "A1B", "A1B+",
                                      "A2B", "A2B+", "A1B-surgical", "A2B-surgical",
                                      "A1B-llrd", "A2B-llrd"])
    assert {r["target"] for r in rows} == {"B"} and {r["num_classes"] for r in rows} == {4}
    assert {r["split"] for r in rows} == {"pretrained"}
    assert {r["pretrained_sha256"] for r in rows} == {pretrained.fingerprint(
        str(tmp_path / "source.keras"))}
    assert [r["finished_at"] for r in again] == [r["finished_at"] for r in rows]
    work = tmp_path / "work"
    installed = json.loads((work / "runs" / "r0" / "baseA" / "result.json").read_text())
    assert installed["status"] == "imported"
    assert installed["weights_sha256"] == transfer.weights_checksum(source)
    lines = (work / "results.jsonl").read_text().splitlines()
    assert len(lines) == 14 and "baseA" not in {json.loads(line)["net"] for line in lines}


def test_copied_blocks_are_the_sources(swept):
    tmp_path, source, _, _ = swept
    runs = tmp_path / "work" / "runs" / "r0"
    for net, depth in (("A2B", 2), ("A1B+", 1), ("A1B-surgical", 7)):
        manifest = json.loads((runs / net / "manifest.json").read_text())
        assert manifest["copied_weights_sha256"] == transfer.weights_checksum(source, depth), net
    frozen = keras.saving.load_model(str(runs / "A2B" / "model.keras"))
    assert transfer.weights_checksum(frozen, 2) == transfer.weights_checksum(source, 2)
    surgical = keras.saving.load_model(str(runs / "A2B-surgical" / "model.keras"))
    for name in ("conv1", "conv3", "fc7"):  # untouched blocks; block 2 trained
        assert all(np.array_equal(a, b) for a, b in zip(
            surgical.get_layer(name).get_weights(), source.get_layer(name).get_weights()))
    assert (runs / "A2B-surgical" / "saved_model" / "saved_model.pb").exists()


def test_layer_wise_decay_moves_the_lower_blocks_less(swept):
    tmp_path, source, rows, _ = swept
    runs = tmp_path / "work" / "runs" / "r0"
    row = next(r for r in rows if r["net"] == "A2B-llrd")
    assert (row["kind"], row["strategy"], row["llrd_decay"]) == ("llrd", "llrd", 0.5)
    manifest = json.loads((runs / "A2B-llrd" / "manifest.json").read_text())
    assert manifest["identity"]["llrd_decay"] == 0.5
    assert manifest["copied_weights_sha256"] == transfer.weights_checksum(source, 2)
    assert "llrd_decay" not in json.loads((runs / "A2B+" / "manifest.json").read_text())[
        "identity"]

    def moved(net, layer):
        trained = keras.saving.load_model(str(runs / net / "model.keras"), compile=False)
        return np.linalg.norm(trained.get_layer(layer).get_weights()[0]
                              - source.get_layer(layer).get_weights()[0])
    # conv1 learns at 0.25 of AnB+'s rate, conv2 at 0.5: same init and batches (paired), so
    # after 4 steps they moved about that much less.
    assert 0.1 < moved("A2B-llrd", "conv1") / moved("A2B+", "conv1") < 0.45
    assert 0.3 < moved("A2B-llrd", "conv2") / moved("A2B+", "conv2") < 0.7
    assert (runs / "A2B-llrd" / "saved_model" / "saved_model.pb").exists()


def test_the_report_expects_only_the_target_side(swept):
    tmp_path, _, rows, _ = swept
    text = report.render_markdown(rows, ["x"], [])
    assert "- split pretrained, seed 0, replicate 0: complete" in text
    assert "## Adaptation strategies on the same n axis" in text


def test_a_bad_source_fails_before_anything_trains(tmp_path):
    folder_dataset(tmp_path / "data")
    with pytest.raises(pretrained.PretrainedError, match="no such file"):
        pretrained.fingerprint(str(tmp_path / "missing.keras"))
    (tmp_path / "saved").mkdir()
    with pytest.raises(pretrained.PretrainedError, match="is a directory"):
        pretrained.fingerprint(str(tmp_path / "saved"))
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(pretrained.PretrainedError, match="cannot be loaded"):
        runner.run_sweep(pretrained_config(tmp_path, tmp_path / "junk.keras"))
    (tmp_path / "notes.txt").write_text("a README, not a model")
    with pytest.raises(pretrained.PretrainedError, match=r"notes.txt: not a model file: give a "
                       r"\.keras file"):
        runner.run_sweep(pretrained_config(tmp_path, tmp_path / "notes.txt"))
    pretrained_model(str(tmp_path / "mobilenet.keras"), model="mobilenetv3_mini")
    with pytest.raises(pretrained.PretrainedError, match=r"does not fit --model=caffenet_small: "
                       r"cannot copy layer 'conv1' \(of blocks 1..7\): the source .* has no layer"):
        runner.run_sweep(pretrained_config(tmp_path, tmp_path / "mobilenet.keras"))
    assert not (tmp_path / "work" / "results.jsonl").exists()
    assert not (tmp_path / "work" / "sweep.json").exists()  # the workdir is not bound to it


def test_source_with_a_split_is_one_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "keras_transfer.sweep",
                          "--flagfile=flags/tiny.flags",
                          f"--pretrained={tmp_path}/x.keras", "--split=random",
                          f"--workdir={tmp_path}/w"], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        "error: --pretrained trains on every class of --dataset (the target); drop --split=random")


@pytest.mark.parametrize("model", ["caffenet_small", "mobilenetv3_mini"])
def test_a_source_reads_from_each_format_keras_writes(tmp_path, model):
    source = pretrained_model(str(tmp_path / "source.keras"), model=model)
    source.save_weights(str(tmp_path / "source.weights.h5"))
    source.export(str(tmp_path / "exported"), verbose=False)
    expected = transfer.weights_checksum(source)  # BatchNorm's moving statistics included
    for path in ("source.keras", "source.weights.h5", "exported"):
        config = pretrained_config(tmp_path, tmp_path / path, model=model)
        loaded = pretrained.load(config)
        assert transfer.weights_checksum(loaded) == expected, path
        assert loaded.output_shape == (None, 7), path  # the source's classifier width
    assert pretrained.fingerprint(str(tmp_path / "exported")) == pretrained.fingerprint(
        str(tmp_path / "exported"))


def test_a_weights_file_or_savedmodel_of_another_model_is_one_clear_error(tmp_path):
    source = pretrained_model(str(tmp_path / "mobilenet.keras"), model="mobilenetv3_mini")
    source.save_weights(str(tmp_path / "mobilenet.weights.h5"))
    source.export(str(tmp_path / "mobilenet_export"), verbose=False)
    with pytest.raises(pretrained.PretrainedError, match=r"mobilenet.weights.h5: the weights file "
                       r".* does not fit this --model"):
        pretrained.load(pretrained_config(tmp_path, tmp_path / "mobilenet.weights.h5"))
    with pytest.raises(pretrained.PretrainedError, match=r"has no variable 'fc8/kernel' \(the "
                       r"classifier of this --model\)"):
        pretrained.load(pretrained_config(tmp_path, tmp_path / "mobilenet_export"))
    wide = pretrained_model(str(tmp_path / "caffenet.keras"), model="caffenet_mini")
    wide.export(str(tmp_path / "caffenet_export"), verbose=False)
    # caffenet_mini's convs are caffenet_small's; its fc6 reads a larger map.
    with pytest.raises(pretrained.PretrainedError, match=r"its variable 'fc6/kernel' is of shape "
                       r"\(64, 512\), the model's is of shape \(576, 512\)"):
        pretrained.load(pretrained_config(tmp_path, tmp_path / "caffenet_export"))
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(pretrained.PretrainedError, match="cannot be read"):
        pretrained.load(pretrained_config(tmp_path, tmp_path / "junk.weights.h5"))


def legacy_weights_file(path, trunk):
    """A weights file in the format keras.applications downloads (legacy HDF5, by topology)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, trunk)
    return str(path)


@pytest.mark.parametrize("model", ["mobilenetv3_small", "resnet50"])
def test_imagenet_source_is_keras_applications_weights(tmp_path, monkeypatch, model):
    from keras.src.utils import file_utils
    keras.utils.set_random_seed(5)
    trunk = (keras.applications.MobileNetV3Small(input_shape=(224, 224, 3), include_top=False,
                                                 weights=None, include_preprocessing=False)
             if model == "mobilenetv3_small" else
             keras.applications.ResNet50(input_shape=(224, 224, 3), include_top=False,
                                         weights=None))
    weights = legacy_weights_file(tmp_path / "imagenet.h5", trunk)  # nothing downloads
    asked = []
    monkeypatch.setattr(file_utils, "get_file", lambda name, *a, **k: asked.append(name) or weights)
    sha = pretrained.fingerprint("imagenet", model)
    assert asked == [{"mobilenetv3_small": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                      "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"}[model]]
    net = pretrained.load(pretrained_config(tmp_path, "imagenet", model=model))
    assert net.output_shape == (None, 1000)
    for layer in trunk.layers:
        if not layer.weights:
            continue
        expected = layer.get_weights()
        if layer.name == "conv1_conv":  # ResNet-50's BGR filters, turned to read RGB
            expected = [expected[0][:, :, ::-1, :], expected[1]]
        assert all(np.array_equal(a, b) for a, b in zip(
            net.get_layer(layer.name).get_weights(), expected)), layer.name
    assert pretrained.fingerprint("imagenet", model) == sha  # the fresh classifier is not in it


def test_imagenet_source_errors_name_the_model_and_the_download(tmp_path, monkeypatch):
    from keras.src.utils import file_utils
    with pytest.raises(pretrained.PretrainedError, match="--model=caffenet_small has no ImageNet "
                       "weights; choose one of mobilenetv3_small, resnet50"):
        pretrained.fingerprint("imagenet", "caffenet_small")

    def offline(name, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure "
                        "in name resolution")
    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(pretrained.PretrainedError,
                       match=r"--pretrained=imagenet: keras.applications' "
                       r"ImageNet weights could not be loaded \(Exception: URL fetch failure .*"
                       r"~/.keras/models"):
        pretrained.fingerprint("imagenet", "mobilenetv3_small")


@pytest.mark.parametrize("model", ["caffenet_small", "resnet_mini"])
def test_the_kerastuner_engine_trains_from_the_source_as_the_local_one(tmp_path, monkeypatch,
                                                                      model):
    from keras_transfer.experiment import distributed
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path / "cache"))
    folder_dataset(tmp_path / "data")
    pretrained_model(str(tmp_path / "source.keras"), model)
    config = pretrained_config(tmp_path, tmp_path / "source.keras", layers=(2,), model=model,
                           experiments=("base", "transfer"), export=False)
    local = {r["net"]: r for r in runner.run_sweep(config)}
    kt = {r["net"]: r for r in distributed.run_sweep(
        dataclasses.replace(config, workdir=str(tmp_path / "kt")), lease_seconds=60)}
    assert sorted(kt) == sorted(local) == ["A2B", "A2B+", "baseB"]
    for name, row in local.items():  # the same nets from the same installed source
        assert (kt[name]["top1"], kt[name]["config_hash"]) == (row["top1"],
                                                               row["config_hash"]), name
    installed = json.loads((tmp_path / "kt" / "runs" / "r0" / "baseA" / "result.json").read_text())
    assert installed["status"] == "imported"
