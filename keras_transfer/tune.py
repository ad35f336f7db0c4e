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
import os
import sys
import zlib

from absl import app, flags, logging

from keras_transfer import catalog

FLAGS = flags.FLAGS
ALGORITHMS = ["hyperband", "bayesian", "random"]


def define_flags():
    # Defined only when run as a command: the sweep (same names) may share the process.
    flags.DEFINE_string("workdir", "runs/tune", "Where the search, its TensorBoard logs and "
                        "best.flags go.")
    flags.DEFINE_string("dataset", "synthetic", "synthetic, folder:PATH or tfds:NAME.")
    flags.DEFINE_string("data_dir", None, "TFDS data dir.")
    flags.DEFINE_string("split", "natural_manmade", "As the sweep's --split; half A is tuned.")
    flags.DEFINE_integer("split_seed", 0, "Seed of --split=random.")
    flags.DEFINE_enum("model", "caffenet_small", list(catalog.MODEL_NAMES), "As the sweep's.")
    flags.DEFINE_enum("algorithm", "hyperband", ALGORITHMS,
                      "hyperband: many short runs, the best continued (max_trials is ignored). "
                      "bayesian: BayesianOptimization, max_trials full runs (needs scipy: "
                      "pip install keras-tuner[bayesian]). random: max_trials random full runs.")
    flags.DEFINE_integer("max_trials", 10, "Trials of the bayesian or random search.")
    flags.DEFINE_integer("steps", 20_000, "Training steps of one trial (a short run: enough to rank).")
    flags.DEFINE_integer("eval_every", 1_000, "Steps between evaluations.")
    flags.DEFINE_integer("lr_step", 100_000, "As the sweep's (keep it: it is part of the recipe).")
    # The rest of the sweep's recipe, so trials train as the sweep will (flags/default.flags
    # sets these for the embedded default; pass the same values here).
    flags.DEFINE_enum("lr_policy", "step", ["step", "poly"], "As the sweep's.")
    flags.DEFINE_integer("warmup_steps", 0, "As the sweep's.")
    flags.DEFINE_float("momentum", 0.9, "As the sweep's.")
    flags.DEFINE_float("dropout", None, "As the sweep's (default: the paper's 0.5).")
    flags.DEFINE_bool("mixed_precision", False, "As the sweep's: bfloat16 on CPU, float16 on GPU.")
    flags.DEFINE_list("learning_rate_range", ["1e-4", "0.1"], "Log-uniform range.")
    flags.DEFINE_list("weight_decay_range", ["1e-5", "1e-2"], "Log-uniform range.")
    flags.DEFINE_list("batch_sizes", ["64", "128", "256"], "Choices, per replica.")
    flags.DEFINE_integer("seed", 0, "Seed of the search and of the trials' inits.")
    flags.DEFINE_bool("overwrite", False, "Start the search afresh instead of resuming it.")


BEST_FLAGFILE = "best.flags"


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    workdir: str
    dataset: str = "synthetic"
    data_dir: str | None = None
    split: str = "natural_manmade"
    split_seed: int = 0
    model: str = "caffenet_small"
    algorithm: str = "hyperband"
    max_trials: int = 10
    recipe: object = None  # training.recipe.TrainConfig; learning_rate/batch_size from trials
    dropout: float | None = None   # None: the model's (the paper's 0.5)
    mixed_precision: bool = False
    learning_rate_range: tuple = (1e-4, 0.1)
    weight_decay_range: tuple = (1e-5, 1e-2)
    batch_sizes: tuple = (64, 128, 256)
    seed: int = 0
    overwrite: bool = False


def hypermodel(config, source, classes):
    """A KerasTuner HyperModel: a fresh CaffeNet for half A with the trial's values."""
    import keras_tuner

    from keras_transfer.nets import alexnet
    from keras_transfer.training.recipe import compile_model

    class BaseNet(keras_tuner.HyperModel):
        def build(self, hp):
            lr = hp.Float("learning_rate", *config.learning_rate_range, sampling="log")
            decay = hp.Float("weight_decay", *config.weight_decay_range, sampling="log")
            hp.Choice("batch_size", list(config.batch_sizes))
            overrides = {} if config.dropout is None else {"dropout": config.dropout}
            arch = alexnet.architecture(config.model, len(classes), weight_decay=decay,
                                        **overrides)
            model = alexnet.build(arch, name="baseA")
            compile_model(model, dataclasses.replace(config.recipe, learning_rate=lr),
                          arch.num_classes)
            return model

        def fit(self, hp, model, *args, **kwargs):
            batch = hp.get("batch_size")
            size = model.input_shape[1]
            kwargs.setdefault("epochs", config.recipe.epochs)   # Hyperband passes its own
            return model.fit(source.train(classes, batch, size, seed=config.seed),
                             validation_data=source.eval(classes, batch, size),
                             steps_per_epoch=config.recipe.eval_every,
                             verbose=0 if os.environ.get("CI") else 2, *args, **kwargs)

    return BaseNet()


def search(config):
    """Runs (or resumes) the search; returns the best values and writes WORKDIR/best.flags."""
    import keras
    import keras_tuner

    from keras_transfer import data
    from keras_transfer.data import splits
    from keras_transfer.experiment import rundir
    from keras_transfer.experiment.config import set_precision

    rundir.check_writable(config.workdir)
    set_precision(config.mixed_precision)
    source = data.open_source(config.dataset, config.data_dir)
    split = splits.resolve(config.split, source.info.class_names, seed=config.split_seed,
                           families=source.info.families)
    classes = split.half("A" if split.b else "all")
    # Never a global seed of 0: TF then compares the data pipeline's tensor op seed to 0
    # (random_seed.get_seed) and fails; experiment.config.init_seed derives seeds the same way.
    keras.utils.set_random_seed((config.seed * 1_000_003 + zlib.crc32(b"tune")) % 2 ** 31)
    common = dict(objective=keras_tuner.Objective("val_top1", "max"), seed=config.seed,
                  directory=config.workdir, project_name="search", overwrite=config.overwrite)
    model = hypermodel(config, source, classes)
    if config.algorithm == "hyperband":
        tuner = keras_tuner.Hyperband(model, max_epochs=config.recipe.epochs, **common)
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
    board = keras.callbacks.TensorBoard(os.path.join(config.workdir, "tensorboard"),
                                        write_graph=False)
    tuner.search(callbacks=[board])   # KerasTuner adds one log dir and HParams per trial
    best = tuner.get_best_hyperparameters(1)
    if not best:  # a distributed worker's client, or no trial finished
        return None
    values = {k: best[0].get(k) for k in ("learning_rate", "weight_decay", "batch_size")}
    score = tuner.oracle.get_best_trials(1)[0].score
    write_flagfile(os.path.join(config.workdir, BEST_FLAGFILE), values, score, config)
    return values


def write_flagfile(path, values, score, config):
    lines = [f"# keras_transfer.tune: best of a {config.algorithm} search on {config.dataset} "
             f"(split {config.split}, half A, {config.recipe.steps} steps per trial): "
             f"best validation top-1 {score:.4f}",
             f"--learning_rate={values['learning_rate']:.6g}",
             f"--weight_decay={values['weight_decay']:.6g}",
             f"--batch_size={values['batch_size']}"]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def config_from_flags():
    from keras_transfer.training.recipe import TrainConfig
    try:
        return TuneConfig(
            workdir=FLAGS.workdir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
            split=FLAGS.split, split_seed=FLAGS.split_seed, model=FLAGS.model,
            algorithm=FLAGS.algorithm, max_trials=FLAGS.max_trials,
            recipe=TrainConfig(steps=FLAGS.steps, eval_every=FLAGS.eval_every,
                                     lr_step=FLAGS.lr_step, seed=FLAGS.seed,
                                     lr_policy=FLAGS.lr_policy, warmup_steps=FLAGS.warmup_steps,
                                     momentum=FLAGS.momentum),
            dropout=FLAGS.dropout, mixed_precision=FLAGS.mixed_precision,
            learning_rate_range=tuple(float(v) for v in FLAGS.learning_rate_range),
            weight_decay_range=tuple(float(v) for v in FLAGS.weight_decay_range),
            batch_sizes=tuple(int(v) for v in FLAGS.batch_sizes),
            seed=FLAGS.seed, overwrite=FLAGS.overwrite)
    except ValueError as e:
        raise ValueError(f"bad --learning_rate_range/--weight_decay_range/--batch_sizes: {e}")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    from keras_transfer import data  # user errors: one line, no traceback
    from keras_transfer.data import splits
    from keras_transfer.experiment import rundir
    try:
        best = search(config_from_flags())
    except (ValueError, FileNotFoundError, data.DataError, splits.SplitError,
            rundir.RunDirError) as e:
        sys.exit(f"error: {e}")
    if best is not None:
        print(f"best: {best}; flagfile {os.path.join(FLAGS.workdir, BEST_FLAGFILE)}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
