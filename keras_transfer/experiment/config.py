"""A sweep's settings (`SweepConfig`), what its nets share while it runs (`Context`), and what
decides each net: its architecture, seeds and identity (config hash).

Plain values, no absl flags: `python -m keras_transfer.sweep` builds a SweepConfig from its
flags; tests and the KerasTuner engine build one directly.
"""

import dataclasses
import os
import re
import zlib

import keras
import tensorflow as tf

from keras_transfer import catalog, data, files, hardware
from keras_transfer.data import splits
from keras_transfer.experiment import plan, rundir
from keras_transfer.nets import backbones
from keras_transfer.training import recipe as training_recipe


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
    recipe: training_recipe.TrainConfig = training_recipe.TrainConfig()
    strategy: str = "default"
    mixed_precision: bool = False
    precision_reason: str = ""  # why mixed_precision is what it is (the console's header)
    # Threads inside one op (0: TensorFlow's choice, every core). They change the order of
    # floating-point sums, so a set count is part of the recipe: with 1, a net's numbers are
    # the same on a host of any core count (the same kind of CPU).
    intra_op_threads: int = 0
    export: bool = True
    max_bad_fraction: float = 0.001
    per_class: tuple = ()          # k values of the reduced-volume experiment
    # Training images per class of every net not limited otherwise (None: all of them; the
    # first k of each class, as `per_class`): the embedded default's lever into the paper's
    # overfitting regime (BUILD_NOTES.md, "The paper's regime").
    train_per_class: int | None = None
    target_per_class: tuple = ()   # K values: target-side nets on K images per class
    flags_text: str = ""       # resolved flags, written to each run's flags.txt
    weight_decay: float | None = None  # overrides the model's Caffe default (tune.py sets it)
    dropout: float | None = None       # overrides the model's dropout (the paper's 0.5)
    fused: bool = True         # frozen nets sharing a trunk train together (experiment.groups)
    checkpoint_seconds: float = 0.0  # checkpoint at most this often (0: every evaluation)
    replicates: int = 1        # every net trained this many times (independent inits, data)
    verbose: int = 0           # 1: Keras' line per evaluation (not part of any identity)
    # How the sweep runs, never what it computes: training processes (experiment.workers; 1:
    # this process), inter-op threads (0: TensorFlow's choice), op determinism.
    workers: int = 1
    inter_op_threads: int = 0
    deterministic: bool = False
    pretrained: str | None = None  # a user's pretrained model as base A (experiment.pretrained)
    pretrained_sha256: str | None = None  # its file's sha256 (part of every dependant's identity)
    llrd_decay: float = catalog.LLRD_DECAY  # the llrd nets' factor a block (lr_multipliers)


@dataclasses.dataclass
class Context:
    """What every net of one sweep shares: its dataset (opened), split, strategy, two measured
    speed-ups that live as long as the sweep: the last parent loaded (read only: dependants
    copy its weights; keyed by its file's path, checksum, mtime and size, so a base changed on
    disk is loaded and checked again) and the compiled fused models (groups.compiled_group).
    A --pretrained sweep also keeps the pretrained model that setup.prepare checked, for install,
    and every sweep the plan setup.prepare made (its nets in training order)."""
    config: SweepConfig
    data: data.Dataset
    split: splits.Split
    strategy: tf.distribute.Strategy
    parent: dict = dataclasses.field(default_factory=dict)
    fused_models: dict = dataclasses.field(default_factory=dict)
    pretrained_model: keras.Model | None = None  # --pretrained's model, read once by setup.prepare
    nets: list = dataclasses.field(default_factory=list)  # setup.the_plan, made by prepare

    @property
    def gpus(self):
        return len(tf.config.list_physical_devices("GPU"))

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


def choose_precision(requested, workdir):
    """(mixed_precision, why) for a sweep: `requested` (--mixed_precision / --nomixed_precision)
    when given; else the precision the workdir's sweep started with (its sweep.json), so a
    workdir moved to another host still pools its rows; else the hardware's choice
    (hardware.choose_precision: bfloat16 on a GPU or where the CPU has it natively)."""
    if requested is not None:
        return bool(requested), "as asked"
    # Not a directory: a new workdir, or a file that rundir.check_writable refuses in one line.
    recorded = (files.read_json(os.path.join(workdir, rundir.SWEEP))
                if os.path.isdir(workdir) else None) or {}
    if isinstance(recorded.get("mixed_precision"), bool):
        return recorded["mixed_precision"], f"the precision {workdir} started with"
    gpu = bool(tf.config.list_physical_devices("GPU"))
    chosen = hardware.choose_precision(hardware.AUTO, gpu=gpu)
    return chosen == hardware.BFLOAT16, hardware.precision_reason(chosen, gpu=gpu)


def precision_name(mixed_precision):
    """How the console's header names a sweep's precision."""
    if not mixed_precision:
        return "float32"
    return "mixed float16" if tf.config.list_physical_devices("GPU") else "mixed bfloat16"


def fresh_session(config):
    """Drops what Keras keeps from earlier nets (traced functions, layer-name counters; the
    process would otherwise grow with every net) and sets the dtype policy again, which
    clear_session resets."""
    keras.backend.clear_session()
    set_precision(config.mixed_precision)


def sweep_settings(config):
    """What a workdir's nets must share to be compared (rundir.check_sweep), by flag name."""
    return {**dataclasses.asdict(config.recipe), "replicates": config.replicates,
            "model": config.model, "dropout": config.dropout,
            "weight_decay": config.weight_decay, "mixed_precision": config.mixed_precision,
            "dataset": config.dataset, "strategy": config.strategy,
            # Fused groups share a random trunk among random1..7 and a dropout mask inside a
            # trunk: a workdir holds nets trained one way only.
            "fused": config.fused, "llrd_decay": config.llrd_decay,
            **set_only(config),
            # Only a --pretrained sweep has the key: workdirs from before it keep their binding.
            **({"pretrained_sha256": config.pretrained_sha256} if config.pretrained else {})}


def set_only(config):
    """The recipe settings recorded only where set (sweep.json, rows, identities): workdirs
    from before them keep their binding and hashes."""
    return {name: getattr(config, name) for name in ("train_per_class", "intra_op_threads")
            if getattr(config, name)}


def recipe_settings(config):
    """What makes two sweeps' rows poolable in one report: the sweep settings without the
    replicate count and seed (more replicates or another seed add samples of the same recipe)
    and without `fused`."""
    settings = sweep_settings(config)
    # `fused` is bound per workdir (sweep.json) but kept out of the recipe hash, which rows
    # written before it was recorded carry.
    del settings["replicates"], settings["seed"], settings["fused"]
    # Only the llrd nets depend on it; they carry it in their identity and row.
    del settings["llrd_decay"]
    return settings


def architecture(config, num_classes):
    """The sweep's CaffeNet for `num_classes`; --weight_decay and --dropout override
    the paper's values. Every builder of a sweep's nets (fused heads too) goes through here."""
    overrides = {name: getattr(config, name) for name in ("weight_decay", "dropout")
                 if getattr(config, name) is not None}
    return backbones.architecture(config.model, num_classes, **overrides)


def images_per_class(config, net):
    """The training images per class `net` sees: its own limit (a reduced net's k, a K-limited
    net's K), else the sweep's --train_per_class, else None (all of them)."""
    return net.per_class or config.train_per_class


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
        "dataset": ctx.config.dataset, "data_fingerprint": ctx.data.info.fingerprint,
        "split": ctx.split.to_dict(), "split_fingerprint": ctx.split.fingerprint,
        "mixed_precision": ctx.config.mixed_precision,
        **set_only(ctx.config),
    }
    if net.kind == "llrd":
        identity["llrd_decay"] = ctx.config.llrd_decay
    parent = plan.parent_net(net)
    if parent is not None and ctx.config.pretrained and parent.name == "baseA":
        identity["parent"] = {"pretrained_sha256": ctx.config.pretrained_sha256}  # not trained here
    elif parent is not None:
        identity["parent"] = net_identity(ctx, parent)["hash"]
    identity["hash"] = files.config_hash(identity)
    return identity


def split_seed(config):
    """--split_seed where the split has one (random); None for fixed splits (natural/man-made,
    a split file), whose classes no seed decides."""
    return config.split_seed if config.split == "random" else None


def model_name(net_name):
    """A TF-scope-safe model name for a net ("A3B+@k10" -> "A3B_plus_k10")."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", net_name.replace("+", "_plus").replace("@", "_"))
