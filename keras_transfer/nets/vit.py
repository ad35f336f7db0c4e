"""Vision Transformers (Dosovitskiy et al., ICLR 2021), built here as functional Keras models
whose blocks are named by their cut points: `vit_mini` for the embedded default and `vit_tiny`
(ViT-Ti/16, the DeiT-Tiny shape: width 192, 12 blocks, 3 heads).

A patch embedding (a strided conv) and learned position embeddings (`embed`, cut 1), then
pre-norm transformer blocks `block1`..`blockK` (LayerNorm, multi-head self-attention, residual;
LayerNorm, GELU MLP, residual), each ending in the residual Add named after the block, then a
final LayerNorm, global average pooling over the tokens and the classifier. Global average
pooling instead of a class token, as Beyer et al. 2022 ("Better plain ViT baselines") do: it
trains better on small data and needs no token-slicing layer. So vit_tiny has ViT-Ti/16's
5,717,416 parameters less the class token and its position embedding (2 x 192).

LayerNorm keeps no statistics: a frozen block's LayerNorm and attention simply do not train.
KerasHub's ViT is not used: KerasHub needs tensorflow-text, which pulls the full `tensorflow`
package beside `tensorflow-cpu` (BUILD_NOTES.md "Backbones").
"""

import dataclasses

import keras
from keras import layers

from keras_transfer.nets import alexnet, head


@keras.saving.register_keras_serializable(package="keras_transfer")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding per token position (initialised as in ViT: normal, std 0.02)."""

    def build(self, input_shape):
        self.embedding = self.add_weight(
            name="embedding", shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, tokens):
        return tokens + keras.ops.cast(self.embedding, tokens.dtype)


@dataclasses.dataclass(frozen=True)
class ViTArchitecture:
    """A ViT: `patch_size` pixels a token side, `width` channels a token, `depth` blocks of
    `heads` attention heads and an MLP of `mlp_width`; `num_classes` is the classifier's width."""
    num_classes: int
    input_size: int = 224
    patch_size: int = 16
    width: int = 192
    depth: int = 12
    heads: int = 3
    mlp_width: int = 768
    dropout: float = 0.0
    weight_decay: float = alexnet.CAFFE_WEIGHT_DECAY
    input_scale: float = 1.0

    def __post_init__(self):
        alexnet.check_regularisation(self.dropout, self.weight_decay)
        if self.input_size % self.patch_size or self.width % self.heads:
            raise ValueError(f"ViT: input_size {self.input_size} must be a multiple of "
                             f"patch_size {self.patch_size}, width {self.width} of heads "
                             f"{self.heads}")

    def to_dict(self):
        return {"family": "vit", **dataclasses.asdict(self)}


def cut_names(depth):
    """The layer axis of a ViT of `depth` blocks: the embedding, each block, the classifier."""
    return ("embed", *[f"block{k}" for k in range(1, depth + 1)], "classifier")


def build(arch, name="vit"):
    """A fresh ViT of `arch` with our input (mean-subtracted floats times `input_scale`) and
    head (LayerNorm, average over tokens, dropout, `classifier`, float32 softmax)."""
    image, x = head.image_input(arch)
    x = layers.Conv2D(arch.width, arch.patch_size, strides=arch.patch_size,
                      name="patch_embed")(x)
    x = layers.Reshape((-1, arch.width), name="patch_tokens")(x)
    x = PositionEmbedding(name="embed")(x)
    for k in range(1, arch.depth + 1):
        x = block(x, arch, f"block{k}")
    x = layers.LayerNormalization(epsilon=1e-6, name="head_norm")(x)
    return head.with_classifier(image, x, arch, name)


def block(x, arch, name):
    """A pre-norm transformer block; its last layer (the MLP's residual Add) is `name`."""
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x)
    y = layers.MultiHeadAttention(arch.heads, arch.width // arch.heads,
                                  name=f"{name}_attention")(y, y)
    x = layers.Add(name=f"{name}_attention_add")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x)
    y = layers.Dense(arch.mlp_width, activation="gelu", name=f"{name}_mlp1")(y)
    y = layers.Dense(arch.width, name=f"{name}_mlp2")(y)
    return layers.Add(name=name)([x, y])
