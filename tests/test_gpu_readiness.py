"""Mixed precision, MirroredStrategy and fused frozen heads work together in one sweep, and the
sweep's architecture overrides (--dropout, --weight_decay) reach every net, fused heads too.

No GPU here: two logical CPU devices stand in for two GPUs (MirroredStrategy mirrors over them)
and mixed precision is mixed_bfloat16 (the policy a CPU gets). Runs in a subprocess because
logical devices must be configured before TensorFlow initialises.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_transfer.experiment import runner
    from keras_transfer.experiment.config import SweepConfig
    from keras_transfer.training.recipe import TrainConfig

    workdir = sys.argv[1]
    config = SweepConfig(
        workdir=workdir, model="caffenet_mini", layers=(1, 2),
        experiments=("base", "transfer"),
        recipe=TrainConfig(steps=4, eval_every=2, batch_size=8, learning_rate=0.01,
                                 lr_step=1000),
        strategy="mirrored", mixed_precision=True, fused=True, dropout=0.0, weight_decay=1e-3)
    rows = runner.run_sweep(config)
    out = {"rows": rows, "policy": keras.mixed_precision.global_policy().name}
    manifests = {r["net"]: json.load(open(os.path.join(workdir, r["run_dir"], "manifest.json")))
                 for r in rows}
    out["global_batch"] = {k: m["identity"]["global_batch"] for k, m in manifests.items()}
    out["fused"] = {k: m.get("fused", {}).get("nets") for k, m in manifests.items()}
    out["arch"] = {}
    for r in rows:
        model = keras.saving.load_model(os.path.join(workdir, r["run_dir"], "model.keras"))
        out["arch"][r["net"]] = [model.get_layer("drop6").rate,
                                 model.get_layer("fc6").kernel_regularizer.get_config()["l2"]]
    saved = tf.saved_model.load(os.path.join(workdir, "runs", "r0", "A1B+", "saved_model"))
    probs = saved.signatures["serving_default"](tf.zeros([3, 40, 40, 3], tf.uint8))
    probs = next(iter(probs.values()))
    out["serve"] = {"shape": list(probs.shape), "dtype": probs.dtype.name,
                    "sums": tf.reduce_sum(tf.cast(probs, tf.float32), axis=1).numpy().tolist()}
    print("RESULT" + json.dumps(out))
""")


def test_mixed_precision_mirrored_and_fused_heads_together(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "true"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "work")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    assert out["policy"] == "mixed_bfloat16"
    names = sorted(r["net"] for r in out["rows"])
    assert names == sorted(["baseA", "baseB", "A1B", "A1B+", "B1A", "B1A+",
                            "A2B", "A2B+", "B2A", "B2A+"])
    assert set(out["global_batch"].values()) == {16}  # 8 per replica x 2 replicas
    assert out["fused"]["A1B"] == out["fused"]["A2B"] == ["A1B", "A2B"]
    assert out["fused"]["B2A"] == ["B1A", "B2A"]
    assert out["fused"]["A1B+"] == ["A1B+", "A2B+"]  # fine-tuned nets: side by side
    assert out["fused"]["baseA"] is None
    for net, (dropout, l2) in out["arch"].items():  # fused heads included
        assert dropout == 0.0 and l2 == pytest.approx(5e-4), net  # Keras' L2 = decay / 2
    for row in out["rows"]:
        assert 0.0 <= row["top1"] <= 1.0 and row["steps"] == 4
    assert out["serve"]["shape"] == [3, 20] and out["serve"]["dtype"] == "float32"
    assert all(abs(s - 1.0) < 1e-3 for s in out["serve"]["sums"])
