"""Tunes learning rate, weight decay and batch size of a new dataset's base nets with KerasTuner.

    python -m keras_transfer.tune --dataset=folder:/data/birds --split=random --max_trials=20
    python -m keras_transfer.sweep --flagfile=runs/tune/best.flags --dataset=folder:/data/birds ...

Hyperband (the default) spends most trials on short runs and continues the best; Bayesian
optimisation (needs scipy) and random search run --max_trials full runs. Each trial trains base A
(all classes with --split=none) from scratch for --steps with the recipe the flags give (the
paper's by default; pass the sweep's --lr_policy, --warmup_steps, --dropout and
--mixed_precision to tune for its recipe) and the trial's values, and is scored by its best
validation top-1. WORKDIR/best.flags holds the best --learning_rate, --weight_decay and
--batch_size (a flagfile the sweep takes);
`tensorboard --logdir WORKDIR/tensorboard` shows every trial's curves and the HParams table.
With KERASTUNER_* variables set the search is distributed like the sweep (docs/distributed.md).
"""

import dataclasses
import math
import os
import sys
import zlib

from absl import app, flags, logging

from keras_transfer import cli

FLAGS = flags.FLAGS
ALGORITHMS = ["hyperband", "bayesian", "random"]


def define_flags():
    # Defined only when run as a command: the sweep (same names) may share the process.
    cli.define_data_flags("runs/tune", "Where the search, its TensorBoard logs and best.flags go.",
                          "As the sweep's --split; half A is tuned.")
    # The sweep's recipe flags, so trials train as the sweep will (flags/default.flags sets
    # them for the embedded default; pass the same values here).
    cli.define_recipe_flags(20_000, "Training steps of one trial (a short run: enough to rank).",
                            "Seed of the search and of the trials' inits.")
    flags.DEFINE_enum("algorithm", "hyperband", ALGORITHMS,
                      "hyperband: many short runs, the best continued (max_trials is ignored). "
                      "bayesian: BayesianOptimization, max_trials full runs (needs scipy: "
                      "pip install keras-tuner[bayesian]). random: max_trials random full runs.")
    flags.DEFINE_integer("max_trials", 10, "Trials of the bayesian or random search.")
    flags.DEFINE_list("learning_rate_range", ["1e-4", "0.1"], "Log-uniform range LOW,HIGH.")
    flags.DEFINE_list("weight_decay_range", ["1e-5", "1e-2"], "Log-uniform range LOW,HIGH.")
    flags.DEFINE_list("batch_sizes", ["64", "128", "256"], "Choices, per replica.")
    flags.DEFINE_bool("overwrite", False, "Start the search afresh instead of resuming it.")


BEST_FLAGFILE = "best.flags"


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """A search: the sweep it tunes for (`sweep`, an experiment.config.SweepConfig: data, split,
    model, dropout, dtype policy and recipe, whose learning rate, weight decay and batch size
    the trials draw; its recipe's seed seeds the search) and the search's own settings."""
    sweep: object = None
    algorithm: str = "hyperband"
    max_trials: int = 10
    learning_rate_range: tuple = (1e-4, 0.1)
    weight_decay_range: tuple = (1e-5, 1e-2)
    batch_sizes: tuple = (64, 128, 256)
    overwrite: bool = False

    def __post_init__(self):
        # Refused before any data is read: KerasTuner would fail in a trial, or hang (0 trials).
        for name in ("learning_rate_range", "weight_decay_range"):
            value = getattr(self, name)
            if len(value) != 2 or not 0 < value[0] <= value[1] < math.inf:
                raise ValueError(f"--{name}={','.join(map(str, value))}: must be LOW,HIGH with "
                                 "0 < LOW <= HIGH (the search draws log-uniformly in between)")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"--batch_sizes={','.join(map(str, self.batch_sizes))}: must be "
                             "one or more positive integers, e.g. --batch_sizes=64,128,256")
        if self.algorithm != "hyperband" and self.max_trials < 1:
            raise ValueError(f"--max_trials={self.max_trials}: must be at least 1")


def hypermodel(config, dataset, classes):
    """A KerasTuner HyperModel: a fresh CaffeNet for half A with the trial's values."""
    import keras_tuner

    from keras_transfer.experiment.config import architecture
    from keras_transfer.nets import backbones
    from keras_transfer.training.recipe import compile_model

    sweep = config.sweep

    class BaseNet(keras_tuner.HyperModel):
        def build(self, hp):
            lr = hp.Float("learning_rate", *config.learning_rate_range, sampling="log")
            decay = hp.Float("weight_decay", *config.weight_decay_range, sampling="log")
            hp.Choice("batch_size", list(config.batch_sizes))
            arch = architecture(dataclasses.replace(sweep, weight_decay=decay), len(classes))
            model = backbones.build(arch, name="baseA")
            compile_model(model, dataclasses.replace(sweep.recipe, learning_rate=lr),
                          arch.num_classes)
            return model

        def fit(self, hp, model, *args, **kwargs):
            batch = hp.get("batch_size")
            size = model.input_shape[1]
            kwargs.setdefault("epochs", sweep.recipe.epochs)   # Hyperband passes its own
            kwargs.setdefault("shuffle", False)  # the stream is shuffled; silences a warning
            return model.fit(dataset.train(classes, batch, size, seed=sweep.recipe.seed),
                             validation_data=dataset.eval(classes, batch, size),
                             steps_per_epoch=sweep.recipe.eval_every,
                             verbose=0 if os.environ.get("CI") else 2, *args, **kwargs)

    return BaseNet()


def search(config):
    """Runs (or resumes) the search; returns the best values and writes WORKDIR/best.flags."""
    import keras
    import keras_tuner

    from keras_transfer.experiment import setup

    sweep = config.sweep
    dataset, split = setup.open_data(sweep.workdir, sweep.dataset, sweep.data_dir, sweep.split,
                                    sweep.split_seed, sweep.mixed_precision,
                                    sweep.max_bad_fraction)
    classes = split.half("A" if split.b else "all")
    # The trials' inits from --seed, but not the draws of the sweep's own bases.
    keras.utils.set_random_seed((sweep.recipe.seed * 1_000_003 + zlib.crc32(b"tune")) % 2 ** 31)
    common = dict(objective=keras_tuner.Objective("val_top1", "max"), seed=sweep.recipe.seed,
                  directory=sweep.workdir, project_name="search", overwrite=config.overwrite)
    model = hypermodel(config, dataset, classes)
    if config.algorithm == "hyperband":
        tuner = keras_tuner.Hyperband(model, max_epochs=sweep.recipe.epochs, **common)
    elif config.algorithm == "bayesian":
        try:
            import scipy  # noqa: F401  (KerasTuner's Gaussian process needs it)
        except ImportError:
            raise ValueError("--algorithm=bayesian needs scipy: pip install keras-tuner[bayesian]"
                             ", or use --algorithm=hyperband")
        tuner = keras_tuner.BayesianOptimization(model, max_trials=config.max_trials, **common)
    elif config.algorithm == "random":
        tuner = keras_tuner.RandomSearch(model, max_trials=config.max_trials, **common)
    else:
        raise ValueError(f"--algorithm must be one of {ALGORITHMS}, got {config.algorithm!r}")
    board = keras.callbacks.TensorBoard(os.path.join(sweep.workdir, "tensorboard"),
                                        write_graph=False)
    tuner.search(callbacks=[board])   # KerasTuner adds one log dir and HParams per trial
    best = tuner.get_best_hyperparameters(1)
    if not best:  # a distributed worker's client, or no trial finished
        return None
    values = {k: best[0].get(k) for k in ("learning_rate", "weight_decay", "batch_size")}
    score = tuner.oracle.get_best_trials(1)[0].score
    if score is None:  # every trial failed (KerasTuner logs each failure) and none was scored
        raise ValueError(f"no trial of the search in {sweep.workdir} finished, so there is no "
                         "best value; fix the error KerasTuner printed and rerun with --overwrite")
    write_flagfile(os.path.join(sweep.workdir, BEST_FLAGFILE), values, score, config)
    return values


def write_flagfile(path, values, score, config):
    sweep = config.sweep
    lines = [f"# keras_transfer.tune: best of a {config.algorithm} search on {sweep.dataset} "
             f"(split {sweep.split}, half A, {sweep.recipe.steps} steps per trial): "
             f"best validation top-1 {score:.4f}",
             f"--learning_rate={values['learning_rate']:.6g}",
             f"--weight_decay={values['weight_decay']:.6g}",
             f"--batch_size={values['batch_size']}"]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def numbers(name, kind):
    """The values of list flag --NAME as `kind` (float or int)."""
    values = getattr(FLAGS, name)
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise ValueError(f"--{name}={','.join(values)}: not a list of "
                         f"{'numbers' if kind is float else 'integers'}") from None


def config_from_flags():
    config = TuneConfig(
        algorithm=FLAGS.algorithm, max_trials=FLAGS.max_trials,
        learning_rate_range=numbers("learning_rate_range", float),
        weight_decay_range=numbers("weight_decay_range", float),
        batch_sizes=numbers("batch_sizes", int), overwrite=FLAGS.overwrite)
    # The sweep's settings last: they import Keras, so the checks above fail fast.
    from keras_transfer.experiment.config import SweepConfig, choose_precision
    mixed_precision, _ = choose_precision(FLAGS.mixed_precision, FLAGS.workdir)
    return dataclasses.replace(config, sweep=SweepConfig(
        workdir=FLAGS.workdir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
        split=FLAGS.split, split_seed=FLAGS.split_seed, model=FLAGS.model,
        dropout=FLAGS.dropout, mixed_precision=mixed_precision, recipe=cli.recipe(FLAGS)))


def main(argv):
    cli.no_arguments(argv, "--dataset=folder:/data/birds")
    logging.set_verbosity(logging.WARNING)
    try:
        best = search(config_from_flags())
    except cli.user_errors() as e:
        sys.exit(f"error: {e}")
    if best is not None:
        print(f"best: {best}; flagfile {os.path.join(FLAGS.workdir, BEST_FLAGFILE)}")


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=cli.parse_flags)
