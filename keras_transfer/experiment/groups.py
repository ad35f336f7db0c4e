"""Which nets of a plan train together as one model (a group), and a group's resume state.

A group is the nets that share a source, a target, images per class, fine-tuning and a
replicate (nets.fused builds its model). It checkpoints in WORKDIR/fused/<group>/ and
resumes like a single net; stopped after some members were written, it resumes as the group
it was. Compiled group models are kept for the next group of the same shape.
"""

import os
import shutil

import keras
import tensorflow as tf

from keras_transfer.experiment.config import net_identity
from keras_transfer.nets import fused
from keras_transfer.nets import transfer
from keras_transfer.training import checkpoints, fit, recipe

FUSED_DIR = "fused"


def group_key(net):
    """(source, target, images per class, how, replicate) for nets that train as one group (a
    frozen trunk's heads, or whole nets side by side), else None. `how` is False for the
    paper's frozen and random-frozen nets, True for its fine-tuned ones, else the kind."""
    if net.n < 1 or net.kind in ("base", "reduced"):
        return None
    how = net.mode == "fine_tune" if net.mode in ("frozen", "random_frozen", "fine_tune") \
        else net.mode
    return (net.source, net.target, net.per_class, how, net.replicate)


def group_name(key):
    source, target, per_class, how, replicate = key
    suffix = {False: "", True: "+"}.get(how, f"-{how}")
    return (f"r{replicate}-{source or 'random'}-{target}" + suffix
            + (f"@k{per_class}" if per_class else ""))


def pending_group(net, nets, is_done):
    """The unfinished nets fused with `net` (sorted by n), or [] when it trains alone."""
    key = group_key(net)
    if key is None or is_done(net):
        return []
    group = sorted((m for m in nets if group_key(m) == key and not is_done(m)),
                   key=lambda m: m.n)
    return group if len(group) >= 2 else []


# How many compiled fused models a sweep keeps (config.Context.fused_models), by the shape of
# their group, the most recent ones. The sweep's four fine-tuned groups (A-A+, B-B+, A-B+,
# B-A+) have the same shape, as have its four frozen transfer/selffer groups: reusing the model
# reuses its traced train and eval functions, which for 7 nets side by side take ~15 s to
# trace, longer than 100 of their training steps.
KEEP_COMPILED = 4


def compiled_group(nets, models, arch, config, cache, llrd_decay=None):
    """(fused model, the nets' models inside it), compiled. `cache` is the sweep's dict of
    compiled groups (config.Context.fused_models); llrd_decay: the layer-wise decay of llrd
    nets. When an earlier group had the same shape (n and mode of each net, architecture,
    recipe, decay, dtype policy, strategy), its model comes
    back holding `models`' weights, with a reset optimizer (momentum 0, step 0): the same
    starting point as a new model, without tracing again. The caller copies the trained weights
    back into `models`, which carry the nets' own names."""
    llrd = nets[0].mode == "llrd"
    key = (tuple((net.n, net.mode) for net in nets), arch, config, llrd_decay if llrd else None,
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
    model = fused.model(nets, models)
    recipe.compile_model(model, config, arch.num_classes, lr_multipliers=(
        transfer.group_lr_multipliers(model, models, [net.n for net in nets], llrd_decay)
        if llrd else None))
    cache[key] = (model, models)
    while len(cache) > KEEP_COMPILED:
        del cache[next(iter(cache))]  # the least recently used
    return model, models


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
    owner = checkpoints.newest_owner(os.path.join(group_dir(ctx.config.workdir, group_key(net)),
                                                  fit.CHECKPOINTS))
    if not isinstance(owner, dict) or not isinstance(owner.get("members"), list):
        return None
    by_key = {m.key: m for m in nets if group_key(m) == group_key(net)}
    try:
        recorded = [(by_key[m["net"]], m["config_hash"]) for m in owner["members"]]
    except (KeyError, TypeError):
        return None
    members = [m for m, _ in recorded]
    if net not in members or any(net_identity(ctx, m)["hash"] != config_hash
                                 for m, config_hash in recorded):
        return None
    return sorted(members, key=lambda m: m.n)


def unit_of(ctx, net, nets, is_done):
    """(the nets that train with unfinished `net` as one model, sorted by n; those of them to
    record): the group its checkpoint records, else its unfinished group-mates, else `net`
    alone. A group stopped after some members were written resumes as the group it was (its
    checkpoint holds all of them), so the rest get the numbers they would have had."""
    if ctx.config.fused and group_key(net) is not None:
        group = recorded_group(ctx, net, nets) or pending_group(net, nets, is_done)
        if group:
            return group, [m for m in group if not is_done(m)]
        remove_group_state(ctx.config.workdir, group_key(net))  # an orphan: its members are done
    return [net], [net]


def owner(ctx, nets):
    """The identity a group's (or one net's) checkpoints are written for: a group re-formed
    with other members (a member finished, --layers changed) or another recipe starts afresh."""
    if len(nets) == 1:
        return {"net": nets[0].key, "config_hash": net_identity(ctx, nets[0])["hash"]}
    return {"group": group_name(group_key(nets[0])),
            "members": [{"net": m.key, "config_hash": net_identity(ctx, m)["hash"]} for m in nets]}
