"""What the command-line modules share: the flags both the sweep and the tuner take, declared
once; the errors a user can cause, printed as one line (a bad flag value too); the check for
stray arguments.

Keras-free at import, so `--help` and flag errors stay fast. The `define_*` functions define
their flags for the module that calls them: its `--help` lists them as its own.
"""

import sys

from absl import flags

from keras_transfer import catalog

flags.disclaim_key_flags()  # the flags defined below belong to the caller (absl's key flags)


def define_data_flags(workdir, workdir_help, split_help):
    """--workdir (default and help per command), --dataset, --data_dir, --split, --split_seed."""
    flags.DEFINE_string("workdir", workdir, workdir_help)
    flags.DEFINE_string("dataset", "synthetic",
                        "synthetic (embedded default), folder:PATH, or tfds:NAME.")
    flags.DEFINE_string("data_dir", None,
                        "TFDS data dir (its downloads/manual holds ImageNet's tars).")
    flags.DEFINE_string("split", "natural_manmade", split_help)
    flags.DEFINE_integer("split_seed", 0, "Seed of --split=random (the paper used 0..3).")


def define_recipe_flags(steps, steps_help, seed_help):
    """--model and the recipe flags `recipe` reads; --steps' default and two helps per command."""
    flags.DEFINE_enum("model", "caffenet_small", list(catalog.MODEL_NAMES),
                      "caffenet: the paper's 227 px net; caffenet_small: 32 px, widths / 4; "
                      "caffenet_mini: caffenet_small with conv1 at stride 2 (4.5x fewer FLOPs).")
    flags.DEFINE_integer("steps", steps, steps_help)
    flags.DEFINE_integer("eval_every", 1_000, "Steps between evaluations (the sweep's "
                         "checkpoints come after them).")
    flags.DEFINE_integer("lr_step", 100_000,
                         "Divide the learning rate by 1/lr_gamma every this many steps.")
    flags.DEFINE_enum("lr_policy", "step", ["step", "poly"],
                      "Caffe's learning-rate policy: step (the paper's: x lr_gamma every lr_step "
                      "steps) or poly (linear decay to 0 at --steps; flags/default.flags).")
    flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up over this many steps "
                         "(not in the paper: 0; flags/default.flags uses it, BUILD_NOTES.md).")
    flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
    flags.DEFINE_float("dropout", None, "Dropout rate after fc6 and fc7; default: the paper's "
                       "0.5. flags/default.flags sets 0 for its small net (BUILD_NOTES.md, "
                       "Default sweep).")
    flags.DEFINE_bool("mixed_precision", None, "bfloat16 compute on CPU, float16 on GPU; "
                      "--nomixed_precision: float32. Unset: chosen from the hardware (mixed on "
                      "a GPU or a CPU with native bfloat16, AVX512-BF16 or AMX; float32 where "
                      "bfloat16 would be emulated, slower), and a workdir keeps the precision "
                      "its sweep started with.")
    flags.DEFINE_integer("seed", 0, seed_help)


def recipe(values, **more):
    """The training.recipe.TrainConfig of the recipe flags in `values` (parsed FLAGS) and `more`."""
    # Keras loads here, after the flags parsed: --help and flag errors stay fast.
    from keras_transfer.training.recipe import TrainConfig
    return TrainConfig(steps=values.steps, eval_every=values.eval_every, lr_step=values.lr_step,
                       lr_policy=values.lr_policy, warmup_steps=values.warmup_steps,
                       momentum=values.momentum, seed=values.seed, **more)


# Each module's own error for what a user can cause (all but RunDirError are ValueErrors).
_ERRORS = (("keras_transfer.data", "DataError"), ("keras_transfer.data.splits", "SplitError"),
           ("keras_transfer.experiment.rundir", "RunDirError"),
           ("keras_transfer.nets.transfer", "TransferError"))


def user_errors():
    """Errors a user can cause, for `except`: printed as one line, no traceback.

    Imports nothing: a module's error can only have been raised once the module is loaded, so
    an error before Keras loads (a bad flag value) costs no Keras import.
    """
    loaded = [getattr(sys.modules[name], error) for name, error in _ERRORS
              if name in sys.modules]
    return (ValueError, FileNotFoundError, *loaded)


def parse_flags(argv):
    """app.run's flags_parser: a bad flag value (out of its bounds, not a number, unknown) is
    one `error:` line like every other user error; absl's own parser prints two, neither one."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = " ".join(str(e).split()).removeprefix("flag ").rstrip(".")
        sys.exit(f"error: {message}; --helpshort lists the flags and their bounds")


_OLD_NAMES = {}  # a flag's old name -> its name now


def old_name(old, new):
    """Accepts --old as the old name of --new (an absl alias); `warn_old_names` says so."""
    flags.DEFINE_alias(old, new)
    _OLD_NAMES[old] = new


def warn_old_names():
    """One warning line per old flag name on the command line."""
    for old, new in _OLD_NAMES.items():
        if flags.FLAGS[old].present:
            print(f"warning: --{old} is now --{new}; --{old} will be removed", file=sys.stderr)


def no_arguments(argv, example):
    """Exits with one error line when app.run's argv holds words that are not flags; warns of
    old flag names (`old_name`) it was given."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags look like {example}")
    warn_old_names()


