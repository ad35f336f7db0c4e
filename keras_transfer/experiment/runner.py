"""Runs a sweep's plan: one run directory per net, bases before dependants, skip what is done.

`run_sweep(config)` is what `python -m keras_transfer.sweep` calls; it takes plain values so
tests and other engines (KerasTuner workers) call it, or `run_net`, without absl flags.
"""

import dataclasses
import os
import re
import shutil
import time
import zlib

import keras
import tensorflow as tf

from keras_transfer import catalog, data, files
from keras_transfer.data import splits
from keras_transfer.experiment import fused, plan, rundir
from keras_transfer.nets import alexnet, saved_model, transfer
from keras_transfer.training import convergence, summaries, train


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    workdir: str
    dataset: str = "synthetic"
    data_dir: str | None = None
    split: str = "natural_manmade"
    split_seed: int = 0
    model: str = "caffenet_small"
    layers: tuple = catalog.NS
    experiments: tuple = plan.PAPER_EXPERIMENTS
    recipe: train.TrainConfig = train.TrainConfig()
    strategy: str = "default"
    mixed_precision: bool = False
    export: bool = True
    max_bad_fraction: float = 0.001
    per_class: tuple = ()          # k values of the reduced-volume experiment
    target_per_class: tuple = ()   # K values: target-side nets on K images per class
    flags_text: str = ""       # resolved flags, written to each run's flags.txt
    weight_decay: float | None = None  # overrides the model's Caffe default (tune.py sets it)
    dropout: float | None = None       # overrides the model's dropout (the paper's 0.5)
    fused: bool = True         # frozen nets sharing a trunk train together (fused.py)
    checkpoint_seconds: float = 0.0  # checkpoint at most this often (0: every evaluation)
    replicates: int = 1        # every net trained this many times (independent inits, data)


@dataclasses.dataclass
class Context:
    """What every net of one sweep shares: data source, split, strategy, and two measured
    speed-ups that live as long as the sweep: the last parent loaded (read only: dependants
    copy its weights; keyed by its file's path, checksum, mtime and size, so a base changed on
    disk is loaded and checked again) and the compiled fused models (fused.compiled_group)."""
    config: SweepConfig
    source: data.Source
    split: splits.Split
    strategy: tf.distribute.Strategy
    parent: dict = dataclasses.field(default_factory=dict)
    fused_models: dict = dataclasses.field(default_factory=dict)

    @property
    def global_batch(self):
        return self.config.recipe.batch_size * self.strategy.num_replicas_in_sync

    @property
    def eval_batch(self):
        """Evaluation batches: forward passes only, so larger batches (fewer steps) are cheaper;
        the metrics are the same whatever the batch size."""
        return max(self.global_batch, EVAL_BATCH)


EVAL_BATCH = 256


def make_strategy(name):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ValueError(f"--strategy must be 'default' or 'mirrored', got {name!r}")


def set_precision(mixed_precision):
    """The global dtype policy: float32, or mixed float16 (GPU) / bfloat16 (CPU)."""
    if not mixed_precision:
        keras.mixed_precision.set_global_policy("float32")
    elif tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    else:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")


def set_threads(intra_op=0, inter_op=0):
    """TensorFlow's thread counts (0: its own choice); only before the first op runs."""
    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def fresh_session(config):
    """Drops what Keras keeps from earlier nets (traced functions, layer-name counters; the
    process would otherwise grow with every net) and sets the dtype policy again, which
    clear_session resets."""
    keras.backend.clear_session()
    set_precision(config.mixed_precision)


def prepare(config):
    """Opens the data and the split and checks the workdir, before any training starts."""
    rundir.check_writable(config.workdir)
    if config.mixed_precision and not tf.config.list_physical_devices("GPU"):
        warn_if_no_bfloat16()
    set_precision(config.mixed_precision)
    source = data.open_source(config.dataset, config.data_dir,
                              max_bad_fraction=config.max_bad_fraction)
    split = splits.resolve(config.split, source.info.class_names, seed=config.split_seed,
                           families=source.info.families)
    # After the data and split: their errors say more than "the workdir holds another dataset".
    rundir.check_sweep(config.workdir, sweep_settings(config))
    return Context(config, source, split, make_strategy(config.strategy))


def sweep_settings(config):
    """What a workdir's nets must share to be compared (rundir.check_sweep), by flag name."""
    return {**dataclasses.asdict(config.recipe), "replicates": config.replicates,
            "model": config.model, "dropout": config.dropout,
            "weight_decay": config.weight_decay, "mixed_precision": config.mixed_precision,
            "dataset": config.dataset, "strategy": config.strategy}


def recipe_settings(config):
    """What makes two sweeps' rows poolable in one report: the sweep settings without the
    replicate count and seed (more replicates or another seed add samples of the same recipe)."""
    settings = sweep_settings(config)
    del settings["replicates"], settings["seed"]
    return settings


def warn_if_no_bfloat16():
    """bfloat16 is fast only on CPUs with bfloat16 instructions (AVX512-BF16, AMX); elsewhere
    it is emulated and slower than float32."""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_flags = f.read()
    except OSError:
        return
    if not any(flag in cpu_flags for flag in ("avx512_bf16", "amx_bf16")):
        print("warning: --mixed_precision on a CPU without AVX512-BF16/AMX: bfloat16 is emulated "
              "and slower than float32 here; pass --nomixed_precision (results then differ "
              "slightly, so use a new --workdir)", flush=True)


def the_plan(ctx):
    halves = ("A", "B") if ctx.split.b else ()
    nets = plan.make_plan(ctx.config.layers, ctx.config.experiments, halves,
                          ctx.config.per_class, ctx.config.target_per_class,
                          ctx.config.replicates)
    check_sizes(ctx, nets)
    return nets


def check_sizes(ctx, nets):
    """Fails before any training when a net would train on fewer than two classes (top-1 of
    1.0 that means nothing) or asks for more images per class than exist."""
    for net in nets:
        counts = {c: ctx.source.info.train_counts[c] for c in ctx.split.half(net.target)}
        if len(counts) < 2:
            raise data.DataError(f"{net.name} would train on {len(counts)} class(es) (half "
                                 f"{net.target} of --split={ctx.config.split}); every half "
                                 "needs at least 2 classes")
        if net.per_class is None:
            continue
        fewest = min(counts, key=counts.get)
        if counts[fewest] < net.per_class:
            raise data.DataError(
                f"{net.name} needs {net.per_class} training images per class, but class "
                f"{ctx.source.info.class_names[fewest]!r} has {counts[fewest]}; lower "
                "--per_class / --target_per_class")


def run_sweep(config):
    """Trains every net of the plan that is not finished yet; returns the results rows. One
    sweep per workdir at a time (rundir.workdir_lock)."""
    with rundir.workdir_lock(config.workdir):
        return _run_sweep(config)


def _run_sweep(config):
    ctx = prepare(config)
    nets = the_plan(ctx)
    rundir.sync_results(config.workdir)
    if not any(f.startswith("events.out") for f in os.listdir(config.workdir)):
        summaries.write_experiment(config.workdir)
    print(f"sweep: {len(nets)} nets in {config.workdir} (dataset {config.dataset}, split "
          f"{config.split} {ctx.split.fingerprint}, model {config.model})", flush=True)
    rows, trained_seconds, trained, fused_now = [], 0.0, 0, {}
    for i, net in enumerate(nets, 1):
        start = time.time()
        if config.fused:  # fused.py: trains net's frozen trunk-mates with it, then they are done
            group = fused.train_pending(ctx, net, nets)
            seconds = time.time() - start
            fused_now.update({key: (seconds / len(group), len(group)) for key in group})
        row, was_trained = run_net(ctx, net)
        rows.append(row)
        if was_trained or net.key in fused_now:
            share, group_size = fused_now.get(net.key, (time.time() - start, 0))
            trained_seconds += share
            trained += 1
            eta = trained_seconds / trained * (len(nets) - i)
            how = f" (fused, one of {group_size} heads)" if group_size else ""
            print(f"[{i}/{len(nets)}] {net.key}: top1 {_number(row['top1'])} best-10 "
                  f"{_number(row['top1_best10'])}, {convergence_text(row)}, in {share:.0f}s"
                  f"{how}; sweep ETA {eta / 60:.1f} min", flush=True)
        else:
            print(f"[{i}/{len(nets)}] {net.key}: done already (top1 {_number(row['top1'])})",
                  flush=True)
    warn_unconverged(rows)
    return rows


def _number(value):
    return "-" if value is None else f"{value:.4f}"


def convergence_text(row):
    """"converged" or why not, from a results row's convergence diagnostic."""
    if row.get("status") == "diverged":
        return (f"DIVERGED (loss {row.get('diverged_loss', 'not finite')} at step "
                f"{row.get('diverged_at_step', '?')}; excluded from the report's means)")
    diagnostic = row.get("convergence") or {}
    if diagnostic.get("converged"):
        return "converged"
    gain = diagnostic.get("tail_gain")
    return (f"NOT converged ({diagnostic.get('status', 'no diagnostic')}"
            + (f", last fifth {gain:+.3f} vs the one before" if gain is not None else "") + ")")


def warn_unconverged(rows):
    """One warning at the end of a sweep naming the nets whose curves had not flattened."""
    bad = [r for r in rows if not (r.get("convergence") or {}).get("converged")]
    if bad:
        names = ", ".join(f"{r['run_dir'].removeprefix('runs/')} "
                          f"({(r.get('convergence') or {}).get('status', '?')})" for r in bad)
        print(f"warning: {len(bad)} of {len(rows)} nets did not converge by the diagnostic "
              f"(validation top-1 of the last fifth of evaluations within "
              f"{convergence.TOLERANCE} of the fifth before): {names}. Their numbers are "
              "marked in the report; train longer (--steps) for trustworthy results.", flush=True)


def architecture(config, num_classes):
    """The sweep's CaffeNet for `num_classes`; --weight_decay and --dropout override
    the paper's values. Every builder of a sweep's nets (fused heads too) goes through here."""
    overrides = {name: getattr(config, name) for name in ("weight_decay", "dropout")
                 if getattr(config, name) is not None}
    return alexnet.architecture(config.model, num_classes, **overrides)


def init_seed(config, net):
    """The seed of a net's initialisation (its fresh layers n+1..8, or all of a base).

    Common random numbers: within one replicate and target half (and images per class) every
    dependant - BnB and AnB, frozen and +, any n - draws the same fresh layers, so differences
    across n or across kinds are paired and free of init noise. Bases draw their own init
    (a dependant's fresh layers are not its base's starting point); replicates differ in all."""
    return _seed(config, net, "init")


def data_seed(config, net):
    """The seed of a net's data order and augmentation: shared like `init_seed`'s."""
    return _seed(config, net, "data")


def _seed(config, net, what):
    role = "base" if net.kind in ("base", "reduced") else "copy"
    size = net.per_class if net.kind != "reduced" else f"reduced{net.per_class}"
    text = f"{what}/{role}/{net.target}/{size}/r{net.replicate}"
    return (config.recipe.seed * 1_000_003 + zlib.crc32(text.encode())) % (2 ** 31)


def net_identity(ctx, net):
    """Everything that decides a net's result; its hash is the run's identity."""
    arch = architecture(ctx.config, len(ctx.split.half(net.target)))
    identity = {
        "net": dataclasses.asdict(net), "arch": arch.to_dict(),
        "train": dataclasses.asdict(ctx.config.recipe), "global_batch": ctx.global_batch,
        "dataset": ctx.config.dataset, "data_fingerprint": ctx.source.info.fingerprint,
        "split": ctx.split.to_dict(), "split_fingerprint": ctx.split.fingerprint,
        "mixed_precision": ctx.config.mixed_precision,
    }
    if net.parent:
        identity["parent"] = net_identity(ctx, plan.base(net.source, net.replicate))["hash"]
    identity["hash"] = files.config_hash(identity)
    return identity


def run_dir_of(workdir, key):
    """A net's run directory, from its key ("r0/A3B+")."""
    return os.path.join(workdir, "runs", key)


def load_parent(ctx, net):
    """The finished base a dependant copies from, verified against its recorded checksum."""
    parent_dir = run_dir_of(ctx.config.workdir, net.parent_key)
    result = files.read_json(os.path.join(parent_dir, "result.json"))
    if result is None:
        raise rundir.RunDirError(f"{net.name} needs its base {net.parent}, which has not "
                                 f"finished ({parent_dir}/result.json missing); run the sweep "
                                 "with --experiments including base")
    if result.get("status") == "diverged":
        raise rundir.RunDirError(f"{net.name} needs its base {net.parent}, which diverged "
                                 f"({parent_dir}); nothing can be copied from it. Rerun with a "
                                 "recipe that trains (e.g. a lower --learning_rate) in a new "
                                 "--workdir")
    path = os.path.join(parent_dir, "model.keras")
    stat = os.stat(path) if os.path.exists(path) else None
    key = (path, result["weights_sha256"], stat and (stat.st_mtime_ns, stat.st_size))
    if ctx.parent.get("key") != key:  # a group's 7 nets and the group itself share one load
        model = transfer.load_source(path)
        if transfer.weights_checksum(model) != result["weights_sha256"]:
            raise rundir.RunDirError(
                f"{parent_dir}/model.keras does not match the checksum in its result.json; the "
                f"base was modified after training. Delete {parent_dir} to retrain it.")
        ctx.parent.update(key=key, model=model)
    return ctx.parent["model"], result


def run_net(ctx, net, trained=None):
    """Trains one net unless its result exists; returns (results row, whether it trained).

    trained: a `fused.Trained` (model and result of a net trained as a fused head); the run
    directory is then finished from it instead of training."""
    config = ctx.config
    run_dir = run_dir_of(config.workdir, net.key)
    identity = net_identity(ctx, net)
    done = rundir.finished_result(run_dir, identity["hash"])
    if done is not None:
        return done, False
    os.makedirs(run_dir, exist_ok=True)
    classes = ctx.split.half(net.target)
    arch = architecture(config, len(classes))
    if trained is None:
        fresh_session(config)  # nothing an earlier net built is needed from here on
    parent_model, parent_result = load_parent(ctx, net) if net.parent else (None, None)
    seed, order_seed = init_seed(config, net), data_seed(config, net)
    if trained is None:
        keras.utils.set_random_seed(seed)
        with ctx.strategy.scope():
            model = transfer.build(arch, net.n, net.mode, source=parent_model,
                                   name=model_name(net.name))
            train.compile_model(model, config.recipe, arch.num_classes)
    else:
        model = trained.model
    # The copied layers as they were before training (a fused fine-tuned net has trained them).
    copied_sha = (transfer.weights_checksum(parent_model if parent_model is not None else model,
                                            net.n) if net.n else None)
    with open(os.path.join(run_dir, "flags.txt"), "w") as f:
        f.write(config.flags_text)
    files.write_json(os.path.join(run_dir, "manifest.json"), {
        "identity": identity, "config_hash": identity["hash"], **rundir.environment(),
        "data": dataclasses.asdict(ctx.source.info),
        "class_names": manifest_classes(ctx, classes),
        "classes": list(classes), "seed": seed, "data_seed": order_seed,
        "parent": parent_result and {"run_dir": parent_result["run_dir"],
                                     "weights_sha256": parent_result["weights_sha256"]},
        "copied_weights_sha256": copied_sha,
        **({"fused": trained.info} if trained else {}),
    })
    size = arch.input_size
    # reliability: a resumed run gets the stream from the batch it stopped at (same data order)
    def train_data(start_batch):
        return ctx.source.train(classes, ctx.global_batch, size, seed=order_seed,
                                per_class=net.per_class, start_batch=start_batch)

    eval_data = ctx.source.eval(classes, ctx.eval_batch, size)
    verbose = 0 if os.environ.get("CI") else 2
    if trained is None:
        result = train.fit(model, train_data, eval_data, config.recipe, run_dir,
                           arch.num_classes, verbose=verbose,
                           checkpoint_seconds=config.checkpoint_seconds,
                           owner={"net": net.key, "config_hash": identity["hash"]})
    else:
        result = trained.result
    if net.mode != "fine_tune" and net.n:
        # The paper's frozen layers never change; a mismatch would be a bug, not noise.
        if transfer.weights_checksum(model, net.n) != copied_sha:
            raise AssertionError(f"{net.name}: frozen layers 1..{net.n} changed in training")
    save_model(model, os.path.join(run_dir, "model.keras"))
    if net.kind in ("base", "reduced"):
        summaries.write_conv1_filters(run_dir, model, config.recipe.steps)
    if config.export and (net.kind in ("base", "reduced") or net.fine_tune):
        saved_model.export_saved_model(model, os.path.join(run_dir, saved_model.SAVED_MODEL),
                                  ctx.source.info.mean, manifest_classes(ctx, classes))
    recipe = recipe_settings(config)
    row = {
        **net.hparams(), "split": config.split, "split_seed": split_seed(config),
        "split_fingerprint": ctx.split.fingerprint, "dataset": config.dataset,
        "model": config.model, "seed": config.recipe.seed, "num_classes": arch.num_classes,
        **result, "run_dir": os.path.relpath(run_dir, config.workdir),
        "config_hash": identity["hash"], "weights_sha256": transfer.weights_checksum(model),
        "recipe": recipe, "recipe_hash": files.config_hash(recipe),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    row["source"] = net.source
    summaries.write_hparams(run_dir, {**net.hparams(), "split": config.split,
                                      "split_seed": row["split_seed"],
                                      "seed": config.recipe.seed}, row)
    files.write_json(os.path.join(run_dir, "result.json"), row)  # last: marks the net done
    rundir.append_result(config.workdir, row)
    # Resume state is no longer needed once model.keras and result.json exist.
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    return row, True


def split_seed(config):
    """--split_seed where the split has one (random); None for fixed splits (natural/man-made,
    a split file), whose classes no seed decides."""
    return config.split_seed if config.split == "random" else None


def model_name(net_name):
    """A TF-scope-safe model name for a net ("A3B+@k10" -> "A3B_plus_k10")."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", net_name.replace("+", "_plus").replace("@", "_"))


def manifest_classes(ctx, classes):
    return [ctx.source.info.class_names[c] for c in classes]


def save_model(model, path):
    tmp = path[:-len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)
