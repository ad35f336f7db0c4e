"""Residual nets: a small ResNet of basic blocks for the embedded default (`resnet_mini`),
ResNet-18 (`resnet18`, built here: keras.applications has none), and ResNet-50 from
`keras.applications` (`resnet50`; weights=None, nothing downloads, unless --pretrained=imagenet
asks for its ImageNet weights).

resnet_mini is the CIFAR-style ResNet of He et al. 2016 (section 4.2) with two basic blocks a
stage: a 3x3 stem (stride 2 here: 2.5x the throughput on these CPUs), three stages of widths
w, 2w, 4w (stride 2 at the first block of stages 2 and 3, the shortcut then a 1x1 conv and
BatchNorm), global average pooling and the classifier. resnet18 is the ImageNet ResNet-18 of
the same paper (Table 1): a 7x7/2 stem with a 3x3/2 max pool, four stages of two basic blocks,
widths 64..512; 11,689,512 trainable parameters at 1,000 classes, torchvision's count. Each
block ends in a layer named after its cut point (`stage2_block1`), so the layer axis is the
blocks themselves (catalog.RESNET_MINI_LAYERS, RESNET18_LAYERS).
"""

import dataclasses

import keras
from keras import layers

from keras_transfer.nets import alexnet, head


@dataclasses.dataclass(frozen=True)
class ResNetArchitecture:
    """A residual net: `depth` "mini" (ours, `width` the first stage's channels), "18" (ours,
    the ImageNet layout) or "50" (keras.applications.ResNet50); `num_classes` is the
    classifier's width."""
    num_classes: int
    input_size: int = 224
    depth: str = "50"
    width: int = 16
    stem_stride: int = 1
    dropout: float = 0.0
    weight_decay: float = alexnet.CAFFE_WEIGHT_DECAY
    input_scale: float = 1.0
    bn_momentum: float = 0.99

    def __post_init__(self):
        alexnet.check_regularisation(self.dropout, self.weight_decay)
        if self.depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {DEPTHS}, got {self.depth!r}")

    def to_dict(self):
        return {"family": "resnet", **dataclasses.asdict(self)}


DEPTHS = ("mini", "18", "50")
BLOCKS_PER_STAGE = 2  # resnet_mini and resnet18: stages of two basic blocks
STAGES = {"mini": 3, "18": 4}


def build(arch, name="resnet", weights=None):
    """A fresh residual net of `arch`: our input scaling, the trunk, global average pool,
    dropout, `classifier` and a float32 softmax. weights="imagenet": ResNet-50's trunk with
    keras.applications' ImageNet weights (downloaded once into ~/.keras), its first conv
    taking RGB (Keras' weights read BGR)."""
    image, x = head.image_input(arch)
    if arch.depth in STAGES:
        if weights is not None:
            raise ValueError(f"resnet{arch.depth} has no pretrained weights here (ImageNet: "
                             "resnet50)")
        x = basic_trunk(x, arch)
    else:
        x = keras.applications.ResNet50(input_tensor=x, include_top=False,
                                        weights=weights).output
    model = head.with_classifier(image, x, arch, name)
    if weights == "imagenet":
        # Keras' ResNet-50 weights expect BGR ("caffe" preprocessing); the pipelines give RGB.
        # A first conv with its input channels reversed computes the same on RGB.
        stem = model.get_layer("conv1_conv")
        stem.kernel.assign(stem.kernel.numpy()[:, :, ::-1, :])
    return model


def basic_trunk(x, arch):
    """resnet_mini's 3x3 stem (its cut `stem`) or ResNet-18's 7x7/2 stem and 3x3/2 max pool
    (cut `stem_pool`), then the stages of basic blocks."""
    if arch.depth == "mini":
        x = conv_bn(x, arch.width, 3, arch.stem_stride, "stem")
        x = layers.Activation("relu", name="stem")(x)
    else:
        x = conv_bn(x, arch.width, 7, 2, "stem")
        x = layers.Activation("relu", name="stem_relu")(x)
        x = layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for stage in range(1, STAGES[arch.depth] + 1):
        for block in range(1, BLOCKS_PER_STAGE + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, arch.width * 2 ** (stage - 1), stride,
                            f"stage{stage}_block{block}")
    return x


def basic_block(x, filters, stride, name):
    """Two 3x3 convs with BatchNorm; the shortcut is the input, or a strided 1x1 conv and
    BatchNorm where the shape changes; ReLU after the sum, in a layer named `name`."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, stride, f"{name}_shortcut")
    y = conv_bn(x, filters, 3, stride, f"{name}_1")
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = conv_bn(y, filters, 3, 1, f"{name}_2")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=name)(y)


def conv_bn(x, filters, size, stride, name):
    x = layers.Conv2D(filters, size, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    return layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)
