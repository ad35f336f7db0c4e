"""A sweep's set-up, before any net trains: the workdir checked, the data opened, the split
resolved, the workdir bound to its settings, the plan checked against the data. Shared by the
local engine (`runner`), the KerasTuner engine (`distributed`) and `tune`."""

import tensorflow as tf

from keras_transfer import catalog, data, hardware
from keras_transfer.data import splits
from keras_transfer.experiment import plan, pretrained, rundir
from keras_transfer.experiment.config import (
    Context,
    make_strategy,
    set_precision,
    sweep_settings,
)


def open_data(workdir, dataset, data_dir, split, split_seed, mixed_precision,
              max_bad_fraction=0.001):
    """(dataset, split) after checking that `workdir` is writable, with the dtype policy set."""
    rundir.check_writable(workdir)
    if mixed_precision and not tf.config.list_physical_devices("GPU"):
        warn_if_no_bfloat16()
    set_precision(mixed_precision)
    opened = data.open_dataset(dataset, data_dir, max_bad_fraction=max_bad_fraction)
    if split == pretrained.SPLIT:
        return opened, pretrained.split(opened.info.class_names)
    return opened, splits.resolve(split, opened.info.class_names, seed=split_seed,
                                  families=opened.info.families)


def prepare(config):
    """Opens the data and the split, makes the plan (ctx.nets) and checks the workdir, before
    any training starts."""
    check_threads(config.intra_op_threads)
    dataset, split = open_data(config.workdir, config.dataset, config.data_dir, config.split,
                              config.split_seed, config.mixed_precision, config.max_bad_fraction)
    # A bad source must not bind the workdir.
    pretrained_model = pretrained.check(config, split) if config.pretrained else None
    ctx = Context(config, dataset, split, make_strategy(config.strategy),
                  pretrained_model=pretrained_model)
    # A plan that cannot be made (an unknown experiment, lp_ft without transfer, a class too
    # small) must not bind the workdir either.
    ctx.nets = the_plan(ctx)
    # After the data and split: their errors say more than "the workdir holds another dataset".
    rundir.check_sweep(config.workdir, sweep_settings(config))
    return ctx


def check_threads(intra_op):
    """The intra-op thread count the recipe names is the one TensorFlow runs with (it can only
    be set before the first op: `python -m keras_transfer.sweep` does so from its flag)."""
    if not intra_op or tf.config.threading.get_intra_op_parallelism_threads() == intra_op:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    except RuntimeError:
        raise ValueError(
            f"the recipe names intra_op_threads={intra_op}, but TensorFlow already runs with "
            f"{tf.config.threading.get_intra_op_parallelism_threads() or 'its default'}; set "
            "it before the first TensorFlow op (runtime.configure)") from None


def warn_if_no_bfloat16():
    """bfloat16 is fast only on CPUs with bfloat16 instructions (AVX512-BF16, AMX); elsewhere
    it is emulated and slower than float32 (asked for explicitly, or kept by a workdir)."""
    _, cpu_flags = hardware.cpu_info()
    if cpu_flags and not hardware.native_bfloat16(cpu_flags):
        print("warning: --mixed_precision on a CPU without AVX512-BF16/AMX: bfloat16 is emulated "
              "and slower than float32 here; pass --nomixed_precision (results then differ "
              "slightly, so use a new --workdir)", flush=True)


def the_plan(ctx):
    halves = ("A", "B") if ctx.split.b else ()
    nets = plan.make_plan(ctx.config.layers, ctx.config.experiments, halves,
                          ctx.config.per_class, ctx.config.target_per_class,
                          ctx.config.replicates, catalog.max_n(ctx.config.model) + 1)
    if ctx.config.pretrained:
        nets = pretrained.target_side(nets)
    check_sizes(ctx, nets)
    return nets


def check_sizes(ctx, nets):
    """Fails before any training when a net would train on fewer than two classes (top-1 of
    1.0 that means nothing) or asks for more images per class than exist."""
    cap = ctx.config.train_per_class
    if cap is not None and cap < 1:
        raise data.DataError(f"--train_per_class={cap} must be at least 1 (or unset: all)")
    over = sorted({n.per_class for n in nets if cap and n.per_class and n.per_class > cap})
    if over:
        raise data.DataError(
            f"--per_class / --target_per_class {over} exceed --train_per_class={cap}, the images "
            "per class every other net trains on; lower them or raise --train_per_class")
    for net in nets:
        counts = {c: ctx.data.info.train_counts[c] for c in ctx.split.half(net.target)}
        if len(counts) < 2:
            raise data.DataError(f"{net.name} would train on {len(counts)} class(es) (half "
                                 f"{net.target} of --split={ctx.config.split}); every half "
                                 "needs at least 2 classes")
        wanted = net.per_class or cap
        if wanted is None:
            continue
        fewest = min(counts, key=counts.get)
        if counts[fewest] < wanted:
            raise data.DataError(
                f"{net.name} needs {wanted} training images per class, but class "
                f"{ctx.data.info.class_names[fewest]!r} has {counts[fewest]}; lower "
                "--per_class / --target_per_class / --train_per_class")
