"""The paper's whole experiment in one command.

    python -m keras_transfer.sweep --split=natural_manmade            # embedded default data
    python -m keras_transfer.sweep --flagfile=flags/imagenet.flags --data_dir=/data/imagenet

Without --flagfile the embedded default (flags/default.flags) is used. Each net gets a run
directory under WORKDIR/runs/; rerunning skips finished nets and resumes interrupted ones.
"""

import dataclasses
import errno
import os
import signal
import sys

from absl import app, flags, logging

from keras_transfer import catalog, cli, runtime
from keras_transfer.experiment import plan

FLAGS = flags.FLAGS
DEFAULT_FLAGFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "flags", "default.flags")

cli.define_data_flags(
    None, "Where runs go (default runs/<split>; runs/<model>/<split> for a --model that is not "
    "a CaffeNet).",
    "random, natural_manmade, none, or a JSON file {\"A\": [...], \"B\": [...]}. Several, "
    "comma-separated, run one after another into WORKDIR/<split>.")
cli.define_recipe_flags(450_000, "Training steps per net.",
                        "Seed of initialisations and data order.")
flags.DEFINE_string("layers", "all", "The n values: copy blocks 1..n ('all': every cut point "
                    "but the classifier, 1..7 on CaffeNet; or e.g. '1-7', '1,3,5').")
flags.DEFINE_list("experiments", list(plan.PAPER_EXPERIMENTS), f"Subset of {plan.EXPERIMENTS}.")
flags.DEFINE_string("per_class", "", "reduced experiment: k images per class, e.g. '1,5,25,100'.")
flags.DEFINE_integer("train_per_class", None, "Every net trains on the first k training images "
                     "of each class (default: all of them); --per_class and --target_per_class "
                     "nets on fewer. flags/default.flags sets it to put the embedded task in the "
                     "paper's overfitting regime (BUILD_NOTES.md, The paper's regime).",
                     lower_bound=1)
flags.DEFINE_string("target_per_class", "",
                    "Train half B's target-side nets again on K images per class, e.g. '5,20,80'.")
flags.DEFINE_float("checkpoint_seconds", 0.0,
                   "Checkpoint after an evaluation only when this many seconds have passed since "
                   "the last checkpoint; 0: after every evaluation. A crash redoes at most this "
                   "much training.")
flags.DEFINE_integer("batch_size", 256, "Batch size per replica (global = this x replicas).")
flags.DEFINE_float("learning_rate", 0.01, "Base learning rate.")
flags.DEFINE_float("lr_gamma", 0.1, "Learning-rate factor at each lr_step.")
flags.DEFINE_float("bias_lr_multiplier", 2.0, "Biases learn this many times faster (Caffe: 2).")
flags.DEFINE_integer("replicates", 1, "Train every net this many times (independent inits and "
                     "data orders, in WORKDIR/runs/r0, r1, ...); the report gives each number "
                     "with a 95 % confidence interval over them. flags/default.flags: 3.",
                     lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "XLA-compile train steps (slower on CPU for CaffeNet).")
flags.DEFINE_integer("intra_op_threads", 0, "Threads inside one op (0: TensorFlow's choice, all "
                     "cores). 1 with the default inter-op threads runs the fused groups' nets side "
                     "by side instead of splitting each small op: 1.1-1.7x on the embedded "
                     "default's fine-tuned groups (BENCHMARKS.md). A set count is part of the "
                     "recipe (it changes the numbers slightly); with 1 they do not depend on the "
                     "host's core count. flags/default.flags: 1.",
                     lower_bound=0)
flags.DEFINE_integer("workers", None, "Training processes that take the sweep's units (a base, a "
                     "fused group, a net alone) as their bases finish; each gets the recipe's "
                     "intra-op threads (1 on the embedded default, so the rows do not depend on "
                     "N). Default: one per usable core, at most the units to train and what "
                     "fits in memory; 1 on a GPU machine. 1: train in this process.")
flags.DEFINE_integer("inter_op_threads", 0, "Ops run at the same time (0: TensorFlow's choice).",
                     lower_bound=0)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored"],
                  "mirrored: tf.distribute.MirroredStrategy over all local GPUs.")
flags.DEFINE_bool("export", True, "Export base and fine-tuned nets as SavedModels.")
flags.DEFINE_float("max_bad_fraction", 0.001,
                   "Fail when more than this fraction of a folder tree's images cannot be decoded.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_bool("report", True, "Write WORKDIR/report/ when the sweep ends.")
flags.DEFINE_bool("diagnostics", False, "Before the report, run the layer diagnostics on the "
                  "bases (python -m keras_transfer.diagnose --direction=both): the report then "
                  "grades the transferability scores against the measured nets and shows CKA.")
flags.DEFINE_bool("list_cut_points", False, "Print --model's cut points (the n axis: n copies "
                  "layers 1..n) and exit.")
flags.DEFINE_integer("verbose", 0, "0: one line per finished net; 1: also Keras' line per "
                     "evaluation of the net or group in training.")
flags.DEFINE_bool("fused", True, "Train the nets that share a source and target together: "
                  "frozen ones (AnB, BnB, random<n> for all n) as heads of one frozen trunk, "
                  "fine-tuned ones (AnB+, BnB+) side by side in one graph; --nofused: one at a "
                  "time (keras_transfer/experiment/groups.py).")
flags.DEFINE_bool("deterministic", False,
                  "tf.config.experimental.enable_op_determinism(): bitwise-reproducible runs and "
                  "resumes (slower on GPU; see BUILD_NOTES.md, Reliability).")
# Engines: this process, or KerasTuner's distributed mode (docs/distributed.md).
flags.DEFINE_enum("engine", "local", ["local", "kerastuner"],
                  "local: this process and its --workers. kerastuner: one KerasTuner "
                  "trial per net; with KERASTUNER_TUNER_ID/ORACLE_IP/ORACLE_PORT set this "
                  "process is the chief (TUNER_ID=chief) or a worker (docs/distributed.md).")
flags.DEFINE_float("kerastuner_lease_seconds", 600.0,
                   "--engine=kerastuner: a worker silent this long on a net loses it to another.")
flags.DEFINE_string("pretrained", None, "A pretrained net of --model (a .keras file, a "
                    ".weights.h5 file, a SavedModel directory, or 'imagenet': keras.applications' "
                    "weights for mobilenetv3_small and resnet50) as base A: every class of "
                    "--dataset is the target, and the sweep trains baseB from scratch and the "
                    "nets that copy from the pretrained net or from baseB (no --split).")
cli.old_name("source", "pretrained")
flags.DEFINE_float("llrd_decay", catalog.LLRD_DECAY, "--experiments=llrd: layer-wise "
                   "learning-rate decay; block k of the n copied ones learns at "
                   "llrd_decay ** (n + 1 - k) times the rate, the new layers above at the rate.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("weight_decay", None, "L2 weight decay on kernels; default: Caffe's 5e-4. "
                   "python -m keras_transfer.tune writes a tuned value into best.flags.")


def configs_from_flags():
    """One SweepConfig per --split value; several splits get WORKDIR/<split> each."""
    if FLAGS.pretrained:
        return [pretrained_config()]
    names = [s.strip() for s in FLAGS.split.split(",") if s.strip()]
    if not names:
        raise ValueError("--split is empty; use random, natural_manmade, none or a JSON file")
    if len(names) == 1:
        return [config_from_flags(names[0], FLAGS.workdir or
                                  os.path.join(default_root(), split_name(names[0])))]
    root = FLAGS.workdir or default_root()
    return [config_from_flags(name, os.path.join(root, split_name(name))) for name in names]


def default_root():
    """Where runs go without --workdir: runs/ for the paper's CaffeNets, runs/<model>/ for every
    other backbone, so that the default sweep (runs/natural_manmade) and e.g. a resnet_mini one
    of the same split each get a workdir of their own (one workdir holds one model's nets)."""
    if FLAGS.model in catalog.CAFFENET_MODELS:
        return "runs"
    return os.path.join("runs", FLAGS.model)


def pretrained_config():
    """The SweepConfig of a --pretrained sweep: split "pretrained", in <default root>/pretrained."""
    from keras_transfer.experiment import pretrained
    if FLAGS["split"].present:
        raise ValueError("--pretrained trains on every class of --dataset (the target); drop "
                         f"--split={FLAGS.split}")
    config = config_from_flags(pretrained.SPLIT, FLAGS.workdir or os.path.join(
        default_root(), pretrained.SPLIT))
    return dataclasses.replace(config, pretrained=FLAGS.pretrained,
                               pretrained_sha256=pretrained.fingerprint(FLAGS.pretrained,
                                                                        FLAGS.model))


def config_from_flags(split, workdir):
    # heavy imports after flag parsing
    from keras_transfer.experiment.config import SweepConfig, choose_precision
    mixed_precision, precision_reason = choose_precision(FLAGS.mixed_precision, workdir)
    return SweepConfig(
        workdir=workdir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, split=split,
        split_seed=FLAGS.split_seed, model=FLAGS.model,
        layers=tuple(plan.parse_layers(FLAGS.layers, FLAGS.model)),
        experiments=tuple(FLAGS.experiments),
        per_class=tuple(plan.parse_sizes(FLAGS.per_class, "per_class")),
        target_per_class=tuple(plan.parse_sizes(FLAGS.target_per_class, "target_per_class")),
        recipe=cli.recipe(
            FLAGS, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
            lr_gamma=FLAGS.lr_gamma, bias_lr_multiplier=FLAGS.bias_lr_multiplier,
            jit_compile=FLAGS.jit_compile),
        strategy=FLAGS.strategy, export=FLAGS.export, mixed_precision=mixed_precision,
        precision_reason=precision_reason,
        max_bad_fraction=FLAGS.max_bad_fraction, flags_text=FLAGS.flags_into_string(),
        fused=FLAGS.fused, weight_decay=FLAGS.weight_decay, verbose=FLAGS.verbose,
        dropout=FLAGS.dropout, checkpoint_seconds=FLAGS.checkpoint_seconds,
        replicates=FLAGS.replicates, llrd_decay=FLAGS.llrd_decay,
        intra_op_threads=FLAGS.intra_op_threads, train_per_class=FLAGS.train_per_class,
        workers=FLAGS.workers, inter_op_threads=FLAGS.inter_op_threads,
        deterministic=FLAGS.deterministic)


def split_name(split):
    """runs/<name> for a split: the split itself, or a JSON file's stem."""
    base = os.path.basename(split)
    return base[:-5] if base.endswith(".json") else base


def interrupted():
    """fit.Interrupted, imported late to keep --help fast."""
    from keras_transfer.training import fit
    return fit.Interrupted


def configure_runtime():
    """--deterministic and the thread counts; they must be set before any TensorFlow op runs."""
    runtime.configure(FLAGS.intra_op_threads, FLAGS.inter_op_threads, FLAGS.deterministic)


def cut_points_text(model):
    """--list_cut_points: the model's layer axis, one line per n."""
    from keras_transfer import catalog
    axis = catalog.layer_axis(model)
    lines = [f"{model}: {len(axis) - 1} cut points (--layers); n copies blocks 1..n from a "
             f"base, and the classifier ({axis[-1]}) is always new"]
    lines += [f"  n={n}  after {name}" for n, name in enumerate(axis[:-1], 1)]
    return "\n".join(lines)


def main(argv):
    cli.no_arguments(argv, "--split=random")
    if FLAGS.list_cut_points:
        print(cut_points_text(FLAGS.model))
        return
    logging.set_verbosity(logging.WARNING)
    runtime.import_tensorflow_quietly()
    configure_runtime()
    try:
        configs = configs_from_flags()
        from keras_transfer.experiment import runner
        worker = False  # a kerastuner worker; the chief writes the report
        for config in configs:
            if FLAGS.engine == "kerastuner":  # chief, worker, or both in this process
                from keras_transfer.experiment import distributed
                worker = distributed.run_sweep(config, FLAGS.kerastuner_lease_seconds) is None
            else:
                runner.run_sweep(config)
    except cli.user_errors() as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:
        sys.exit("interrupted: rerun the same command to resume")
    except interrupted() as e:  # a signal stopped training after a checkpoint
        print(f"interrupted: {e}", file=sys.stderr)
        sys.exit(128 + (e.signum or signal.SIGINT))  # the shell's code for death by that signal
    except OSError as e:  # a disk that fills up or turns read-only mid-sweep
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        sys.exit(f"error: {e.strerror} writing {e.filename or 'the workdir'}; finished nets and "
                 "the last checkpoint are kept: free space and rerun the same command to resume")
    if not worker and (FLAGS.report or FLAGS.diagnostics):
        write_report([config.workdir for config in configs])


def write_report(workdirs):
    """The diagnostics (--diagnostics), then the report (--report) of each workdir."""
    from keras_transfer import report
    for workdir in workdirs:
        if FLAGS.diagnostics:
            write_diagnostics(workdir)
        if FLAGS.report:
            print(f"report: {report.write_report([workdir])}")
    if FLAGS.report and len(workdirs) > 1:
        print(f"report (all splits): {report.write_report(workdirs)}")


def write_diagnostics(workdir):
    """diagnose's scores.json for the report; a sweep without the bases it reads (only a
    pretrained --pretrained, say) gets a line saying so and its report as before."""
    from keras_transfer import diagnose
    try:
        diagnose.diagnose(workdir, direction="both", data_dir=FLAGS.data_dir)
    except ValueError as e:
        print(f"diagnostics skipped: {e}")
        return
    print(f"diagnostics: {os.path.join(workdir, diagnose.OUT, 'scores.md')}")


def with_default_flagfile(argv):
    """argv with flags/default.flags prepended when the user gave no --flagfile."""
    if any(a.startswith("--flagfile") for a in argv[1:]):
        return argv
    if not os.path.exists(DEFAULT_FLAGFILE):  # installed without the source tree
        logging.warning("%s not found; using the built-in flag defaults", DEFAULT_FLAGFILE)
        return argv
    return [argv[0], f"--flagfile={DEFAULT_FLAGFILE}", *argv[1:]]


def run():
    app.run(main, argv=with_default_flagfile(sys.argv), flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()
