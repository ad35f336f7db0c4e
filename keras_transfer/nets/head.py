"""The input and the head that every backbone but CaffeNet shares: mean-subtracted floats times
`input_scale` in; a global average pool (over the map, or over a ViT's tokens), dropout, the
`classifier` and a float32 softmax out. The layer names are part of the layer axis and of saved
models, so they stay as they are."""

import keras
from keras import layers


def image_input(arch):
    """(the model's input, the scaled image the trunk reads)."""
    image = keras.Input((arch.input_size, arch.input_size, 3), name="image")
    return image, layers.Rescaling(arch.input_scale, name="input_scale")(image)


def global_pool(features, name):
    """`features` averaged to a vector per image: over a map's positions, over a ViT's tokens;
    a vector already (CaffeNet's fc layers) passes through."""
    if len(features.shape) == 4:
        return layers.GlobalAveragePooling2D(name=name)(features)
    if len(features.shape) == 3:
        return layers.GlobalAveragePooling1D(name=name)(features)
    return features


def with_classifier(image, features, arch, name):
    """The functional model from `image` through the trunk's `features` to the softmax."""
    x = global_pool(features, "avg_pool")
    x = layers.Dropout(arch.dropout, name="drop")(x)
    logits = layers.Dense(arch.num_classes, name="classifier")(x)
    probs = layers.Activation("softmax", dtype="float32", name="prob")(logits)
    return keras.Model(image, probs, name=name)
