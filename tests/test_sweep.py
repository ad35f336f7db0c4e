"""The tiny sweep end to end on the embedded dataset: rows, run dirs, TensorBoard, SavedModels."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from reliability.common import tree_digest

from keras_transfer import data
from keras_transfer.experiment import plan, runner, setup
from keras_transfer.experiment.config import Context, SweepConfig, net_identity
from keras_transfer.training import fit
from keras_transfer.training.recipe import TrainConfig

TINY = TrainConfig(steps=4, eval_every=2, batch_size=16, lr_step=1000)
EXPECTED = {"baseA", "baseB", "baseAll", "random1",
            "A1A", "A1A+", "B1A", "B1A+", "A1B", "A1B+", "B1B", "B1B+",
            "A8A+", "B8B+"}  # each base continued for one more budget (kind continued)


def tiny_config(workdir, **overrides):
    return SweepConfig(workdir=str(workdir), **{"layers": (1,), "recipe": TINY, **overrides})


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    # Module fixtures run before conftest's per-test cache env: set the same cache here, or
    # the first sweep would read a user's cache and later tests another (other fingerprint).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_TRANSFER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        workdir = tmp_path_factory.mktemp("sweep")
        rows = runner.run_sweep(tiny_config(workdir))
    return workdir, rows


def test_every_planned_net_has_one_row(swept):
    workdir, rows = swept
    with open(workdir / "results.jsonl") as f:
        written = [json.loads(line) for line in f]
    assert sorted(r["net"] for r in written) == sorted(EXPECTED)
    by_name = {r["net"]: r for r in written}
    assert by_name["A1B+"]["kind"] == "transfer" and by_name["A1B+"]["source"] == "A"
    assert by_name["B1B"]["kind"] == "selffer" and by_name["B1B"]["fine_tune"] is False
    assert by_name["random1"]["target"] == "all" and by_name["baseAll"]["n"] == 0
    # natural/man-made halves of the embedded dataset; the all-class nets see both
    assert by_name["baseAll"]["num_classes"] == by_name["baseA"]["num_classes"] + \
        by_name["baseB"]["num_classes"]
    # One recipe for the whole sweep, recorded in every row (the report refuses to pool two);
    # the natural/man-made split has no seed.
    assert len({r["recipe_hash"] for r in written}) == 1
    assert written[0]["recipe"]["steps"] == 4 and "replicates" not in written[0]["recipe"]
    for row in written:
        assert row["split"] == "natural_manmade" and row["split_seed"] is None
        assert 0.0 <= row["top1"] <= 1.0 and row["steps"] == 4
        assert row["top1_best10"] == pytest.approx(np.mean(sorted(
            h["val_top1"] for h in history(workdir, row["net"]))[-2:]))


def history(workdir, net):
    with open(workdir / "runs" / "r0" / net / "history.jsonl") as f:
        return [json.loads(line) for line in f]


def test_run_directories_follow_the_contract(swept):
    workdir, _ = swept
    for net in EXPECTED:
        run = workdir / "runs" / "r0" / net
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["config_hash"] == json.loads((run / "result.json").read_text())["config_hash"]
        assert manifest["identity"]["split_fingerprint"] and manifest["data"]["fingerprint"]
        assert "keras" in manifest["versions"] and manifest["host"]
        assert (run / "flags.txt").exists() and (run / "model.keras").exists()
        assert not (run / "checkpoints").exists(), "resume state is removed once done"
        assert len(history(workdir, net)) == 2
        exported = (run / "saved_model" / "saved_model.pb").exists()
        assert exported == (net.startswith("base") or net.endswith("+"))
    a1b = json.loads((workdir / "runs" / "r0" / "A1B" / "manifest.json").read_text())
    base_a = json.loads((workdir / "runs" / "r0" / "baseA" / "result.json").read_text())
    assert a1b["parent"]["weights_sha256"] == base_a["weights_sha256"]


def test_saved_model_serves_same_predictions(swept):
    import keras
    workdir, _ = swept
    run = workdir / "runs" / "r0" / "A1B+"
    model = keras.saving.load_model(str(run / "model.keras"))
    served = tf.saved_model.load(str(run / "saved_model"))
    mean = json.loads((run / "manifest.json").read_text())["data"]["mean"]
    images = np.random.RandomState(0).randint(0, 256, (3, 32, 32, 3)).astype("uint8")
    expected = model(data.serving_preprocess(images, 32, mean), training=False)
    np.testing.assert_allclose(served.serving_default(images).numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-6)
    signature = served.signatures["serving_default"]
    np.testing.assert_allclose(list(signature(tf.constant(images)).values())[0].numpy(),
                               expected.numpy(), rtol=1e-5, atol=1e-6)
    out = served.serve_float(tf.constant(images, tf.float32)).numpy()
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert out.shape == (3, 20) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_export_cli_serves_any_finished_net(swept, tmp_path):
    workdir, _ = swept
    run = workdir / "runs" / "r0" / "A1B"  # a frozen net: not exported by the sweep
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "keras_transfer.export", f"--run_dir={run}",
                          f"--out={tmp_path / 'sm'}"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    served = tf.saved_model.load(str(tmp_path / "sm"))
    images = np.zeros((2, 40, 40, 3), "uint8")
    assert served.serving_default(images).shape == (2, 20)
    bad = subprocess.run([sys.executable, "-m", "keras_transfer.export",
                          f"--run_dir={tmp_path / 'nope'}"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bad.returncode != 0 and "not found" in bad.stderr and "Traceback" not in bad.stderr


def load_logdir(logdir):
    from tensorboard.backend.event_processing import event_multiplexer
    mux = event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return mux


def scalars(mux, run, tag):
    return [(e.step, round(float(tf.make_ndarray(e.tensor_proto)), 6))
            for e in mux.GetAccumulator(run).Tensors(tag)]


def test_tensorboard_view_groups_curves_by_target_n_and_kind(swept):
    from keras_transfer.experiment import tensorboard_view
    workdir, _ = swept
    mux = load_logdir(workdir / "tensorboard")
    # One run per series: few enough (<= 40) for TensorBoard to tick them all by default.
    assert set(mux.Runs()) == {"base", "selffer", "selffer+", "transfer", "transfer+", "random",
                               "continued+"}
    card = "B: top-1 (validation)/n1 r0"
    for run in ("base", "selffer", "selffer+", "transfer", "transfer+"):
        assert card in mux.GetAccumulator(run).Tags()["tensors"], run
    assert "B: train loss/n1 r0" in mux.GetAccumulator("transfer+").Tags()["tensors"]
    # The regime: the training sample's top-1 in a card of its own per target, n, replicate.
    assert "B: top-1 (training sample)/n1 r0" in mux.GetAccumulator("transfer+").Tags()["tensors"]
    assert "B: top-1 (validation)/n8 r0" in mux.GetAccumulator("continued+").Tags()["tensors"]
    assert "all: top-1 (validation)/n1 r0" in mux.GetAccumulator("random").Tags()["tensors"]
    # Every base is the reference line of a card, so none needs a card of its own.
    assert not [t for t in mux.GetAccumulator("base").Tags()["tensors"] if "/base r" in t]
    # Each line is the net's own history at its training steps; base is its reference.
    for run, net in (("selffer", "B1B"), ("transfer+", "A1B+"), ("base", "baseB")):
        expected = [(h["step"], round(h["val_top1"], 6)) for h in history(workdir, net)]
        assert scalars(mux, run, card) == expected and [s for s, _ in expected] == [2, 4]
    filters = mux.GetAccumulator("base").Tensors("conv1 filters/baseA r0")
    assert sorted(e.step for e in filters) == [0, TINY.steps]  # before and after training
    assert [s for s, _ in scalars(mux, "base", "learning rate/schedule")] == [2, 4]
    view = workdir / "tensorboard"
    def state():
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in view.rglob("*") if p.is_file()}

    before = state()
    assert tensorboard_view.update(str(workdir)) == 0  # up to date: nothing rewritten
    assert state() == before


def test_hparams_show_what_each_net_is(swept):
    from tensorboard.plugins.hparams import plugin_data_pb2
    workdir, _ = swept
    mux = load_logdir(workdir / "runs")
    experiment, sessions = None, {}
    for run, tags in mux.PluginRunToTagToContent("hparams").items():
        for content in tags.values():
            parsed = plugin_data_pb2.HParamsPluginData.FromString(content)
            if parsed.HasField("experiment"):
                experiment = parsed.experiment
            if parsed.HasField("session_start_info"):
                sessions[run] = parsed.session_start_info
    names = [h.name for h in experiment.hparam_infos]
    # The dashboard ticks the first five by name: these answer the paper's question.
    assert sorted(names)[:5] == ["kind", "n", "source", "strategy", "target"]
    assert set(names) == {"kind", "n", "source", "strategy", "target", "trial/replicate",
                          "trial/seed", "trial/split"}  # no per-class column: none is used
    assert {h.name: h.display_name for h in experiment.hparam_infos}["trial/replicate"] == \
        "replicate"
    assert [m.name.tag for m in experiment.metric_infos] == [
        "hparams/top1_best10", "hparams/converged", "hparams/top1"]
    assert set(sessions) == {f"r0/{net}" for net in EXPECTED}
    info = sessions["r0/A1B+"]
    values = {k: v.string_value for k, v in info.hparams.items()}
    assert values == {"kind": "transfer", "n": "1", "source": "A", "strategy": "fine_tune",
                      "target": "B", "trial/replicate": "0", "trial/seed": "0",
                      "trial/split": "natural_manmade"}
    assert info.group_name == "r0/A1B+"
    assert {k: v.string_value for k, v in sessions["r0/random1"].hparams.items()}[
        "strategy"] == "random_frozen"
    metrics = mux.GetAccumulator("r0/A1B+").Tags()["tensors"]
    assert {"hparams/top1_best10", "hparams/converged", "hparams/top1"} <= set(metrics)
    assert [e.step for e in mux.GetAccumulator("r0/A1B+").Tensors("hparams/top1")] == [4]
    lr = mux.GetAccumulator("r0/A1B/train").Tensors("epoch_learning_rate")
    assert [e.step for e in lr] == [2, 4]  # every net's, at the training step


def test_second_run_trains_nothing_and_changes_nothing(swept):
    workdir, first = swept
    before = tree_digest(workdir)
    rows = runner.run_sweep(tiny_config(workdir))
    assert [r["top1"] for r in rows] == [r["top1"] for r in first]
    assert tree_digest(workdir) == before


def test_changed_recipe_is_not_silently_reused(swept):
    from keras_transfer.experiment import rundir
    workdir, _ = swept
    changed = tiny_config(workdir, recipe=TrainConfig(
        steps=4, eval_every=2, batch_size=16, lr_step=1000, learning_rate=0.02))
    before = tree_digest(workdir)
    with pytest.raises(rundir.RunDirError, match="--learning_rate: this run 0.02"):
        runner.run_sweep(changed)
    assert tree_digest(workdir) == before  # refused before anything was touched


def test_interrupted_net_resumes_from_checkpoint(tmp_path):
    class Crash(Exception):
        pass

    import keras

    class CrashAt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Crash()

    config = tiny_config(tmp_path, experiments=("base",))
    ctx = setup.prepare(config)
    net = plan.base("A")
    recipe = TrainConfig(steps=6, eval_every=2, batch_size=16, lr_step=1000)
    ctx = Context(SweepConfig(workdir=str(tmp_path), layers=(1,), recipe=recipe),
                         ctx.data, ctx.split, ctx.strategy)
    original_fit = fit.fit

    def crashing_fit(*args, **kwargs):
        kwargs["extra_callbacks"] = [*kwargs.get("extra_callbacks", ()), CrashAt()]
        return original_fit(*args, **kwargs)

    fit.fit = crashing_fit
    try:
        with pytest.raises(Crash):
            runner.run_net(ctx, net)
    finally:
        fit.fit = original_fit
    run = tmp_path / "runs" / "r0" / "baseA"
    assert not (run / "result.json").exists()
    assert sorted(os.listdir(run / "checkpoints")) == [
        "ckpt-000001.json", "ckpt-000001.weights.h5", "ckpt-000002.json", "ckpt-000002.weights.h5"]
    record = json.loads((run / "checkpoints" / "ckpt-000002.json").read_text())
    assert record["owner"] == {"net": "r0/baseA",
                               "config_hash": net_identity(ctx, net)["hash"]}
    row, trained = runner.run_net(ctx, net)
    assert trained and row["steps"] == 6
    assert [h["epoch"] for h in history(tmp_path, "baseA")] == [0, 1, 2]


@pytest.mark.slow
def test_cli_runs_the_tiny_sweep(tmp_path):
    env = {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "keras_transfer.sweep",
                          "--flagfile=flags/tiny.flags", f"--workdir={tmp_path}",
                          "--layers=1", "--experiments=base,transfer"],
                         capture_output=True, text=True, env=env, timeout=900,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr[-3000:]
    done = re.findall(r"^\[\d/6\] (\S+) ", out.stdout, re.MULTILINE)
    assert sorted(done) == ["r0/A1B", "r0/A1B+", "r0/B1A", "r0/B1A+", "r0/baseA", "r0/baseB"]


def test_two_sweeps_started_together_train_each_net_once(tmp_path):
    env = {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "keras_transfer.sweep", "--flagfile=flags/tiny.flags",
               f"--workdir={tmp_path}", "--experiments=base", "--split=none"]
    root = os.path.dirname(os.path.dirname(__file__))
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=root) for _ in range(2)]
    outs = [run.communicate(timeout=900) for run in runs]
    codes = [run.returncode for run in runs]
    # The second either found the workdir locked, or started after the first had finished.
    assert 0 in codes and all(c in (0, 1) for c in codes), outs
    for code, (_, err) in zip(codes, outs):
        if code:
            assert "is in use by another sweep" in err and "Traceback" not in err
    with open(tmp_path / "results.jsonl") as f:
        nets = [json.loads(line)["run_dir"] for line in f]
    assert nets == ["runs/r0/baseAll"]


def test_thread_flags_reach_tensorflow_before_any_op():
    check = ("from keras_transfer import sweep; "
             "sweep.FLAGS(['sweep', '--intra_op_threads=1', '--inter_op_threads=3']); "
             "sweep.configure_runtime(); import tensorflow as tf; tf.constant(1) + 1; "
             "print(tf.config.threading.get_intra_op_parallelism_threads(), "
             "tf.config.threading.get_inter_op_parallelism_threads())")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["1", "3"]
    bad = subprocess.run([sys.executable, "-m", "keras_transfer.sweep", "--intra_op_threads=-1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "intra_op_threads" in bad.stderr


@pytest.mark.parametrize("verbose", [0, 1])
def test_keras_per_evaluation_lines_only_with_verbose(tmp_path, capfd, verbose):
    runner.run_sweep(tiny_config(tmp_path, experiments=("base",), export=False,
                                 verbose=verbose))
    out = capfd.readouterr().out
    assert ("Epoch 1/2" in out) == bool(verbose)
    # One line per net, always; without a terminal no bars, no carriage returns.
    assert re.search(r"^\[1/2\] r0/baseA +best-10 0\.\d{4}  top1 0\.\d{4}", out, re.MULTILINE)
    assert len(re.findall(r"^\[\d/2\] ", out, re.MULTILINE)) == 2 and "\r" not in out


@pytest.mark.parametrize("args, workdirs", [
    ([], ["runs/natural_manmade"]),
    (["--model=caffenet_mini", "--split=random,natural_manmade"],
     ["runs/random", "runs/natural_manmade"]),
    (["--model=resnet_mini"], ["runs/resnet_mini/natural_manmade"]),
    (["--model=vit_mini", "--split=random,natural_manmade"],
     ["runs/vit_mini/random", "runs/vit_mini/natural_manmade"]),
    (["--model=resnet_mini", "--workdir=elsewhere"], ["elsewhere"]),
])
def test_each_model_has_its_own_default_workdir(args, workdirs):
    """The default sweep's runs/natural_manmade and a resnet_mini sweep of the same split do not
    meet in one workdir (which would refuse the second model)."""
    from absl.testing import flagsaver

    from keras_transfer import sweep
    with flagsaver.flagsaver():
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sweep.FLAGS(["sweep", f"--flagfile={repo}/flags/tiny.flags", *args])
        assert [config.workdir for config in sweep.configs_from_flags()] == workdirs
