"""The paper's training recipe: its settings (`TrainConfig`), Caffe's optimizer and learning-rate
policies, and how a model is compiled with them.

SGD with momentum 0.9, learning rate divided by 10 every `lr_step` steps, biases at twice the
learning rate, weight decay on kernels only (set in `nets.alexnet`); optionally a linear warm-up
(not in the paper; the embedded default uses it, BUILD_NOTES.md). Training runs in "epochs" of
`eval_every` steps, each ending in an evaluation, so the paper's best-10 metric has its values.
"""

import dataclasses

import keras
from keras import ops


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One net's training recipe; every field is part of the net's identity (config hash)."""
    steps: int = 450_000
    batch_size: int = 256
    learning_rate: float = 0.01
    lr_step: int = 100_000
    lr_gamma: float = 0.1
    momentum: float = 0.9
    bias_lr_multiplier: float = 2.0
    eval_every: int = 1_000
    seed: int = 0
    jit_compile: bool = False
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps; 0: none (the paper's)
    lr_policy: str = "step"  # Caffe's "step" (the paper's) or "poly" (linear decay to 0)

    def __post_init__(self):
        # Each message names the flag that sets the field: the commands print it as it is.
        if self.steps <= 0:
            raise ValueError(f"--steps={self.steps}: a net needs at least 1 training step")
        if self.eval_every <= 0:
            raise ValueError(f"--eval_every={self.eval_every}: must be at least 1 (training "
                             "runs in epochs of eval_every steps, each ending in an evaluation)")
        if self.batch_size <= 0:
            raise ValueError(f"--batch_size={self.batch_size}: a batch needs at least 1 image")
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(f"--warmup_steps={self.warmup_steps}: must be in [0, --steps="
                             f"{self.steps})")
        if self.lr_policy not in LR_POLICIES:
            raise ValueError(f"--lr_policy={self.lr_policy!r}: must be one of {LR_POLICIES}")
        if self.steps % self.eval_every:
            raise ValueError(f"--steps={self.steps} must be a multiple of --eval_every="
                             f"{self.eval_every}")
        # Recipes that cannot train are refused before anything is trained or written.
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate={self.learning_rate}: must be > 0 (SGD with a "
                             "rate of 0 or below does not train or diverges)")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum={self.momentum}: must be in [0, 1)")
        if self.lr_policy == "step" and not 0 < self.lr_gamma <= 1:
            raise ValueError(f"--lr_gamma={self.lr_gamma}: must be in (0, 1]")
        if self.lr_policy == "step" and self.lr_step <= 0:
            raise ValueError(f"--lr_step={self.lr_step}: must be > 0 (the learning rate is "
                             "divided every lr_step steps; 0 gives a rate of NaN)")

    @property
    def epochs(self):
        return self.steps // self.eval_every


@keras.saving.register_keras_serializable(package="keras_transfer")
class CaffeSGD(keras.optimizers.SGD):
    """SGD whose bias variables learn at `bias_lr_multiplier` times the learning rate (Caffe's
    `lr_mult: 2` on biases), and each variable named in `lr_multipliers` at that factor times its
    rate (layer-wise decay); Keras has no per-variable learning rates. lr_multipliers is
    {variable path: factor} for one net, or a list of factors, one per variable in the order the
    optimizer is built with (model.trainable_variables): nets side by side in one model share
    their variables' paths."""

    def __init__(self, bias_lr_multiplier=2.0, lr_multipliers=None, **kwargs):
        super().__init__(**kwargs)
        self.bias_lr_multiplier = bias_lr_multiplier
        self.lr_multipliers = (list(lr_multipliers) if isinstance(lr_multipliers, (list, tuple))
                               else dict(lr_multipliers or {}))

    def build(self, variables):
        super().build(variables)
        # By the variable's index: update_step sees the backend's variable, whose name on the
        # TF backend is not the Keras path.
        if isinstance(self.lr_multipliers, list):
            if len(self.lr_multipliers) != len(variables):
                raise ValueError(f"lr_multipliers has {len(self.lr_multipliers)} factors for "
                                 f"{len(variables)} variables")
            self._lr_factors = [float(f) for f in self.lr_multipliers]
        else:
            self._lr_factors = [float(self.lr_multipliers.get(v.path, 1.0)) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        # On the TF backend this sees the raw tf.Variable ("model/fc6/bias:0"; with
        # MirroredStrategy "…/bias/replica_1:0"), elsewhere the Keras variable ("bias").
        if "bias" in variable.name.split(":")[0].split("/")[-2:]:
            learning_rate = learning_rate * self.bias_lr_multiplier
        if self.lr_multipliers:
            factor = self._lr_factors[self._get_variable_index(variable)]
            if factor != 1.0:
                learning_rate = learning_rate * factor
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "bias_lr_multiplier": self.bias_lr_multiplier,
                "lr_multipliers": self.lr_multipliers}


@keras.saving.register_keras_serializable(package="keras_transfer")
class CaffeSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Caffe's learning-rate policies, times a linear warm-up min(1, (step + 1) / warmup_steps)
    when warmup_steps > 0:
    "step": lr * gamma ** floor(step / lr_step) (the paper's);
    "poly": lr * (1 - step / max_steps) ** power, Caffe's "poly" with power 1: a linear decay
    to 0 at max_steps (no sudden drop; BUILD_NOTES.md, Default sweep)."""

    def __init__(self, learning_rate, lr_step, lr_gamma, warmup_steps=0, policy="step",
                 max_steps=None):
        if policy not in LR_POLICIES:
            raise ValueError(f"lr_policy must be one of {LR_POLICIES}, got {policy!r}")
        self.learning_rate, self.lr_step = learning_rate, lr_step
        self.lr_gamma, self.warmup_steps = lr_gamma, warmup_steps
        self.policy, self.max_steps = policy, max_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.policy == "poly":
            lr = self.learning_rate * ops.maximum(0.0, 1.0 - step / self.max_steps)
        else:
            lr = self.learning_rate * ops.power(self.lr_gamma, ops.floor(step / self.lr_step))
        if self.warmup_steps:
            lr = lr * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return lr

    def get_config(self):
        return {"learning_rate": self.learning_rate, "lr_step": self.lr_step,
                "lr_gamma": self.lr_gamma, "warmup_steps": self.warmup_steps,
                "policy": self.policy, "max_steps": self.max_steps}


LR_POLICIES = ("step", "poly")


def metrics(num_classes):
    """The metrics every net reports: top-1, and top-5 where there are at least 10 classes."""
    found = [keras.metrics.SparseCategoricalAccuracy(name="top1")]
    if num_classes >= 10:
        found.append(keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"))
    return found


def compile_model(model, config, num_classes, lr_multipliers=None):
    """Compiles `model` (whose `trainable` flags are already set) with the paper's optimizer. A
    model with several outputs (a group of nets, one output each) gets one loss and one metric
    set per output, so each net's numbers are logged under its output's name.
    lr_multipliers: {variable path: factor} for variables that learn at another rate, or one
    factor per variable of model.trainable_variables (CaffeSGD)."""
    schedule = CaffeSchedule(config.learning_rate, config.lr_step, config.lr_gamma,
                             config.warmup_steps, config.lr_policy, config.steps)
    outputs = len(model.outputs)
    loss, metric_sets = keras.losses.SparseCategoricalCrossentropy, metrics
    model.compile(
        optimizer=CaffeSGD(learning_rate=schedule, momentum=config.momentum,
                           bias_lr_multiplier=config.bias_lr_multiplier,
                           lr_multipliers=lr_multipliers),
        loss=loss() if outputs == 1 else [loss() for _ in range(outputs)],
        metrics=(metric_sets(num_classes) if outputs == 1
                 else [metric_sets(num_classes) for _ in range(outputs)]),
        jit_compile=config.jit_compile)
