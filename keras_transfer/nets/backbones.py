"""Every model's layer axis in one place, and the backbones beside CaffeNet.

A model's cut points (`catalog.layer_axis`) are block boundaries. Cut n is one tensor of the
functional graph (the output of a block's last layer, or the input of the next block's first,
where the last one has no fixed name); "blocks 1..n" are all layers between the model's input
and that tensor. So one rule copies, freezes, checksums and taps any backbone, residual ones
included, and no builder or transfer code counts layers itself.

MobileNetV3 and ResNet-50 come from `keras.applications` (already a dependency; weights=None,
no download, unless a --source=imagenet asks for its weights), flattened into one functional
model with our input scaling and a new classifier, so their layers are addressable by name
like CaffeNet's; resnet_mini is built in `nets.resnet` (BUILD_NOTES.md "Backbones").
"""

import dataclasses

import keras
from keras import layers

from keras_transfer import catalog
from keras_transfer.nets import alexnet, resnet

# (catalog cut name -> (Keras layer name, "output" or "input")) per family. For MobileNetV3 the
# block-ending activations carry Keras' automatic names (re_lu_7), which depend on what was
# built before in the process, so its cuts are the inputs of the next block's named layer.
CUTS = {
    "caffenet": {name: (name, "output") for name in catalog.CAFFENET_LAYERS},
    "mobilenetv3": dict(zip(catalog.MOBILENET_LAYERS, [
        ("expanded_conv_depthwise_pad", "input"),   # stem: conv 3x3/2, BN, activation
        ("expanded_conv_1_expand", "input"),        # block 0 (stride 2, squeeze-excite)
        ("expanded_conv_3_expand", "input"),        # blocks 1-2 (stride 2 at 1)
        ("expanded_conv_6_expand", "input"),        # blocks 3-5 (stride 2 at 3)
        ("expanded_conv_8_expand", "input"),        # blocks 6-7
        ("conv_1", "input"),                        # blocks 8-10 (stride 2 at 8)
        ("avg_pool", "input"),                      # conv_1: the last 1x1 conv, BN, activation
        ("classifier", "output"),
    ])),
    "resnet_mini": {name: (name, "output") for name in catalog.RESNET_MINI_LAYERS},
    "resnet50": dict(zip(catalog.RESNET50_LAYERS, [
        ("pool1_pool", "output"),                   # stem: conv 7x7/2, BN, ReLU, max pool 3x3/2
        ("conv2_block3_out", "output"),             # conv2: 3 bottleneck blocks
        ("conv3_block2_out", "output"),             # conv3: blocks 1-2 of 4 (stride 2 at 1)
        ("conv3_block4_out", "output"),
        ("conv4_block3_out", "output"),             # conv4: blocks 1-3 of 6 (stride 2 at 1)
        ("conv4_block6_out", "output"),
        ("conv5_block3_out", "output"),             # conv5: 3 blocks (stride 2 at 1)
        ("classifier", "output"),
    ])),
}


@dataclasses.dataclass(frozen=True)
class MobileNetArchitecture:
    """A MobileNetV3-Small: `alpha` scales widths; `minimalistic` uses ReLU and 3x3 kernels
    without squeeze-excite (cheaper on CPUs); `num_classes` is the classifier's width."""
    num_classes: int
    input_size: int = 224
    alpha: float = 1.0
    minimalistic: bool = False
    dropout: float = 0.2          # before the classifier, as in Keras' own top
    weight_decay: float = alexnet.CAFFE_WEIGHT_DECAY
    input_scale: float = 1.0
    # Keras' MobileNetV3 uses 0.999: moving statistics that average over ~1,000 steps lag a
    # short run's weights, so evaluation (which uses them) would trail training.
    bn_momentum: float = 0.99

    def __post_init__(self):
        alexnet.check_regularisation(self.dropout, self.weight_decay)

    def to_dict(self):
        return {"family": "mobilenetv3", **dataclasses.asdict(self)}


MOBILENETS = {
    # 32 px (the embedded data's size), widths x 0.75, minimalistic: 0.27 M parameters.
    "mobilenetv3_mini": dict(input_size=32, alpha=0.75, minimalistic=True, input_scale=1 / 64),
    # Input scale 1/127.5: the [-1, 1] range (about) its ImageNet weights were trained on.
    "mobilenetv3_small": dict(input_size=224, alpha=1.0, minimalistic=False,
                              input_scale=1 / 127.5),
}
RESNETS = {
    # 32 px, a stride-2 stem, widths 16/32/64 on 16/8/4 px maps: 0.18 M parameters.
    "resnet_mini": dict(input_size=32, depth="mini", width=16, stem_stride=2,
                        input_scale=1 / 64),
    # Input scale 1: Keras' ImageNet weights read mean-subtracted 0..255 pixels ("caffe").
    "resnet50": dict(input_size=224, depth="50", input_scale=1.0),
}
assert set(MOBILENETS) | set(RESNETS) | set(alexnet.MODELS) == set(catalog.MODEL_NAMES)


def architecture(model_name, num_classes, **overrides):
    """The architecture of a `--model` name (CaffeNet's or a backbone's)."""
    if model_name in MOBILENETS:
        return MobileNetArchitecture(num_classes, **{**MOBILENETS[model_name], **overrides})
    if model_name in RESNETS:
        return resnet.ResNetArchitecture(num_classes, **{**RESNETS[model_name], **overrides})
    return alexnet.architecture(model_name, num_classes, **overrides)


def build(arch, name="net", weights=None):
    """A fresh net of `arch`, each layer from its own initializer; weights="imagenet": the
    trunk of a `catalog.IMAGENET_MODELS` net with keras.applications' ImageNet weights (a
    download), the classifier fresh."""
    if isinstance(arch, MobileNetArchitecture):
        return regularise(mobilenet(arch, name, weights), arch)
    if isinstance(arch, resnet.ResNetArchitecture):
        return regularise(resnet.build(arch, name, weights), arch)
    if weights is not None:
        raise ValueError("CaffeNet has no pretrained weights here")
    return alexnet.build(arch, name=name)


def mobilenet(arch, name="mobilenet", weights=None):
    """MobileNetV3-Small with our input (mean-subtracted floats times `input_scale`) and head
    (global average pool, dropout, `classifier`, float32 softmax)."""
    image = keras.Input((arch.input_size, arch.input_size, 3), name="image")
    x = layers.Rescaling(arch.input_scale, name="input_scale")(image)
    trunk = keras.applications.MobileNetV3Small(
        input_tensor=x, alpha=arch.alpha, minimalistic=arch.minimalistic, include_top=False,
        weights=weights, include_preprocessing=False)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(trunk.output)
    x = layers.Dropout(arch.dropout, name="drop")(x)
    logits = layers.Dense(arch.num_classes, name="classifier")(x)
    probs = layers.Activation("softmax", dtype="float32", name="prob")(logits)
    return keras.Model(image, probs, name=name)


def regularise(model, arch):
    """A BatchNorm backbone's training settings: BatchNorm momentum `arch.bn_momentum`, and
    weight decay as CaffeNet's (L2 on conv and dense kernels; not on depthwise kernels or
    BatchNorm, the usual practice)."""
    decay = keras.regularizers.L2(arch.weight_decay / 2) if arch.weight_decay else None
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = arch.bn_momentum
        elif type(layer) in (layers.Conv2D, layers.Dense) and decay is not None:
            layer.kernel_regularizer = decay        # what get_config saves
            layer.kernel.regularizer = decay        # what the loss sums (already built)
    return model


# A truncated net's new head (`truncate`): it reads the tensor at the net's last cut.
PROBE_LAYERS = ("probe_pool", "probe")


def truncate(model, n, arch):
    """`model` up to cut n (its layers, weights and trainable flags), then a new linear
    classifier `probe` (after a global average pool when the features are maps)."""
    x = cut_tensor(model, n)
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="probe_pool")(x)
    decay = keras.regularizers.L2(arch.weight_decay / 2) if arch.weight_decay else None
    logits = layers.Dense(arch.num_classes, name="probe", kernel_regularizer=decay)(x)
    probs = layers.Activation("softmax", dtype="float32", name="prob")(logits)
    return keras.Model(model.input, probs, name=model.name)


def family_of(model):
    """The family ("caffenet", "mobilenetv3") whose first cut layer exists in `model` (a
    truncated net has only its first cuts)."""
    names = {layer.name for layer in model.layers}
    for family, cuts in CUTS.items():
        if next(iter(cuts.values()))[0] in names:
            return family
    raise ValueError(f"model {model.name!r} has the cut layers of none of the known families "
                     f"({', '.join(CUTS)}); build it with keras_transfer's --model builders")


def num_cuts(model):
    return len(CUTS[family_of(model)])


def cut_tensor(model, n):
    """The tensor at cut point n (1-based) of `model`: what blocks n+1.. read."""
    cuts = list(CUTS[family_of(model)].values())
    if not 1 <= n <= len(cuts):
        raise ValueError(f"cut point must be 1..{len(cuts)}, got {n!r}")
    layer_name, where = cuts[n - 1]
    names = {layer.name for layer in model.layers}
    if layer_name not in names:  # a truncated net's last cut: its probe's input
        probe = next((p for p in PROBE_LAYERS if p in names), None)
        if probe is None:
            raise ValueError(f"model {model.name!r} has no layer {layer_name!r} (cut {n})")
        return model.get_layer(probe).input
    layer = model.get_layer(layer_name)
    return layer.output if where == "output" else layer.input


def block_layers(model, n):
    """The layers of blocks 1..n (n = 0: none), in the model's order; n = the number of cut
    points (the classifier's) is every layer."""
    if n == 0:
        return []
    inside = {id(layer) for layer in keras.Model(model.inputs, cut_tensor(model, n)).layers}
    return [layer for layer in model.layers
            if id(layer) in inside and not isinstance(layer, layers.InputLayer)]


def first_conv(model):
    """The first layer with a 4-D kernel (conv1's filters, the stem's)."""
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 4:
            return layer
    raise ValueError(f"model {model.name!r} has no convolution")
