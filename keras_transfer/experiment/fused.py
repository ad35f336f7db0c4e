"""Fused groups: nets of a sweep that share a source and a target train in one model.

Fine-tuned nets (AnB+ for n = 1..7) share nothing but the input: the group is the k whole nets
side by side in one graph, one loss each. On a CPU their independent ops run in parallel
(measured 1.2-1.8x the throughput of one small net at a time, BENCHMARKS.md), and the group pays
one trace, one input pipeline and one evaluation pass instead of k.

Frozen nets share a trunk:

AnB for n = 1..7 all freeze layers 1..n of baseA and train fresh layers n+1..8 on B; the frozen
layers compute the same activations for every n. So one model runs the frozen trunk once per
batch and feeds head n (net n's own layers n+1..8) from the trunk's layer-n output:

    image -> conv1 -> ... -> layer N (frozen, once) ─┬─ tap 1 -> head 1 (layers 2..8 of A1B)
                                                     ├─ tap 2 -> head 2 (layers 3..8 of A2B)
                                                     └─ tap N -> head N (fc8 of ANB)

The loss is the sum of the heads' losses (plus each head's own weight decay); a head's variables
appear only in its own loss, so each head gets exactly the gradient, momentum and learning rate
it would get alone (tests/test_fused.py checks the weights after k steps against separate
training). Afterwards each head's net is an ordinary standalone model (its own layers 1..n hold
the trunk's weights) and `runner.run_net` saves it, writes its run directory and results row.

Deliberate differences from training the nets one at a time, recorded in each net's manifest
under "fused":
- Common random numbers: all heads of a group see the same batches (the group's seed), and a
  dropout mask inside the trunk (drop6 for heads reading fc7) is shared; one-at-a-time nets each
  draw their own data order. Both are valid designs; comparisons between n become paired.
- The random-filter nets random1..random7 share one random trunk (the init drawn for the
  largest n) instead of each drawing its own. Every random<n> is still "layers 1..n random and
  frozen"; they are just the same random draw, as AnB nets share baseA.
Group training checkpoints in WORKDIR/fused/<group>/ and resumes like a single net.
"""

import dataclasses
import os
import shutil
import time
import warnings

import keras
import tensorflow as tf

from keras_transfer.nets import alexnet, transfer
from keras_transfer.training import checkpoints, train

FUSED_DIR = "fused"


@dataclasses.dataclass
class Trained:
    """A net trained as a fused head: what `runner.run_net` needs instead of training it."""
    model: keras.Model
    result: dict
    info: dict  # goes to manifest.json["fused"]


def group_key(net):
    """(source, target, images per class, fine-tuned) for nets that train as one group (a
    frozen trunk's heads, or fine-tuned nets side by side), else None."""
    if net.mode in ("frozen", "random_frozen", "fine_tune") and net.n >= 1:
        return (net.source, net.target, net.per_class, net.mode == "fine_tune", net.replicate)
    return None


def group_name(key):
    source, target, per_class, fine_tune, replicate = key
    return (f"r{replicate}-{source or 'random'}-{target}" + ("+" if fine_tune else "")
            + (f"@k{per_class}" if per_class else ""))


def pending_group(net, nets, is_done):
    """The unfinished nets fused with `net` (sorted by n), or [] when it trains alone."""
    key = group_key(net)
    if key is None or is_done(net):
        return []
    group = sorted((m for m in nets if group_key(m) == key and not is_done(m)),
                   key=lambda m: m.n)
    return group if len(group) >= 2 else []


def build_heads(nets, trunk_source, arch, seeds, names=None):
    """Standalone nets (one per n) whose layers 1..n equal the shared trunk's.

    nets: the group, sorted by n. trunk_source: the parent base model, or None for random
    filters (then the largest-n net's random init is the shared trunk). seeds[i]: the init seed
    of nets[i] (the same as in one-at-a-time training, so the fresh layers start identical).
    """
    models = []
    for i, (net, seed) in enumerate(zip(nets, seeds)):
        keras.utils.set_random_seed(seed)
        models.append(transfer.build(arch, net.n, net.mode, source=trunk_source,
                                     name=names[i] if names else f"caffenet{net.n}"))
    if nets[0].fine_tune:
        return models  # no shared trunk: each net copied its layers from the source itself
    trunk = models[-1]
    for net, model in zip(nets[:-1], models[:-1]):
        for i in range(1, net.n + 1):
            transfer.copy_layer(trunk, model, i)
    return models


def fused_model(nets, models):
    """One model with one output per net, in order. Frozen nets: the largest net's frozen layers
    1..N, then one head per net reading its layer n. Fine-tuned nets: each whole net."""
    trunk_net = models[-1]
    image = keras.Input(trunk_net.input.shape[1:], name="image")
    if nets[0].fine_tune:
        heads, features = models, [image] * len(nets)
    else:
        taps = keras.Model(trunk_net.input,
                           [alexnet.layer(trunk_net, net.n).output for net in nets], name="trunk")
        features = taps(image)
        heads = [keras.Model(alexnet.layer(model, net.n).output, model.output,
                             name=f"head{net.n}") for net, model in zip(nets, models)]
    outputs = []
    for net, head, x in zip(nets, heads, features):
        # Distinct output names, so Keras reports head<n>_loss, val_head<n>_top1, ...; float32
        # like the nets' own softmax (under a mixed policy Identity would cast to bf16/fp16).
        outputs.append(keras.layers.Identity(name=f"out{net.n}", dtype="float32")(head(x)))
    return keras.Model(image, outputs, name="fused")


# How many compiled fused models a sweep keeps (runner.Context.fused_models), by the shape of
# their group, the most recent ones. The sweep's four fine-tuned groups (A-A+, B-B+, A-B+,
# B-A+) have the same shape, as have its four frozen transfer/selffer groups: reusing the model
# reuses its traced train and eval functions, which for 7 nets side by side take ~15 s to
# trace, longer than 100 of their training steps.
KEEP_COMPILED = 4


def compiled_group(nets, models, arch, config, cache):
    """(fused model, the nets' models inside it), compiled. `cache` is the sweep's dict of
    compiled groups (runner.Context.fused_models). When an earlier group had the same
    shape (n and mode of each net, architecture, recipe, dtype policy, strategy), its model comes
    back holding `models`' weights, with a reset optimizer (momentum 0, step 0): the same
    starting point as a new model, without tracing again. The caller copies the trained weights
    back into `models`, which carry the nets' own names."""
    key = (tuple((net.n, net.mode) for net in nets), arch, config,
           keras.mixed_precision.global_policy().name, id(tf.distribute.get_strategy()))
    if key in cache:
        model, inner = cache[key] = cache.pop(key)  # now the most recent
        for target, source in zip(inner, models):
            target.set_weights(source.get_weights())
            # Dropout's seed-generator states are not weights: without this a reused model
            # would draw the masks where the previous group left off, so a net's numbers
            # would depend on what trained before it in the process.
            for mine, fresh in zip(checkpoints.rng_states(target), checkpoints.rng_states(source)):
                mine.assign(fresh)
        for variable in model.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        return model, inner
    model = fused_model(nets, models)
    compile_fused(model, nets, config, arch.num_classes)
    cache[key] = (model, models)
    while len(cache) > KEEP_COMPILED:
        del cache[next(iter(cache))]  # the least recently used
    return model, models


def compile_fused(model, nets, config, num_classes):
    """The paper's optimizer (train.compile_model's) with one loss and metric set per head."""
    train.compile_model(model, config, num_classes)  # the recipe's optimizer, built one way only
    metrics = [[keras.metrics.SparseCategoricalAccuracy(name="top1")]
               + ([keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")]
                  if num_classes >= 10 else []) for _ in nets]
    model.compile(optimizer=model.optimizer,
                  loss=[keras.losses.SparseCategoricalCrossentropy() for _ in nets],
                  metrics=metrics, jit_compile=config.jit_compile)


def head_logs(logs, n):
    """One head's metrics from the fused model's logs, named as a single net's would be."""
    out = {}
    for key, value in (logs or {}).items():
        prefix = "val_" if key.startswith("val_") else ""
        bare = key[len(prefix):]
        if bare.startswith(f"out{n}_"):
            out[prefix + bare[len(f"out{n}_"):]] = float(value)
    return out


class HeadLogs(checkpoints.IntervalCallback):
    """Per head: history.jsonl rows and TensorBoard curves in the head's own run directory,
    in the single-net format (epoch_loss / epoch_top1 in train/ and validation/)."""

    def __init__(self, heads, eval_every, group_size):
        """heads: (net, run dir) of the members whose run directories are written."""
        super().__init__()
        self.heads, self.eval_every, self.group_size = heads, eval_every, group_size

    def on_train_begin(self, logs=None):
        self._writers = {(d, split): tf.summary.create_file_writer(os.path.join(d, split))
                         for _, d in self.heads for split in ("train", "validation")}

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if not self.interval_complete():
            return  # cut short by a signal: redone on resume
        seconds = (time.time() - self._start) / self.group_size  # the group's time, shared
        for net, run_dir in self.heads:
            values = head_logs(logs, net.n)
            train.write_history_row(os.path.join(run_dir, "history.jsonl"), epoch,
                                    self.eval_every, seconds, values)
            for split, prefix in (("train", ""), ("validation", "val_")):
                with self._writers[(run_dir, split)].as_default():
                    for key, value in values.items():
                        if key.startswith("val_") == bool(prefix):
                            tf.summary.scalar(f"epoch_{key[len(prefix):]}", value, step=epoch)
                self._writers[(run_dir, split)].flush()


def train_pending(ctx, net, nets):
    """If `net` is an unfinished frozen net with unfinished trunk-mates in `nets`, trains the
    whole group fused and finishes every member's run directory through `runner.run_net`
    (afterwards they are done, and the sweep skips them). Returns the keys it trained."""
    from keras_transfer.experiment import rundir, runner  # runner calls this module

    def is_done(m):
        return rundir.finished_result(runner.run_dir_of(ctx.config.workdir, m.key),
                                      runner.net_identity(ctx, m)["hash"]) is not None

    key = group_key(net)
    if key is None or is_done(net):
        return []
    # A group that was stopped after some of its members were written resumes as the group
    # it was (its checkpoint holds all of them), so the rest get the numbers they would have.
    group = recorded_group(ctx, net, nets) or pending_group(net, nets, is_done)
    if not group:
        remove_group_state(ctx.config.workdir, key)  # an orphan: its members are done
        return []
    todo = [m for m in group if not is_done(m)]
    runner.fresh_session(ctx.config)
    parent = runner.load_parent(ctx, group[0])[0] if group[0].parent else None
    trained = train_group(ctx, group, parent, todo)
    for m in todo:
        runner.run_net(ctx, m, trained=trained[m.name])
    remove_group_state(ctx.config.workdir, key)
    return [m.key for m in todo]


def group_dir(workdir, key):
    return os.path.join(workdir, FUSED_DIR, group_name(key))


def remove_group_state(workdir, key):
    shutil.rmtree(group_dir(workdir, key), ignore_errors=True)
    fused_dir = os.path.join(workdir, FUSED_DIR)
    if os.path.isdir(fused_dir) and not os.listdir(fused_dir):
        os.rmdir(fused_dir)


def recorded_group(ctx, net, nets):
    """The members (plan entries, sorted by n) recorded in the group checkpoint that `net`
    belongs to, when every one of them is still planned with the same identity; else None
    (the checkpoint is then stale and set aside when the new group restores)."""
    from keras_transfer.experiment import runner

    owner = checkpoints.newest_owner(os.path.join(group_dir(ctx.config.workdir, group_key(net)),
                                                  "checkpoints"))
    if not isinstance(owner, dict) or not isinstance(owner.get("members"), list):
        return None
    by_key = {m.key: m for m in nets if group_key(m) == group_key(net)}
    try:
        recorded = [(by_key[m["net"]], m["config_hash"]) for m in owner["members"]]
    except (KeyError, TypeError):
        return None
    members = [m for m, _ in recorded]
    if net not in members or any(runner.net_identity(ctx, m)["hash"] != config_hash
                                 for m, config_hash in recorded):
        return None
    return sorted(members, key=lambda m: m.n)


def train_group(ctx, nets, trunk_source, todo=None):
    """Trains `nets` (one group, sorted by n) fused; returns {net name: Trained} for the nets
    in `todo` (default: all), the only ones whose run directories it writes."""
    from keras_transfer.experiment import runner

    config, recipe = ctx.config, ctx.config.recipe
    classes = ctx.split.half(nets[0].target)
    arch = runner.architecture(config, len(classes))
    todo = nets if todo is None else todo
    name = group_name(group_key(nets[0]))
    state_dir = group_dir(config.workdir, group_key(nets[0]))
    run_dirs = [runner.run_dir_of(config.workdir, net.key) for net in nets]
    for net, d in zip(nets, run_dirs):
        if net in todo:
            os.makedirs(d, exist_ok=True)
    # The same init and data seeds as one-at-a-time training (shared by the group's nets).
    data_seed = runner.data_seed(config, nets[0])
    with ctx.strategy.scope():
        models = build_heads(nets, trunk_source, arch,
                             [runner.init_seed(config, net) for net in nets],
                             [runner.model_name(net.name) for net in nets])
        model, inner = compiled_group(nets, models, arch, recipe, ctx.fused_models)
    frozen = not nets[0].fine_tune
    trunk_sha = transfer.weights_checksum(models[-1], nets[-1].n) if frozen else None
    # The group's state belongs to exactly these members and recipes: a group re-formed with
    # other members (a member finished, --layers changed) or another recipe starts afresh.
    owner = {"group": name, "members": [{"net": net.key,
                                         "config_hash": runner.net_identity(ctx, net)["hash"]}
                                        for net in nets]}
    checkpointer = checkpoints.Checkpointer(os.path.join(state_dir, "checkpoints"),
                                            min_seconds=config.checkpoint_seconds, owner=owner)
    initial_epoch = checkpointer.restore(model)
    stopper = train.StopOnSignal()
    k = len(nets)  # every head gets the same labels
    train_data = ctx.source.train(
        classes, ctx.global_batch, arch.input_size, seed=data_seed, per_class=nets[0].per_class,
        start_batch=initial_epoch * recipe.eval_every).map(lambda x, y: (x, (y,) * k))
    eval_data = ctx.source.eval(classes, ctx.eval_batch, arch.input_size).map(
        lambda x, y: (x, (y,) * k))
    shape = (f"one trunk of {nets[-1].n} frozen layers, {k} heads" if frozen
             else f"{k} fine-tuned nets side by side")
    print(f"fused: training {', '.join(n.name for n in nets)} together ({name}: {shape})",
          flush=True)
    start = time.time()
    if initial_epoch < recipe.epochs:
        try:
            with warnings.catch_warnings():  # the finite eval set ends each evaluation
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                model.fit(train_data, validation_data=eval_data, epochs=recipe.epochs,
                          initial_epoch=initial_epoch, steps_per_epoch=recipe.eval_every,
                          callbacks=[HeadLogs([(net, d) for net, d in zip(nets, run_dirs)
                                               if net in todo], recipe.eval_every, k),
                                     checkpointer, stopper],
                          verbose=0 if os.environ.get("CI") else 2, shuffle=False)
        finally:
            stopper.restore()  # never leave our signal handlers installed
    if stopper.stopped:
        raise train.Interrupted(f"fused training of {name} ({state_dir}) stopped by a signal; "
                                "rerun the same command to resume", stopper.signum)
    if frozen and transfer.weights_checksum(inner[-1], nets[-1].n) != trunk_sha:
        raise AssertionError(f"{name}: the frozen trunk changed in fused training")
    for net, target, source in zip(nets, models, inner):
        if target is not source and net in todo:
            target.set_weights(source.get_weights())
    info = {"group": name, "nets": [m.name for m in nets],
            "trunk_net": nets[-1].name if frozen else None,
            "data_seed": data_seed, "group_seconds": round(time.time() - start, 3),
            "common_batches": True, "shared_random_trunk": nets[0].mode == "random_frozen"}
    return {net.name: Trained(model_n, train.result_from_history(run_dir, recipe), info)
            for net, model_n, run_dir in zip(nets, models, run_dirs) if net in todo}
