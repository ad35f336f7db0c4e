"""Every model's layer axis in one place, and the backbones beside CaffeNet.

A model's cut points (`catalog.layer_axis`) are block boundaries. Cut n is one tensor of the
functional graph (the output of a block's last layer, or the input of the next block's first,
where the last one has no fixed name); "blocks 1..n" are all layers between the model's input
and that tensor. So one rule copies, freezes, checksums and taps any backbone, residual ones
included, and no builder or transfer code counts layers itself.

MobileNetV3, ResNet-50, EfficientNetV2-B0 and ConvNeXt-Tiny come from `keras.applications`
(already a dependency; weights=None, no download, unless a --pretrained=imagenet asks for its
weights), flattened into one functional model with our input scaling and a new classifier, so
their layers are addressable by name like CaffeNet's; resnet_mini and resnet18 are built in
`nets.resnet`, the ViTs in `nets.vit` (BUILD_NOTES.md "Backbones").
"""

import dataclasses

import keras
from keras import layers

from keras_transfer import catalog
from keras_transfer.nets import alexnet, head, resnet, vit

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
    "resnet18": {name: (name, "output") for name in catalog.RESNET18_LAYERS},
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
    # Inputs of each next stage's first layer: Keras' blocks end in auto-named layers (a
    # stage's last block may or may not end in an `_add`; ConvNeXt's residual sum is an op).
    "efficientnetv2": dict(zip(catalog.EFFICIENTNETV2_LAYERS, [
        ("stem_activation", "output"),              # stem: conv 3x3/2, BN, SiLU
        ("block2a_expand_conv", "input"),           # stage 1: 1 fused-MBConv block
        ("block3a_expand_conv", "input"),           # stage 2: 2 fused-MBConv (stride 2)
        ("block4a_expand_conv", "input"),           # stage 3: 2 fused-MBConv (stride 2)
        ("block5a_expand_conv", "input"),           # stage 4: 3 MBConv, squeeze-excite (/2)
        ("block6a_expand_conv", "input"),           # stage 5: 5 MBConv
        ("top_conv", "input"),                      # stage 6: 8 MBConv (stride 2)
        ("avg_pool", "input"),                      # top: 1x1 conv to 1280, BN, SiLU
        ("classifier", "output"),
    ])),
    "convnext": dict(zip(catalog.CONVNEXT_LAYERS, [
        ("convnext_tiny_stem", "output"),           # stem: conv 4x4/4, LayerNorm
        ("convnext_tiny_downsampling_block_0", "input"),             # stage 0: 3 blocks
        ("convnext_tiny_downsampling_block_1", "input"),             # stage 1: 3 blocks
        ("convnext_tiny_stage_2_block_3_depthwise_conv", "input"),   # stage 2: blocks 0-2
        ("convnext_tiny_stage_2_block_6_depthwise_conv", "input"),   # blocks 3-5
        ("convnext_tiny_downsampling_block_2", "input"),             # blocks 6-8
        ("avg_pool", "input"),                                       # stage 3: 3 blocks
        ("classifier", "output"),
    ])),
    # Every ViT depth: the embedding, then as many blocks as the model has (`cut_points`).
    "vit": {"embed": ("embed", "output")},
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
VITS = {
    # 32 px in 4x4 patches (64 tokens), width 64, 6 blocks of 4 heads: 0.27 M parameters.
    "vit_mini": dict(input_size=32, patch_size=4, width=64, depth=6, heads=4, mlp_width=128,
                     input_scale=1 / 64),
    # ViT-Ti/16 (DeiT-Tiny's shape) at 224 px: 5.7 M parameters.
    "vit_tiny": dict(input_size=224, patch_size=16, width=192, depth=12, heads=3,
                     mlp_width=768, input_scale=1 / 64),
}
RESNETS = {
    # 32 px, a stride-2 stem, widths 16/32/64 on 16/8/4 px maps: 0.18 M parameters.
    "resnet_mini": dict(input_size=32, depth="mini", width=16, stem_stride=2,
                        input_scale=1 / 64),
    # Input scale 1: Keras' ImageNet weights read mean-subtracted 0..255 pixels ("caffe").
    "resnet18": dict(input_size=224, depth="18", width=64, input_scale=1 / 64),
    "resnet50": dict(input_size=224, depth="50", input_scale=1.0),
}


@dataclasses.dataclass(frozen=True)
class ApplicationArchitecture:
    """A keras.applications net as Keras defines it (`application`: a key of APPLICATIONS),
    with our input scaling and head; `num_classes` is the classifier's width."""
    num_classes: int
    application: str = "efficientnetv2_b0"
    input_size: int = 224
    dropout: float = 0.2
    weight_decay: float = alexnet.CAFFE_WEIGHT_DECAY
    input_scale: float = 1 / 127.5
    bn_momentum: float = 0.99

    def __post_init__(self):
        alexnet.check_regularisation(self.dropout, self.weight_decay)

    def to_dict(self):
        return {"family": APPLICATIONS[self.application][0], **dataclasses.asdict(self)}


APPLICATIONS = {
    # Input scales match the ImageNet weights: EfficientNetV2 without its preprocessing reads
    # [-1, 1]; ConvNeXt reads (x / 255 - mean) / std, std about 0.226 (x 255 = 57.6).
    "efficientnetv2_b0": ("efficientnetv2", "EfficientNetV2B0", 1 / 127.5),
    "convnext_tiny": ("convnext", "ConvNeXtTiny", 1 / 57.6),
}
assert set(MOBILENETS) | set(RESNETS) | set(VITS) | set(APPLICATIONS) | set(alexnet.MODELS) \
    == set(catalog.MODEL_NAMES)


def architecture(model_name, num_classes, **overrides):
    """The architecture of a `--model` name (CaffeNet's or a backbone's)."""
    if model_name in MOBILENETS:
        return MobileNetArchitecture(num_classes, **{**MOBILENETS[model_name], **overrides})
    if model_name in RESNETS:
        return resnet.ResNetArchitecture(num_classes, **{**RESNETS[model_name], **overrides})
    if model_name in VITS:
        return vit.ViTArchitecture(num_classes, **{**VITS[model_name], **overrides})
    if model_name in APPLICATIONS:
        settings = {"application": model_name, "input_scale": APPLICATIONS[model_name][2]}
        return ApplicationArchitecture(num_classes, **{**settings, **overrides})
    return alexnet.architecture(model_name, num_classes, **overrides)


def build(arch, name="net", weights=None):
    """A fresh net of `arch`, each layer from its own initializer; weights="imagenet": the
    trunk of a `catalog.IMAGENET_MODELS` net with keras.applications' ImageNet weights (a
    download), the classifier fresh."""
    if isinstance(arch, MobileNetArchitecture):
        return regularise(mobilenet(arch, name, weights), arch)
    if isinstance(arch, resnet.ResNetArchitecture):
        return regularise(resnet.build(arch, name, weights), arch)
    if isinstance(arch, ApplicationArchitecture):
        return regularise(application(arch, name, weights), arch)
    if weights is not None:
        raise ValueError(f"{type(arch).__name__} has no pretrained weights here")
    if isinstance(arch, vit.ViTArchitecture):
        return regularise(vit.build(arch, name), arch)
    return alexnet.build(arch, name=name)


def mobilenet(arch, name="mobilenet", weights=None):
    """MobileNetV3-Small on our input and head (`with_our_head`)."""
    return with_our_head(arch, name, lambda x: keras.applications.MobileNetV3Small(
        input_tensor=x, alpha=arch.alpha, minimalistic=arch.minimalistic, include_top=False,
        weights=weights, include_preprocessing=False))


def application(arch, name, weights=None):
    """A keras.applications trunk (without its preprocessing) on our input and head."""
    build_trunk = getattr(keras.applications, APPLICATIONS[arch.application][1])
    return with_our_head(arch, name, lambda x: build_trunk(
        input_tensor=x, include_top=False, weights=weights, include_preprocessing=False))


def with_our_head(arch, name, trunk):
    """`trunk(x)` (a keras.applications model on tensor x) between our input (mean-subtracted
    floats times `input_scale`) and head (global average pool, dropout, `classifier`, float32
    softmax), flattened into one functional model."""
    image, x = head.image_input(arch)
    return head.with_classifier(image, trunk(x).output, arch, name)


def all_layers(model):
    """Every layer of `model`, those inside nested models (ConvNeXt's Sequential stem and
    downsampling blocks) and inside layers (a MultiHeadAttention's projections) included."""
    out = []
    for layer in model.layers:
        out.append(layer)
        out += layer._flatten_layers(include_self=False)  # Keras' walk of sublayers
    return out


def regularise(model, arch):
    """A backbone's training settings: BatchNorm momentum `arch.bn_momentum`, and weight decay
    as CaffeNet's (L2 on conv and dense kernels, attention projections included; not on
    depthwise kernels, normalisation layers or embeddings, the usual practice)."""
    decay = keras.regularizers.L2(arch.weight_decay / 2) if arch.weight_decay else None
    for layer in all_layers(model):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = arch.bn_momentum
        elif type(layer) in (layers.Conv2D, layers.Dense, layers.EinsumDense) \
                and decay is not None:
            layer.kernel_regularizer = decay        # what get_config saves
            layer.kernel.regularizer = decay        # what the loss sums (already built)
    return model


# A truncated net's new head (`truncate`): it reads the tensor at the net's last cut.
PROBE_LAYERS = ("probe_pool", "probe")


def truncate(model, n, arch):
    """`model` up to cut n (its layers, weights and trainable flags), then a new linear
    classifier `probe` (after a global average pool when the features are maps)."""
    x = head.global_pool(cut_tensor(model, n), "probe_pool")
    decay = keras.regularizers.L2(arch.weight_decay / 2) if arch.weight_decay else None
    logits = layers.Dense(arch.num_classes, name="probe", kernel_regularizer=decay)(x)
    probs = layers.Activation("softmax", dtype="float32", name="prob")(logits)
    return keras.Model(model.input, probs, name=model.name)


def family_of(model):
    """The family ("caffenet", "mobilenetv3", ...) whose first cut layer exists in `model` (a
    truncated net has only its first cuts)."""
    names = {layer.name for layer in model.layers}
    for family, cuts in CUTS.items():
        if next(iter(cuts.values()))[0] in names:
            return family
    raise ValueError(f"model {model.name!r} has the cut layers of none of the known families "
                     f"({', '.join(CUTS)}); build it with keras_transfer's --model builders")


def check_built_as(model, model_name, what):
    """Refuses, in one line naming `what`, a net that is not a `model_name` (another family or
    another count of cut points)."""
    like = build(architecture(model_name, 2))
    try:
        family, cuts = family_of(model), num_cuts(model)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if (family, cuts) != (family_of(like), num_cuts(like)):
        raise ValueError(f"{what} is a {family} net with {cuts} cut points, not a "
                         f"--model={model_name} ({num_cuts(like)}); pass the --model it was "
                         "built as")


def cut_points(model):
    """[(Keras layer name, "output" or "input")] of `model`'s cut points, in order."""
    family = family_of(model)
    if family != "vit":
        return list(CUTS[family].values())
    names = {layer.name for layer in model.layers}
    depth = max((k for k in range(1, len(names)) if f"block{k}" in names), default=0)
    return [(name, "output") for name in vit.cut_names(depth)]


def num_cuts(model):
    return len(cut_points(model))


def cut_tensor(model, n):
    """The tensor at cut point n (1-based) of `model`: what blocks n+1.. read."""
    cuts = cut_points(model)
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
