"""CaffeNet (the AlexNet variant of Yosinski et al. 2014) as a Keras 3 functional model.

Layers carry the paper's names `conv1`..`fc8`; `LAYER_NAMES` maps the paper's index 1..8 to them
and `layer(model, n)` looks one up, so builders never depend on positions in `model.layers`.
The full net (227 px) has 60,965,224 parameters with 1000 classes and 58,916,724 with 500; the
small variant (32 px, widths / 4, fc 512) keeps the same eight numbered layers for CPU runs.
"""

import dataclasses

import keras
from keras import layers, ops

from keras_transfer.catalog import CAFFENET_LAYERS, CAFFENET_MODELS, NUM_LAYERS

LAYER_NAMES = dict(enumerate(CAFFENET_LAYERS, 1))  # the paper's index -> the layer's name

# Caffe's weight decay is 0.5 * decay * ||w||^2 (gradient decay * w); Keras' L2(l) adds l * ||w||^2.
CAFFE_WEIGHT_DECAY = 5e-4


@keras.saving.register_keras_serializable(package="keras_transfer")
class LocalResponseNorm(layers.Layer):
    """Caffe's across-channel LRN: x / (k + alpha / size * sum_window(x^2)) ** beta."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # the fused kernel is several times faster than the ops form
            # TF's CPU LRN kernel has no bfloat16 (mixed_bfloat16 would fail): run it in float32.
            dtype = x.dtype
            if dtype == tf.bfloat16:
                x = tf.cast(x, tf.float32)
            y = tf.nn.local_response_normalization(
                x, depth_radius=self.size // 2, bias=self.k,
                alpha=self.alpha / self.size, beta=self.beta)
            return tf.cast(y, dtype)
        half = self.size // 2
        squared = ops.pad(ops.square(x), [[0, 0], [0, 0], [0, 0], [half, half]])
        channels = ops.shape(x)[-1]
        window = sum(squared[..., i:i + channels] for i in range(self.size))
        return x / ops.power(self.k + (self.alpha / self.size) * window, self.beta)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "k": self.k}


@keras.saving.register_keras_serializable(package="keras_transfer")
class GroupedConv2D(layers.Conv2D):
    """Conv2D with `groups`, computed as split + one conv per group + concat.

    Same kernel shape, parameters and config as `Conv2D(groups=g)`, so the layer stays one
    addressable, copyable unit; measured on CPU, TF's native grouped conv is ~4x slower.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        xs = ops.split(inputs, self.groups, axis=-1)
        ks = ops.split(kernel, self.groups, axis=-1)
        return ops.concatenate(
            [ops.conv(x, k, strides=self.strides, padding=self.padding,
                      data_format=self.data_format, dilation_rate=self.dilation_rate)
             for x, k in zip(xs, ks)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Everything that decides a CaffeNet's shapes and init; `num_classes` is the fc8 width."""
    num_classes: int
    input_size: int = 227
    width: float = 1.0
    fc_units: int = 4096
    dropout: float = 0.5
    weight_decay: float = CAFFE_WEIGHT_DECAY
    init: str = "caffe"
    input_scale: float = 1.0
    conv1_stride: int = 0  # 0: Caffe's 4 at >= 200 px, 1 below

    def __post_init__(self):
        check_regularisation(self.dropout, self.weight_decay)

    def to_dict(self):
        return dataclasses.asdict(self)


def check_regularisation(dropout, weight_decay):
    """The errors of a --dropout or --weight_decay no net can train with."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if weight_decay < 0:
        raise ValueError(f"weight decay must be >= 0, got {weight_decay}")


# --model choices: the paper's net and the CPU-sized variant (same shapes as the PyTorch peer's).
# The small variant cannot train from Caffe's fixed-std init: with fan-ins 4-16x smaller each
# layer shrinks the signal ~4-10x, and fc8 sees ~1e-5 of the input's scale (loss stays at
# ln(classes)). It uses He init and inputs scaled to ~unit range instead (BUILD_NOTES.md).
MODELS = {
    "caffenet": dict(input_size=227, width=1.0, fc_units=4096),
    "caffenet_small": dict(input_size=32, width=0.25, fc_units=512, init="he",
                           input_scale=1 / 64),
    # caffenet_small with conv1 at stride 2: maps of 16, 7 and 3 px instead of 32, 15 and 7, so
    # 4.5x fewer multiply-adds (2.8 M per image); the embedded default's sweep (BUILD_NOTES.md).
    "caffenet_mini": dict(input_size=32, width=0.25, fc_units=512, init="he",
                          input_scale=1 / 64, conv1_stride=2),
}
INITS = ("caffe", "he")
assert tuple(sorted(MODELS)) == CAFFENET_MODELS, "catalog.CAFFENET_MODELS must list alexnet.MODELS"


def architecture(model_name, num_classes, **overrides):
    """The Architecture for a `--model` name, e.g. architecture("caffenet_small", 20)."""
    if model_name not in MODELS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {sorted(MODELS)}")
    return Architecture(num_classes=num_classes, **{**MODELS[model_name], **overrides})


def layer(model, n):
    """The layer with the paper's index n (1..8) of a CaffeNet built here."""
    if n not in LAYER_NAMES:
        raise ValueError(f"layer index must be 1..{NUM_LAYERS}, got {n!r}")
    return model.get_layer(LAYER_NAMES[n])


def caffenet(num_classes, input_size=227, width=1.0, fc_units=4096, dropout=0.5,
             weight_decay=CAFFE_WEIGHT_DECAY, init="caffe", input_scale=1.0, conv1_stride=0,
             name="caffenet"):
    """A fresh CaffeNet.

    init="caffe": Caffe's init (gaussian, std 0.01; fc6/fc7 0.005; biases 0 or 1).
    init="he": He-normal kernels (fan-in, gain 2; fc8 gain 1) and zero biases, for narrow nets.
    Inputs are float images (N, input_size, input_size, 3), mean-subtracted, multiplied by
    `input_scale` inside the model; outputs are class probabilities (softmax in float32 so
    mixed precision stays stable).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    c = lambda channels: max(1, int(channels * width))
    big = input_size >= 200  # 227 px: Caffe's 11x11/4 conv1; small inputs: 5x5/1, padded
    decay = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def initializers(std, bias, gain=2.0):
        if init == "he":
            return (keras.initializers.VarianceScaling(gain, "fan_in", "untruncated_normal"),
                    keras.initializers.Zeros())
        return keras.initializers.RandomNormal(stddev=std), keras.initializers.Constant(bias)

    def conv(filters, kernel, name, groups=1, strides=1, padding="same", bias=0.0):
        kernel_init, bias_init = initializers(0.01, bias)
        return GroupedConv2D(
            filters, kernel, strides=strides, padding=padding, groups=groups,
            activation="relu", name=name, kernel_initializer=kernel_init,
            bias_initializer=bias_init, kernel_regularizer=decay)

    def dense(units, name, std, bias, activation="relu", gain=2.0):
        kernel_init, bias_init = initializers(std, bias, gain)
        return layers.Dense(
            units, activation=activation, name=name, kernel_initializer=kernel_init,
            bias_initializer=bias_init, kernel_regularizer=decay)

    image = keras.Input((input_size, input_size, 3), name="image")
    x = image
    if input_scale != 1.0:
        x = layers.Rescaling(input_scale, name="input_scale")(x)
    x = conv(c(96), 11 if big else 5, "conv1", strides=conv1_stride or (4 if big else 1),
             padding="valid" if big else "same")(x)
    x = layers.MaxPooling2D(3, 2, name="pool1")(x)
    x = LocalResponseNorm(name="norm1")(x)
    x = conv(c(256), 5, "conv2", groups=2, bias=1.0)(x)
    x = layers.MaxPooling2D(3, 2, name="pool2")(x)
    x = LocalResponseNorm(name="norm2")(x)
    x = conv(c(384), 3, "conv3")(x)
    x = conv(c(384), 3, "conv4", groups=2, bias=1.0)(x)
    x = conv(c(256), 3, "conv5", groups=2, bias=1.0)(x)
    x = layers.MaxPooling2D(3, 2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = dense(fc_units, "fc6", 0.005, 1.0)(x)
    x = layers.Dropout(dropout, name="drop6")(x)
    x = dense(fc_units, "fc7", 0.005, 1.0)(x)
    x = layers.Dropout(dropout, name="drop7")(x)
    logits = dense(num_classes, "fc8", 0.01, 0.0, activation=None, gain=1.0)(x)
    probs = layers.Activation("softmax", dtype="float32", name="prob")(logits)
    return keras.Model(image, probs, name=name)


def build(arch: Architecture, name="caffenet"):
    """`caffenet` from an Architecture."""
    return caffenet(arch.num_classes, arch.input_size, arch.width, arch.fc_units,
                    arch.dropout, arch.weight_decay, arch.init, arch.input_scale,
                    arch.conv1_stride, name=name)
