"""SavedModel export of a run directory: weights stored once, refusals with one clear line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_transfer import data, export
from keras_transfer.nets import alexnet


def make_run(path, status="ok", finished=True):
    """A run directory as the sweep leaves it: model.keras, manifest.json, result.json."""
    model = alexnet.build(alexnet.architecture("caffenet_mini", 5))
    path.mkdir(parents=True)
    model.save(path / "model.keras")
    (path / "manifest.json").write_text(json.dumps(
        {"data": {"mean": [10.0, 20.0, 30.0]}, "class_names": list("abcde")}))
    if finished:
        (path / "result.json").write_text(json.dumps({"status": status, "top1": 0.5}))
    return model


def variables_bytes(saved_model):
    folder = os.path.join(saved_model, "variables")
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


def test_saved_model_holds_each_weight_once_and_serves(tmp_path):
    model = make_run(tmp_path / "run")
    path = export.export_run(str(tmp_path / "run"))
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    # Keras' ExportArchive wrote 2.0x; the variables' index and headers add well under 1 %.
    assert weight_bytes <= variables_bytes(path) < 1.05 * weight_bytes
    served = tf.saved_model.load(path)
    images = np.random.RandomState(0).randint(0, 256, (2, 40, 40, 3)).astype("uint8")
    expected = model(data.serving_preprocess(images, 32, [10.0, 20.0, 30.0]), training=False)
    np.testing.assert_allclose(served.serving_default(images).numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-6)
    signature = served.signatures["serve_float"]
    out = list(signature(tf.constant(images, tf.float32)).values())[0].numpy()
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "run" / "saved_model" / "class_names.json").read_text()) == \
        list("abcde")


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"),
    ("unfinished", "has not finished"),
    ("diverged", "'diverged'"),
    ("damaged", "cannot be loaded"),
    ("list_result", "has not finished"),
])
def test_export_refuses_what_it_cannot_export(tmp_path, case, message):
    run = tmp_path / "run"
    if case != "missing":
        make_run(run, status="diverged" if case == "diverged" else "ok",
                 finished=case != "unfinished")
    if case == "damaged":
        (run / "model.keras").write_bytes(b"not a zip file")
    if case == "list_result":
        (run / "result.json").write_text("[1, 2]")
    with pytest.raises(export.ExportError, match=message):
        export.export_run(str(run))
    assert not (run / "saved_model").exists()


def test_export_cli_unwritable_out_is_one_line(tmp_path):
    make_run(tmp_path / "run")
    blocker = tmp_path / "file"
    blocker.write_text("a file where --out wants a folder")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "keras_transfer.export",
                          f"--run_dir={tmp_path / 'run'}", f"--out={blocker / 'sm'}"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert f"cannot write the SavedModel to {blocker / 'sm'}" in out.stderr
