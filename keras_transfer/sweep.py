"""The paper's whole experiment in one command.

    python -m keras_transfer.sweep --split=natural_manmade            # embedded default data
    python -m keras_transfer.sweep --flagfile=flags/imagenet.flags --data_dir=/data/imagenet

Without --flagfile the embedded default (flags/default.flags) is used. Each net gets a run
directory under WORKDIR/runs/; rerunning skips finished nets and resumes interrupted ones.
"""

import errno
import os
import signal
import sys

from absl import app, flags, logging

from keras_transfer import catalog
from keras_transfer.experiment import plan

FLAGS = flags.FLAGS
DEFAULT_FLAGFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "flags", "default.flags")

flags.DEFINE_string("workdir", None, "Where runs go (default runs/<split>).")
flags.DEFINE_string("dataset", "synthetic",
                    "synthetic (embedded default), folder:PATH, or tfds:NAME.")
flags.DEFINE_string("data_dir", None, "TFDS data dir (its downloads/manual holds ImageNet's tars).")
flags.DEFINE_string("split", "natural_manmade",
                    "random, natural_manmade, none, or a JSON file {\"A\": [...], \"B\": [...]}. "
                    "Several, comma-separated, run one after another into WORKDIR/<split>.")
flags.DEFINE_integer("split_seed", 0, "Seed of --split=random (the paper used 0..3).")
flags.DEFINE_string("layers", "1-7", "The n values: copy layers 1..n (e.g. '1-7' or '1,3,5').")
flags.DEFINE_list("experiments", list(plan.PAPER_EXPERIMENTS), f"Subset of {plan.EXPERIMENTS}.")
flags.DEFINE_string("per_class", "", "reduced experiment: k images per class, e.g. '1,5,25,100'.")
flags.DEFINE_string("target_per_class", "",
                    "Train half B's target-side nets again on K images per class, e.g. '5,20,80'.")
flags.DEFINE_enum("model", "caffenet_small", list(catalog.MODEL_NAMES),
                  "caffenet: the paper's 227 px net; caffenet_small: 32 px, widths / 4; "
                  "caffenet_mini: caffenet_small with conv1 at stride 2 (4.5x fewer FLOPs).")
flags.DEFINE_integer("steps", 450_000, "Training steps per net.")
flags.DEFINE_integer("eval_every", 1_000, "Steps between evaluations and checkpoints.")
flags.DEFINE_float("checkpoint_seconds", 0.0,
                   "Checkpoint after an evaluation only when this many seconds have passed since "
                   "the last checkpoint; 0: after every evaluation. A crash redoes at most this "
                   "much training.")
flags.DEFINE_enum("lr_policy", "step", ["step", "poly"],
                  "Caffe's learning-rate policy: step (the paper's: x lr_gamma every lr_step "
                  "steps) or poly (linear decay to 0 at --steps; flags/default.flags).")
flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up over this many steps "
                     "(not in the paper: 0; flags/default.flags uses it, BUILD_NOTES.md).")
flags.DEFINE_integer("batch_size", 256, "Batch size per replica (global = this x replicas).")
flags.DEFINE_float("learning_rate", 0.01, "Base learning rate.")
flags.DEFINE_integer("lr_step", 100_000, "Divide the learning rate by 1/lr_gamma every this many steps.")
flags.DEFINE_float("lr_gamma", 0.1, "Learning-rate factor at each lr_step.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
flags.DEFINE_float("bias_lr_multiplier", 2.0, "Biases learn this many times faster (Caffe: 2).")
flags.DEFINE_integer("seed", 0, "Seed of initialisations and data order.")
flags.DEFINE_integer("replicates", 1, "Train every net this many times (independent inits and "
                     "data orders, in WORKDIR/runs/r0, r1, ...); the report gives each number "
                     "with a 95 % confidence interval over them. flags/default.flags: 3.",
                     lower_bound=1)
flags.DEFINE_bool("mixed_precision", False, "bfloat16 on CPU, float16 on GPU.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile train steps (slower on CPU for CaffeNet).")
flags.DEFINE_integer("intra_op_threads", 0, "Threads inside one op (0: TensorFlow's choice, all "
                     "cores). 1 with the default inter-op threads runs the fused groups' nets side "
                     "by side instead of splitting each small op: 1.1-1.7x on the embedded "
                     "default's fine-tuned groups (BENCHMARKS.md); the numbers change slightly.",
                     lower_bound=0)
flags.DEFINE_integer("inter_op_threads", 0, "Ops run at the same time (0: TensorFlow's choice).",
                     lower_bound=0)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored"],
                  "mirrored: tf.distribute.MirroredStrategy over all local GPUs.")
flags.DEFINE_bool("export", True, "Export base and fine-tuned nets as SavedModels.")
flags.DEFINE_float("max_bad_fraction", 0.001,
                   "Fail when more than this fraction of a folder tree's images cannot be decoded.")
flags.DEFINE_bool("report", True, "Write WORKDIR/report/ when the sweep ends.")
flags.DEFINE_bool("fused", True, "Train the nets that share a source and target together: "
                  "frozen ones (AnB, BnB, random<n> for all n) as heads of one frozen trunk, "
                  "fine-tuned ones (AnB+, BnB+) side by side in one graph; --nofused: one at a "
                  "time (keras_transfer/experiment/groups.py).")
flags.DEFINE_bool("deterministic", False,
                  "tf.config.experimental.enable_op_determinism(): bitwise-reproducible runs and "
                  "resumes (slower on GPU; see BUILD_NOTES.md, Reliability).")
# Engines: this process, or KerasTuner's distributed mode (docs/distributed.md).
flags.DEFINE_enum("engine", "local", ["local", "kerastuner"],
                  "local: nets one after another in this process. kerastuner: one KerasTuner "
                  "trial per net; with KERASTUNER_TUNER_ID/ORACLE_IP/ORACLE_PORT set this "
                  "process is the chief (TUNER_ID=chief) or a worker (docs/distributed.md).")
flags.DEFINE_float("kerastuner_lease_seconds", 600.0,
                   "--engine=kerastuner: a worker silent this long on a net loses it to another.")
flags.DEFINE_float("dropout", None, "Dropout rate after fc6 and fc7; default: the paper's 0.5. "
                   "flags/default.flags sets 0 for its small net (BUILD_NOTES.md, Default sweep).")
flags.DEFINE_float("weight_decay", None, "L2 weight decay on kernels; default: Caffe's 5e-4. "
                   "python -m keras_transfer.tune writes a tuned value into best.flags.")


def configs_from_flags():
    """One SweepConfig per --split value; several splits get WORKDIR/<split> each."""
    names = [s.strip() for s in FLAGS.split.split(",") if s.strip()]
    if not names:
        raise ValueError("--split is empty; use random, natural_manmade, none or a JSON file")
    if len(names) == 1:
        return [config_from_flags(names[0], FLAGS.workdir or
                                  os.path.join("runs", split_name(names[0])))]
    root = FLAGS.workdir or "runs"
    return [config_from_flags(name, os.path.join(root, split_name(name))) for name in names]


def config_from_flags(split, workdir):
    # heavy imports after flag parsing
    from keras_transfer.experiment.config import SweepConfig
    from keras_transfer.training.recipe import TrainConfig
    return SweepConfig(
        workdir=workdir, dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, split=split,
        split_seed=FLAGS.split_seed, model=FLAGS.model,
        layers=tuple(plan.parse_layers(FLAGS.layers)), experiments=tuple(FLAGS.experiments),
        per_class=tuple(plan.parse_sizes(FLAGS.per_class, "per_class")),
        target_per_class=tuple(plan.parse_sizes(FLAGS.target_per_class, "target_per_class")),
        recipe=TrainConfig(
            steps=FLAGS.steps, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
            lr_step=FLAGS.lr_step, lr_gamma=FLAGS.lr_gamma, momentum=FLAGS.momentum,
            bias_lr_multiplier=FLAGS.bias_lr_multiplier, eval_every=FLAGS.eval_every,
            seed=FLAGS.seed, jit_compile=FLAGS.jit_compile, warmup_steps=FLAGS.warmup_steps,
            lr_policy=FLAGS.lr_policy),
        strategy=FLAGS.strategy, mixed_precision=FLAGS.mixed_precision, export=FLAGS.export,
        max_bad_fraction=FLAGS.max_bad_fraction, flags_text=FLAGS.flags_into_string(),
        fused=FLAGS.fused, weight_decay=FLAGS.weight_decay,
        dropout=FLAGS.dropout, checkpoint_seconds=FLAGS.checkpoint_seconds,
        replicates=FLAGS.replicates)


def split_name(split):
    """runs/<name> for a split: the split itself, or a JSON file's stem."""
    base = os.path.basename(split)
    return base[:-5] if base.endswith(".json") else base


def user_errors():
    """Errors a user can cause: printed as one line, no traceback."""
    from keras_transfer import data
    from keras_transfer.data import splits
    from keras_transfer.experiment import rundir
    from keras_transfer.nets import transfer
    return (ValueError, FileNotFoundError, data.DataError, splits.SplitError,
            rundir.RunDirError, transfer.TransferError)


def interrupted():
    """fit.Interrupted, imported late like user_errors() to keep --help fast."""
    from keras_transfer.training import fit
    return fit.Interrupted


def configure_runtime():
    """--deterministic and the thread counts; they must be set before any TensorFlow op runs."""
    if not (FLAGS.deterministic or FLAGS.intra_op_threads or FLAGS.inter_op_threads):
        return  # TensorFlow not imported yet: --help and flag errors stay fast
    import tensorflow as tf

    from keras_transfer.experiment.config import set_threads
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    set_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags look like --split=random")
    logging.set_verbosity(logging.WARNING)
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
    except user_errors() as e:
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
    if FLAGS.report and not worker:
        write_report([config.workdir for config in configs])


def write_report(workdirs):
    from keras_transfer import report
    for workdir in workdirs:
        print(f"report: {report.write_report([workdir])}")
    if len(workdirs) > 1:
        print(f"report (all splits): {report.write_report(workdirs)}")


def with_default_flagfile(argv):
    """argv with flags/default.flags prepended when the user gave no --flagfile."""
    if any(a.startswith("--flagfile") for a in argv[1:]):
        return argv
    if not os.path.exists(DEFAULT_FLAGFILE):  # installed without the source tree
        logging.warning("%s not found; using the built-in flag defaults", DEFAULT_FLAGFILE)
        return argv
    return [argv[0], f"--flagfile={DEFAULT_FLAGFILE}", *argv[1:]]


def run():
    app.run(main, argv=with_default_flagfile(sys.argv))


if __name__ == "__main__":
    run()
