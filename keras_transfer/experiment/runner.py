"""Runs a sweep's plan: bases before dependants, every net once, what is done skipped.

Every net trains through one path, `train_unit`: one net alone, or a group of nets that share
a source and a target (experiment.groups) as one model. `run_sweep(config)` is what
`python -m keras_transfer.sweep` calls; it takes plain values, so tests and the KerasTuner
engine call it, or `run_net`, without absl flags.
"""

import dataclasses
import os
import time

from keras_transfer import files
from keras_transfer.experiment import (
    groups,
    pretrained,
    progress,
    rundir,
    setup,
    tensorboard_view,
    workers,
)
from keras_transfer.experiment.config import (
    architecture,
    data_seed,
    fresh_session,
    images_per_class,
    init_seed,
    model_name,
    net_identity,
    precision_name,
    recipe_settings,
    split_seed,
)
from keras_transfer.nets import fused
from keras_transfer.nets import transfer
from keras_transfer.training import convergence, fit, history, summaries
from keras_transfer.training.recipe import compile_model


def run_sweep(config):
    """Trains every net of the plan that is not finished yet; returns the results rows. One
    sweep per workdir at a time (rundir.workdir_lock)."""
    workers.check(config.workers)
    with rundir.workdir_lock(config.workdir):
        return _run_sweep(config)


def _run_sweep(config):
    ctx = setup.prepare(config)
    nets = ctx.nets
    if config.pretrained:
        pretrained.install(ctx)  # setup.prepare checked it against --model
    rundir.sync_results(config.workdir)
    summaries.write_experiment(os.path.join(config.workdir, rundir.RUNS),
                               [planned_row(config, net) for net in nets])
    done = {net.key: row for net in nets if (row := finished_row(ctx, net)) is not None}
    units = schedule(ctx, nets, done)
    count, why = workers.count(config.workers, len(units), ctx.gpus, config.strategy)
    print(f"sweep: {len(nets)} nets in {config.workdir} (dataset {config.dataset}, split "
          f"{config.split} {ctx.split.fingerprint}, model {config.model}, "
          f"{precision_name(config.mixed_precision)}"
          + (f": {config.precision_reason}" if config.precision_reason else "") + "): "
          + (f"all {len(nets)} done already, nothing to train" if not units else
             (f"{len(done)} done already, " if done else "")
             + f"{len(nets) - len(done)} to train in {len(units)} units"
             + (f" on {count} workers ({why}; {threads_text(config, count)})" if count > 1
                else "")), flush=True)
    with progress.SweepProgress(len(nets), len(done), units, config.recipe.steps,
                                bars=None if not config.verbose else False,
                                describe=unit_name, workers=count) as console:
        def finished(unit, todo, new_rows):
            done.update({net.key: row for net, row in zip(todo, new_rows)})
            tensorboard_view.update(config.workdir)
            console.finish(unit, todo, [result_line(net, row)
                                        for net, row in zip(todo, new_rows)])

        if count > 1:
            failures = workers.run(ctx, units, count, console, finished, train_unit)
        else:
            failures = []
            for unit, todo in units:
                finished(unit, todo, train_unit(ctx, unit, todo, callbacks=[console.start(unit)]))
    if failures:
        raise rundir.RunDirError(
            f"{len(failures)} of {len(units)} units did not train: "
            + "; ".join(f"{unit_name(unit)} ({why})" for unit, why in failures)
            + f". The other {len(done)} nets are finished and kept; rerun the same command to "
            "train what is missing")
    rows = [done[net.key] for net in nets]
    warn_unconverged(rows)
    return rows


def threads_text(config, count):
    intra, inter = workers.threads(config, count)
    return f"each {intra} intra-op and {inter} inter-op thread" + ("s" if inter > 1 else "")


def planned_row(config, net):
    """What a net's results row will say about what it is (its HParams session's values)."""
    return {**net.hparams(), "split": config.split, "split_seed": split_seed(config),
            "seed": config.recipe.seed}


def schedule(ctx, nets, done):
    """The (unit, nets of it to record) pairs that train the unfinished nets, in plan order:
    what the sweep will train, known up front so that the ETA can count all of it."""
    scheduled = set(done)
    units = []
    for net in nets:
        if net.key not in scheduled:
            unit, todo = groups.unit_of(ctx, net, nets, lambda m: m.key in scheduled)
            scheduled.update(m.key for m in todo)
            units.append((unit, todo))
    return units


def unit_name(unit):
    """A unit as the console names it: "r0/baseA", "r0-A-B+ (7 fine-tuned nets)"."""
    if len(unit) == 1:
        return unit[0].key
    how = ("heads on one frozen trunk" if unit[0].mode in transfer.SHARED_TRUNK
           else "fine-tuned nets side by side" if unit[0].fine_tune
           else f"{unit[0].mode} nets side by side")
    return f"{groups.group_name(groups.group_key(unit[0]))} ({len(unit)} {how})"


def result_line(net, row):
    """One finished net: the paper's metric, the final top-1 and whether it converged; for a
    base also its regime (training.regime), which decides what its copies can still gain."""
    regime = (row.get("regime") or {}).get("regime")
    return (f"{net.key:<14} best-10 {_number(row['top1_best10'])}  top1 "
            f"{_number(row['top1'])}  {convergence_text(row)}"
            + (f", {regime}" if net.kind == "base" and regime and regime != "unknown" else ""))


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


MAX_NAMED = 8  # nets named in the end-of-sweep warning


def warn_unconverged(rows):
    """One warning at the end of a sweep naming the nets whose curves had not flattened."""
    bad = [r for r in rows if not (r.get("convergence") or {}).get("converged")]
    if bad:
        shown = MAX_NAMED  # a warning, not a table: report.md lists every net
        names = ", ".join(f"{r['run_dir'].removeprefix('runs/')} "
                          f"({(r.get('convergence') or {}).get('status', '?')})"
                          for r in bad[:shown])
        if len(bad) > shown:
            names += f" and {len(bad) - shown} more (report.md lists them)"
        print(f"warning: {len(bad)} of {len(rows)} nets did not converge by the diagnostic "
              f"(validation top-1 of the last fifth of evaluations within "
              f"{convergence.TOLERANCE} of the fifth before): {names}. Their numbers are "
              "marked in the report; train longer (--steps) for trustworthy results.", flush=True)


def load_parent(ctx, net):
    """The finished base a dependant copies from, verified against its recorded checksum."""
    parent_dir = rundir.run_dir_of(ctx.config.workdir, net.parent_key)
    result = files.read_json(os.path.join(parent_dir, rundir.RESULT))
    if result is None:
        raise rundir.RunDirError(f"{net.name} needs {net.parent}, which has not "
                                 f"finished ({parent_dir}/result.json missing); run the sweep "
                                 "with --experiments including base")
    if result.get("status") == "diverged":
        raise rundir.RunDirError(f"{net.name} needs {net.parent}, which diverged "
                                 f"({parent_dir}); nothing can be copied from it. Rerun with a "
                                 "recipe that trains (e.g. a lower --learning_rate) in a new "
                                 "--workdir")
    path = os.path.join(parent_dir, rundir.MODEL)
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


def finished_row(ctx, net):
    """The net's results row if it finished with its current identity, else None."""
    return rundir.finished_result(rundir.run_dir_of(ctx.config.workdir, net.key),
                                  net_identity(ctx, net)["hash"])


def run_net(ctx, net):
    """Trains one net alone unless its result exists; returns (results row, whether it trained)."""
    done = finished_row(ctx, net)
    if done is not None:
        return done, False
    return train_unit(ctx, [net], [net])[0], True


def train_unit(ctx, nets, todo, callbacks=()):
    """Trains `nets` (one net, or one group sorted by n) as one model and finishes the run
    directories of `todo` (a group resumed after some members were written records only the
    rest); returns their results rows. callbacks: extra Keras callbacks (the console's)."""
    config, recipe, workdir = ctx.config, ctx.config.recipe, ctx.config.workdir
    fresh_session(config)  # nothing an earlier net built is needed from here on
    # Each net's parent (None for a base): one shared model for a group of one base (load_parent
    # keeps the last one loaded), one each for LP-FT nets side by side.
    parents = [load_parent(ctx, m)[0] if m.parent else None for m in nets]
    classes = ctx.split.half(nets[0].target)
    arch = architecture(config, len(classes))
    grouped = len(nets) > 1
    with ctx.strategy.scope():
        models = fused.build_heads(nets, parents, arch,
                                        [init_seed(config, m) for m in nets],
                                        [model_name(m.name) for m in nets])
        if grouped:
            model, inner = groups.compiled_group(nets, models, arch, recipe, ctx.fused_models,
                                                 config.llrd_decay)
        else:
            (model,), inner = models, models
            compile_model(model, recipe, arch.num_classes, lr_multipliers=(
                transfer.lr_multipliers(model, nets[0].n, config.llrd_decay)
                if nets[0].mode == "llrd" else None))
    # The copied (frozen or to be fine-tuned) blocks as they are before training, and the
    # layers no step may change.
    copied = [transfer.weights_checksum(parent if parent is not None else m,
                                        transfer.copied_depth(net.mode, net.n, m))
              if net.n else None for net, m, parent in zip(nets, models, parents)]
    frozen = [transfer.frozen_checksum(m, net.mode, net.n) for net, m in zip(nets, models)]
    order_seed, k = data_seed(config, nets[0]), len(nets)
    per_class = images_per_class(config, nets[0])

    def train_data(start_batch):
        stream = ctx.data.train(classes, ctx.global_batch, arch.input_size, seed=order_seed,
                                  per_class=per_class, start_batch=start_batch)
        return stream.map(lambda x, y: (x, (y,) * k)) if grouped else stream

    eval_data = ctx.data.eval(classes, ctx.eval_batch, arch.input_size)
    # The regime diagnostic's fixed sample of the very images these nets train on.
    sample_data = ctx.data.train_sample(classes, ctx.eval_batch, arch.input_size, per_class)
    if grouped:
        eval_data = eval_data.map(lambda x, y: (x, (y,) * k))
        sample_data = sample_data.map(lambda x, y: (x, (y,) * k))
    members = [fit.Member(rundir.run_dir_of(workdir, m.key), f"out{m.n}_" if grouped else "")
               for m in todo]
    for member in members:
        os.makedirs(member.run_dir, exist_ok=True)
    if nets[0].kind in ("base", "reduced") and not os.path.exists(
            os.path.join(members[0].run_dir, history.HISTORY)):
        # The filters before training, beside the trained ones: TensorBoard shows what they learned.
        summaries.write_conv1_filters(members[0].run_dir, models[0], 0)
    state_dir = (groups.group_dir(workdir, groups.group_key(nets[0])) if grouped
                 else members[0].run_dir)
    start = time.time()
    results = fit.fit(model, members, train_data, eval_data, recipe, state_dir,
                      arch.num_classes, verbose=2 if config.verbose else 0,
                      checkpoint_seconds=config.checkpoint_seconds,
                      owner=groups.owner(ctx, nets), share=k, extra_callbacks=callbacks,
                      sample_data=sample_data)
    for net, target, source, sha in zip(nets, models, inner, frozen):
        if target is not source:
            target.set_weights(source.get_weights())
        if transfer.frozen_checksum(target, net.mode, net.n) != sha:
            # Frozen layers never change; a mismatch would be a bug, not noise.
            raise AssertionError(f"{net.name}: its frozen layers changed in training")
    info = grouped and {
        "group": groups.group_name(groups.group_key(nets[0])), "nets": [m.name for m in nets],
        "trunk_net": nets[-1].name if nets[0].mode in transfer.SHARED_TRUNK else None,
        "data_seed": order_seed,
        "group_seconds": round(time.time() - start, 3), "common_batches": True,
        "shared_random_trunk": nets[0].mode == "random_frozen"}
    by_key = {m.key: (model_n, sha) for m, model_n, sha in zip(nets, models, copied)}
    rows = [finish(ctx, net, *by_key[net.key], result, info)
            for net, result in zip(todo, results)]
    if grouped:
        groups.remove_group_state(workdir, groups.group_key(nets[0]))
    return rows


def finish(ctx, net, model, copied_sha, result, fused_info):
    """Writes a trained net's run directory (rundir.finish) and returns its results row."""
    config = ctx.config
    run_dir = rundir.run_dir_of(config.workdir, net.key)
    identity = net_identity(ctx, net)
    classes = ctx.split.half(net.target)
    class_names = [ctx.data.info.class_names[c] for c in classes]
    parent_result = (files.read_json(os.path.join(
        rundir.run_dir_of(config.workdir, net.parent_key), rundir.RESULT)) if net.parent else None)
    manifest = {
        "identity": identity, "config_hash": identity["hash"], **rundir.environment(),
        "data": dataclasses.asdict(ctx.data.info), "class_names": class_names,
        "classes": list(classes), "seed": init_seed(config, net),
        "data_seed": data_seed(config, net),
        "parent": parent_result and {"run_dir": parent_result["run_dir"],
                                     "weights_sha256": parent_result["weights_sha256"]},
        "copied_weights_sha256": copied_sha,
        **({"fused": fused_info} if fused_info else {}),
    }
    recipe = recipe_settings(config)
    row = {
        **net.hparams(), "split": config.split, "split_seed": split_seed(config),
        "split_fingerprint": ctx.split.fingerprint, "dataset": config.dataset,
        "model": config.model, "seed": config.recipe.seed, "num_classes": len(classes),
        **result, "run_dir": os.path.relpath(run_dir, config.workdir),
        "config_hash": identity["hash"], "weights_sha256": transfer.weights_checksum(model),
        "recipe": recipe, "recipe_hash": files.config_hash(recipe),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **({"pretrained_sha256": config.pretrained_sha256} if config.pretrained else {}),
        **({"llrd_decay": config.llrd_decay} if net.kind == "llrd" else {}),
    }
    row["source"] = net.source
    if net.kind in ("base", "reduced"):
        summaries.write_conv1_filters(run_dir, model, config.recipe.steps)
    summaries.write_hparams(run_dir, row)
    exported = config.export and (net.kind in ("base", "reduced") or net.fine_tune
                                  or net.mode in ("surgical", "lp_ft", "llrd"))
    rundir.finish(config.workdir, run_dir, model, config.flags_text, manifest, row,
                  (ctx.data.info.mean, class_names) if exported else None)
    return row
